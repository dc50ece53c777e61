//! `unidm sim`: simulated LwM2M clients and TR-069 CPEs run from the command line against a
//! unidm server (or any LwM2M server / ACS), for demos, manual tests and load. Each simulated
//! device is the library simulator ([`unidm_lwm2m::sim::SimClient`],
//! [`unidm_tr069::sim::SimCpe`], [`unidm_omadm::sim::SimDevice`]) with sockets of its own, so
//! one process runs at most [`MAX_DEVICES`]; several processes with distinct `--start-index`
//! run more. Devices can share sockets instead (LwM2M `--clients-per-socket`, TR-069
//! `--cpes-per-listener`, OMA DM `--clients-per-listener`): then [`MAX_SHARED_DEVICES`] fit.

pub(crate) mod lwm2m;
mod omadm;
mod progress;
mod tr069;

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

pub use lwm2m::Lwm2mArgs;
pub use omadm::OmadmArgs;
pub use tr069::Tr069Args;

/// Most simulated devices per process. Each holds sockets of its own (a UDP socket per LwM2M
/// client; a listener and an HTTP connection per CPE): beyond this, file descriptors and
/// ephemeral ports run short.
pub const MAX_DEVICES: usize = 10_000;

/// Most simulated devices per process when they share sockets (`--clients-per-socket`,
/// `--cpes-per-listener`, `--clients-per-listener`).
pub const MAX_SHARED_DEVICES: usize = 200_000;

/// The simulated protocols.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum SimCommand {
    /// Simulated LwM2M clients (CoAP over UDP).
    ///
    /// Starts --count clients named `{endpoint-prefix}-{index}`, registers them (bootstrapping
    /// first with --bootstrap), keeps them registered with periodic Updates, and answers the
    /// server's Read / Write / Execute / Observe, firmware and software updates. Prints a line
    /// per registered client (a summary per second beyond 20 clients). SIGINT / SIGTERM
    /// de-register every client, then the process exits with status 0.
    Lwm2m(Box<Lwm2mArgs>),
    /// Simulated TR-069 CPEs (CWMP over HTTP).
    ///
    /// Starts --count CPEs with serial numbers `{serial-prefix}{index:06}`, each opening a
    /// session with `0 BOOTSTRAP` + `1 BOOT`, informing periodically, listening for connection
    /// requests, and answering the ACS's RPCs (parameters, reboot, factory reset, downloads,
    /// diagnostics). Prints a line per CPE after its first session (a summary per second beyond
    /// 20 CPEs). SIGINT / SIGTERM stop every CPE, then the process exits with status 0.
    /// --cpes-per-listener shares connection-request listeners and ACS connections.
    Tr069(Tr069Args),
    /// Simulated OMA DM clients (SyncML DM over HTTP).
    ///
    /// Starts --count clients with DevIds `{dev-id-prefix}{index:06}`, each opening a session
    /// at once and then every --period, answering the server's Get / Replace / Add / Delete /
    /// Exec, reporting FUMO and LAWMO results with Generic Alert 1226 in a session of its own,
    /// and opening a session when a Package #0 reaches its listener (UDP, or HTTP shared with
    /// --clients-per-listener). Prints a line per client after its first session. SIGINT /
    /// SIGTERM stop every client.
    Omadm(OmadmArgs),
}

/// Options every `unidm sim` command takes.
#[derive(Debug, Clone, clap::Args)]
pub struct FleetArgs {
    /// How many devices to simulate: 1 to 10000 per process (each holds sockets of its own),
    /// or up to 200000 sharing sockets (`--clients-per-socket`, `--cpes-per-listener`,
    /// `--clients-per-listener`).
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = parse_count)]
    pub count: usize,
    /// Index of the first device; names and serial numbers count up from it, so that several
    /// processes can share one server without clashing.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub start_index: usize,
    /// Devices started per second.
    #[arg(long, value_name = "PER_SECOND", default_value_t = 100,
          value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub rate: u32,
    /// What to print: a line per device (`each`), a summary line per second (`summary`), or
    /// `each` up to 20 devices and `summary` beyond (`auto`).
    #[arg(long, value_enum, default_value_t = ProgressMode::Auto)]
    pub progress: ProgressMode,
    /// Log filter for the simulators' own logs on stderr, e.g. `unidm_tr069=debug`.
    #[arg(long, env = "UNIDM_LOG", default_value = "warn")]
    pub log: String,
}

impl FleetArgs {
    fn each(&self) -> bool {
        match self.progress {
            ProgressMode::Each => true,
            ProgressMode::Summary => false,
            ProgressMode::Auto => self.count <= 20,
        }
    }

    /// The time between two device starts.
    fn start_period(&self) -> Duration {
        Duration::from_secs_f64(1.0 / f64::from(self.rate))
    }
}

/// How `unidm sim` reports progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ProgressMode {
    /// `each` up to 20 devices, `summary` beyond.
    Auto,
    /// A line per device.
    Each,
    /// A summary line per second while something changes.
    Summary,
}

/// Runs a `unidm sim` command until SIGINT / SIGTERM.
pub async fn run(command: SimCommand) -> anyhow::Result<()> {
    let log = match &command {
        SimCommand::Lwm2m(a) => &a.fleet.log,
        SimCommand::Tr069(a) => &a.fleet.log,
        SimCommand::Omadm(a) => &a.fleet.log,
    };
    let filter = tracing_subscriber::EnvFilter::try_new(log)
        .map_err(|e| anyhow::anyhow!("invalid --log filter `{log}`: {e}"))?;
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
    match command {
        SimCommand::Lwm2m(a) => lwm2m::run(*a).await,
        SimCommand::Tr069(a) => tr069::run(a).await,
        SimCommand::Omadm(a) => omadm::run(a).await,
    }
}

fn parse_count(s: &str) -> Result<usize, String> {
    let n: usize = s.parse().map_err(|_| format!("`{s}` is not a number"))?;
    match n {
        0 => Err("must be at least 1".into()),
        n if n > MAX_SHARED_DEVICES => Err(format!(
            "at most {MAX_SHARED_DEVICES} devices per process (sharing sockets); \
             run several processes with distinct --start-index for more"
        )),
        n => Ok(n),
    }
}

impl FleetArgs {
    /// Refuses more than [`MAX_DEVICES`] devices with sockets of their own.
    fn check_own_sockets(&self, sharing: &str) -> anyhow::Result<()> {
        anyhow::ensure!(
            self.count <= MAX_DEVICES,
            "--count {}: at most {MAX_DEVICES} devices per process (each holds sockets of its own){sharing}; \
             run several processes with distinct --start-index for more",
            self.count
        );
        Ok(())
    }
}

/// `30` (seconds) or a humantime duration (`500ms`, `30s`, `5m`).
fn parse_duration(s: &str) -> Result<Duration, String> {
    if let Ok(secs) = s.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    humantime::parse_duration(s).map_err(|e| format!("{e}; write e.g. 30, 30s, 500ms or 5m"))
}

/// A whole number of seconds, given as [`parse_duration`] reads it.
fn parse_seconds(s: &str) -> Result<u32, String> {
    let d = parse_duration(s)?;
    if d.subsec_nanos() != 0 {
        return Err("must be whole seconds".into());
    }
    u32::try_from(d.as_secs()).map_err(|_| "too long".into())
}

/// `1 client`, `3 clients`.
fn counted(n: usize, noun: &str) -> String {
    format!("{n} {noun}{}", if n == 1 { "" } else { "s" })
}

/// Of the addresses a name resolves to, IPv4 first: `localhost` often resolves to `::1` first
/// while servers commonly listen on `0.0.0.0`.
fn prefer_ipv4(addrs: impl Iterator<Item = SocketAddr>) -> Option<SocketAddr> {
    let all: Vec<SocketAddr> = addrs.collect();
    all.iter().find(|a| a.is_ipv4()).or(all.first()).copied()
}

/// `host:port`, `[v6]:port`, or a bare host / IPv6 address given `default_port`.
fn with_port(host: &str, default_port: u16) -> String {
    if host.parse::<std::net::Ipv6Addr>().is_ok() {
        return format!("[{host}]:{default_port}");
    }
    let has_port = match host.rfind(']') {
        Some(end) => host[end..].contains(':'),
        None => host.contains(':'),
    };
    if has_port {
        host.to_owned()
    } else {
        format!("{host}:{default_port}")
    }
}

/// The local address used to reach `peer` (no packet is sent: a connected UDP socket only
/// picks a route).
fn local_ip_towards(peer: SocketAddr) -> std::io::Result<IpAddr> {
    let any: SocketAddr = if peer.is_ipv4() { ([0, 0, 0, 0], 0).into() } else { ([0u16; 8], 0).into() };
    let socket = std::net::UdpSocket::bind(any)?;
    socket.connect(peer)?;
    Ok(socket.local_addr()?.ip())
}

/// Explains a failed device start; running out of file descriptors is the usual cause.
fn start_error(e: std::io::Error, what: &str, running: usize) -> anyhow::Error {
    // EMFILE (per process) and ENFILE (system-wide) on Linux and the BSDs.
    let hint = match e.raw_os_error() {
        Some(23 | 24) => ": out of file descriptors; raise the limit (`ulimit -n`) or lower --count",
        _ => "",
    };
    anyhow::anyhow!("could not start {what} ({running} running): {e}{hint}")
}

/// SIGINT and SIGTERM (Ctrl-C elsewhere), as many times as they come.
struct Stop {
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
    #[cfg(unix)]
    int: tokio::signal::unix::Signal,
}

impl Stop {
    /// Installs the handlers: from now on the signals no longer kill the process.
    fn install() -> anyhow::Result<Stop> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            Ok(Stop { term: signal(SignalKind::terminate())?, int: signal(SignalKind::interrupt())? })
        }
        #[cfg(not(unix))]
        Ok(Stop {})
    }

    async fn signalled(&mut self) {
        #[cfg(unix)]
        tokio::select! {
            _ = self.term.recv() => {},
            _ = self.int.recv() => {},
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_bounded() {
        assert_eq!(parse_count("3"), Ok(3));
        assert!(parse_count("0").unwrap_err().contains("at least 1"));
        assert_eq!(parse_count("10001"), Ok(10001), "LwM2M clients sharing sockets");
        assert!(parse_count("200001").unwrap_err().contains("at most 200000"));
        assert!(parse_count("x").is_err());
        let fleet =
            |count| FleetArgs { count, start_index: 0, rate: 100, progress: ProgressMode::Auto, log: "warn".into() };
        assert!(fleet(10_000).check_own_sockets("").is_ok());
        let err = fleet(10_001).check_own_sockets(", or share").unwrap_err().to_string();
        assert!(err.contains("at most 10000") && err.contains(", or share") && err.contains("--start-index"), "{err}");
    }

    #[test]
    fn durations_are_seconds_or_humantime() {
        assert_eq!(parse_duration("30"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_seconds("5m"), Ok(300));
        assert!(parse_seconds("1500ms").is_err());
        assert!(parse_duration("soon").is_err());
    }

    #[test]
    fn ports_are_added_when_missing() {
        assert_eq!(with_port("example.com", 5683), "example.com:5683");
        assert_eq!(with_port("example.com:1", 5683), "example.com:1");
        assert_eq!(with_port("::1", 5683), "[::1]:5683");
        assert_eq!(with_port("[::1]", 5683), "[::1]:5683");
        assert_eq!(with_port("[::1]:7", 5683), "[::1]:7");
    }
}
