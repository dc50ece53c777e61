//! The simulated CPE's session task: Inform, pending TransferComplete, empty POST, then one
//! answer per ACS request until the ACS's 204 (TR-069 Amendment 6, 3.7.1 and A.3.3.1); after
//! the session it carries out what the ACS asked for (reboot, factory reset, download,
//! diagnostics, scheduled Inform).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::{Shared, SimConfig};
use crate::digest::{basic_header, Challenge};
use crate::rpc::add_object::AddObjectResponse;
use crate::rpc::change_du_state::{ChangeDUState, ChangeDUStateResponse};
use crate::rpc::common::{FaultStruct, ParameterValueStruct};
use crate::rpc::delete_object::DeleteObjectResponse;
use crate::rpc::download::{Download, DownloadResponse};
use crate::rpc::du_state_change_complete::DUStateChangeComplete;
use crate::rpc::factory_reset::FactoryResetResponse;
use crate::rpc::fault::{Fault, FaultCode};
use crate::rpc::get_parameter_attributes::GetParameterAttributesResponse;
use crate::rpc::get_parameter_names::GetParameterNamesResponse;
use crate::rpc::get_parameter_values::GetParameterValuesResponse;
use crate::rpc::get_rpc_methods::GetRPCMethodsResponse;
use crate::rpc::inform::{event_code, DeviceIdStruct, Inform};
use crate::rpc::reboot::RebootResponse;
use crate::rpc::schedule_inform::ScheduleInformResponse;
use crate::rpc::set_parameter_attributes::SetParameterAttributesResponse;
use crate::rpc::set_parameter_values::SetParameterValuesResponse;
use crate::rpc::transfer_complete::TransferComplete;
use crate::rpc::Rpc;
use crate::soap::{encode_envelope, parse_envelope, CwmpNamespace, Envelope};

/// What the CPE does once the session is over.
pub(super) enum After {
    Reboot(String),
    FactoryReset,
    Download(Download),
    Diagnostics(String),
    ScheduleInform(u32, String),
    ChangeDuState(ChangeDUState),
    Upload(crate::rpc::upload::Upload),
    ScheduleDownload(crate::rpc::schedule_download::ScheduleDownload),
}

pub(super) type SharedRef = Arc<Mutex<Shared>>;

/// Events retained until the CPE request they announce is answered.
const COMPLETION_EVENTS: [&str; 6] = [
    event_code::TRANSFER_COMPLETE,
    event_code::M_DOWNLOAD,
    event_code::M_UPLOAD,
    event_code::M_SCHEDULE_DOWNLOAD,
    event_code::DU_STATE_CHANGE_COMPLETE,
    event_code::M_CHANGE_DU_STATE,
];

pub(super) fn lock(s: &SharedRef) -> std::sync::MutexGuard<'_, Shared> {
    s.lock().unwrap_or_else(|e| e.into_inner())
}

/// xsd:dateTime of now, UTC.
pub(super) fn now_date_time() -> String {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = unidm_models::civil_date(days);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem / 60 % 60, rem % 60)
}

/// Starts the session task.
pub(crate) fn spawn(
    config: SimConfig,
    shared: SharedRef,
    wake: Arc<tokio::sync::Notify>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let initial = lock(&shared).tree.clone();
    tokio::spawn(async move {
        // A connection of its own, or one of the shared host's for each session.
        let own = match config.shared_host {
            Some(_) => None,
            None => Some(reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap_or_default()),
        };
        let periodic = config.periodic_inform.unwrap_or(Duration::from_secs(365 * 86_400));
        loop {
            tokio::select! {
                _ = wake.notified() => {}
                _ = tokio::time::sleep(periodic) => lock(&shared).add_event(event_code::PERIODIC, ""),
                _ = stop.changed() => break,
            }
            loop {
                {
                    let mut s = lock(&shared);
                    if s.pending_events.is_empty() && s.pending_requests.is_empty() {
                        break;
                    }
                    s.in_session = true;
                }
                // Boxed: an idle CPE's task stays small.
                let result = match (&own, &config.shared_host) {
                    (Some(client), _) => Box::pin(run_session(&config, &shared, client)).await,
                    (None, Some(host)) => {
                        let connection = host.connection().await;
                        let r = Box::pin(run_session(&config, &shared, connection.client())).await;
                        if r.is_err() {
                            connection.discard();
                        }
                        r
                    }
                    (None, None) => Err("no HTTP client".to_owned()),
                };
                let mut s = lock(&shared);
                s.in_session = false;
                match result {
                    Ok(after) => {
                        s.stats.sessions += 1;
                        drop(s);
                        for a in after {
                            carry_out(a, &config, &shared, &wake, &initial);
                        }
                    }
                    Err(e) => {
                        tracing::debug!(error = %e, "simulated CPE session failed");
                        s.stats.failed_sessions += 1;
                        let wake = wake.clone();
                        tokio::spawn(async move {
                            tokio::time::sleep(Duration::from_millis(500)).await;
                            wake.notify_one();
                        });
                        break;
                    }
                }
            }
        }
    });
}

/// The HTTP side of one session: cookie and ACS authentication.
struct Http<'a> {
    client: &'a reqwest::Client,
    url: &'a str,
    cookie: Option<String>,
    creds: Option<&'a (String, String)>,
}

impl Http<'_> {
    async fn post(&mut self, body: Vec<u8>) -> Result<(u16, Vec<u8>), String> {
        let mut auth: Option<String> = None;
        for _ in 0..2 {
            let mut req = self
                .client
                .post(self.url)
                .header(reqwest::header::CONTENT_TYPE, "text/xml; charset=\"utf-8\"")
                .body(body.clone());
            if let Some(c) = &self.cookie {
                req = req.header(reqwest::header::COOKIE, c);
            }
            if let Some(a) = &auth {
                req = req.header(reqwest::header::AUTHORIZATION, a);
            }
            let resp = req.send().await.map_err(|e| e.to_string())?;
            if let Some(c) = resp.headers().get(reqwest::header::SET_COOKIE).and_then(|v| v.to_str().ok()) {
                self.cookie = c.split(';').next().map(str::to_owned);
            }
            let status = resp.status().as_u16();
            if status == 401 && auth.is_none() {
                let (user, pass) = self.creds.ok_or("ACS asks for credentials")?;
                let challenge = resp.headers().get(reqwest::header::WWW_AUTHENTICATE).and_then(|v| v.to_str().ok());
                let path = reqwest::Url::parse(self.url).map(|u| u.path().to_owned()).unwrap_or_else(|_| "/".into());
                auth = Some(match challenge.and_then(Challenge::parse) {
                    Some(c) => c.respond(user, pass, "POST", &path, &crate::digest::md5_hex(user.as_bytes()), 1),
                    None => basic_header(user, pass),
                });
                continue;
            }
            let bytes = resp.bytes().await.map_err(|e| e.to_string())?;
            return Ok((status, bytes.to_vec()));
        }
        Err("ACS refused the credentials".into())
    }
}

fn inform(shared: &SharedRef) -> (Inform, Vec<Rpc>) {
    let mut s = lock(shared);
    let root = s.tree.root().to_owned();
    let mut names: Vec<String> = [
        "DeviceInfo.HardwareVersion",
        "DeviceInfo.SoftwareVersion",
        "DeviceInfo.ProvisioningCode",
        "ManagementServer.ParameterKey",
        "ManagementServer.ConnectionRequestURL",
        "ManagementServer.PeriodicInformInterval",
        "ManagementServer.UDPConnectionRequestAddress",
    ]
    .iter()
    .map(|n| format!("{root}{n}"))
    .collect();
    names.extend(s.changed.iter().cloned());
    names.sort();
    names.dedup();
    let parameter_list: Vec<ParameterValueStruct> = names
        .iter()
        .filter_map(|n| s.tree.nodes.get(n).map(|node| ParameterValueStruct::new(n.clone(), node.value.clone())))
        .collect();
    s.stats.last_events = s.pending_events.iter().map(|e| e.event_code.clone()).collect();
    let id = &s.tree.identity;
    let inform = Inform {
        device_id: DeviceIdStruct {
            manufacturer: id.manufacturer.clone(),
            oui: id.oui.clone(),
            product_class: id.product_class.clone(),
            serial_number: id.serial_number.clone(),
        },
        events: s.pending_events.clone(),
        max_envelopes: 1,
        current_time: now_date_time(),
        retry_count: 0,
        parameter_list,
    };
    (inform, s.pending_requests.clone())
}

fn envelope(id: Option<String>, rpc: impl Into<Rpc>) -> Vec<u8> {
    let mut env = Envelope::new(CwmpNamespace::V1_0, rpc);
    env.header.id = id;
    encode_envelope(&env)
}

async fn run_session(config: &SimConfig, shared: &SharedRef, client: &reqwest::Client) -> Result<Vec<After>, String> {
    let mut http = Http { client, url: &config.acs_url, cookie: None, creds: config.acs_credentials.as_ref() };
    let (inform, requests) = inform(shared);
    let (status, body) = http.post(envelope(Some("cpe-inform".into()), inform)).await?;
    let env = parse_envelope(&body).map_err(|e| format!("HTTP {status}: {e}"))?;
    if !matches!(env.rpc, Rpc::InformResponse(_)) {
        return Err(format!("expected InformResponse, got {}", env.rpc.name()));
    }
    {
        // Events are delivered; completion events stay until their request is answered
        // (A.3.3.2).
        let mut s = lock(shared);
        let keep = !s.pending_requests.is_empty();
        s.pending_events.retain(|e| keep && COMPLETION_EVENTS.contains(&e.event_code.as_str()));
        s.changed.clear();
    }
    for (i, request) in requests.into_iter().enumerate() {
        let expected = format!("{}Response", request.name());
        let (_, body) = http.post(envelope(Some(format!("cpe-req-{i}")), request)).await?;
        match parse_envelope(&body).map(|e| e.rpc) {
            Ok(r) if r.name() == expected => {
                let mut s = lock(shared);
                if !s.pending_requests.is_empty() {
                    s.pending_requests.remove(0);
                }
                if s.pending_requests.is_empty() {
                    s.pending_events.retain(|e| !COMPLETION_EVENTS.contains(&e.event_code.as_str()));
                }
            }
            other => return Err(format!("expected {expected}, got {other:?}")),
        }
    }
    let mut after = Vec::new();
    let mut body = Vec::new();
    loop {
        let (status, reply) = http.post(body).await?;
        match status {
            204 => return Ok(after),
            200 => {}
            s => return Err(format!("ACS answered HTTP {s}")),
        }
        let env = parse_envelope(&reply).map_err(|e| e.to_string())?;
        lock(shared).stats.rpcs.push(env.rpc.name().to_owned());
        if drops(config, &env.rpc) {
            lock(shared).stats.dropped.push(env.rpc.name().to_owned());
            return Err(format!("dropped the session on {}", env.rpc.name()));
        }
        let answer = answer(config, shared, env.rpc, &mut after);
        let mut out = Envelope::new(env.namespace, answer);
        out.header.id = env.header.id;
        body = encode_envelope(&out);
    }
}

/// Whether the CPE leaves `rpc` unanswered and drops its session (the field faults the knobs
/// reproduce).
fn drops(config: &SimConfig, rpc: &Rpc) -> bool {
    let partial =
        matches!(rpc, Rpc::GetParameterValues(g) if g.parameter_names.iter().any(|n| n.is_empty() || n.ends_with('.')));
    (config.drop_partial_path_gpv && partial) || config.unanswered_rpcs.iter().any(|n| n == rpc.name())
}

fn set_parameter_key(s: &mut Shared, key: &str) {
    let name = format!("{}ManagementServer.ParameterKey", s.tree.root());
    s.tree.set_text(&name, key);
}

fn answer(config: &SimConfig, shared: &SharedRef, rpc: Rpc, after: &mut Vec<After>) -> Rpc {
    let mut s = lock(shared);
    let r: Result<Rpc, Fault> = match rpc {
        Rpc::GetRPCMethods(_) => Ok(GetRPCMethodsResponse {
            method_list: [
                "GetRPCMethods",
                "SetParameterValues",
                "GetParameterValues",
                "GetParameterNames",
                "SetParameterAttributes",
                "GetParameterAttributes",
                "AddObject",
                "DeleteObject",
                "Reboot",
                "Download",
                "FactoryReset",
                "ScheduleInform",
                "Upload",
                "ScheduleDownload",
                "CancelTransfer",
                "ChangeDUState",
            ]
            .map(String::from)
            .to_vec(),
        }
        .into()),
        Rpc::GetParameterValues(r) => {
            s.tree.get_values(&r.parameter_names).map(|l| GetParameterValuesResponse { parameter_list: l }.into())
        }
        Rpc::GetParameterNames(r) => s
            .tree
            .get_names(&r.parameter_path, r.next_level)
            .map(|l| GetParameterNamesResponse { parameter_list: l }.into()),
        Rpc::SetParameterValues(r) => s.tree.set_values(&r.parameter_list).map(|()| {
            set_parameter_key(&mut s, &r.parameter_key);
            if config.notify_acs_changes {
                for p in &r.parameter_list {
                    if s.tree.nodes.get(&p.name).is_some_and(|n| n.notification > 0) {
                        s.changed.push(p.name.clone());
                        s.add_event(event_code::VALUE_CHANGE, "");
                    }
                }
            }
            let diag = r
                .parameter_list
                .iter()
                .find_map(|p| (p.value.text == "Requested").then(|| p.name.strip_suffix("DiagnosticsState")).flatten());
            if let Some(base) = diag {
                after.push(After::Diagnostics(base.to_owned()));
            }
            SetParameterValuesResponse { status: 0 }.into()
        }),
        Rpc::GetParameterAttributes(r) => s
            .tree
            .get_attributes(&r.parameter_names)
            .map(|l| GetParameterAttributesResponse { parameter_list: l }.into()),
        Rpc::SetParameterAttributes(r) => {
            s.tree.set_attributes(&r.parameter_list).map(|()| SetParameterAttributesResponse.into())
        }
        Rpc::AddObject(r) => s.tree.add_object(&r.object_name).map(|n| {
            set_parameter_key(&mut s, &r.parameter_key);
            AddObjectResponse { instance_number: n, status: 0 }.into()
        }),
        Rpc::DeleteObject(r) => s.tree.delete_object(&r.object_name).map(|()| {
            set_parameter_key(&mut s, &r.parameter_key);
            DeleteObjectResponse { status: 0 }.into()
        }),
        Rpc::Reboot(r) => {
            after.push(After::Reboot(r.command_key));
            Ok(RebootResponse.into())
        }
        Rpc::FactoryReset(_) => {
            after.push(After::FactoryReset);
            Ok(FactoryResetResponse.into())
        }
        Rpc::Download(d) if config.download_at_once && d.file_type.starts_with('1') => {
            let name = format!("{}DeviceInfo.SoftwareVersion", s.tree.root());
            s.tree.set_text(&name, &firmware_version(config, &d));
            let now = now_date_time();
            Ok(DownloadResponse { status: 0, start_time: now.clone(), complete_time: now }.into())
        }
        Rpc::Download(d) if d.file_type.starts_with('1') || d.file_type.starts_with('3') => {
            after.push(After::Download(d));
            Ok(DownloadResponse {
                status: 1,
                start_time: "0001-01-01T00:00:00Z".into(),
                complete_time: "0001-01-01T00:00:00Z".into(),
            }
            .into())
        }
        Rpc::Download(_) => Err(Fault::new(FaultCode::FileTransferFailure)),
        Rpc::ScheduleInform(r) if r.delay_seconds > 0 => {
            after.push(After::ScheduleInform(r.delay_seconds, r.command_key));
            Ok(ScheduleInformResponse.into())
        }
        Rpc::ScheduleInform(_) => Err(Fault::new(FaultCode::InvalidArguments)),
        Rpc::ChangeDUState(c) => {
            after.push(After::ChangeDuState(c));
            Ok(ChangeDUStateResponse.into())
        }
        Rpc::Upload(u) => super::transfers::upload(u, after),
        Rpc::ScheduleDownload(d) => super::transfers::schedule_download(&mut s, d, after),
        Rpc::CancelTransfer(c) => super::transfers::cancel(&mut s, &c.command_key),
        _ => Err(Fault::new(FaultCode::MethodNotSupported)),
    };
    r.unwrap_or_else(Rpc::Fault)
}

/// The SoftwareVersion a firmware image brings: the configured one, else the URL's file name.
fn firmware_version(config: &SimConfig, d: &Download) -> String {
    config
        .firmware_version
        .clone()
        .unwrap_or_else(|| d.url.rsplit('/').next().unwrap_or_default().trim_end_matches(".bin").to_owned())
}

/// Fetches a download over HTTP; the error is the TransferComplete fault (9015 file server
/// unreachable, 9016 file not accessible).
async fn fetch(url: &str) -> Result<(), (u32, String)> {
    let client = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap_or_default();
    let resp = client.get(url).send().await.map_err(|e| (9015, format!("unable to contact file server: {e}")))?;
    if !resp.status().is_success() {
        return Err((9016, format!("unable to access file: HTTP {}", resp.status().as_u16())));
    }
    let body = resp.bytes().await.map_err(|e| (9017, format!("unable to complete download: {e}")))?;
    if body.is_empty() {
        return Err((9018, "file corrupted: empty".into()));
    }
    Ok(())
}

/// Runs `f` on the shared state after `delay`, then wakes the session task.
/// Waits `delay`, or until [`super::SimCpe::hurry`] is called.
async fn delay_or_hurry(delay: Duration, hurry: &mut tokio::sync::watch::Receiver<u64>) {
    tokio::select! {
        _ = tokio::time::sleep(delay) => {}
        _ = hurry.changed() => {}
    }
}

fn later(
    shared: &SharedRef,
    wake: &Arc<tokio::sync::Notify>,
    delay: Duration,
    f: impl FnOnce(&mut Shared) + Send + 'static,
) {
    let (shared, wake) = (shared.clone(), wake.clone());
    let mut hurry = lock(&shared).hurry.subscribe();
    tokio::spawn(async move {
        delay_or_hurry(delay, &mut hurry).await;
        f(&mut lock(&shared));
        wake.notify_one();
    });
}

fn carry_out(
    a: After,
    config: &SimConfig,
    shared: &SharedRef,
    wake: &Arc<tokio::sync::Notify>,
    initial: &super::ParameterTree,
) {
    match a {
        After::Reboot(key) => later(shared, wake, config.reboot_delay, move |s| {
            s.stats.reboots += 1;
            s.add_event(event_code::BOOT, "");
            s.add_event(event_code::M_REBOOT, &key);
        }),
        After::FactoryReset => {
            let fresh = initial.clone();
            later(shared, wake, config.reboot_delay, move |s| {
                s.tree = fresh;
                s.stats.reboots += 1;
                s.pending_events.clear();
                s.add_event(event_code::BOOTSTRAP, "");
                s.add_event(event_code::BOOT, "");
            })
        }
        After::Download(d) => download(d, event_code::M_DOWNLOAD, config, shared, wake),
        After::Upload(u) => super::transfers::carry_out_upload(u, shared, wake),
        After::ScheduleDownload(d) => super::transfers::carry_out_schedule(d, config, shared, wake),
        After::Diagnostics(base) => later(shared, wake, Duration::from_millis(50), move |s| {
            super::diagnostics::complete(&mut s.tree, &base);
            s.add_event(event_code::DIAGNOSTICS_COMPLETE, "");
        }),
        After::ChangeDuState(c) => later(shared, wake, config.download_delay, move |s| {
            let results = c.operations.iter().map(|op| super::software::apply(&mut s.tree, op)).collect();
            let key = c.command_key.clone().unwrap_or_default();
            s.pending_requests.push(DUStateChangeComplete { results, command_key: c.command_key.clone() }.into());
            s.add_event(event_code::DU_STATE_CHANGE_COMPLETE, "");
            s.add_event(event_code::M_CHANGE_DU_STATE, &key);
        }),
        After::ScheduleInform(delay, key) => later(shared, wake, Duration::from_secs(delay.into()), move |s| {
            s.add_event(event_code::SCHEDULED, "");
            s.add_event(event_code::M_SCHEDULE_INFORM, &key);
        }),
    }
}

/// Carries out a Download: waits, fetches when configured, then queues its TransferComplete
/// (A.3.3.2); a firmware image reboots the CPE with the new version.
pub(super) fn download(
    d: Download,
    m_event: &'static str,
    config: &SimConfig,
    shared: &SharedRef,
    wake: &Arc<tokio::sync::Notify>,
) {
    let (shared, wake) = (shared.clone(), wake.clone());
    let config = config.clone();
    let mut hurry = lock(&shared).hurry.subscribe();
    tokio::spawn(async move {
        let start = now_date_time();
        delay_or_hurry(config.download_delay, &mut hurry).await;
        let mut fault = config.download_fault.clone();
        if fault.is_none() && config.fetch_downloads {
            fault = fetch(&d.url).await.err();
        }
        let firmware = d.file_type.starts_with('1');
        if fault.is_none() && firmware {
            delay_or_hurry(config.reboot_delay, &mut hurry).await;
        }
        let version = firmware_version(&config, &d);
        {
            let mut s = lock(&shared);
            let (fault_code, fault_string) = fault.unwrap_or((0, String::new()));
            if fault_code == 0 && firmware {
                let name = format!("{}DeviceInfo.SoftwareVersion", s.tree.root());
                s.tree.set_text(&name, &version);
                s.stats.reboots += 1;
                s.add_event(event_code::BOOT, "");
            }
            s.pending_requests.push(
                TransferComplete {
                    command_key: d.command_key.clone(),
                    fault: FaultStruct { fault_code, fault_string },
                    start_time: start,
                    complete_time: now_date_time(),
                }
                .into(),
            );
            s.add_event(event_code::TRANSFER_COMPLETE, "");
            s.add_event(m_event, &d.command_key);
        }
        wake.notify_one();
    });
}
