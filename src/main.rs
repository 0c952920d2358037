//! The `premia` binary: parse the command line, load the configuration, run.

use clap::{Args, Parser, Subcommand};
use premia::auth::{ApiClient, KeyStore, KeyUpdate, NewKey, Scope};
use premia::config::Config;
use premia::domain::{Environment, ObjectId};
use premia::server::Server;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

// sled copies pages on every write; mimalloc keeps that cheap (see README: Performance).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "premia",
    version,
    about = "Payment orchestration engine for insurance premiums"
)]
struct Cli {
    /// Configuration file (defaults are built in; PREMIA_* variables override either).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (the default).
    Serve,
    /// Manage API keys (works whether or not a server is running).
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Verify every invariant of the data dir of a stopped server; exit 1 listing violations.
    Check,
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Create a key and print its client_id and client_secret (shown only now).
    Create(CreateKey),
    /// List keys (never their secrets).
    List,
    /// Revoke a key: it stops working at once.
    Revoke { client_id: String },
    /// Give a key a new secret and print it (shown only now); the old secret keeps working
    /// for the overlap, then stops.
    Rotate {
        client_id: String,
        /// Seconds the old secret keeps working (default: server.key_rotation_overlap_secs;
        /// 0: it stops at once).
        #[arg(long)]
        overlap_secs: Option<u64>,
    },
    /// Change a key's record; a running server applies it on the key's next request.
    Update(UpdateKey),
}

#[derive(Args)]
struct CreateKey {
    #[arg(long, value_parser = ["test", "live"])]
    env: String,
    #[arg(long, value_parser = ["payments", "all", "payroll"])]
    scope: String,
    #[arg(long)]
    name: Option<String>,
    /// Restrict the key to these carriers (repeat; none = all).
    #[arg(long = "carrier")]
    carriers: Vec<ObjectId>,
    /// Restrict the key to these employers (repeat; none = all).
    #[arg(long = "employer")]
    employers: Vec<ObjectId>,
    /// Requests per minute (default: the server's).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    rate_limit: Option<u32>,
    /// Refuse this key's requests unless HMAC-signed.
    #[arg(long)]
    require_signature: bool,
}

#[derive(Args)]
struct UpdateKey {
    client_id: String,
    /// Requests per minute.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    rate_limit: Option<u32>,
    /// Back to the server's default rate limit.
    #[arg(long, conflicts_with = "rate_limit")]
    clear_rate_limit: bool,
    /// Allow only these carriers (repeat; replaces the list).
    #[arg(long = "carrier")]
    carriers: Vec<ObjectId>,
    /// Allow only these employers (repeat; replaces the list).
    #[arg(long = "employer")]
    employers: Vec<ObjectId>,
    /// Allow every carrier and employer.
    #[arg(long, conflicts_with_all = ["carriers", "employers"])]
    clear_scope: bool,
    /// Whether requests must be HMAC-signed.
    #[arg(long, value_name = "true|false")]
    require_signature: Option<bool>,
    #[arg(long)]
    name: Option<String>,
}

impl UpdateKey {
    fn change(self) -> Result<KeyUpdate, &'static str> {
        let nothing = self.rate_limit.is_none()
            && !self.clear_rate_limit
            && self.carriers.is_empty()
            && self.employers.is_empty()
            && !self.clear_scope
            && self.require_signature.is_none()
            && self.name.is_none();
        if nothing {
            return Err(
                "nothing to update: give at least one of --rate-limit, --clear-rate-limit, \
                 --carrier, --employer, --clear-scope, --require-signature, --name",
            );
        }
        let listed = |ids: Vec<ObjectId>| (!ids.is_empty()).then_some(ids);
        let (carriers, employers) = if self.clear_scope {
            (Some(vec![]), Some(vec![]))
        } else {
            (listed(self.carriers), listed(self.employers))
        };
        Ok(KeyUpdate {
            name: self.name,
            rate_limit: if self.clear_rate_limit {
                Some(None)
            } else {
                self.rate_limit.map(Some)
            },
            carriers,
            employers,
            require_signature: self.require_signature,
        })
    }
}

/// A key's record as `keys list` and `keys update` show it: never the secret or its hash.
fn shown(c: ApiClient) -> serde_json::Value {
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    let overlap_ends = c
        .overlap_ends_ms(now_ms)
        .map(|ms| state_machines::Timestamp::from_millis(ms).to_rfc3339());
    serde_json::json!({
        "client_id": c.client_id, "env": c.env, "scope": c.scope, "name": c.name,
        "allowed_carrier_ids": c.allowed_carrier_ids, "allowed_employer_ids": c.allowed_employer_ids,
        "rate_limit": c.rate_limit, "require_signature": c.require_signature,
        "created_at": c.created_at, "revoked": c.revoked,
        "previous_secret_valid_until": overlap_ends,
    })
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let config = match Config::load(cli.config.as_deref()) {
        Ok(c) => c,
        Err(e) => return fail(e),
    };
    let result = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(config).await,
        Command::Keys(command) => keys(&config, command),
        Command::Check => return check(&config),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(e),
    }
}

fn fail(e: impl std::fmt::Display) -> ExitCode {
    eprintln!("premia: {e}");
    ExitCode::FAILURE
}

type Fallible = Result<(), Box<dyn std::error::Error>>;

fn keys(config: &Config, command: KeysCommand) -> Fallible {
    let store = KeyStore::open(&config.server.data_dir, &config.server.key_prefix)?;
    match command {
        KeysCommand::Create(k) => {
            let key = store.create(NewKey {
                env: k.env.parse::<Environment>()?,
                scope: Scope::parse(&k.scope).ok_or("unknown scope")?,
                name: k.name,
                carriers: k.carriers,
                employers: k.employers,
                rate_limit: k.rate_limit,
                require_signature: k.require_signature,
            })?;
            println!("{}", serde_json::to_string_pretty(&key)?);
        }
        KeysCommand::List => {
            let listed: Vec<serde_json::Value> = store.list()?.into_iter().map(shown).collect();
            println!("{}", serde_json::to_string_pretty(&listed)?);
        }
        KeysCommand::Revoke { client_id } => {
            store.revoke(&client_id)?;
            println!("revoked {client_id}");
        }
        KeysCommand::Rotate {
            client_id,
            overlap_secs,
        } => {
            let overlap = overlap_secs.unwrap_or(config.server.key_rotation_overlap_secs);
            let rotated = store.rotate(&client_id, Duration::from_secs(overlap))?;
            println!("{}", serde_json::to_string_pretty(&rotated)?);
        }
        KeysCommand::Update(update) => {
            let client_id = update.client_id.clone();
            let updated = store.update(&client_id, update.change()?)?;
            println!("{}", serde_json::to_string_pretty(&shown(updated))?);
        }
    }
    Ok(())
}

fn check(config: &Config) -> ExitCode {
    let dir = &config.server.data_dir;
    if !dir.join("db").exists() {
        return fail(format!("{} holds no Premia data", dir.display()));
    }
    // sled locks its files: this fails, rather than reading a moving target, while a server
    // holds the data dir.
    let report = match premia::store::Store::open(dir).and_then(|s| premia::check::check(&s)) {
        Ok(report) => report,
        Err(e) => {
            return fail(format!(
                "{e} (is a server still running on {}?)",
                dir.display()
            ))
        }
    };
    println!(
        "checked {} payment links, {} subscriptions, {} payments, {} events, {} timers",
        report.links, report.subscriptions, report.payments, report.events, report.timers
    );
    if report.is_clean() {
        println!("ok: every invariant holds");
        return ExitCode::SUCCESS;
    }
    println!("{} violations:", report.violations.len());
    for v in &report.violations {
        println!("  {v}");
    }
    ExitCode::FAILURE
}

async fn serve(config: Config) -> Fallible {
    // Installed before anything is announced, so an early SIGTERM is still a clean stop.
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let server = Server::start(config).await?;
    // A plain line on stdout, for people and for scripts waiting for the port.
    println!("premia listening on {}", server.base_url());
    if server.keys().is_empty()? {
        // First run: one sandbox key, printed once. Never a live key.
        let key = server.keys().create(NewKey {
            env: Environment::Test,
            scope: Scope::Payments,
            name: Some("first-run sandbox key".into()),
            carriers: vec![],
            employers: vec![],
            rate_limit: None,
            require_signature: false,
        })?;
        println!(
            "\nCreated a sandbox API key (shown only now):\n  client_id:     {id}\n  client_secret: {secret}\n\n\
             Try it:\n  curl -s {base}/api/v1/payment-links -H 'X-Client-ID: {id}' -H 'X-Client-Secret: {secret}' \\\n    \
             -H 'Content-Type: application/json' -d '{{\"employer_id\":\"681abc789abc123456789012\",\
             \"carrier_id\":\"680abc456def789012345678\",\"policy_id\":\"682def789abc012345678901\",\
             \"amount_cents\":250000,\"payment_type\":\"down_payment\"}}'\n",
            id = key.client_id,
            secret = key.client_secret,
            base = server.base_url()
        );
    }
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    tracing::info!("shutting down: finishing in-flight requests");
    server.stop().await?;
    tracing::info!("stopped cleanly");
    Ok(())
}
