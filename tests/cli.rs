//! The `premia` binary as an operator uses it: key management, the first-run sandbox key,
//! graceful shutdown on SIGTERM.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

fn premia(dir: &std::path::Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_premia"));
    cmd.env("PREMIA_DATA_DIR", dir)
        .env("PREMIA_LISTEN", "127.0.0.1:0")
        .env("RUST_LOG", "info");
    cmd
}

fn json(out: std::process::Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn keys_are_created_listed_without_secrets_and_revoked() {
    let dir = tempfile::tempdir().unwrap();
    let created = json(
        premia(dir.path())
            .args([
                "keys",
                "create",
                "--env",
                "live",
                "--scope",
                "all",
                "--name",
                "billing platform",
            ])
            .args([
                "--carrier",
                "680abc456def789012345678",
                "--rate-limit",
                "500",
            ])
            .output()
            .unwrap(),
    );
    let id = created["client_id"].as_str().unwrap().to_string();
    let secret = created["client_secret"].as_str().unwrap();
    assert!(id.starts_with("premia_live_cli_"), "{id}");
    assert!(secret.starts_with("premia_live_sec_"), "{secret}");

    let listed = json(premia(dir.path()).args(["keys", "list"]).output().unwrap());
    let text = listed.to_string();
    assert!(!text.contains(secret), "a secret is never listed");
    assert!(!text.contains("secret_hash"));
    assert_eq!(listed[0]["client_id"], id.as_str());
    assert_eq!(
        listed[0]["allowed_carrier_ids"][0],
        "680abc456def789012345678"
    );
    assert_eq!(listed[0]["rate_limit"], 500);
    assert_eq!(listed[0]["revoked"], false);

    assert!(premia(dir.path())
        .args(["keys", "revoke", &id])
        .status()
        .unwrap()
        .success());
    let listed = json(premia(dir.path()).args(["keys", "list"]).output().unwrap());
    assert_eq!(listed[0]["revoked"], true);
    let unknown = premia(dir.path())
        .args(["keys", "revoke", "premia_test_cli_nope"])
        .output()
        .unwrap();
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no API key"));
}

#[test]
fn bad_key_options_are_refused_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let out = premia(dir.path())
        .args(["keys", "create", "--env", "staging", "--scope", "all"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("staging"));
    let out = premia(dir.path())
        .args([
            "keys",
            "create",
            "--env",
            "test",
            "--scope",
            "all",
            "--carrier",
            "xyz",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("ObjectId"));
}

/// Start `premia serve` and read stdout until it says where it listens.
fn serve(
    dir: &std::path::Path,
) -> (
    std::process::Child,
    String,
    std::io::Lines<BufReader<std::process::ChildStdout>>,
) {
    let mut child = premia(dir)
        .arg("serve")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
    let addr = loop {
        let line = stdout
            .next()
            .expect("the server says where it listens")
            .unwrap();
        if let Some(url) = line.strip_prefix("premia listening on http://") {
            break url.to_string();
        }
    };
    (child, addr, stdout)
}

fn sigterm(child: &std::process::Child) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn the_first_run_prints_one_sandbox_key_and_sigterm_stops_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, addr, mut stdout) = serve(dir.path());
    let mut id = String::new();
    let mut secret = String::new();
    while id.is_empty() || secret.is_empty() {
        let line = stdout
            .next()
            .expect("the first-run key is printed")
            .unwrap();
        if let Some(v) = line.trim().strip_prefix("client_id:") {
            id = v.trim().to_string();
        }
        if let Some(v) = line.trim().strip_prefix("client_secret:") {
            secret = v.trim().to_string();
        }
    }
    assert!(
        id.starts_with("premia_test_cli_"),
        "only ever a sandbox key: {id}"
    );
    // The printed key works.
    let out = Command::new("curl")
        .args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            &format!("http://{addr}/api/v1/payment-links"),
        ])
        .args([
            "-H",
            &format!("X-Client-ID: {id}"),
            "-H",
            &format!("X-Client-Secret: {secret}"),
        ])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "200");
    sigterm(&child);
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0), "SIGTERM is a clean stop");

    // A second run finds the key and prints none.
    let (mut child, _, stdout) = serve(dir.path());
    sigterm(&child);
    let rest: String = stdout.map(|l| l.unwrap() + "\n").collect();
    assert!(!rest.contains("client_secret"), "no second key: {rest}");
    assert_eq!(child.wait().unwrap().code(), Some(0));
}
