//! A simulated CWMP CPE, usable as a library (tests, demo, load).
//!
//! It holds a [`ParameterTree`] (the real TR-098 tree of a Huawei BM632w from genieacs-sim, or
//! a small TR-181 tree), opens sessions to the ACS over real HTTP with the Inform events of
//! TR-069 Amendment 6, A.3.3.1 (`0 BOOTSTRAP`, `1 BOOT`, `2 PERIODIC`, `4 VALUE CHANGE`,
//! `6 CONNECTION REQUEST`, `7 TRANSFER COMPLETE`, `8 DIAGNOSTICS COMPLETE`, `M …`), answers the
//! ACS's RPCs, listens for connection requests with Digest authentication (3.2.2), and
//! simulates downloads (configurable delay and failure), reboots and IPPing diagnostics.
//!
//! Alone, a CPE binds a connection-request listener of its own and keeps its own HTTP
//! connection to the ACS. CPEs given one [`SharedCpeHost`] ([`SimConfig::shared_host`]) share
//! one listener, which tells them apart by path, and one pool of connections, each held by a
//! session from its Inform to its end, so that 100,000 CPEs fit in one process. For many
//! CPEs, prefer the small TR-181 tree ([`ParameterTree::tr181`], a few KB a copy) to the
//! TR-098 one (about 100 KB).

mod conn_req;
mod cpe;
mod diagnostics;
mod shared;
mod software;
mod transfers;
pub mod tree;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use shared::SharedCpeHost;
pub use tree::ParameterTree;

use crate::rpc::inform::EventStruct;

/// Settings of a simulated CPE.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// The ACS URL.
    pub acs_url: String,
    /// The parameter tree (its identity goes into `Inform/DeviceId`).
    pub tree: ParameterTree,
    /// Replaces the tree's serial number (to run many CPEs from one tree).
    pub serial: Option<String>,
    /// Periodic Inform interval; `None` disables periodic Informs.
    pub periodic_inform: Option<Duration>,
    /// Where the connection-request listener binds (default `127.0.0.1:0`; unused with
    /// [`SimConfig::shared_host`]).
    pub connection_request_listen: SocketAddr,
    /// How long a Download takes.
    pub download_delay: Duration,
    /// When set, every Download fails with this fault code and string.
    pub download_fault: Option<(u32, String)>,
    /// The SoftwareVersion after a successful firmware download (default: the URL's file name).
    pub firmware_version: Option<String>,
    /// Answer a firmware Download with Status 0: downloaded and applied within the session, no
    /// TransferComplete (TR-069 Amendment 6, A.3.2.8; default false: Status 1, TransferComplete
    /// later).
    pub download_at_once: bool,
    /// How long a reboot takes.
    pub reboot_delay: Duration,
    /// Credentials for the ACS (user, password), used when the ACS asks (Basic or Digest).
    pub acs_credentials: Option<(String, String)>,
    /// Whether the first session announces `0 BOOTSTRAP` (default true).
    pub bootstrap: bool,
    /// Whether Downloads really fetch their URL over HTTP (default false: only simulated).
    pub fetch_downloads: bool,
    /// Devices behind this gateway, listed as `ManagementServer.ManageableDevice.{i}.`
    /// (TR-111 part 1): (OUI, ProductClass, SerialNumber).
    pub manageable_devices: Vec<(String, String, String)>,
    /// Listen for UDP connection requests (Annex G) and report
    /// `ManagementServer.UDPConnectionRequestAddress` (default false).
    pub udp_connection_requests: bool,
    /// Reports this `ConnectionRequestURL` instead of the listener's (e.g. an unreachable one,
    /// as behind a NAT).
    pub connection_request_url: Option<String>,
    /// Drop the session without an answer when a GetParameterValues names a partial path, as
    /// some CPE agents in the field do (default false).
    pub drop_partial_path_gpv: bool,
    /// Drop the session without an answer when one of these RPCs arrives (by name, e.g.
    /// `GetParameterAttributes`; default none).
    pub unanswered_rpcs: Vec<String>,
    /// Share a connection-request listener and the connections to the ACS with other CPEs
    /// instead of holding a listener and a connection of its own (default none).
    pub shared_host: Option<Arc<SharedCpeHost>>,
    /// Misbehave: report a change the ACS made by SetParameterValues to a parameter with
    /// notification on as `4 VALUE CHANGE`, as a change on the device would be (default false;
    /// TR-069 notifies changes made by any means other than the ACS).
    pub notify_acs_changes: bool,
}

impl SimConfig {
    /// A CPE with `tree` reporting to `acs_url`, quick delays, no periodic Inform.
    pub fn new(acs_url: impl Into<String>, tree: ParameterTree) -> Self {
        SimConfig {
            acs_url: acs_url.into(),
            tree,
            serial: None,
            periodic_inform: None,
            connection_request_listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            download_delay: Duration::from_millis(100),
            download_fault: None,
            firmware_version: None,
            download_at_once: false,
            reboot_delay: Duration::from_millis(100),
            acs_credentials: None,
            bootstrap: true,
            fetch_downloads: false,
            manageable_devices: Vec::new(),
            udp_connection_requests: false,
            connection_request_url: None,
            drop_partial_path_gpv: false,
            unanswered_rpcs: Vec::new(),
            notify_acs_changes: false,
            shared_host: None,
        }
    }
}

/// What the simulated CPE went through, for assertions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SimStats {
    /// Sessions that ended with the ACS's 204.
    pub sessions: u64,
    /// Sessions that failed (HTTP error, transport error, protocol error).
    pub failed_sessions: u64,
    /// Event codes of the last Inform sent.
    pub last_events: Vec<String>,
    /// Names of the RPCs received from the ACS, in order.
    pub rpcs: Vec<String>,
    /// Connection requests accepted.
    pub connection_requests: u64,
    /// Reboots done.
    pub reboots: u64,
    /// Requests the CPE dropped its session on ([`SimConfig::drop_partial_path_gpv`],
    /// [`SimConfig::unanswered_rpcs`]).
    pub dropped: Vec<String>,
}

/// Mutable state shared by the session task and the connection-request listener.
#[derive(Debug)]
pub(crate) struct Shared {
    pub tree: ParameterTree,
    pub pending_events: Vec<EventStruct>,
    /// CPE requests to send in the next session (TransferComplete, DUStateChangeComplete).
    pub pending_requests: Vec<crate::rpc::Rpc>,
    /// Parameters changed locally since the last Inform.
    pub changed: Vec<String>,
    pub stats: SimStats,
    pub in_session: bool,
    /// CommandKeys of ScheduleDownloads whose window has not opened yet (cancellable).
    pub scheduled: Vec<String>,
    /// Bodies the CPE uploaded (Upload), by URL.
    pub uploads: Vec<(String, u16)>,
    /// Bumped by [`SimCpe::hurry`]: whatever the CPE is carrying out (reboot, download,
    /// diagnostics, software change) ends now instead of after its delay.
    pub hurry: tokio::sync::watch::Sender<u64>,
}

impl Shared {
    /// Adds an event; single events (`0`-`13`) appear once, `M …` events once per CommandKey.
    pub(crate) fn add_event(&mut self, code: &str, command_key: &str) {
        let dup = self.pending_events.iter().any(|e| e.event_code == code && e.command_key == command_key);
        if !dup {
            self.pending_events.push(EventStruct { event_code: code.into(), command_key: command_key.into() });
        }
    }
}

/// A running simulated CPE. Dropping it does not stop it; call [`SimCpe::stop`].
pub struct SimCpe {
    shared: Arc<Mutex<Shared>>,
    wake: Arc<tokio::sync::Notify>,
    stop: tokio::sync::watch::Sender<bool>,
    cr_url: String,
    /// The shared host and this CPE's index there.
    host: Option<(Arc<SharedCpeHost>, u32)>,
}

impl SimCpe {
    /// Starts the CPE: binds the connection-request listener (or joins its shared host) and
    /// opens the first session (`0 BOOTSTRAP` + `1 BOOT`).
    pub async fn start(mut config: SimConfig) -> std::io::Result<SimCpe> {
        // The session task keeps the settings, not a third copy of the tree.
        let mut tree = std::mem::take(&mut config.tree);
        if let Some(s) = &config.serial {
            tree.identity.serial_number.clone_from(s);
        }
        let listener = match &config.shared_host {
            Some(_) => None,
            None => Some(tokio::net::TcpListener::bind(config.connection_request_listen).await?),
        };
        let ms = format!("{}ManagementServer.", tree.root());
        let udp = if config.udp_connection_requests {
            let socket = tokio::net::UdpSocket::bind(("127.0.0.1", 0)).await?;
            let addr = socket.local_addr()?;
            tree.insert(
                &format!("{ms}UDPConnectionRequestAddress"),
                crate::soap::Value::string(addr.to_string()),
                false,
            );
            Some(socket)
        } else {
            None
        };
        tree.set_text(&format!("{ms}URL"), &config.acs_url);
        for (i, (oui, pc, serial)) in config.manageable_devices.iter().enumerate() {
            let base = format!("{ms}ManageableDevice.{}.", i + 1);
            for (leaf, v) in [("ManufacturerOUI", oui), ("ProductClass", pc), ("SerialNumber", serial)] {
                tree.insert(&format!("{base}{leaf}"), crate::soap::Value::string(v.as_str()), false);
            }
        }
        if let Some(p) = config.periodic_inform {
            tree.set_text(&format!("{ms}PeriodicInformInterval"), &p.as_secs().max(1).to_string());
        }
        let mut shared = Shared {
            tree,
            pending_events: Vec::new(),
            pending_requests: Vec::new(),
            changed: Vec::new(),
            stats: SimStats::default(),
            in_session: false,
            scheduled: Vec::new(),
            uploads: Vec::new(),
            hurry: tokio::sync::watch::channel(0).0,
        };
        if config.bootstrap {
            shared.add_event(crate::rpc::inform::event_code::BOOTSTRAP, "");
        }
        shared.add_event(crate::rpc::inform::event_code::BOOT, "");
        let shared = Arc::new(Mutex::new(shared));
        let wake = Arc::new(tokio::sync::Notify::new());
        let (stop, _) = tokio::sync::watch::channel(false);
        let target = conn_req::CrTarget::new(shared.clone(), wake.clone());
        let (cr_url, host) = match (listener, &config.shared_host) {
            (Some(listener), _) => {
                let url = format!("http://{}/", listener.local_addr()?);
                conn_req::spawn(listener, target, stop.subscribe());
                (url, None)
            }
            (None, Some(host)) => {
                let index = host.attach(target);
                (host.connection_request_url(index), Some((host.clone(), index)))
            }
            (None, None) => unreachable!("a CPE without a shared host binds a listener"),
        };
        {
            let announced = config.connection_request_url.clone().unwrap_or_else(|| cr_url.clone());
            let mut s = shared.lock().unwrap_or_else(|e| e.into_inner());
            s.tree.set_text(&format!("{ms}ConnectionRequestURL"), &announced);
        }
        if let Some(socket) = udp {
            conn_req::spawn_udp(socket, shared.clone(), wake.clone(), stop.subscribe());
        }
        cpe::spawn(config, shared.clone(), wake.clone(), stop.subscribe());
        wake.notify_one();
        Ok(SimCpe { shared, wake, stop, cr_url, host })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Where this CPE takes connection requests (its `ManagementServer.ConnectionRequestURL`
    /// unless [`SimConfig::connection_request_url`] announces another).
    pub fn connection_request_url(&self) -> String {
        self.cr_url.clone()
    }

    /// The identity sent in Inform (OUI, ProductClass, SerialNumber).
    pub fn identity(&self) -> tree::Identity {
        self.lock().tree.identity.clone()
    }

    /// A parameter's current value.
    pub fn get(&self, name: &str) -> Option<String> {
        self.lock().tree.get(name).map(str::to_owned)
    }

    /// A parameter's notification attribute (0 off, 1 passive, 2 active).
    pub fn notification(&self, name: &str) -> Option<u32> {
        self.lock().tree.nodes.get(name).map(|n| n.notification)
    }

    /// A change made on the device itself (not by the ACS): with active notification the CPE
    /// opens a session with `4 VALUE CHANGE`; with passive it reports it in the next Inform.
    pub fn set_local(&self, name: &str, value: &str) -> bool {
        let notify = {
            let mut s = self.lock();
            if !s.tree.set_text(name, value) {
                return false;
            }
            let n = s.tree.nodes.get(name).map_or(0, |n| n.notification);
            if n > 0 {
                s.changed.push(name.to_owned());
                s.add_event(crate::rpc::inform::event_code::VALUE_CHANGE, "");
            }
            n == 2
        };
        if notify {
            self.wake.notify_one();
        }
        true
    }

    /// Opens a session now (`2 PERIODIC`).
    pub fn inform_now(&self) {
        self.lock().add_event(crate::rpc::inform::event_code::PERIODIC, "");
        self.wake.notify_one();
    }

    /// Ends at once whatever the CPE is carrying out (a reboot, a download, diagnostics, a
    /// deployment-unit change): tests give the CPE a long delay, do what must happen meanwhile
    /// (restart the ACS), then let it come back, with no timing assumption.
    pub fn hurry(&self) {
        self.lock().hurry.send_modify(|n| *n += 1);
    }

    /// What happened so far.
    pub fn stats(&self) -> SimStats {
        self.lock().stats.clone()
    }

    /// Whether no session is open and none is due.
    pub fn is_idle(&self) -> bool {
        let s = self.lock();
        !s.in_session && s.pending_events.is_empty() && s.pending_requests.is_empty()
    }

    /// Waits until `done(stats)` holds, polling every 20 ms; false after `timeout`.
    pub async fn wait_for(&self, timeout: Duration, done: impl Fn(&SimStats) -> bool) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if done(&self.stats()) {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The Uploads done so far: URL and the HTTP status the server answered.
    pub fn uploads(&self) -> Vec<(String, u16)> {
        self.lock().uploads.clone()
    }

    /// Stops the session task and the listener (or leaves the shared host).
    pub fn stop(&self) {
        let _ = self.stop.send(true);
        if let Some((host, index)) = &self.host {
            host.detach(*index);
        }
    }
}
