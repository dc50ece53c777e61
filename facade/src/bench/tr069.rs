//! `unidm bench tr069`: simulated CPEs ([`unidm_tr069::load`]) load any TR-069 ACS over HTTP,
//! unidm's or another's, so that servers can be compared.
//!
//! Every CPE is an index: serial number `{prefix}{index:07}`, OUI `00D09E`, ProductClass
//! `UnidmBench`, a TR-181 tree of a few `Device.DeviceInfo.` / `Device.ManagementServer.`
//! values and `K` counters `Device.X_UNIDM_Bench.Counter{i}`. Its Informs are pre-encoded, its
//! answers built from each ACS request (echoing the `cwmp:ID`); nothing else is kept per
//! device. `--clients` HTTP connections each carry one session at a time (sessions by cookie,
//! or by connection for an ACS that sets none); every request waits at most 30 s.
//!
//! Phases, one after the other:
//! 1. First sessions: every device once, `0 BOOTSTRAP` + `1 BOOT`; whatever the ACS asks on
//!    first contact is answered (unidm sets connection-request credentials, reads the device
//!    snapshot, lists the root, reads the topology tables).
//! 2. Full sessions: `2 PERIODIC` with nothing queued (Inform, empty POST, 204), round the
//!    devices for `--duration` seconds.
//! 3. GetParameterValues of `K` parameters (`--gpv K`, 0 skips it): with `--api`, a native read
//!    of `Device.X_UNIDM_Bench.` is created for every device through unidm's API (not timed,
//!    printed on its own line), then every device's session carries its read; the reads that
//!    succeeded are counted from the API's event stream. Without `--api` nothing is queued: the
//!    phase only runs `2 PERIODIC` sessions for `--duration` and counts the GetParameterValues
//!    the ACS asks by itself.
//! 4. Connection requests (with `--api`; `--connection-requests M`, 0 skips it): for `M`
//!    devices an operation (native read of `Device.X_UNIDM_Bench.Counter0`) is created through
//!    the API; the ACS's connection request makes the CPE open a `6 CONNECTION REQUEST`
//!    session that answers it. Latency runs from the API call to the end of that session.
//!
//! The untimed phases (1, 3, 4) end when every device is done, and in any case after 10
//! minutes; phase 4 also ends when nothing happened for 30 s (connection requests that never
//! came are counted as errors).
//!
//! Connection requests: Informs carry `ConnectionRequestURL` =
//! `http://{address}/cr/{index:07}`, served by the bench on the address it reaches the ACS from
//! (a port the OS picks). Any request there is answered 200 whatever credentials it carries:
//! the bench does not check them (the ACS's Digest is neither required nor verified). The ACS
//! must reach that address (no NAT in between) for phase 4.
//!
//! Output: a first line saying what runs against what, then per phase its name, `done` (what
//! succeeded of what was tried, and the rate), `latency` (p50 / p99 / max of a session, or of a
//! round trip), `errors` (the total first, then by kind; the first few are printed to stderr),
//! the CPU time of the load tool, and with `--server-pid` the server's CPU time and resident
//! memory, then `ACS requests` answered by kind. Against another ACS, leave out `--api` (it is
//! unidm's API); that ACS must take unknown CPEs without credentials.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use futures::StreamExt as _;
use tokio::sync::mpsc;
use unidm_core::load::Latencies;
use unidm_tr069::load::{
    serve_connection_requests, Answered, FirstErrors, Fleet, Population, SessionError, BENCH_OBJECT,
};

use super::{Api, Ended, Meter};

/// How long an untimed phase may take at most.
const UNTIMED: Duration = Duration::from_secs(600);
/// How long phase 4 waits for anything to happen before it gives up on what is missing.
const STALL: Duration = Duration::from_secs(30);

/// Flags of `unidm bench tr069`.
#[derive(Debug, Clone, clap::Args)]
pub struct Tr069BenchArgs {
    /// The ACS URL the CPEs post to, `http://HOST:PORT/PATH` (or https).
    #[arg(long, value_name = "URL")]
    pub acs: String,
    /// Simulated CPEs (1 to 10,000,000).
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
    pub devices: u64,
    /// Seconds per timed phase (1 to 3600).
    #[arg(long, value_name = "SECONDS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub duration: u64,
    /// Concurrent HTTP connections, each carrying one session at a time (1 to 4096).
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..=4096))]
    pub clients: u64,
    /// Parameters read by the GetParameterValues phase (0 skips it; at most 10,000).
    #[arg(long, value_name = "K", default_value_t = 50, value_parser = clap::value_parser!(u64).range(0..=10_000))]
    pub gpv: u64,
    /// unidm's API, `http://HOST:PORT/api/v1`: reads and connection requests are asked
    /// through it.
    #[arg(long, value_name = "URL")]
    pub api: Option<String>,
    /// Bearer token of the API.
    #[arg(long, env = "UNIDM_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Connection-request round trips (needs --api; 0 skips them).
    #[arg(long, value_name = "M", default_value_t = 1000, value_parser = clap::value_parser!(u64).range(0..=10_000_000))]
    pub connection_requests: u64,
    /// Serial numbers are `{prefix}{index:07}` (up to 48 of A-Z a-z 0-9 _ . -).
    #[arg(long, value_name = "P", default_value = "bench")]
    pub serial_prefix: String,
    /// The server's process id: its CPU time and resident memory are reported too (Linux).
    #[arg(long, value_name = "PID")]
    pub server_pid: Option<u32>,
}

/// Connection requests waited for: by device, when its operation was asked for.
struct Wake {
    armed: Mutex<HashMap<usize, Instant>>,
    tx: mpsc::UnboundedSender<(usize, Instant)>,
    received: AtomicUsize,
}

impl Wake {
    fn armed(&self) -> std::sync::MutexGuard<'_, HashMap<usize, Instant>> {
        self.armed.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A connection request for device `i`: its session is opened when one is waited for
    /// (others, such as the ones for phase 3's reads, are answered and left alone).
    fn on_request(&self, i: usize) {
        self.received.fetch_add(1, Ordering::Relaxed);
        if let Some(asked) = self.armed().remove(&i) {
            let _ = self.tx.send((i, asked));
        }
    }
}

/// The ACS URL, checked.
fn acs_url(raw: &str) -> anyhow::Result<reqwest::Url> {
    let url = reqwest::Url::parse(raw).with_context(|| format!("--acs {raw}: not a URL"))?;
    anyhow::ensure!(
        matches!(url.scheme(), "http" | "https") && url.host().is_some(),
        "--acs {raw}: want http:// or https:// and a host, like http://127.0.0.1:7547/"
    );
    Ok(url)
}

/// The local address packets to `target` leave from (no packet is sent).
fn local_ip_towards(target: SocketAddr) -> anyhow::Result<IpAddr> {
    let bind: SocketAddr = if target.is_ipv4() { ([0, 0, 0, 0], 0).into() } else { "[::]:0".parse()? };
    let socket = std::net::UdpSocket::bind(bind)?;
    socket.connect(target)?;
    Ok(socket.local_addr()?.ip())
}

/// Runs `unidm bench tr069`.
pub async fn run(args: Tr069BenchArgs) -> anyhow::Result<()> {
    let acs = acs_url(&args.acs)?;
    Population::new(&args.serial_prefix, 0, None).map_err(|e| anyhow::anyhow!("--serial-prefix: {e}"))?;
    let target = super::reach(&acs, "ACS").await?;
    let api = args.api.as_deref().map(|a| Api::new(a, args.token.clone())).transpose()?;
    let ended = match &api {
        Some(api) => Some(api.watch_operations().await.context("--api: the event stream of the API")?),
        None => None,
    };
    let (devices, clients, k) = (args.devices as usize, args.clients as usize, args.gpv as usize);
    let m = if api.is_some() { (args.connection_requests as usize).min(devices) } else { 0 };

    let listener = tokio::net::TcpListener::bind((local_ip_towards(target)?, 0)).await?;
    let cr_base = format!("http://{}/cr/", listener.local_addr()?);
    let (tx, rx) = mpsc::unbounded_channel();
    let wake = Arc::new(Wake { armed: Mutex::new(HashMap::new()), tx, received: AtomicUsize::new(0) });
    let w = wake.clone();
    let listening = serve_connection_requests(listener, move |i| w.on_request(i));

    // One counter at least: phase 4 reads Counter0.
    let population =
        Population::new(&args.serial_prefix, k.max(1), Some(cr_base.clone())).map_err(anyhow::Error::msg)?;
    let fleet = Fleet::new(population, acs.clone(), clients).map_err(anyhow::Error::msg)?;
    println!(
        "unidm bench tr069: {devices} CPEs {}0000000.. (OUI 00D09E, ProductClass UnidmBench) against the ACS at {acs} \
         over {clients} connections, {} s per timed phase, GetParameterValues of {k}, {m} connection requests; \
         API {}; connection requests to {cr_base}",
        args.serial_prefix,
        args.duration,
        args.api.as_deref().unwrap_or("none (no reads queued, no connection requests)"),
    );
    let bench = Bench { fleet, pid: args.server_pid, devices, duration: Duration::from_secs(args.duration), clients };

    bench.first_sessions(&acs).await?;
    bench.full_sessions().await;
    match (&api, &ended) {
        _ if k == 0 => println!("GetParameterValues: skipped (--gpv 0)"),
        (Some(api), Some(ended)) => bench.reads(api, ended, k).await,
        _ => bench.unasked_reads(k).await,
    }
    match &api {
        Some(api) if m > 0 => bench.connection_requests(api, &wake, rx, m).await,
        Some(_) => println!("connection requests: skipped (--connection-requests 0)"),
        None => println!("connection requests: skipped (operations are created through --api)"),
    }
    listening.abort();
    Ok(())
}

/// What every phase needs.
struct Bench {
    fleet: Fleet,
    pid: Option<u32>,
    devices: usize,
    duration: Duration,
    clients: usize,
}

impl Bench {
    fn informs(&self, events: &[&str]) -> Arc<unidm_tr069::load::Informs> {
        Arc::new(self.fleet.population().informs(events))
    }

    async fn first_sessions(&self, acs: &reqwest::Url) -> anyhow::Result<()> {
        let informs = self.informs(&["0 BOOTSTRAP", "1 BOOT"]);
        let meter = Meter::start(self.pid);
        let mut s = self.fleet.run(&informs, 0..self.devices, 1, Instant::now() + UNTIMED).await;
        let phase = "first sessions (0 BOOTSTRAP + 1 BOOT; what the ACS asks on first contact is answered)";
        meter.report(phase, s.ok, self.devices, "first sessions", "sessions", &mut s.latencies, &s.errors.to_string());
        println!("  ACS requests:  {}", s.answered);
        anyhow::ensure!(
            s.ok > 0,
            "no session with {acs} completed (the first errors are above): is it a TR-069 ACS that takes unknown CPEs without credentials?"
        );
        Ok(())
    }

    async fn full_sessions(&self) {
        let informs = self.informs(&["2 PERIODIC"]);
        let meter = Meter::start(self.pid);
        let mut s = self.fleet.run(&informs, 0..self.devices, usize::MAX, Instant::now() + self.duration).await;
        let phase = "full sessions (2 PERIODIC, nothing queued: Inform, empty POST, 204)";
        meter.report(phase, s.ok, s.attempted(), "sessions", "sessions", &mut s.latencies, &s.errors.to_string());
        println!("  ACS requests:  {}", s.answered);
    }

    /// Phase 3 with the API: a read queued for every device, then the sessions that carry them.
    async fn reads(&self, api: &Api, ended: &Ended, k: usize) {
        let population = self.fleet.population();
        let first_errors = FirstErrors::default();
        let queueing = Instant::now();
        let asked: Vec<Option<u64>> = futures::stream::iter(0..self.devices)
            .map(|i| async move {
                let id = population.device_id(i).context("device id")?;
                api.native(&id.url_safe(), "read", BENCH_OBJECT).await
            })
            .buffer_unordered(self.clients)
            .map(|r| r.map_err(|e| first_errors.note("API", &e)).ok())
            .collect()
            .await;
        let ops: Vec<u64> = asked.into_iter().flatten().collect();
        let took = queueing.elapsed().as_secs_f64().max(1e-6);
        println!(
            "GetParameterValues of {k}: queued {} native reads of {BENCH_OBJECT} through the API in {took:.2} s = {:.0} reads/s ({} API errors; not timed below)",
            ops.len(),
            ops.len() as f64 / took,
            self.devices - ops.len()
        );
        let informs = self.informs(&["2 PERIODIC"]);
        let meter = Meter::start(self.pid);
        let mut s = self.fleet.run(&informs, 0..self.devices, 1, Instant::now() + UNTIMED).await;
        let phase = format!("sessions carrying a GetParameterValues of {k} parameters (2 PERIODIC)");
        meter.report(&phase, s.ok, self.devices, "sessions", "sessions", &mut s.latencies, &s.errors.to_string());
        println!("  ACS requests:  {}", s.answered);
        // The last sessions' reads end as their sessions do; the event stream may tell a moment later.
        let deadline = Instant::now() + Duration::from_secs(10);
        while ops.iter().any(|id| ended.get(*id).is_none()) && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let ok = ops.iter().filter(|id| ended.get(**id).is_some_and(|(_, ok)| ok)).count();
        let open = ops.iter().filter(|id| ended.get(**id).is_none()).count();
        println!(
            "  reads:         {ok} of {} succeeded, {} failed, {open} not ended (from the API's event stream; {} events missed)",
            ops.len(),
            ops.len() - ok - open,
            ended.lagged()
        );
    }

    /// Phase 3 without the API: nothing is queued, the ACS's own GetParameterValues are answered.
    async fn unasked_reads(&self, k: usize) {
        println!(
            "GetParameterValues of {k}: without --api nothing is queued; this phase needs the ACS to ask \
             GetParameterValues by itself, and answers whatever it asks"
        );
        let informs = self.informs(&["2 PERIODIC"]);
        let meter = Meter::start(self.pid);
        let mut s = self.fleet.run(&informs, 0..self.devices, usize::MAX, Instant::now() + self.duration).await;
        let phase = "sessions answering the ACS's own GetParameterValues (2 PERIODIC)";
        meter.report(phase, s.ok, s.attempted(), "sessions", "sessions", &mut s.latencies, &s.errors.to_string());
        println!("  ACS requests:  {}", s.answered);
    }

    /// Phase 4: operation through the API, connection request, session carrying it.
    async fn connection_requests(
        &self,
        api: &Api,
        wake: &Arc<Wake>,
        rx: mpsc::UnboundedReceiver<(usize, Instant)>,
        m: usize,
    ) {
        enum Trip {
            Session(usize, Instant, Result<Answered, SessionError>),
            Api,
        }
        let informs = self.informs(&["6 CONNECTION REQUEST"]);
        let population = self.fleet.population().clone();
        let rx = Arc::new(tokio::sync::Mutex::new(rx));
        let (done, mut trips) = mpsc::unbounded_channel();
        let meter = Meter::start(self.pid);
        let mut tasks = Vec::new();
        for client in self.fleet.clients() {
            let (client, informs, population, rx, done) =
                (client.clone(), informs.clone(), population.clone(), rx.clone(), done.clone());
            tasks.push(tokio::spawn(async move {
                loop {
                    let Some((i, asked)) = rx.lock().await.recv().await else { return };
                    let r = client.session(&population, i, informs.get(i)).await;
                    if done.send(Trip::Session(i, asked, r)).is_err() {
                        return;
                    }
                }
            }));
        }
        let first_errors = FirstErrors::default();
        let path = format!("{BENCH_OBJECT}Counter0");
        let asking = futures::stream::iter(0..m).for_each_concurrent(self.clients, |i| {
            let (done, path, first_errors, population) = (done.clone(), &path, &first_errors, &population);
            async move {
                let Some(id) = population.device_id(i) else { return };
                wake.armed().insert(i, Instant::now());
                if let Err(e) = api.native(&id.url_safe(), "read", path).await {
                    wake.armed().remove(&i);
                    first_errors.note("API", &e);
                    let _ = done.send(Trip::Api);
                }
            }
        });
        let collecting = async {
            let (mut ok, mut api_errors, mut failed, mut empty, mut seen) = (0, 0, 0, 0, 0);
            let mut latencies = Latencies::default();
            let deadline = Instant::now() + UNTIMED;
            while seen < m && Instant::now() < deadline {
                let Ok(Some(trip)) = tokio::time::timeout(STALL, trips.recv()).await else { break };
                seen += 1;
                match trip {
                    Trip::Api => api_errors += 1,
                    Trip::Session(_, asked, Ok(a)) if a.get_parameter_values > 0 => {
                        ok += 1;
                        latencies.push(asked.elapsed());
                    }
                    Trip::Session(i, _, Ok(_)) => {
                        empty += 1;
                        let e = "the session carried no GetParameterValues";
                        first_errors.note(&format!("connection request of {}", population.serial(i)), &e);
                    }
                    Trip::Session(i, _, Err(e)) => {
                        failed += 1;
                        first_errors.note(&format!("connection-request session of {}", population.serial(i)), &e);
                    }
                }
            }
            (ok, api_errors, failed, empty, seen, latencies)
        };
        let ((), (ok, api_errors, failed, empty, seen, mut latencies)) =
            futures::future::join(asking, collecting).await;
        for t in tasks {
            t.abort();
        }
        let missing = m - seen;
        wake.armed().clear();
        let errors = format!(
            "{} ({api_errors} API, {failed} failed sessions, {empty} sessions without the read, {missing} connection requests not received)",
            m - ok
        );
        let phase = "connection requests (operation through the API → connection request → 6 CONNECTION REQUEST session carrying it)";
        meter.report(phase, ok, m, "round trips", "round trips", &mut latencies, &errors);
        println!("  connection requests received in all: {}", wake.received.load(Ordering::Relaxed));
    }
}
