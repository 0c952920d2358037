//! What every HTTP test needs: the real server (`premia::server::Server`, the same wiring as
//! `premia serve`) on 127.0.0.1:0 with a temp data dir, a sandbox key with scope `payments`,
//! and typed helpers so a test reads as the behaviour it proves. It talks HTTP only; it never
//! reaches into the engine, so every assertion is about what a client can see.
//!
//! Test files include it with `#[path = "support/http.rs"] mod app;` (tests/support/mod.rs
//! belongs to the engine tests and stays untouched).
#![allow(dead_code)]

use premia::auth::{NewKey, Scope};
use premia::config::{Config, DEFAULT_TOML};
use premia::domain::{Environment, ObjectId};
use premia::server::Server;
use serde_json::{json, Value};

pub const DAY: u64 = 86_400;

/// The spec's example ids (with hex-only digits).
pub const EMPLOYER: &str = "681abc789abc123456789012";
pub const CARRIER: &str = "680abc456def789012345678";
pub const POLICY: &str = "682def789abc012345678901";
pub const OTHER_EMPLOYER: &str = "681fff000fff000fff000fff";
pub const OTHER_CARRIER: &str = "680eee111eee111eee111eee";

/// An API key as a client holds it.
#[derive(Clone, Debug)]
pub struct Key {
    pub client_id: String,
    pub client_secret: String,
}

/// A status and the parsed JSON body (`Value::Null` when the body is not JSON).
#[derive(Debug)]
pub struct Res {
    pub status: u16,
    pub body: Value,
}

impl Res {
    /// The envelope's `data` after checking the status and `ok: true`.
    #[track_caller]
    pub fn expect_status(self, status: u16) -> Value {
        assert_eq!(
            self.status, status,
            "unexpected status; body: {}",
            self.body
        );
        assert_eq!(self.body["ok"], true, "success envelope: {}", self.body);
        self.body["data"].clone()
    }

    /// The error envelope's `message` after checking status, `ok: false`, `code` and that
    /// `error` is the HTTP reason phrase.
    #[track_caller]
    pub fn expect_error(self, status: u16, code: &str) -> String {
        assert_eq!(
            self.status, status,
            "unexpected status; body: {}",
            self.body
        );
        assert_eq!(self.body["ok"], false, "error envelope: {}", self.body);
        assert_eq!(self.body["code"], code, "error code: {}", self.body);
        let reason = reqwest::StatusCode::from_u16(status)
            .unwrap()
            .canonical_reason()
            .unwrap();
        assert_eq!(self.body["error"], reason, "error reason: {}", self.body);
        let message = self.body["message"]
            .as_str()
            .unwrap_or_else(|| panic!("error message is a string: {}", self.body));
        assert!(!message.is_empty(), "error message is empty");
        message.to_string()
    }

    /// The `data` array of a list (checking 200 and the envelope).
    #[track_caller]
    pub fn page(self) -> Page {
        assert_eq!(self.status, 200, "list failed: {}", self.body);
        assert_eq!(self.body["ok"], true, "success envelope: {}", self.body);
        let data = self.body["data"]
            .as_array()
            .unwrap_or_else(|| panic!("data is an array: {}", self.body))
            .clone();
        let p = &self.body["pagination"];
        let n = |k: &str| {
            p[k].as_u64()
                .unwrap_or_else(|| panic!("pagination.{k} is a number: {}", self.body))
        };
        Page {
            // Resources have `_id`; events (Stripe-like) have `id`.
            ids: data
                .iter()
                .map(|v| match v.get("_id") {
                    Some(_) => id_of(v),
                    None => v["id"]
                        .as_str()
                        .unwrap_or_else(|| panic!("an id: {v}"))
                        .to_string(),
                })
                .collect(),
            page: n("page"),
            limit: n("limit"),
            total: n("total"),
            total_pages: n("total_pages"),
            data,
        }
    }
}

/// One page of a list.
#[derive(Debug)]
pub struct Page {
    pub data: Vec<Value>,
    pub ids: Vec<String>,
    pub page: u64,
    pub limit: u64,
    pub total: u64,
    pub total_pages: u64,
}

/// A page the server answered outside the JSON API (checkout, docs, metrics).
#[derive(Debug)]
pub struct Text {
    pub status: u16,
    pub content_type: String,
    pub body: String,
}

#[track_caller]
pub fn id_of(v: &Value) -> String {
    v["_id"]
        .as_str()
        .unwrap_or_else(|| panic!("an _id: {v}"))
        .to_string()
}

/// A link request of the spec's first shape with the example ids.
pub fn link_body(amount_cents: u64) -> Value {
    json!({
        "employer_id": EMPLOYER,
        "carrier_id": CARRIER,
        "policy_id": POLICY,
        "amount_cents": amount_cents,
        "payment_type": "down_payment",
        "customer": { "name": "Smith Industries", "email": "billing@smith.example" }
    })
}

/// The spec's example: a down payment followed by `count` monthly installments.
pub fn plan_link_body(amount_cents: u64, count: u32, per_installment_cents: u64) -> Value {
    let mut body = link_body(amount_cents);
    body["installment_plan"] =
        json!({ "count": count, "per_installment_cents": per_installment_cents });
    body
}

/// A subscription request with every required field.
pub fn subscription_body(amount_cents: u64) -> Value {
    json!({
        "employer_id": EMPLOYER,
        "carrier_id": CARRIER,
        "policy_id": POLICY,
        "amount_cents": amount_cents,
        "customer": { "name": "ACME Corp", "email": "billing@acme.example" }
    })
}

/// A key request with no tenant restriction.
pub fn new_key(env: Environment, scope: Scope) -> NewKey {
    NewKey {
        env,
        scope,
        name: None,
        carriers: vec![],
        employers: vec![],
        rate_limit: None,
        require_signature: false,
    }
}

pub fn object_id(hex: &str) -> ObjectId {
    hex.parse().expect("a valid ObjectId")
}

/// A well-formed id nothing was created with.
pub const UNKNOWN_ID: &str = "6a0000000000000000000001";

pub struct TestApp {
    // Declared before the temp dir so the server goes first when dropped.
    server: Server,
    pub base_url: String,
    /// The sandbox key (scope `payments`) every plain helper uses.
    pub key: Key,
    http: reqwest::Client,
    _dir: tempfile::TempDir,
}

/// Who a request claims to be.
#[derive(Clone, Debug)]
pub enum Credentials {
    Key(Key),
    /// Exactly these headers, possibly none.
    Headers(Vec<(&'static str, String)>),
}

/// Requests sent with one set of credentials.
pub struct Caller<'a> {
    app: &'a TestApp,
    credentials: Credentials,
}

impl TestApp {
    pub async fn spawn() -> TestApp {
        TestApp::spawn_with(&[]).await
    }

    /// The server with some configuration keys overridden (`PREMIA_*` names and values).
    pub async fn spawn_with(overrides: &[(&str, &str)]) -> TestApp {
        let dir = tempfile::tempdir().expect("a temp dir");
        let mut vars = vec![
            ("PREMIA_LISTEN".to_string(), "127.0.0.1:0".to_string()),
            (
                "PREMIA_DATA_DIR".to_string(),
                dir.path().display().to_string(),
            ),
        ];
        vars.extend(
            overrides
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string())),
        );
        let config = Config::from_sources(DEFAULT_TOML, vars)
            .expect("the default config with a port, a data dir and the overrides");
        let server = Server::start(config).await.expect("the server starts");
        let base_url = server.base_url();
        let mut app = TestApp {
            server,
            base_url,
            key: Key {
                client_id: String::new(),
                client_secret: String::new(),
            },
            http: reqwest::Client::new(),
            _dir: dir,
        };
        app.key = app.create_key(new_key(Environment::Test, Scope::Payments));
        app
    }

    /// Stop gracefully (finish in-flight requests, flush).
    pub async fn stop(self) {
        self.server.stop().await.expect("a graceful stop");
    }

    /// A new API key, as `premia keys create` makes one.
    pub fn create_key(&self, new: NewKey) -> Key {
        // bcrypt hashing blocks; keep the runtime's other tasks going meanwhile.
        let created =
            tokio::task::block_in_place(|| self.server.keys().create(new)).expect("key created");
        Key {
            client_id: created.client_id,
            client_secret: created.client_secret,
        }
    }

    /// The server's data dir (holds `keys.json`).
    pub fn data_dir(&self) -> &std::path::Path {
        self._dir.path()
    }

    pub fn revoke_key(&self, key: &Key) {
        tokio::task::block_in_place(|| self.server.keys().revoke(&key.client_id))
            .expect("key revoked");
    }

    pub fn with_key(&self, key: &Key) -> Caller<'_> {
        Caller {
            app: self,
            credentials: Credentials::Key(key.clone()),
        }
    }

    /// Requests carrying exactly these headers (none, one, or made-up values).
    pub fn with_headers(&self, headers: &[(&'static str, &str)]) -> Caller<'_> {
        Caller {
            app: self,
            credentials: Credentials::Headers(
                headers.iter().map(|(k, v)| (*k, v.to_string())).collect(),
            ),
        }
    }

    fn me(&self) -> Caller<'_> {
        self.with_key(&self.key)
    }

    pub async fn get(&self, path: &str) -> Res {
        self.me().get(path).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Res {
        self.me().post(path, body).await
    }

    pub async fn post_raw(&self, path: &str, body: &str) -> Res {
        self.me().post_raw(path, body).await
    }

    pub async fn delete(&self, path: &str) -> Res {
        self.me().delete(path).await
    }

    pub async fn patch(&self, path: &str, body: Value) -> Res {
        self.me().patch(path, body).await
    }

    /// A GET outside `/api/v1` without credentials (`path` may also be a full URL).
    pub async fn browse(&self, path_or_url: &str) -> Text {
        let url = self.url_outside_api(path_or_url);
        text(self.http.get(url).send().await.expect("request sent")).await
    }

    /// A form post outside `/api/v1`, as a browser submits one.
    pub async fn submit_form(&self, path_or_url: &str, form: &str) -> Text {
        let url = self.url_outside_api(path_or_url);
        let res = self
            .http
            .post(url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form.to_string())
            .send()
            .await
            .expect("request sent");
        text(res).await
    }

    fn url_outside_api(&self, path_or_url: &str) -> String {
        if path_or_url.starts_with("http") {
            path_or_url.to_string()
        } else {
            format!("{}{path_or_url}", self.base_url)
        }
    }

    // Resources, the way a test talks about them.

    /// Create a link (201) and return its id.
    pub async fn create_link(&self, body: Value) -> String {
        id_of(&self.post("/payment-links", body).await.expect_status(201))
    }

    /// A link of `amount_cents` paid through the sandbox helper (status completed).
    pub async fn paid_link(&self, amount_cents: u64) -> String {
        let id = self.create_link(link_body(amount_cents)).await;
        self.pay(&id).await;
        id
    }

    /// Pay a link through the sandbox helper; it must succeed.
    pub async fn pay(&self, link_id: &str) -> Value {
        let paid = self
            .post(
                &format!("/test_helpers/payment-links/{link_id}/pay"),
                json!({ "outcome": "succeeded", "method": "card" }),
            )
            .await
            .expect_status(200);
        assert_eq!(paid["status"], "completed", "the link was paid: {paid}");
        paid
    }

    pub async fn link(&self, id: &str) -> Value {
        self.get(&format!("/payment-links/{id}"))
            .await
            .expect_status(200)
    }

    pub async fn subscription(&self, id: &str) -> Value {
        self.get(&format!("/subscriptions/{id}"))
            .await
            .expect_status(200)
    }

    pub async fn create_subscription(&self, body: Value) -> String {
        id_of(&self.post("/subscriptions", body).await.expect_status(201))
    }

    pub async fn refund(&self, link_id: &str, amount_cents: Option<u64>) -> Res {
        let body = match amount_cents {
            Some(a) => json!({ "amount_cents": a, "reason": "overpaid" }),
            None => json!({}),
        };
        self.post(&format!("/payment-links/{link_id}/refund"), body)
            .await
    }

    /// How many links / subscriptions this key sees.
    pub async fn link_total(&self) -> u64 {
        self.get("/payment-links").await.page().total
    }

    pub async fn subscription_total(&self) -> u64 {
        self.get("/subscriptions").await.page().total
    }

    /// Move the sandbox clock; returns once everything that fell due is committed.
    pub async fn advance_days(&self, days: u64) {
        self.advance_seconds(days * DAY).await;
    }

    pub async fn advance_seconds(&self, seconds: u64) {
        self.post("/test_helpers/clock/advance", json!({ "seconds": seconds }))
            .await
            .expect_status(200);
    }

    /// The sandbox clock's current time in milliseconds.
    pub async fn sandbox_now_ms(&self) -> i64 {
        let clock = self.get("/test_helpers/clock").await.expect_status(200);
        clock["now_ms"]
            .as_i64()
            .unwrap_or_else(|| panic!("clock.now_ms: {clock}"))
    }

    /// An RFC 3339 instant `days` after the sandbox's now: a start date that is certainly
    /// in the future however slowly the test runs.
    pub async fn days_from_now(&self, days: u64) -> String {
        state_machines::Timestamp::from_millis(self.sandbox_now_ms().await)
            .plus_seconds(days * DAY)
            .to_rfc3339()
    }

    /// A subscription whose first installment is due in one day (not yet billed).
    pub async fn subscription_due_tomorrow(&self, amount_cents: u64, count: Option<u32>) -> String {
        let mut body = subscription_body(amount_cents);
        body["start_date"] = json!(self.days_from_now(1).await);
        if let Some(count) = count {
            body["count"] = json!(count);
        }
        self.create_subscription(body).await
    }

    /// Make the next `times` charges of a subscription fail.
    pub async fn fail_next_charges(&self, subscription_id: &str, times: u32) {
        self.post(
            &format!("/test_helpers/subscriptions/{subscription_id}/next_charge"),
            json!({ "outcome": "failed", "times": times }),
        )
        .await
        .expect_status(200);
    }
}

impl Caller<'_> {
    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let url = format!("{}/api/v1{path}", self.app.base_url);
        let mut req = self.app.http.request(method, url);
        match &self.credentials {
            Credentials::Key(key) => {
                req = req
                    .header("X-Client-ID", &key.client_id)
                    .header("X-Client-Secret", &key.client_secret);
            }
            Credentials::Headers(headers) => {
                for (name, value) in headers {
                    req = req.header(*name, value);
                }
            }
        }
        req
    }

    pub async fn get(&self, path: &str) -> Res {
        json_res(self.request(reqwest::Method::GET, path)).await
    }

    pub async fn delete(&self, path: &str) -> Res {
        json_res(self.request(reqwest::Method::DELETE, path)).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Res {
        self.post_raw(path, &body.to_string()).await
    }

    pub async fn patch(&self, path: &str, body: Value) -> Res {
        let req = self
            .request(reqwest::Method::PATCH, path)
            .header("content-type", "application/json")
            .body(body.to_string());
        json_res(req).await
    }

    pub async fn post_raw(&self, path: &str, body: &str) -> Res {
        let req = self
            .request(reqwest::Method::POST, path)
            .header("content-type", "application/json")
            .body(body.to_string());
        json_res(req).await
    }
}

async fn json_res(req: reqwest::RequestBuilder) -> Res {
    let res = req.send().await.expect("request sent");
    let status = res.status().as_u16();
    let bytes = res.bytes().await.expect("response body");
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Res { status, body }
}

async fn text(res: reqwest::Response) -> Text {
    let status = res.status().as_u16();
    let content_type = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let body = res.text().await.expect("response body");
    Text {
        status,
        content_type,
        body,
    }
}

/// An RFC 3339 date-time as Unix milliseconds, so instants compare whatever their notation.
#[track_caller]
pub fn millis(rfc3339: &Value) -> i128 {
    let s = rfc3339
        .as_str()
        .unwrap_or_else(|| panic!("an RFC 3339 string: {rfc3339}"));
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|e| panic!("{s:?} is not RFC 3339: {e}"))
        .unix_timestamp_nanos()
        / 1_000_000
}
