//! The simulated devices of `unidm bench campaign`, each protocol's sharing sockets so that
//! 100,000 and more fit in one process: LwM2M clients on shared UDP sockets
//! ([`unidm_lwm2m::sim::SharedSocket`]), TR-069 CPEs on shared connection-request listeners
//! and connection pools ([`unidm_tr069::sim::SharedCpeHost`], the small TR-181 tree), OMA DM
//! clients on shared Package #0 listeners and HTTP clients
//! ([`unidm_omadm::sim::SharedDmHost`]). Every device reports the run's model name; each
//! takes the run's download and update delays. Starting them is not timed.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;
use unidm_lwm2m::sim::{FirmwareBehaviour, Share, SharedSocket, SimClient};
use unidm_omadm::sim::{SharedDmHost, SimDevice};
use unidm_tr069::sim::{ParameterTree, SharedCpeHost, SimCpe};

use super::super::Api;

/// Devices starting (registering, first session, enrolment) at once.
const STARTING: usize = 256;
/// Sessions of one host's TR-069 CPEs or OMA DM clients at once (each holds a connection to
/// the server).
const CONNECTIONS_PER_HOST: usize = 256;
/// The version the firmware image brings.
pub(crate) const VERSION: &str = "2.0";
/// The OUI and ProductClass of the simulated CPEs.
const OUI: &str = "00D09E";
const PRODUCT_CLASS: &str = "CampaignCPE";
/// The DM clients' user name (each gets it, with the run's password, through the API).
const DM_USER: &str = "campaign";

/// What every fleet shares: the run's names and the clients' delays.
pub(crate) struct Plan<'a> {
    /// The model name every device reports; also the start of every device name.
    pub model: &'a str,
    pub run_id: &'a str,
    pub download: Duration,
    pub update: Duration,
    /// Devices per shared socket / listener.
    pub per_socket: usize,
}

/// The local address to bind for talking to `peer`: the loopback address itself, else
/// whichever address the route to `peer` leaves from (no packet is sent).
fn local_ip_towards(peer: SocketAddr) -> anyhow::Result<IpAddr> {
    if peer.ip().is_loopback() {
        return Ok(peer.ip());
    }
    let any: SocketAddr = if peer.is_ipv4() { ([0, 0, 0, 0], 0).into() } else { ([0u16; 8], 0).into() };
    let socket = std::net::UdpSocket::bind(any)?;
    socket.connect(peer)?;
    Ok(socket.local_addr()?.ip())
}

/// Starts and registers `n` LwM2M clients, sharing sockets; [`STARTING`] registrations at a
/// time.
pub(crate) async fn lwm2m(plan: &Plan<'_>, server: SocketAddr, n: usize) -> anyhow::Result<Vec<Arc<SimClient>>> {
    let bind = SocketAddr::new(if server.ip().is_loopback() { server.ip() } else { [0, 0, 0, 0].into() }, 0);
    let started = Instant::now();
    let slots = Arc::new(Semaphore::new(STARTING));
    let mut share = None;
    let (mut clients, mut registering) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for i in 0..n {
        if i % plan.per_socket == 0 {
            share = Some(Share(SharedSocket::bind(bind, i as u16).await?));
        }
        let endpoint = format!("{}-{i}", plan.model);
        let config = unidm_lwm2m::sim::SimConfig {
            model: plan.model.to_owned(),
            serial: format!("SN-{endpoint}"),
            lifetime_s: 3600,
            firmware: FirmwareBehaviour {
                download_delay: plan.download,
                update_delay: plan.update,
                ..Default::default()
            },
            shared_socket: share.clone(),
            ..unidm_lwm2m::sim::SimConfig::new(&endpoint, server)
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
        "{failed} of {n} LwM2M clients did not register (is `[lwm2m] max_registers_per_source` high enough?)"
    );
    println!("registered {n} LwM2M clients in {:.2} s (not timed below)", started.elapsed().as_secs_f64());
    Ok(clients)
}

/// Starts `n` TR-069 CPEs informing `acs` (reached at `acs_addr`), sharing hosts; returns
/// once every one finished its first session (`0 BOOTSTRAP` + `1 BOOT`: the ACS reads its
/// model and sets its connection-request credentials), [`STARTING`] at a time.
pub(crate) async fn tr069(
    plan: &Plan<'_>,
    acs: &str,
    acs_addr: SocketAddr,
    n: usize,
) -> anyhow::Result<(Vec<Arc<SimCpe>>, Vec<Arc<SharedCpeHost>>)> {
    let bind = SocketAddr::new(local_ip_towards(acs_addr)?, 0);
    let started = Instant::now();
    let slots = Arc::new(Semaphore::new(STARTING));
    let (mut cpes, mut hosts, mut informing) = (Vec::with_capacity(n), Vec::new(), Vec::with_capacity(n));
    let mut template = ParameterTree::tr181(OUI, PRODUCT_CLASS, "");
    template.set_text("Device.DeviceInfo.ModelName", plan.model);
    for i in 0..n {
        if i % plan.per_socket == 0 {
            hosts.push(SharedCpeHost::bind(bind, CONNECTIONS_PER_HOST).await?);
        }
        // Serial numbers of [A-Za-z0-9] only: the device id stays readable.
        let serial = format!("C{}{i:06}", plan.run_id);
        let mut tree = template.clone();
        tree.set_text("Device.DeviceInfo.SerialNumber", &serial);
        let config = unidm_tr069::sim::SimConfig {
            serial: Some(serial),
            download_delay: plan.download,
            reboot_delay: plan.update,
            firmware_version: Some(VERSION.to_owned()),
            shared_host: hosts.last().cloned(),
            ..unidm_tr069::sim::SimConfig::new(acs, tree)
        };
        let permit = slots.clone().acquire_owned().await?;
        let cpe = Arc::new(SimCpe::start(config).await?);
        let c = cpe.clone();
        informing.push(tokio::spawn(async move {
            let _permit = permit;
            c.wait_for(Duration::from_secs(60), |s| s.sessions >= 1).await
        }));
        cpes.push(cpe);
    }
    let mut silent = 0;
    for r in informing {
        if !matches!(r.await, Ok(true)) {
            silent += 1;
        }
    }
    anyhow::ensure!(silent == 0, "{silent} of {n} TR-069 CPEs did not end a first session with the ACS within 60 s");
    println!("informed {n} TR-069 CPEs in {:.2} s (not timed below)", started.elapsed().as_secs_f64());
    Ok((cpes, hosts))
}

/// Starts `n` OMA DM clients of the DM server at `dm` (reached at `dm_addr`), sharing hosts,
/// enrols each through the API (provisioned, given credentials of the run and its push URL
/// on its host) and runs its first session; [`STARTING`] at a time.
pub(crate) async fn omadm(
    plan: &Plan<'_>,
    api: &Arc<Api>,
    dm: &str,
    dm_addr: SocketAddr,
    n: usize,
) -> anyhow::Result<(Vec<SimDevice>, Vec<Arc<SharedDmHost>>)> {
    let bind = SocketAddr::new(local_ip_towards(dm_addr)?, 0);
    let started = Instant::now();
    let password = format!("pw-{}", plan.run_id);
    let slots = Arc::new(Semaphore::new(STARTING));
    let (mut devices, mut hosts, mut enrolling) = (Vec::with_capacity(n), Vec::new(), Vec::with_capacity(n));
    for i in 0..n {
        if i % plan.per_socket == 0 {
            hosts.push(SharedDmHost::bind(bind, CONNECTIONS_PER_HOST).await?);
        }
        let host = hosts.last().cloned().ok_or_else(|| anyhow::anyhow!("no DM host"))?;
        let dev_id = format!("{}-dm-{i}", plan.model);
        let mut config = unidm_omadm::sim::SimConfig::new(dm, &dev_id, DM_USER, &password);
        config.model = plan.model.to_owned();
        config.fumo_delays = Some((plan.download, plan.update));
        config.shared_host = Some(host.clone());
        let device = SimDevice::new(config);
        let push = host.attach(&device);
        let permit = slots.clone().acquire_owned().await?;
        let (api, d, password) = (api.clone(), device.clone(), password.clone());
        enrolling.push(tokio::spawn(async move {
            let _permit = permit;
            enrol(&api, &dev_id, &password, &push).await?;
            d.run().await.map_err(|e| anyhow::anyhow!("first session of {dev_id}: {e}"))?;
            anyhow::Ok(())
        }));
        devices.push(device);
    }
    let (mut failed, mut first) = (0, None);
    for r in enrolling {
        let why = match r.await {
            Ok(Ok(())) => continue,
            Ok(Err(e)) => e.to_string(),
            Err(e) => e.to_string(),
        };
        failed += 1;
        first.get_or_insert(why);
    }
    if let Some(why) = first {
        anyhow::bail!("{failed} of {n} OMA DM clients were not enrolled or had no first session; the first: {why}");
    }
    println!(
        "enrolled {n} OMA DM clients and ran their first sessions in {:.2} s (not timed below)",
        started.elapsed().as_secs_f64()
    );
    Ok((devices, hosts))
}

/// Provisions `omadm:{dev_id}` (already there is fine), sets its credentials and where its
/// Package #0 goes.
async fn enrol(api: &Api, dev_id: &str, password: &str, push: &str) -> anyhow::Result<()> {
    let id = format!("omadm:{dev_id}");
    match api.send(reqwest::Method::POST, "/devices", Some(&serde_json::json!({ "id": id }))).await? {
        (201 | 409, _) => {}
        (status, v) => anyhow::bail!("POST /devices {id}: HTTP {status} {}", v["detail"].as_str().unwrap_or("")),
    }
    let settings = [
        ("credentials", serde_json::json!({ "username": DM_USER, "password": password })),
        ("push", serde_json::json!({ "address": push })),
    ];
    for (what, body) in settings {
        let path = format!("/omadm/clients/{dev_id}/{what}");
        match api.send(reqwest::Method::PUT, &path, Some(&body)).await? {
            (status, _) if status < 300 => {}
            (status, v) => anyhow::bail!("PUT {path}: HTTP {status} {}", v["detail"].as_str().unwrap_or("")),
        }
    }
    Ok(())
}
