//! The simulated CPE's parameter tree and the CPE side of the parameter RPCs
//! (TR-069 Amendment 6, A.3.2.1 - A.3.2.7).
//!
//! Object names end in `.`; parameters do not. Errors are the CWMP faults a CPE answers with.

use std::collections::BTreeMap;

use crate::rpc::common::ParameterValueStruct;
use crate::rpc::fault::{Fault, FaultCode, SetParameterValuesFault};
use crate::rpc::get_parameter_attributes::ParameterAttributeStruct;
use crate::rpc::get_parameter_names::ParameterInfoStruct;
use crate::rpc::set_parameter_attributes::SetParameterAttributesStruct;
use crate::soap::{Value, XsdType};

/// The real TR-098 tree of a Huawei BM632w from genieacs-sim (MIT, Copyright (c) 2017 Zaid
/// Abdulla; see `src/sim/data/NOTICE`).
pub const BM632W_CSV: &str = include_str!("data/igd-instance-202BC1-BM632w.csv");

/// One node of the tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// The value (empty string for objects).
    pub value: Value,
    /// Whether the ACS may write it.
    pub writable: bool,
    /// Notification attribute: 0 off, 1 passive, 2 active.
    pub notification: u32,
}

/// The identity from the `DeviceID.*` rows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Identity {
    /// Manufacturer.
    pub manufacturer: String,
    /// OUI.
    pub oui: String,
    /// ProductClass.
    pub product_class: String,
    /// SerialNumber.
    pub serial_number: String,
}

/// A CPE parameter tree.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ParameterTree {
    /// Nodes by full name (objects end in `.`).
    pub nodes: BTreeMap<String, Node>,
    /// The identity sent in `Inform/DeviceId`.
    pub identity: Identity,
}

fn csv_fields(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            '"' => quoted = !quoted,
            ',' if !quoted => out.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    out.push(cur);
    out
}

fn fault(code: FaultCode) -> Fault {
    Fault::new(code)
}

impl ParameterTree {
    /// Reads the genieacs-sim CSV layout `Parameter,Object,Writable,Value,Value type`.
    pub fn from_csv(csv: &str) -> ParameterTree {
        let mut t = ParameterTree::default();
        for line in csv.lines().skip(1).filter(|l| !l.trim().is_empty()) {
            let f = csv_fields(line);
            let [name, object, writable, value, ty] = match <[String; 5]>::try_from(f) {
                Ok(f) => f,
                Err(_) => continue,
            };
            match name.strip_prefix("DeviceID.") {
                Some("Manufacturer") => t.identity.manufacturer = value,
                Some("OUI") => t.identity.oui = value,
                Some("ProductClass") => t.identity.product_class = value,
                Some("SerialNumber") => t.identity.serial_number = value,
                Some(_) => {}
                None if object == "true" => t.add_object_node(&format!("{name}."), writable == "true"),
                None => {
                    let ty = XsdType::from_local_name(ty.rsplit(':').next().unwrap_or("string"));
                    t.insert(&name, Value::new(ty, value), writable == "true");
                }
            }
        }
        t
    }

    /// The BM632w TR-098 tree.
    pub fn bm632w() -> ParameterTree {
        ParameterTree::from_csv(BM632W_CSV)
    }

    /// A small TR-181 `Device.` tree.
    pub fn tr181(oui: &str, product_class: &str, serial: &str) -> ParameterTree {
        let mut t = ParameterTree {
            identity: Identity {
                manufacturer: "unidm".into(),
                oui: oui.into(),
                product_class: product_class.into(),
                serial_number: serial.into(),
            },
            ..ParameterTree::default()
        };
        let s = |v: &str| Value::string(v);
        let u = |v: u32| Value::new(XsdType::UnsignedInt, v.to_string());
        let rows: Vec<(&str, Value, bool)> = vec![
            ("Device.RootDataModelVersion", s("2.17"), false),
            ("Device.DeviceInfo.Manufacturer", s("unidm"), false),
            ("Device.DeviceInfo.ManufacturerOUI", s(oui), false),
            ("Device.DeviceInfo.ModelName", s("SimGateway"), false),
            ("Device.DeviceInfo.ProductClass", s(product_class), false),
            ("Device.DeviceInfo.SerialNumber", s(serial), false),
            ("Device.DeviceInfo.HardwareVersion", s("1.0"), false),
            ("Device.DeviceInfo.SoftwareVersion", s("1.0.0"), false),
            ("Device.DeviceInfo.ProvisioningCode", s(""), true),
            ("Device.DeviceInfo.UpTime", u(100), false),
            ("Device.DeviceInfo.MemoryStatus.Total", u(65536), false),
            ("Device.DeviceInfo.MemoryStatus.Free", u(32768), false),
            ("Device.ManagementServer.URL", s(""), true),
            ("Device.ManagementServer.ParameterKey", s(""), false),
            ("Device.ManagementServer.ConnectionRequestURL", s(""), false),
            ("Device.ManagementServer.ConnectionRequestUsername", s(""), true),
            ("Device.ManagementServer.ConnectionRequestPassword", s(""), true),
            ("Device.ManagementServer.PeriodicInformEnable", Value::new(XsdType::Boolean, "true"), true),
            ("Device.ManagementServer.PeriodicInformInterval", u(300), true),
            ("Device.IP.Interface.1.IPv4Address.1.IPAddress", s("192.0.2.10"), false),
            ("Device.SoftwareModules.ExecEnv.1.Name", s("Linux"), false),
            ("Device.SoftwareModules.ExecEnv.1.Status", s("Up"), false),
            ("Device.IP.Diagnostics.TraceRoute.DiagnosticsState", s("None"), true),
            ("Device.IP.Diagnostics.TraceRoute.Host", s(""), true),
            ("Device.IP.Diagnostics.TraceRoute.MaxHopCount", u(30), true),
            ("Device.IP.Diagnostics.TraceRoute.ResponseTime", u(0), false),
            ("Device.IP.Diagnostics.IPPing.DiagnosticsState", s("None"), true),
            ("Device.IP.Diagnostics.IPPing.Host", s(""), true),
            ("Device.IP.Diagnostics.IPPing.NumberOfRepetitions", u(1), true),
            ("Device.IP.Diagnostics.IPPing.Timeout", u(1000), true),
            ("Device.IP.Diagnostics.IPPing.SuccessCount", u(0), false),
            ("Device.IP.Diagnostics.IPPing.FailureCount", u(0), false),
            ("Device.IP.Diagnostics.IPPing.AverageResponseTime", u(0), false),
            ("Device.IP.Diagnostics.IPPing.MinimumResponseTime", u(0), false),
            ("Device.IP.Diagnostics.IPPing.MaximumResponseTime", u(0), false),
        ];
        for (name, value, w) in rows {
            t.insert(name, value, w);
        }
        t
    }

    fn add_object_node(&mut self, name: &str, writable: bool) {
        self.nodes.entry(name.to_owned()).or_insert(Node { value: Value::string(""), writable, notification: 0 });
    }

    /// Inserts or replaces a parameter, creating its parent objects.
    pub fn insert(&mut self, name: &str, value: Value, writable: bool) {
        let mut end = 0;
        while let Some(i) = name[end..].find('.') {
            end += i + 1;
            if end < name.len() {
                self.add_object_node(&name[..end], false);
            }
        }
        let notification = self.nodes.get(name).map_or(0, |n| n.notification);
        self.nodes.insert(name.to_owned(), Node { value, writable, notification });
    }

    /// The root object (`Device.` or `InternetGatewayDevice.`).
    pub fn root(&self) -> &str {
        if self.nodes.keys().any(|k| k.starts_with("InternetGatewayDevice.")) {
            "InternetGatewayDevice."
        } else {
            "Device."
        }
    }

    /// A parameter's value text.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.nodes.get(name).filter(|_| !name.ends_with('.')).map(|n| n.value.text.as_str())
    }

    /// Sets a parameter's text, keeping its type; false when it does not exist.
    pub fn set_text(&mut self, name: &str, text: &str) -> bool {
        match self.nodes.get_mut(name).filter(|_| !name.ends_with('.')) {
            Some(n) => {
                n.value.text = text.to_owned();
                true
            }
            None => false,
        }
    }

    fn matching<'a>(&'a self, path: &'a str) -> impl Iterator<Item = (&'a String, &'a Node)> + 'a {
        self.nodes.range(path.to_owned()..).take_while(move |(k, _)| k.starts_with(path))
    }

    /// GetParameterValues (A.3.2.2): full names or partial paths; 9005 for an unknown name.
    pub fn get_values(&self, names: &[String]) -> Result<Vec<ParameterValueStruct>, Fault> {
        let mut out = Vec::new();
        for name in names {
            if name.is_empty() || name.ends_with('.') {
                let path = if name.is_empty() { self.root() } else { name.as_str() };
                if !self.nodes.contains_key(path) {
                    return Err(fault(FaultCode::InvalidParameterName));
                }
                out.extend(
                    self.matching(path)
                        .filter(|(k, _)| !k.ends_with('.'))
                        .map(|(k, n)| ParameterValueStruct::new(k.clone(), n.value.clone())),
                );
            } else {
                let n = self.nodes.get(name).ok_or_else(|| fault(FaultCode::InvalidParameterName))?;
                out.push(ParameterValueStruct::new(name.clone(), n.value.clone()));
            }
        }
        Ok(out)
    }

    /// GetParameterNames (A.3.2.3).
    pub fn get_names(&self, path: &str, next_level: bool) -> Result<Vec<ParameterInfoStruct>, Fault> {
        let path = if path.is_empty() { self.root() } else { path };
        if !self.nodes.contains_key(path) {
            return Err(fault(FaultCode::InvalidParameterName));
        }
        if !path.ends_with('.') {
            return Ok(self
                .nodes
                .get(path)
                .map_or_else(Vec::new, |n| vec![ParameterInfoStruct { name: path.to_owned(), writable: n.writable }]));
        }
        Ok(self
            .matching(path)
            .filter(|(k, _)| *k != path)
            .filter(|(k, _)| {
                let rest = &k[path.len()..];
                !next_level || rest.trim_end_matches('.').find('.').is_none()
            })
            .map(|(k, n)| ParameterInfoStruct { name: k.clone(), writable: n.writable })
            .collect())
    }

    /// SetParameterValues (A.3.2.1): all or nothing, duplicate names refused.
    pub fn set_values(&mut self, list: &[ParameterValueStruct]) -> Result<(), Fault> {
        let mut faults = Vec::new();
        for (i, p) in list.iter().enumerate() {
            let code = match self.nodes.get(&p.name) {
                _ if list[..i].iter().any(|q| q.name == p.name) => Some(FaultCode::InvalidArguments),
                None => Some(FaultCode::InvalidParameterName),
                Some(_) if p.name.ends_with('.') => Some(FaultCode::InvalidParameterName),
                Some(n) if !n.writable => Some(FaultCode::NonWritableParameter),
                Some(n) if n.value.xsd_type != p.value.xsd_type && n.value.xsd_type != XsdType::String => {
                    Some(FaultCode::InvalidParameterType)
                }
                Some(n) if Value::new(n.value.xsd_type.clone(), p.value.text.clone()).typed().is_err() => {
                    Some(FaultCode::InvalidParameterValue)
                }
                Some(_) => None,
            };
            if let Some(code) = code {
                faults.push(SetParameterValuesFault {
                    parameter_name: p.name.clone(),
                    fault_code: code,
                    fault_string: code.standard_string().unwrap_or_default().into(),
                });
            }
        }
        if !faults.is_empty() {
            let mut f = fault(FaultCode::InvalidArguments);
            if let Some(d) = f.detail.as_mut() {
                d.set_parameter_values_faults = faults;
            }
            return Err(f);
        }
        for p in list {
            self.set_text(&p.name, &p.value.text);
        }
        Ok(())
    }

    /// GetParameterAttributes (A.3.2.5).
    pub fn get_attributes(&self, names: &[String]) -> Result<Vec<ParameterAttributeStruct>, Fault> {
        let mut out = Vec::new();
        for name in names {
            if !self.nodes.contains_key(name.as_str()) {
                return Err(fault(FaultCode::InvalidParameterName));
            }
            out.extend(self.matching(name).filter(|(k, _)| !k.ends_with('.')).map(|(k, n)| ParameterAttributeStruct {
                name: k.clone(),
                notification: n.notification,
                access_list: Vec::new(),
            }));
        }
        Ok(out)
    }

    /// SetParameterAttributes (A.3.2.4): notification 0-2 only.
    pub fn set_attributes(&mut self, list: &[SetParameterAttributesStruct]) -> Result<(), Fault> {
        for a in list {
            if !self.nodes.contains_key(a.name.as_str()) {
                return Err(fault(FaultCode::InvalidParameterName));
            }
            if a.notification_change && a.notification > 2 {
                return Err(fault(FaultCode::NotificationRequestRejected));
            }
        }
        for a in list.iter().filter(|a| a.notification_change) {
            let name = a.name.clone();
            for (k, n) in self.nodes.iter_mut() {
                if *k == name || (name.ends_with('.') && k.starts_with(&name)) {
                    n.notification = a.notification;
                }
            }
        }
        Ok(())
    }

    /// AddObject (A.3.2.6): a new instance under a multi-instance object, with the parameters
    /// of its first instance (values reset), or empty.
    pub fn add_object(&mut self, object: &str) -> Result<u32, Fault> {
        if !object.ends_with('.') || !self.nodes.contains_key(object) {
            return Err(fault(FaultCode::InvalidParameterName));
        }
        let instances: Vec<u32> =
            self.matching(object).filter_map(|(k, _)| k[object.len()..].split('.').next()?.parse().ok()).collect();
        let next = instances.iter().max().map_or(1, |m| m + 1);
        let template = instances.iter().min().map(|first| format!("{object}{first}."));
        let new = format!("{object}{next}.");
        let copied: Vec<(String, Node)> = template
            .map(|tpl| {
                self.matching(&tpl)
                    .map(|(k, n)| {
                        let mut n = n.clone();
                        if !k.ends_with('.') {
                            n.value.text = match n.value.xsd_type {
                                XsdType::Boolean => "false".into(),
                                XsdType::Int | XsdType::UnsignedInt | XsdType::Long | XsdType::UnsignedLong => {
                                    "0".into()
                                }
                                _ => String::new(),
                            };
                        }
                        (format!("{new}{}", &k[tpl.len()..]), n)
                    })
                    .collect()
            })
            .unwrap_or_default();
        self.add_object_node(&new, true);
        self.nodes.extend(copied);
        Ok(next)
    }

    /// DeleteObject (A.3.2.7): removes an instance and everything below it.
    pub fn delete_object(&mut self, object: &str) -> Result<(), Fault> {
        let is_instance = object.trim_end_matches('.').rsplit('.').next().is_some_and(|l| l.parse::<u32>().is_ok());
        if !object.ends_with('.') || !is_instance || !self.nodes.contains_key(object) {
            return Err(fault(FaultCode::InvalidParameterName));
        }
        self.nodes.retain(|k, _| !k.starts_with(object));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loads_the_bm632w_tree() {
        let t = ParameterTree::bm632w();
        assert_eq!(t.identity.oui, "202BC1");
        assert_eq!(t.identity.manufacturer, "Huawei Technologies Co., Ltd.");
        assert_eq!(t.root(), "InternetGatewayDevice.");
        assert_eq!(t.get("InternetGatewayDevice.DeviceInfo.SoftwareVersion"), Some("V100R001IRQC56B017"));
        let info = t.get_values(&["InternetGatewayDevice.DeviceInfo.".into()]).unwrap();
        assert!(info.iter().any(|p| p.name.ends_with("UpTime") && p.value.xsd_type == XsdType::UnsignedInt));
        assert!(t.get_values(&["InternetGatewayDevice.Nope".into()]).is_err());
        let names = t.get_names("InternetGatewayDevice.", true).unwrap();
        assert!(names.iter().any(|n| n.name == "InternetGatewayDevice.DeviceInfo."));
        assert!(names.iter().all(|n| n.name.matches('.').count() <= 2));
    }

    #[test]
    fn set_values_is_all_or_nothing() {
        let mut t = ParameterTree::tr181("00D09E", "Sim", "1");
        let ok = ParameterValueStruct::new("Device.DeviceInfo.ProvisioningCode", Value::string("x"));
        let ro = ParameterValueStruct::new("Device.DeviceInfo.ModelName", Value::string("y"));
        let e = t.set_values(&[ok.clone(), ro]).unwrap_err();
        assert_eq!(e.detail.unwrap().set_parameter_values_faults[0].fault_code, FaultCode::NonWritableParameter);
        assert_eq!(t.get("Device.DeviceInfo.ProvisioningCode"), Some(""));
        assert!(t.set_values(&[ok.clone(), ok.clone()]).is_err());
        t.set_values(&[ok]).unwrap();
        assert_eq!(t.get("Device.DeviceInfo.ProvisioningCode"), Some("x"));
    }

    #[test]
    fn objects_are_added_and_deleted() {
        let mut t = ParameterTree::tr181("00D09E", "Sim", "1");
        t.insert("Device.Hosts.Host.1.HostName", Value::string("pc"), true);
        assert_eq!(t.add_object("Device.Hosts.Host.").unwrap(), 2);
        assert_eq!(t.get("Device.Hosts.Host.2.HostName"), Some(""));
        t.delete_object("Device.Hosts.Host.1.").unwrap();
        assert_eq!(t.get("Device.Hosts.Host.1.HostName"), None);
        assert!(t.delete_object("Device.Hosts.").is_err());
    }
}
