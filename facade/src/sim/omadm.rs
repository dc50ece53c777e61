//! `unidm sim omadm`: a fleet of [`SimDevice`]s (OMA DM clients) that open a session at start
//! and then periodically, answer the server's commands (FUMO, SCOMO and LAWMO reported by
//! Generic Alert 1226 in a session of their own), and open a session when a Package #0 whose digest
//! verifies reaches their listener: a UDP one each, or, with `--clients-per-listener`, an HTTP
//! one shared by many clients, which also share an HTTP client ([`SharedDmHost`]), so that big
//! fleets fit in one process. With `--api`, each client's Package #0 address is given to unidm.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use anyhow::bail;
use unidm_omadm::codec::Encoding;
use unidm_omadm::sim::{SharedDmHost, SimAuth, SimConfig, SimDevice, SimDiagMon};

use super::{counted, parse_duration, start_error, FleetArgs, Stop};
use crate::bench::Api;

/// Flags of `unidm sim omadm`.
#[derive(Debug, Clone, clap::Args)]
pub struct OmadmArgs {
    /// The DM server URL, e.g. the one `unidm serve` prints as "devices use http://…/dm".
    #[arg(long, value_name = "URL")]
    pub server: String,
    #[command(flatten)]
    pub(crate) fleet: FleetArgs,
    /// DevIds are `{prefix}{index:06}`.
    #[arg(long, value_name = "PREFIX", default_value = "SIMDM")]
    pub dev_id_prefix: String,
    /// Client credentials (the server's `[omadm]` username / password); every client uses
    /// the same.
    #[arg(long, value_name = "USER:PASSWORD", env = "UNIDM_SIM_DM_CREDENTIALS", hide_env_values = true)]
    pub credentials: String,
    /// The server's password (`[omadm] server_password`), to verify Package #0.
    #[arg(long, value_name = "PASSWORD", default_value = "")]
    pub server_password: String,
    /// `syncml:auth-md5`, `syncml:auth-basic` or `syncml:auth-MAC` (HMAC on every message).
    #[arg(long, value_enum, default_value_t = AuthArg::Md5)]
    pub auth: AuthArg,
    /// Speak WBXML rather than XML.
    #[arg(long)]
    pub wbxml: bool,
    /// Time between client-initiated sessions.
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_duration)]
    pub period: Duration,
    /// The FUMO result every firmware update reports (200 = success; 402 corrupted package,
    /// 410 update failed, ...).
    #[arg(long, value_name = "CODE", default_value_t = 200)]
    pub fumo_result: u32,
    /// The SCOMO result every software operation reports (1200 = success; 1402 download
    /// failed, 1405 install failed, ...).
    #[arg(long, value_name = "CODE", default_value_t = 1200)]
    pub scomo_result: u32,
    /// A management object the clients do not have (repeat for several): the server then
    /// does not offer its function for them.
    #[arg(long, value_enum, value_name = "MO")]
    pub without: Vec<MoArg>,
    /// Give the clients a vendor DiagMon subtree (`./Vendor/DiagMon/{Ping, Traceroute}`) whose
    /// tests answer at once (`sync`) or by Generic Alert 1226 (`async`); the server needs an
    /// `[[omadm.diagnostics]]` profile for it.
    #[arg(long, value_enum, value_name = "MODE")]
    pub diagmon: Option<DiagMonArg>,
    /// IP address the Package #0 listeners bind to.
    #[arg(long, value_name = "IP", default_value = "127.0.0.1")]
    pub push_ip: IpAddr,
    /// Clients sharing one Package #0 listener and one HTTP client (1: a UDP listener and an
    /// HTTP client each). Above 1, a client's Package #0 goes to
    /// `http://IP:PORT/package0/{DevId}` on its shared HTTP listener (a Package #0 does not
    /// name its client, so a shared UDP address could not tell them apart), so that up to
    /// 200000 clients fit in one process. The server must know each URL: give --api.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub clients_per_listener: u32,
    /// unidm's API (`http://HOST:PORT/api/v1`): after its first session, each client's
    /// Package #0 address is set through it (`PUT /omadm/clients/{devId}/push`).
    #[arg(long, value_name = "URL")]
    pub api: Option<String>,
    /// The API's bearer token (an operator's).
    #[arg(long, env = "UNIDM_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
}

/// Sessions of one shared listener's clients at once (each holds a connection to the server).
const CONNECTIONS_PER_LISTENER: usize = 256;

/// A management object of the simulated clients' tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum MoArg {
    /// `./FUMO` (firmware).
    Fumo,
    /// `./SCOMO` (software).
    Scomo,
    /// `./LAWMO` (factory reset).
    Lawmo,
}

/// How the simulated clients' DiagMon tests run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DiagMonArg {
    /// The Exec runs the test; results at once.
    Sync,
    /// The Exec is accepted (202); a Generic Alert 1226 reports the end.
    Async,
}

/// How the simulated clients authenticate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AuthArg {
    /// MD5 digest over the server's nonce.
    Md5,
    /// Basic.
    Basic,
    /// HMAC over every message (`x-syncml-hmac`).
    Hmac,
}

pub(super) async fn run(args: OmadmArgs) -> anyhow::Result<()> {
    let mut stop = Stop::install()?;
    if args.clients_per_listener == 1 {
        args.fleet.check_own_sockets(", or share listeners with --clients-per-listener")?;
    }
    let api = args.api.as_deref().map(|a| Api::new(a, args.token.clone())).transpose()?.map(Arc::new);
    if !args.server.starts_with("http://") {
        bail!("--server `{}` is not an http:// URL (e.g. http://127.0.0.1:8081/dm)", args.server);
    }
    let Some((user, password)) = args.credentials.split_once(':') else {
        bail!("--credentials: write USER:PASSWORD");
    };
    let count = args.fleet.count;
    let dev_id = |i: usize| format!("{}{:06}", args.dev_id_prefix, args.fleet.start_index + i);
    println!(
        "simulating {} ({}{}) with {}, a session every {}",
        counted(count, "OMA DM client"),
        dev_id(0),
        if count == 1 { String::new() } else { format!(" … {}", dev_id(count - 1)) },
        args.server,
        humantime::format_duration(args.period),
    );
    if args.clients_per_listener > 1 && api.is_none() {
        println!(
            "Package #0 goes to http://{}:PORT/package0/{{DevId}}: without --api, tell the server each client's URL (PUT /api/v1/omadm/clients/{{devId}}/push)",
            args.push_ip
        );
    }
    let mut tasks = Vec::new();
    let mut hosts = Vec::new();
    let start = async {
        let mut tick = tokio::time::interval(args.fleet.start_period());
        let per_listener = args.clients_per_listener as usize;
        for i in 0..count {
            tick.tick().await;
            if per_listener > 1 && i % per_listener == 0 {
                let host = SharedDmHost::bind(SocketAddr::new(args.push_ip, 0), CONNECTIONS_PER_LISTENER)
                    .await
                    .map_err(|e| start_error(e, &format!("a Package #0 listener for {}", dev_id(i)), i))?;
                hosts.push(host);
            }
            let host = hosts.last().cloned().filter(|_| per_listener > 1);
            let mut c = SimConfig::new(args.server.clone(), dev_id(i), user, password);
            c.shared_host = host.clone();
            c.server_password.clone_from(&args.server_password);
            c.encoding = if args.wbxml { Encoding::Wbxml } else { Encoding::Xml };
            c.auth = match args.auth {
                AuthArg::Md5 => SimAuth::Md5,
                AuthArg::Basic => SimAuth::Basic,
                AuthArg::Hmac => SimAuth::Hmac,
            };
            c.fumo_result = args.fumo_result;
            c.scomo_result = args.scomo_result;
            c.fumo = !args.without.contains(&MoArg::Fumo);
            c.scomo = !args.without.contains(&MoArg::Scomo);
            c.lawmo = !args.without.contains(&MoArg::Lawmo);
            c.diagmon = args.diagmon.map(|m| match m {
                DiagMonArg::Sync => SimDiagMon::Sync,
                DiagMonArg::Async => SimDiagMon::Async,
            });
            let device = SimDevice::new(c);
            let (push, listener) = match &host {
                Some(host) => (host.attach(&device), None),
                None => {
                    let (addr, task) = device
                        .listen_package0(SocketAddr::new(args.push_ip, 0))
                        .await
                        .map_err(|e| start_error(e, &format!("a Package #0 listener for {}", dev_id(i)), i))?;
                    (format!("udp://{addr}"), Some(task))
                }
            };
            let name = format!("omadm:{}", dev_id(i));
            let each = args.fleet.each();
            let period = args.period;
            let (api, id) = (api.clone(), dev_id(i));
            let session = tokio::spawn(async move {
                let mut first = true;
                loop {
                    match device.run().await {
                        Ok(_) if first => {
                            if let Some(api) = &api {
                                tell_push(api, &id, &push).await;
                            }
                            if each {
                                println!("opened a session: {name}, Package #0 at {push}");
                            }
                            first = false;
                        }
                        Ok(_) => {}
                        Err(e) => println!("session of {name} failed: {e}; retrying"),
                    }
                    tokio::time::sleep(period).await;
                }
            });
            tasks.push((listener, session));
        }
        anyhow::Ok(())
    };
    let started = tokio::select! {
        r = start => Some(r),
        _ = stop.signalled() => None,
    };
    if let Some(Ok(())) = started {
        println!("started {}; SIGINT (Ctrl-C) or SIGTERM stops them", counted(count, "client"));
        stop.signalled().await;
    }
    let n = tasks.len();
    for (listener, session) in tasks {
        if let Some(l) = listener {
            l.abort();
        }
        session.abort();
    }
    for host in hosts {
        host.stop();
    }
    println!("stopped {}", counted(n, "OMA DM client"));
    match started {
        Some(Err(e)) => Err(e),
        _ => Ok(()),
    }
}

/// Sets `dev_id`'s Package #0 address through the API; a failure is printed, not fatal.
async fn tell_push(api: &Api, dev_id: &str, push: &str) {
    let path = format!("/omadm/clients/{dev_id}/push");
    let body = serde_json::json!({ "address": push });
    match api.send(reqwest::Method::PUT, &path, Some(&body)).await {
        Ok((status, _)) if status < 300 => {}
        Ok((status, v)) => println!("PUT {path}: HTTP {status} {}", v["detail"].as_str().unwrap_or("")),
        Err(e) => println!("PUT {path}: {e:#}"),
    }
}
