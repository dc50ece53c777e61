//! `unidm bench`: load against any server over the network, with figures a user can compare.
//! Each protocol's tool runs phases; each phase prints what it achieved per second, latency
//! percentiles (p50 / p99 / max), errors, and the CPU time of the load tool and, given
//! `--server-pid`, of the server (with its resident memory) over that phase.
//!
//! - `unidm bench lwm2m` ([`lwm2m`]): registrations, updates, reads and notifications,
//!   de-registrations of distinct endpoints sharing UDP sockets.
//! - `unidm bench tr069` ([`tr069`]): CWMP sessions of simulated CPEs against an ACS.
//! - `unidm bench omadm` ([`omadm`]): OMA DM sessions of simulated DM clients.
//! - `unidm bench campaign` ([`campaign`]): one group firmware operation over many simulated
//!   devices (LwM2M clients, and TR-069 CPEs and OMA DM clients among them with `--tr069` /
//!   `--omadm`), and the server's overhead beyond the devices' own delays.
//! - `unidm bench operations` ([`operations`]): operation creates through the API, one by one
//!   or in batches, each committed before it is answered.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use unidm_core::load::{usage, Latencies, Usage};

pub mod campaign;
pub mod lwm2m;
pub mod omadm;
pub mod operations;
pub mod tr069;

/// `unidm bench` protocols.
#[derive(Debug, clap::Subcommand)]
pub enum BenchCommand {
    /// LwM2M endpoints registering, updating, answering reads, notifying and de-registering.
    Lwm2m(lwm2m::Lwm2mBenchArgs),
    /// CWMP sessions of simulated CPEs against an ACS.
    Tr069(tr069::Tr069BenchArgs),
    /// OMA DM sessions of simulated DM clients against a DM server.
    Omadm(omadm::OmadmBenchArgs),
    /// A firmware campaign over many simulated devices (LwM2M, TR-069, OMA DM) through unidm's API.
    Campaign(campaign::CampaignBenchArgs),
    /// Operation creates through unidm's API (committed before answered), on devices of its own.
    Operations(operations::OperationsBenchArgs),
}

/// Runs a `unidm bench` command.
pub async fn run(command: BenchCommand) -> anyhow::Result<()> {
    match command {
        BenchCommand::Lwm2m(args) => lwm2m::run(args).await,
        BenchCommand::Tr069(args) => tr069::run(args).await,
        BenchCommand::Omadm(args) => omadm::run(args).await,
        BenchCommand::Campaign(args) => campaign::run(args).await,
        BenchCommand::Operations(args) => operations::run(args).await,
    }
}

/// The CPU time of the load tool and of the server (by pid) over one phase.
pub struct Meter {
    server_pid: Option<String>,
    own: Option<Usage>,
    server: Option<Usage>,
    started: Instant,
}

impl Meter {
    /// Starts measuring; the server is `server_pid` when given.
    pub fn start(server_pid: Option<u32>) -> Meter {
        let server_pid = server_pid.map(|p| p.to_string());
        let server = server_pid.as_deref().and_then(usage);
        Meter { server_pid, own: usage("self"), server, started: Instant::now() }
    }

    /// Time since the start (at least a microsecond, to divide by).
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed().max(Duration::from_micros(1))
    }

    /// Prints one phase: `ok` of `of` `what` (e.g. "answered 2.01") in the elapsed time as a
    /// rate of `unit` per second, the latencies, the errors line, and CPU per `unit`.
    // Every argument is a figure of the phase's report, named at the call.
    #[allow(clippy::too_many_arguments)]
    pub fn report(
        &self,
        phase: &str,
        ok: usize,
        of: usize,
        what: &str,
        unit: &str,
        latencies: &mut Latencies,
        errors: &str,
    ) {
        let took = self.elapsed().as_secs_f64();
        println!("{phase}");
        println!("  done:          {ok} of {of} {what} in {took:.2} s = {:.0} {unit}/s", ok as f64 / took);
        println!("  latency:       {}", latencies.summary());
        println!("  errors:        {errors}");
        let per = |cpu: Duration| cpu.as_secs_f64() * 1e6 / ok.max(1) as f64;
        if let (Some(before), Some(now)) = (self.own, usage("self")) {
            let cpu = now.cpu.saturating_sub(before.cpu);
            println!("  load tool CPU: {:.2} s = {:.0} µs per {}", cpu.as_secs_f64(), per(cpu), singular(unit));
        }
        if let (Some(pid), Some(before)) = (&self.server_pid, self.server) {
            match usage(pid) {
                Some(now) => {
                    let cpu = now.cpu.saturating_sub(before.cpu);
                    println!(
                        "  server CPU:    {:.2} s = {:.0} µs per {}; resident memory {:.1} MiB",
                        cpu.as_secs_f64(),
                        per(cpu),
                        singular(unit),
                        now.rss as f64 / 1048576.0
                    );
                }
                None => println!("  server CPU:    process {pid} is gone"),
            }
        }
    }
}

/// unidm's HTTP API, for the phases whose requests come from the server only when asked
/// (reads, observations): operations are created through it, and their ends are seen on its
/// event stream.
pub struct Api {
    base: String,
    client: reqwest::Client,
    token: Option<String>,
}

/// How operations ended, by id, as the event stream told.
#[derive(Default)]
pub struct Ended {
    at: Mutex<HashMap<u64, (Instant, bool)>>,
    lagged: std::sync::atomic::AtomicU64,
}

impl Ended {
    /// When operation `id` ended, and whether it succeeded.
    pub fn get(&self, id: u64) -> Option<(Instant, bool)> {
        self.at.lock().unwrap_or_else(|e| e.into_inner()).get(&id).copied()
    }

    /// Events the server dropped because this reader fell behind.
    pub fn lagged(&self) -> u64 {
        self.lagged.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Takes one event of the stream.
    fn take(&self, event: &str, v: &serde_json::Value) {
        if event == "lagged" {
            let missed = v["missed"].as_u64().unwrap_or(1);
            self.lagged.fetch_add(missed, std::sync::atomic::Ordering::Relaxed);
            return;
        }
        let op = &v["operation"];
        let (Some(id), Some(state)) = (op["id"].as_u64(), op["state"].as_str()) else { return };
        if matches!(state, "succeeded" | "failed" | "cancelled" | "expired") {
            let mut at = self.at.lock().unwrap_or_else(|e| e.into_inner());
            at.entry(id).or_insert((Instant::now(), state == "succeeded"));
        }
    }
}

/// One Server-Sent Events block (`event: ...` / `data: {...}` lines): its event name and data;
/// `None` for a comment (keep-alive) or data that is not JSON.
fn sse_block(block: &str) -> Option<(String, serde_json::Value)> {
    let mut event = "";
    for line in block.lines() {
        if let Some(e) = line.strip_prefix("event:") {
            event = e.trim();
        } else if let Some(data) = line.strip_prefix("data:") {
            let v = serde_json::from_str::<serde_json::Value>(data.trim()).ok()?;
            return Some((event.to_owned(), v));
        }
    }
    None
}

impl Api {
    /// The API at `base` (`http://HOST:PORT/api/v1`), with a bearer token when given.
    pub fn new(base: &str, token: Option<String>) -> anyhow::Result<Api> {
        let url = reqwest::Url::parse(base).with_context(|| format!("--api {base}: not a URL"))?;
        anyhow::ensure!(
            matches!(url.scheme(), "http" | "https"),
            "--api {base}: want http:// or https://, like http://127.0.0.1:8080/api/v1"
        );
        let client = reqwest::Client::builder().timeout(Duration::from_secs(30)).build()?;
        Ok(Api { base: base.trim_end_matches('/').to_owned(), client, token })
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let r = self.client.request(method, format!("{}{path}", self.base));
        match &self.token {
            Some(t) => r.bearer_auth(t),
            None => r,
        }
    }

    /// Sends `method` to `path` with a JSON `body`; the status and the answer's JSON (`null`
    /// when it has none). Only a failure to talk to the API is an error.
    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> anyhow::Result<(u16, serde_json::Value)> {
        let mut r = self.request(method.clone(), path);
        if let Some(body) = body {
            r = r.json(body);
        }
        let r = r.send().await.with_context(|| format!("{method} {}{path}", self.base))?;
        let status = r.status().as_u16();
        Ok((status, r.json().await.unwrap_or_default()))
    }

    /// `send`, expecting status `want`: the answer's JSON, or an error with the problem's detail.
    async fn expect(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&serde_json::Value>,
        want: u16,
    ) -> anyhow::Result<serde_json::Value> {
        let (status, v) = self.send(method.clone(), path, body).await?;
        anyhow::ensure!(status == want, "{method} {path}: HTTP {status} {}", v["detail"].as_str().unwrap_or(""));
        Ok(v)
    }

    /// Creates a native operation on `device`; its id.
    pub async fn native(&self, device: &str, op: &str, path: &str) -> anyhow::Result<u64> {
        let body = serde_json::json!({ "op": op, "path": path });
        let v = self.post(&format!("/devices/{device}/native"), &body, 202).await?;
        v["id"].as_u64().ok_or_else(|| anyhow::anyhow!("{op} {path} on {device}: no operation id in {v}"))
    }

    /// Follows the event stream from now on, recording how operations end.
    pub async fn watch_operations(&self) -> anyhow::Result<Arc<Ended>> {
        let mut events = self.events("operationChanged").await?;
        let ended = Arc::new(Ended::default());
        let sink = ended.clone();
        tokio::spawn(async move {
            while let Some((event, v)) = events.recv().await {
                sink.take(&event, &v);
            }
        });
        Ok(ended)
    }

    /// The event stream from now on, of these `types` (comma-separated), and `lagged`.
    pub async fn events(
        &self,
        types: &str,
    ) -> anyhow::Result<tokio::sync::mpsc::UnboundedReceiver<(String, serde_json::Value)>> {
        let mut r = self.client.get(format!("{}/events?types={types}", self.base));
        if let Some(t) = &self.token {
            r = r.bearer_auth(t);
        }
        // The stream lasts: no overall time-out, unlike the other requests.
        let r = r.timeout(Duration::from_secs(86_400)).send().await.with_context(|| format!("{}/events", self.base))?;
        anyhow::ensure!(r.status().is_success(), "{}/events: HTTP {}", self.base, r.status());
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            let mut r = r;
            let mut text = String::new();
            while let Ok(Some(chunk)) = r.chunk().await {
                text.push_str(&String::from_utf8_lossy(&chunk));
                while let Some(end) = text.find("\n\n") {
                    if let Some(event) = sse_block(&text[..end]) {
                        if tx.send(event).is_err() {
                            return;
                        }
                    }
                    text.drain(..end + 2);
                }
            }
        });
        Ok(rx)
    }

    /// GETs `path`; the answer's JSON when it is 200.
    pub async fn get(&self, path: &str) -> anyhow::Result<serde_json::Value> {
        self.expect(reqwest::Method::GET, path, None, 200).await
    }

    /// POSTs `body` to `path`; the answer's JSON when its status is `want`.
    pub async fn post(&self, path: &str, body: &serde_json::Value, want: u16) -> anyhow::Result<serde_json::Value> {
        self.expect(reqwest::Method::POST, path, Some(body), want).await
    }
}

/// The address of `url` (`what` names the server in errors) once something accepted a TCP
/// connection there, within 5 s: nothing listening is an error at once, not a hang.
pub async fn reach(url: &reqwest::Url, what: &str) -> anyhow::Result<std::net::SocketAddr> {
    const PROBE: Duration = Duration::from_secs(5);
    let resolving = url.clone();
    let addrs = tokio::task::spawn_blocking(move || resolving.socket_addrs(|| None))
        .await?
        .with_context(|| format!("{url}: the host does not resolve"))?;
    let mut why = String::from("no address");
    for addr in addrs {
        match tokio::time::timeout(PROBE, tokio::net::TcpStream::connect(addr)).await {
            Ok(Ok(_)) => return Ok(addr),
            Ok(Err(e)) => why = format!("{addr}: {e}"),
            Err(_) => why = format!("{addr}: no answer within {PROBE:?}"),
        }
    }
    anyhow::bail!("no {what} answers at {url} ({why})")
}

/// "registrations" → "registration".
fn singular(unit: &str) -> &str {
    unit.strip_suffix('s').unwrap_or(unit)
}

#[cfg(test)]
mod tests {
    #[test]
    fn operation_ends_are_read_from_server_sent_events() {
        let ended = super::Ended::default();
        let block = |text: &str| {
            if let Some((event, v)) = super::sse_block(text) {
                ended.take(&event, &v);
            }
        };
        block("event: operationChanged\ndata: {\"type\":\"operationChanged\",\"operation\":{\"id\":7,\"state\":\"running\"}}");
        assert!(ended.get(7).is_none(), "running is not an end");
        block("event: operationChanged\ndata: {\"type\":\"operationChanged\",\"operation\":{\"id\":7,\"state\":\"succeeded\"}}");
        block("event: operationChanged\ndata: {\"operation\":{\"id\":8,\"state\":\"failed\"}}");
        block("event: lagged\ndata: {\"missed\":3}");
        block(": keep-alive");
        assert!(super::sse_block(": keep-alive").is_none());
        assert_eq!(
            super::sse_block("event: x\ndata: {\"a\":1}").map(|(e, v)| (e, v["a"].as_u64())),
            Some(("x".into(), Some(1)))
        );
        assert!(ended.get(7).is_some_and(|(_, ok)| ok));
        assert!(ended.get(8).is_some_and(|(_, ok)| !ok));
        assert_eq!(ended.lagged(), 3);
    }

    #[test]
    fn units_are_made_singular() {
        assert_eq!(super::singular("registrations"), "registration");
        assert_eq!(super::singular("sessions"), "session");
        assert_eq!(super::singular("CPU"), "CPU");
    }
}
