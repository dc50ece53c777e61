//! The settings of the DM server ([`OmadmConfig`]).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use crate::mo::diagmon::{DiagProfile, DiagTest};
use crate::session::{ClientAuth, Credentials};

/// Settings of the DM server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OmadmConfig {
    /// Where the server listens (default `0.0.0.0:8081`; tests use `127.0.0.1:0`).
    pub listen: SocketAddr,
    /// The URL path of the DM server (default `/dm`).
    pub path: String,
    /// HTTPS with this certificate and key (default none: plain HTTP).
    pub tls: Option<unidm_core::tls::TlsFiles>,
    /// The server URL devices reach (base of the `RespURI`); default `http://<Host><path>`.
    pub public_url: Option<String>,
    /// Whether a device the registry does not know may open a session (default true); when
    /// false only devices with [`OmadmConfig::device_credentials`] or known before may.
    pub accept_unknown_devices: bool,
    /// The server identifier (DMAcc `ServerID`; Package #0 carries it; default `unidm`).
    pub server_id: String,
    /// What clients must prove (default md5).
    pub client_auth: ClientAuth,
    /// The client credentials every device uses unless it has its own (default none: only
    /// devices in [`OmadmConfig::device_credentials`] authenticate).
    pub client_credentials: Option<Credentials>,
    /// Per-device client credentials, by DevId.
    pub device_credentials: BTreeMap<String, Credentials>,
    /// The server's password on devices (SRVCRED, user name = `server_id`): the server's md5
    /// `Cred` and the Package #0 digest use it (default none: no server `Cred`, Package #0
    /// signed with an empty password).
    pub server_password: Option<String>,
    /// Session inactivity timeout (default 60 s); a request still unanswered when it passes is
    /// a failed attempt of its operation.
    pub session_timeout: Duration,
    /// Most sessions open at once (default 10 000); more get HTTP 503.
    pub max_sessions: usize,
    /// Largest message in bytes (default 1 MiB); larger bodies get HTTP 413.
    pub max_message: usize,
    /// Most operations queued per device (default 64).
    pub max_queued_per_device: usize,
    /// The FUMO node (default `./FUMO`).
    pub fumo_root: String,
    /// The LAWMO node (default `./LAWMO`).
    pub lawmo_root: String,
    /// The SCOMO node (default `./SCOMO`).
    pub scomo_root: String,
    /// A `Download/<x>` node the clients already have (some refuse to `Add` one): installs
    /// `Replace` its `PkgURL` and `Exec` its operation. Default none: each install `Add`s
    /// `Download/<operation id>`.
    pub scomo_download: Option<String>,
    /// The node an `Exec` on which reboots the device (no standard MO has one); `None` (the
    /// default): reboot is refused as not supported, unless [`OmadmConfig::reboot_nodes`]
    /// names one for the device's manufacturer / model.
    pub reboot_node: Option<String>,
    /// Reboot nodes per manufacturer (and model): the first rule naming the device's `Man` and
    /// `Mod` wins, then one naming its `Man` alone, then [`OmadmConfig::reboot_node`].
    pub reboot_nodes: Vec<RebootNode>,
    /// Diagnostics (ping, traceroute) per manufacturer (and model), over vendor DiagMon
    /// subtrees: the profile naming the device's `Man` and `Mod` wins, then one naming its
    /// `Man`, then one naming neither. Default none: diagnostics are refused as not supported.
    pub diagnostics: Vec<DiagProfile>,
    /// No-progress limit of a FUMO / SCOMO / LAWMO wait (default none).
    pub stall_after: Option<Duration>,
    /// UDP port of Package #0 when a device's push address is not known: the device's HTTP
    /// source address with this port (default none: no notification).
    pub push_port: Option<u16>,
    /// Package #0 sends per queued operation (default 3), the delay doubling from
    /// [`OmadmConfig::push_backoff`].
    pub push_attempts: u32,
    /// Delay before the second Package #0 (default 5 s).
    pub push_backoff: Duration,
    /// Where Package #0 goes for a device without a push address (an SMS gateway, say): an
    /// HTTP POST of `{"device", "devId", "contentType", "package0"}` (the bytes in base64) to
    /// this URL (default none).
    pub push_webhook: Option<String>,
}

impl Default for OmadmConfig {
    fn default() -> Self {
        OmadmConfig {
            listen: SocketAddr::from(([0, 0, 0, 0], 8081)),
            path: "/dm".into(),
            tls: None,
            public_url: None,
            accept_unknown_devices: true,
            server_id: "unidm".into(),
            client_auth: ClientAuth::Md5,
            client_credentials: None,
            device_credentials: BTreeMap::new(),
            server_password: None,
            session_timeout: Duration::from_secs(60),
            max_sessions: 10_000,
            max_message: 1024 * 1024,
            max_queued_per_device: 64,
            fumo_root: "./FUMO".into(),
            lawmo_root: "./LAWMO".into(),
            scomo_root: "./SCOMO".into(),
            scomo_download: None,
            reboot_node: None,
            reboot_nodes: Vec::new(),
            diagnostics: Vec::new(),
            stall_after: None,
            push_port: None,
            push_attempts: 3,
            push_backoff: Duration::from_secs(5),
            push_webhook: None,
        }
    }
}

/// The node whose `Exec` reboots the devices of one manufacturer (and model).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RebootNode {
    /// `./DevInfo/Man`, compared without case.
    pub manufacturer: String,
    /// `./DevInfo/Mod`, compared without case; `None`: every model.
    pub model: Option<String>,
    /// The node (`./Vendor/Reboot`).
    pub node: String,
}

impl OmadmConfig {
    /// The reboot node of a device with this manufacturer and model.
    pub fn reboot_node_for(&self, manufacturer: Option<&str>, model: Option<&str>) -> Option<&str> {
        let rule = best(&self.reboot_nodes, |r| fit(Some(&r.manufacturer), r.model.as_deref(), manufacturer, model));
        rule.map(|r| r.node.as_str()).or(self.reboot_node.as_deref())
    }

    /// The profile of `test` for a device with this manufacturer and model.
    pub fn diag_profile_for(
        &self,
        test: DiagTest,
        manufacturer: Option<&str>,
        model: Option<&str>,
    ) -> Option<&DiagProfile> {
        best(&self.diagnostics, |p| {
            (p.test == test).then(|| fit(p.manufacturer.as_deref(), p.model.as_deref(), manufacturer, model)).flatten()
        })
    }

    /// Whether any device can have a profile of `test`.
    pub fn diagnoses(&self, test: DiagTest) -> bool {
        self.diagnostics.iter().any(|p| p.test == test)
    }

    /// Whether any device can have a reboot node.
    pub fn reboots(&self) -> bool {
        self.reboot_node.is_some() || !self.reboot_nodes.is_empty()
    }
}

/// How well a rule for `rule_man` / `rule_model` (`None`: any) fits a device: 2 by model, 1
/// by manufacturer, 0 for any device, `None` not at all. Names compare without case.
fn fit(rule_man: Option<&str>, rule_model: Option<&str>, man: Option<&str>, model: Option<&str>) -> Option<u8> {
    let same = |a: &str, b: Option<&str>| b.is_some_and(|b| a.trim().eq_ignore_ascii_case(b.trim()));
    match (rule_man, rule_model) {
        (Some(m), _) if !same(m, man) => None,
        (_, Some(x)) if !same(x, model) => None,
        (_, Some(_)) => Some(2),
        (Some(_), None) => Some(1),
        (None, None) => Some(0),
    }
}

/// The rule that fits best; the first of equals.
fn best<T>(rules: &[T], fit: impl Fn(&T) -> Option<u8>) -> Option<&T> {
    let mut found: Option<(u8, &T)> = None;
    for r in rules {
        if let Some(f) = fit(r) {
            if found.is_none_or(|(g, _)| f > g) {
                found = Some((f, r));
            }
        }
    }
    found.map(|(_, r)| r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reboot_nodes_by_manufacturer_and_model() {
        let rule = |man: &str, model: Option<&str>, node: &str| RebootNode {
            manufacturer: man.into(),
            model: model.map(str::to_owned),
            node: node.into(),
        };
        let c = OmadmConfig {
            reboot_node: Some("./Reboot".into()),
            reboot_nodes: vec![rule("Acme", None, "./Acme/Restart"), rule("acme", Some("X2"), "./Acme/X2/Restart")],
            ..OmadmConfig::default()
        };
        assert_eq!(c.reboot_node_for(Some("ACME"), Some("x2")), Some("./Acme/X2/Restart"));
        assert_eq!(c.reboot_node_for(Some("Acme"), Some("X1")), Some("./Acme/Restart"));
        assert_eq!(c.reboot_node_for(Some("Other"), None), Some("./Reboot"));
        assert_eq!(c.reboot_node_for(None, None), Some("./Reboot"));
        assert!(c.reboots());
        let none = OmadmConfig::default();
        assert_eq!(none.reboot_node_for(Some("Acme"), None), None);
        assert!(!none.reboots());
    }

    #[test]
    fn diagnostic_profiles_by_test_manufacturer_and_model() {
        let profile = |test, man: Option<&str>, model: Option<&str>, root: &str| DiagProfile {
            manufacturer: man.map(str::to_owned),
            model: model.map(str::to_owned),
            ..DiagProfile::new(test, root)
        };
        let c = OmadmConfig {
            diagnostics: vec![
                profile(DiagTest::Ping, None, None, "./Any/Ping"),
                profile(DiagTest::Ping, Some("Acme"), Some("X2"), "./X2/Ping"),
                profile(DiagTest::Ping, Some("acme"), None, "./Acme/Ping"),
                profile(DiagTest::Traceroute, Some("Acme"), None, "./Acme/Trace"),
            ],
            ..OmadmConfig::default()
        };
        let root = |t, man, model| c.diag_profile_for(t, man, model).map(|p| p.root.as_str());
        assert_eq!(root(DiagTest::Ping, Some("ACME"), Some("x2")), Some("./X2/Ping"));
        assert_eq!(root(DiagTest::Ping, Some("Acme"), Some("X1")), Some("./Acme/Ping"));
        assert_eq!(root(DiagTest::Ping, Some("Other"), Some("X2")), Some("./Any/Ping"));
        assert_eq!(root(DiagTest::Ping, None, None), Some("./Any/Ping"));
        assert_eq!(root(DiagTest::Traceroute, Some("Other"), None), None);
        assert_eq!(root(DiagTest::Traceroute, Some("acme"), None), Some("./Acme/Trace"));
        assert!(c.diagnoses(DiagTest::Traceroute) && !OmadmConfig::default().diagnoses(DiagTest::Ping));
    }
}
