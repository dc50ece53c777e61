//! A population of simulated CPEs that loads any ACS over HTTP: the client of
//! `unidm bench tr069` and of the in-process `benches/acs_load.rs` (TR-069 Amendment 6, 3.7
//! "Session procedures", seen from the CPE).
//!
//! Cheap per session and nothing kept per device: a device is its index. Its serial number is
//! `{prefix}{index:07}`, its Informs are rendered from one pre-encoded template per set of event
//! codes ([`Informs`]), and its parameters are computed when asked ([`Population::value`]):
//! a small fixed set of `Device.DeviceInfo.` / `Device.ManagementServer.` values (what ACSs read
//! on first contact), one IP address, and `K` counters `Device.X_UNIDM_Bench.Counter{i}` under
//! [`BENCH_OBJECT`], which a load tool reads with one GetParameterValues of the partial path.
//!
//! - [`Population::answer`] (no I/O): what the CPE posts back for what the ACS sent:
//!   GetParameterValues with the values of the names asked (unknown names: fault 9005),
//!   SetParameterValues with Status 0 (nothing is stored), GetParameterNames from the same
//!   names, GetRPCMethods with the methods it answers, anything else fault 9000; each answer
//!   echoes the request's `cwmp:ID` and namespace (ACSs such as GenieACS match the ID). An
//!   empty body ends the session.
//! - [`client`]: one session over one HTTP connection ([`CpeClient::session`]: Inform, keep the
//!   session cookie if any, empty POST, answer until 204 or an empty 200), sessions of a range
//!   of devices over many connections ([`Fleet::run`]), what went wrong by kind
//!   ([`ErrorCounts`]), and the connection-request listener of the whole population
//!   ([`serve_connection_requests`]).

pub mod client;

use std::collections::BTreeSet;

use axum::body::Bytes;
use unidm_models::DeviceId;

pub use client::{
    serve_connection_requests, CpeClient, ErrorCounts, FirstErrors, Fleet, SessionError, Sessions, REQUEST_TIMEOUT,
};

use crate::error::CwmpError;
use crate::rpc::common::ParameterValueStruct;
use crate::rpc::fault::{Fault, FaultCode};
use crate::rpc::get_parameter_names::{GetParameterNamesResponse, ParameterInfoStruct};
use crate::rpc::get_parameter_values::GetParameterValuesResponse;
use crate::rpc::get_rpc_methods::GetRPCMethodsResponse;
use crate::rpc::inform::{DeviceIdStruct, EventStruct, Inform};
use crate::rpc::set_parameter_values::SetParameterValuesResponse;
use crate::rpc::Rpc;
use crate::soap::{Value, XsdType};
use crate::{encode_envelope, parse_envelope, CwmpNamespace, Envelope};

/// The OUI of every simulated CPE.
pub const OUI: &str = "00D09E";
/// The ProductClass of every simulated CPE.
pub const PRODUCT_CLASS: &str = "UnidmBench";
/// The object holding the counters a load tool reads.
pub const BENCH_OBJECT: &str = "Device.X_UNIDM_Bench.";
/// Longest serial-number prefix.
pub const MAX_PREFIX: usize = 48;

/// Stands for the device's zero-padded index in a template.
const MARK: &str = "@@N@@";
const SERIAL_NUMBER: &str = "Device.DeviceInfo.SerialNumber";
const CONNECTION_REQUEST_URL: &str = "Device.ManagementServer.ConnectionRequestURL";

/// Parameters every device has: name, `xsi:type`, value (the serial number and the
/// connection-request URL are per device, see [`Population::value`]).
const FIXED: &[(&str, &str, &str)] = &[
    ("Device.RootDataModelVersion", "string", "2.11"),
    ("Device.DeviceInfo.Manufacturer", "string", "unidm"),
    ("Device.DeviceInfo.ManufacturerOUI", "string", OUI),
    ("Device.DeviceInfo.ModelName", "string", "unidm bench CPE"),
    ("Device.DeviceInfo.ProductClass", "string", PRODUCT_CLASS),
    (SERIAL_NUMBER, "string", ""),
    ("Device.DeviceInfo.HardwareVersion", "string", "1.0"),
    ("Device.DeviceInfo.SoftwareVersion", "string", "1.0.0"),
    ("Device.DeviceInfo.ProvisioningCode", "string", ""),
    ("Device.DeviceInfo.UpTime", "unsignedInt", "3600"),
    ("Device.DeviceInfo.MemoryStatus.Total", "unsignedInt", "65536"),
    ("Device.DeviceInfo.MemoryStatus.Free", "unsignedInt", "32768"),
    ("Device.ManagementServer.ParameterKey", "string", ""),
    (CONNECTION_REQUEST_URL, "string", ""),
    // Read back empty, as TR-181 asks of passwords; nothing set is kept.
    ("Device.ManagementServer.ConnectionRequestUsername", "string", ""),
    ("Device.ManagementServer.ConnectionRequestPassword", "string", ""),
    ("Device.IP.Interface.1.IPv4Address.1.IPAddress", "string", "192.0.2.1"),
];

/// Objects that exist without instances: the tables ACSs read for topology and the diagnostics
/// they probe for.
const EMPTY_OBJECTS: &[&str] =
    &["Device.Hosts.Host.", "Device.ManagementServer.ManageableDevice.", "Device.IP.Diagnostics."];

/// Parameters in the Inform (TR-181 forced-inform parameters this device has).
const INFORMED: &[&str] = &[
    "Device.RootDataModelVersion",
    "Device.DeviceInfo.HardwareVersion",
    "Device.DeviceInfo.SoftwareVersion",
    "Device.DeviceInfo.ProvisioningCode",
    "Device.ManagementServer.ParameterKey",
    CONNECTION_REQUEST_URL,
];

/// The methods GetRPCMethods lists: the ones answered with something other than a fault.
const METHODS: &[&str] = &["GetRPCMethods", "GetParameterNames", "GetParameterValues", "SetParameterValues"];

/// The simulated CPEs, by index.
#[derive(Debug, Clone)]
pub struct Population {
    prefix: String,
    counters: usize,
    connection_requests: Option<String>,
}

impl Population {
    /// Devices with serial numbers `{prefix}{index:07}` and `counters` bench counters; with
    /// `connection_requests` (a URL ending in `/`), device `i` informs the ConnectionRequestURL
    /// `{connection_requests}{i:07}`. The prefix is up to [`MAX_PREFIX`] of `A-Z a-z 0-9 _ . -`.
    pub fn new(prefix: &str, counters: usize, connection_requests: Option<String>) -> Result<Population, String> {
        if prefix.len() > MAX_PREFIX || !prefix.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b)) {
            return Err(format!("serial prefix {prefix:?}: up to {MAX_PREFIX} of A-Z a-z 0-9 _ . -"));
        }
        Ok(Population { prefix: prefix.to_owned(), counters, connection_requests })
    }

    /// How many counters `Device.X_UNIDM_Bench.` holds.
    pub fn counters(&self) -> usize {
        self.counters
    }

    /// The serial number of device `index`.
    pub fn serial(&self, index: usize) -> String {
        format!("{}{index:07}", self.prefix)
    }

    /// The unidm device id of device `index` (`tr069:00D09E-UnidmBench-{serial}`).
    pub fn device_id(&self, index: usize) -> Option<DeviceId> {
        DeviceId::tr069(OUI, Some(PRODUCT_CLASS), &self.serial(index)).ok()
    }

    /// The Informs of every device for one set of event codes, e.g. `["2 PERIODIC"]`.
    pub fn informs(&self, events: &[&str]) -> Informs {
        let inform = Inform {
            device_id: DeviceIdStruct {
                manufacturer: "unidm".into(),
                oui: OUI.into(),
                product_class: PRODUCT_CLASS.into(),
                serial_number: format!("{}{MARK}", self.prefix),
            },
            events: events
                .iter()
                .map(|e| EventStruct { event_code: (*e).into(), command_key: String::new() })
                .collect(),
            max_envelopes: 1,
            current_time: "2026-01-01T00:00:00Z".into(),
            retry_count: 0,
            parameter_list: INFORMED
                .iter()
                .filter_map(|n| {
                    match (*n, &self.connection_requests) {
                        (CONNECTION_REQUEST_URL, Some(base)) => Some(Value::string(format!("{base}{MARK}"))),
                        (CONNECTION_REQUEST_URL, None) => None,
                        (n, _) => self.value(0, n),
                    }
                    .map(|v| ParameterValueStruct::new(*n, v))
                })
                .collect(),
        };
        let bytes = encode_envelope(&Envelope::new(CwmpNamespace::V1_0, inform).with_id("1"));
        let text = String::from_utf8_lossy(&bytes);
        Informs { parts: text.split(MARK).map(|p| p.as_bytes().to_vec()).collect() }
    }

    fn connection_request_url(&self, index: usize) -> String {
        match &self.connection_requests {
            Some(base) => format!("{base}{index:07}"),
            None => String::new(),
        }
    }

    /// The value of parameter `name` of device `index`, `None` when it has no such parameter.
    pub fn value(&self, index: usize, name: &str) -> Option<Value> {
        if let Some(i) = name.strip_prefix(BENCH_OBJECT).and_then(|n| n.strip_prefix("Counter")) {
            // `Counter01` is not `Counter1`.
            let i = i.parse::<usize>().ok().filter(|n| *n < self.counters && n.to_string() == i)?;
            return Some(Value::new(XsdType::UnsignedInt, i.to_string()));
        }
        let (_, ty, text) = FIXED.iter().find(|(n, ..)| *n == name)?;
        let text = match name {
            SERIAL_NUMBER => self.serial(index),
            CONNECTION_REQUEST_URL => self.connection_request_url(index),
            _ => (*text).to_owned(),
        };
        Some(Value::new(XsdType::from_local_name(ty), text))
    }

    /// Every parameter name, counters last.
    fn names(&self) -> impl Iterator<Item = String> + '_ {
        FIXED
            .iter()
            .map(|(n, ..)| (*n).to_owned())
            .chain((0..self.counters).map(|i| format!("{BENCH_OBJECT}Counter{i}")))
    }

    /// Whether `path` (ending in `.`) is an object of the tree.
    fn is_object(&self, path: &str) -> bool {
        path.ends_with('.')
            && (FIXED.iter().any(|(n, ..)| n.starts_with(path))
                || BENCH_OBJECT.starts_with(path)
                || EMPTY_OBJECTS.iter().any(|o| o.starts_with(path)))
    }

    /// The values GetParameterValues asks for (A.3.2.2): full names, and partial paths (ending
    /// in `.`, empty for the root) expanded to every parameter below. One unknown name faults
    /// the whole request with 9005.
    pub fn values(&self, index: usize, names: &[String]) -> Result<Vec<ParameterValueStruct>, FaultCode> {
        let mut out = Vec::new();
        for name in names {
            let path = if name.is_empty() { "Device." } else { name.as_str() };
            if !path.ends_with('.') {
                out.push(ParameterValueStruct::new(
                    path,
                    self.value(index, path).ok_or(FaultCode::InvalidParameterName)?,
                ));
                continue;
            }
            if !self.is_object(path) {
                return Err(FaultCode::InvalidParameterName);
            }
            for (n, ..) in FIXED.iter().filter(|(n, ..)| n.starts_with(path)) {
                out.extend(self.value(index, n).map(|v| ParameterValueStruct::new(*n, v)));
            }
            if BENCH_OBJECT.starts_with(path) {
                let counter = |i: usize| {
                    ParameterValueStruct::new(
                        format!("{BENCH_OBJECT}Counter{i}"),
                        Value::new(XsdType::UnsignedInt, i.to_string()),
                    )
                };
                out.extend((0..self.counters).map(counter));
            }
        }
        Ok(out)
    }

    /// The names GetParameterNames asks for (A.3.2.3): with `next_level` the direct children
    /// of `path`, else `path` itself and everything below it.
    pub fn parameter_names(&self, path: &str, next_level: bool) -> Result<Vec<ParameterInfoStruct>, FaultCode> {
        let path = if path.is_empty() { "Device." } else { path };
        let writable = |n: &str| {
            n.starts_with("Device.ManagementServer.ConnectionRequestU")
                || n.starts_with("Device.ManagementServer.ConnectionRequestP")
        };
        let info = |n: &str| ParameterInfoStruct { name: n.to_owned(), writable: writable(n) };
        if !path.ends_with('.') {
            return match (self.value(0, path), next_level) {
                (Some(_), false) => Ok(vec![info(path)]),
                (Some(_), true) => Err(FaultCode::InvalidArguments),
                (None, _) => Err(FaultCode::InvalidParameterName),
            };
        }
        if !self.is_object(path) {
            return Err(FaultCode::InvalidParameterName);
        }
        let mut names = BTreeSet::new();
        if !next_level {
            names.insert(path.to_owned());
        }
        for n in self.names().chain(EMPTY_OBJECTS.iter().map(|o| (*o).to_owned())) {
            if !n.starts_with(path) {
                continue;
            }
            // Every object between `path` and the name, then the name itself.
            for (i, _) in n.match_indices('.').filter(|(i, _)| *i >= path.len()) {
                names.insert(n[..=i].to_owned());
            }
            names.insert(n);
        }
        Ok(names
            .iter()
            .filter(|n| {
                let rest = &n[path.len()..];
                !next_level || (!rest.is_empty() && !rest.trim_end_matches('.').contains('.'))
            })
            .map(|n| info(n))
            .collect())
    }

    /// What device `index` posts back for `body`, what the ACS sent in answer to its last POST
    /// (3.7.2): an answer to its request, or [`Step::End`] for an empty body. `Err` says why
    /// the message is not something a CPE can answer (unreadable, or a response / CPE request
    /// where an ACS request belongs).
    pub fn answer(&self, index: usize, body: &[u8]) -> Result<Step, String> {
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(Step::End);
        }
        let env = match parse_envelope(body) {
            Ok(env) => env,
            Err(CwmpError::UnknownMethod { id, namespace, .. }) => {
                let body =
                    reply(namespace.unwrap_or(CwmpNamespace::V1_0), id, Fault::new(FaultCode::MethodNotSupported));
                return Ok(Step::Answer { body, request: AcsRequest::Other, fault: true });
            }
            Err(e) => return Err(format!("unreadable ACS message: {e}")),
        };
        let (request, rpc): (AcsRequest, Rpc) = match env.rpc {
            Rpc::GetParameterValues(g) => (
                AcsRequest::GetParameterValues,
                match self.values(index, &g.parameter_names) {
                    Ok(parameter_list) => GetParameterValuesResponse { parameter_list }.into(),
                    Err(code) => Fault::new(code).into(),
                },
            ),
            Rpc::SetParameterValues(_) => {
                (AcsRequest::SetParameterValues, SetParameterValuesResponse { status: 0 }.into())
            }
            Rpc::GetParameterNames(g) => (
                AcsRequest::GetParameterNames,
                match self.parameter_names(&g.parameter_path, g.next_level) {
                    Ok(parameter_list) => GetParameterNamesResponse { parameter_list }.into(),
                    Err(code) => Fault::new(code).into(),
                },
            ),
            Rpc::GetRPCMethods(_) => (
                AcsRequest::GetRPCMethods,
                GetRPCMethodsResponse { method_list: METHODS.iter().map(|m| (*m).to_owned()).collect() }.into(),
            ),
            other if other.is_response() || other.is_cpe_request() => {
                return Err(format!("the ACS sent {} where a request or the end of the session belongs", other.name()))
            }
            _ => (AcsRequest::Other, Fault::new(FaultCode::MethodNotSupported).into()),
        };
        let fault = matches!(rpc, Rpc::Fault(_));
        Ok(Step::Answer { body: reply(env.namespace, env.header.id, rpc), request, fault })
    }
}

/// An answer in `namespace` echoing the request's `cwmp:ID`.
fn reply(namespace: CwmpNamespace, id: Option<String>, rpc: impl Into<Rpc>) -> Vec<u8> {
    let mut env = Envelope::new(namespace, rpc);
    env.header.id = id;
    encode_envelope(&env)
}

/// One Inform, pre-encoded, for every device: the template split where the index goes.
#[derive(Debug, Clone)]
pub struct Informs {
    parts: Vec<Vec<u8>>,
}

impl Informs {
    /// The Inform of device `index`.
    pub fn get(&self, index: usize) -> Bytes {
        let digits = format!("{index:07}");
        let len = self.parts.iter().map(Vec::len).sum::<usize>() + digits.len() * self.parts.len();
        let mut out = Vec::with_capacity(len);
        for (k, part) in self.parts.iter().enumerate() {
            if k > 0 {
                out.extend_from_slice(digits.as_bytes());
            }
            out.extend_from_slice(part);
        }
        out.into()
    }
}

/// What the CPE does next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// POST this answer to the ACS's `request`, a fault when `fault`.
    Answer {
        /// The encoded envelope.
        body: Vec<u8>,
        /// What it answers.
        request: AcsRequest,
        /// Whether the answer is a fault (unknown names, unsupported method).
        fault: bool,
    },
    /// The ACS has nothing more: the session is over.
    End,
}

/// The kinds of ACS request counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AcsRequest {
    /// GetParameterValues.
    GetParameterValues,
    /// SetParameterValues.
    SetParameterValues,
    /// GetParameterNames.
    GetParameterNames,
    /// GetRPCMethods.
    GetRPCMethods,
    /// Anything else, answered with fault 9000.
    Other,
}

/// ACS requests answered, by kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Answered {
    /// GetParameterValues.
    pub get_parameter_values: u64,
    /// SetParameterValues.
    pub set_parameter_values: u64,
    /// GetParameterNames.
    pub get_parameter_names: u64,
    /// GetRPCMethods.
    pub get_rpc_methods: u64,
    /// Other requests (all answered with fault 9000).
    pub other: u64,
    /// Of all of them, the ones answered with a fault.
    pub faults: u64,
}

impl Answered {
    /// Counts one answer.
    pub fn count(&mut self, request: AcsRequest, fault: bool) {
        *match request {
            AcsRequest::GetParameterValues => &mut self.get_parameter_values,
            AcsRequest::SetParameterValues => &mut self.set_parameter_values,
            AcsRequest::GetParameterNames => &mut self.get_parameter_names,
            AcsRequest::GetRPCMethods => &mut self.get_rpc_methods,
            AcsRequest::Other => &mut self.other,
        } += 1;
        self.faults += u64::from(fault);
    }

    /// Adds another count.
    pub fn add(&mut self, o: &Answered) {
        self.get_parameter_values += o.get_parameter_values;
        self.set_parameter_values += o.set_parameter_values;
        self.get_parameter_names += o.get_parameter_names;
        self.get_rpc_methods += o.get_rpc_methods;
        self.other += o.other;
        self.faults += o.faults;
    }

    /// Every request answered.
    pub fn total(&self) -> u64 {
        self.get_parameter_values
            + self.set_parameter_values
            + self.get_parameter_names
            + self.get_rpc_methods
            + self.other
    }
}

impl std::fmt::Display for Answered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} (GetParameterValues {}, SetParameterValues {}, GetParameterNames {}, GetRPCMethods {}, other {}; {} answered with a fault)",
            self.total(),
            self.get_parameter_values,
            self.set_parameter_values,
            self.get_parameter_names,
            self.get_rpc_methods,
            self.other,
            self.faults
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rpc::get_parameter_names::GetParameterNames;
    use crate::rpc::get_parameter_values::GetParameterValues;
    use crate::rpc::reboot::Reboot;
    use crate::rpc::set_parameter_values::SetParameterValues;

    fn population() -> Population {
        Population::new("t", 3, Some("http://127.0.0.1:9/cr/".into())).unwrap()
    }

    fn acs_request(id: &str, rpc: impl Into<Rpc>) -> Vec<u8> {
        encode_envelope(&Envelope::new(CwmpNamespace::V1_2, rpc).with_id(id))
    }

    fn answered(p: &Population, body: &[u8]) -> (Envelope, AcsRequest, bool) {
        match p.answer(42, body).unwrap() {
            Step::Answer { body, request, fault } => (parse_envelope(&body).unwrap(), request, fault),
            Step::End => panic!("no answer"),
        }
    }

    #[test]
    fn names_become_values() {
        let p = population();
        let names = |n: &[&str]| n.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        let v = p.values(7, &names(&[BENCH_OBJECT])).unwrap();
        assert_eq!(
            v.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(),
            ["Device.X_UNIDM_Bench.Counter0", "Device.X_UNIDM_Bench.Counter1", "Device.X_UNIDM_Bench.Counter2"]
        );
        assert_eq!(v[2].value, Value::new(XsdType::UnsignedInt, "2"));
        let v =
            p.values(7, &names(&[SERIAL_NUMBER, CONNECTION_REQUEST_URL, "Device.DeviceInfo.MemoryStatus."])).unwrap();
        assert_eq!(v[0].value.text, "t0000007");
        assert_eq!(v[1].value.text, "http://127.0.0.1:9/cr/0000007");
        assert_eq!(v.len(), 4);
        assert_eq!(p.values(0, &names(&[""])).unwrap().len(), FIXED.len() + 3);
        // Known tables without instances are empty, not unknown.
        assert_eq!(p.values(0, &names(&["Device.ManagementServer.ManageableDevice."])).unwrap(), vec![]);
        for unknown in ["Device.X_UNIDM_Bench.Counter3", "Device.X_UNIDM_Bench.Counter01", "Device.Nope.", "Device.Dev"]
        {
            assert_eq!(
                p.values(0, &names(&["Device.DeviceInfo.UpTime", unknown])),
                Err(FaultCode::InvalidParameterName)
            );
        }
    }

    #[test]
    fn names_are_listed_by_level() {
        let p = population();
        let level = p.parameter_names("Device.", true).unwrap();
        let names: Vec<&str> = level.iter().map(|i| i.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "Device.DeviceInfo.",
                "Device.Hosts.",
                "Device.IP.",
                "Device.ManagementServer.",
                "Device.RootDataModelVersion",
                "Device.X_UNIDM_Bench."
            ]
        );
        let all = p.parameter_names("", false).unwrap();
        assert!(
            all.iter().any(|i| i.name == "Device.") && all.iter().any(|i| i.name == "Device.X_UNIDM_Bench.Counter2")
        );
        assert!(all.iter().any(|i| i.name == "Device.ManagementServer.ConnectionRequestPassword" && i.writable));
        assert_eq!(p.parameter_names("Device.IP.Diagnostics.", true).unwrap(), vec![]);
        assert_eq!(p.parameter_names("Device.DeviceInfo.UpTime", false).unwrap().len(), 1);
        assert_eq!(p.parameter_names("Device.DeviceInfo.UpTime", true), Err(FaultCode::InvalidArguments));
        assert_eq!(p.parameter_names("Device.WiFi.", false), Err(FaultCode::InvalidParameterName));
    }

    #[test]
    fn answers_echo_the_id_and_namespace() {
        let p = population();
        let gpv = GetParameterValues { parameter_names: vec![BENCH_OBJECT.into(), SERIAL_NUMBER.into()] };
        let (env, request, fault) = answered(&p, &acs_request("abc 1", gpv));
        assert_eq!(
            (env.header.id.as_deref(), env.namespace, request, fault),
            (Some("abc 1"), CwmpNamespace::V1_2, AcsRequest::GetParameterValues, false)
        );
        let Rpc::GetParameterValuesResponse(r) = env.rpc else { panic!("{:?}", env.rpc) };
        assert_eq!(r.parameter_list.len(), 4);
        assert_eq!(r.parameter_list[3].value.text, "t0000042");

        let unknown = GetParameterValues { parameter_names: vec!["Device.Nope".into()] };
        let (env, _, fault) = answered(&p, &acs_request("2", unknown));
        assert!(fault);
        assert_eq!(env.rpc, Rpc::Fault(Fault::new(FaultCode::InvalidParameterName)));

        let spv = SetParameterValues { parameter_list: vec![], parameter_key: "k".into() };
        let (env, request, _) = answered(&p, &acs_request("3", spv));
        assert_eq!(
            (env.rpc, request),
            (SetParameterValuesResponse { status: 0 }.into(), AcsRequest::SetParameterValues)
        );

        let (env, _, _) = answered(&p, &acs_request("4", crate::rpc::get_rpc_methods::GetRPCMethods));
        let Rpc::GetRPCMethodsResponse(m) = env.rpc else { panic!() };
        assert!(m.method_list.contains(&"GetParameterValues".to_owned()));

        let gpn = GetParameterNames { parameter_path: BENCH_OBJECT.into(), next_level: true };
        let (env, request, _) = answered(&p, &acs_request("5", gpn));
        let Rpc::GetParameterNamesResponse(n) = env.rpc else { panic!() };
        assert_eq!((n.parameter_list.len(), request), (3, AcsRequest::GetParameterNames));
    }

    #[test]
    fn other_requests_get_fault_9000() {
        let p = population();
        let (env, request, fault) = answered(&p, &acs_request("r", Reboot { command_key: "x".into() }));
        assert_eq!((env.header.id.as_deref(), request, fault), (Some("r"), AcsRequest::Other, true));
        assert_eq!(env.rpc, Rpc::Fault(Fault::new(FaultCode::MethodNotSupported)));
        // A method the codec does not know at all, in cwmp-1-1.
        let vendor = br#"<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" xmlns:cwmp="urn:dslforum-org:cwmp-1-1"><soap:Header><cwmp:ID soap:mustUnderstand="1">v9</cwmp:ID></soap:Header><soap:Body><cwmp:X_Vendor_Frob/></soap:Body></soap:Envelope>"#;
        let (env, _, fault) = answered(&p, vendor);
        assert_eq!((env.header.id.as_deref(), env.namespace, fault), (Some("v9"), CwmpNamespace::V1_1, true));
    }

    #[test]
    fn the_end_and_what_is_not_a_request() {
        let p = population();
        assert_eq!(p.answer(0, b""), Ok(Step::End));
        assert_eq!(p.answer(0, b" \r\n"), Ok(Step::End));
        let inform_response = acs_request("1", crate::rpc::inform::InformResponse::default());
        assert!(p.answer(0, &inform_response).unwrap_err().contains("InformResponse"));
        assert!(p.answer(0, b"<html>busy</html>").unwrap_err().contains("unreadable"));
    }

    #[test]
    fn informs_carry_each_device() {
        let p = population();
        let informs = p.informs(&["0 BOOTSTRAP", "1 BOOT"]);
        let env = parse_envelope(&informs.get(1234)).unwrap();
        let Rpc::Inform(i) = env.rpc else { panic!() };
        assert_eq!(i.device_id.serial_number, "t0001234");
        assert!(i.has_event("0 BOOTSTRAP") && i.has_event("1 BOOT"));
        let url = i.parameter_list.iter().find(|p| p.name == CONNECTION_REQUEST_URL).unwrap();
        assert_eq!(url.value.text, "http://127.0.0.1:9/cr/0001234");
        assert_eq!(p.device_id(1234).unwrap().as_str(), "tr069:00D09E-UnidmBench-t0001234");
        // Without a listener, no ConnectionRequestURL.
        let quiet = Population::new("", 0, None).unwrap().informs(&["2 PERIODIC"]).get(5);
        let Rpc::Inform(i) = parse_envelope(&quiet).unwrap().rpc else { panic!() };
        assert!(i.parameter_list.iter().all(|p| p.name != CONNECTION_REQUEST_URL));
        assert!(Population::new("a b", 1, None).is_err() && Population::new("@@N@@", 1, None).is_err());
    }

    #[test]
    fn answers_are_counted_by_kind() {
        let mut a = Answered::default();
        a.count(AcsRequest::GetParameterValues, false);
        a.count(AcsRequest::Other, true);
        let mut b = a;
        b.add(&a);
        assert_eq!((b.total(), b.get_parameter_values, b.faults), (4, 2, 2));
        assert!(b.to_string().starts_with("4 (GetParameterValues 2,"));
    }
}
