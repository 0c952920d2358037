//! The `premia` binary as an operator uses it: key management (create, list, revoke, rotate,
//! update), the first-run sandbox key, graceful shutdown on SIGTERM.

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

/// `premia keys create --env test --scope payments`: the new key's JSON.
fn create_key(dir: &std::path::Path) -> serde_json::Value {
    json(
        premia(dir)
            .args(["keys", "create", "--env", "test", "--scope", "payments"])
            .output()
            .unwrap(),
    )
}

/// `premia keys list`: the record of `id`.
fn listed(dir: &std::path::Path, id: &str) -> serde_json::Value {
    let listed = json(premia(dir).args(["keys", "list"]).output().unwrap());
    listed
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["client_id"] == id)
        .unwrap_or_else(|| panic!("{id} is listed: {listed}"))
        .clone()
}

/// A failed command's stderr.
fn refused(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        !out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn rotate_prints_a_new_secret_and_how_long_the_old_one_still_works() {
    let dir = tempfile::tempdir().unwrap();
    let created = create_key(dir.path());
    let id = created["client_id"].as_str().unwrap();
    let rotated = json(
        premia(dir.path())
            .args(["keys", "rotate", id])
            .output()
            .unwrap(),
    );
    assert_eq!(rotated["client_id"], id);
    let secret = rotated["client_secret"].as_str().unwrap();
    assert!(secret.starts_with("premia_test_sec_"), "{secret}");
    assert_ne!(rotated["client_secret"], created["client_secret"]);
    assert_eq!(rotated["scope"], "payments");
    // The default overlap comes from the configuration (a day).
    let until = rotated["previous_secret_valid_until"].as_str().unwrap();
    assert_eq!(listed(dir.path(), id)["previous_secret_valid_until"], until);
    let text = json(premia(dir.path()).args(["keys", "list"]).output().unwrap()).to_string();
    assert!(!text.contains(secret) && !text.contains("secret_hash"));

    let at_once = json(
        premia(dir.path())
            .args(["keys", "rotate", id, "--overlap-secs", "0"])
            .output()
            .unwrap(),
    );
    assert_eq!(
        at_once["previous_secret_valid_until"],
        serde_json::Value::Null
    );
    assert_ne!(at_once["client_secret"], rotated["client_secret"]);
    // The configured default can be 0 as well.
    let by_config = json(
        premia(dir.path())
            .env("PREMIA_SERVER_KEY_ROTATION_OVERLAP_SECS", "0")
            .args(["keys", "rotate", id])
            .output()
            .unwrap(),
    );
    assert_eq!(
        by_config["previous_secret_valid_until"],
        serde_json::Value::Null
    );
}

#[test]
fn update_changes_the_listed_record() {
    let dir = tempfile::tempdir().unwrap();
    let id = create_key(dir.path())["client_id"]
        .as_str()
        .unwrap()
        .to_string();
    let updated = json(
        premia(dir.path())
            .args([
                "keys",
                "update",
                &id,
                "--rate-limit",
                "7",
                "--name",
                "billing",
            ])
            .args(["--carrier", "680abc456def789012345678"])
            .args(["--employer", "681abc789abc123456789012"])
            .args(["--require-signature", "true"])
            .output()
            .unwrap(),
    );
    let record = listed(dir.path(), &id);
    assert_eq!(updated, record, "update prints the record as listed");
    assert_eq!(record["rate_limit"], 7);
    assert_eq!(record["name"], "billing");
    assert_eq!(record["allowed_carrier_ids"][0], "680abc456def789012345678");
    assert_eq!(
        record["allowed_employer_ids"][0],
        "681abc789abc123456789012"
    );
    assert_eq!(record["require_signature"], true);

    json(
        premia(dir.path())
            .args(["keys", "update", &id, "--clear-rate-limit", "--clear-scope"])
            .args(["--require-signature", "false"])
            .output()
            .unwrap(),
    );
    let record = listed(dir.path(), &id);
    assert_eq!(record["rate_limit"], serde_json::Value::Null);
    assert_eq!(record["allowed_carrier_ids"], serde_json::json!([]));
    assert_eq!(record["allowed_employer_ids"], serde_json::json!([]));
    assert_eq!(record["require_signature"], false);
    assert_eq!(record["name"], "billing", "what was not named is unchanged");
}

#[test]
fn bad_rotate_and_update_options_are_refused_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let id = create_key(dir.path())["client_id"]
        .as_str()
        .unwrap()
        .to_string();
    let update = |args: &[&str]| {
        let mut cmd = premia(dir.path());
        cmd.args(["keys", "update", &id]).args(args);
        refused(&mut cmd)
    };
    assert!(update(&[]).contains("nothing to update"));
    assert!(update(&["--rate-limit", "0"]).contains("--rate-limit"));
    assert!(update(&["--rate-limit", "5", "--clear-rate-limit"]).contains("cannot be used with"));
    assert!(
        update(&["--clear-scope", "--carrier", "680abc456def789012345678"])
            .contains("cannot be used with")
    );
    assert!(update(&["--carrier", "xyz"]).contains("ObjectId"));
    assert!(update(&["--require-signature", "maybe"]).contains("possible values: true, false"));
    assert!(
        refused(premia(dir.path()).args(["keys", "rotate", &id, "--overlap-secs", "soon"]))
            .contains("--overlap-secs")
    );
    assert!(
        refused(premia(dir.path()).args(["keys", "rotate", "premia_test_cli_nope"]))
            .contains("no API key premia_test_cli_nope")
    );
    assert!(refused(premia(dir.path()).args([
        "keys",
        "update",
        "premia_test_cli_nope",
        "--name",
        "x"
    ]))
    .contains("no API key"));

    assert!(premia(dir.path())
        .args(["keys", "revoke", &id])
        .status()
        .unwrap()
        .success());
    assert!(refused(premia(dir.path()).args(["keys", "rotate", &id])).contains("revoked"));
    assert!(update(&["--name", "x"]).contains("revoked"));
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
