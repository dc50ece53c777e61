//! `unidm bench campaign`: a firmware campaign at scale against `unidm serve` (it needs unidm's
//! API). `--devices` simulated devices start in this process, `--tr069` of them TR-069 CPEs,
//! `--omadm` OMA DM clients and the rest LwM2M clients, each with its own state and firmware
//! procedure, and all sharing sockets, `--clients-per-socket` each ([`fleets`]); a group
//! selects them by a model name of this run's own, whatever their protocol, and one group
//! firmware operation updates them all, `--concurrency` at a time, each through its own
//! protocol (LwM2M: `/5` pull; TR-069: connection request, Download, TransferComplete; OMA DM:
//! Package #0, FUMO `DownloadAndUpdate`, Generic Alert 1226). Every device takes
//! `--download-ms` to download and `--update-ms` to update, whatever its protocol, and the
//! group operation holds a member's slot until it ends, so the campaign cannot end before
//! `ceil(devices / concurrency) x (download + update)`: the time beyond that is the server's
//! own overhead. The aggregate is followed on the API's event stream (`groupOperationChanged`:
//! counts only, not every member's result), with a progress line every 2 s; once it is done,
//! the members' results are read once to count them per protocol. The server's CPU time and
//! peak resident memory are measured with `--server-pid`.

pub(crate) mod fleets;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use unidm_core::load::{usage, Usage};

use super::Api;

/// Flags of `unidm bench campaign`.
#[derive(Debug, Clone, clap::Args)]
pub struct CampaignBenchArgs {
    /// unidm's LwM2M server, `HOST:PORT` (needed unless every device is TR-069 or OMA DM).
    #[arg(long, value_name = "HOST:PORT")]
    pub server: Option<String>,
    /// unidm's TR-069 ACS, e.g. `http://127.0.0.1:7547/` (needed with `--tr069`).
    #[arg(long, value_name = "URL")]
    pub acs: Option<String>,
    /// unidm's OMA DM server, e.g. `http://127.0.0.1:8081/dm` (needed with `--omadm`).
    #[arg(long, value_name = "URL")]
    pub dm: Option<String>,
    /// unidm's API, `http://HOST:PORT/api/v1` (groups and the group operation go through it).
    #[arg(long, value_name = "URL")]
    pub api: String,
    /// The API's bearer token (an operator's).
    #[arg(long, env = "UNIDM_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Simulated devices in all (1 to 200,000): `--tr069` of them are TR-069 CPEs, `--omadm`
    /// OMA DM clients, the rest LwM2M clients.
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..=200_000))]
    pub devices: u64,
    /// How many of `--devices` are TR-069 CPEs.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub tr069: u64,
    /// How many of `--devices` are OMA DM clients.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub omadm: u64,
    /// Members updated at once.
    #[arg(long, default_value_t = 1_000, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub concurrency: u32,
    /// Devices sharing one socket: LwM2M clients a UDP socket; TR-069 CPEs a connection-request
    /// listener and a pool of connections to the ACS; OMA DM clients a Package #0 listener
    /// and an HTTP client.
    #[arg(long, default_value_t = 1_000, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub clients_per_socket: u32,
    /// How long a device takes to download the image.
    #[arg(long, value_name = "MS", default_value_t = 100)]
    pub download_ms: u64,
    /// How long a device takes to install it.
    #[arg(long, value_name = "MS", default_value_t = 100)]
    pub update_ms: u64,
    /// Stop waiting for the campaign after this many seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 600)]
    pub timeout: u64,
    /// The server's process id: its CPU time and peak resident memory are reported (Linux).
    #[arg(long, value_name = "PID")]
    pub server_pid: Option<u32>,
}

/// How many devices of each protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Mix {
    lwm2m: usize,
    tr069: usize,
    omadm: usize,
}

impl Mix {
    /// The mix the flags ask for, with the servers it needs.
    fn of(args: &CampaignBenchArgs) -> anyhow::Result<Mix> {
        let (total, tr069, omadm) = (args.devices, args.tr069, args.omadm);
        anyhow::ensure!(
            tr069.saturating_add(omadm) <= total,
            "--tr069 {tr069} and --omadm {omadm} are more than --devices {total} (the LwM2M clients are the rest)"
        );
        let mix = Mix { lwm2m: (total - tr069 - omadm) as usize, tr069: tr069 as usize, omadm: omadm as usize };
        let needs = [
            (mix.lwm2m, args.server.is_some(), "--server (the LwM2M server)", "LwM2M clients"),
            (mix.tr069, args.acs.is_some(), "--acs (the ACS URL)", "--tr069"),
            (mix.omadm, args.dm.is_some(), "--dm (the OMA DM server URL)", "--omadm"),
        ];
        for (n, given, flag, what) in needs {
            anyhow::ensure!(n == 0 || given, "{n} {what} need {flag}");
        }
        Ok(mix)
    }

    fn total(&self) -> usize {
        self.lwm2m + self.tr069 + self.omadm
    }

    /// `80000 LwM2M, 10000 TR-069, 10000 OMA DM` (the protocols present).
    fn describe(&self) -> String {
        let parts = [(self.lwm2m, "LwM2M"), (self.tr069, "TR-069"), (self.omadm, "OMA DM")];
        parts.iter().filter(|(n, _)| *n > 0).map(|(n, p)| format!("{n} {p}")).collect::<Vec<_>>().join(", ")
    }
}

/// The lower bound of a campaign: each of `ceil(members / concurrency)` rounds takes a
/// device's own download and update, whatever its protocol.
fn floor(members: usize, concurrency: u32, per_device: Duration) -> (u32, Duration) {
    let rounds = members.div_ceil(concurrency.max(1) as usize) as u32;
    (rounds, per_device * rounds)
}

/// Runs `unidm bench campaign`.
pub async fn run(args: CampaignBenchArgs) -> anyhow::Result<()> {
    let mix = Mix::of(&args)?;
    let lwm2m_server = match &args.server {
        Some(s) if mix.lwm2m > 0 => Some(crate::sim::lwm2m::resolve("LwM2M server", s, 5683).await?),
        _ => None,
    };
    let acs = match &args.acs {
        Some(url) if mix.tr069 > 0 => Some((url, reach(url, "ACS").await?)),
        _ => None,
    };
    let dm = match &args.dm {
        Some(url) if mix.omadm > 0 => Some((url, reach(url, "OMA DM server").await?)),
        _ => None,
    };
    let api = Arc::new(Api::new(&args.api, args.token.clone())?);
    let n = mix.total();
    // A model name of this run's own: the group selects exactly these devices.
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    let run_id = format!("{:x}", (nanos as u64) ^ u64::from(std::process::id()));
    let model = format!("campaign-{run_id}");
    let (download, update) = (Duration::from_millis(args.download_ms), Duration::from_millis(args.update_ms));
    let (rounds, floor) = floor(n, args.concurrency, download + update);
    println!(
        "unidm bench campaign: {n} devices ({}; model {model}, {} per socket), firmware at concurrency {}; each device downloads in {} ms and updates in {} ms, so at least {:.1} s",
        mix.describe(),
        args.clients_per_socket,
        args.concurrency,
        args.download_ms,
        args.update_ms,
        floor.as_secs_f64()
    );

    let plan =
        fleets::Plan { model: &model, run_id: &run_id, download, update, per_socket: args.clients_per_socket as usize };
    let clients = match lwm2m_server {
        Some(server) => fleets::lwm2m(&plan, server, mix.lwm2m).await?,
        None => Vec::new(),
    };
    let (cpes, _cpe_hosts) = match acs {
        Some((url, addr)) => fleets::tr069(&plan, url, addr, mix.tr069).await?,
        None => Default::default(),
    };
    let (dm_clients, _dm_hosts) = match dm {
        Some((url, addr)) => fleets::omadm(&plan, &api, url, addr, mix.omadm).await?,
        None => Default::default(),
    };
    let group = format!("bench-{run_id}");
    let selector = serde_json::json!({"model": model});
    api.post("/groups", &serde_json::json!({"id": group, "selector": selector}), 201).await?;
    // Members are those whose model the server has read: wait until every device counts.
    wait_members(&api, &group, n).await?;

    let mut events = api.events("groupOperationChanged").await?;
    let pid = args.server_pid.map(|p| p.to_string());
    let before = pid.as_deref().and_then(usage);
    let started = Instant::now();
    let body = serde_json::json!({
        "action": {"kind": "firmware", "uri": format!("http://127.0.0.1/unidm-bench-{}.bin", fleets::VERSION), "version": fleets::VERSION},
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
        "  overhead:      {:.2} s beyond the devices' own {:.1} s ({rounds} rounds of {} + {} ms)",
        took.saturating_sub(floor).as_secs_f64(),
        floor.as_secs_f64(),
        args.download_ms,
        args.update_ms
    );
    // Every member's result, once (not timed): per protocol.
    match api.get(&format!("/group-operations/{id}")).await {
        Ok(view) => println!("  by protocol:   {}", by_protocol(&view["aggregate"]["results"])),
        Err(e) => println!("  by protocol:   unknown ({e})"),
    }
    if let (Some(b), Some(a)) = (before, after) {
        report_server(b, a, peak, n);
    }
    let mut devices = Vec::new();
    if mix.lwm2m > 0 {
        let updated = clients.iter().filter(|c| c.update_executes() > 0).count();
        devices.push(format!("{updated} of {} LwM2M clients executed the update", mix.lwm2m));
    }
    if mix.tr069 > 0 {
        let version = "Device.DeviceInfo.SoftwareVersion";
        let updated = cpes.iter().filter(|c| c.get(version).as_deref() == Some(fleets::VERSION)).count();
        devices.push(format!("{updated} of {} CPEs run the new image", mix.tr069));
    }
    if mix.omadm > 0 {
        let updated = dm_clients.iter().filter(|d| d.node("./FUMO/State").as_deref() == Some("100")).count();
        devices.push(format!("{updated} of {} DM clients ended FUMO in Update Successful", mix.omadm));
    }
    println!("  devices:       {}", devices.join("; "));
    // How often the server woke the devices that wait for it (one each is the least).
    let mut wakeups = Vec::new();
    if mix.tr069 > 0 {
        let requests: u64 = cpes.iter().map(|c| c.stats().connection_requests).sum();
        wakeups.push(format!("{requests} connection requests to {} CPEs", mix.tr069));
    }
    if mix.omadm > 0 {
        let notes: u64 = dm_clients.iter().map(|d| u64::from(d.notifications())).sum();
        wakeups.push(format!("{notes} Package #0 to {} DM clients", mix.omadm));
    }
    if !wakeups.is_empty() {
        println!("  wake-ups:      {}", wakeups.join("; "));
    }
    anyhow::ensure!(done, "the campaign did not end within {} s", args.timeout);
    Ok(())
}

/// `url`'s address once a TCP connection to it succeeded.
async fn reach(url: &str, what: &str) -> anyhow::Result<std::net::SocketAddr> {
    let parsed = reqwest::Url::parse(url).map_err(|e| anyhow::anyhow!("{url}: not a URL: {e}"))?;
    anyhow::ensure!(parsed.scheme() == "http", "{url}: the simulated devices speak plain http://");
    super::reach(&parsed, what).await
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

/// `lwm2m 80 succeeded, 0 failed; tr069 ...` from the members' results (states other than
/// succeeded and failed, e.g. unfinished ones, follow when there are any).
fn by_protocol(results: &serde_json::Value) -> String {
    let mut per: BTreeMap<&str, BTreeMap<&str, usize>> = BTreeMap::new();
    for r in results.as_array().into_iter().flatten() {
        let protocol = r["device"].as_str().and_then(|d| d.split_once(':')).map_or("?", |(p, _)| p);
        *per.entry(protocol).or_default().entry(r["state"].as_str().unwrap_or("?")).or_default() += 1;
    }
    if per.is_empty() {
        return "no member results".into();
    }
    let protocol = |(p, mut states): (&str, BTreeMap<&str, usize>)| {
        let mut words = Vec::new();
        for state in ["succeeded", "failed"] {
            words.push(format!("{} {state}", states.remove(state).unwrap_or(0)));
        }
        words.extend(states.iter().map(|(s, n)| format!("{n} {s}")));
        format!("{p} {}", words.join(", "))
    };
    per.into_iter().map(protocol).collect::<Vec<_>>().join("; ")
}

/// Waits until the group has `n` members (the server reads each device's model after it
/// registered, or in its first session).
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
    use super::*;

    fn args(devices: u64, tr069: u64, omadm: u64) -> CampaignBenchArgs {
        CampaignBenchArgs {
            server: Some("127.0.0.1:5683".into()),
            acs: Some("http://127.0.0.1:7547/".into()),
            dm: None,
            api: "http://127.0.0.1:8080/api/v1".into(),
            token: None,
            devices,
            tr069,
            omadm,
            concurrency: 1_000,
            clients_per_socket: 1_000,
            download_ms: 100,
            update_ms: 100,
            timeout: 600,
            server_pid: None,
        }
    }

    #[test]
    fn counts_are_shown_by_state() {
        let a = serde_json::json!({"counts": {"running": 3, "succeeded": 7}, "done": false});
        assert_eq!(counts(&a), "running 3, succeeded 7");
        assert_eq!(counts(&serde_json::Value::Null), "nothing yet");
    }

    #[test]
    fn the_mix_takes_tr069_and_omadm_out_of_the_devices() {
        let mix = Mix::of(&args(100, 10, 0)).unwrap();
        assert_eq!(mix, Mix { lwm2m: 90, tr069: 10, omadm: 0 });
        assert_eq!(mix.describe(), "90 LwM2M, 10 TR-069");
        assert_eq!(mix.total(), 100);
        let e = Mix::of(&args(10, 6, 5)).unwrap_err().to_string();
        assert!(e.contains("more than --devices 10"), "{e}");
        let e = Mix::of(&args(10, 0, 5)).unwrap_err().to_string();
        assert!(e.contains("5 --omadm need --dm"), "{e}");
        // Only TR-069: no LwM2M server needed.
        let only = CampaignBenchArgs { server: None, ..args(10, 10, 0) };
        assert_eq!(Mix::of(&only).unwrap().describe(), "10 TR-069");
        let e = Mix::of(&CampaignBenchArgs { server: None, ..args(10, 5, 0) }).unwrap_err().to_string();
        assert!(e.contains("5 LwM2M clients need --server"), "{e}");
    }

    #[test]
    fn the_floor_is_rounds_of_the_whole_mix() {
        let each = Duration::from_millis(200);
        assert_eq!(floor(100_000, 1_000, each), (100, Duration::from_secs(20)));
        assert_eq!(floor(100_001, 1_000, each), (101, Duration::from_millis(20_200)));
        assert_eq!(floor(60, 20, Duration::from_millis(40)), (3, Duration::from_millis(120)));
    }

    #[test]
    fn results_are_counted_per_protocol() {
        let results = serde_json::json!([
            {"device": "lwm2m:a", "state": "succeeded"},
            {"device": "tr069:00D09E-X-1", "state": "failed"},
            {"device": "tr069:00D09E-X-2", "state": "succeeded"},
            {"device": "omadm:d", "state": "running"},
        ]);
        assert_eq!(
            by_protocol(&results),
            "lwm2m 1 succeeded, 0 failed; omadm 0 succeeded, 0 failed, 1 running; tr069 1 succeeded, 1 failed"
        );
        assert_eq!(by_protocol(&serde_json::Value::Null), "no member results");
    }
}
