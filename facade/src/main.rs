//! The `unidm` binary.

use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;
use unidm::config::{ServeArgs, ServeConfig};
use unidm::routes::files::FilesConfig;
use unidm::AppOptions;
use unidm_core::Engine;
use unidm_lwm2m::Lwm2mAdapter;
use unidm_omadm::server::OmadmAdapter;
use unidm_omadm::session::ClientAuth;
use unidm_tr069::Tr069Adapter;

/// mimalloc rather than the system allocator: registrations and sessions allocate many small,
/// short-lived buffers, and glibc's malloc cost about a fifth of the CPU time of a registration
/// in the LwM2M load tool (see the README's performance section).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// unidm: one API to manage LwM2M, TR-069 and OMA DM devices.
#[derive(Debug, Parser)]
#[command(version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
// Parsed once at start: the size of the largest variant does not matter.
#[allow(clippy::large_enum_variant)]
enum Command {
    /// Run the HTTP API and the engine on an embedded SQLite file.
    ///
    /// Settings come from --config (TOML), then UNIDM_* variables, then flags. Prints the
    /// address it listens on; stops gracefully on SIGINT or SIGTERM, finishing queued writes.
    /// Unfinished operations resume at the next start.
    Serve(ServeArgs),
    /// Print the OpenAPI document.
    Openapi,
    /// Run simulated devices against a server: LwM2M clients, TR-069 CPEs or OMA DM clients.
    ///
    /// `unidm sim lwm2m --server 127.0.0.1:5683 --count 100` registers 100 clients;
    /// `unidm sim tr069 --acs http://127.0.0.1:7547/ --count 100` starts 100 CPEs;
    /// `unidm sim omadm --server http://127.0.0.1:8081/dm --credentials dev:pw` starts a DM
    /// client. They run
    /// until SIGINT (Ctrl-C) or SIGTERM; LwM2M clients then de-register. At most 10000 devices
    /// per process.
    Sim {
        #[command(subcommand)]
        protocol: unidm::sim::SimCommand,
    },
    /// Load any server over the network and print figures to compare.
    ///
    /// `unidm bench lwm2m --server 127.0.0.1:5683 --devices 100000 --server-pid PID` registers,
    /// updates and de-registers distinct endpoints (reads and notifications too with `--api`);
    /// `bench tr069 --acs URL` and `bench omadm --server URL` run sessions of simulated CPEs and
    /// DM clients; `bench campaign` runs a group firmware operation over simulated LwM2M
    /// clients through unidm's API. Each phase prints its rate, latency percentiles, errors,
    /// the tool's CPU and, given the server's pid, the server's CPU and memory.
    Bench {
        #[command(subcommand)]
        protocol: unidm::bench::BenchCommand,
    },
    /// The whole product in one command: `serve` in a temporary folder, a mixed simulated
    /// fleet (LwM2M with a gateway, TR-069 of both data models, OMA DM), and a walk through
    /// the inventory, a group, a firmware campaign with live progress, its failures, a reboot,
    /// the topology and a summary. Ctrl-C stops everything.
    Demo(unidm::demo::DemoArgs),
    /// Run a conformance catalogue against one real device and write JUnit, JSON and HTML
    /// reports.
    ///
    /// `unidm conformance lwm2m --endpoint EP` starts a LwM2M server on udp/5683 (--coap),
    /// waits for EP to register, runs the OMA ETS cases (--cases 1.0-int-1xx,1.1-int-229 to
    /// pick), prints one line per case and writes conformance-report/report.{json,xml,html}.
    /// `unidm conformance tr069 --device tr069:OUI-Class-Serial` does the same with an ACS on
    /// tcp/7547 (--acs). `--api URL` uses a running `unidm serve` instead. `--list` prints the
    /// catalogue. Exit status 0 only when no case failed or was in error.
    Conformance {
        #[command(subcommand)]
        protocol: unidm::conformance::cli::ConformanceCommand,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Serve(args) => serve(ServeConfig::resolve(&args)?).await,
        Command::Demo(args) => unidm::demo::run(args).await,
        Command::Openapi => {
            println!("{}", serde_json::to_string_pretty(&unidm::openapi())?);
            Ok(())
        }
        Command::Sim { protocol } => unidm::sim::run(protocol).await,
        Command::Bench { protocol } => {
            // The load tool profiles like the server (`UNIDM_PROFILE`, below): its own CPU is
            // taken from the server's on a shared machine.
            #[cfg(feature = "profile")]
            let profiler = profile::start()?;
            let outcome = unidm::bench::run(protocol).await;
            #[cfg(feature = "profile")]
            profile::finish(profiler)?;
            outcome
        }
        Command::Conformance { protocol } => {
            // The reports are written either way; 1 when a case failed or was in error.
            if !unidm::conformance::cli::run(protocol).await? {
                std::process::exit(1);
            }
            Ok(())
        }
    }
}

async fn serve(cfg: ServeConfig) -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_new(&cfg.log).context("invalid --log filter")?)
        .with_writer(std::io::stderr)
        .init();
    #[cfg(feature = "profile")]
    let profiler = profile::start()?;
    let store = unidm::database::open(&cfg.db, cfg.durable, cfg.db_ca.as_deref(), &cfg.node).await?;
    let mut builder = Engine::builder().store_arc(store).config(cfg.engine.clone());
    let acs = cfg.tr069.clone().map(|c| Arc::new(Tr069Adapter::new(c)));
    let lwm2m = cfg.lwm2m.clone().map(|c| Arc::new(Lwm2mAdapter::new(c)));
    if let Some(lwm2m) = &lwm2m {
        builder = builder.adapter_arc(lwm2m.clone());
    }
    if let Some(acs) = &acs {
        builder = builder.adapter_arc(acs.clone());
    }
    let omadm = cfg.omadm.clone().map(|c| Arc::new(OmadmAdapter::new(c)));
    if let Some(omadm) = &omadm {
        builder = builder.adapter_arc(omadm.clone());
    }
    let engine = builder.start().await.context("starting the engine and its adapters")?;
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
    let tls = match &cfg.tls {
        Some(files) => Some(unidm_core::tls::server_config(files, &[b"h2", b"http/1.1"]).context("API TLS")?),
        None => None,
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    println!(
        "unidm listening on {scheme}://{addr} (API {scheme}://{addr}/api/v1, database {})",
        unidm::database::redact(&cfg.db.to_string_lossy())
    );
    if let Some(addr) = lwm2m.as_ref().and_then(|l| l.local_addr()) {
        println!("lwm2m server listening on coap://{addr} (udp)");
    }
    if let Some(addr) = lwm2m.as_ref().and_then(|l| l.dtls_addr()) {
        println!("lwm2m server listening on coaps://{addr} (udp, DTLS)");
    }
    if let Some(addr) = lwm2m.as_ref().and_then(|l| l.bootstrap_addr()) {
        println!("lwm2m bootstrap server listening on coap://{addr} (udp)");
    }
    if let Some(addr) = lwm2m.as_ref().and_then(|l| l.bootstrap_dtls_addr()) {
        println!("lwm2m bootstrap server listening on coaps://{addr} (udp, DTLS)");
    }
    let mut files_url = None;
    if let Some(acs) = &acs {
        let bound = acs.local_addr().map(|a| a.to_string()).unwrap_or_default();
        let unspecified = acs.local_addr().is_some_and(|a| a.ip().is_unspecified());
        // File URLs given to devices never name a wildcard address: without a public URL, an
        // ACS bound to 0.0.0.0 gives none (the warning below says what to set).
        let public = cfg
            .tr069_public_url
            .clone()
            .or_else(|| acs.acs_url().filter(|_| !unspecified).map(|u| u.trim_end_matches('/').to_owned()));
        match (&cfg.tr069_public_url, unspecified) {
            (Some(url), _) => println!("tr069 ACS listening on {bound} (CPEs use {url})"),
            (None, true) => {
                let port = acs.local_addr().map_or(7547, |a| a.port());
                let scheme = cfg.tr069.as_ref().map_or("http", |t| t.scheme());
                println!("tr069 ACS listening on {bound} (CPEs use {scheme}://<this host>:{port}/)");
                tracing::warn!("set [tr069] public_url so that file URLs given to CPEs name a reachable host");
            }
            (None, false) => println!("tr069 ACS listening on {bound} (CPEs use {})", public.as_deref().unwrap_or("?")),
        }
        files_url = public.map(|p| format!("{}{}", origin(&p), unidm_tr069::acs::FILES_PREFIX));
    }
    if let (Some(dm), Some(c)) = (&omadm, &cfg.omadm) {
        let bound = dm.local_addr().map(|a| a.to_string()).unwrap_or_default();
        match (&c.public_url, dm.local_addr().is_some_and(|a| a.ip().is_unspecified())) {
            (Some(url), _) => println!("omadm server listening on {bound} (devices use {url})"),
            (None, true) => {
                let port = dm.local_addr().map_or(8081, |a| a.port());
                let scheme = if c.tls.is_some() { "https" } else { "http" };
                println!("omadm server listening on {bound} (devices use {scheme}://<this host>:{port}{})", c.path)
            }
            (None, false) => {
                println!("omadm server listening on {bound} (devices use {})", dm.server_url().unwrap_or_default())
            }
        }
        if c.client_credentials.is_none() && c.device_credentials.is_empty() && c.client_auth != ClientAuth::None {
            tracing::warn!("no OMA DM client credentials configured: set [omadm] username / password");
        }
    }
    let northbound = unidm::northbound::NorthboundSlot::new(engine.clone(), lwm2m.clone());
    // Settings given through the API win over the file's.
    let settings = match northbound.stored().await {
        Ok(Some(stored)) => match stored.resolve() {
            Ok(c) => {
                println!("lwm2m northbound: the settings stored through the API replace the file's");
                Some(c)
            }
            Err(e) => {
                tracing::error!(error = %e, "stored northbound settings unusable; using the file's");
                cfg.northbound.clone()
            }
        },
        Ok(None) => cfg.northbound.clone(),
        Err(e) => {
            tracing::error!(error = %e, "stored northbound settings not read; using the file's");
            cfg.northbound.clone()
        }
    };
    if let Some(c) = settings {
        let target = match (c.bootstrap, &c.psk) {
            (Some(bs), _) => format!("the bootstrap server coap://{bs}"),
            (None, Some(_)) => format!("coaps://{}", c.server),
            (None, None) => format!("coap://{}", c.server),
        };
        let endpoint = c.endpoint.clone();
        let nb = northbound.start(c).await.context("starting the LwM2M northbound client")?;
        println!("lwm2m northbound: registering as `{endpoint}` through {target} (from {})", nb.local_addr());
    }
    let onem2m = cfg.onem2m.clone().map(|settings| {
        let mut config = settings.config;
        if !settings.notify_url_given {
            let host = if addr.ip().is_unspecified() { "127.0.0.1".to_owned() } else { addr.ip().to_string() };
            config.notify_url = format!("{scheme}://{host}:{}{}", addr.port(), unidm::ONEM2M_NOTIFY);
        }
        println!(
            "onem2m: mirroring devices into {} as `{}` (notifications to {})",
            config.cse, config.originator, config.notify_url
        );
        unidm::onem2m::Mirror::start(engine.clone(), config)
    });
    let files = FilesConfig { dir: cfg.files_dir.clone(), max_upload: cfg.max_upload, base_url: files_url };
    let app = unidm::app_with(
        engine.clone(),
        AppOptions {
            token: cfg.token.clone(),
            tokens: cfg.tokens.clone(),
            files: Some(files),
            lwm2m: lwm2m.clone(),
            omadm: omadm.clone(),
            tr069: acs.clone(),
            northbound: Some(northbound.clone()),
            onem2m,
        },
    );
    unidm_core::tls::serve(listener, tls, app, shutdown).await?;
    northbound.stop().await;
    engine.shutdown().await;
    #[cfg(feature = "profile")]
    profile::finish(profiler)?;
    println!("unidm stopped");
    Ok(())
}

/// A sampling CPU profile of `unidm serve` or `unidm bench` (built with `--features profile`): with
/// `UNIDM_PROFILE=serve.svg`, stacks are sampled 999 times a second (SIGPROF) and written as a
/// flame graph when the server stops. With `UNIDM_PROFILE_ON_SIGNAL=1` too, sampling starts
/// only when the process gets SIGUSR1 (so that a load test's timed part is profiled without
/// its setup). `perf` needs no rebuild but is not usable everywhere.
#[cfg(feature = "profile")]
mod profile {
    use std::sync::{Arc, Mutex};

    use anyhow::Context as _;

    type Guard = Arc<Mutex<Option<pprof::ProfilerGuard<'static>>>>;

    fn guard() -> anyhow::Result<pprof::ProfilerGuard<'static>> {
        pprof::ProfilerGuardBuilder::default()
            .frequency(999)
            .blocklist(&["libc", "libgcc", "pthread", "vdso"])
            .build()
            .context("starting the profiler")
    }

    pub fn start() -> anyhow::Result<Option<(Guard, String)>> {
        let Some(path) = std::env::var("UNIDM_PROFILE").ok().filter(|p| !p.is_empty()) else { return Ok(None) };
        let slot: Guard = Arc::default();
        if std::env::var("UNIDM_PROFILE_ON_SIGNAL").is_ok_and(|v| v == "1") {
            let mut usr1 = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::user_defined1())
                .context("waiting for SIGUSR1")?;
            let later = slot.clone();
            tokio::spawn(async move {
                usr1.recv().await;
                match guard() {
                    Ok(g) => {
                        *later.lock().unwrap_or_else(|e| e.into_inner()) = Some(g);
                        eprintln!("profiling from now on (SIGUSR1)");
                    }
                    Err(e) => eprintln!("{e:#}"),
                }
            });
        } else {
            *slot.lock().unwrap_or_else(|e| e.into_inner()) = Some(guard()?);
        }
        Ok(Some((slot, path)))
    }

    pub fn finish(profiler: Option<(Guard, String)>) -> anyhow::Result<()> {
        let Some((slot, path)) = profiler else { return Ok(()) };
        let Some(guard) = slot.lock().unwrap_or_else(|e| e.into_inner()).take() else {
            println!("no profile: SIGUSR1 never came");
            return Ok(());
        };
        let report = guard.report().build().context("building the profile")?;
        let file = std::fs::File::create(&path).with_context(|| format!("writing {path}"))?;
        report.flamegraph(file).context("writing the flame graph")?;
        println!("profile written to {path}");
        Ok(())
    }
}

/// `scheme://host:port` of a URL (file URLs hang off the origin, not the ACS path).
fn origin(url: &str) -> &str {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    match url[after_scheme..].find('/') {
        Some(i) => &url[..after_scheme + i],
        None => url,
    }
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
