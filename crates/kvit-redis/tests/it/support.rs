//! What every test needs: the server's URL (or a skip), a store under a
//! prefix of its own that is emptied afterwards, and re-running this binary
//! as a child process.

use std::process::{Command, Output};

use kvit::KvStore;
use kvit_redis::{Redis, RedisOptions};

pub const URL_ENV: &str = "KVIT_REDIS_URL";

/// The test server's URL, or `None` after saying that `test` is skipped.
pub fn redis_url(test: &str) -> Option<String> {
    match std::env::var(URL_ENV) {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            println!("skipped {test}: {URL_ENV} is not set (`make test` sets it)");
            None
        }
    }
}

/// The key prefix of `test` in this process.
pub fn test_prefix(test: &str) -> String {
    format!("kvit-test:{test}:{}:", std::process::id())
}

/// A store that removes every key under its prefix when dropped, also when
/// the test panics.
pub struct Scratch {
    pub store: Redis,
}

impl Scratch {
    pub fn new(url: &str, prefix: &str) -> Self {
        let store = RedisOptions::new(url)
            .prefix(prefix)
            .open()
            .unwrap_or_else(|error| panic!("open {url} under {prefix:?}: {error}"));
        store.clear().unwrap();
        Scratch { store }
    }
}

impl std::ops::Deref for Scratch {
    type Target = Redis;
    fn deref(&self) -> &Redis {
        &self.store
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if let Err(error) = self.store.clear() {
            eprintln!("could not clean up {:?}: {error}", self.store.prefix());
        }
    }
}

/// Opens a scratch store for `test`, or says the test is skipped.
macro_rules! scratch_or_skip {
    ($test:expr) => {
        match $crate::support::redis_url($test) {
            Some(url) => $crate::support::Scratch::new(&url, &$crate::support::test_prefix($test)),
            None => return,
        }
    };
}
pub(crate) use scratch_or_skip;

/// The name libtest knows `function` in `module` (a `module_path!()`) by.
pub fn test_name(module: &str, function: &str) -> String {
    let module = module.split_once("::").map_or(module, |(_, module)| module);
    format!("{module}::{function}")
}

/// This test binary again, filtered to exactly `test`, with `env` set.
pub fn rerun_self(test: &str, env: &[(&str, String)]) -> Command {
    let mut command = Command::new(std::env::current_exe().expect("the test binary's path"));
    command.args([
        test,
        "--exact",
        "--nocapture",
        "--test-threads=1",
        "--quiet",
    ]);
    for (name, value) in env {
        command.env(name, value);
    }
    command
}

pub fn output_text(output: &Output) -> String {
    format!(
        "status {}\n--- stdout\n{}\n--- stderr\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// The line after `marker` in a child's standard output.
pub fn reported<'a>(output: &'a Output, stdout: &'a str, marker: &str) -> &'a str {
    stdout
        .lines()
        .find_map(|line| line.strip_prefix(marker))
        .map_or_else(
            || panic!("child reported no {marker}: {}", output_text(output)),
            str::trim,
        )
}

pub fn read_u64(value: Option<Vec<u8>>) -> u64 {
    value.map_or(0, |bytes| {
        u64::from_le_bytes(bytes.try_into().expect("an 8-byte counter"))
    })
}

/// Asserts `result` is a Backend error for `operation` and returns its text
/// with the source chain.
pub fn backend_error<T: std::fmt::Debug>(result: kvit::Result<T>, operation: &str) -> String {
    match result {
        Err(error @ kvit::Error::Backend { .. }) => {
            let kvit::Error::Backend {
                operation: found, ..
            } = &error
            else {
                unreachable!()
            };
            assert_eq!(*found, operation, "{error}");
            let mut text = error.to_string();
            let mut source = std::error::Error::source(&error);
            while let Some(cause) = source {
                text.push_str(" <- ");
                text.push_str(&cause.to_string());
                source = cause.source();
            }
            text
        }
        other => panic!("expected a Backend error during {operation}, got {other:?}"),
    }
}
