//! A `redis-server` of a test's own, on a free loopback port, for what the
//! shared server cannot be used for: a password, TLS, a restart, exact
//! command counts. Stopped (killed) when dropped.

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct PrivateServer {
    child: Option<Child>,
    pub port: u16,
    args: Vec<String>,
    directory: tempfile::TempDir,
}

/// Whether `redis-server` can be run here; says the test is skipped if not.
fn installed(test: &str) -> bool {
    let found = Command::new("redis-server")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    if !found {
        println!("skipped {test}: redis-server is not installed");
    }
    found
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("a free loopback port")
}

impl PrivateServer {
    /// Starts a server for `test` with `extra` arguments after the common
    /// ones (`{dir}` in an argument is replaced by its scratch directory);
    /// `None` (after saying so) where redis-server is not installed or
    /// `KVIT_REDIS_URL` is unset, so these tests skip where the others do.
    pub fn start(test: &str, extra: &[&str]) -> Option<Self> {
        crate::support::redis_url(test)?;
        if !installed(test) {
            return None;
        }
        let directory = tempfile::tempdir().expect("a scratch directory");
        let port = free_port();
        let dir = directory.path().display().to_string();
        let mut args: Vec<String> = [
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--daemonize",
            "no",
            "--dir",
            "{dir}",
            "--logfile",
            "{dir}/redis.log",
        ]
        .iter()
        .chain(extra)
        .map(|arg| arg.replace("{dir}", &dir))
        .collect();
        // Unless the test listens on TLS only, plain TCP is on `port`.
        if !args.iter().any(|arg| arg == "--port") {
            args.extend(["--port".to_owned(), port.to_string()]);
        }
        let args = args
            .into_iter()
            .map(|arg| arg.replace("{port}", &port.to_string()))
            .collect();
        let mut server = PrivateServer {
            child: None,
            port,
            args,
            directory,
        };
        server.launch();
        Some(server)
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.directory.path().join(name)
    }

    /// `redis://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn launch(&mut self) {
        let child = Command::new("redis-server")
            .args(&self.args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            let exited = self
                .child
                .as_mut()
                .and_then(|child| child.try_wait().ok().flatten());
            assert!(
                exited.is_none(),
                "redis-server exited ({exited:?}): {}",
                std::fs::read_to_string(self.path("redis.log")).unwrap_or_default()
            );
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills the server (as a crash would) and waits for it to go.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again with the same arguments, on the same port.
    pub fn restart(&mut self) {
        self.kill();
        self.launch();
    }
}

impl Drop for PrivateServer {
    fn drop(&mut self) {
        self.kill();
    }
}
