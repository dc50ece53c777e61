//! `unidm bench operations`: operation creates through unidm's API, each answered only once it
//! is committed to the store. The tool pre-provisions `--devices` devices of its own (ids
//! `lwm2m:unidm-bench-ops-{pid}-{n}` or of `--protocol`, label `unidm-bench`), which never connect, so the
//! operations wait for them; it creates `--operations` reboots on them, `--batch` per request
//! (`POST /operations/batch`; 1 sends `POST /operations` one by one) from `--clients`
//! concurrent callers, and at the end deletes its devices, which cancels their operations
//! (`--keep` leaves them). Run it against a server you can load: every operation is stored.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context as _;
use serde_json::json;
use unidm_core::load::Latencies;

use super::{Api, Meter};

/// Flags of `unidm bench operations`.
#[derive(Debug, Clone, clap::Args)]
pub struct OperationsBenchArgs {
    /// unidm's API, `http://HOST:PORT/api/v1`.
    #[arg(long, value_name = "URL")]
    pub api: String,
    /// The API's bearer token (an operator's).
    #[arg(long, env = "UNIDM_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Operations to create in all.
    #[arg(long, default_value_t = 200_000, value_parser = clap::value_parser!(u64).range(1..=5_000_000))]
    pub operations: u64,
    /// Operations per request (`POST /operations/batch`); 1 creates them one by one
    /// (`POST /operations`).
    #[arg(long, default_value_t = 1_000, value_parser = clap::value_parser!(u64).range(1..=1_000))]
    pub batch: u64,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u64).range(1..=1_024))]
    pub clients: u64,
    /// Devices the operations are spread over (provisioned by the tool, deleted at the end).
    #[arg(long, default_value_t = 1_000, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub devices: u64,
    /// The devices' protocol. Against a server that runs its adapter, each operation is also
    /// dispatched to it (and waits there for a device that never comes); against one that does
    /// not (e.g. `unidm serve --omadm false` and `omadm`), operations stay pending and the
    /// figure is the create-and-commit path alone.
    #[arg(long, value_enum, default_value_t = BenchProtocol::Lwm2m)]
    pub protocol: BenchProtocol,
    /// Leave the devices and their operations on the server.
    #[arg(long)]
    pub keep: bool,
    /// The server's process id: its CPU time and resident memory are reported (Linux).
    #[arg(long, value_name = "PID")]
    pub server_pid: Option<u32>,
}

/// The protocol of the tool's devices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BenchProtocol {
    /// `lwm2m:` devices.
    Lwm2m,
    /// `tr069:` devices.
    Tr069,
    /// `omadm:` devices.
    Omadm,
}

impl BenchProtocol {
    fn prefix(self) -> &'static str {
        match self {
            BenchProtocol::Lwm2m => "lwm2m",
            BenchProtocol::Tr069 => "tr069",
            BenchProtocol::Omadm => "omadm",
        }
    }
}

/// What the callers counted.
#[derive(Default)]
struct Tally {
    created: usize,
    refused: usize,
    /// Failed requests by their reason (an HTTP status or a transport error).
    failed: Vec<String>,
    latencies: Latencies,
}

/// Runs `unidm bench operations`.
pub async fn run(args: OperationsBenchArgs) -> anyhow::Result<()> {
    let api = Arc::new(Api::new(&args.api, args.token.clone())?);
    let url = reqwest::Url::parse(&args.api)?;
    super::reach(&url, "unidm API").await?;
    let devices: Arc<Vec<String>> =
        Arc::new((0..args.devices).map(|n| device_id(args.protocol, std::process::id(), n)).collect());
    println!(
        "unidm bench operations: {} reboots over {} devices of its own through {}, {} per request, {} requests in flight",
        args.operations, args.devices, args.api, args.batch, args.clients
    );

    let meter = Meter::start(args.server_pid);
    let provisioned = each(&devices, args.clients, {
        let api = api.clone();
        move |id| {
            let api = api.clone();
            async move {
                let body = json!({ "id": id, "labels": { "unidm-bench": "operations" } });
                api.post("/devices", &body, 201).await.map(|_| ())
            }
        }
    })
    .await
    .context("provisioning the devices")?;
    let mut none = Latencies::default();
    meter.report("provision", provisioned, devices.len(), "provisioned", "devices", &mut none, "none");

    let meter = Meter::start(args.server_pid);
    let tally = create(&api, &devices, &args).await;
    let errors = if tally.failed.is_empty() && tally.refused == 0 {
        "none".to_owned()
    } else {
        format!(
            "{} refused by the server, {} requests failed {:?}",
            tally.refused,
            tally.failed.len(),
            first(&tally.failed)
        )
    };
    let mut latencies = tally.latencies;
    let what = format!("created, committed ({} per request; latency per request)", args.batch);
    meter.report(
        "operation creates",
        tally.created,
        args.operations as usize,
        &what,
        "operations",
        &mut latencies,
        &errors,
    );

    if args.keep {
        println!("devices kept: label unidm-bench=operations");
        return Ok(());
    }
    let meter = Meter::start(args.server_pid);
    let deleted = each(&devices, args.clients, {
        let api = api.clone();
        move |id| {
            let api = api.clone();
            async move {
                let (status, v) = api.send(reqwest::Method::DELETE, &format!("/devices/{id}"), None).await?;
                anyhow::ensure!(status == 204, "DELETE /devices/{id}: HTTP {status} {}", v["detail"]);
                Ok(())
            }
        }
    })
    .await
    .context("deleting the devices")?;
    meter.report("clean-up", deleted, devices.len(), "deleted with their operations", "devices", &mut none, "none");
    Ok(())
}

/// Creates the operations: `clients` callers take the next request's share until all are sent.
async fn create(api: &Arc<Api>, devices: &Arc<Vec<String>>, args: &OperationsBenchArgs) -> Tally {
    let total = args.operations as usize;
    let batch = args.batch as usize;
    let next = Arc::new(AtomicUsize::new(0));
    let mut callers = tokio::task::JoinSet::new();
    for _ in 0..args.clients {
        let (api, devices, next) = (api.clone(), devices.clone(), next.clone());
        callers.spawn(async move {
            let mut tally = Tally::default();
            loop {
                let start = next.fetch_add(batch, Ordering::Relaxed);
                if start >= total {
                    return tally;
                }
                let ops: Vec<serde_json::Value> = (start..total.min(start + batch))
                    .map(|n| json!({ "device": devices[n % devices.len()], "action": { "kind": "reboot" } }))
                    .collect();
                let asked = ops.len();
                let began = Instant::now();
                let sent = if batch == 1 {
                    api.send(reqwest::Method::POST, "/operations", ops.first()).await
                } else {
                    api.send(reqwest::Method::POST, "/operations/batch", Some(&json!({ "operations": ops }))).await
                };
                let took = began.elapsed();
                match sent {
                    Ok((202, _)) if batch == 1 => {
                        tally.created += 1;
                        tally.latencies.push(took);
                    }
                    Ok((200, v)) if batch > 1 => {
                        let created = v["created"].as_u64().unwrap_or(0) as usize;
                        tally.created += created;
                        tally.refused += asked - created.min(asked);
                        tally.latencies.push(took);
                    }
                    Ok((status, v)) => {
                        tally.failed.push(format!("HTTP {status} {}", v["detail"].as_str().unwrap_or("")))
                    }
                    Err(e) => tally.failed.push(format!("{e:#}")),
                }
            }
        });
    }
    let mut all = Tally::default();
    while let Some(done) = callers.join_next().await {
        if let Ok(t) = done {
            all.created += t.created;
            all.refused += t.refused;
            all.failed.extend(t.failed);
            all.latencies.extend(t.latencies);
        }
    }
    all
}

/// Runs `work` on every device id, `clients` at a time; how many succeeded, or the first error
/// when any failed.
async fn each<F, Fut>(devices: &Arc<Vec<String>>, clients: u64, work: F) -> anyhow::Result<usize>
where
    F: Fn(String) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = anyhow::Result<()>> + Send,
{
    let next = Arc::new(AtomicUsize::new(0));
    let mut workers: tokio::task::JoinSet<anyhow::Result<usize>> = tokio::task::JoinSet::new();
    for _ in 0..clients {
        let (devices, next, work) = (devices.clone(), next.clone(), work.clone());
        workers.spawn(async move {
            let mut done = 0;
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                let Some(id) = devices.get(n) else { return Ok(done) };
                work(id.clone()).await?;
                done += 1;
            }
        });
    }
    let mut done = 0;
    while let Some(r) = workers.join_next().await {
        done += r.map_err(|e| anyhow::anyhow!("a worker stopped: {e}"))??;
    }
    Ok(done)
}

/// The id of the tool's device `n`, a valid native id of each protocol (TR-069:
/// `OUI-ProductClass-Serial`).
fn device_id(protocol: BenchProtocol, pid: u32, n: u64) -> String {
    match protocol {
        BenchProtocol::Tr069 => format!("tr069:000000-unidmbench-{pid}x{n}"),
        p => format!("{}:unidm-bench-ops-{pid}-{n}", p.prefix()),
    }
}

/// The first reason of a list, for the errors line.
fn first(reasons: &[String]) -> &str {
    reasons.first().map(String::as_str).unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tools_device_ids_are_valid_and_of_their_protocol() {
        for p in [BenchProtocol::Lwm2m, BenchProtocol::Tr069, BenchProtocol::Omadm] {
            let id = unidm_models::DeviceId::parse(&device_id(p, 42, 7)).unwrap();
            assert_eq!(id.protocol().to_string(), p.prefix());
            assert_ne!(device_id(p, 42, 7), device_id(p, 42, 8));
        }
    }
}
