//! `unidm bench omadm`: simulated DM clients ([`unidm_omadm::load`]) open sessions with any
//! OMA DM 1.2 server over HTTP(S), `--clients` at a time (one HTTP connection each), and go
//! through phases:
//!
//! 1. **first sessions**: every device once (a server that probes new devices sends them Gets,
//!    answered from the clients' small fixed tree: DevInfo, DevDetail; anything else 404);
//! 2. **complete sessions, nothing queued**: devices in turn for `--duration` seconds: Package
//!    1 and the server's closing package, unless the server has more to ask;
//! 3. **sessions carrying one Get**, with `--api` (unidm's API) only: one native read of
//!    `./DevInfo/Mod` is queued per device through the API (not timed), then every device has
//!    one session, which carries it; how many of those operations succeeded is read from the
//!    API's event stream.
//!
//! Each phase prints sessions completed per second, session latency percentiles (p50 / p99 /
//! max, from Package 1 to the server's last package), failed sessions by kind (HTTP, time-out
//! after 30 s, malformed, refused with a SyncML status, endless) with the first few on stderr,
//! the messages and commands exchanged, the CPU time of the tool and, with `--server-pid`, the
//! server's CPU time and resident memory.
//!
//! Authentication is md5 by default (also basic, HMAC or none) as `--user` / `--password`, with
//! the nonce the server gives each device. A default `unidm serve` demands md5 and knows no
//! client credentials: with `--api`, the bench enrols its devices first (provisions each and
//! sets its credentials through the API; `--no-enrol` skips that); against another server, give
//! the credentials it knows. The server's own `Cred` is ignored unless `--server-password` is
//! given. Before anything, the server's address must accept a TCP connection, so nothing
//! listening is an error at once.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use unidm_omadm::codec::Encoding;
use unidm_omadm::load::{self, LoadAuth, LoadConfig, Outcome, Plan, Population, BENCH_NODE, DEV_DIGITS};
use unidm_omadm::session::Credentials;

use super::{Api, Meter};

/// Message encodings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum EncodingArg {
    /// `application/vnd.syncml.dm+xml`.
    Xml,
    /// `application/vnd.syncml.dm+wbxml`.
    Wbxml,
}

/// How the clients authenticate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AuthArg {
    /// `syncml:auth-md5` over the server's nonce.
    Md5,
    /// `syncml:auth-basic`.
    Basic,
    /// `x-syncml-hmac` on every message.
    Hmac,
    /// No credentials.
    None,
}

impl AuthArg {
    fn name(self) -> &'static str {
        match self {
            AuthArg::Md5 => "md5",
            AuthArg::Basic => "basic",
            AuthArg::Hmac => "hmac",
            AuthArg::None => "none",
        }
    }
}

/// Flags of `unidm bench omadm`.
#[derive(Debug, Clone, clap::Args)]
pub struct OmadmBenchArgs {
    /// The DM server's URL (`http://HOST:8081/dm`, or https).
    #[arg(long, value_name = "URL")]
    pub server: String,
    /// Simulated devices (1 to 1,000,000).
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub devices: u64,
    /// Seconds of the timed phase of complete sessions (1 to 3600).
    #[arg(long, value_name = "SECONDS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub duration: u64,
    /// Sessions at once, each on its own HTTP connection (1 to 4096).
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..=4096))]
    pub clients: u64,
    /// Message encoding.
    #[arg(long, value_enum, default_value = "xml")]
    pub encoding: EncodingArg,
    /// How the clients authenticate.
    #[arg(long, value_enum, default_value = "md5")]
    pub auth: AuthArg,
    /// The clients' user name.
    #[arg(long, default_value = "dm-client")]
    pub user: String,
    /// The clients' password.
    #[arg(long, default_value = "secret")]
    pub password: String,
    /// The server's password: its first message's `Cred` must then verify (md5 over the empty
    /// nonce, or basic). Without it the server's credentials are ignored.
    #[arg(long)]
    pub server_password: Option<String>,
    /// The server's identifier, the user name of its `Cred`.
    #[arg(long, default_value = "unidm")]
    pub server_id: String,
    /// unidm's API (`http://HOST:PORT/api/v1`): the devices are enrolled through it, and the
    /// phase of sessions carrying a Get queues its reads through it.
    #[arg(long, value_name = "URL")]
    pub api: Option<String>,
    /// The API's bearer token (an operator's).
    #[arg(long, env = "UNIDM_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Do not enrol the devices through `--api` (the server already knows their credentials).
    #[arg(long)]
    pub no_enrol: bool,
    /// DevIds are this followed by the device number in 13 digits.
    #[arg(long, default_value = "IMEI:49")]
    pub dev_id_prefix: String,
    /// The server's process id: its CPU time and resident memory are reported too (Linux).
    #[arg(long, value_name = "PID")]
    pub server_pid: Option<u32>,
}

/// Runs `unidm bench omadm`.
pub async fn run(args: OmadmBenchArgs) -> anyhow::Result<()> {
    let (devices, clients) = (args.devices as usize, args.clients as usize);
    let encoding = match args.encoding {
        EncodingArg::Xml => Encoding::Xml,
        EncodingArg::Wbxml => Encoding::Wbxml,
    };
    let auth = match args.auth {
        AuthArg::Md5 => LoadAuth::Md5,
        AuthArg::Basic => LoadAuth::Basic,
        AuthArg::Hmac => LoadAuth::Hmac,
        AuthArg::None => LoadAuth::None,
    };
    if args.api.is_some() && args.dev_id_prefix.contains(['/', '?', '#', '%']) {
        anyhow::bail!("--dev-id-prefix `{}`: no / ? # or % with --api (it goes into URL paths)", args.dev_id_prefix);
    }
    let config = LoadConfig {
        server_url: args.server.clone(),
        devices,
        dev_id_prefix: args.dev_id_prefix.clone(),
        encoding,
        auth,
        username: args.user.clone(),
        password: args.password.clone(),
        server: args.server_password.clone().map(|p| Credentials::new(args.server_id.clone(), p)),
    };
    let pop = Arc::new(Population::new(config).with_context(|| format!("--server {}", args.server))?);
    let api = args.api.as_deref().map(|a| Api::new(a, args.token.clone())).transpose()?.map(Arc::new);
    let enrol = api.is_some() && !args.no_enrol && auth != LoadAuth::None;
    let who = match args.auth {
        AuthArg::None => "no credentials".to_owned(),
        a => format!("{} as `{}`", a.name(), args.user),
    };
    let through = match &args.api {
        Some(a) if enrol => format!("devices enrolled and reads queued through the API at {a}"),
        Some(a) => format!("reads queued through the API at {a}"),
        None => "no --api: the phase of sessions carrying a Get is skipped".to_owned(),
    };
    println!(
        "unidm bench omadm: {devices} DM clients `{}<{DEV_DIGITS} digits>` against {} ({}, {who}), {clients} sessions at once, {} s timed phase; {through}",
        args.dev_id_prefix,
        args.server,
        if encoding == Encoding::Xml { "XML" } else { "WBXML" },
        args.duration,
    );
    let url = reqwest::Url::parse(&args.server).with_context(|| format!("--server {}: not a URL", args.server))?;
    super::reach(&url, "DM server").await?;
    if let Some(api) = api.as_ref().filter(|_| enrol) {
        enrol_devices(api.clone(), &pop, clients, &args.user, &args.password).await?;
    }

    let once = Plan { clients, rounds: 1, duration: None };
    let meter = Meter::start(args.server_pid);
    let mut first = load::run(&pop, once).await?;
    report(&meter, "first sessions: every device once", &mut first, devices);
    if first.counts.sessions == 0 {
        let error = first.first_errors.first().cloned().unwrap_or_default();
        let hint = if first.counts.unauthorized > 0 {
            "\nA default `unidm serve` knows no DM client credentials: give --api so that the bench enrols its devices, or the credentials the server knows (--user, --password, --auth)."
        } else {
            ""
        };
        anyhow::bail!("no DM session completed with {}: {error}{hint}", args.server);
    }

    let meter = Meter::start(args.server_pid);
    let plan = Plan { clients, rounds: usize::MAX, duration: Some(Duration::from_secs(args.duration)) };
    let mut complete = load::run(&pop, plan).await?;
    report(&meter, &format!("complete sessions, nothing queued ({} s)", args.duration), &mut complete, 0);

    if let Some(api) = &api {
        carrying_gets(api, &pop, clients, args.server_pid).await?;
    }
    Ok(())
}

/// Prints one phase; `of` = 0: out of the sessions started.
fn report(meter: &Meter, phase: &str, o: &mut Outcome, of: usize) {
    let c = o.counts;
    let of = if of == 0 { c.attempted() as usize } else { of };
    let errors = c.errors_summary();
    meter.report(phase, c.sessions as usize, of, "sessions completed", "sessions", &mut o.latencies, &errors);
    println!(
        "  exchanged:     {} messages sent ({:.1} per session), {} server commands answered, {} Gets of {BENCH_NODE}",
        c.messages,
        c.messages as f64 / c.sessions.max(1) as f64,
        c.commands,
        c.gets
    );
    for e in &o.first_errors {
        eprintln!("  error: {e}");
    }
    if o.hopeless {
        println!("  stopped early: no session completed");
    }
}

/// Phase 3: a native read of [`BENCH_NODE`] queued per device through the API, then one
/// session per device; the operations' ends come from the API's event stream.
async fn carrying_gets(
    api: &Arc<Api>,
    pop: &Arc<Population>,
    clients: usize,
    server_pid: Option<u32>,
) -> anyhow::Result<()> {
    let ended = api.watch_operations().await?;
    let queueing = Instant::now();
    let devices: Arc<Vec<String>> = Arc::new((0..pop.len()).map(|i| format!("omadm:{}", pop.dev_id(i))).collect());
    let queued = each_device(pop.len(), clients, {
        let (api, devices) = (api.clone(), devices.clone());
        move |i| {
            let (api, devices) = (api.clone(), devices.clone());
            async move { api.native(&devices[i], "read", BENCH_NODE).await }
        }
    })
    .await;
    println!(
        "queue (not timed): {} native reads of {BENCH_NODE} queued through the API in {:.2} s, {} refused",
        queued.ok.len(),
        queueing.elapsed().as_secs_f64(),
        queued.failed
    );
    for e in &queued.first_errors {
        eprintln!("  error: {e}");
    }
    anyhow::ensure!(!queued.ok.is_empty(), "no read could be queued through the API");

    let meter = Meter::start(server_pid);
    let mut o = load::run(pop, Plan { clients, rounds: 1, duration: None }).await?;
    report(&meter, &format!("sessions carrying one Get of {BENCH_NODE}"), &mut o, pop.len());
    // An operation ends in its session, before the session's last package: its event is near.
    let deadline = Instant::now() + Duration::from_secs(5);
    while queued.ok.iter().any(|id| ended.get(*id).is_none()) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let succeeded = queued.ok.iter().filter(|id| ended.get(**id).is_some_and(|(_, ok)| ok)).count();
    let unseen = queued.ok.iter().filter(|id| ended.get(**id).is_none()).count();
    let lagged = match ended.lagged() {
        0 => String::new(),
        n => format!("; the stream dropped {n} events"),
    };
    println!(
        "  operations:    {succeeded} of {} succeeded, {unseen} not ended (from the API's event stream{lagged})",
        queued.ok.len()
    );
    Ok(())
}

/// What [`each_device`] did.
struct Each<T> {
    ok: Vec<T>,
    failed: u64,
    first_errors: Vec<String>,
}

/// Runs `f(i)` for every device `i` with `workers` at a time.
async fn each_device<T, F, Fut>(devices: usize, workers: usize, f: F) -> Each<T>
where
    T: Send + 'static,
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = anyhow::Result<T>> + Send,
{
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let f = Arc::new(f);
    let mut tasks = Vec::with_capacity(workers);
    for _ in 0..workers.clamp(1, devices) {
        let (next, f) = (next.clone(), f.clone());
        tasks.push(tokio::spawn(async move {
            let mut each = Each { ok: Vec::new(), failed: 0, first_errors: Vec::new() };
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= devices {
                    return each;
                }
                match f(i).await {
                    Ok(v) => each.ok.push(v),
                    Err(e) => {
                        each.failed += 1;
                        if each.first_errors.len() < load::FIRST_ERRORS {
                            each.first_errors.push(format!("{e:#}"));
                        }
                    }
                }
            }
        }));
    }
    let mut all = Each { ok: Vec::new(), failed: 0, first_errors: Vec::new() };
    for t in tasks {
        if let Ok(each) = t.await {
            all.ok.extend(each.ok);
            all.failed += each.failed;
            let room = load::FIRST_ERRORS.saturating_sub(all.first_errors.len());
            all.first_errors.extend(each.first_errors.into_iter().take(room));
        }
    }
    all
}

/// Provisions `omadm:{dev_id}` (already there is fine) and sets its credentials.
async fn enrol(api: &Api, dev_id: &str, username: &str, password: &str) -> anyhow::Result<()> {
    let id = format!("omadm:{dev_id}");
    match api.send(reqwest::Method::POST, "/devices", Some(&serde_json::json!({ "id": id }))).await? {
        (201 | 409, _) => {}
        (status, v) => anyhow::bail!("POST /devices {id}: HTTP {status} {}", v["detail"].as_str().unwrap_or("")),
    }
    let path = format!("/omadm/clients/{dev_id}/credentials");
    let body = serde_json::json!({ "username": username, "password": password });
    match api.send(reqwest::Method::PUT, &path, Some(&body)).await? {
        (status, _) if status < 300 => Ok(()),
        (409, _) => anyhow::bail!("PUT {path}: HTTP 409 (does the server run OMA DM?)"),
        (status, v) => anyhow::bail!("PUT {path}: HTTP {status} {}", v["detail"].as_str().unwrap_or("")),
    }
}

/// Gives every device the bench's credentials through the API (not timed).
async fn enrol_devices(
    api: Arc<Api>,
    pop: &Arc<Population>,
    clients: usize,
    username: &str,
    password: &str,
) -> anyhow::Result<()> {
    let started = Instant::now();
    let (pop2, user, pass) = (pop.clone(), username.to_owned(), password.to_owned());
    let done = each_device(pop.len(), clients, move |i| {
        let (api, dev, user, pass) = (api.clone(), pop2.dev_id(i), user.clone(), pass.clone());
        async move { enrol(&api, &dev, &user, &pass).await }
    })
    .await;
    println!(
        "enrol (not timed): {} of {} devices provisioned with credentials `{username}` through the API in {:.2} s",
        done.ok.len(),
        pop.len(),
        started.elapsed().as_secs_f64()
    );
    for e in &done.first_errors {
        eprintln!("  error: {e}");
    }
    if done.ok.is_empty() {
        anyhow::bail!("no device could be enrolled through the API: {}", done.first_errors.join("; "));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, clap::Parser)]
    struct Cli {
        #[command(flatten)]
        args: OmadmBenchArgs,
    }

    #[test]
    fn flags_have_defaults_and_bounds() {
        let cli = Cli::try_parse_from(["bench", "--server", "http://127.0.0.1:8081/dm"]).unwrap().args;
        assert_eq!((cli.devices, cli.duration, cli.clients), (10_000, 10, 64));
        assert_eq!((cli.encoding, cli.auth, cli.user.as_str()), (EncodingArg::Xml, AuthArg::Md5, "dm-client"));
        assert!(Cli::try_parse_from(["bench", "--server", "x", "--devices", "0"]).is_err());
        assert!(Cli::try_parse_from(["bench", "--server", "x", "--clients", "5000"]).is_err());
        assert!(Cli::try_parse_from(["bench", "--server", "x", "--encoding", "json"]).is_err());
        assert!(Cli::try_parse_from(["bench", "--server", "x", "--auth", "hmac", "--encoding", "wbxml"]).is_ok());
    }

    #[tokio::test]
    async fn each_device_runs_every_index_once_and_keeps_the_first_errors() {
        let done = each_device(10, 3, |i| async move {
            if i % 2 == 0 {
                Ok(i)
            } else {
                Err(anyhow::anyhow!("odd {i}"))
            }
        })
        .await;
        let mut ok = done.ok;
        ok.sort_unstable();
        assert_eq!(ok, [0, 2, 4, 6, 8]);
        assert_eq!((done.failed, done.first_errors.len()), (5, load::FIRST_ERRORS));
    }

    #[tokio::test]
    async fn bad_input_and_nothing_listening_are_errors() {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let url = reqwest::Url::parse(&format!("http://127.0.0.1:{port}/dm")).unwrap();
        let e = super::super::reach(&url, "DM server").await.unwrap_err();
        assert!(e.to_string().contains("no DM server answers at"), "{e}");
        let args = |server: &str| Cli::try_parse_from(["bench", "--server", server]).unwrap().args;
        let e = run(args("ftp://127.0.0.1/dm")).await.unwrap_err();
        assert!(format!("{e:#}").contains("not http(s)"), "{e:#}");
    }
}
