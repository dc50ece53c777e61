//! `unidm sim tr069`: a fleet of [`SimCpe`]s that inform (`0 BOOTSTRAP`, `1 BOOT`, then
//! `2 PERIODIC`), answer the ACS, and accept connection requests (TR-069 Amendment 6, 3.2.2,
//! A.3.3.1). A CPE has no way to sign off: on SIGINT / SIGTERM they stop, and the ACS takes them
//! offline once their periodic inform interval (and its grace) has passed. Each CPE has a
//! connection-request listener and a connection of its own, or, with `--cpes-per-listener`,
//! shares them ([`SharedCpeHost`]) so that big fleets fit in one process.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{bail, Context};
use unidm_models::DeviceId;
use unidm_tr069::rpc::fault::FaultCode;
use unidm_tr069::sim::{ParameterTree, SharedCpeHost, SimConfig, SimCpe};

use super::progress::{Progress, Reporter, Words};
use super::{
    counted, local_ip_towards, parse_duration, parse_seconds, prefer_ipv4, start_error, with_port, FleetArgs, Stop,
};

/// How often the CPEs' session counters are looked at for progress.
const POLL: Duration = Duration::from_millis(500);

/// Flags of `unidm sim tr069`.
#[derive(Debug, Clone, clap::Args)]
pub struct Tr069Args {
    /// The ACS URL, e.g. the one `unidm serve` prints as "CPEs use http://…". Plain http://
    /// only.
    #[arg(long, value_name = "URL")]
    pub acs: String,
    #[command(flatten)]
    pub(crate) fleet: FleetArgs,
    /// Serial numbers are `{prefix}{index:06}`.
    #[arg(long, value_name = "PREFIX", default_value = "SIM")]
    pub serial_prefix: String,
    /// Data model: a small TR-181 `Device.` tree, or the TR-098 `InternetGatewayDevice.` tree
    /// of a real CPE (Huawei BM632w).
    #[arg(long, value_enum, default_value_t = DataModel::Tr181)]
    pub data_model: DataModel,
    /// ManufacturerOUI [default: 00D09E for tr181, the BM632w's 202BC1 for tr098].
    #[arg(long)]
    pub oui: Option<String>,
    /// ProductClass [default: SimCPE for tr181, BM632w for tr098].
    #[arg(long)]
    pub product_class: Option<String>,
    /// Periodic Inform interval (PeriodicInformInterval), seconds. The ACS takes a CPE as
    /// offline when it has not informed for this long (plus a grace). 0 turns periodic Informs
    /// off while the tree still reports its own interval (300 s in tr181).
    #[arg(long, value_name = "SECONDS", default_value = "300", value_parser = parse_seconds)]
    pub periodic_inform: u32,
    /// ACS credentials, used when the ACS asks (Basic or Digest); every CPE uses the same.
    #[arg(long, value_name = "USER:PASSWORD", env = "UNIDM_SIM_ACS_CREDENTIALS", hide_env_values = true)]
    pub credentials: Option<String>,
    /// IP address the connection-request listeners bind to and announce in
    /// ConnectionRequestURL [default: the local address that reaches the ACS].
    #[arg(long, value_name = "IP")]
    pub connection_request_ip: Option<IpAddr>,
    /// Announce only `1 BOOT` in the first session, not `0 BOOTSTRAP` (a CPE the ACS knows).
    #[arg(long)]
    pub no_bootstrap_event: bool,
    /// Time a Download takes.
    #[arg(long, value_name = "DURATION", default_value = "100ms", value_parser = parse_duration)]
    pub download_delay: Duration,
    /// Make every Download fail with this CWMP fault code in TransferComplete (9000-9899, e.g.
    /// 9010 file transfer failure, 9018 file corrupted).
    #[arg(long, value_name = "CODE", value_parser = parse_download_fault)]
    pub download_fault: Option<u32>,
    /// Fetch download URLs over HTTP (default: downloads are only simulated).
    #[arg(long)]
    pub fetch_downloads: bool,
    /// SoftwareVersion after a successful firmware download [default: the file name of the
    /// download URL].
    #[arg(long, value_name = "VERSION")]
    pub firmware_version_after: Option<String>,
    /// Time a reboot takes.
    #[arg(long, value_name = "DURATION", default_value = "100ms", value_parser = parse_duration)]
    pub reboot_delay: Duration,
    /// CPEs sharing one connection-request listener and one pool of connections to the ACS
    /// (1: a listener and a connection each). Above 1, each CPE announces
    /// `http://IP:PORT/cr/{n}` as its ConnectionRequestURL, keeps its own Digest credentials,
    /// and holds a connection of the pool for each session, so that up to 200000 CPEs fit in
    /// one process (with the small tr181 tree).
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub cpes_per_listener: u32,
}

/// Sessions of one shared listener's CPEs at once (each holds a connection to the ACS).
const CONNECTIONS_PER_LISTENER: usize = 256;

/// The simulated CPE's parameter tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DataModel {
    /// TR-181 `Device.`: a small tree.
    Tr181,
    /// TR-098 `InternetGatewayDevice.`: the tree of a Huawei BM632w (genieacs-sim).
    Tr098,
}

fn parse_download_fault(s: &str) -> Result<u32, String> {
    match s.parse::<u32>() {
        Ok(code @ 9000..=9899) => Ok(code),
        _ => Err("a CPE fault code, 9000 to 9899 (e.g. 9010 file transfer failure)".into()),
    }
}

impl Tr069Args {
    /// The tree every CPE starts from (its serial number is set per CPE).
    fn tree(&self) -> ParameterTree {
        let mut tree = match self.data_model {
            DataModel::Tr181 => ParameterTree::tr181("00D09E", "SimCPE", ""),
            DataModel::Tr098 => ParameterTree::bm632w(),
        };
        let root = tree.root().to_owned();
        if let Some(oui) = &self.oui {
            tree.identity.oui.clone_from(oui);
            tree.set_text(&format!("{root}DeviceInfo.ManufacturerOUI"), oui);
        }
        if let Some(pc) = &self.product_class {
            tree.identity.product_class.clone_from(pc);
            tree.set_text(&format!("{root}DeviceInfo.ProductClass"), pc);
        }
        tree
    }

    fn serial(&self, i: usize) -> String {
        format!("{}{:06}", self.serial_prefix, self.fleet.start_index + i)
    }
}

/// The ACS's `host:port`, resolved, from an `http://` URL.
async fn resolve_acs(url: &str) -> anyhow::Result<SocketAddr> {
    let rest = match url.split_once("://") {
        Some(("http", rest)) => rest,
        Some(("https", _)) => bail!("--acs `{url}`: the simulated CPE speaks plain http://, not https://"),
        _ => bail!("--acs `{url}` is not an http:// URL (e.g. http://127.0.0.1:7547/)"),
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = authority.rsplit('@').next().unwrap_or_default();
    if host.is_empty() {
        bail!("--acs `{url}` names no host");
    }
    let addrs = tokio::net::lookup_host(with_port(host, 80))
        .await
        .with_context(|| format!("cannot resolve the ACS host in `{url}`"))?;
    prefer_ipv4(addrs).with_context(|| format!("cannot resolve the ACS host in `{url}`: no address"))
}

pub(super) async fn run(args: Tr069Args) -> anyhow::Result<()> {
    // Before anything is printed: a signal right after the first line must stop us cleanly.
    let mut stop = Stop::install()?;
    if args.cpes_per_listener == 1 {
        args.fleet.check_own_sockets(", or share listeners with --cpes-per-listener")?;
    }
    let acs = resolve_acs(&args.acs).await?;
    match tokio::time::timeout(Duration::from_secs(5), tokio::net::TcpStream::connect(acs)).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => bail!("cannot reach the ACS at {acs} ({}): {e}", args.acs),
        Err(_) => bail!("cannot reach the ACS at {acs} ({}): no answer in 5 s", args.acs),
    }
    let cr_ip = match args.connection_request_ip {
        Some(ip) => ip,
        None => local_ip_towards(acs).context("finding the local address that reaches the ACS")?,
    };
    let credentials = match &args.credentials {
        Some(c) => match c.split_once(':') {
            Some((user, password)) => Some((user.to_owned(), password.to_owned())),
            None => bail!("--credentials: write USER:PASSWORD"),
        },
        None => None,
    };
    let tree = args.tree();
    let (oui, pc) = (tree.identity.oui.clone(), tree.identity.product_class.clone());
    DeviceId::tr069(&oui, Some(&pc), &args.serial(0)).map_err(|e| anyhow::anyhow!("invalid CPE identity: {e}"))?;
    let template = SimConfig {
        serial: None,
        periodic_inform: (args.periodic_inform > 0).then(|| Duration::from_secs(u64::from(args.periodic_inform))),
        connection_request_listen: SocketAddr::new(cr_ip, 0),
        download_delay: args.download_delay,
        download_fault: args.download_fault.map(|code| {
            let text = FaultCode::from_code(code).standard_string().unwrap_or("Simulated failure");
            (code, text.to_owned())
        }),
        firmware_version: args.firmware_version_after.clone(),
        reboot_delay: args.reboot_delay,
        acs_credentials: credentials,
        bootstrap: !args.no_bootstrap_event,
        fetch_downloads: args.fetch_downloads,
        ..SimConfig::new(args.acs.clone(), tree)
    };
    let count = args.fleet.count;
    println!(
        "simulating {} ({oui}-{pc}-{}{}) informing {}, periodic inform {}",
        counted(count, "TR-069 CPE"),
        args.serial(0),
        if count == 1 { String::new() } else { format!(" … {}", args.serial(count - 1)) },
        args.acs,
        match args.periodic_inform {
            0 => "off".to_owned(),
            s => format!("every {s} s"),
        },
    );
    let words = Words { noun: "CPEs", verb: "informed", ready: "SIGINT (Ctrl-C) or SIGTERM stops them".into() };
    let progress = Progress::start(count, args.fleet.each(), words);
    let fleet: Fleet = Arc::default();
    let watch = tokio::spawn(watch_sessions(fleet.clone(), progress.reporter()));
    let hosts: Hosts = Arc::default();
    let started = tokio::select! {
        r = start(&args, &template, &fleet, &hosts) => Some(r),
        _ = stop.signalled() => None,
    };
    if let Some(Ok(())) = started {
        stop.signalled().await;
    }
    watch.abort();
    progress.stop();
    let cpes: Vec<Arc<Cpe>> = fleet.lock().map(|f| f.clone()).unwrap_or_default();
    for cpe in &cpes {
        cpe.sim.stop();
    }
    for host in hosts.lock().map(|h| h.clone()).unwrap_or_default() {
        host.stop();
    }
    let offline = match args.periodic_inform {
        0 => String::new(),
        s => format!("; the ACS takes them offline once {s} s without an Inform (and its grace) have passed"),
    };
    println!("stopped {}{offline}", counted(cpes.len(), "CPE"));
    match started {
        Some(Err(e)) => Err(e),
        _ => Ok(()),
    }
}

/// A running CPE.
struct Cpe {
    id: DeviceId,
    sim: SimCpe,
}

/// The CPEs started so far, in order.
type Fleet = Arc<Mutex<Vec<Arc<Cpe>>>>;

/// The shared listeners bound so far (`--cpes-per-listener` above 1).
type Hosts = Arc<Mutex<Vec<Arc<SharedCpeHost>>>>;

/// Starts the CPEs at `--rate`.
async fn start(args: &Tr069Args, template: &SimConfig, fleet: &Fleet, hosts: &Hosts) -> anyhow::Result<()> {
    let mut tick = tokio::time::interval(args.fleet.start_period());
    let per_listener = args.cpes_per_listener as usize;
    let mut host = None;
    for i in 0..args.fleet.count {
        tick.tick().await;
        let serial = args.serial(i);
        if per_listener > 1 && i % per_listener == 0 {
            let running = fleet.lock().map(|f| f.len()).unwrap_or_default();
            let bound = SharedCpeHost::bind(template.connection_request_listen, CONNECTIONS_PER_LISTENER)
                .await
                .map_err(|e| start_error(e, &format!("a connection-request listener for CPE {serial}"), running))?;
            if let Ok(mut h) = hosts.lock() {
                h.push(bound.clone());
            }
            host = Some(bound);
        }
        let mut config = SimConfig { serial: Some(serial.clone()), shared_host: host.clone(), ..template.clone() };
        let root = config.tree.root().to_owned();
        config.tree.set_text(&format!("{root}DeviceInfo.SerialNumber"), &serial);
        let identity = &config.tree.identity;
        let id = DeviceId::tr069(&identity.oui, Some(&identity.product_class), &serial)
            .map_err(|e| anyhow::anyhow!("invalid CPE identity: {e}"))?;
        let running = fleet.lock().map(|f| f.len()).unwrap_or_default();
        let sim = SimCpe::start(config).await.map_err(|e| start_error(e, &format!("CPE {id}"), running))?;
        if let Ok(mut f) = fleet.lock() {
            f.push(Arc::new(Cpe { id, sim }));
        }
    }
    Ok(())
}

/// What the watcher last saw of a CPE.
#[derive(Default, Clone, Copy)]
struct Seen {
    sessions: u64,
    failed: u64,
    failing: bool,
}

/// Reports each CPE's first session, sessions that fail, and the next success after failures.
async fn watch_sessions(fleet: Fleet, reporter: Reporter) {
    let mut seen: Vec<Seen> = Vec::new();
    loop {
        let cpes: Vec<Arc<Cpe>> = fleet.lock().map(|f| f.clone()).unwrap_or_default();
        seen.resize(cpes.len(), Seen::default());
        for (cpe, seen) in cpes.iter().zip(seen.iter_mut()) {
            let stats = cpe.sim.stats();
            let name = cpe.id.to_string();
            if stats.sessions > seen.sessions && (seen.sessions == 0 || seen.failing) {
                let line = format!("informed {name}, connection requests at {}", cpe.sim.connection_request_url());
                reporter.up(&name, line);
                seen.failing = false;
            }
            if stats.failed_sessions > seen.failed {
                let hint = "`--log unidm_tr069=debug` shows why sessions fail";
                reporter.failed(&name, "sessions with the ACS fail; retrying".into(), Some(hint));
                seen.failing = true;
            }
            (seen.sessions, seen.failed) = (stats.sessions, stats.failed_sessions);
        }
        tokio::time::sleep(POLL).await;
    }
}
