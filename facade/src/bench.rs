//! `unidm bench`: load against any server over the network, with figures a user can compare.
//! So far `unidm bench lwm2m`: distinct endpoints register through many shared UDP sockets
//! ([`unidm_lwm2m::load`]), a window of Registers in flight per socket, for at most a duration;
//! it prints registrations/s, latency percentiles (p50 / p99 / max, from the first send to the
//! 2.01), refusals, time-outs, retransmissions, Device Management requests answered, its own
//! CPU time, and the server's CPU time and resident memory when given `--server-pid`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use unidm_lwm2m::load::{Latencies, LoadSocket, Registered};

/// `unidm bench` protocols.
#[derive(Debug, clap::Subcommand)]
pub enum BenchCommand {
    /// Register distinct LwM2M endpoints with a server and measure it.
    Lwm2m(Lwm2mBenchArgs),
}

/// Flags of `unidm bench lwm2m`.
#[derive(Debug, Clone, clap::Args)]
pub struct Lwm2mBenchArgs {
    /// The LwM2M server, `HOST:PORT` (plain CoAP).
    #[arg(long, value_name = "HOST:PORT")]
    pub server: String,
    /// Distinct endpoints to register (1 to 10,000,000).
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
    pub devices: u64,
    /// Stop after this many seconds even if not every device registered (1 to 3600).
    #[arg(long, value_name = "SECONDS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub duration: u64,
    /// UDP sockets the simulated clients share (1 to 1024).
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..=1024))]
    pub sockets: u64,
    /// Registers in flight per socket (1 to 64).
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u64).range(1..=64))]
    pub window: u64,
    /// Endpoint names are `{prefix}-{index}`.
    #[arg(long, default_value = "bench")]
    pub endpoint_prefix: String,
    /// The server's process id: its CPU time and resident memory are reported too (Linux).
    #[arg(long, value_name = "PID")]
    pub server_pid: Option<u32>,
}

/// CPU time (user + system) and resident bytes of a process, from `/proc` (Linux).
fn process_usage(pid: &str) -> Option<(Duration, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces): state is field 3, utime 14, stime 15.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    let statm = std::fs::read_to_string(format!("/proc/{pid}/statm")).ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    // USER_HZ is 100 and pages 4 KiB on Linux x86-64 / arm64.
    Some((Duration::from_millis(ticks * 10), pages * 4096))
}

/// Runs a `unidm bench` command.
pub async fn run(command: BenchCommand) -> anyhow::Result<()> {
    match command {
        BenchCommand::Lwm2m(args) => lwm2m(args).await,
    }
}

async fn lwm2m(args: Lwm2mBenchArgs) -> anyhow::Result<()> {
    let server = crate::sim::lwm2m::resolve("LwM2M server", &args.server, 5683).await?;
    let bind: SocketAddr = if server.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" }.parse()?;
    let bind = if server.ip().is_loopback() { SocketAddr::new(server.ip(), 0) } else { bind };
    let (devices, sockets, window) = (args.devices as usize, args.sockets as usize, args.window as usize);
    println!(
        "unidm bench lwm2m: {devices} endpoints `{}-N` registering with coap://{server} over {sockets} sockets x {window} in flight, at most {} s",
        args.endpoint_prefix, args.duration
    );
    let mut generators = Vec::with_capacity(sockets);
    for i in 0..sockets {
        generators.push(LoadSocket::bind(bind, server, i).await?);
    }
    let server_pid = args.server_pid.map(|p| p.to_string());
    let server_before = server_pid.as_deref().and_then(process_usage);
    let own_before = process_usage("self").map(|(cpu, _)| cpu).unwrap_or_default();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(args.duration);
    let start = Instant::now();
    let lanes = sockets * window;
    let mut workers = Vec::with_capacity(lanes);
    for (s, g) in generators.iter().enumerate() {
        for w in 0..window {
            let g: Arc<LoadSocket> = g.clone();
            let prefix = args.endpoint_prefix.clone();
            let mut i = s * window + w;
            workers.push(tokio::spawn(async move {
                let (mut latencies, mut refused, mut timed_out) = (Latencies::default(), 0usize, 0usize);
                while i < devices && tokio::time::Instant::now() < deadline {
                    match g.register(&format!("{prefix}-{i}"), 86_400).await {
                        Registered::Created(d) => latencies.push(d),
                        Registered::Refused(_) => refused += 1,
                        Registered::TimedOut => timed_out += 1,
                    }
                    i += lanes;
                }
                (latencies, refused, timed_out)
            }));
        }
    }
    let (mut latencies, mut refused, mut timed_out) = (Latencies::default(), 0, 0);
    for w in workers {
        if let Ok((l, r, t)) = w.await {
            latencies.extend(l);
            refused += r;
            timed_out += t;
        }
    }
    let took = start.elapsed().as_secs_f64().max(1e-6);
    let ok = latencies.len();
    let ms = |d: Option<Duration>| d.map_or("-".to_owned(), |d| format!("{:.2} ms", d.as_secs_f64() * 1000.0));
    println!(
        "registrations:   {ok} of {devices} answered 2.01 in {took:.2} s = {:.0} registrations/s",
        ok as f64 / took
    );
    println!(
        "latency:         p50 {}, p99 {}, max {}",
        ms(latencies.percentile(50.0)),
        ms(latencies.percentile(99.0)),
        ms(latencies.max())
    );
    let retransmitted: usize = generators.iter().map(|g| g.retransmissions()).sum();
    let answered: usize = generators.iter().map(|g| g.requests_answered()).sum();
    println!(
        "errors:          {refused} refused (not 2.01), {timed_out} unanswered after 5 sends; {retransmitted} retransmissions; {answered} server requests answered"
    );
    let own = process_usage("self").map(|(cpu, _)| cpu).unwrap_or_default().saturating_sub(own_before);
    println!(
        "load tool CPU:   {:.2} s = {:.0} µs per registration",
        own.as_secs_f64(),
        own.as_secs_f64() * 1e6 / ok.max(1) as f64
    );
    if let (Some(pid), Some((cpu0, _))) = (&server_pid, server_before) {
        match process_usage(pid) {
            Some((cpu1, rss)) => {
                let cpu = cpu1.saturating_sub(cpu0);
                println!(
                    "server CPU:      {:.2} s = {:.0} µs per registration; resident memory {:.1} MiB",
                    cpu.as_secs_f64(),
                    cpu.as_secs_f64() * 1e6 / ok.max(1) as f64,
                    rss as f64 / 1048576.0
                );
            }
            None => println!("server CPU:      process {pid} is gone"),
        }
    }
    if ok == 0 {
        anyhow::bail!("no registration succeeded: is an LwM2M server listening on {server}?");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_its_own_usage() {
        let (cpu, rss) = super::process_usage("self").expect("/proc/self");
        assert!(rss > 0 && cpu < std::time::Duration::from_secs(3600));
        assert!(super::process_usage("999999999").is_none());
    }
}
