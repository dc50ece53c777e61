//! ACS load over loopback, against the real ACS (engine on a durable `SqliteStore` in a temp
//! dir). Run by hand: `cargo bench -p unidm-tr069 --bench acs_load`.
//!
//! The clients are the simulated CPEs of [`unidm_tr069::load`] (the ones `unidm bench tr069`
//! uses): pre-encoded Informs, one session at a time per HTTP connection, answers built from
//! each ACS request (echoing its `cwmp:ID`).
//!
//! 1. Registration: every device's first session (`1 BOOT`; the ACS's first-contact upkeep
//!    requests are answered). RSS growth over devices known = memory per device.
//! 2. Full sessions: `Inform (2 PERIODIC)` → InformResponse → empty POST → 204.
//! 3. Sessions carrying one GetParameterValues of 50 names: a native read of
//!    `Device.X_UNIDM_Bench.` is queued for each device before its session and answered with
//!    the 50 counters.
//!
//! Bounds (environment): `ACS_LOAD_DEVICES` (default 8000), `ACS_LOAD_CLIENTS` (64),
//! `ACS_LOAD_SECS` per timed phase (8).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use unidm_testkit::process::rss;

use unidm_core::{CreateOptions, Engine, SqliteStore};
use unidm_models::{Action, NativeOp, NativeRequest, OperationState};
use unidm_tr069::load::{Fleet, Population, Sessions, BENCH_OBJECT};
use unidm_tr069::{Tr069Adapter, Tr069Config};

const GPV_NAMES: usize = 50;

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn report(name: &str, s: &Sessions, elapsed: Duration) {
    let rate = s.ok as f64 / elapsed.as_secs_f64();
    println!(
        "{name:<44} {:>7} sessions in {:>6.2} s = {rate:>8.0} sessions/s ({} ACS requests, {} errors)",
        s.ok,
        elapsed.as_secs_f64(),
        s.answered.total(),
        s.errors.total()
    );
}

async fn bench() {
    let devices = env_or("ACS_LOAD_DEVICES", 8000) as usize;
    let clients = env_or("ACS_LOAD_CLIENTS", 64) as usize;
    let secs = Duration::from_secs(env_or("ACS_LOAD_SECS", 8));
    let dir = tempfile::tempdir().expect("temp dir");
    let config = Tr069Config {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        provision_connection_request_credentials: false,
        max_sessions: 100_000,
        ..Tr069Config::default()
    };
    let adapter = Arc::new(Tr069Adapter::new(config));
    let store = SqliteStore::open(dir.path().join("unidm.db")).expect("store");
    let engine: Engine = Engine::builder().store(store).adapter_arc(adapter.clone()).start().await.expect("engine");
    let url = reqwest::Url::parse(&adapter.acs_url().expect("listening")).expect("ACS URL");
    let population = Population::new("load", GPV_NAMES, None).expect("population");
    let fleet = Fleet::new(population, url, clients).expect("clients");
    let boot = Arc::new(fleet.population().informs(&["1 BOOT"]));
    let periodic = Arc::new(fleet.population().informs(&["2 PERIODIC"]));
    println!("acs_load: {devices} devices, {clients} concurrent clients, {} s per timed phase", secs.as_secs());

    let before = rss();
    let start = Instant::now();
    let r = fleet.run(&boot, 0..devices, 1, start + Duration::from_secs(120)).await;
    report("registration (first sessions + upkeep)", &r, start.elapsed());
    let ids = (0..devices).filter_map(|i| fleet.population().device_id(i));
    let known = ids.filter(|id| engine.device(id).is_ok()).count().max(1);
    let grown = rss().saturating_sub(before);
    println!("memory: RSS +{} KiB for {known} devices known = {} bytes per device", grown / 1024, grown / known as u64);

    let start = Instant::now();
    let r = fleet.run(&periodic, 0..devices, 1000, start + secs).await;
    report("full sessions (Inform, empty POST, 204)", &r, start.elapsed());

    // Queue one 50-name read per device, then time the sessions that carry them.
    let batch = devices.min(env_or("ACS_LOAD_GPV_DEVICES", devices as u64) as usize);
    let mut ops = Vec::with_capacity(batch);
    let queued = Instant::now();
    for i in 0..batch {
        // A native read names one path; the partial path expands to the 50 counters.
        let action = Action::Native(NativeRequest {
            op: NativeOp::Read,
            path: BENCH_OBJECT.to_owned(),
            value: None,
            args: None,
            format: None,
        });
        let Some(id) = fleet.population().device_id(i) else { continue };
        match engine.create_operation(&id, action, CreateOptions::default()).await {
            Ok(op) => ops.push(op.id),
            Err(e) => eprintln!("create_operation: {e}"),
        }
    }
    println!("queued {} reads in {:.2} s (not timed below)", ops.len(), queued.elapsed().as_secs_f64());
    let start = Instant::now();
    let r = fleet.run(&periodic, 0..batch, 1, start + secs * 4).await;
    report("sessions with one GPV of 50 parameters", &r, start.elapsed());
    let mut done = 0;
    for id in &ops {
        if engine.operation(*id).await.is_ok_and(|o| o.state == OperationState::Succeeded) {
            done += 1;
        }
    }
    println!("reads succeeded: {done} of {}", ops.len());
    engine.shutdown().await;
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    rt.block_on(bench());
}
