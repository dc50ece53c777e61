//! The simulated client's settings.

use std::net::SocketAddr;
use std::time::Duration;

/// How the simulated firmware download and update behave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FirmwareBehaviour {
    /// Time from Package URI write to Downloaded.
    pub download_delay: Duration,
    /// Time from Update execute to the result.
    pub update_delay: Duration,
    /// 0 for a successful download, else the Update Result the download fails with (2-7, 9).
    pub download_result: u8,
    /// 1 for a successful update, else the Update Result it fails with (e.g. 8).
    pub update_result: u8,
    /// The firmware version /3/0/3 reports after a successful update.
    pub new_version: String,
    /// Reboot to apply the image: the client registers again (observations lost) once done.
    pub reboot_on_update: bool,
    /// Firmware Update Delivery Method `/5/0/9`: 0 pull only (a Package `/5/0/0` write is
    /// refused), 1 push only (a Package URI write is refused), 2 both.
    pub delivery_method: u8,
}

impl Default for FirmwareBehaviour {
    fn default() -> Self {
        FirmwareBehaviour {
            download_delay: Duration::from_millis(100),
            update_delay: Duration::from_millis(100),
            download_result: 0,
            update_result: 1,
            new_version: "2.0".into(),
            reboot_on_update: false,
            delivery_method: 2,
        }
    }
}

/// A simulated client's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimConfig {
    /// Endpoint Client Name.
    pub endpoint: String,
    /// The LwM2M server.
    pub server: SocketAddr,
    /// Local address; `127.0.0.1:0` by default.
    pub bind: SocketAddr,
    /// Lifetime, seconds.
    pub lifetime_s: u32,
    /// Binding (`U`, `UQ`). With version 1.1 or later a `Q` goes out as the `Q` parameter.
    pub binding: String,
    /// Enabler version `1.0`, `1.1` or `1.2`.
    pub version: String,
    /// /3/0/0.
    pub manufacturer: String,
    /// /3/0/1.
    pub model: String,
    /// /3/0/2.
    pub serial: String,
    /// /3/0/3.
    pub fw_version: String,
    /// Firmware behaviour.
    pub firmware: FirmwareBehaviour,
    /// A faulty firmware object: the client takes the package (a Package URI or a pushed
    /// Package) and its State `/5/0/3` stays Downloading (1) forever, with Update Result 0
    /// (kept out of [`FirmwareBehaviour`], which callers build field by field). Default false.
    pub firmware_stuck_downloading: bool,
    /// Register again after an executed Reboot, as a real device does.
    pub reregister_after_reboot: bool,
    /// Also offer Connectivity Monitoring /4/0 and Location /6/0.
    pub connectivity_and_location: bool,
    /// Offer Software Management /9 (without instances until one is created) and how its
    /// packages behave.
    pub software: super::SoftwareBehaviour,
    /// Offer Software Management /9 with an INITIAL instance /9/0. Default false.
    pub software_management: bool,
    /// Act as a LwM2M Gateway with this many end devices (object /25, prefixes `dev{i}`).
    pub gateway_children: usize,
    /// Content formats announced with `ct` on the root link of Register
    /// (`</>;rt="oma.lwm2m";ct="112"`,
    /// LwM2M 1.1, TS Core 1.1 §6.2.1); empty announces none. Default empty.
    pub content_formats: Vec<u16>,
    /// Talk to the server over DTLS with this PSK identity and key (the server address is then
    /// its `coaps` port). Default none: plain CoAP.
    pub psk: Option<(Vec<u8>, Vec<u8>)>,
    /// Talk to the server over DTLS with this client certificate (and check the server's
    /// against its CAs). Default none.
    pub x509: Option<crate::dtls::X509Settings>,
    /// Talk to the server over DTLS with a raw public key (RFC 7250): the client's private
    /// key (PEM or DER) and the server's public key it accepts. Default none.
    pub rpk: Option<(Vec<u8>, Vec<u8>)>,
    /// A UDP socket shared with other clients (instead of `bind`): the client registers under
    /// an alternate root path of its own ([`super::SharedSocket`]). Not with DTLS.
    pub shared_socket: Option<Share>,
    /// Offer no Firmware Update object /5 (a device without firmware update). Default false.
    pub without_firmware: bool,
    /// Misbehave: answer every Read in the client's default format, whatever its Accept asks
    /// (TS Core 1.1 §5.4.1 wants that format or 4.06). For conformance tests. Default false.
    pub ignore_accept: bool,
}

/// A [`super::SharedSocket`] in a [`SimConfig`] (equal when it is the same socket).
#[derive(Debug, Clone)]
pub struct Share(pub std::sync::Arc<super::SharedSocket>);

impl PartialEq for Share {
    fn eq(&self, other: &Share) -> bool {
        std::sync::Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for Share {}

impl SimConfig {
    /// Defaults for `endpoint` talking to `server`.
    pub fn new(endpoint: &str, server: SocketAddr) -> SimConfig {
        SimConfig {
            endpoint: endpoint.to_owned(),
            server,
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            lifetime_s: 300,
            binding: "U".into(),
            version: "1.0".into(),
            manufacturer: "unidm sim".into(),
            model: "sim-1".into(),
            serial: format!("SN-{endpoint}"),
            fw_version: "1.0".into(),
            firmware: FirmwareBehaviour::default(),
            firmware_stuck_downloading: false,
            reregister_after_reboot: false,
            connectivity_and_location: false,
            software: Default::default(),
            software_management: false,
            gateway_children: 0,
            content_formats: Vec::new(),
            psk: None,
            x509: None,
            rpk: None,
            shared_socket: None,
            without_firmware: false,
            ignore_accept: false,
        }
    }

    /// The Register (or Update) payload: the root link with `ct` when formats are announced,
    /// then the object links.
    pub(crate) fn links(&self, objects: String, root: Option<&str>) -> String {
        let Some(root) = root else {
            if self.content_formats.is_empty() {
                return objects;
            }
            let ct: Vec<String> = self.content_formats.iter().map(u16::to_string).collect();
            return format!("</>;rt=\"oma.lwm2m\";ct=\"{}\",{objects}", ct.join(" "));
        };
        // An alternate root path: the root link first, every object link under it.
        let ct = match self.content_formats.is_empty() {
            true => String::new(),
            false => {
                let ct: Vec<String> = self.content_formats.iter().map(u16::to_string).collect();
                format!(";ct=\"{}\"", ct.join(" "))
            }
        };
        let under = objects.replace("</", &format!("<{root}/"));
        format!("<{root}>;rt=\"oma.lwm2m\"{ct},{under}")
    }
}
