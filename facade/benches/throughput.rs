//! Engine throughput with durable SQLite commits, and API latency under that load.
//!
//! `cargo bench -p unidm --bench throughput` prints:
//! - device upserts/s (a device contact as an adapter reports it: registry + store + event);
//! - operation create + commit/s (the API's guarantee: committed before the id is returned);
//! - p50 / p99 of `GET /api/v1/devices/{id}` over loopback HTTP while those run.
//!
//! Sizes: `UNIDM_BENCH_DEVICES` (default 100000), `UNIDM_BENCH_OPS` (default 100000),
//! `UNIDM_BENCH_CONCURRENCY` (default 1024 in-flight requests).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use unidm_testkit::process::rss;

use unidm_core::{Contact, CreateOptions, Engine, SqliteStore};
use unidm_models::{Action, DeviceId, Protocol};

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// Issues sequential GETs for random known devices until `stop`, returning the latencies.
async fn probe(base: String, devices: usize, stop: Arc<AtomicBool>) -> Vec<Duration> {
    let client = reqwest::Client::new();
    let mut lat = Vec::new();
    let mut i: usize = 7;
    while !stop.load(Ordering::Relaxed) {
        i = (i * 7919 + 13) % devices.max(1);
        let url = format!("{base}/api/v1/devices/lwm2m:bench-{i}");
        let t = Instant::now();
        let ok = client.get(&url).send().await.map(|r| r.status().is_success()).unwrap_or(false);
        if ok {
            lat.push(t.elapsed());
        }
    }
    lat.sort();
    lat
}

async fn run_phase<F, Fut>(name: &str, total: usize, concurrency: usize, f: F) -> f64
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let f = Arc::new(f);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..concurrency {
        let f = f.clone();
        tasks.push(tokio::spawn(async move {
            let mut i = w;
            while i < total {
                f(i).await;
                i += concurrency;
            }
        }));
    }
    for t in tasks {
        t.await.expect("worker");
    }
    let secs = started.elapsed().as_secs_f64();
    let rate = total as f64 / secs;
    println!("{name:<34} {total:>8} in {secs:>6.2} s = {rate:>9.0}/s");
    rate
}

#[tokio::main]
async fn main() {
    let devices = env_usize("UNIDM_BENCH_DEVICES", 100_000);
    let ops = env_usize("UNIDM_BENCH_OPS", 100_000);
    let concurrency = env_usize("UNIDM_BENCH_CONCURRENCY", 1024);
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteStore::open(dir.path().join("bench.db")).expect("store");
    let engine = Engine::builder().store(store).start().await.expect("engine");

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let app = unidm::app(engine.clone(), None);
    tokio::spawn(async move {
        let _ = axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>()).await;
    });

    println!(
        "unidm throughput: SQLite WAL, synchronous=FULL (fsync per group commit), {concurrency} concurrent callers"
    );
    // Seed one device so the latency probe has something to read from the start.
    let handle = engine.handle(Protocol::Lwm2m);
    handle.device_contact(&DeviceId::lwm2m("bench-0").expect("id"), Contact::online(), |_| {}).await.expect("seed");

    let rss_before = rss();
    let stop = Arc::new(AtomicBool::new(false));
    let probe_task = tokio::spawn(probe(base.clone(), 1, stop.clone()));
    let h = handle.clone();
    run_phase("device upsert (contact + commit)", devices, concurrency, move |i| {
        let h = h.clone();
        async move {
            let id = DeviceId::lwm2m(&format!("bench-{i}")).expect("id");
            let contact = Contact { lifetime_s: Some(86_400), ..Contact::online() };
            h.device_contact(&id, contact, |d| d.identity.model = Some("bench".into())).await.expect("upsert");
        }
    })
    .await;
    stop.store(true, Ordering::Relaxed);
    let lat_upsert = probe_task.await.expect("probe");
    let grown = rss().saturating_sub(rss_before);
    println!(
        "{:<34} {:>8} devices: {:.0} bytes/device (RSS growth, includes SQLite page cache)",
        "registry memory",
        devices,
        grown as f64 / devices.max(1) as f64
    );

    let stop = Arc::new(AtomicBool::new(false));
    let probe_task = tokio::spawn(probe(base.clone(), devices, stop.clone()));
    let e = engine.clone();
    run_phase("operation create + commit", ops, concurrency, move |i| {
        let e = e.clone();
        async move {
            let id = DeviceId::lwm2m(&format!("bench-{}", i % devices.max(1))).expect("id");
            e.create_operation(&id, Action::Reboot, CreateOptions::default()).await.expect("create");
        }
    })
    .await;
    stop.store(true, Ordering::Relaxed);
    let lat_ops = probe_task.await.expect("probe");

    for (phase, lat) in [("device upserts", &lat_upsert), ("operation creates", &lat_ops)] {
        println!(
            "GET /api/v1/devices/{{id}} during {phase:<17}: {} requests, p50 {:.2} ms, p99 {:.2} ms",
            lat.len(),
            percentile(lat, 0.50).as_secs_f64() * 1e3,
            percentile(lat, 0.99).as_secs_f64() * 1e3,
        );
    }
    engine.shutdown().await;
}
