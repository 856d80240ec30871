//! `rediss://` against a private TLS server with a certificate authority
//! made for the test (by the `openssl` command), which also signs a client
//! certificate, since Redis asks clients for one by default.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use kvit::testing::conformance;
use kvit::{Error, KvStore};
use kvit_redis::RedisOptions;

use crate::private_server::PrivateServer;

/// Makes `ca.crt`, `server.crt`/`.key` (for 127.0.0.1) and
/// `client.crt`/`.key` in `directory`; false if openssl is missing.
fn make_certificates(directory: &Path) -> bool {
    let openssl = |args: &[&str]| {
        let output = Command::new("openssl")
            .args(args)
            .current_dir(directory)
            .stdin(Stdio::null())
            .output();
        match output {
            Ok(output) if output.status.success() => true,
            Ok(output) => panic!(
                "openssl {args:?} failed: {}",
                String::from_utf8_lossy(&output.stderr)
            ),
            Err(_) => false,
        }
    };
    let key = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let ca = [
        &["req", "-x509"][..],
        &key,
        &[
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
            "-days",
            "2",
            "-subj",
            "/CN=kvit test CA",
        ],
    ]
    .concat();
    if !openssl(&ca) {
        return false;
    }
    std::fs::write(
        directory.join("server.ext"),
        "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    std::fs::write(
        directory.join("client.ext"),
        "extendedKeyUsage=clientAuth\n",
    )
    .unwrap();
    for (name, subject) in [
        ("server", "/CN=127.0.0.1"),
        ("client", "/CN=kvit test client"),
    ] {
        let (key_file, request, certificate, extensions) = (
            format!("{name}.key"),
            format!("{name}.csr"),
            format!("{name}.crt"),
            format!("{name}.ext"),
        );
        let request_args = [
            &["req"][..],
            &key,
            &["-keyout", &key_file, "-out", &request, "-subj", subject],
        ]
        .concat();
        openssl(&request_args);
        openssl(&[
            "x509",
            "-req",
            "-in",
            &request,
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            &certificate,
            "-days",
            "2",
            "-extfile",
            &extensions,
        ]);
    }
    true
}

fn openssl_installed(test: &str) -> bool {
    let found = Command::new("openssl")
        .arg("version")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    if !found {
        println!("skipped {test}: openssl is not installed");
    }
    found
}

#[test]
fn tls_with_a_private_certificate_authority() {
    const TEST: &str = "tls_with_a_private_certificate_authority";
    // The certificates must exist before the server starts, in its directory:
    // make them in a directory of their own and point the server there.
    if !openssl_installed(TEST) || crate::support::redis_url(TEST).is_none() {
        return;
    }
    let certificates = tempfile::tempdir().unwrap();
    if !make_certificates(certificates.path()) {
        return;
    }
    let dir = certificates.path().display().to_string();
    let server_args: Vec<String> = [
        "--port",
        "0",
        "--tls-port",
        "{port}",
        "--tls-cert-file",
        "CERTS/server.crt",
        "--tls-key-file",
        "CERTS/server.key",
        "--tls-ca-cert-file",
        "CERTS/ca.crt",
    ]
    .iter()
    .map(|arg| arg.replace("CERTS", &dir))
    .collect();
    let server_args: Vec<&str> = server_args.iter().map(String::as_str).collect();
    let Some(server) = PrivateServer::start(TEST, &server_args) else {
        return;
    };
    let read = |name: &str| std::fs::read(certificates.path().join(name)).unwrap();
    let url = format!("rediss://127.0.0.1:{}", server.port);

    let store = RedisOptions::new(&url)
        .prefix("tls:")
        .tls_root_certificates(read("ca.crt"))
        .tls_client_certificate(read("client.crt"), read("client.key"))
        .open()
        .unwrap();
    conformance::basic_contract(&store);
    conformance::cas_semantics(&store);
    conformance::prefix_scans(&store);
    conformance::cas_thread_race(&store, 4, 25);

    let expect_refused = |options: RedisOptions, why: &str| {
        let started = Instant::now();
        match options.connect_timeout(Duration::from_secs(2)).open() {
            Err(Error::Backend {
                operation: "open", ..
            }) => {}
            other => panic!("{why}: expected a Backend error, got {other:?}"),
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{why}: took {:?}",
            started.elapsed()
        );
    };
    // The server asks for a client certificate.
    expect_refused(
        RedisOptions::new(&url).tls_root_certificates(read("ca.crt")),
        "no client certificate",
    );
    // The system's authorities do not know the test's.
    expect_refused(
        RedisOptions::new(&url).tls_client_certificate(read("client.crt"), read("client.key")),
        "unknown authority",
    );
    // Plain text to a TLS port.
    expect_refused(
        RedisOptions::new(format!("redis://127.0.0.1:{}", server.port)),
        "plain text to TLS",
    );
    store.clear().unwrap();
}

/// TLS to a server that speaks plain text fails promptly.
#[test]
fn tls_to_a_plain_server_is_a_backend_error() {
    let Some(url) = crate::support::redis_url("tls_to_a_plain_server_is_a_backend_error") else {
        return;
    };
    let tls_url = url.replacen("redis://", "rediss://", 1);
    let started = Instant::now();
    let result = RedisOptions::new(&tls_url)
        .connect_timeout(Duration::from_secs(2))
        .open();
    assert!(
        matches!(
            result,
            Err(Error::Backend {
                operation: "open",
                ..
            })
        ),
        "{result:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(10));
}
