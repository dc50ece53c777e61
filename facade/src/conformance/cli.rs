//! `unidm conformance`: runs a catalogue against one real device and writes the reports.
//!
//! Embedded (default): starts the engine with the LwM2M server, the ACS or the DM server on the
//! given address, waits for the device to register (LwM2M), inform (TR-069) or open a session
//! (OMA DM), runs the cases.
//! With `--api`: starts a run on a running `unidm serve` (`POST /api/v1/conformance-runs`) and
//! follows it. Either way: one line per case with a bar and an ETA, then `report.json`,
//! `report.xml` (JUnit) and `report.html` in `--report-dir`; exit status 0 only when nothing
//! failed or was in error.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use clap::{Args, Subcommand};
use unidm_core::Engine;
use unidm_interop::{runner, Case, CaseReport, Ctx, Report, Summary, Verdict};
use unidm_models::{ConformanceRunState, ConformanceRunStatus, DeviceId, Protocol};

/// `unidm conformance <protocol>`.
#[derive(Debug, Subcommand)]
pub enum ConformanceCommand {
    /// Run the LwM2M catalogue (OMA ETS 1.0 / 1.1 ids) against a client.
    Lwm2m {
        /// The client's endpoint name.
        #[arg(long)]
        endpoint: Option<String>,
        /// Where the embedded LwM2M server listens.
        #[arg(long, default_value = "0.0.0.0:5683")]
        coap: SocketAddr,
        /// Options every protocol takes.
        #[command(flatten)]
        common: CommonArgs,
    },
    /// Run the CWMP catalogue against a CPE pointed at the ACS.
    Tr069 {
        /// The CPE's device id (`tr069:<OUI>-<ProductClass>-<SerialNumber>`).
        #[arg(long)]
        device: Option<String>,
        /// Where the embedded ACS listens (the CPE's ManagementServer.URL is `http://<it>/`).
        #[arg(long, default_value = "0.0.0.0:7547")]
        acs: SocketAddr,
        /// Options every protocol takes.
        #[command(flatten)]
        common: CommonArgs,
    },
    /// Run the OMA DM catalogue against a DM 1.2 / 1.3 client pointed at the DM server.
    Omadm {
        /// The client's DevId (`IMEI:…`), or its device id `omadm:<DevId>`.
        #[arg(long)]
        device: Option<String>,
        /// Where the embedded DM server listens (the client's server URL is `http://<it>/dm`).
        #[arg(long, default_value = "0.0.0.0:8081")]
        dm: SocketAddr,
        /// The client's account name (DMAcc AAuthName); without it, clients are not asked to
        /// authenticate.
        #[arg(long, requires = "password")]
        username: Option<String>,
        /// The client's password (DMAcc AAuthSecret).
        #[arg(long, env = "UNIDM_DM_PASSWORD", requires = "username")]
        password: Option<String>,
        /// The server's password on the client (SRVCRED): the server's Cred and the Package #0
        /// digest.
        #[arg(long, env = "UNIDM_DM_SERVER_PASSWORD")]
        server_password: Option<String>,
        /// Where Package #0 goes (`udp://ip:port`, `ip:port` or an `http(s)://` URL); without
        /// it, each step waits for the client's own next session.
        #[arg(long)]
        push: Option<String>,
        /// Options every protocol takes.
        #[command(flatten)]
        common: CommonArgs,
    },
}

/// The DM server's settings of an embedded run.
#[derive(Debug, Default)]
struct DmArgs {
    credentials: Option<(String, String)>,
    server_password: Option<String>,
    push: Option<String>,
}

/// Options of every protocol.
#[derive(Debug, Args)]
pub struct CommonArgs {
    /// Cases to run, comma-separated ids or id suffixes (`1.0-int-101,1.0-int-2xx`); all when
    /// absent.
    #[arg(long, value_delimiter = ',')]
    cases: Vec<String>,
    /// Print the catalogue and exit.
    #[arg(long)]
    list: bool,
    /// Where the reports go.
    #[arg(long, default_value = "conformance-report")]
    report_dir: PathBuf,
    /// A firmware image URL the device can fetch (firmware cases are inconclusive without).
    #[arg(long)]
    firmware_uri: Option<String>,
    /// A software package URL the device can fetch (software cases are inconclusive without).
    #[arg(long)]
    software_uri: Option<String>,
    /// Packages prepared for the LwM2M firmware error cases, `N=URL` with N the Update Result
    /// the device must end with (2 not enough flash, 3 out of RAM, 4 connection lost, 5
    /// integrity check failure, 6 unsupported package type, 8 update failed); comma-separated
    /// or repeated. Those cases are inconclusive without theirs.
    #[arg(long = "firmware-case", value_name = "N=URL", value_delimiter = ',')]
    firmware_cases: Vec<String>,
    /// Use a running `unidm serve` instead of an embedded one: its API base
    /// (`http://127.0.0.1:8080/api/v1`).
    #[arg(long)]
    api: Option<String>,
    /// Bearer token for `--api` (an operator's).
    #[arg(long, env = "UNIDM_TOKEN")]
    token: Option<String>,
    /// The embedded server's database: a SQLite file or a PostgreSQL URL (default: a temporary
    /// file).
    #[arg(long)]
    db: Option<PathBuf>,
    /// How long to wait for the device to come, seconds.
    #[arg(long, default_value_t = 300)]
    wait_s: u64,
    /// How long one step (one request to the device) may take, seconds.
    #[arg(long, default_value_t = 60)]
    step_timeout_s: u64,
}

/// Runs the command; `Ok(false)` when a case failed or was in error (exit status 1).
pub async fn run(command: ConformanceCommand) -> anyhow::Result<bool> {
    let (protocol, device, listen, common, dm_args) = match command {
        ConformanceCommand::Lwm2m { endpoint, coap, common } => {
            let device = endpoint.map(|e| DeviceId::lwm2m(&e)).transpose().map_err(|e| anyhow!("--endpoint: {e}"))?;
            (Protocol::Lwm2m, device, coap, common, DmArgs::default())
        }
        ConformanceCommand::Tr069 { device, acs, common } => {
            let device = device.map(|d| DeviceId::parse(&d)).transpose().map_err(|e| anyhow!("--device: {e}"))?;
            if device.as_ref().is_some_and(|d| d.protocol() != Protocol::Tr069) {
                bail!("--device: a TR-069 device id, tr069:<OUI>-<ProductClass>-<SerialNumber>");
            }
            (Protocol::Tr069, device, acs, common, DmArgs::default())
        }
        ConformanceCommand::Omadm { device, dm, username, password, server_password, push, common } => {
            let device = device
                .map(|d| match d.strip_prefix("omadm:") {
                    Some(_) => DeviceId::parse(&d),
                    None => DeviceId::omadm(&d),
                })
                .transpose()
                .map_err(|e| anyhow!("--device: {e}"))?;
            if device.as_ref().is_some_and(|d| d.protocol() != Protocol::Omadm) {
                bail!("--device: an OMA DM client's DevId, or omadm:<DevId>");
            }
            let dm_args = DmArgs { credentials: username.zip(password), server_password, push };
            (Protocol::Omadm, device, dm, common, dm_args)
        }
    };
    let catalogue = unidm_interop::catalogue(protocol);
    if common.list {
        for c in &catalogue {
            println!("{:<34} {}  [{}]", c.id, c.title, c.requirements.join(", "));
        }
        return Ok(true);
    }
    let device = device.ok_or_else(|| anyhow!("name the device: --endpoint (LwM2M) or --device (TR-069, OMA DM)"))?;
    let cases = unidm_interop::select(&catalogue, &common.cases).map_err(|e| anyhow!("--cases: {e}"))?;
    unidm_interop::firmware_cases(&common.firmware_cases).map_err(|e| anyhow!("--firmware-case: {e}"))?;
    if common.api.is_some() && (dm_args.credentials.is_some() || dm_args.push.is_some()) {
        bail!(
            "--username, --password and --push set up the embedded DM server; with --api, give them to that \
             server: PUT /api/v1/omadm/clients/{{devId}}/credentials and /push"
        );
    }
    let report = match &common.api {
        Some(api) => over_api(api, &device, &common).await?,
        None => embedded(protocol, &device, listen, &cases, &common, &dm_args).await?,
    };
    let written =
        report.write_to(&common.report_dir).with_context(|| format!("writing {}", common.report_dir.display()))?;
    print_summary(&report.summary);
    for path in written {
        println!("  {}", path.display());
    }
    Ok(report.summary.ok())
}

async fn embedded(
    protocol: Protocol,
    device: &DeviceId,
    listen: SocketAddr,
    cases: &[Case],
    common: &CommonArgs,
    dm_args: &DmArgs,
) -> anyhow::Result<Report> {
    let temp = tempfile::tempdir()?;
    let db = common.db.clone().unwrap_or_else(|| temp.path().join("unidm.db"));
    let mut builder = Engine::builder().store_arc(crate::database::open(&db, true, None, &Default::default()).await?);
    let mut lwm2m = None;
    let mut acs = None;
    let mut dm = None;
    match protocol {
        Protocol::Lwm2m => {
            // No bootstrap server: this run has no way to be given a configuration for it (the
            // bootstrap cases run with --api on a `unidm serve`).
            let config = unidm_lwm2m::Lwm2mConfig { bootstrap_listen: None, ..unidm_lwm2m::Lwm2mConfig::new(listen) };
            let adapter = Arc::new(unidm_lwm2m::Lwm2mAdapter::new(config));
            builder = builder.adapter_arc(adapter.clone());
            lwm2m = Some(adapter);
        }
        Protocol::Tr069 => {
            // Uploads (the Upload case) go to the run's temporary folder, at most 16 MiB each.
            let files = unidm_tr069::FileServerConfig {
                dir: temp.path().join("files"),
                accept_uploads: true,
                max_upload: 16 << 20,
            };
            let adapter = Arc::new(unidm_tr069::Tr069Adapter::new(unidm_tr069::Tr069Config {
                listen,
                files: Some(files),
                ..unidm_tr069::Tr069Config::default()
            }));
            builder = builder.adapter_arc(adapter.clone());
            acs = Some(adapter);
        }
        Protocol::Omadm => {
            use unidm_omadm::session::{ClientAuth, Credentials};
            let mut config = unidm_omadm::server::OmadmConfig {
                listen,
                server_password: dm_args.server_password.clone(),
                ..unidm_omadm::server::OmadmConfig::default()
            };
            match &dm_args.credentials {
                Some((user, password)) => config.client_credentials = Some(Credentials::new(user, password)),
                None => config.client_auth = ClientAuth::None,
            }
            let adapter = Arc::new(unidm_omadm::server::OmadmAdapter::new(config));
            builder = builder.adapter_arc(adapter.clone());
            dm = Some(adapter);
        }
    }
    let engine = builder.start().await.context("starting the engine")?;
    let where_ = match (&lwm2m, &acs, &dm) {
        (Some(a), _, _) => format!("coap://{}", a.local_addr().unwrap_or(listen)),
        (_, Some(a), _) => a.acs_url().unwrap_or_else(|| format!("http://{listen}/")),
        (_, _, Some(a)) => a.server_url().unwrap_or_else(|| format!("http://{listen}/dm")),
        _ => listen.to_string(),
    };
    println!("waiting up to {} s for {device} at {where_} …", common.wait_s);
    let deadline = Instant::now() + Duration::from_secs(common.wait_s);
    loop {
        let here = match &lwm2m {
            Some(a) => a.registration(device.native()).is_some(),
            None => engine.device(device).is_ok(),
        };
        if here {
            break;
        }
        if Instant::now() >= deadline {
            engine.shutdown().await;
            bail!("{device} did not come within {} s", common.wait_s);
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(200)) => {}
            _ = tokio::signal::ctrl_c() => { engine.shutdown().await; bail!("interrupted") }
        }
    }
    if let (Some(adapter), Some(push)) = (&dm, &dm_args.push) {
        adapter.set_push(device.native(), Some(push)).await.map_err(|e| anyhow!("--push: {e}"))?;
    }
    let description = engine.device(device).map(|d| super::describe(&d)).unwrap_or_default();
    println!("{device} is here ({description}); {} cases", cases.len());
    let ctx = Ctx::new(engine.clone(), device.clone())
        .with_lwm2m(lwm2m)
        .with_firmware_uri(common.firmware_uri.clone())
        .with_software_uri(common.software_uri.clone())
        .with_firmware_cases(unidm_interop::firmware_cases(&common.firmware_cases).map_err(|e| anyhow!(e))?)
        .with_step_timeout(Duration::from_secs(common.step_timeout_s));
    let started = engine.now();
    let mut progress = Terminal::new(cases.len());
    let mut reports = Vec::new();
    for (i, case) in cases.iter().enumerate() {
        runner::Progress::started(&mut progress, i, cases.len(), case);
        let report = tokio::select! {
            r = runner::run_case(&ctx, case) => r,
            _ = tokio::signal::ctrl_c() => {
                println!("interrupted: the report holds the {} cases that ended", reports.len());
                break;
            }
        };
        runner::Progress::finished(&mut progress, i, cases.len(), &report);
        reports.push(report);
    }
    let report = Report::new(protocol, device.clone(), description, started, engine.now(), reports);
    engine.shutdown().await;
    Ok(report)
}

async fn over_api(api: &str, device: &DeviceId, common: &CommonArgs) -> anyhow::Result<Report> {
    let api = api.trim_end_matches('/');
    let http = reqwest::Client::builder().timeout(Duration::from_secs(30)).build()?;
    let auth = |r: reqwest::RequestBuilder| match &common.token {
        Some(t) => r.bearer_auth(t),
        None => r,
    };
    let body = serde_json::json!({
        "device": device, "cases": common.cases,
        "firmwareUri": common.firmware_uri, "softwareUri": common.software_uri,
        "firmwareCases": unidm_interop::firmware_cases(&common.firmware_cases).map_err(|e| anyhow!(e))?,
    });
    let response =
        auth(http.post(format!("{api}/conformance-runs")).json(&body)).send().await.context("POST conformance-runs")?;
    if !response.status().is_success() {
        let status = response.status();
        bail!("{status}: {}", response.text().await.unwrap_or_default());
    }
    let run: ConformanceRunStatus = response.json().await?;
    println!("conformance run {} on {device}: {} cases", run.id, run.total);
    let mut progress = Terminal::new(run.total);
    let mut shown = 0;
    loop {
        let status: ConformanceRunStatus = auth(http.get(format!("{api}/conformance-runs/{}", run.id)))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let report: Report = auth(http.get(format!("{api}/conformance-runs/{}/report", run.id)))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        for (i, case) in report.cases.iter().enumerate().skip(shown) {
            progress.line(i, case);
        }
        shown = report.cases.len();
        if status.state != ConformanceRunState::Running {
            return Ok(report);
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
            _ = tokio::signal::ctrl_c() => {
                let _ = auth(http.delete(format!("{api}/conformance-runs/{}", run.id))).send().await;
                println!("interrupted: run {} cancelled after its current case", run.id);
            }
        }
    }
}

/// One line per case: position, verdict, id, title, duration, a bar and the ETA.
struct Terminal {
    total: usize,
    started: Instant,
}

impl Terminal {
    fn new(total: usize) -> Terminal {
        Terminal { total, started: Instant::now() }
    }

    fn line(&mut self, index: usize, r: &CaseReport) {
        let done = index + 1;
        let width = 20;
        let filled = done * width / self.total.max(1);
        let bar: String = "█".repeat(filled) + &"░".repeat(width - filled);
        let per_case = self.started.elapsed().as_secs_f64() / done as f64;
        let eta = per_case * (self.total - done.min(self.total)) as f64;
        let verdict = match r.verdict {
            Verdict::Pass => "PASS",
            Verdict::Fail => "FAIL",
            Verdict::Inconclusive => "INCO",
            Verdict::Error => "ERR ",
        };
        println!(
            "[{done:>3}/{}] {verdict} {:<34} {} ({:.1} s) ▕{bar}▏ ETA {:.0} s",
            self.total,
            r.id,
            r.title,
            r.duration_ms as f64 / 1000.0,
            eta
        );
        if r.verdict != Verdict::Pass {
            match (&r.expected, &r.got) {
                (Some(e), Some(g)) => println!("          {}: expected {e}, got {g}", r.reason),
                _ => println!("          {}", r.reason),
            }
        }
    }
}

impl runner::Progress for Terminal {
    fn started(&mut self, _: usize, _: usize, _: &Case) {}
    fn finished(&mut self, index: usize, _: usize, report: &CaseReport) {
        self.line(index, report);
    }
}

fn print_summary(s: &Summary) {
    println!(
        "{} cases: {} passed, {} failed, {} inconclusive, {} errors — {}",
        s.total,
        s.passed,
        s.failed,
        s.inconclusive,
        s.errors,
        if s.ok() { "OK" } else { "FAILED" }
    );
}
