//! What every test needs: the server's URL, a table of its own, and a way to
//! run this test binary again as a child process.

use std::process::{Command, Output};

use kvit_postgres::{Postgres, PostgresOptions};

/// Where the tests find their server.
pub const URL_ENV: &str = "KVIT_POSTGRES_URL";

/// The server's URL, or `None` after saying that `test` was skipped.
pub fn server_url(test: &str) -> Option<String> {
    match std::env::var(URL_ENV) {
        Ok(url) if !url.trim().is_empty() => Some(url),
        _ => {
            eprintln!("skipped {test}: {URL_ENV} is not set (scripts/services.sh start sets it)");
            None
        }
    }
}

/// A table for one test, dropped (with everything in it) when this goes.
pub struct TestTable {
    pub url: String,
    pub name: String,
}

impl TestTable {
    /// A fresh table named after `test` and this process, or `None` if there
    /// is no server. Nothing is created until a store is opened on it.
    pub fn new(test: &str) -> Option<Self> {
        let url = server_url(test)?;
        let name = table_name(test, std::process::id());
        let table = Self { url, name };
        table.drop_table();
        Some(table)
    }

    /// The table named `name` on the server at `url`, as a child process is
    /// told it; a child does not drop it.
    pub fn adopt(url: String, name: String) -> std::mem::ManuallyDrop<Self> {
        std::mem::ManuallyDrop::new(Self { url, name })
    }

    pub fn options(&self) -> PostgresOptions {
        PostgresOptions::new(&self.url).table(&self.name)
    }

    pub fn open(&self) -> Postgres {
        self.options()
            .open()
            .unwrap_or_else(|error| panic!("open table {}: {error}", self.name))
    }

    /// A plain driver connection, for what the store does not offer.
    pub fn raw_client(&self) -> postgres::Client {
        postgres::Client::connect(&self.url, postgres::NoTls).expect("connect to the test server")
    }

    fn drop_table(&self) {
        let sql = format!("DROP TABLE IF EXISTS \"{}\"", self.name);
        if let Err(error) = self.raw_client().batch_execute(&sql) {
            eprintln!("cannot drop test table {}: {error}", self.name);
        }
    }
}

impl Drop for TestTable {
    fn drop(&mut self) {
        self.drop_table();
    }
}

/// `t_<test>_<pid>`, cut to PostgreSQL's 63 bytes from the test's end.
pub fn table_name(test: &str, pid: u32) -> String {
    let suffix = format!("_{pid}");
    let room = 63 - 2 - suffix.len();
    let test: String = test
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    let test = &test[test.len().saturating_sub(room)..];
    format!("t_{test}{suffix}")
}

/// `url` with `application_name` set, so a test can find its own sessions in
/// `pg_stat_activity`.
pub fn with_application_name(url: &str, name: &str) -> String {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let separator = if url.contains('?') { '&' } else { '?' };
        format!("{url}{separator}application_name={name}")
    } else {
        format!("{url} application_name={name}")
    }
}

/// The name libtest knows `function` in `module` (a `module_path!()`) by.
pub fn test_name(module: &str, function: &str) -> String {
    let module = module.split_once("::").map_or(module, |(_, module)| module);
    format!("{module}::{function}")
}

/// Runs this test binary again, filtered to exactly `test`, with `env` set.
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
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
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

/// The value a child printed after `marker` on a line of its own.
pub fn reported<T: std::str::FromStr>(output: &Output, marker: &str) -> T {
    assert!(
        output.status.success(),
        "child failed: {}",
        output_text(output)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .find_map(|line| line.strip_prefix(marker))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or_else(|| panic!("child reported no {marker}: {}", output_text(output)))
}

pub fn read_u64(value: Option<Vec<u8>>) -> u64 {
    value.map_or(0, |bytes| {
        u64::from_le_bytes(bytes.try_into().expect("an 8-byte counter"))
    })
}
