//! The `premia` binary: parse the command line, load the configuration, run.

use clap::{Parser, Subcommand};
use premia::config::Config;
use premia::processor::Unconfigured;
use premia::{Engine, Processors, Sandbox, Store, TestClock};
use std::path::PathBuf;
use std::sync::Arc;

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
    /// Run the engine (the default).
    Serve,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let cli = Cli::parse();
    let config = match Config::load(cli.config.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("premia: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => match serve(config).await {
            Ok(()) => std::process::ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("premia: {e}");
                std::process::ExitCode::FAILURE
            }
        },
    }
}

async fn serve(config: Config) -> Result<(), premia::EngineError> {
    let store = Store::open(&config.server.data_dir)?;
    // Live payments need Stripe (on the roadmap); until it is configured every live charge
    // is declined rather than pretending that real money moved.
    let processors = Processors {
        test: Arc::new(Sandbox::new()),
        live: Arc::new(Unconfigured),
    };
    let engine = Engine::start(
        store,
        config.engine(),
        processors,
        Arc::new(TestClock::following_system()),
    )
    .await?;
    tracing::info!(data_dir = %config.server.data_dir.display(), "premia engine running; Ctrl-C to stop");
    let _ = tokio::signal::ctrl_c().await;
    engine.shutdown().await?;
    tracing::info!("stopped cleanly");
    Ok(())
}
