//! The `unidm` binary.

use std::net::SocketAddr;

use anyhow::Context;
use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;
use unidm::config::{ServeArgs, ServeConfig};
use unidm_core::{Engine, SqliteOptions, SqliteStore};

/// unidm: one API to manage LwM2M, TR-069 and OMA DM devices.
#[derive(Debug, Parser)]
#[command(version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the HTTP API and the engine on an embedded SQLite file.
    ///
    /// Settings come from --config (TOML), then UNIDM_* variables, then flags. Prints the
    /// address it listens on; stops gracefully on SIGINT or SIGTERM, finishing queued writes.
    /// Unfinished operations resume at the next start.
    Serve(ServeArgs),
    /// Print the OpenAPI document.
    Openapi,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Serve(args) => serve(ServeConfig::resolve(&args)?).await,
        Command::Openapi => {
            println!("{}", serde_json::to_string_pretty(&unidm::openapi())?);
            Ok(())
        }
    }
}

async fn serve(cfg: ServeConfig) -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_new(&cfg.log).context("invalid --log filter")?)
        .with_writer(std::io::stderr)
        .init();
    let store = SqliteStore::open_with(SqliteOptions { durable: cfg.durable, ..SqliteOptions::new(&cfg.db) })
        .with_context(|| format!("opening the database {}", cfg.db.display()))?;
    let engine = Engine::builder().store(store).config(cfg.engine.clone()).start().await?;
    let listener = tokio::net::TcpListener::bind(cfg.listen)
        .await
        .with_context(|| format!("binding the API to {}", cfg.listen))?;
    let addr = listener.local_addr()?;
    // Install the handlers before announcing readiness: a signal sent right after the
    // "listening" line must stop us gracefully, not kill us.
    let shutdown = shutdown_signal()?;
    if cfg.token.is_none() && !addr.ip().is_loopback() {
        tracing::warn!("no API token configured: only loopback clients will be served; set --token");
    }
    println!("unidm listening on http://{addr} (API http://{addr}/api/v1, database {})", cfg.db.display());
    let app = unidm::app(engine.clone(), cfg.token.clone());
    axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(shutdown)
        .await?;
    engine.shutdown().await;
    println!("unidm stopped");
    Ok(())
}

fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    #[cfg(unix)]
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    #[cfg(unix)]
    let mut int = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?;
    Ok(async move {
        #[cfg(unix)]
        tokio::select! {
            _ = term.recv() => {},
            _ = int.recv() => {},
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("shutting down");
    })
}
