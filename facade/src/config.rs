//! `unidm serve` configuration: a TOML file, overridden by `UNIDM_*` environment variables,
//! overridden by flags. Every setting has a default, so `unidm serve` alone runs on
//! `./unidm.db` and `127.0.0.1:8080`.
//!
//! ```toml
//! [api]
//! listen = "127.0.0.1:8080"   # UNIDM_LISTEN, --listen
//! token = "s3cret"            # UNIDM_TOKEN, --token (or token_file / UNIDM_TOKEN_FILE): an admin
//! tls_cert = "api.pem"        # HTTPS: UNIDM_TLS_CERT, --tls-cert (PEM chain) and
//! tls_key = "api.key"         # UNIDM_TLS_KEY, --tls-key (PEM key); tr069 / omadm take the same
//!                             # keys, tr069 also tls_client_ca (CPE client certificates, optional)
//! [[api.tokens]]              # more tokens, each with a role: viewer (reads), operator (also
//! name = "noc"                # operations, groups, rules, files), admin (also credentials,
//! role = "operator"           # bootstrap configurations, tokens, the audit log)
//! sha256 = "<64 hex digits>"  # the token's SHA-256 (or token = "..." in clear)
//!
//! [store]
//! path = "./unidm.db"         # UNIDM_DB, --db (a postgres:// URL selects PostgreSQL)
//! # url = "postgres://unidm@db.example/unidm?sslmode=require"   # PostgreSQL instead of the file
//! # ca = "./db-ca.pem"        # UNIDM_DB_CA, --db-ca: the PostgreSQL server's CA (TLS)
//! # node_id = "node-1"        # UNIDM_NODE_ID, --node-id: this node, when several share PostgreSQL
//! # lease_s = 5               # a node silent this long is dead; its work is taken over
//! durable = true              # fsync every commit; UNIDM_DURABLE, --durable
//!
//! [engine]
//! tick_ms = 1000              # deadline / retry / lifetime checks
//! default_timeout_s = 86400   # operations without a timeout expire after this
//! expiry_grace_s = 15         # slack after a device's lifetime
//! group_concurrency = 50      # default fan-out limit
//! event_capacity = 4096       # events buffered for slow consumers
//! retry_max_attempts = 3
//! retry_backoff_ms = 5000
//!
//! log = "info"                # UNIDM_LOG, --log (tracing EnvFilter syntax)
//!
//! [files]                     # firmware / configuration files for devices, and upload target
//! dir = "./files"             # UNIDM_FILES_DIR, --files-dir
//! max_upload_mb = 512
//!
//! [lwm2m]                     # the LwM2M server (CoAP over UDP)
//! enabled = true              # UNIDM_LWM2M, --lwm2m
//! listen = "0.0.0.0:5683"     # UNIDM_LWM2M_LISTEN, --lwm2m-listen
//! bootstrap_listen = "0.0.0.0:5783"   # UNIDM_LWM2M_BOOTSTRAP_LISTEN, --lwm2m-bootstrap-listen;
//!                             # "off" disables the bootstrap server
//! awake_window_s = 93         # queue mode: how long a sleeping device stays reachable
//! max_registers_per_source = 300   # per minute and source IP (raise behind NAT)
//! max_registrations = 100000
//! read_device_on_register = true   # read /3/0 after each Register (identity at once); false
//!                             # leaves the device's info to later reads and notifications
//! firmware_stall_min = 10     # a firmware step without progress this long fails the operation
//! firmware_poll_s = 30        # read /5/0/3 this often during an update when no notification came
//! deny = ["test-*"]           # endpoint names refused (4.03); a trailing * matches a prefix
//! dtls_listen = "0.0.0.0:5684"   # CoAP over DTLS (coaps); UNIDM_LWM2M_DTLS_LISTEN, --lwm2m-dtls-listen;
//!                             # "off" disables it; with --lwm2m-listen on port 0, port 0
//! bootstrap_dtls_listen = "0.0.0.0:5784"   # the bootstrap server over DTLS; "off" disables it
//! require_dtls = false        # true: no registration over plain CoAP at all
//! dtls_cert = "server.pem"    # certificate mode beside PSK: the server's chain and key, and
//! dtls_key = "server.key"     # the CAs of client certificates (a client registers as the
//! dtls_client_ca = "ca.pem"   # endpoint its certificate's CN names)
//! dtls_rpk_key = "server-ec.key"   # raw-public-key mode (RFC 7250) beside PSK: the server's EC
//!                             # private key (PEM); with dtls_cert, the same key as dtls_key
//! fetch_ca = "ca.pem"         # CAs trusted (besides the web PKI) for https:// firmware to push
//! [[lwm2m.psk]]               # a PSK identity (more are set at run time through the API)
//! identity = "dev-0001"
//! key_hex = "000102030405060708090a0b0c0d0e0f"   # or key = "text key"
//! endpoint = "urn:dev:0001"   # the endpoint it may register as; leave out for any unbound one
//! [[lwm2m.rpk]]               # a client's raw public key (more are set through the API)
//! public_key = "dev-0002.pub.pem"   # PEM or DER SubjectPublicKeyInfo, or a 64/65-byte P-256 point
//! endpoint = "urn:dev:0002"   # the endpoint it may register as; leave out for any unbound one
//! [lwm2m.northbound]          # unidm as an LwM2M gateway registered with a distant LwM2M server
//! server = "coap://lwm2m.example.net:5683"   # or "host:port"
//! psk_identity = "gw-1"      # with server = "coaps://…": CoAP over DTLS with this PSK
//! psk_key_hex = "000102030405060708090a0b0c0d0e0f"   # or psk_key = "text key"
//! bootstrap_server = "coap://bs.example.net:5783"   # optional: bootstrapped first; its
//!                             # account decides where to register (server may then be left out)
//! endpoint = "unidm-gw"       # the endpoint name unidm registers as
//! lifetime_s = 300
//! listen = "0.0.0.0:0"        # the local UDP address
//! report_devices = true       # false: the distant server sees unidm alone
//! max_devices = 10000
//! proxy_lwm2m = true          # requests for LwM2M devices go to the device (false: the model)
//! report_groups = true        # unidm's groups as /25 instances whose operations fan out
//! protocol = "tr069"          # which devices are end devices (default all): a protocol,
//! manufacturer = "Acme"       # manufacturer, model and labels, as the API's device filters
//! [lwm2m.northbound.labels]
//! site = "north"
//!
//! [tr069]                     # the CWMP ACS
//! enabled = true              # UNIDM_TR069, --tr069
//! listen = "0.0.0.0:7547"     # UNIDM_TR069_LISTEN, --tr069-listen
//! path = "/"
//! public_url = "http://acs.example.net:7547"  # what CPEs are told (file URLs); default: the bound address
//! accept_unknown_devices = true
//! auth = "none"               # or "basic" / "digest" with [tr069.users]
//! realm = "unidm"
//! connection_requests = true
//! connection_request_attempts = 3  # a failed one is sent again while work waits, up to this
//! connection_request_retry_s = 5   # first wait before sending again (doubles)
//! session_timeout_s = 30
//! max_sessions = 10000
//! wait_stall_min = 60         # an accepted Download etc. without its completion this long fails
//! [tr069.users]
//! "cpe-0001" = "secret"
//! [tr069.user_devices]        # a user may only inform as this device (serial or tr069: id)
//! "cpe-0001" = "SN0001"
//!
//! [omadm]                     # the OMA DM server (SyncML DM over HTTP)
//! enabled = true              # UNIDM_OMADM, --omadm
//! listen = "0.0.0.0:8081"     # UNIDM_OMADM_LISTEN, --omadm-listen
//! path = "/dm"
//! public_url = "http://dm.example.net:8081/dm"  # the RespURI base; default http://<Host><path>
//! accept_unknown_devices = true
//! server_id = "unidm"         # DMAcc ServerID; Package #0 carries it
//! auth = "md5"                # or "basic" / "hmac" (x-syncml-hmac on every message) / "none"
//! username = "dm-client"      # client credentials of every device without its own
//! password = "secret"
//! server_password = "s3rver"  # the server's md5 Cred and the Package #0 digest
//! session_timeout_s = 60
//! max_sessions = 10000
//! push_port = 2948            # Package #0 over UDP to the device's address at this port
//! push_webhook = "http://sms-gw.example/send"  # Package #0 (JSON, base64) for devices without a push address
//! wait_stall_min = 60         # a FUMO / LAWMO Exec accepted (202) without its 1226 this long fails
//! fumo_root = "./FUMO"        # where the management objects are (also scomo_root, lawmo_root)
//! reboot_node = "./Reboot"    # an Exec of it reboots (no standard node); per maker / model below
//! [[omadm.reboot_nodes]]
//! manufacturer = "Acme"
//! model = "X2"                # optional: every model of the manufacturer without it
//! node = "./Acme/Restart"
//! [[omadm.diagnostics]]       # ping / traceroute over a vendor DiagMon subtree (no standard one)
//! test = "ping"               # or "traceroute"
//! root = "./Vendor/DiagMon/Ping"
//! manufacturer = "Acme"       # optional, as is model: the best fit per device wins
//! host = "Host"               # leaves below root (these are the defaults; "" = not written)
//! count = "NumberOfRepetitions"  # ping; traceroute has max_hops = "MaxHopCount"
//! timeout = "Timeout"
//! exec = "Operations/Start"   # Exec'd with the operation id as Correlator: 200 ran, 202 a 1226 follows
//! results = "Results"         # read with ?list=StructData, or result_leaves = ["Results/Avg", ...]
//! [omadm.devices."IMEI:490154203237518"]   # per-device client credentials
//! username = "dev"
//! password = "pw"
//!
//! [onem2m]                    # mirror devices into a oneM2M CSE as <node>s + <mgmtObj>s
//! cse = "http://127.0.0.1:8080"   # the CSE's HTTP binding
//! cse_id = "/id-in"           # its CSE-ID
//! cse_name = "cse-in"         # its CSEBase name
//! originator = "CAdmin"       # unidm's originator (ACME: only its admin creates <node>s)
//! ae = "unidm"                # register as an <AE> of this name (a non-admin originator,
//!                             # which the CSE's policies must let create <node>s and ACPs)
//! notify_url = "http://unidm.example:8080/onem2m/notify"   # default: the API's address
//! managers = ["all"]          # originators that may manage the devices (the ACP unidm creates)
//! min_update_interval_s = 5   # at most one update of a device's resources per interval
//! [onem2m.devices]            # which devices to mirror (default: all)
//! protocol = "lwm2m"
//! labels = { site = "north" }
//! ```

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};
use serde::Deserialize;
use unidm_core::EngineConfig;
use unidm_lwm2m::northbound::NorthboundConfig;
use unidm_lwm2m::Lwm2mConfig;
use unidm_omadm::mo::diagmon::{DiagProfile, DiagTest};
use unidm_omadm::server::{OmadmConfig, RebootNode};
use unidm_omadm::session::{ClientAuth, Credentials};
use unidm_tr069::{CpeAuth, FileServerConfig, Tr069Config};

/// Flags and environment of `unidm serve`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ServeArgs {
    /// TOML configuration file.
    #[arg(long, env = "UNIDM_CONFIG")]
    pub config: Option<PathBuf>,
    /// Address of the HTTP API [default: 127.0.0.1:8080]; port 0 picks a free port.
    #[arg(long, env = "UNIDM_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// SQLite database file [default: ./unidm.db], or a PostgreSQL URL
    /// (`postgres://user:password@host:port/database`).
    #[arg(long, env = "UNIDM_DB")]
    pub db: Option<PathBuf>,
    /// CA certificates (PEM) a PostgreSQL server's certificate must chain to, when `--db` is a
    /// `postgres://` URL using TLS (`sslmode=prefer`, the default, or `require`) [default: the
    /// public web roots].
    #[arg(long, env = "UNIDM_DB_CA")]
    pub db_ca: Option<PathBuf>,
    /// This node's id among the unidm nodes sharing one PostgreSQL database (each node its
    /// own; 1 to 64 of A-Z a-z 0-9 - _ .) [default: node-1].
    #[arg(long, env = "UNIDM_NODE_ID")]
    pub node_id: Option<String>,
    /// Fsync every commit [default: true]; false keeps process-crash safety but may lose the
    /// last commits on power loss.
    #[arg(long, env = "UNIDM_DURABLE")]
    pub durable: Option<bool>,
    /// Bearer token required from API clients. Without one, only loopback clients are served.
    #[arg(long, env = "UNIDM_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// File holding the bearer token.
    #[arg(long, env = "UNIDM_TOKEN_FILE")]
    pub token_file: Option<PathBuf>,
    /// Serve the API over HTTPS with this PEM certificate chain (with --tls-key).
    #[arg(long, env = "UNIDM_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, env = "UNIDM_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Log filter, e.g. `info` or `unidm_core=debug` [default: info].
    #[arg(long, env = "UNIDM_LOG")]
    pub log: Option<String>,
    /// Directory of files served to devices (firmware, configuration) and of uploads
    /// [default: ./files].
    #[arg(long, env = "UNIDM_FILES_DIR")]
    pub files_dir: Option<PathBuf>,
    /// Run the LwM2M server [default: true].
    #[arg(long, env = "UNIDM_LWM2M")]
    pub lwm2m: Option<bool>,
    /// UDP address of the LwM2M server [default: 0.0.0.0:5683].
    #[arg(long, env = "UNIDM_LWM2M_LISTEN")]
    pub lwm2m_listen: Option<SocketAddr>,
    /// UDP address of the LwM2M bootstrap server, or `off` [default: 0.0.0.0:5783; with
    /// --lwm2m-listen on port 0, port 0 on the same address].
    #[arg(long, env = "UNIDM_LWM2M_BOOTSTRAP_LISTEN")]
    pub lwm2m_bootstrap_listen: Option<String>,
    /// UDP address of CoAP over DTLS (coaps), or `off` [default: 0.0.0.0:5684; with
    /// --lwm2m-listen on port 0, port 0 on the same address].
    #[arg(long, env = "UNIDM_LWM2M_DTLS_LISTEN")]
    pub lwm2m_dtls_listen: Option<String>,
    /// Run the TR-069 ACS [default: true].
    #[arg(long, env = "UNIDM_TR069")]
    pub tr069: Option<bool>,
    /// Address of the TR-069 ACS [default: 0.0.0.0:7547].
    #[arg(long, env = "UNIDM_TR069_LISTEN")]
    pub tr069_listen: Option<SocketAddr>,
    /// Run the OMA DM server [default: true].
    #[arg(long, env = "UNIDM_OMADM")]
    pub omadm: Option<bool>,
    /// Address of the OMA DM server (HTTP, path /dm) [default: 0.0.0.0:8081].
    #[arg(long, env = "UNIDM_OMADM_LISTEN")]
    pub omadm_listen: Option<SocketAddr>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    #[serde(default)]
    api: ApiSection,
    #[serde(default)]
    store: StoreSection,
    #[serde(default)]
    engine: EngineSection,
    #[serde(default)]
    files: FilesSection,
    #[serde(default)]
    tr069: Tr069Section,
    #[serde(default)]
    lwm2m: Lwm2mSection,
    #[serde(default)]
    omadm: OmadmSection,
    onem2m: Option<OneM2mSection>,
    log: Option<String>,
}

/// `[onem2m]`: mirror the devices into a oneM2M CSE and take management from it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct OneM2mSection {
    /// The CSE's HTTP binding, `http://host:port`.
    cse: String,
    /// Its CSE-ID [default: /id-in].
    cse_id: Option<String>,
    /// Its CSEBase name [default: cse-in].
    cse_name: Option<String>,
    /// unidm's originator [default: CAdmin, ACME's admin: only it may create <node>s there].
    originator: Option<String>,
    /// Where the CSE reaches unidm's notification endpoint [default: the API's address +
    /// /onem2m/notify].
    notify_url: Option<String>,
    /// Originators allowed to manage the devices [default: ["all"]].
    managers: Option<Vec<String>>,
    /// Seconds between two updates of one device's resources [default: 5].
    min_update_interval_s: Option<u64>,
    /// Register as an <AE> of this name with `originator` [default: none, run as the
    /// originator alone].
    ae: Option<String>,
    /// Which devices to mirror [default: all].
    #[serde(default)]
    devices: OneM2mDevices,
}

/// `[onem2m.devices]`: the devices mirrored, by protocol, manufacturer, model and labels.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct OneM2mDevices {
    protocol: Option<String>,
    manufacturer: Option<String>,
    model: Option<String>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
}

/// `[onem2m]` resolved but for the notification URL, known once the API is bound.
#[derive(Debug, Clone, PartialEq)]
pub struct OneM2mSettings {
    /// Everything but `notify_url` when it was not given.
    pub config: crate::onem2m::OneM2mConfig,
    /// Whether `notify_url` was configured (else: the API's address).
    pub notify_url_given: bool,
}

impl OneM2mSection {
    fn resolve(self) -> anyhow::Result<OneM2mSettings> {
        let cse = self.cse.trim().trim_end_matches('/').to_owned();
        anyhow::ensure!(
            cse.starts_with("http://") || cse.starts_with("https://"),
            "onem2m.cse `{cse}` is not an http:// or https:// URL"
        );
        let cse_id = self.cse_id.unwrap_or_else(|| "/id-in".into());
        anyhow::ensure!(
            cse_id.starts_with('/') && cse_id.len() > 1 && !cse_id[1..].contains('/'),
            "onem2m.cse_id `{cse_id}` is not a CSE-ID such as /id-in"
        );
        let originator = self.originator.unwrap_or_else(|| "CAdmin".into());
        anyhow::ensure!(!originator.trim().is_empty(), "onem2m.originator is empty");
        let protocol = match self.devices.protocol.as_deref() {
            None => None,
            Some(p) => Some(
                serde_json::from_value::<unidm_models::Protocol>(serde_json::Value::String(p.to_ascii_lowercase()))
                    .map_err(|_| anyhow::anyhow!("onem2m.devices.protocol `{p}`: lwm2m, tr069 or omadm"))?,
            ),
        };
        let devices = unidm_core::DeviceQuery {
            protocol,
            manufacturer: self.devices.manufacturer,
            model: self.devices.model,
            labels: self.devices.labels,
            ..unidm_core::DeviceQuery::default()
        };
        let interval = self.min_update_interval_s.unwrap_or(5);
        anyhow::ensure!(interval <= 3600, "onem2m.min_update_interval_s must be at most 3600");
        Ok(OneM2mSettings {
            notify_url_given: self.notify_url.is_some(),
            config: crate::onem2m::OneM2mConfig {
                cse,
                cse_id,
                cse_name: self.cse_name.unwrap_or_else(|| "cse-in".into()),
                originator,
                notify_url: self.notify_url.unwrap_or_default(),
                managers: self.managers.unwrap_or_else(|| vec!["all".into()]),
                min_update_interval: Duration::from_secs(interval),
                devices,
                ae: self.ae.filter(|a| !a.trim().is_empty()),
            },
        })
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct OmadmSection {
    enabled: Option<bool>,
    listen: Option<SocketAddr>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    path: Option<String>,
    public_url: Option<String>,
    accept_unknown_devices: Option<bool>,
    server_id: Option<String>,
    auth: Option<String>,
    username: Option<String>,
    password: Option<String>,
    server_password: Option<String>,
    session_timeout_s: Option<u64>,
    max_sessions: Option<usize>,
    push_port: Option<u16>,
    push_webhook: Option<String>,
    wait_stall_min: Option<u64>,
    fumo_root: Option<String>,
    scomo_root: Option<String>,
    lawmo_root: Option<String>,
    reboot_node: Option<String>,
    #[serde(default)]
    reboot_nodes: Vec<OmadmRebootNode>,
    #[serde(default)]
    diagnostics: Vec<OmadmDiagnostics>,
    #[serde(default)]
    devices: BTreeMap<String, OmadmDevice>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct OmadmRebootNode {
    manufacturer: String,
    model: Option<String>,
    node: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct OmadmDiagnostics {
    test: String,
    root: String,
    manufacturer: Option<String>,
    model: Option<String>,
    host: Option<String>,
    count: Option<String>,
    timeout: Option<String>,
    max_hops: Option<String>,
    exec: Option<String>,
    results: Option<String>,
    #[serde(default)]
    result_leaves: Vec<String>,
}

impl OmadmDiagnostics {
    fn profile(self) -> anyhow::Result<DiagProfile> {
        let test = DiagTest::parse(&self.test)
            .with_context(|| format!("omadm diagnostics.test `{}` is neither ping nor traceroute", self.test))?;
        let root = node_uri("diagnostics.root", Some(self.root))?.unwrap_or_default();
        let d = DiagProfile::new(test, root);
        let leaf = |key: &str, v: String| -> anyhow::Result<String> {
            let v = v.trim().trim_matches('/').to_owned();
            anyhow::ensure!(
                !v.is_empty() && !v.starts_with('.') && !v.chars().any(|c| c.is_whitespace() || c == '?'),
                "omadm diagnostics.{key} `{v}` is not a node name below root"
            );
            Ok(v)
        };
        // An optional leaf set to "" is not written.
        let optional = |key: &str, v: Option<String>, default: Option<String>| -> anyhow::Result<Option<String>> {
            match v {
                Some(v) if v.trim().is_empty() => Ok(None),
                Some(v) => leaf(key, v).map(Some),
                None => Ok(default),
            }
        };
        let non_empty = |s: &Option<String>| s.as_deref().is_none_or(|s| !s.trim().is_empty());
        anyhow::ensure!(
            non_empty(&self.manufacturer) && non_empty(&self.model),
            "omadm diagnostics.manufacturer / model is empty (leave it out for every device)"
        );
        Ok(DiagProfile {
            manufacturer: self.manufacturer,
            model: self.model,
            host: match self.host {
                Some(h) => leaf("host", h)?,
                None => d.host.clone(),
            },
            count: optional("count", self.count, d.count.clone())?,
            timeout: optional("timeout", self.timeout, d.timeout.clone())?,
            max_hops: optional("max_hops", self.max_hops, d.max_hops.clone())?,
            exec: match self.exec {
                Some(e) => leaf("exec", e)?,
                None => d.exec.clone(),
            },
            results: match self.results {
                Some(r) => leaf("results", r)?,
                None => d.results.clone(),
            },
            result_leaves: self
                .result_leaves
                .into_iter()
                .map(|l| leaf("result_leaves", l))
                .collect::<anyhow::Result<_>>()?,
            ..d
        })
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct OmadmDevice {
    username: String,
    password: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Lwm2mSection {
    enabled: Option<bool>,
    listen: Option<SocketAddr>,
    bootstrap_listen: Option<String>,
    awake_window_s: Option<u64>,
    max_registers_per_source: Option<u32>,
    max_registrations: Option<usize>,
    read_device_on_register: Option<bool>,
    firmware_stall_min: Option<u64>,
    firmware_poll_s: Option<u64>,
    #[serde(default)]
    deny: Vec<String>,
    dtls_listen: Option<String>,
    bootstrap_dtls_listen: Option<String>,
    require_dtls: Option<bool>,
    fetch_ca: Option<PathBuf>,
    dtls_cert: Option<PathBuf>,
    dtls_key: Option<PathBuf>,
    dtls_client_ca: Option<PathBuf>,
    dtls_rpk_key: Option<PathBuf>,
    #[serde(default)]
    psk: Vec<PskEntry>,
    #[serde(default)]
    rpk: Vec<RpkEntry>,
    northbound: Option<NorthboundSection>,
}

/// `[lwm2m.northbound]`, also what `PUT /api/v1/lwm2m/northbound` takes (in camelCase).
#[derive(Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NorthboundSection {
    pub(crate) server: Option<String>,
    pub(crate) bootstrap_server: Option<String>,
    pub(crate) psk_identity: Option<String>,
    pub(crate) psk_key: Option<String>,
    pub(crate) psk_key_hex: Option<String>,
    pub(crate) endpoint: Option<String>,
    pub(crate) lifetime_s: Option<u64>,
    pub(crate) listen: Option<SocketAddr>,
    pub(crate) report_devices: Option<bool>,
    pub(crate) max_devices: Option<usize>,
    pub(crate) proxy_lwm2m: Option<bool>,
    pub(crate) report_groups: Option<bool>,
    pub(crate) protocol: Option<String>,
    pub(crate) manufacturer: Option<String>,
    pub(crate) model: Option<String>,
    #[serde(default)]
    pub(crate) labels: BTreeMap<String, String>,
}

impl std::fmt::Debug for NorthboundSection {
    /// Without the PSK.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NorthboundSection")
            .field("server", &self.server)
            .field("bootstrap_server", &self.bootstrap_server)
            .field("psk_identity", &self.psk_identity)
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}

/// `coap://host:port`, `coaps://host:port` (when `secure_port` is given) or `host:port`, the
/// scheme's default port when left out, resolved; whether it is `coaps`. The error names
/// `lwm2m.northbound.{field}`.
fn coap_address(
    field: &str,
    text: &str,
    plain_port: u16,
    secure_port: Option<u16>,
) -> anyhow::Result<(SocketAddr, bool)> {
    let text = text.trim();
    let (rest, port, secure) = match (text.strip_prefix("coaps://"), secure_port) {
        (Some(rest), Some(port)) => (rest, port, true),
        (Some(_), None) => {
            anyhow::bail!("lwm2m.northbound.{field}: coaps:// is not supported here; give coap://host:port")
        }
        (None, _) => (text.strip_prefix("coap://").unwrap_or(text), plain_port, false),
    };
    let hostport = rest.trim_end_matches('/');
    anyhow::ensure!(!hostport.is_empty(), "lwm2m.northbound.{field} is empty");
    let hostport = if hostport.rsplit_once(':').is_some_and(|(_, p)| p.parse::<u16>().is_ok()) {
        hostport.to_owned()
    } else {
        format!("{hostport}:{port}")
    };
    let addr = std::net::ToSocketAddrs::to_socket_addrs(&hostport)
        .with_context(|| format!("lwm2m.northbound.{field} `{text}` does not resolve"))?
        .next()
        .with_context(|| format!("lwm2m.northbound.{field} `{text}` resolves to no address"))?;
    Ok((addr, secure))
}

impl NorthboundSection {
    /// The client's settings, each checked (the error names the field).
    pub(crate) fn resolve(self) -> anyhow::Result<NorthboundConfig> {
        let server = self.server.as_deref().map(|s| coap_address("server", s, 5683, Some(5684))).transpose()?;
        let bootstrap =
            self.bootstrap_server.as_deref().map(|s| coap_address("bootstrap_server", s, 5783, None)).transpose()?;
        let psk = match (&self.psk_identity, &self.psk_key, &self.psk_key_hex) {
            (None, None, None) => None,
            (Some(identity), Some(key), None) => Some((identity.clone(), key.as_bytes().to_vec())),
            (Some(identity), None, Some(hex)) => {
                let key = unidm_core::hex::decode(hex)
                    .ok_or_else(|| anyhow::anyhow!("lwm2m.northbound.psk_key_hex is not hexadecimal"))?;
                Some((identity.clone(), key))
            }
            _ => anyhow::bail!("lwm2m.northbound.psk_identity: give it with exactly one of psk_key and psk_key_hex"),
        };
        if let Some((identity, key)) = &psk {
            anyhow::ensure!(
                !identity.is_empty() && identity.len() <= 128,
                "lwm2m.northbound.psk_identity must be 1 to 128 bytes"
            );
            anyhow::ensure!((8..=64).contains(&key.len()), "lwm2m.northbound.psk_key must be 8 to 64 bytes");
        }
        match (server.map(|(_, secure)| secure), psk.is_some()) {
            (Some(true), false) => anyhow::bail!("lwm2m.northbound.server: coaps:// needs psk_identity and psk_key"),
            (Some(false), true) => anyhow::bail!("lwm2m.northbound.server: a PSK needs a coaps:// server"),
            _ => {}
        }
        // Without a server, the bootstrap server's account decides where to register.
        let Some(server) = server.or(bootstrap).map(|(addr, _)| addr) else {
            anyhow::bail!("lwm2m.northbound.server: give the server, the bootstrap_server, or both");
        };
        let bootstrap = bootstrap.map(|(addr, _)| addr);
        let endpoint = self.endpoint.unwrap_or_else(|| "unidm".to_owned());
        anyhow::ensure!(
            !endpoint.is_empty() && endpoint.len() <= 128 && !endpoint.contains(['&', '/', ' ']),
            "lwm2m.northbound.endpoint must be 1 to 128 characters without `&`, `/` or spaces"
        );
        let mut c = NorthboundConfig::new(server, endpoint);
        c.bootstrap = bootstrap;
        c.psk = psk.map(|(identity, key)| unidm_lwm2m::northbound::Psk { identity: identity.into_bytes(), key });
        if let Some(lt) = self.lifetime_s {
            anyhow::ensure!((30..=86_400 * 30).contains(&lt), "lwm2m.northbound.lifetime_s must be 30 to 2592000");
            c.lifetime = Duration::from_secs(lt);
        }
        if let Some(l) = self.listen {
            c.listen = l;
        }
        c.report_devices = self.report_devices.unwrap_or(true);
        c.proxy_lwm2m = self.proxy_lwm2m.unwrap_or(true);
        c.report_groups = self.report_groups.unwrap_or(true);
        if let Some(m) = self.max_devices {
            anyhow::ensure!((1..=65_534).contains(&m), "lwm2m.northbound.max_devices must be 1 to 65534");
            c.max_devices = m;
        }
        c.devices.protocol =
            match self.protocol.as_deref() {
                None => None,
                Some(p) => Some(p.parse().map_err(|_| {
                    anyhow::anyhow!("lwm2m.northbound.protocol must be lwm2m, tr069 or omadm, not `{p}`")
                })?),
            };
        c.devices.manufacturer = self.manufacturer;
        c.devices.model = self.model;
        c.devices.labels = self.labels;
        Ok(c)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PskEntry {
    identity: String,
    key: Option<String>,
    key_hex: Option<String>,
    endpoint: Option<String>,
}

/// `[[lwm2m.rpk]]`: a client's raw public key and the endpoint it may register as.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RpkEntry {
    public_key: PathBuf,
    endpoint: Option<String>,
}

impl PskEntry {
    fn key(&self) -> anyhow::Result<Vec<u8>> {
        let key = match (&self.key, &self.key_hex) {
            (Some(k), None) => k.as_bytes().to_vec(),
            (None, Some(h)) => unidm_core::hex::decode(h)
                .with_context(|| format!("lwm2m psk `{}`: key_hex is not hexadecimal", self.identity))?,
            _ => anyhow::bail!("lwm2m psk `{}`: give exactly one of key and key_hex", self.identity),
        };
        anyhow::ensure!(
            (1..=unidm_lwm2m::dtls::MAX_KEY).contains(&key.len()),
            "lwm2m psk `{}`: a key is 1 to {} bytes",
            self.identity,
            unidm_lwm2m::dtls::MAX_KEY
        );
        Ok(key)
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FilesSection {
    dir: Option<PathBuf>,
    max_upload_mb: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Tr069Section {
    enabled: Option<bool>,
    listen: Option<SocketAddr>,
    path: Option<String>,
    public_url: Option<String>,
    accept_unknown_devices: Option<bool>,
    auth: Option<String>,
    #[serde(default)]
    users: BTreeMap<String, String>,
    #[serde(default)]
    user_devices: BTreeMap<String, String>,
    realm: Option<String>,
    connection_requests: Option<bool>,
    connection_request_attempts: Option<u32>,
    connection_request_retry_s: Option<u64>,
    session_timeout_s: Option<u64>,
    max_sessions: Option<usize>,
    wait_stall_min: Option<u64>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    tls_client_ca: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ApiSection {
    listen: Option<SocketAddr>,
    token: Option<String>,
    token_file: Option<PathBuf>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    #[serde(default)]
    tokens: Vec<TokenEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenEntry {
    name: String,
    role: String,
    token: Option<String>,
    sha256: Option<String>,
}

impl TokenEntry {
    fn resolve(self) -> anyhow::Result<crate::access::ConfiguredToken> {
        use crate::access::{unhex32, ConfiguredToken, Role};
        let role = Role::parse(&self.role).with_context(|| {
            format!("api token `{}`: role `{}` is not viewer, operator or admin", self.name, self.role)
        })?;
        anyhow::ensure!(!self.name.trim().is_empty(), "api token: a name is needed (it shows in the audit log)");
        match (self.token, self.sha256) {
            (Some(t), None) if !t.trim().is_empty() => Ok(ConfiguredToken::plain(&self.name, role, &t)),
            (None, Some(h)) => {
                let digest =
                    unhex32(&h).with_context(|| format!("api token `{}`: sha256 is not 64 hex digits", self.name))?;
                Ok(ConfiguredToken { name: self.name, role, digest })
            }
            _ => anyhow::bail!("api token `{}`: give exactly one of token and sha256", self.name),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoreSection {
    path: Option<PathBuf>,
    url: Option<String>,
    ca: Option<PathBuf>,
    durable: Option<bool>,
    node_id: Option<String>,
    lease_s: Option<f64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct EngineSection {
    tick_ms: Option<u64>,
    default_timeout_s: Option<u64>,
    expiry_grace_s: Option<u64>,
    group_concurrency: Option<u32>,
    event_capacity: Option<usize>,
    retry_max_attempts: Option<u32>,
    retry_backoff_ms: Option<u64>,
}

/// The resolved configuration.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// API address.
    pub listen: SocketAddr,
    /// Bearer token (an admin's).
    pub token: Option<String>,
    /// HTTPS for the API.
    pub tls: Option<unidm_core::tls::TlsFiles>,
    /// More tokens with their roles.
    pub tokens: Vec<crate::access::ConfiguredToken>,
    /// Database file, or a PostgreSQL URL ([`unidm_core::is_postgres_url`]).
    pub db: PathBuf,
    /// Fsync every commit.
    pub durable: bool,
    /// The CA of a PostgreSQL server's certificate.
    pub db_ca: Option<PathBuf>,
    /// This node among several on one PostgreSQL database.
    pub node: crate::database::NodeOptions,
    /// Engine settings.
    pub engine: EngineConfig,
    /// Log filter.
    pub log: String,
    /// Directory of files served to devices.
    pub files_dir: PathBuf,
    /// Largest accepted upload, bytes.
    pub max_upload: u64,
    /// The TR-069 ACS, when enabled.
    pub tr069: Option<Tr069Config>,
    /// The LwM2M server, when enabled.
    pub lwm2m: Option<Lwm2mConfig>,
    /// Base URL CPEs reach the ACS at, when configured.
    pub tr069_public_url: Option<String>,
    /// The OMA DM server, when enabled.
    pub omadm: Option<OmadmConfig>,
    /// unidm as an LwM2M gateway toward a distant server, when configured.
    pub northbound: Option<NorthboundConfig>,
    /// The oneM2M mirror, when configured.
    pub onem2m: Option<OneM2mSettings>,
}

/// A node URI of `[omadm]` (`./A/B`): absolute in the device's tree.
fn node_uri(key: &str, uri: Option<String>) -> anyhow::Result<Option<String>> {
    match uri {
        Some(u) if !u.starts_with("./") || u.len() < 3 || u.chars().any(|c| c.is_whitespace() || c == '?') => {
            anyhow::bail!("omadm {key} `{u}` is not a node URI such as ./FUMO")
        }
        u => Ok(u),
    }
}

/// The TLS files of `section`: a certificate and a key together, or neither.
fn tls_files(
    section: &str,
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
    client_ca: Option<PathBuf>,
) -> anyhow::Result<Option<unidm_core::tls::TlsFiles>> {
    match (cert, key) {
        (Some(cert), Some(key)) => Ok(Some(unidm_core::tls::TlsFiles { cert, key, client_ca })),
        (None, None) if client_ca.is_none() => Ok(None),
        _ => anyhow::bail!("{section}: give tls_cert and tls_key together (tls_client_ca needs them)"),
    }
}

/// A `wait_stall_min` of `section`: at least one minute when set.
fn stall_minutes(section: &str, minutes: Option<u64>) -> anyhow::Result<Option<Duration>> {
    match minutes {
        Some(0) => anyhow::bail!("{section} wait_stall_min must be at least 1 (leave it out for no limit)"),
        m => Ok(m.map(|m| Duration::from_secs(m * 60))),
    }
}

fn read_token(path: &Path) -> anyhow::Result<String> {
    let t = std::fs::read_to_string(path).with_context(|| format!("reading token file {}", path.display()))?;
    Ok(t.trim().to_owned())
}

impl ServeConfig {
    /// Merges defaults, the file (if any), then flags and environment.
    pub fn resolve(args: &ServeArgs) -> anyhow::Result<Self> {
        let mut file: FileConfig = match &args.config {
            Some(path) => {
                let text =
                    std::fs::read_to_string(path).with_context(|| format!("reading config file {}", path.display()))?;
                toml::from_str(&text).with_context(|| format!("in config file {}", path.display()))?
            }
            None => FileConfig::default(),
        };
        let token = match (&args.token, &args.token_file, &file.api.token, &file.api.token_file) {
            (Some(t), _, _, _) => Some(t.clone()),
            (None, Some(p), _, _) => Some(read_token(p)?),
            (None, None, Some(t), _) => Some(t.clone()),
            (None, None, None, Some(p)) => Some(read_token(p)?),
            _ => None,
        }
        .filter(|t| !t.is_empty());
        let mut engine = EngineConfig::default();
        let e = &file.engine;
        if let Some(ms) = e.tick_ms {
            if ms == 0 {
                bail!("engine.tick_ms must be at least 1");
            }
            engine.tick = Duration::from_millis(ms);
        }
        if let Some(s) = e.default_timeout_s {
            engine.default_deadline = (s > 0).then(|| Duration::from_secs(s));
        }
        if let Some(s) = e.expiry_grace_s {
            engine.expiry_grace = Duration::from_secs(s);
        }
        if let Some(c) = e.group_concurrency {
            if c == 0 {
                bail!("engine.group_concurrency must be at least 1");
            }
            engine.default_group_concurrency = c;
        }
        if let Some(c) = e.event_capacity {
            engine.event_capacity = c;
        }
        if let Some(a) = e.retry_max_attempts {
            engine.default_retry.max_attempts = a.max(1);
        }
        if let Some(b) = e.retry_backoff_ms {
            engine.default_retry.backoff_ms = b;
        }
        let files_dir = args.files_dir.clone().or(file.files.dir).unwrap_or_else(|| PathBuf::from("files"));
        let max_upload = file.files.max_upload_mb.unwrap_or(512).saturating_mul(1 << 20);
        let t = file.tr069;
        let tr069 = if args.tr069.or(t.enabled).unwrap_or(true) {
            let defaults = Tr069Config::default();
            let users = t.users;
            let cpe_auth = match t.auth.as_deref().unwrap_or("none") {
                "none" => CpeAuth::None,
                "basic" => CpeAuth::Basic { users },
                "digest" => CpeAuth::Digest { users },
                other => bail!("tr069.auth must be none, basic or digest, not `{other}`"),
            };
            Some(Tr069Config {
                tls: tls_files("tr069", t.tls_cert, t.tls_key, t.tls_client_ca)?,
                listen: args.tr069_listen.or(t.listen).unwrap_or(defaults.listen),
                path: t.path.unwrap_or(defaults.path),
                accept_unknown_devices: t.accept_unknown_devices.unwrap_or(defaults.accept_unknown_devices),
                cpe_auth,
                user_devices: t.user_devices,
                realm: t.realm.unwrap_or(defaults.realm),
                connection_requests: t.connection_requests.unwrap_or(defaults.connection_requests),
                connection_request_attempts: match t.connection_request_attempts {
                    Some(0) => bail!("tr069.connection_request_attempts must be at least 1"),
                    n => n.unwrap_or(defaults.connection_request_attempts),
                },
                connection_request_backoff: t
                    .connection_request_retry_s
                    .map(Duration::from_secs)
                    .unwrap_or(defaults.connection_request_backoff),
                session_timeout: t.session_timeout_s.map(Duration::from_secs).unwrap_or(defaults.session_timeout),
                max_sessions: t.max_sessions.unwrap_or(defaults.max_sessions),
                wait_stall: stall_minutes("tr069", t.wait_stall_min)?,
                files: Some(FileServerConfig {
                    dir: files_dir.clone(),
                    accept_uploads: true,
                    max_upload: usize::try_from(max_upload).unwrap_or(usize::MAX),
                }),
                ..defaults
            })
        } else {
            None
        };
        let mut l = file.lwm2m;
        let northbound = l.northbound.take().map(NorthboundSection::resolve).transpose()?;
        let lwm2m = if args.lwm2m.or(l.enabled).unwrap_or(true) {
            let mut c = Lwm2mConfig::new(
                args.lwm2m_listen.or(l.listen).unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 5683))),
            );
            if let Some(s) = l.awake_window_s {
                c.server.awake_window = Duration::from_secs(s);
            }
            if let Some(n) = l.max_registers_per_source {
                c.server.registration.max_registers_per_source = n;
            }
            if let Some(n) = l.max_registrations {
                c.server.registration.max_registrations = n;
            }
            if let Some(read) = l.read_device_on_register {
                c.read_device_on_register = read;
            }
            if let Some(m) = l.firmware_stall_min {
                anyhow::ensure!(m > 0, "lwm2m firmware_stall_min must be at least 1");
                c.firmware_stall = Duration::from_secs(m * 60);
            }
            if let Some(s) = l.firmware_poll_s {
                anyhow::ensure!(s > 0, "lwm2m firmware_poll_s must be at least 1");
                c.firmware_poll = Duration::from_secs(s);
            }
            c.server.registration.deny = l.deny;
            match args.lwm2m_bootstrap_listen.clone().or(l.bootstrap_listen).as_deref() {
                None => {}
                Some("off") => c.bootstrap_listen = None,
                Some(a) => {
                    c.bootstrap_listen = Some(a.parse().with_context(|| format!("lwm2m bootstrap_listen `{a}`"))?)
                }
            }
            let dtls_default = {
                let mut a = c.listen;
                a.set_port(if a.port() == 0 { 0 } else { 5684 });
                a
            };
            c.dtls = match args.lwm2m_dtls_listen.clone().or(l.dtls_listen).as_deref() {
                Some("off") => None,
                None => Some(unidm_lwm2m::DtlsSettings { listen: dtls_default, ..Default::default() }),
                Some(a) => Some(unidm_lwm2m::DtlsSettings {
                    listen: a.parse().with_context(|| format!("lwm2m dtls_listen `{a}`"))?,
                    ..Default::default()
                }),
            };
            c.require_dtls = l.require_dtls.unwrap_or(false);
            match (l.dtls_cert, l.dtls_key, l.dtls_client_ca) {
                (None, None, None) => {}
                (Some(cert), Some(key), Some(ca)) => {
                    let read = |p: &PathBuf| std::fs::read(p).with_context(|| format!("lwm2m {}", p.display()));
                    let x509 = unidm_lwm2m::dtls::X509Settings {
                        cert_pem: read(&cert)?,
                        key_pem: read(&key)?,
                        ca_pem: read(&ca)?,
                    };
                    match c.dtls.as_mut() {
                        Some(d) => d.x509 = Some(x509),
                        None => bail!("lwm2m dtls_cert needs dtls_listen"),
                    }
                }
                _ => bail!("lwm2m: give dtls_cert, dtls_key and dtls_client_ca together"),
            }
            if let Some(path) = &l.dtls_rpk_key {
                let key = std::fs::read(path).with_context(|| format!("lwm2m dtls_rpk_key {}", path.display()))?;
                unidm_lwm2m::dtls::private_key(&key)
                    .map_err(|e| anyhow::anyhow!("lwm2m dtls_rpk_key {}: {e}", path.display()))?;
                match c.dtls.as_mut() {
                    Some(d) => d.rpk_key = Some(key),
                    None => bail!("lwm2m dtls_rpk_key needs dtls_listen"),
                }
            }
            // The bootstrap server over DTLS, beside the server's, with its certificate.
            c.bootstrap_dtls = match (l.bootstrap_dtls_listen.as_deref(), &c.dtls, c.bootstrap_listen) {
                (Some("off"), _, _) | (_, None, _) | (_, _, None) => None,
                (Some(a), Some(d), Some(_)) => Some(unidm_lwm2m::DtlsSettings {
                    listen: a.parse().with_context(|| format!("lwm2m bootstrap_dtls_listen `{a}`"))?,
                    ..d.clone()
                }),
                (None, Some(d), Some(bs)) => {
                    let mut listen = bs;
                    listen.set_port(if bs.port() == 0 { 0 } else { 5784 });
                    Some(unidm_lwm2m::DtlsSettings { listen, ..d.clone() })
                }
            };
            if let Some(ca) = &l.fetch_ca {
                c.fetch_roots = unidm_core::tls::certificates(ca)
                    .with_context(|| "lwm2m fetch_ca")?
                    .into_iter()
                    .map(|c| c.as_ref().to_vec())
                    .collect();
            }
            anyhow::ensure!(!c.require_dtls || c.dtls.is_some(), "lwm2m require_dtls needs dtls_listen");
            for p in &l.psk {
                let identity = p.identity.as_bytes();
                anyhow::ensure!(
                    (1..=unidm_lwm2m::dtls::MAX_IDENTITY).contains(&identity.len()),
                    "lwm2m psk identity `{}` is not 1 to 128 bytes",
                    p.identity
                );
                let endpoint = p.endpoint.as_deref().map(str::trim).filter(|e| !e.is_empty()).map(str::to_owned);
                c.psks.set(identity, unidm_lwm2m::dtls::Psk { endpoint, key: p.key()? });
            }
            for r in &l.rpk {
                let path = r.public_key.display();
                let bytes = std::fs::read(&r.public_key).with_context(|| format!("lwm2m rpk public_key {path}"))?;
                let spki = unidm_lwm2m::dtls::spki(&bytes).map_err(|e| anyhow::anyhow!("lwm2m rpk {path}: {e}"))?;
                let endpoint = r.endpoint.as_deref().map(str::trim).filter(|e| !e.is_empty()).map(str::to_owned);
                c.rpks.set(&spki, unidm_lwm2m::dtls::Rpk { endpoint });
            }
            anyhow::ensure!(
                c.rpks.is_empty() || c.dtls.as_ref().is_some_and(|d| d.rpk_key.is_some()),
                "lwm2m rpk entries need dtls_rpk_key (the server's own key pair)"
            );
            Some(c)
        } else {
            None
        };
        let o = file.omadm;
        let omadm = if args.omadm.or(o.enabled).unwrap_or(true) {
            let defaults = OmadmConfig::default();
            let client_auth = match o.auth.as_deref().unwrap_or("md5") {
                "none" => ClientAuth::None,
                "basic" => ClientAuth::Basic,
                "md5" => ClientAuth::Md5,
                "hmac" => ClientAuth::Hmac,
                other => bail!("omadm.auth must be none, basic, md5 or hmac, not `{other}`"),
            };
            let client_credentials = match (o.username, o.password) {
                (Some(u), Some(p)) => Some(Credentials::new(u, p)),
                (None, None) => None,
                _ => bail!("omadm.username and omadm.password go together"),
            };
            Some(OmadmConfig {
                tls: tls_files("omadm", o.tls_cert, o.tls_key, None)?,
                listen: args.omadm_listen.or(o.listen).unwrap_or(defaults.listen),
                path: o.path.unwrap_or(defaults.path),
                public_url: o.public_url,
                accept_unknown_devices: o.accept_unknown_devices.unwrap_or(defaults.accept_unknown_devices),
                server_id: o.server_id.unwrap_or(defaults.server_id),
                client_auth,
                client_credentials,
                device_credentials: o
                    .devices
                    .into_iter()
                    .map(|(dev, c)| (dev, Credentials::new(c.username, c.password)))
                    .collect(),
                server_password: o.server_password,
                session_timeout: o.session_timeout_s.map(Duration::from_secs).unwrap_or(defaults.session_timeout),
                max_sessions: o.max_sessions.unwrap_or(defaults.max_sessions),
                push_port: o.push_port,
                push_webhook: match o.push_webhook {
                    Some(url) => match unidm_omadm::server::PushTarget::parse(&url) {
                        Ok(unidm_omadm::server::PushTarget::Http(u)) => Some(u),
                        _ => anyhow::bail!("omadm push_webhook `{url}` is not an http(s) URL"),
                    },
                    None => None,
                },
                stall_after: stall_minutes("omadm", o.wait_stall_min)?,
                fumo_root: node_uri("fumo_root", o.fumo_root)?.unwrap_or(defaults.fumo_root),
                scomo_root: node_uri("scomo_root", o.scomo_root)?.unwrap_or(defaults.scomo_root),
                lawmo_root: node_uri("lawmo_root", o.lawmo_root)?.unwrap_or(defaults.lawmo_root),
                reboot_node: node_uri("reboot_node", o.reboot_node)?,
                reboot_nodes: o
                    .reboot_nodes
                    .into_iter()
                    .map(|r| {
                        let node = node_uri("reboot_nodes.node", Some(r.node))?.unwrap_or_default();
                        anyhow::ensure!(!r.manufacturer.trim().is_empty(), "omadm reboot_nodes.manufacturer is empty");
                        Ok(RebootNode { manufacturer: r.manufacturer, model: r.model, node })
                    })
                    .collect::<anyhow::Result<_>>()?,
                diagnostics: o.diagnostics.into_iter().map(OmadmDiagnostics::profile).collect::<anyhow::Result<_>>()?,
                ..defaults
            })
        } else {
            None
        };
        let tokens = std::mem::take(&mut file.api.tokens)
            .into_iter()
            .map(TokenEntry::resolve)
            .collect::<anyhow::Result<Vec<_>>>()?;
        let api_tls = tls_files(
            "api",
            args.tls_cert.clone().or(file.api.tls_cert.take()),
            args.tls_key.clone().or(file.api.tls_key.take()),
            None,
        )?;
        let onem2m = file.onem2m.take().map(OneM2mSection::resolve).transpose()?;
        Ok(ServeConfig {
            onem2m,
            northbound,
            tls: api_tls,
            tokens,
            omadm,
            lwm2m,
            files_dir,
            max_upload,
            tr069,
            tr069_public_url: t.public_url.map(|u| u.trim_end_matches('/').to_owned()),
            listen: args.listen.or(file.api.listen).unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8080))),
            token,
            db: args
                .db
                .clone()
                .or(file.store.url.map(PathBuf::from))
                .or(file.store.path)
                .unwrap_or_else(|| PathBuf::from("unidm.db")),
            durable: args.durable.or(file.store.durable).unwrap_or(true),
            db_ca: args.db_ca.clone().or(file.store.ca),
            node: crate::database::NodeOptions {
                id: args.node_id.clone().or(file.store.node_id),
                lease: match file.store.lease_s {
                    Some(s) if s.is_finite() && (0.5..=3600.0).contains(&s) => std::time::Duration::from_secs_f64(s),
                    Some(s) => anyhow::bail!("[store] lease_s = {s}: give 0.5 to 3600 seconds"),
                    None => std::time::Duration::from_secs(5),
                },
            },
            engine,
            log: args.log.clone().or(file.log).unwrap_or_else(|| "info".to_owned()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_without_anything() {
        let c = ServeConfig::resolve(&ServeArgs::default()).unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(c.db, PathBuf::from("unidm.db"));
        assert!(c.durable && c.token.is_none());
        let acs = c.tr069.expect("the ACS runs by default");
        assert_eq!(acs.listen.to_string(), "0.0.0.0:7547");
        assert_eq!(acs.files.unwrap().dir, PathBuf::from("files"));
        assert_eq!(c.lwm2m.expect("the LwM2M server runs by default").listen.to_string(), "0.0.0.0:5683");
        let dm = c.omadm.expect("the OMA DM server runs by default");
        assert_eq!((dm.listen.to_string().as_str(), dm.path.as_str()), ("0.0.0.0:8081", "/dm"));
    }

    #[test]
    fn lwm2m_dtls_and_psks() {
        let c = ServeConfig::resolve(&ServeArgs::default()).unwrap().lwm2m.unwrap();
        assert_eq!(c.dtls.unwrap().listen.to_string(), "0.0.0.0:5684", "coaps runs by default");
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, text: &str| {
            let path = dir.path().join(name);
            std::fs::write(&path, text).unwrap();
            ServeArgs { config: Some(path), ..Default::default() }
        };
        let args = write(
            "psk.toml",
            "[lwm2m]\nrequire_dtls = true\n[[lwm2m.psk]]\nidentity = \"id-1\"\nkey_hex = \"0a0B\"\nendpoint = \"ep-1\"\n\
             [[lwm2m.psk]]\nidentity = \"id-2\"\nkey = \"text\"\n",
        );
        let c = ServeConfig::resolve(&args).unwrap().lwm2m.unwrap();
        assert!(c.require_dtls);
        assert_eq!(c.psks.get(b"id-1").unwrap().key, [10, 11]);
        assert_eq!(c.psks.get(b"id-1").unwrap().endpoint.as_deref(), Some("ep-1"));
        assert_eq!(c.psks.get(b"id-2").unwrap().key, b"text");
        let off = ServeArgs { lwm2m_dtls_listen: Some("off".into()), ..Default::default() };
        let off = ServeConfig::resolve(&off).unwrap().lwm2m.unwrap();
        assert!(off.dtls.is_none() && off.bootstrap_dtls.is_none());
        let on = ServeConfig::resolve(&ServeArgs::default()).unwrap().lwm2m.unwrap();
        assert_eq!(on.bootstrap_dtls.unwrap().listen.to_string(), "0.0.0.0:5784");
        let zero = ServeArgs { lwm2m_listen: Some("127.0.0.1:0".parse().unwrap()), ..Default::default() };
        assert_eq!(ServeConfig::resolve(&zero).unwrap().lwm2m.unwrap().dtls.unwrap().listen.port(), 0);
        for (bad, why) in [
            ("[[lwm2m.psk]]\nidentity = \"a\"\nkey_hex = \"xyz\"\n", "hexadecimal"),
            ("[[lwm2m.psk]]\nidentity = \"a\"\n", "exactly one"),
            ("[[lwm2m.psk]]\nidentity = \"\"\nkey = \"k\"\n", "1 to 128"),
            ("[lwm2m]\ndtls_listen = \"off\"\nrequire_dtls = true\n", "require_dtls"),
            ("[lwm2m]\ndtls_cert = \"a.pem\"\n", "together"),
            ("[lwm2m]\ndtls_cert = \"a.pem\"\ndtls_key = \"a.key\"\ndtls_client_ca = \"ca.pem\"\n", "a.pem"),
            ("[lwm2m]\ndtls_rpk_key = \"missing.key\"\n", "missing.key"),
            ("[[lwm2m.rpk]]\npublic_key = \"missing.pub\"\n", "missing.pub"),
        ] {
            let err = ServeConfig::resolve(&write("bad.toml", bad)).unwrap_err();
            assert!(format!("{err:#}").contains(why), "{why}: {err:#}");
        }
    }

    #[test]
    fn lwm2m_raw_public_keys() {
        let dir = tempfile::tempdir().unwrap();
        let group = openssl::ec::EcGroup::from_curve_name(openssl::nid::Nid::X9_62_PRIME256V1).unwrap();
        let key = openssl::pkey::PKey::from_ec_key(openssl::ec::EcKey::generate(&group).unwrap()).unwrap();
        let (private, public, junk) = (dir.path().join("s.key"), dir.path().join("c.pub"), dir.path().join("junk"));
        std::fs::write(&private, key.private_key_to_pem_pkcs8().unwrap()).unwrap();
        std::fs::write(&public, key.public_key_to_pem().unwrap()).unwrap();
        std::fs::write(&junk, "not a key").unwrap();
        let resolve = |text: String| {
            let path = dir.path().join("rpk.toml");
            std::fs::write(&path, text).unwrap();
            ServeConfig::resolve(&ServeArgs { config: Some(path), ..Default::default() })
        };
        let (k, p, j) = (private.display(), public.display(), junk.display());
        let c = resolve(format!(
            "[lwm2m]\ndtls_rpk_key = \"{k}\"\n[[lwm2m.rpk]]\npublic_key = \"{p}\"\nendpoint = \"ep-r\"\n"
        ))
        .unwrap()
        .lwm2m
        .unwrap();
        assert!(c.dtls.as_ref().unwrap().rpk_key.is_some());
        assert!(c.bootstrap_dtls.as_ref().unwrap().rpk_key.is_some(), "the bootstrap server takes them too");
        assert_eq!(c.rpks.identities_of("ep-r"), [key.public_key_to_der().unwrap()]);
        for (bad, why) in [
            (format!("[lwm2m]\ndtls_rpk_key = \"{j}\"\n"), "not a private key"),
            (format!("[lwm2m]\ndtls_rpk_key = \"{k}\"\ndtls_listen = \"off\"\n"), "needs dtls_listen"),
            (format!("[[lwm2m.rpk]]\npublic_key = \"{p}\"\n"), "need dtls_rpk_key"),
            (format!("[lwm2m]\ndtls_rpk_key = \"{k}\"\n[[lwm2m.rpk]]\npublic_key = \"{j}\"\n"), "not a DER"),
        ] {
            let err = resolve(bad).unwrap_err();
            assert!(format!("{err:#}").contains(why), "{why}: {err:#}");
        }
    }

    #[test]
    fn tls_files_come_in_pairs() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tls.toml");
        std::fs::write(
            &path,
            "[api]\ntls_cert = \"a.pem\"\ntls_key = \"a.key\"\n[tr069]\ntls_cert = \"t.pem\"\ntls_key = \"t.key\"\n\
             tls_client_ca = \"ca.pem\"\n[omadm]\ntls_cert = \"d.pem\"\ntls_key = \"d.key\"\n",
        )
        .unwrap();
        let c = ServeConfig::resolve(&ServeArgs { config: Some(path), ..Default::default() }).unwrap();
        assert_eq!(c.tls.unwrap().cert, PathBuf::from("a.pem"));
        let acs = c.tr069.unwrap().tls.unwrap();
        assert_eq!(acs.client_ca, Some(PathBuf::from("ca.pem")));
        assert_eq!(c.omadm.unwrap().tls.unwrap().key, PathBuf::from("d.key"));
        let flags = ServeArgs { tls_cert: Some("f.pem".into()), tls_key: Some("f.key".into()), ..Default::default() };
        assert_eq!(ServeConfig::resolve(&flags).unwrap().tls.unwrap().key, PathBuf::from("f.key"));
        let half = dir.path().join("half.toml");
        std::fs::write(&half, "[omadm]\ntls_cert = \"d.pem\"\n").unwrap();
        let err = ServeConfig::resolve(&ServeArgs { config: Some(half), ..Default::default() }).unwrap_err();
        assert!(format!("{err:#}").contains("tls_cert and tls_key together"), "{err:#}");
    }

    #[test]
    fn a_postgres_url_in_the_file_selects_postgres_and_a_flag_overrides_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("u.toml");
        std::fs::write(&path, "[store]\nurl = \"postgres://u@db/unidm?sslmode=require\"\nca = \"db-ca.pem\"\n")
            .unwrap();
        let c = ServeConfig::resolve(&ServeArgs { config: Some(path.clone()), ..Default::default() }).unwrap();
        assert_eq!(
            (c.db.to_str(), c.db_ca.as_deref()),
            (Some("postgres://u@db/unidm?sslmode=require"), Some(Path::new("db-ca.pem")))
        );
        let flags = ServeArgs { config: Some(path), db: Some("local.db".into()), ..Default::default() };
        assert_eq!(ServeConfig::resolve(&flags).unwrap().db, PathBuf::from("local.db"));
    }

    #[test]
    fn flags_override_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("u.toml");
        std::fs::write(&path, "log = \"debug\"\n[api]\nlisten = \"127.0.0.1:9000\"\ntoken = \"file\"\n[store]\npath = \"x.db\"\n[engine]\ntick_ms = 250\n").unwrap();
        let args = ServeArgs { config: Some(path.clone()), token: Some("flag".into()), ..Default::default() };
        let c = ServeConfig::resolve(&args).unwrap();
        assert_eq!(c.listen.port(), 9000);
        assert_eq!(c.token.as_deref(), Some("flag"));
        assert_eq!(c.db, PathBuf::from("x.db"));
        assert_eq!(c.engine.tick, Duration::from_millis(250));
        assert_eq!(c.log, "debug");
    }

    #[test]
    fn tr069_section() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("u.toml");
        let text = "[tr069]\nlisten = \"127.0.0.1:17547\"\nauth = \"digest\"\npublic_url = \"http://acs.example:7547/\"\nconnection_request_attempts = 5\nconnection_request_retry_s = 2\n[tr069.users]\ncpe = \"pw\"\n[tr069.user_devices]\ncpe = \"SN1\"\n";
        std::fs::write(&path, text).unwrap();
        let c = ServeConfig::resolve(&ServeArgs { config: Some(path.clone()), ..Default::default() }).unwrap();
        let acs = c.tr069.unwrap();
        assert_eq!(acs.listen.port(), 17547);
        assert!(matches!(acs.cpe_auth, CpeAuth::Digest { ref users } if users["cpe"] == "pw"));
        assert_eq!(acs.user_devices["cpe"], "SN1");
        assert_eq!((acs.connection_request_attempts, acs.connection_request_backoff), (5, Duration::from_secs(2)));
        assert_eq!(c.tr069_public_url.as_deref(), Some("http://acs.example:7547"));
        let off =
            ServeConfig::resolve(&ServeArgs { config: Some(path), tr069: Some(false), ..Default::default() }).unwrap();
        assert!(off.tr069.is_none());
        std::fs::write(dir.path().join("bad.toml"), "[tr069]\nauth = \"kerberos\"\n").unwrap();
        let bad = ServeArgs { config: Some(dir.path().join("bad.toml")), ..Default::default() };
        assert!(ServeConfig::resolve(&bad).unwrap_err().to_string().contains("kerberos"));
        std::fs::write(dir.path().join("bad.toml"), "[tr069]\nconnection_request_attempts = 0\n").unwrap();
        assert!(ServeConfig::resolve(&bad).unwrap_err().to_string().contains("at least 1"));
    }

    #[test]
    fn lwm2m_northbound_section() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("u.toml");
        let text = "[lwm2m.northbound]\nserver = \"coap://127.0.0.1:15683\"\nendpoint = \"gw-1\"\nlifetime_s = 120\nprotocol = \"tr069\"\n[lwm2m.northbound.labels]\nsite = \"north\"\n";
        std::fs::write(&path, text).unwrap();
        let c = ServeConfig::resolve(&ServeArgs { config: Some(path), ..Default::default() }).unwrap();
        let nb = c.northbound.unwrap();
        assert_eq!(nb.server, "127.0.0.1:15683".parse().unwrap());
        assert_eq!((nb.endpoint.as_str(), nb.lifetime), ("gw-1", Duration::from_secs(120)));
        assert_eq!(nb.devices.protocol, Some(unidm_models::Protocol::Tr069));
        assert_eq!(nb.devices.labels["site"], "north");
        // Without a port: 5683.
        std::fs::write(dir.path().join("p.toml"), "[lwm2m.northbound]\nserver = \"127.0.0.1\"\n").unwrap();
        let c = ServeConfig::resolve(&ServeArgs { config: Some(dir.path().join("p.toml")), ..Default::default() });
        assert_eq!(c.unwrap().northbound.unwrap().server.port(), 5683);
        // A bootstrap server alone (port 5783 by default).
        std::fs::write(dir.path().join("b.toml"), "[lwm2m.northbound]\nbootstrap_server = \"coap://127.0.0.1\"\n")
            .unwrap();
        let c = ServeConfig::resolve(&ServeArgs { config: Some(dir.path().join("b.toml")), ..Default::default() });
        let nb = c.unwrap().northbound.unwrap();
        assert_eq!(nb.bootstrap, Some("127.0.0.1:5783".parse().unwrap()));
        // coaps with a PSK: port 5684 by default; the key is never printed.
        let text = "[lwm2m.northbound]\nserver = \"coaps://127.0.0.1\"\npsk_identity = \"gw\"\npsk_key_hex = \"00112233445566778899aabbccddeeff\"\n";
        std::fs::write(dir.path().join("s.toml"), text).unwrap();
        let c = ServeConfig::resolve(&ServeArgs { config: Some(dir.path().join("s.toml")), ..Default::default() });
        let nb = c.unwrap().northbound.unwrap();
        assert_eq!(nb.server.port(), 5684);
        assert_eq!(nb.psk.as_ref().map(|p| p.key.len()), Some(16));
        assert!(!format!("{nb:?}").contains("0, 17, 34"), "no key bytes in {nb:?}");
        assert!(ServeConfig::resolve(&ServeArgs::default()).unwrap().northbound.is_none());
        for (bad, says) in [
            ("server = \"coaps://127.0.0.1:5684\"", "coaps:// needs psk_identity"),
            ("server = \"127.0.0.1:5683\"\npsk_identity = \"i\"\npsk_key = \"0123456789\"", "needs a coaps"),
            ("server = \"coaps://127.0.0.1\"\npsk_identity = \"i\"\npsk_key = \"short\"", "8 to 64"),
            ("server = \"coaps://127.0.0.1\"\npsk_identity = \"i\"\npsk_key_hex = \"zz\"", "hexadecimal"),
            ("server = \"127.0.0.1:5683\"\nprotocol = \"snmp\"", "snmp"),
            ("server = \"127.0.0.1:5683\"\nendpoint = \"a/b\"", "endpoint"),
            ("server = \"127.0.0.1:5683\"\nlifetime_s = 1", "lifetime_s"),
            ("endpoint = \"gw\"", "give the server, the bootstrap_server, or both"),
            ("bootstrap_server = \"coaps://127.0.0.1:5784\"", "bootstrap_server: coaps"),
            ("server = \"no-such-host.invalid:5683\"", "does not resolve"),
        ] {
            std::fs::write(dir.path().join("bad.toml"), format!("[lwm2m.northbound]\n{bad}\n")).unwrap();
            let e =
                ServeConfig::resolve(&ServeArgs { config: Some(dir.path().join("bad.toml")), ..Default::default() });
            let e = e.unwrap_err().to_string();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }

    #[test]
    fn lwm2m_firmware_limits() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("u.toml");
        std::fs::write(
            &path,
            "[lwm2m]\nfirmware_stall_min = 3\nfirmware_poll_s = 5\nread_device_on_register = false\n",
        )
        .unwrap();
        let c = ServeConfig::resolve(&ServeArgs { config: Some(path), ..Default::default() }).unwrap();
        let l = c.lwm2m.unwrap();
        assert_eq!((l.firmware_stall, l.firmware_poll), (Duration::from_secs(180), Duration::from_secs(5)));
        assert!(!l.read_device_on_register);
        let default = ServeConfig::resolve(&ServeArgs::default()).unwrap();
        assert!(default.lwm2m.unwrap().read_device_on_register, "on by default");
        let zero = dir.path().join("zero.toml");
        std::fs::write(&zero, "[lwm2m]\nfirmware_stall_min = 0\n").unwrap();
        let err = ServeConfig::resolve(&ServeArgs { config: Some(zero), ..Default::default() }).unwrap_err();
        assert!(err.to_string().contains("firmware_stall_min"), "{err:#}");
    }

    #[test]
    fn wait_stall_limits() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("u.toml");
        std::fs::write(
            &path,
            "[tr069]\nwait_stall_min = 45\n[omadm]\nwait_stall_min = 2\npush_webhook = \"http://gw.example/sms\"\n",
        )
        .unwrap();
        let args = ServeArgs { config: Some(path), omadm: Some(true), ..Default::default() };
        let c = ServeConfig::resolve(&args).unwrap();
        assert_eq!(c.tr069.unwrap().wait_stall, Some(Duration::from_secs(45 * 60)));
        let o = c.omadm.unwrap();
        assert_eq!(
            (o.stall_after, o.push_webhook.as_deref()),
            (Some(Duration::from_secs(120)), Some("http://gw.example/sms"))
        );
        let bad = dir.path().join("hook.toml");
        std::fs::write(&bad, "[omadm]\npush_webhook = \"10.0.0.1:9\"\n").unwrap();
        let err = ServeConfig::resolve(&ServeArgs { config: Some(bad), omadm: Some(true), ..Default::default() })
            .unwrap_err();
        assert!(err.to_string().contains("push_webhook"), "{err:#}");
        let unset = ServeConfig::resolve(&ServeArgs::default()).unwrap();
        assert_eq!(unset.tr069.unwrap().wait_stall, None);
        let zero = dir.path().join("zero.toml");
        std::fs::write(&zero, "[tr069]\nwait_stall_min = 0\n").unwrap();
        let err = ServeConfig::resolve(&ServeArgs { config: Some(zero), ..Default::default() }).unwrap_err();
        assert!(err.to_string().contains("tr069 wait_stall_min"), "{err:#}");
    }

    #[test]
    fn unknown_keys_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("u.toml");
        std::fs::write(&path, "[api]\nlisten_on = \"x\"\n").unwrap();
        let err = ServeConfig::resolve(&ServeArgs { config: Some(path), ..Default::default() }).unwrap_err();
        assert!(format!("{err:#}").contains("listen_on"), "{err:#}");
    }

    #[test]
    fn omadm_section() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("u.toml");
        let text = "[omadm]\nlisten = \"127.0.0.1:18081\"\nauth = \"basic\"\nusername = \"u\"\npassword = \"p\"\nserver_password = \"s\"\n[omadm.devices.\"IMEI:1\"]\nusername = \"d\"\npassword = \"q\"\n";
        std::fs::write(&path, text).unwrap();
        let c = ServeConfig::resolve(&ServeArgs { config: Some(path.clone()), ..Default::default() }).unwrap();
        let dm = c.omadm.unwrap();
        assert_eq!(dm.listen.to_string(), "127.0.0.1:18081");
        assert_eq!(dm.client_auth, ClientAuth::Basic);
        assert_eq!(dm.client_credentials, Some(Credentials::new("u", "p")));
        assert_eq!(dm.device_credentials["IMEI:1"], Credentials::new("d", "q"));
        assert_eq!(dm.server_password.as_deref(), Some("s"));
        let flags =
            ServeArgs { config: Some(path), omadm_listen: Some("127.0.0.1:0".parse().unwrap()), ..Default::default() };
        assert_eq!(ServeConfig::resolve(&flags).unwrap().omadm.unwrap().listen.port(), 0);
        let off = ServeConfig::resolve(&ServeArgs { omadm: Some(false), ..Default::default() }).unwrap();
        assert!(off.omadm.is_none());
        std::fs::write(dir.path().join("bad.toml"), "[omadm]\nauth = \"kerberos\"\n").unwrap();
        let bad = ServeArgs { config: Some(dir.path().join("bad.toml")), ..Default::default() };
        assert!(ServeConfig::resolve(&bad).is_err());
        std::fs::write(dir.path().join("mac.toml"), "[omadm]\nauth = \"hmac\"\n").unwrap();
        let mac = ServeArgs { config: Some(dir.path().join("mac.toml")), ..Default::default() };
        assert_eq!(ServeConfig::resolve(&mac).unwrap().omadm.unwrap().client_auth, ClientAuth::Hmac);
        let nodes = "[omadm]\nfumo_root = \"./Vendor/FUMO\"\nreboot_node = \"./Reboot\"\n\
            [[omadm.reboot_nodes]]\nmanufacturer = \"Acme\"\nmodel = \"X2\"\nnode = \"./Acme/Restart\"\n";
        std::fs::write(dir.path().join("nodes.toml"), nodes).unwrap();
        let dm = ServeConfig::resolve(&ServeArgs { config: Some(dir.path().join("nodes.toml")), ..Default::default() })
            .unwrap()
            .omadm
            .unwrap();
        assert_eq!((dm.fumo_root.as_str(), dm.lawmo_root.as_str()), ("./Vendor/FUMO", "./LAWMO"));
        assert_eq!(dm.reboot_node_for(Some("acme"), Some("x2")), Some("./Acme/Restart"));
        assert_eq!(dm.reboot_node_for(Some("Other"), None), Some("./Reboot"));
        std::fs::write(dir.path().join("badnode.toml"), "[omadm]\nscomo_root = \"SCOMO\"\n").unwrap();
        let err =
            ServeConfig::resolve(&ServeArgs { config: Some(dir.path().join("badnode.toml")), ..Default::default() })
                .unwrap_err();
        assert!(err.to_string().contains("scomo_root"), "{err:#}");

        let diag = "[[omadm.diagnostics]]\ntest = \"Ping\"\nroot = \"./V/Ping/\"\nmanufacturer = \"Acme\"\n\
            timeout = \"\"\nresult_leaves = [\"Out/Avg\"]\n\
            [[omadm.diagnostics]]\ntest = \"traceroute\"\nroot = \"./V/Trace\"\nexec = \"Run\"\n";
        std::fs::write(dir.path().join("diag.toml"), diag).unwrap();
        let dm = ServeConfig::resolve(&ServeArgs { config: Some(dir.path().join("diag.toml")), ..Default::default() })
            .unwrap()
            .omadm
            .unwrap();
        let ping = dm.diag_profile_for(DiagTest::Ping, Some("ACME"), None).unwrap();
        assert_eq!(
            (ping.root(), ping.count.as_deref(), ping.timeout.as_deref()),
            ("./V/Ping", Some("NumberOfRepetitions"), None)
        );
        assert_eq!(ping.result_gets(), ["./V/Ping/Out/Avg"]);
        assert!(dm.diag_profile_for(DiagTest::Ping, Some("Other"), None).is_none());
        let trace = dm.diag_profile_for(DiagTest::Traceroute, Some("Other"), None).unwrap();
        assert_eq!((trace.node(&trace.exec), trace.max_hops.as_deref()), ("./V/Trace/Run".into(), Some("MaxHopCount")));
        for (bad, key) in [
            ("test = \"iperf\"\nroot = \"./V\"", "iperf"),
            ("test = \"ping\"\nroot = \"V\"", "diagnostics.root"),
            ("test = \"ping\"\nroot = \"./V\"\nhost = \"a b\"", "diagnostics.host"),
            ("test = \"ping\"\nroot = \"./V\"\nmanufacturer = \" \"", "manufacturer"),
        ] {
            std::fs::write(dir.path().join("bad.toml"), format!("[[omadm.diagnostics]]\n{bad}\n")).unwrap();
            let err =
                ServeConfig::resolve(&ServeArgs { config: Some(dir.path().join("bad.toml")), ..Default::default() })
                    .unwrap_err();
            assert!(format!("{err:#}").contains(key), "{key}: {err:#}");
        }
    }
}
