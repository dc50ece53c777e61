//! `unidm bench lwm2m`: distinct endpoints share UDP sockets ([`unidm_lwm2m::load`]), a window
//! of requests in flight per socket, and go through phases, each bounded by `--duration`:
//!
//! 1. **register**: every endpoint registers once (2.01 expected; its location kept);
//! 2. **update**: every registered endpoint sends one registration update (2.04);
//! 3. **read**: the server reads `/3/0` of `--reads` endpoints, answered by the simulated
//!    objects. The server must be asked: with `--api` (unidm's API) one native read per
//!    endpoint is created, and the latency runs from that API call to the operation's end on
//!    the API's event stream; without `--api` the phase is skipped;
//! 4. **notify**: confirmable notifications, acknowledged by the server, on the observations it
//!    made (with `--api`, one observation of `/3/0/9` is created on each of `--observed`
//!    endpoints first, not timed); for the whole `--duration`;
//! 5. **deregister**: every registered endpoint de-registers (2.02).
//!
//! Every request is a CoAP exchange, sent again after 2 s without an answer (5 sends at most,
//! counted as retransmissions). Each phase prints its rate, latency percentiles, errors, and
//! the CPU time of the tool and (with `--server-pid`) of the server.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;
use unidm_core::load::Latencies;
use unidm_lwm2m::load::{Exchanged, LoadSocket, Registered, Reply, ResponseType};

use super::{Api, Meter};

/// Phases after the registrations, which always run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Phase {
    /// One registration update per endpoint.
    Update,
    /// Reads of /3/0 asked through `--api`.
    Read,
    /// Confirmable notifications on the server's observations.
    Notify,
    /// One de-registration per endpoint.
    Deregister,
}

/// Flags of `unidm bench lwm2m`.
#[derive(Debug, Clone, clap::Args)]
pub struct Lwm2mBenchArgs {
    /// The LwM2M server, `HOST:PORT` (plain CoAP).
    #[arg(long, value_name = "HOST:PORT")]
    pub server: String,
    /// Distinct endpoints to register (1 to 10,000,000).
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
    pub devices: u64,
    /// Each phase stops after this many seconds even if not done (1 to 3600).
    #[arg(long, value_name = "SECONDS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub duration: u64,
    /// UDP sockets the simulated clients share (1 to 1024).
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..=1024))]
    pub sockets: u64,
    /// Requests in flight per socket (1 to 64).
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u64).range(1..=64))]
    pub window: u64,
    /// Endpoint names are `{prefix}-{index}`.
    #[arg(long, default_value = "bench")]
    pub endpoint_prefix: String,
    /// Registration lifetime in seconds.
    #[arg(long, default_value_t = 86_400, value_parser = clap::value_parser!(u32).range(60..))]
    pub lifetime: u32,
    /// Phases after the registrations, in order (comma-separated).
    #[arg(long, value_delimiter = ',', default_value = "update,read,notify,deregister")]
    pub phases: Vec<Phase>,
    /// unidm's API (`http://HOST:PORT/api/v1`), through which reads and observations are asked.
    #[arg(long, value_name = "URL")]
    pub api: Option<String>,
    /// The API's bearer token (an operator's).
    #[arg(long, env = "UNIDM_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Endpoints read in the read phase.
    #[arg(long, default_value_t = 10_000)]
    pub reads: u64,
    /// Endpoints observed (with `--api`) before the notify phase.
    #[arg(long, default_value_t = 1_000)]
    pub observed: u64,
    /// The server's process id: its CPU time and resident memory are reported too (Linux).
    #[arg(long, value_name = "PID")]
    pub server_pid: Option<u32>,
}

/// Registered endpoints of one lane: (endpoint index, location).
type Registrations = Vec<(usize, String)>;

/// A lane: one socket and one request in flight on it.
struct Lane {
    socket: Arc<LoadSocket>,
    registered: Registrations,
}

/// Runs `unidm bench lwm2m`.
pub async fn run(args: Lwm2mBenchArgs) -> anyhow::Result<()> {
    let server = crate::sim::lwm2m::resolve("LwM2M server", &args.server, 5683).await?;
    let api = args.api.as_deref().map(|a| Api::new(a, args.token.clone())).transpose()?.map(Arc::new);
    let bind: SocketAddr = if server.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" }.parse()?;
    let bind = if server.ip().is_loopback() { SocketAddr::new(server.ip(), 0) } else { bind };
    let (devices, sockets, window) = (args.devices as usize, args.sockets as usize, args.window as usize);
    let limit = Duration::from_secs(args.duration);
    println!(
        "unidm bench lwm2m: {devices} endpoints `{}-N` against coap://{server} over {sockets} sockets x {window} in flight, each phase at most {} s",
        args.endpoint_prefix, args.duration
    );
    let mut generators = Vec::with_capacity(sockets);
    for i in 0..sockets {
        generators.push(LoadSocket::bind(bind, server, i).await?);
    }

    let (lanes, tally) = register(&args, &generators, limit).await;
    if tally.refused.contains_key("4.29") {
        println!(
            "  note:          4.29 Too Many Requests: the server limits registrations per source address (unidm: `[lwm2m] max_registers_per_source`)"
        );
    }
    if tally.latencies.is_empty() {
        match tally.refused() {
            0 => anyhow::bail!("no registration answered: is an LwM2M server listening on {server}?"),
            n => anyhow::bail!("no registration succeeded: the server refused all {n} (see the errors above)"),
        }
    }
    for phase in &args.phases {
        match phase {
            Phase::Update => {
                each_registered(&args, &lanes, limit, "update", "2.04", "updates", |s, loc| async move {
                    expect(s.update(&loc).await, ResponseType::Changed)
                })
                .await
            }
            Phase::Read => match &api {
                Some(api) => read(&args, api, &lanes, &generators, limit).await?,
                None => println!("read: skipped (the server reads only when asked: give --api)"),
            },
            Phase::Notify => notify(&args, api.as_ref(), &lanes, &generators, limit).await?,
            Phase::Deregister => {
                each_registered(&args, &lanes, limit, "deregister", "2.02", "deregistrations", |s, loc| async move {
                    expect(s.deregister(&loc).await, ResponseType::Deleted)
                })
                .await
            }
        }
    }
    let retransmitted: usize = generators.iter().map(|g| g.retransmissions()).sum();
    let answered: usize = generators.iter().map(|g| g.requests_answered()).sum();
    println!(
        "total: {retransmitted} retransmissions; {answered} requests of the server answered by the simulated objects"
    );
    Ok(())
}

/// The phase's verdict on one exchange: its latency, or what went wrong.
enum Verdict {
    Ok(Duration),
    Refused(Reply),
    TimedOut,
}

fn expect(e: Exchanged, want: ResponseType) -> Verdict {
    match e {
        Exchanged::Answered(Reply::Response { code, .. }, took) if code == want => Verdict::Ok(took),
        Exchanged::Answered(reply, _) => Verdict::Refused(reply),
        Exchanged::TimedOut => Verdict::TimedOut,
    }
}

/// What lanes count in a phase.
#[derive(Default)]
struct Tally {
    latencies: Latencies,
    /// Unwanted answers by what they were (`4.03`, `RST`).
    refused: BTreeMap<String, usize>,
    timed_out: usize,
}

impl Tally {
    fn add(&mut self, v: Verdict) {
        match v {
            Verdict::Ok(d) => self.latencies.push(d),
            Verdict::Refused(reply) => *self.refused.entry(reply.to_string()).or_default() += 1,
            Verdict::TimedOut => self.timed_out += 1,
        }
    }

    fn merge(&mut self, other: Tally) {
        self.latencies.extend(other.latencies);
        for (k, n) in other.refused {
            *self.refused.entry(k).or_default() += n;
        }
        self.timed_out += other.timed_out;
    }

    fn refused(&self) -> usize {
        self.refused.values().sum()
    }

    /// `N refused (not 2.01: 12 x 5.03), M unanswered after 5 sends`.
    fn errors(&self, want: &str) -> String {
        let by: Vec<String> = self.refused.iter().map(|(k, n)| format!("{n} x {k}")).collect();
        let by = if by.is_empty() { String::new() } else { format!(": {}", by.join(", ")) };
        format!("{} refused (not {want}{by}), {} unanswered after 5 sends", self.refused(), self.timed_out)
    }
}

/// Registers every endpoint; the lanes with what they registered, and the phase's tally.
async fn register(args: &Lwm2mBenchArgs, generators: &[Arc<LoadSocket>], limit: Duration) -> (Vec<Lane>, Tally) {
    let (devices, window) = (args.devices as usize, args.window as usize);
    let lanes = generators.len() * window;
    let meter = Meter::start(args.server_pid);
    let deadline = tokio::time::Instant::now() + limit;
    let mut workers = Vec::with_capacity(lanes);
    for lane in 0..lanes {
        let socket = generators[lane / window].clone();
        let (prefix, lifetime) = (args.endpoint_prefix.clone(), args.lifetime);
        workers.push(tokio::spawn(async move {
            let (mut tally, mut registered) = (Tally::default(), Vec::new());
            let mut i = lane;
            while i < devices && tokio::time::Instant::now() < deadline {
                match socket.register(&format!("{prefix}-{i}"), lifetime).await {
                    Registered::Created(d, location) => {
                        tally.latencies.push(d);
                        registered.push((i, location));
                    }
                    Registered::Refused(reply) => tally.add(Verdict::Refused(reply)),
                    Registered::TimedOut => tally.timed_out += 1,
                }
                i += lanes;
            }
            (Lane { socket, registered }, tally)
        }));
    }
    let (mut out, mut total) = (Vec::with_capacity(lanes), Tally::default());
    for w in workers {
        if let Ok((lane, tally)) = w.await {
            out.push(lane);
            total.merge(tally);
        }
    }
    let (ok, errors) = (total.latencies.len(), total.errors("2.01"));
    meter.report("register", ok, devices, "answered 2.01", "registrations", &mut total.latencies, &errors);
    (out, total)
}

/// Runs `exchange` once for every registered endpoint, lane by lane.
async fn each_registered<F, Fut>(
    args: &Lwm2mBenchArgs,
    lanes: &[Lane],
    limit: Duration,
    phase: &str,
    want: &str,
    unit: &str,
    exchange: F,
) where
    F: Fn(Arc<LoadSocket>, String) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = Verdict> + Send,
{
    let meter = Meter::start(args.server_pid);
    let deadline = tokio::time::Instant::now() + limit;
    let mut workers = Vec::with_capacity(lanes.len());
    for lane in lanes {
        let (socket, locations) =
            (lane.socket.clone(), lane.registered.iter().map(|(_, l)| l.clone()).collect::<Vec<_>>());
        let exchange = exchange.clone();
        workers.push(tokio::spawn(async move {
            let mut tally = Tally::default();
            for location in locations {
                if tokio::time::Instant::now() >= deadline {
                    break;
                }
                tally.add(exchange(socket.clone(), location).await);
            }
            tally
        }));
    }
    let mut total = Tally::default();
    for w in workers {
        if let Ok(t) = w.await {
            total.merge(t);
        }
    }
    let of = lanes.iter().map(|l| l.registered.len()).sum();
    let ok = total.latencies.len();
    let errors = total.errors(want);
    meter.report(phase, ok, of, &format!("answered {want}"), unit, &mut total.latencies, &errors);
}

/// Endpoint names of the first `n` registrations, taken across lanes.
fn first_registered(args: &Lwm2mBenchArgs, lanes: &[Lane], n: usize) -> Vec<String> {
    let mut all: Vec<usize> = lanes.iter().flat_map(|l| l.registered.iter().map(|(i, _)| *i)).collect();
    all.sort_unstable();
    all.into_iter().take(n).map(|i| format!("lwm2m:{}-{i}", args.endpoint_prefix)).collect()
}

/// Creates one operation per device through the API, `concurrency` calls at a time; the ids
/// created with their start, and the failures.
async fn create_all(
    api: &Arc<Api>,
    devices: Vec<String>,
    op: &'static str,
    path: &'static str,
    deadline: tokio::time::Instant,
) -> (Vec<(u64, Instant)>, usize) {
    let slots = Arc::new(Semaphore::new(64));
    let mut calls = Vec::with_capacity(devices.len());
    for device in devices {
        let Ok(permit) = slots.clone().acquire_owned().await else { break };
        if tokio::time::Instant::now() >= deadline {
            break;
        }
        let api = api.clone();
        calls.push(tokio::spawn(async move {
            let _permit = permit;
            let start = Instant::now();
            api.native(&device, op, path).await.map(|id| (id, start))
        }));
    }
    let (mut created, mut failed) = (Vec::with_capacity(calls.len()), 0);
    for c in calls {
        match c.await {
            Ok(Ok(x)) => created.push(x),
            Ok(Err(e)) => {
                if failed < 3 {
                    eprintln!("API: {e:#}");
                }
                failed += 1;
            }
            Err(_) => failed += 1,
        }
    }
    (created, failed)
}

/// Waits until every created operation ended (as the event stream tells) or the deadline;
/// (succeeded latencies, failed, unfinished).
async fn ends(
    ended: &super::Ended,
    created: &[(u64, Instant)],
    deadline: tokio::time::Instant,
) -> (Latencies, usize, usize) {
    loop {
        let done = created.iter().filter(|(id, _)| ended.get(*id).is_some()).count();
        if done == created.len() || tokio::time::Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (mut latencies, mut failed, mut unfinished) = (Latencies::default(), 0, 0);
    for (id, start) in created {
        match ended.get(*id) {
            Some((at, true)) => latencies.push(at.saturating_duration_since(*start)),
            Some((_, false)) => failed += 1,
            None => unfinished += 1,
        }
    }
    (latencies, failed, unfinished)
}

async fn read(
    args: &Lwm2mBenchArgs,
    api: &Arc<Api>,
    lanes: &[Lane],
    generators: &[Arc<LoadSocket>],
    limit: Duration,
) -> anyhow::Result<()> {
    let targets = first_registered(args, lanes, args.reads as usize);
    let ended = api.watch_operations().await?;
    let answered_before: usize = generators.iter().map(|g| g.reads_answered()).sum();
    let meter = Meter::start(args.server_pid);
    let deadline = tokio::time::Instant::now() + limit;
    let of = targets.len();
    let (created, api_failed) = create_all(api, targets, "read", "/3/0", deadline).await;
    let (mut latencies, failed, unfinished) = ends(&ended, &created, deadline).await;
    let answered = generators.iter().map(|g| g.reads_answered()).sum::<usize>() - answered_before;
    let errors = format!(
        "{api_failed} not created by the API, {failed} failed, {unfinished} unfinished at the end; {} events missed; {answered} reads answered by the devices",
        ended.lagged()
    );
    meter.report(
        "read (API call to operation succeeded)",
        latencies.len(),
        of,
        "succeeded",
        "reads",
        &mut latencies,
        &errors,
    );
    Ok(())
}

async fn notify(
    args: &Lwm2mBenchArgs,
    api: Option<&Arc<Api>>,
    lanes: &[Lane],
    generators: &[Arc<LoadSocket>],
    limit: Duration,
) -> anyhow::Result<()> {
    if let Some(api) = api {
        let targets = first_registered(args, lanes, args.observed as usize);
        let ended = api.watch_operations().await?;
        let started = Instant::now();
        let deadline = tokio::time::Instant::now() + limit;
        let (created, api_failed) = create_all(api, targets, "observe", "/3/0/9", deadline).await;
        let (ok, failed, unfinished) = ends(&ended, &created, deadline).await;
        println!(
            "observe (not timed): {} observations made in {:.2} s; {api_failed} not created, {failed} failed, {unfinished} unfinished",
            ok.len(),
            started.elapsed().as_secs_f64()
        );
    }
    let window = args.window as usize;
    let observed: usize = generators.iter().map(|g| g.observations().len()).sum();
    if observed == 0 {
        println!("notify: skipped (the server observes nothing: give --api, or make the server observe)");
        return Ok(());
    }
    let meter = Meter::start(args.server_pid);
    let deadline = tokio::time::Instant::now() + limit;
    let mut workers = Vec::new();
    for (s, socket) in generators.iter().enumerate() {
        let tokens = socket.observations();
        for w in 0..window {
            let mine: Vec<Vec<u8>> = tokens.iter().skip(w).step_by(window).cloned().collect();
            if mine.is_empty() {
                continue;
            }
            let socket = socket.clone();
            workers.push(tokio::spawn(async move {
                let (mut tally, mut reset) = (Tally::default(), 0usize);
                // Observe sequence numbers go up from where the observation's first answer left.
                let mut seq = 1 + s as u32;
                'run: loop {
                    seq += 1;
                    for token in &mine {
                        if tokio::time::Instant::now() >= deadline {
                            break 'run;
                        }
                        match socket.notify_confirmed(token, seq).await {
                            Exchanged::Answered(Reply::Ack, d) => tally.latencies.push(d),
                            Exchanged::Answered(Reply::Reset, _) => reset += 1,
                            Exchanged::Answered(reply, _) => tally.add(Verdict::Refused(reply)),
                            Exchanged::TimedOut => tally.timed_out += 1,
                        }
                    }
                }
                (tally, reset)
            }));
        }
    }
    let (mut total, mut reset) = (Tally::default(), 0);
    for w in workers {
        if let Ok((t, r)) = w.await {
            total.merge(t);
            reset += r;
        }
    }
    let ok = total.latencies.len();
    let sent = ok + reset + total.refused() + total.timed_out;
    let errors = format!("{reset} reset by the server, {}", total.errors("an empty ACK"));
    meter.report(
        &format!("notify ({observed} observations, confirmable)"),
        ok,
        sent,
        "acknowledged",
        "notifications",
        &mut total.latencies,
        &errors,
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tally_counts_answers_by_code_and_time_outs() {
        let mut a = Tally::default();
        a.add(expect(
            Exchanged::Answered(
                Reply::Response { code: ResponseType::Changed, location: String::new() },
                Duration::from_millis(3),
            ),
            ResponseType::Changed,
        ));
        a.add(expect(
            Exchanged::Answered(
                Reply::Response { code: ResponseType::NotFound, location: String::new() },
                Duration::ZERO,
            ),
            ResponseType::Changed,
        ));
        let mut b = Tally::default();
        b.add(expect(Exchanged::TimedOut, ResponseType::Changed));
        b.add(expect(Exchanged::Answered(Reply::Reset, Duration::ZERO), ResponseType::Changed));
        b.add(expect(
            Exchanged::Answered(
                Reply::Response { code: ResponseType::NotFound, location: String::new() },
                Duration::ZERO,
            ),
            ResponseType::Changed,
        ));
        a.merge(b);
        assert_eq!(a.latencies.len(), 1);
        assert_eq!(a.errors("2.04"), "3 refused (not 2.04: 2 x 4.04, 1 x RST), 1 unanswered after 5 sends");
        assert_eq!(Tally::default().errors("2.01"), "0 refused (not 2.01), 0 unanswered after 5 sends");
    }
}
