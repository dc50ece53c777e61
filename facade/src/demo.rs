//! `unidm demo`: the whole product in one command. It starts `unidm serve` (this binary, in a
//! temporary folder unless `--db` names one), a mixed simulated fleet against it (LwM2M
//! clients with a gateway and its end devices, TR-069 CPEs of both data models, OMA DM
//! clients, a few devices that fail their firmware update on purpose), and walks through the
//! main job over the API: the inventory by protocol, a group of every device, a firmware
//! campaign with live progress per protocol and an ETA, the failures with their reasons, a
//! reboot, the topology, and a summary. Ctrl-C stops everything.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::{json, Value};

use crate::bench::campaign::fleets::{self, Plan};
use crate::bench::Api;

/// The model every simulated device of the demo reports.
const MODEL: &str = "unidm-demo";

/// `unidm demo`'s options.
#[derive(Debug, Clone, clap::Args)]
pub struct DemoArgs {
    /// How many simulated devices, 20 to 20000 (60 % LwM2M, 25 % TR-069, 15 % OMA DM).
    #[arg(long, default_value_t = 300, value_parser = clap::value_parser!(u32).range(20..=20_000))]
    pub size: u32,
    /// The database file (default: a temporary folder, removed at the end).
    #[arg(long)]
    pub db: Option<std::path::PathBuf>,
    /// Every server on 127.0.0.1 and a port the system picks, instead of the defaults (API
    /// 8080, LwM2M 5683, ACS 7547, OMA DM 8081): for a machine where those are taken, and
    /// for tests.
    #[arg(long)]
    pub ephemeral_ports: bool,
    /// How long each simulated device takes to download, then to apply, an image.
    #[arg(long, default_value_t = 200, value_name = "MS")]
    pub step_ms: u64,
}

/// The `serve` child and the addresses it printed.
struct Server {
    child: Child,
    api: String,
    lwm2m: SocketAddr,
    acs: String,
    dm: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        // SIGTERM: serve stops gracefully, finishing its writes.
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let _ = self.child.wait();
    }
}

/// Starts `unidm serve` on `db` and reads the addresses it prints.
fn start_server(db: &std::path::Path, ephemeral: bool) -> anyhow::Result<Server> {
    let dir = db.parent().unwrap_or(std::path::Path::new("."));
    let config = dir.join("unidm-demo.toml");
    // Every simulated device comes from this one address; the OMA DM clients get credentials
    // of their own through the API, the account below is the default for others.
    let mut secret = [0u8; 12];
    getrandom::fill(&mut secret).map_err(|e| anyhow::anyhow!("no OS randomness: {e}"))?;
    let password = unidm_core::hex::encode(&secret);
    let toml = format!(
        "[lwm2m]\nmax_registers_per_source = 1000000\n[omadm]\nusername = \"demo\"\npassword = \"{password}\"\n"
    );
    std::fs::write(&config, toml)?;
    let mut cmd = Command::new(std::env::current_exe()?);
    cmd.arg("serve").arg("--config").arg(&config).arg("--db").arg(db).arg("--files-dir").arg(dir.join("files"));
    if ephemeral {
        for flag in ["--listen", "--lwm2m-listen", "--tr069-listen", "--omadm-listen"] {
            cmd.args([flag, "127.0.0.1:0"]);
        }
    }
    let mut child = cmd.env("UNIDM_LOG", "warn").stdout(Stdio::piped()).spawn().context("starting unidm serve")?;
    let stdout = child.stdout.take().context("serve's output")?;
    let mut lines = BufReader::new(stdout).lines();
    let (mut api, mut lwm2m, mut acs, mut dm) = (None, None, None, None);
    while api.is_none() || lwm2m.is_none() || acs.is_none() || dm.is_none() {
        let Some(line) = lines.next().transpose()? else { anyhow::bail!("unidm serve stopped before it listened") };
        let word = |n: usize| line.split_whitespace().nth(n).map(str::to_owned);
        if line.starts_with("unidm listening on") {
            api = word(3).map(|a| format!("{a}/api/v1"));
        } else if line.starts_with("lwm2m server listening on coap://") {
            lwm2m = word(4).and_then(|a| a.trim_start_matches("coap://").parse().ok());
        } else if line.starts_with("tr069 ACS listening on") {
            acs = line.split("CPEs use ").nth(1).map(|u| u.trim_end_matches(')').to_owned());
        } else if line.starts_with("omadm server listening on") {
            dm = line.split("devices use ").nth(1).map(|u| u.trim_end_matches(')').to_owned());
        }
    }
    // The rest of serve's output is not needed; keep its pipe drained.
    std::thread::spawn(move || lines.for_each(drop));
    Ok(Server {
        api: api.context("the API address")?,
        lwm2m: lwm2m.context("the LwM2M address")?,
        acs: acs.context("the ACS URL")?,
        dm: dm.context("the OMA DM URL")?,
        child,
    })
}

/// Runs the demo; Ctrl-C stops it.
pub async fn run(args: DemoArgs) -> anyhow::Result<()> {
    tokio::select! {
        r = walk(args) => r,
        _ = tokio::signal::ctrl_c() => {
            println!("\nstopped");
            Ok(())
        }
    }
}

async fn walk(args: DemoArgs) -> anyhow::Result<()> {
    let temp = tempfile::tempdir()?;
    let db = args.db.clone().unwrap_or_else(|| temp.path().join("unidm.db"));
    let server = start_server(&db, args.ephemeral_ports)?;
    let api = Arc::new(Api::new(&server.api, None)?);
    println!("unidm is running:");
    println!("  API      {}   (try: curl {}/devices?limit=5)", server.api, server.api);
    println!("  events   {}/events   (server-sent events)", server.api);
    println!("  LwM2M    coap://{}   TR-069 ACS {}   OMA DM {}", server.lwm2m, server.acs, server.dm);
    println!("  database {}", db.display());

    // The fleet.
    let n = args.size as usize;
    let (n_tr069, n_dm) = (n / 4, n * 15 / 100);
    let n_lwm2m = n - n_tr069 - n_dm;
    let step = Duration::from_millis(args.step_ms);
    let plan = Plan { model: MODEL, run_id: "demo", download: step, update: step, per_socket: 1000 };
    println!("\nstarting {n} simulated devices ...");
    // Two LwM2M clients fail their update on purpose; one is a gateway with 3 end devices.
    let mut extras = Vec::new();
    for (name, children, update_result) in [("demo-gateway", 3, 1), ("demo-broken-1", 0, 8), ("demo-broken-2", 0, 5)] {
        let config = unidm_lwm2m::sim::SimConfig {
            model: MODEL.into(),
            gateway_children: children,
            firmware: unidm_lwm2m::sim::FirmwareBehaviour {
                download_delay: step,
                update_delay: step,
                update_result,
                ..Default::default()
            },
            ..unidm_lwm2m::sim::SimConfig::new(name, server.lwm2m)
        };
        let client = unidm_lwm2m::sim::SimClient::start(config).await?;
        client.register().await.map_err(|e| anyhow::anyhow!("{name} did not register: {e}"))?;
        extras.push(client);
    }
    let _lwm2m = fleets::lwm2m(&plan, server.lwm2m, n_lwm2m.saturating_sub(extras.len())).await?;
    let acs_addr = crate::bench::reach(&reqwest::Url::parse(&server.acs)?, "the ACS").await?;
    let (_cpes, _hosts) = fleets::tr069(&plan, &server.acs, acs_addr, n_tr069.saturating_sub(1)).await?;
    // One CPE of the other data model (TR-098, a real CPE's parameter tree).
    let mut tree = unidm_tr069::sim::ParameterTree::bm632w();
    tree.set_text("InternetGatewayDevice.DeviceInfo.ModelName", MODEL);
    let cpe098 = unidm_tr069::sim::SimCpe::start(unidm_tr069::sim::SimConfig {
        download_delay: step,
        reboot_delay: step,
        firmware_version: Some(fleets::VERSION.to_owned()),
        ..unidm_tr069::sim::SimConfig::new(&server.acs, tree)
    })
    .await?;
    cpe098.wait_for(Duration::from_secs(30), |s| s.sessions >= 1).await;
    let dm_url = reqwest::Url::parse(&server.dm)?;
    let dm_addr = crate::bench::reach(&dm_url, "the OMA DM server").await?;
    let (_dm, _dm_hosts) = fleets::omadm(&plan, &api, &server.dm, dm_addr, n_dm).await?;

    // 1. Inventory.
    let mut ids: Vec<String> = Vec::new();
    loop {
        let page = api.get(&format!("/devices?limit=1000&offset={}", ids.len())).await?;
        let items = page["items"].as_array().cloned().unwrap_or_default();
        ids.extend(items.iter().filter_map(|d| d["id"].as_str().map(str::to_owned)));
        if items.len() < 1000 {
            break;
        }
    }
    println!("\n1. inventory: {} devices", ids.len());
    for (protocol, count) in by_protocol(ids.iter().map(String::as_str)) {
        println!("   {protocol:7} {count}");
    }

    // 2. A group of them all, and 3. a firmware campaign over it.
    // By the model every simulated device reports (the gateway's end devices and the hosts
    // behind the TR-098 CPE report their own).
    api.post("/groups", &json!({"id": "demo-fleet", "selector": {"model": MODEL}}), 201).await?;
    let members = api.get("/groups/demo-fleet/members").await?;
    println!("\n2. group demo-fleet (model {MODEL}): {} members", members.as_array().map_or(0, Vec::len));
    let action = json!({"kind": "firmware", "uri": "http://127.0.0.1:9/demo-2.0.bin", "version": fleets::VERSION});
    let gop = api.post("/groups/demo-fleet/operations", &json!({"action": action, "concurrency": 200}), 202).await?;
    let gid = gop["id"].as_u64().context("group operation id")?;
    println!(
        "\n3. firmware campaign {gid} (concurrency 200, {} ms download + {} ms update per device)",
        args.step_ms, args.step_ms
    );
    let started = Instant::now();
    let view = loop {
        let view = api.get(&format!("/group-operations/{gid}")).await?;
        let agg = &view["aggregate"];
        let total = agg["total"].as_u64().unwrap_or(0).max(1);
        let ended: u64 =
            ["succeeded", "failed", "cancelled", "expired"].iter().filter_map(|s| agg["counts"][s].as_u64()).sum();
        let eta = match ended {
            0 => "?".to_owned(),
            e => format!("{:.0} s", started.elapsed().as_secs_f64() * (total - e.min(total)) as f64 / e as f64),
        };
        let bars: Vec<String> = per_protocol(&agg["results"])
            .into_iter()
            .map(|(p, (done, all))| format!("{p} {} {done}/{all}", bar(done, all)))
            .collect();
        println!("   {:5.1} s  {}  ETA {eta}", started.elapsed().as_secs_f64(), bars.join("  "));
        if agg["done"] == true {
            break view;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    };

    // 4. Failures, with their reasons.
    let results = view["aggregate"]["results"].as_array().cloned().unwrap_or_default();
    let failed: Vec<&Value> = results.iter().filter(|r| r["state"] == "failed").collect();
    println!("\n4. {} failed:", failed.len());
    for r in failed.iter().take(10) {
        let op = api.get(&format!("/operations/{}", r["operation"])).await?;
        println!("   {}: {}", r["device"].as_str().unwrap_or("?"), op["error"]["message"].as_str().unwrap_or("?"));
    }

    // 5. A reboot of one CPE.
    let cpe = ids.iter().find(|i| i.starts_with("tr069:")).context("a CPE")?;
    let op = api.post(&format!("/devices/{cpe}/reboot"), &json!({}), 202).await?;
    let op_id = op["id"].as_u64().context("operation id")?;
    let rebooted = loop {
        let op = api.get(&format!("/operations/{op_id}")).await?;
        if ["succeeded", "failed", "cancelled", "expired"].contains(&op["state"].as_str().unwrap_or("")) {
            break op;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    println!("\n5. reboot of {cpe}: {}", rebooted["state"].as_str().unwrap_or("?"));

    // 6. Topology.
    let topology = api.get("/topology").await?;
    let edges = topology["edges"].as_array().cloned().unwrap_or_default();
    println!("\n6. topology: {} gateway links", edges.len());
    for edge in edges.iter().take(10) {
        println!("   {} -> {}", edge["parent"].as_str().unwrap_or("?"), edge["child"].as_str().unwrap_or("?"));
    }
    if edges.len() > 10 {
        println!("   ... and {} more (GET {}/topology)", edges.len() - 10, server.api);
    }

    // 7. Summary.
    let counts = &view["aggregate"]["counts"];
    println!("\n7. summary");
    println!("   devices       {}", ids.len());
    println!(
        "   campaign      {} succeeded, {} failed in {:.1} s",
        counts["succeeded"].as_u64().unwrap_or(0),
        counts["failed"].as_u64().unwrap_or(0),
        started.elapsed().as_secs_f64()
    );
    println!("   reboot        {}", rebooted["state"].as_str().unwrap_or("?"));
    println!("   database      {}", db.display());
    println!("\n   protocol  devices  in campaign  succeeded  failed");
    let inventory = by_protocol(ids.iter().map(String::as_str));
    let outcomes = outcomes_by_protocol(&view["aggregate"]["results"]);
    for (protocol, devices) in &inventory {
        let (members, succeeded, failed) = outcomes.get(*protocol).copied().unwrap_or_default();
        println!("   {protocol:8}  {devices:7}  {members:11}  {succeeded:9}  {failed:6}");
    }
    for e in &extras {
        e.deregister().await.ok();
    }
    cpe098.stop();
    drop(server);
    Ok(())
}

/// Device counts per protocol (the id's prefix).
fn by_protocol<'a>(ids: impl Iterator<Item = &'a str>) -> BTreeMap<&'a str, usize> {
    let mut out = BTreeMap::new();
    for id in ids {
        *out.entry(id.split(':').next().unwrap_or("?")).or_insert(0) += 1;
    }
    out
}

/// Per protocol: members ended and all, from an aggregate's results.
fn per_protocol(results: &Value) -> BTreeMap<String, (usize, usize)> {
    let mut out: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for r in results.as_array().into_iter().flatten() {
        let protocol = r["device"].as_str().and_then(|d| d.split(':').next()).unwrap_or("?").to_owned();
        let e = out.entry(protocol).or_default();
        e.1 += 1;
        if ["succeeded", "failed", "cancelled", "expired"].contains(&r["state"].as_str().unwrap_or("")) {
            e.0 += 1;
        }
    }
    out
}

/// Per protocol: members, succeeded and failed, from an aggregate's results.
fn outcomes_by_protocol(results: &Value) -> BTreeMap<String, (usize, usize, usize)> {
    let mut out: BTreeMap<String, (usize, usize, usize)> = BTreeMap::new();
    for r in results.as_array().into_iter().flatten() {
        let protocol = r["device"].as_str().and_then(|d| d.split(':').next()).unwrap_or("?").to_owned();
        let e = out.entry(protocol).or_default();
        e.0 += 1;
        match r["state"].as_str() {
            Some("succeeded") => e.1 += 1,
            Some("failed") => e.2 += 1,
            _ => {}
        }
    }
    out
}

/// A 10-cell progress bar.
fn bar(done: usize, all: usize) -> String {
    let filled = (done * 10).checked_div(all).unwrap_or(0).min(10);
    format!("[{}{}]", "#".repeat(filled), ".".repeat(10 - filled))
}
