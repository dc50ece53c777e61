//! `unidm sim lwm2m`: a fleet of [`SimClient`]s that register (after a client-initiated
//! bootstrap when asked), send Updates before their lifetime runs out, register again when an
//! Update fails, and de-register on SIGINT / SIGTERM (TS Core 1.1 §6.2).

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{bail, Context};
use futures::StreamExt;
use tokio::task::JoinHandle;
use unidm_lwm2m::sim::{FirmwareBehaviour, Share, SharedSocket, SimClient, SimConfig};
use unidm_models::DeviceId;

use super::progress::{Progress, Reporter, Words};
use super::{counted, parse_duration, parse_seconds, prefer_ipv4, start_error, with_port, FleetArgs, Stop};

/// Most end devices per simulated gateway: each is an object link in the registration, and
/// servers bound how many they take (unidm: 512 links).
const MAX_CHILDREN: usize = 256;

/// How long a registration may take before the client says it is waiting.
const SLOW: Duration = Duration::from_secs(5);

/// How long SIGINT / SIGTERM wait for the De-register answers (sent all at once).
const DEREGISTER_TIMEOUT: Duration = Duration::from_secs(10);

/// Flags of `unidm sim lwm2m`.
#[derive(Debug, Clone, clap::Args)]
pub struct Lwm2mArgs {
    /// The LwM2M server: `host:port` or `coap://host[:port]` (port 5683 when left out), e.g. the
    /// address `unidm serve` prints as "lwm2m server listening on". Required unless --bootstrap
    /// is given.
    #[arg(long, value_name = "HOST:PORT", required_unless_present = "bootstrap")]
    pub server: Option<String>,
    /// Bootstrap first from this bootstrap server (`host:port`, port 5783 when left out, as
    /// `unidm serve` listens): each client registers where the server account written to it
    /// says. unidm's bootstrap server needs a configuration per endpoint
    /// (PUT /api/v1/lwm2m/bootstrap/{endpoint}).
    #[arg(long, value_name = "HOST:PORT")]
    pub bootstrap: Option<String>,
    /// Endpoint client names are `{prefix}-{index}`.
    #[arg(long, value_name = "NAME", default_value = "sim")]
    pub endpoint_prefix: String,
    #[command(flatten)]
    pub(crate) fleet: FleetArgs,
    /// Registration lifetime (`lt`), seconds.
    #[arg(long, value_name = "SECONDS", default_value = "300", value_parser = parse_seconds)]
    pub lifetime: u32,
    /// Time between registration Updates [default: three quarters of --lifetime]. A server
    /// holds requests to a queue-mode client until its next Update.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub update_interval: Option<Duration>,
    /// LwM2M version announced (`lwm2m=`): 1.1 and later add SenML formats and Send.
    #[arg(long = "version", id = "lwm2m_version", value_name = "VERSION", default_value = "1.1",
          value_parser = ["1.0", "1.1", "1.2"])]
    pub version: String,
    /// Queue mode: binding `UQ` (1.0) or the `Q` parameter (1.1+); the server then takes the
    /// client as asleep between Updates.
    #[arg(long)]
    pub queue_mode: bool,
    /// Be a LwM2M gateway (object /25) with this many end devices each (0 to 256); unidm shows
    /// them as devices `lwm2m:{endpoint}/child-{i}`, children of the gateway.
    #[arg(long, value_name = "N", default_value_t = 0, value_parser = parse_children)]
    pub gateway_children: usize,
    /// Local IP address of the clients' UDP sockets [default: 127.0.0.1 for a loopback
    /// server, else every interface].
    #[arg(long, value_name = "IP")]
    pub bind: Option<IpAddr>,
    /// Manufacturer, /3/0/0.
    #[arg(long, default_value = "unidm sim")]
    pub manufacturer: String,
    /// Model number, /3/0/1.
    #[arg(long, default_value = "sim-1")]
    pub model: String,
    /// Firmware version at start, /3/0/3.
    #[arg(long, value_name = "VERSION", default_value = "1.0")]
    pub firmware_version: String,
    /// Firmware version /3/0/3 after a successful firmware update.
    #[arg(long, value_name = "VERSION", default_value = "2.0")]
    pub firmware_version_after: String,
    /// Make firmware updates fail with this Update Result (/5/0/5): not-enough-flash (2),
    /// out-of-ram (3), connection-lost (4), integrity-check (5), unsupported-package (6),
    /// invalid-uri (7), unsupported-protocol (9) fail the download; update-failed (8) fails
    /// the update once downloaded. A name or the number.
    #[arg(long, value_name = "RESULT", value_parser = parse_firmware_fail)]
    pub firmware_fail: Option<u8>,
    /// Time from the Package URI write (or the last block pushed) to Downloaded, or to the
    /// download failure.
    #[arg(long, value_name = "DURATION", default_value = "100ms", value_parser = parse_duration)]
    pub firmware_download_delay: Duration,
    /// Time from the Update execute to its result.
    #[arg(long, value_name = "DURATION", default_value = "100ms", value_parser = parse_duration)]
    pub firmware_update_delay: Duration,
    /// Reboot to apply a firmware image: the client registers again, observations are lost.
    #[arg(long)]
    pub firmware_reboot: bool,
    /// How the client takes firmware images (Delivery Method /5/0/9): by Package URI (pull),
    /// written to Package /5/0/0 (push), or both.
    #[arg(long, value_enum, default_value_t = Delivery::Both)]
    pub firmware_delivery: Delivery,
    /// Offer Software Management /9 with an instance /9/0 in INITIAL (without it, /9 has no
    /// instance until the server creates one).
    #[arg(long)]
    pub software_instance: bool,
    /// Also offer Connectivity Monitoring /4/0 and Location /6/0.
    #[arg(long)]
    pub connectivity_location: bool,
    /// Register over DTLS (`--server` is then the `coaps` port, 5684 by default) with this PSK
    /// key (text); each client's identity is its endpoint name unless `--psk-identity` is given.
    #[arg(long, value_name = "KEY", env = "UNIDM_SIM_PSK_KEY", hide_env_values = true)]
    pub psk_key: Option<String>,
    /// The PSK identity of every client (default: its endpoint name).
    #[arg(long, value_name = "IDENTITY", requires = "psk_key")]
    pub psk_identity: Option<String>,
    /// Register over DTLS with this client certificate (PEM; its CN must be the endpoint name,
    /// so with --count above 1 every client presents it and only the one so named registers).
    #[arg(long, value_name = "PEM", requires_all = ["key", "ca"], conflicts_with = "psk_key")]
    pub cert: Option<std::path::PathBuf>,
    /// The private key (PEM) of --cert.
    #[arg(long, value_name = "PEM", requires = "cert")]
    pub key: Option<std::path::PathBuf>,
    /// The CA (PEM) the server's certificate must chain to.
    #[arg(long, value_name = "PEM", requires = "cert")]
    pub ca: Option<std::path::PathBuf>,
    /// Register over DTLS with a raw public key (RFC 7250): this EC private key (PEM or DER);
    /// every client presents it, so with --count above 1 only the endpoint it is bound to
    /// registers (unless it is bound to none).
    #[arg(long, value_name = "KEY", requires = "server_public_key", conflicts_with_all = ["psk_key", "cert"])]
    pub rpk_key: Option<std::path::PathBuf>,
    /// The server's public key (PEM or DER) that --rpk-key clients accept.
    #[arg(long, value_name = "KEY", requires = "rpk_key")]
    pub server_public_key: Option<std::path::PathBuf>,
    /// Clients sharing one UDP socket (1: a socket each). Above 1, each client registers under
    /// an alternate root path of its own (`</u7>;rt="oma.lwm2m"`) by which the shared socket
    /// routes the server's requests, so that up to 200000 clients fit in one process. The
    /// server must honour the root path (TS Core §6.2.1) and take many registrations from one
    /// address (unidm: `[lwm2m] max_registers_per_source`). Not with DTLS or bootstrap.
    #[arg(long, value_name = "N", default_value_t = 1,
          value_parser = clap::value_parser!(u32).range(1..=10_000),
          conflicts_with_all = ["psk_key", "cert", "rpk_key", "bootstrap"])]
    pub clients_per_socket: u32,
}

/// Firmware Update Delivery Method `/5/0/9` values (registry `5.xml`, resource 9).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Delivery {
    /// 0: Package URI only.
    Pull = 0,
    /// 1: Package only.
    Push = 1,
    /// 2: both.
    Both = 2,
}

fn parse_children(s: &str) -> Result<usize, String> {
    let n: usize = s.parse().map_err(|_| format!("`{s}` is not a number"))?;
    if n > MAX_CHILDREN {
        return Err(format!(
            "at most {MAX_CHILDREN} end devices per gateway (each is an object link in its registration)"
        ));
    }
    Ok(n)
}

/// Firmware Update Result names (registry `5.xml`, resource 5), lower-case and hyphenated.
const UPDATE_RESULTS: [(&str, u8); 8] = [
    ("not-enough-flash", 2),
    ("out-of-ram", 3),
    ("connection-lost", 4),
    ("integrity-check", 5),
    ("unsupported-package", 6),
    ("invalid-uri", 7),
    ("update-failed", 8),
    ("unsupported-protocol", 9),
];

fn parse_firmware_fail(s: &str) -> Result<u8, String> {
    UPDATE_RESULTS.iter().find(|(name, code)| *name == s || code.to_string() == s).map(|(_, code)| *code).ok_or_else(
        || {
            let names: Vec<String> = UPDATE_RESULTS.iter().map(|(n, c)| format!("{n} ({c})")).collect();
            format!("not a failing Update Result; one of {}", names.join(", "))
        },
    )
}

impl Lwm2mArgs {
    fn firmware(&self) -> FirmwareBehaviour {
        let fail = self.firmware_fail.unwrap_or(0);
        FirmwareBehaviour {
            download_delay: self.firmware_download_delay,
            update_delay: self.firmware_update_delay,
            download_result: if fail == 8 { 0 } else { fail },
            update_result: if fail == 8 { 8 } else { 1 },
            new_version: self.firmware_version_after.clone(),
            reboot_on_update: self.firmware_reboot,
            delivery_method: self.firmware_delivery as u8,
        }
    }

    fn endpoint(&self, i: usize) -> String {
        format!("{}-{}", self.endpoint_prefix, self.fleet.start_index + i)
    }
}

/// A `coap://` server address, resolved.
pub(crate) async fn resolve(what: &str, given: &str, default_port: u16) -> anyhow::Result<SocketAddr> {
    let host = match given.split_once("://") {
        Some(("coap", rest)) => rest,
        Some((scheme, _)) => {
            bail!("{what} `{given}`: the simulated client speaks coap:// (CoAP over UDP), not {scheme}://")
        }
        None => given,
    };
    let host = with_port(host.trim_end_matches('/'), default_port);
    let addrs = tokio::net::lookup_host(&host).await.with_context(|| format!("cannot resolve the {what} `{given}`"))?;
    prefer_ipv4(addrs).with_context(|| format!("cannot resolve the {what} `{given}`: no address"))
}

/// What every client's task follows.
struct Plan {
    bootstrap: Option<SocketAddr>,
    update_every: Duration,
    gateway_children: usize,
}

pub(super) async fn run(args: Lwm2mArgs) -> anyhow::Result<()> {
    // Before anything is printed: a signal right after the first line must stop us cleanly.
    let mut stop = Stop::install()?;
    if args.clients_per_socket == 1 {
        args.fleet.check_own_sockets(", or share sockets with --clients-per-socket")?;
    }
    DeviceId::lwm2m(&args.endpoint(0)).map_err(|e| anyhow::anyhow!("invalid --endpoint-prefix: {e}"))?;
    let bootstrap = match &args.bootstrap {
        Some(b) => Some(resolve("bootstrap server", b, 5783).await?),
        None => None,
    };
    let server = match (&args.server, bootstrap) {
        (Some(s), _) => {
            let secure = args.psk_key.is_some() || args.cert.is_some() || args.rpk_key.is_some();
            resolve("LwM2M server", s, if secure { 5684 } else { 5683 }).await?
        }
        // Replaced by the server account the bootstrap server writes.
        (None, Some(bs)) => bs,
        (None, None) => bail!("--server or --bootstrap is required"),
    };
    let first_contact = bootstrap.unwrap_or(server);
    let bind = args.bind.unwrap_or(match first_contact {
        a if a.ip().is_loopback() => a.ip(),
        SocketAddr::V4(_) => IpAddr::from([0, 0, 0, 0]),
        SocketAddr::V6(_) => IpAddr::from([0u16; 8]),
    });
    let x509 = match (&args.cert, &args.key, &args.ca) {
        (Some(cert), Some(key), Some(ca)) => {
            let read =
                |p: &std::path::PathBuf| std::fs::read(p).map_err(|e| anyhow::anyhow!("reading {}: {e}", p.display()));
            Some(unidm_lwm2m::dtls::X509Settings { cert_pem: read(cert)?, key_pem: read(key)?, ca_pem: read(ca)? })
        }
        _ => None,
    };
    let rpk = match (&args.rpk_key, &args.server_public_key) {
        (Some(key), Some(server)) => {
            let read =
                |p: &std::path::PathBuf| std::fs::read(p).map_err(|e| anyhow::anyhow!("reading {}: {e}", p.display()));
            Some((read(key)?, read(server)?))
        }
        _ => None,
    };
    let template = SimConfig {
        x509,
        rpk,
        bind: SocketAddr::new(bind, 0),
        lifetime_s: args.lifetime,
        binding: if args.queue_mode { "UQ" } else { "U" }.into(),
        version: args.version.clone(),
        manufacturer: args.manufacturer.clone(),
        model: args.model.clone(),
        fw_version: args.firmware_version.clone(),
        firmware: args.firmware(),
        reregister_after_reboot: true,
        connectivity_and_location: args.connectivity_location,
        software_management: args.software_instance,
        gateway_children: args.gateway_children,
        ..SimConfig::new("", server)
    };
    let plan = Arc::new(Plan {
        bootstrap,
        gateway_children: args.gateway_children,
        update_every: args
            .update_interval
            .unwrap_or(Duration::from_secs(u64::from(args.lifetime) * 3 / 4))
            .max(Duration::from_secs(1)),
    });
    let count = args.fleet.count;
    let last = args.endpoint(count - 1);
    let target = match bootstrap {
        Some(bs) => format!("bootstrapping from coap://{bs}"),
        None if args.psk_key.is_some() => format!("registering with coaps://{server} (DTLS-PSK)"),
        None if args.cert.is_some() => format!("registering with coaps://{server} (DTLS, certificate)"),
        None if args.rpk_key.is_some() => format!("registering with coaps://{server} (DTLS, raw public key)"),
        None => format!("registering with coap://{server}"),
    };
    println!(
        "simulating {} ({}{}), {target}, lifetime {} s{}",
        counted(count, &format!("LwM2M {} client", args.version)),
        args.endpoint(0),
        if count == 1 { String::new() } else { format!(" … {last}") },
        args.lifetime,
        if args.queue_mode { ", queue mode" } else { "" },
    );
    let words = Words {
        noun: "clients",
        verb: "registered",
        ready: "SIGINT (Ctrl-C) or SIGTERM de-registers them and exits".into(),
    };
    let progress = Progress::start(count, args.fleet.each(), words);
    let mut fleet = Fleet { clients: Vec::with_capacity(count), tasks: Vec::with_capacity(count) };
    let reporter = progress.reporter();
    let started = tokio::select! {
        r = fleet.start(&args, &template, &plan, &reporter) => Some(r),
        _ = stop.signalled() => None,
    };
    if let Some(Err(e)) = started {
        fleet.stop(&progress, &mut stop).await;
        return Err(e);
    }
    if started.is_some() {
        stop.signalled().await;
    }
    fleet.stop(&progress, &mut stop).await;
    Ok(())
}

struct Fleet {
    clients: Vec<Arc<SimClient>>,
    tasks: Vec<JoinHandle<()>>,
}

impl Fleet {
    /// Starts the clients at `--rate`, each with its task.
    async fn start(
        &mut self,
        args: &Lwm2mArgs,
        template: &SimConfig,
        plan: &Arc<Plan>,
        reporter: &Reporter,
    ) -> anyhow::Result<()> {
        let mut tick = tokio::time::interval(args.fleet.start_period());
        let per_socket = args.clients_per_socket as usize;
        let mut shared = None;
        for i in 0..args.fleet.count {
            tick.tick().await;
            let endpoint = args.endpoint(i);
            if per_socket > 1 && i % per_socket == 0 {
                let socket = SharedSocket::bind(template.bind, i as u16)
                    .await
                    .map_err(|e| start_error(e, &format!("a socket for client {endpoint}"), self.clients.len()))?;
                shared = Some(Share(socket));
            }
            let psk = args.psk_key.as_ref().map(|key| {
                let identity = args.psk_identity.clone().unwrap_or_else(|| endpoint.clone());
                (identity.into_bytes(), key.clone().into_bytes())
            });
            let config = SimConfig {
                endpoint: endpoint.clone(),
                serial: format!("SN-{endpoint}"),
                psk,
                shared_socket: shared.clone(),
                ..template.clone()
            };
            let client = SimClient::start(config)
                .await
                .map(Arc::new)
                .map_err(|e| start_error(e, &format!("client {endpoint}"), self.clients.len()))?;
            self.tasks.push(tokio::spawn(keep_registered(client.clone(), i, plan.clone(), reporter.clone())));
            self.clients.push(client);
        }
        Ok(())
    }

    /// Stops the tasks and de-registers every registered client, all at once (a second signal
    /// gives up waiting).
    async fn stop(self, progress: &Progress, signals: &mut Stop) {
        for task in &self.tasks {
            task.abort();
        }
        progress.stop();
        let registered: Vec<Arc<SimClient>> = self.clients.into_iter().filter(|c| c.location().is_some()).collect();
        let total = registered.len();
        println!("de-registering {}", counted(total, "client"));
        let done = AtomicUsize::new(0);
        let failed: Mutex<Vec<String>> = Mutex::default();
        let deregister = futures::stream::iter(registered).for_each_concurrent(None, |c| {
            let (done, failed) = (&done, &failed);
            async move {
                let why = match tokio::time::timeout(DEREGISTER_TIMEOUT, c.deregister()).await {
                    Ok(Ok(())) => {
                        done.fetch_add(1, Ordering::SeqCst);
                        return;
                    }
                    Ok(Err(e)) => e,
                    Err(_) => format!("no answer in {} s", DEREGISTER_TIMEOUT.as_secs()),
                };
                if let Ok(mut f) = failed.lock() {
                    f.push(format!("{}: {why}", c.endpoint()));
                }
            }
        });
        tokio::select! {
            _ = deregister => {}
            _ = signals.signalled() => eprintln!("signalled again: stopped without waiting for de-registrations"),
        }
        let failed = failed.into_inner().unwrap_or_default();
        if let Some(last) = failed.last() {
            let n = failed.len();
            eprintln!("{} not de-registered (last: {last}); the server lets them expire", counted(n, "client"));
        }
        println!("de-registered {}/{total} clients; stopped", done.load(Ordering::SeqCst));
    }
}

/// One client's life: (bootstrap and) register, retrying with backoff; Update every
/// `plan.update_every`; register again when an Update fails.
async fn keep_registered(client: Arc<SimClient>, index: usize, plan: Arc<Plan>, reporter: Reporter) {
    let name = client.endpoint().to_owned();
    let mut failures = 0u32;
    loop {
        if let Some(bs) = plan.bootstrap {
            if let Err(e) = client.bootstrap(bs).await {
                let hint = "unidm's bootstrap server answers only endpoints with a configuration: \
                            PUT /api/v1/lwm2m/bootstrap/{endpoint} on the API";
                reporter.failed(&name, format!("bootstrap from coap://{bs} failed: {e}; retrying"), Some(hint));
                backoff(&mut failures, index).await;
                continue;
            }
        }
        if let Err(e) = registered(&client, &name, &reporter).await {
            let hint = e.contains("TooManyRequests").then_some(
                "the server admits a bounded number of registrations per minute from one address \
                 (unidm: [lwm2m] max_registers_per_source, 300 by default); clients retry, or lower --rate",
            );
            reporter.failed(&name, format!("registration with coap://{} failed: {e}; retrying", client.server()), hint);
            backoff(&mut failures, index).await;
            continue;
        }
        failures = 0;
        let location = client.location().map(|l| l.join("/")).unwrap_or_default();
        let children = match plan.gateway_children {
            0 => String::new(),
            n => format!(" with {n} end devices"),
        };
        reporter.up(
            &name,
            format!(
                "registered {name} from {} with coap://{} at /{location}{children}",
                client.local_addr(),
                client.server()
            ),
        );
        loop {
            tokio::time::sleep(plan.update_every).await;
            if let Err(e) = client.update().await {
                reporter.down(&name, format!("update failed: {e}; registering again"));
                break;
            }
        }
    }
}

/// Registers; says so when the server takes long (CoAP gives up only after 93 s).
async fn registered(client: &SimClient, name: &str, reporter: &Reporter) -> Result<(), String> {
    let register = client.register();
    tokio::pin!(register);
    tokio::select! {
        r = &mut register => return r,
        _ = tokio::time::sleep(SLOW) => {}
    }
    let why = format!("no answer from coap://{} yet; retransmitting", client.server());
    reporter.failed(name, why, Some("CoAP retransmits a request for up to 93 s before it gives up (RFC 7252 §4.8.2)"));
    register.await
}

/// Waits 1 s, 2 s, 4 s … up to 60 s after consecutive failures, spread a little by `index` so
/// that a fleet does not retry in lockstep.
async fn backoff(failures: &mut u32, index: usize) {
    let base = Duration::from_secs(1 << (*failures).min(6)).min(Duration::from_secs(60));
    let spread = Duration::from_millis((index as u64).wrapping_mul(7919) % 1000);
    *failures = failures.saturating_add(1);
    tokio::time::sleep(base + spread).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn firmware_failures_by_name_or_number() {
        assert_eq!(parse_firmware_fail("integrity-check"), Ok(5));
        assert_eq!(parse_firmware_fail("8"), Ok(8));
        assert!(parse_firmware_fail("1").unwrap_err().contains("update-failed (8)"));
        assert!(parse_firmware_fail("nope").is_err());
    }

    #[tokio::test]
    async fn only_coap_servers() {
        let e = resolve("LwM2M server", "coaps://127.0.0.1", 5683).await.unwrap_err();
        assert!(e.to_string().contains("not coaps://"), "{e}");
        assert_eq!(resolve("LwM2M server", "coap://127.0.0.1/", 5683).await.unwrap().port(), 5683);
    }
}
