//! `unidm bench campaign`: a firmware campaign at scale against `unidm serve` (it needs unidm's
//! API): `--devices` simulated LwM2M clients ([`unidm_lwm2m::sim`], sharing UDP sockets,
//! `--clients-per-socket` each, every client its own objects and Firmware Update state machine)
//! register, a group selects them by a model name of this run's own, and one group firmware
//! operation updates them all, `--concurrency` at a time. Each client takes `--download-ms`
//! to download and `--update-ms` to update, so the campaign cannot end before
//! `ceil(devices / concurrency) x (download + update)`: the time beyond that is the server's
//! own overhead. The aggregate is followed on the API's event stream (`groupOperationChanged`:
//! counts only, not every member's result), with a progress line every 2 s; the server's CPU
//! time and peak resident memory are measured with `--server-pid`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;
use unidm_core::load::{usage, Usage};
use unidm_lwm2m::sim::{FirmwareBehaviour, Share, SharedSocket, SimClient, SimConfig};

use super::Api;

/// Flags of `unidm bench campaign`.
#[derive(Debug, Clone, clap::Args)]
pub struct CampaignBenchArgs {
    /// unidm's LwM2M server, `HOST:PORT`.
    #[arg(long, value_name = "HOST:PORT")]
    pub server: String,
    /// unidm's API, `http://HOST:PORT/api/v1` (groups and the group operation go through it).
    #[arg(long, value_name = "URL")]
    pub api: String,
    /// The API's bearer token (an operator's).
    #[arg(long, env = "UNIDM_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Simulated LwM2M clients (1 to 200,000).
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..=200_000))]
    pub devices: u64,
    /// Members updated at once.
    #[arg(long, default_value_t = 1_000, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub concurrency: u32,
    /// Clients sharing one UDP socket.
    #[arg(long, default_value_t = 1_000, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub clients_per_socket: u32,
    /// How long a client takes to download the image.
    #[arg(long, value_name = "MS", default_value_t = 100)]
    pub download_ms: u64,
    /// How long a client takes to install it.
    #[arg(long, value_name = "MS", default_value_t = 100)]
    pub update_ms: u64,
    /// Stop waiting for the campaign after this many seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 600)]
    pub timeout: u64,
    /// The server's process id: its CPU time and peak resident memory are reported (Linux).
    #[arg(long, value_name = "PID")]
    pub server_pid: Option<u32>,
}

/// Runs `unidm bench campaign`.
pub async fn run(args: CampaignBenchArgs) -> anyhow::Result<()> {
    let server = crate::sim::lwm2m::resolve("LwM2M server", &args.server, 5683).await?;
    let api = Arc::new(Api::new(&args.api, args.token.clone())?);
    let n = args.devices as usize;
    // A model name of this run's own: the group selects exactly these clients.
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    let run_id = format!("{:x}", (nanos as u64) ^ u64::from(std::process::id()));
    let model = format!("campaign-{run_id}");
    let (download, update) = (Duration::from_millis(args.download_ms), Duration::from_millis(args.update_ms));
    let rounds = n.div_ceil(args.concurrency as usize) as u32;
    let floor = (download + update) * rounds;
    println!(
        "unidm bench campaign: {n} LwM2M clients (model {model}, {} per socket) against coap://{server}, firmware at concurrency {}; each client downloads in {} ms and updates in {} ms, so at least {:.1} s",
        args.clients_per_socket,
        args.concurrency,
        args.download_ms,
        args.update_ms,
        floor.as_secs_f64()
    );

    let clients = start_fleet(&args, server, &model, download, update).await?;
    let group = format!("bench-{run_id}");
    let selector = serde_json::json!({"protocol": "lwm2m", "model": model});
    api.post("/groups", &serde_json::json!({"id": group, "selector": selector}), 201).await?;
    // Members are those whose model the server has read: wait until every client counts.
    wait_members(&api, &group, n).await?;

    let mut events = api.events("groupOperationChanged").await?;
    let pid = args.server_pid.map(|p| p.to_string());
    let before = pid.as_deref().and_then(usage);
    let started = Instant::now();
    let body = serde_json::json!({
        "action": {"kind": "firmware", "uri": "http://127.0.0.1/unidm-bench-2.0.bin", "version": "2.0"},
        "concurrency": args.concurrency,
    });
    let gop = api.post(&format!("/groups/{group}/operations"), &body, 202).await?;
    let id = gop["id"].as_u64().ok_or_else(|| anyhow::anyhow!("no group operation id in {gop}"))?;
    let mut peak = before.map_or(0, |u| u.rss);
    let mut last = serde_json::Value::Null;
    let mut shown = Instant::now();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(args.timeout);
    let done = loop {
        let next = tokio::time::timeout_at(deadline, events.recv()).await;
        if let Some(u) = pid.as_deref().and_then(usage) {
            peak = peak.max(u.rss);
        }
        match next {
            Err(_) => break false,
            Ok(None) => anyhow::bail!("the event stream ended"),
            Ok(Some((_, v))) if v["id"].as_u64() == Some(id) => {
                last = v["aggregate"].clone();
                if last["done"] == true {
                    break true;
                }
                if shown.elapsed() >= Duration::from_secs(2) {
                    shown = Instant::now();
                    println!("  {:>6.1} s  {}", started.elapsed().as_secs_f64(), counts(&last));
                }
            }
            Ok(Some(_)) => {}
        }
    };
    let took = started.elapsed();
    let after = pid.as_deref().and_then(usage);
    println!("campaign");
    println!(
        "  done:          {} in {:.2} s ({})",
        counts(&last),
        took.as_secs_f64(),
        if done { "every member ended" } else { "gave up waiting" }
    );
    println!(
        "  overhead:      {:.2} s beyond the clients' own {:.1} s ({rounds} rounds of {} + {} ms)",
        took.saturating_sub(floor).as_secs_f64(),
        floor.as_secs_f64(),
        args.download_ms,
        args.update_ms
    );
    if let (Some(b), Some(a)) = (before, after) {
        report_server(b, a, peak, n);
    }
    let updated = clients.iter().filter(|c| c.update_executes() > 0).count();
    println!("  clients:       {updated} of {n} executed the update");
    anyhow::ensure!(done, "the campaign did not end within {} s", args.timeout);
    Ok(())
}

fn report_server(before: Usage, after: Usage, peak: u64, n: usize) {
    let cpu = after.cpu.saturating_sub(before.cpu);
    println!(
        "  server:        CPU {:.2} s = {:.0} µs per device; peak resident memory {:.1} MiB",
        cpu.as_secs_f64(),
        cpu.as_secs_f64() * 1e6 / n.max(1) as f64,
        peak as f64 / 1048576.0
    );
}

/// `succeeded 900, running 100` from an aggregate's counts.
fn counts(aggregate: &serde_json::Value) -> String {
    let Some(counts) = aggregate["counts"].as_object() else { return "nothing yet".into() };
    counts.iter().map(|(k, v)| format!("{k} {v}")).collect::<Vec<_>>().join(", ")
}

/// Starts and registers `--devices` clients, sharing sockets; 256 registrations at a time.
async fn start_fleet(
    args: &CampaignBenchArgs,
    server: SocketAddr,
    model: &str,
    download: Duration,
    update: Duration,
) -> anyhow::Result<Vec<Arc<SimClient>>> {
    let n = args.devices as usize;
    let bind = SocketAddr::new(if server.ip().is_loopback() { server.ip() } else { [0, 0, 0, 0].into() }, 0);
    let started = Instant::now();
    let slots = Arc::new(Semaphore::new(256));
    let mut share = None;
    let (mut clients, mut registering) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for i in 0..n {
        if i % args.clients_per_socket as usize == 0 {
            share = Some(Share(SharedSocket::bind(bind, i as u16).await?));
        }
        let endpoint = format!("{model}-{i}");
        let config = SimConfig {
            model: model.to_owned(),
            serial: format!("SN-{endpoint}"),
            lifetime_s: 3600,
            firmware: FirmwareBehaviour { download_delay: download, update_delay: update, ..Default::default() },
            shared_socket: share.clone(),
            ..SimConfig::new(&endpoint, server)
        };
        let client = Arc::new(SimClient::start(config).await?);
        let permit = slots.clone().acquire_owned().await?;
        let c = client.clone();
        registering.push(tokio::spawn(async move {
            let _permit = permit;
            c.register().await
        }));
        clients.push(client);
    }
    let mut failed = 0;
    for r in registering {
        if !matches!(r.await, Ok(Ok(()))) {
            failed += 1;
        }
    }
    anyhow::ensure!(
        failed == 0,
        "{failed} of {n} clients did not register (is `[lwm2m] max_registers_per_source` high enough?)"
    );
    println!("registered {n} clients in {:.2} s (not timed below)", started.elapsed().as_secs_f64());
    Ok(clients)
}

/// Waits until the group has `n` members (the server reads each client's model after it
/// registered).
async fn wait_members(api: &Api, group: &str, n: usize) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let members = api.get(&format!("/groups/{group}/members")).await?;
        let count = members.as_array().map_or(0, Vec::len);
        if count >= n {
            return Ok(());
        }
        anyhow::ensure!(Instant::now() < deadline, "group {group} has {count} of {n} members after 120 s");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn counts_are_shown_by_state() {
        let a = serde_json::json!({"counts": {"running": 3, "succeeded": 7}, "done": false});
        assert_eq!(super::counts(&a), "running 3, succeeded 7");
        assert_eq!(super::counts(&serde_json::Value::Null), "nothing yet");
    }
}
