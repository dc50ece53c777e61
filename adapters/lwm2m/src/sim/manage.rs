//! The simulated client's answers to Discover (TS Core 1.1 §5.4.2), Write-Attributes (§5.4.3,
//! attributes §5.1.2), Create (§5.4.4) and Delete (§5.4.5), without I/O.

use std::collections::BTreeMap;

use coap_lite::{CoapOption, Packet, ResponseType};

use super::objects::{Effect, Objects};
use crate::codec::link_format::{self, Link, LinkAttribute};
use crate::codec::{self, ContentFormat, Limits};
use crate::model::{self, BuiltinModels};
use crate::path::Path;

/// Attributes a server may write (§5.1.2); `ver` and `dim` are the client's own.
const WRITABLE: &[&str] = &["pmin", "pmax", "gt", "lt", "st", "epmin", "epmax"];

/// Objects a server may not create or delete instances of here: Security (only the bootstrap
/// server may, §5.4.4) and the single-instance Device.
fn protected(object: u16) -> Option<ResponseType> {
    match object {
        0 => Some(ResponseType::Unauthorized),
        3 => Some(ResponseType::MethodNotAllowed),
        _ => None,
    }
}

impl Objects {
    /// Instances present, from values and empty created instances.
    pub fn instances(&self) -> Vec<Path> {
        let mut out: Vec<Path> = self.values.keys().filter_map(|p| p.truncate(2)).collect();
        out.extend(self.empty_instances.iter().copied());
        out.sort();
        out.dedup();
        out
    }

    fn exists(&self, path: &Path) -> bool {
        match path {
            Path::Object(_) | Path::ObjectInstance(..) => self.instances().iter().any(|i| path.is_prefix_of(i)),
            _ => self.values.keys().any(|p| path.is_prefix_of(p)),
        }
    }

    fn link(&self, path: Path) -> Link {
        let mut attributes: Vec<LinkAttribute> = Vec::new();
        if let Path::Resource(o, _, r) = path {
            if model::is_multiple(o, r) == Some(true) {
                let dim = self.values.keys().filter(|p| p.parent() == Some(path)).count();
                attributes.push(LinkAttribute::token("dim", dim));
            }
        }
        if let Some(set) = self.attributes.get(&path) {
            attributes.extend(set.iter().map(|(k, v)| LinkAttribute::token(k, v)));
        }
        Link::for_path(&path, attributes)
    }

    /// Discover: the target, then for an object its instances, and the resources below
    /// (§5.4.2), each with its attributes.
    pub(crate) fn discover(&self, path: &Path, response: &mut Packet) -> Result<ResponseType, ResponseType> {
        if !self.exists(path) || matches!(path, Path::Root | Path::ResourceInstance(..)) {
            return Err(ResponseType::NotFound);
        }
        let mut targets = vec![*path];
        if path.depth() < 3 {
            for instance in self.instances().into_iter().filter(|i| path.is_prefix_of(i) && i != path) {
                targets.push(instance);
            }
            let mut resources: Vec<Path> =
                self.values.keys().filter(|p| path.is_prefix_of(p)).filter_map(|p| p.truncate(3)).collect();
            resources.dedup();
            targets.extend(resources);
            targets.sort();
        }
        let links: Vec<Link> = targets.into_iter().map(|p| self.link(p)).collect();
        response.add_option(CoapOption::ContentFormat, crate::coap::encode_uint(40));
        response.payload = link_format::encode(&links).into_bytes();
        Ok(ResponseType::Content)
    }

    /// Write-Attributes: `name=value` sets, a bare `name` removes (§5.4.3).
    pub(crate) fn write_attributes(&mut self, path: &Path, queries: &[String]) -> Result<ResponseType, ResponseType> {
        if !self.exists(path) {
            return Err(ResponseType::NotFound);
        }
        let mut set = self.attributes.get(path).cloned().unwrap_or_default();
        for q in queries {
            let (name, value) = match q.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (q.as_str(), None),
            };
            if !WRITABLE.contains(&name) {
                return Err(ResponseType::BadRequest);
            }
            match value {
                Some(v) if v.parse::<f64>().is_ok_and(f64::is_finite) => {
                    set.insert(name.to_owned(), v.to_owned());
                }
                Some(_) => return Err(ResponseType::BadRequest),
                None => {
                    set.remove(name);
                }
            }
        }
        let num = |n: &str| set.get(n).and_then(|v| v.parse::<f64>().ok());
        if let (Some(a), Some(b)) = (num("pmin"), num("pmax")) {
            if a > b {
                return Err(ResponseType::BadRequest);
            }
        }
        if set.is_empty() {
            self.attributes.remove(path);
        } else {
            self.attributes.insert(*path, set);
        }
        Ok(ResponseType::Changed)
    }

    /// Create: the instance in the payload, or the next free one; 2.01 with its Location-Path.
    pub(crate) fn create(
        &mut self,
        object: u16,
        request: &Packet,
        format: Option<ContentFormat>,
        response: &mut Packet,
        effects: &mut Vec<Effect>,
    ) -> Result<ResponseType, ResponseType> {
        if let Some(code) = protected(object) {
            return Err(code);
        }
        let format = format.ok_or(ResponseType::BadRequest)?;
        let base = Path::Object(object);
        let content = codec::decode(format, &request.payload, &base, &BuiltinModels, &Limits::default())
            .map_err(|_| ResponseType::BadRequest)?;
        let mut ids: Vec<u16> = content.records.iter().filter_map(|r| r.path.instance_id()).collect();
        ids.dedup();
        let instance = match (ids.as_slice(), empty_tlv_instance(format, &request.payload)) {
            ([id], _) => Path::ObjectInstance(object, *id),
            ([], Some(id)) => Path::ObjectInstance(object, id),
            ([], None) => {
                let taken = self.instances();
                let free = (0..u16::MAX)
                    .find(|i| !taken.contains(&Path::ObjectInstance(object, *i)))
                    .ok_or(ResponseType::BadRequest)?;
                Path::ObjectInstance(object, free)
            }
            _ => return Err(ResponseType::BadRequest),
        };
        if self.exists(&instance) || content.records.iter().any(|r| !r.path.is_resource_level()) {
            return Err(ResponseType::BadRequest);
        }
        if content.records.is_empty() {
            self.empty_instances.insert(instance);
        }
        for r in content.records {
            self.values.insert(r.path, r.value);
        }
        self.start_software_downloads(&instance, effects);
        for seg in instance.ids() {
            response.add_option(CoapOption::LocationPath, seg.to_string().into_bytes());
        }
        effects.push(Effect::Changed(vec![instance]));
        effects.push(Effect::ObjectsChanged);
        Ok(ResponseType::Created)
    }

    /// Delete an object instance (§5.4.5).
    pub(crate) fn delete(&mut self, path: &Path, effects: &mut Vec<Effect>) -> Result<ResponseType, ResponseType> {
        let Path::ObjectInstance(object, _) = path else { return Err(ResponseType::MethodNotAllowed) };
        if let Some(code) = protected(*object) {
            return Err(code);
        }
        if !self.exists(path) {
            return Err(ResponseType::NotFound);
        }
        self.values.retain(|p, _| !path.is_prefix_of(p));
        self.attributes.retain(|p, _| !path.is_prefix_of(p));
        self.empty_instances.remove(path);
        effects.push(Effect::Changed(vec![*path]));
        effects.push(Effect::ObjectsChanged);
        Ok(ResponseType::Deleted)
    }
}

/// The id of a TLV payload that is one Object Instance header of length 0 (§7.4.3).
fn empty_tlv_instance(format: ContentFormat, payload: &[u8]) -> Option<u16> {
    match (format, payload) {
        (ContentFormat::Tlv, [0x00, id]) => Some(u16::from(*id)),
        (ContentFormat::Tlv, [0x20, hi, lo]) => Some(u16::from_be_bytes([*hi, *lo])),
        _ => None,
    }
}

/// Attribute sets by path.
pub type AttributeSets = BTreeMap<Path, BTreeMap<String, String>>;
