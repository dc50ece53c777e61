//! OMA DM server load over loopback, against the real adapter (engine on a durable
//! `SqliteStore` in a temp dir, `synchronous=FULL`). Run by hand:
//! `cargo bench -p unidm-omadm --bench dm_load`.
//!
//! The clients are [`unidm_omadm::load`]'s, as `unidm bench omadm` runs them: `DM_LOAD_CLIENTS`
//! concurrent sessions, each device's in turn on one task (so a device's session stays on one
//! connection); Package 1 pre-encoded with the md5 digest over the device's last nonce patched
//! in; replies decoded with the crate's codec and every server command answered.
//!
//! 1. Registration: every device's first session; RSS growth over devices known = memory per
//!    device.
//! 2. Complete sessions with nothing queued: Package 1 (Alert 1201, DevInfo `Replace`, md5
//!    `Cred`) → Package 2 (Statuses, the 212 with the next nonce, final: the session ends).
//!    XML, then WBXML.
//! 3. Sessions with one native Get queued per device (queued through the engine, not timed):
//!    Package 1 → Package 2 with the Get → Package 3 (Status + Results) → Package 4 (Statuses,
//!    closing), in rounds (one Get per device each) until the phase was timed for
//!    `DM_LOAD_SECS`. XML, then WBXML; then how many of the reads succeeded.
//! 4. Package #0: every device gets a UDP push address (local sockets that count datagrams),
//!    then one operation each, created by many concurrent callers; datagrams received per
//!    second.
//!
//! Bounds (environment): `DM_LOAD_DEVICES` (default 10 000), `DM_LOAD_CLIENTS` (64),
//! `DM_LOAD_SECS` per timed phase (8), `DM_LOAD_AUTH` (`md5`, the default, or `none`).
//!
//! The process runs on mimalloc, as the `unidm` binary does.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use unidm_testkit::process::{cpu_time, rss};

use unidm_core::{CreateOptions, Engine, SqliteStore};
use unidm_models::{Action, DeviceId, NativeOp, NativeRequest, OperationState};
use unidm_omadm::codec::Encoding;
use unidm_omadm::load::{self, LoadAuth, LoadConfig, Plan, Population, BENCH_NODE};
use unidm_omadm::package0::Notification;
use unidm_omadm::server::{OmadmAdapter, OmadmConfig};
use unidm_omadm::session::{ClientAuth, Credentials};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const USER: &str = "dev";
const PASSWORD: &str = "client-secret";
const SERVER_PASSWORD: &str = "server-secret";

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn device_id(pop: &Population, i: usize) -> DeviceId {
    DeviceId::omadm(&pop.dev_id(i)).expect("device id")
}

#[derive(Default)]
struct Run {
    sessions: u64,
    gets: u64,
    errors: u64,
    elapsed: Duration,
    /// Process CPU time (server and load generator together).
    cpu: Duration,
    /// Store commits and writes in the phase.
    commits: u64,
    writes: u64,
}

/// Sessions for every device over `clients` concurrent clients, each device in turn, until
/// `limit` passed or every device had `rounds` sessions.
async fn run(pop: &Arc<Population>, store: &SqliteStore, clients: usize, rounds: usize, limit: Duration) -> Run {
    let stats = store.stats();
    let (cpu, commits, writes) =
        (cpu_time(), stats.commits.load(Ordering::Relaxed), stats.writes.load(Ordering::Relaxed));
    let o = load::run(pop, Plan { clients, rounds, duration: Some(limit) }).await.expect("HTTP client");
    for e in &o.first_errors {
        eprintln!("session error: {e}");
    }
    Run {
        sessions: o.counts.sessions,
        gets: o.counts.gets,
        errors: o.counts.errors(),
        elapsed: o.elapsed,
        cpu: cpu_time().saturating_sub(cpu),
        commits: stats.commits.load(Ordering::Relaxed) - commits,
        writes: stats.writes.load(Ordering::Relaxed) - writes,
    }
}

impl Run {
    fn add(&mut self, r: &Run) {
        self.sessions += r.sessions;
        self.gets += r.gets;
        self.errors += r.errors;
        self.elapsed += r.elapsed;
        self.cpu += r.cpu;
        self.commits += r.commits;
        self.writes += r.writes;
    }
}

/// `open`: DM sessions still open after the phase (a refused or unfinished session stays open
/// until its timeout: 0 when every session ended as it should).
fn report(name: &str, r: &Run, open: usize) {
    let rate = r.sessions as f64 / r.elapsed.as_secs_f64();
    println!(
        "{name:<52} {:>7} sessions in {:>6.2} s = {rate:>8.0} sessions/s ({} Gets answered, {} errors)",
        r.sessions,
        r.elapsed.as_secs_f64(),
        r.gets,
        r.errors
    );
    let per = r.sessions.max(1) as f64;
    println!(
        "{:<52} CPU {:.0} µs per session (server and load generator), {:.2} store writes in {:.3} commits per session, {open} sessions left open",
        "",
        r.cpu.as_secs_f64() * 1e6 / per,
        r.writes as f64 / per,
        r.commits as f64 / per
    );
}

fn label(e: Encoding) -> &'static str {
    match e {
        Encoding::Xml => "XML",
        Encoding::Wbxml => "WBXML",
    }
}

fn get() -> Action {
    Action::Native(NativeRequest { op: NativeOp::Read, path: BENCH_NODE.into(), value: None, args: None, format: None })
}

/// Creates one operation per device of `devices` from `callers` concurrent callers; the ids.
async fn create_ops(
    engine: &Engine,
    pop: &Arc<Population>,
    devices: std::ops::Range<usize>,
    callers: usize,
) -> Vec<unidm_models::OperationId> {
    let next = Arc::new(AtomicU64::new(devices.start as u64));
    let mut tasks = Vec::new();
    for _ in 0..callers {
        let (engine, pop, next, end) = (engine.clone(), pop.clone(), next.clone(), devices.end as u64);
        tasks.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= end {
                    return ids;
                }
                match engine.create_operation(&device_id(&pop, i as usize), get(), CreateOptions::default()).await {
                    Ok(op) => ids.push(op.id),
                    Err(e) => eprintln!("create_operation: {e}"),
                }
            }
        }));
    }
    let mut ids = Vec::new();
    for t in tasks {
        ids.extend(t.await.unwrap_or_default());
    }
    ids
}

async fn succeeded(engine: &Engine, ops: &[unidm_models::OperationId]) -> usize {
    let mut done = 0;
    for id in ops {
        if engine.operation(*id).await.is_ok_and(|o| o.state == OperationState::Succeeded) {
            done += 1;
        }
    }
    done
}

async fn bench() {
    let devices = env_or("DM_LOAD_DEVICES", 10_000) as usize;
    let clients = env_or("DM_LOAD_CLIENTS", 64) as usize;
    let secs = Duration::from_secs(env_or("DM_LOAD_SECS", 8));
    let md5 = std::env::var("DM_LOAD_AUTH").map_or(true, |a| a != "none");
    let dir = tempfile::tempdir().expect("temp dir");
    let config = OmadmConfig {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        client_auth: if md5 { ClientAuth::Md5 } else { ClientAuth::None },
        client_credentials: Some(Credentials::new(USER, PASSWORD)),
        server_password: Some(SERVER_PASSWORD.into()),
        max_sessions: 100_000,
        ..OmadmConfig::default()
    };
    let adapter = Arc::new(OmadmAdapter::new(config));
    let store = Arc::new(SqliteStore::open(dir.path().join("unidm.db")).expect("store"));
    let engine: Engine =
        Engine::builder().store_arc(store.clone()).adapter_arc(adapter.clone()).start().await.expect("engine");
    let server_url = adapter.server_url().expect("listening");
    let config = LoadConfig {
        auth: if md5 { LoadAuth::Md5 } else { LoadAuth::None },
        username: USER.into(),
        password: PASSWORD.into(),
        ..LoadConfig::new(server_url, devices)
    };
    let xml = Arc::new(Population::new(config).expect("population"));
    // The same devices and nonces, in WBXML.
    let wbxml = Arc::new(xml.with_encoding(Encoding::Wbxml).expect("population"));
    let pop = |encoding: Encoding| if encoding == Encoding::Xml { &xml } else { &wbxml };
    let auth_label = if md5 { "md5 client auth" } else { "no client auth" };
    println!(
        "dm_load: {devices} devices, {clients} concurrent clients, {} s per timed phase, {auth_label}, durable SQLite store",
        secs.as_secs()
    );

    let before = rss();
    let r = run(&xml, &store, clients, 1, Duration::from_secs(120)).await;
    report("registration (first sessions, XML)", &r, adapter.open_sessions());
    let known = (0..devices).filter(|i| engine.device(&device_id(&xml, *i)).is_ok()).count().max(1);
    let grown = rss().saturating_sub(before);
    println!("memory: RSS +{} KiB for {known} devices known = {} bytes per device", grown / 1024, grown / known as u64);

    for encoding in [Encoding::Xml, Encoding::Wbxml] {
        let r = run(pop(encoding), &store, clients, 1000, secs).await;
        report(&format!("complete sessions, nothing queued ({})", label(encoding)), &r, adapter.open_sessions());
    }

    for encoding in [Encoding::Xml, Encoding::Wbxml] {
        // Rounds of one Get per device until the phase has been timed for `secs` (at most 8).
        let mut total = Run::default();
        let (mut queued, mut ok, mut rounds) = (0, 0, 0);
        let untimed = Instant::now();
        while total.elapsed < secs && rounds < 8 {
            let ops = create_ops(&engine, &xml, 0..devices, 64).await;
            let r = run(pop(encoding), &store, clients, 1, secs * 4).await;
            ok += succeeded(&engine, &ops).await;
            queued += ops.len();
            rounds += 1;
            total.add(&r);
        }
        let untimed = untimed.elapsed().saturating_sub(total.elapsed);
        let name = format!("sessions with one Get ({}, packages 1-4)", label(encoding));
        report(&name, &total, adapter.open_sessions());
        println!(
            "{:<52} Gets succeeded: {ok} of {queued} ({rounds} rounds; queueing and checking them took {:.2} s, not timed)",
            "",
            untimed.as_secs_f64()
        );
    }

    package0(&engine, &adapter, &xml).await;
    engine.shutdown().await;
}

/// Package #0: push addresses on local UDP sockets, one operation per device, datagrams
/// received per second (each checked against its digest).
async fn package0(engine: &Engine, adapter: &Arc<OmadmAdapter>, pop: &Arc<Population>) {
    const SOCKETS: usize = 4;
    let devices = pop.len();
    let received = Arc::new(AtomicU64::new(0));
    let bad = Arc::new(AtomicU64::new(0));
    let last = Arc::new(Mutex::new(Instant::now()));
    let mut addrs = Vec::new();
    let mut listeners = Vec::new();
    for _ in 0..SOCKETS {
        let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.expect("udp socket");
        addrs.push(socket.local_addr().expect("udp address"));
        let (received, bad, last) = (received.clone(), bad.clone(), last.clone());
        listeners.push(tokio::spawn(async move {
            let mut buf = vec![0u8; 1500];
            loop {
                let Ok((n, _)) = socket.recv_from(&mut buf).await else { return };
                // The client gave the server no nonce: the digest is over the empty one.
                if Notification::verify(&buf[..n], SERVER_PASSWORD, b"") {
                    received.fetch_add(1, Ordering::Relaxed);
                    if let Ok(mut l) = last.lock() {
                        *l = Instant::now();
                    }
                } else {
                    bad.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    let set = Instant::now();
    let mut setters = Vec::new();
    for c in 0..64 {
        let (adapter, addrs, pop) = (adapter.clone(), addrs.clone(), pop.clone());
        setters.push(tokio::spawn(async move {
            for i in (c..devices).step_by(64) {
                adapter.set_push_address(&pop.dev_id(i), addrs[i % SOCKETS]).await;
            }
        }));
    }
    for t in setters {
        let _ = t.await;
    }
    println!("push addresses set for {devices} devices in {:.2} s (not timed)", set.elapsed().as_secs_f64());
    let start = Instant::now();
    let ops = create_ops(engine, pop, 0..devices, 64).await;
    let created = start.elapsed();
    // The first Package #0 of each goes out at once; the retries wait push_backoff (5 s).
    let deadline = Instant::now() + Duration::from_secs(3);
    while received.load(Ordering::Relaxed) < ops.len() as u64 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let got = received.load(Ordering::Relaxed);
    let until = last.lock().map(|l| *l).unwrap_or_else(|_| Instant::now());
    let elapsed = until.saturating_duration_since(start).max(Duration::from_millis(1));
    println!(
        "{:<52} {got:>7} received in {:>6.2} s = {:>8.0} /s ({} operations created in {:.2} s, {} bad digests)",
        "Package #0 (one operation per device, UDP)",
        elapsed.as_secs_f64(),
        got as f64 / elapsed.as_secs_f64(),
        ops.len(),
        created.as_secs_f64(),
        bad.load(Ordering::Relaxed)
    );
    for l in listeners {
        l.abort();
    }
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    rt.block_on(bench());
}
