//! The real `premia` binary as a child process, for tests that SIGKILL it: start it on a data
//! dir, create keys with the CLI, send raw requests (bytes and replay header kept), run
//! `premia check`.
//!
//! Test files include it after `support/http.rs` (it uses that file's `Key`):
//! `#[path = "support/process.rs"] mod process;`
#![allow(dead_code)]

use crate::app::Key;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

pub struct Premia {
    child: Child,
    pub base_url: String,
}

impl Premia {
    /// `premia serve` on `dir`, a random port; returns once it listens.
    pub fn serve(dir: &Path) -> Premia {
        let mut child = Command::new(env!("CARGO_BIN_EXE_premia"))
            .env("PREMIA_DATA_DIR", dir)
            .env("PREMIA_LISTEN", "127.0.0.1:0")
            .env("RUST_LOG", "off")
            .arg("serve")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let base_url = loop {
            let line = lines
                .next()
                .expect("the server says where it listens")
                .unwrap();
            if let Some(url) = line.strip_prefix("premia listening on ") {
                break url.to_string();
            }
        };
        // Keep draining stdout so the server never blocks on a full pipe.
        std::thread::spawn(move || lines.for_each(drop));
        Premia { child, base_url }
    }

    /// SIGKILL: no chance to flush or finish anything.
    pub fn kill9(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// SIGTERM and a clean exit.
    pub fn stop(mut self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        assert_eq!(self.child.wait().unwrap().code(), Some(0), "a clean stop");
    }
}

/// A sandbox key made by `premia keys create`, without a practical rate limit.
pub fn create_key(dir: &Path) -> Key {
    let out = Command::new(env!("CARGO_BIN_EXE_premia"))
        .env("PREMIA_DATA_DIR", dir)
        .args(["keys", "create", "--env", "test", "--scope", "payments"])
        .args(["--rate-limit", "1000000"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    Key {
        client_id: v["client_id"].as_str().unwrap().into(),
        client_secret: v["client_secret"].as_str().unwrap().into(),
    }
}

/// `premia check` on a stopped server's data dir: (passed, its report).
pub fn check(dir: &Path) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_premia"))
        .env("PREMIA_DATA_DIR", dir)
        .arg("check")
        .output()
        .unwrap();
    let report =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), report)
}

/// A response as bytes, with whether it was an Idempotency-Key replay.
pub struct Raw {
    pub status: u16,
    pub bytes: Vec<u8>,
    pub replayed: bool,
}

impl Raw {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.bytes).unwrap_or(serde_json::Value::Null)
    }
}

/// `method /api/v1{path}` with `body`; `Err` when the server could not be reached.
pub async fn try_send(
    base_url: &str,
    key: &Key,
    method: &str,
    path: &str,
    body: &str,
    idempotency_key: Option<&str>,
) -> Result<Raw, reqwest::Error> {
    let mut req = reqwest::Client::new()
        .request(method.parse().unwrap(), format!("{base_url}/api/v1{path}"))
        .header("x-client-id", &key.client_id)
        .header("x-client-secret", &key.client_secret)
        .header("content-type", "application/json")
        .body(body.to_string());
    if let Some(k) = idempotency_key {
        req = req.header("idempotency-key", k);
    }
    let res = req.send().await?;
    let status = res.status().as_u16();
    let replayed = res
        .headers()
        .get("idempotent-replayed")
        .is_some_and(|v| v == "true");
    let bytes = res.bytes().await?.to_vec();
    Ok(Raw {
        status,
        bytes,
        replayed,
    })
}

pub async fn send(
    base_url: &str,
    key: &Key,
    method: &str,
    path: &str,
    body: &str,
    idempotency_key: Option<&str>,
) -> Raw {
    try_send(base_url, key, method, path, body, idempotency_key)
        .await
        .expect("the server answers")
}
