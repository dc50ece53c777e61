//! Load tool: the whole adapter (UDP shell, sans-I/O server, engine on SQLite in a temp dir)
//! under load from simulated clients over loopback. Run by hand:
//!
//! ```text
//! cargo bench -p unidm-lwm2m --bench server
//! UNIDM_BENCH_DEVICES=20000 UNIDM_BENCH_MAX_SECS=60 cargo bench -p unidm-lwm2m --bench server
//! ```
//!
//! Prints registrations/s (2.01 answered, and persisted by the engine), read round trips/s
//! through the engine (create operation → GET → 2.05 → result stored; `UNIDM_BENCH_READS`
//! operations, default 50 000, created concurrently as API clients would, 256 unfinished at
//! most), notifications
//! ingested/s (NON notifications → engine observation events), and resident memory per
//! registered device (growth of `/proc/self/statm` resident pages over the registration phase,
//! divided by the devices registered; it includes the engine's device cache and SQLite's page
//! cache, and the load generator's few bytes per device).
//!
//! The simulated clients share `UNIDM_BENCH_SOCKETS` UDP sockets (default 64, each with
//! `UNIDM_BENCH_WINDOW` registrations in flight, default 2: more overflows the server socket's
//! default receive buffer on loopback and costs 2 s retransmissions; the file
//! descriptor limit rules out one socket per device at 100 000), each answering Device
//! Management requests with a simulated object tree (`unidm_lwm2m::sim::Objects`). Bounded in
//! count (`UNIDM_BENCH_DEVICES`, default 100 000) and in time (`UNIDM_BENCH_MAX_SECS`, default
//! 100 s for the registration phase: what is registered by then is measured).
//! `UNIDM_BENCH_DURABLE=0` turns off the fsync per commit, to see what durability costs.
//!
//! The process runs on mimalloc, as the `unidm` binary does.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use unidm_testkit::process::{cpu_time, rss};

use unidm_core::{CreateOptions, Engine, Received, SqliteOptions, SqliteStore};
use unidm_lwm2m::load::{LoadSocket, Registered};
use unidm_lwm2m::{Lwm2mAdapter, Lwm2mConfig};
use unidm_models::{Action, DeviceId, Event, NativeOp, NativeRequest, RetryPolicy};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn native(op: NativeOp) -> Action {
    Action::Native(NativeRequest { op, path: "/3/0/9".into(), value: None, args: None, format: None })
}

/// Creates one operation per device in `eps`, concurrently as API clients would, at most
/// `window` unfinished at once, and waits for all to end; returns (succeeded, elapsed).
/// Operations are told apart by their action, which only this phase creates.
async fn run_ops(engine: &Engine, eps: &[String], op: NativeOp, window: usize) -> (usize, Duration) {
    let mut events = engine.subscribe();
    let slots = Arc::new(tokio::sync::Semaphore::new(window));
    let start = Instant::now();
    let creator = {
        let (engine, eps, slots) = (engine.clone(), eps.to_vec(), slots.clone());
        tokio::spawn(async move {
            let opts = CreateOptions {
                retry: Some(RetryPolicy { max_attempts: 1, ..RetryPolicy::default() }),
                ..CreateOptions::default()
            };
            for ep in eps {
                // A slot comes back when an operation ends (below).
                slots.acquire().await.expect("open").forget();
                let (engine, opts) = (engine.clone(), opts.clone());
                tokio::spawn(async move {
                    let id = DeviceId::lwm2m(&ep).unwrap();
                    engine.create_operation(&id, native(op), opts).await.unwrap();
                });
            }
        })
    };
    let (mut ended, mut ok) = (0, 0);
    while ended < eps.len() {
        match tokio::time::timeout(Duration::from_secs(30), events.recv()).await {
            Ok(Some(Received::Event(Event::OperationChanged { operation, .. })))
                if operation.state.is_terminal() && operation.action == native(op) =>
            {
                ended += 1;
                ok += usize::from(operation.error.is_none());
                slots.add_permits(1);
            }
            Ok(Some(Received::Lagged(n))) => {
                eprintln!("the load tool missed {n} events; the figure below undercounts");
                break;
            }
            Ok(Some(_)) => {}
            _ => break,
        }
    }
    creator.abort();
    (ok, start.elapsed())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let devices = env("UNIDM_BENCH_DEVICES", 100_000);
    let sockets = env("UNIDM_BENCH_SOCKETS", 64).max(1);
    let window = env("UNIDM_BENCH_WINDOW", 2).max(1);
    let max_secs = env("UNIDM_BENCH_MAX_SECS", 100) as u64;
    let reads = env("UNIDM_BENCH_READS", 50_000);
    let observed = env("UNIDM_BENCH_OBSERVED", 500);
    let rounds = env("UNIDM_BENCH_NOTIFY_ROUNDS", 40) as u32;
    let pause = Duration::from_millis(env("UNIDM_BENCH_NOTIFY_PAUSE_MS", 5) as u64);

    let dir = tempfile::tempdir().unwrap();
    let mut config = Lwm2mConfig::new(SocketAddr::from(([127, 0, 0, 1], 0)));
    config.read_device_on_register = false;
    config.bootstrap_listen = None;
    config.server.registration.max_registrations = devices.max(1);
    config.server.registration.max_registers_per_source = u32::MAX;
    config.server.dedup_peers = sockets * 2;
    config.server.dedup_per_peer = 4 * window;
    let adapter = Arc::new(Lwm2mAdapter::new(config));
    let mut options = SqliteOptions::new(dir.path().join("unidm.db"));
    options.durable = env("UNIDM_BENCH_DURABLE", 1) != 0;
    let store = Arc::new(SqliteStore::open_with(options).unwrap());
    let engine = Engine::builder().store_arc(store.clone()).adapter_arc(adapter.clone()).start().await.unwrap();
    let server = adapter.local_addr().unwrap();
    let mut generators = Vec::new();
    for i in 0..sockets {
        generators.push(LoadSocket::bind("127.0.0.1:0".parse().unwrap(), server, i).await.unwrap());
    }
    println!("unidm-lwm2m load: {devices} devices over {sockets} sockets x {window} in flight, loopback, SQLite store");

    // Phase 1: registrations, bounded by `max_secs`.
    let rss_before = rss();
    let cpu_before = cpu_time();
    let stats = store.stats();
    let (commits_before, writer_before) =
        (stats.commits.load(Ordering::Relaxed), stats.commit_micros.load(Ordering::Relaxed));
    let deadline = Instant::now() + Duration::from_secs(max_secs);
    let registered = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let mut workers = Vec::new();
    for (s, g) in generators.iter().enumerate() {
        for w in 0..window {
            let (g, registered) = (g.clone(), registered.clone());
            let lane = s * window + w;
            let lanes = sockets * window;
            workers.push(tokio::spawn(async move {
                let mut i = lane;
                while i < devices && Instant::now() < deadline {
                    if let Registered::Created(..) = g.register(&format!("load-{i}"), 86_400).await {
                        registered.fetch_add(1, Ordering::Relaxed);
                    }
                    i += lanes;
                }
            }));
        }
    }
    for w in workers {
        let _ = w.await;
    }
    let answered = start.elapsed();
    let done = registered.load(Ordering::Relaxed);
    // Persisted: the engine has recorded the last registrations (its pump runs in order).
    let probe: Vec<String> = (0..devices).rev().take(sockets * window).map(|i| format!("load-{i}")).collect();
    let persist_deadline = Instant::now() + Duration::from_secs(120);
    while Instant::now() < persist_deadline
        && probe
            .iter()
            .any(|ep| adapter.registration(ep).is_some() && engine.device(&DeviceId::lwm2m(ep).unwrap()).is_err())
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let persisted = start.elapsed();
    let rss_after = rss();
    let cpu = cpu_time().saturating_sub(cpu_before);
    let commits = stats.commits.load(Ordering::Relaxed) - commits_before;
    let writer_micros = stats.commit_micros.load(Ordering::Relaxed) - writer_before;
    let retransmitted: usize = generators.iter().map(|g| g.retransmissions()).sum();
    println!(
        "registrations:      {done} of {devices} in {:.1} s = {:.0} registrations/s answered (2.01), {:.0}/s persisted ({:.1} s; {retransmitted} Register retransmissions after 2 s)",
        answered.as_secs_f64(),
        done as f64 / answered.as_secs_f64(),
        done as f64 / persisted.as_secs_f64(),
        persisted.as_secs_f64()
    );
    println!(
        "                    CPU {:.2} s (server and load generator) = {:.0} µs per registration",
        cpu.as_secs_f64(),
        cpu.as_secs_f64() * 1e6 / done.max(1) as f64
    );
    println!(
        "                    store: {commits} commits of {:.0} registrations on average, writer busy {:.1} s = {:.0} µs per registration",
        done as f64 / commits.max(1) as f64,
        writer_micros as f64 / 1e6,
        writer_micros as f64 / done.max(1) as f64
    );
    println!(
        "memory:             RSS {:.1} MiB -> {:.1} MiB = {:.0} bytes per registered device",
        rss_before as f64 / 1048576.0,
        rss_after as f64 / 1048576.0,
        rss_after.saturating_sub(rss_before) as f64 / done.max(1) as f64
    );

    // Phase 2: reads through the engine.
    let eps: Vec<String> =
        (0..devices).map(|i| format!("load-{i}")).filter(|ep| adapter.registration(ep).is_some()).collect();
    let targets: Vec<String> = eps.iter().cycle().take(reads.min(eps.len() * 4)).cloned().collect();
    let (ok, took) = run_ops(&engine, &targets, NativeOp::Read, 256).await;
    println!(
        "reads:              {ok} of {} in {:.2} s = {:.0} read round trips/s (engine operation, GET, 2.05, result stored)",
        targets.len(),
        took.as_secs_f64(),
        ok as f64 / took.as_secs_f64()
    );

    // Phase 3: notifications.
    let watched: Vec<String> = eps.iter().take(observed).cloned().collect();
    let (ok, _) = run_ops(&engine, &watched, NativeOp::Observe, 256).await;
    let mut events = engine.subscribe();
    let counting = tokio::spawn(async move {
        let mut n = 0u64;
        let mut last = Instant::now();
        loop {
            match tokio::time::timeout(Duration::from_secs(2), events.recv()).await {
                Ok(Some(Received::Event(Event::Observation { .. }))) => {
                    n += 1;
                    last = Instant::now();
                }
                Ok(Some(Received::Lagged(k))) => n += k,
                Ok(Some(_)) => {}
                _ => return (n, last),
            }
        }
    });
    let start = Instant::now();
    let mut sent = 0;
    let mut senders = Vec::new();
    for g in &generators {
        let g = g.clone();
        senders.push(tokio::spawn(async move { g.notify(rounds, pause).await }));
    }
    for s in senders {
        sent += s.await.unwrap_or(0);
    }
    let (ingested, last) = counting.await.unwrap_or((0, start));
    let took = last.saturating_duration_since(start).max(Duration::from_millis(1));
    println!(
        "notifications:      {ingested} of {sent} sent on {ok} observations in {:.2} s = {:.0} notifications ingested/s ({} lost on loopback UDP; offered in rounds {} ms apart)",
        took.as_secs_f64(),
        ingested as f64 / took.as_secs_f64(),
        (sent as u64).saturating_sub(ingested),
        pause.as_millis()
    );
    engine.shutdown().await;
    unidm_core::Adapter::shutdown(&*adapter).await;
}
