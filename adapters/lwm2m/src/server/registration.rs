//! The Client Registration interface, server side (TS Core 1.1 §6.2 "Client Registration
//! Interface"): Register `POST /rd?ep=..`, Update `POST /rd/{id}`, De-register
//! `DELETE /rd/{id}`, lifetime expiry. Sans-I/O: [`Registry::handle`] takes `now`, the peer
//! and the request and returns the answer and what changed.
//!
//! Everything a peer can make us allocate is bounded: payload size, objects per registration,
//! registrations in all, and Register requests per source address per window.

use std::collections::{BTreeSet, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use coap_lite::{CoapOption, MessageClass, Packet, RequestType, ResponseType};
use serde::{Deserialize, Serialize};

use crate::codec::{link_format, Limits};
use crate::path::Path;

/// The registration interface's bounds and policy.
#[derive(Debug, Clone, PartialEq)]
pub struct RegistrationConfig {
    /// Largest Register / Update payload accepted (4.13 beyond). Default 8 KiB.
    pub max_payload: usize,
    /// Most object links one registration may declare (4.13 beyond). Default 512.
    pub max_objects: usize,
    /// Most live registrations (5.03 beyond). Default 100 000.
    pub max_registrations: usize,
    /// Register requests accepted from one source IP per [`Self::source_window`] (4.29 Too
    /// Many Requests beyond, RFC 8516). Default 300; raise it when many clients share an address
    /// (carrier-grade NAT, a gateway's end devices).
    pub max_registers_per_source: u32,
    /// The window of [`Self::max_registers_per_source`]. Default 60 s.
    pub source_window: Duration,
    /// Most source addresses tracked by the rate limit (the quietest is forgotten). Default 10 000.
    pub max_tracked_sources: usize,
    /// Longest endpoint name (4.00 beyond). Default 256.
    pub max_endpoint_len: usize,
    /// Endpoint names refused with 4.03 Forbidden; a trailing `*` matches a prefix.
    pub deny: Vec<String>,
}

impl Default for RegistrationConfig {
    fn default() -> Self {
        RegistrationConfig {
            max_payload: 8 * 1024,
            max_objects: 512,
            max_registrations: 100_000,
            max_registers_per_source: 300,
            source_window: Duration::from_secs(60),
            max_tracked_sources: 10_000,
            max_endpoint_len: 256,
            deny: Vec::new(),
        }
    }
}

impl RegistrationConfig {
    fn denied(&self, ep: &str) -> bool {
        self.deny.iter().any(|d| match d.strip_suffix('*') {
            Some(prefix) => ep.starts_with(prefix),
            None => d == ep,
        })
    }
}

/// An object or instance link of the Register payload (TS Core 1.1 §6.2.1, RFC 6690).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectLink {
    /// `/o` or `/o/i`, relative to the root path.
    pub path: String,
    /// `ver`, when the client declared a non-default object version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

/// A client's registration, as kept (and persisted) by the server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Registration {
    /// Registration id, the `{id}` of `/rd/{id}`.
    pub id: String,
    /// Endpoint Client Name (`ep`).
    pub endpoint: String,
    /// Lifetime in seconds (`lt`, default 86400; 0 = no expiry as for `/1/x/1`).
    pub lifetime_s: u32,
    /// Enabler version (`lwm2m`, `1.0` when absent).
    pub version: String,
    /// Binding letters (`b`, `U` when absent).
    pub binding: String,
    /// Queue mode: `Q` in `b` (1.0) or the valueless `Q` parameter (1.1+) (TS Core 1.1 §6.2.1).
    pub queue_mode: bool,
    /// MSISDN (`sms`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sms: Option<String>,
    /// Where the client's last Register / Update came from: DM requests go there.
    pub address: SocketAddr,
    /// The LwM2M root path (`/` or an alternate one such as `/lwm2m`).
    pub root_path: String,
    /// Content formats the client listed with `ct` (1.1+).
    #[serde(default)]
    pub content_formats: Vec<u16>,
    /// Registered objects and instances.
    pub objects: Vec<ObjectLink>,
}

impl Registration {
    /// A registration of endpoint `e` from 127.0.0.1:1 with `version`, no objects, for unit
    /// tests to adjust.
    #[cfg(test)]
    pub(crate) fn for_test(version: &str) -> Registration {
        Registration {
            id: "r".into(),
            endpoint: "e".into(),
            lifetime_s: 60,
            version: version.into(),
            binding: "U".into(),
            queue_mode: false,
            sms: None,
            address: SocketAddr::from(([127, 0, 0, 1], 1)),
            root_path: "/".into(),
            content_formats: vec![],
            objects: vec![],
        }
    }

    /// The registered objects and instances as paths.
    pub fn object_paths(&self) -> impl Iterator<Item = Path> + '_ {
        self.objects.iter().filter_map(|o| o.path.parse::<Path>().ok())
    }

    /// Whether the client registered object `id` (with or without instances).
    pub fn has_object(&self, id: u16) -> bool {
        self.object_paths().any(|p| p.object_id() == Some(id))
    }

    /// LwM2M 1.1 or later (SenML formats available).
    pub fn is_1_1_or_later(&self) -> bool {
        self.version != "1.0"
    }

    /// Uri-Path segments for a request on `path`, under the alternate root path (TS Core 1.1
    /// §6.2.1).
    pub fn uri_path(&self, path: &Path) -> Vec<String> {
        let mut segments: Vec<String> =
            self.root_path.split('/').filter(|s| !s.is_empty()).map(str::to_owned).collect();
        segments.extend(path.ids().iter().map(u16::to_string));
        segments
    }
}

/// What a registration-interface request changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RdChange {
    /// A new registration; `replaced` is a previous registration of the same endpoint.
    Registered {
        /// The registration.
        registration: Arc<Registration>,
        /// The registration it replaced.
        replaced: Option<Arc<Registration>>,
    },
    /// An Update.
    Updated {
        /// The registration after the update.
        registration: Arc<Registration>,
        /// The Update carried an object list different from the one registered.
        objects_changed: bool,
    },
    /// A De-register.
    Deregistered {
        /// The registration that ended.
        registration: Arc<Registration>,
    },
}

/// The answer to a registration-interface request.
#[derive(Debug, Clone, PartialEq)]
pub struct RdReply {
    /// Response code.
    pub code: ResponseType,
    /// Location-Path segments (`rd`, `{id}`) of a 2.01.
    pub location: Vec<String>,
    /// Diagnostic payload of an error.
    pub diagnostic: Option<String>,
    /// What changed, on success.
    pub change: Option<RdChange>,
}

impl RdReply {
    fn error(code: ResponseType, why: impl Into<String>) -> RdReply {
        RdReply { code, location: Vec::new(), diagnostic: Some(why.into()), change: None }
    }
}

#[derive(Debug)]
struct Entry {
    /// Shared with the change events and whoever keeps them (the adapter's mirror): a
    /// registration is held once however many places look at it.
    registration: Arc<Registration>,
    expires: Option<Instant>,
}

/// The live registrations, indexed by id, endpoint and expiry.
#[derive(Debug)]
pub struct Registry {
    config: RegistrationConfig,
    entries: HashMap<String, Entry>,
    by_endpoint: HashMap<String, String>,
    by_address: HashMap<SocketAddr, String>,
    expiries: BTreeSet<(Instant, String)>,
    sources: HashMap<IpAddr, (Instant, u32)>,
    seed: u64,
    counter: u64,
}

/// Query parameters of Register / Update (TS Core 1.1 §6.2, Register and Update parameters).
#[derive(Debug, Default)]
struct Params {
    ep: Option<String>,
    lt: Option<u32>,
    lwm2m: Option<String>,
    b: Option<String>,
    sms: Option<String>,
    q: bool,
}

fn parse_params(request: &Packet) -> Result<Params, String> {
    let mut p = Params::default();
    let Some(options) = request.get_option(CoapOption::UriQuery) else { return Ok(p) };
    // Some clients put several parameters in one Uri-Query joined by `&`: split them too.
    for raw in options {
        let text = std::str::from_utf8(raw).map_err(|_| "Uri-Query is not UTF-8".to_owned())?;
        for item in text.split('&').filter(|s| !s.is_empty()) {
            let (k, v) = match item.split_once('=') {
                Some((k, v)) => (k, Some(v)),
                None => (item, None),
            };
            match (k, v) {
                ("ep", Some(v)) => p.ep = Some(v.to_owned()),
                ("lt", Some(v)) => p.lt = Some(v.parse().map_err(|_| format!("invalid lifetime {v:?}"))?),
                ("lwm2m", Some(v)) => p.lwm2m = Some(v.to_owned()),
                ("b", Some(v)) => p.b = Some(v.to_owned()),
                ("sms", Some(v)) => p.sms = Some(v.to_owned()),
                ("Q", None) => p.q = true,
                ("Q", Some(_)) => return Err("queue param (Q) must not have value".into()),
                ("ep" | "lt" | "lwm2m" | "b" | "sms", None) => return Err(format!("parameter {k} needs a value")),
                _ => {} // Unknown parameters are ignored, as Leshan does with additional attributes.
            }
        }
    }
    Ok(p)
}

fn valid_binding(b: &str) -> bool {
    !b.is_empty() && b.len() <= 8 && b.chars().all(|c| matches!(c, 'U' | 'T' | 'S' | 'N' | 'Q'))
}

fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Registry {
    /// An empty registry; `seed` makes registration ids unpredictable across runs.
    pub fn new(config: RegistrationConfig, seed: u64) -> Registry {
        Registry {
            config,
            entries: HashMap::new(),
            by_endpoint: HashMap::new(),
            by_address: HashMap::new(),
            expiries: BTreeSet::new(),
            sources: HashMap::new(),
            seed,
            counter: 0,
        }
    }

    /// Number of live registrations.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True without registrations.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Number of source addresses tracked by the rate limit.
    pub fn tracked_sources(&self) -> usize {
        self.sources.len()
    }

    /// The registration of an endpoint.
    pub fn by_endpoint(&self, endpoint: &str) -> Option<&Registration> {
        self.by_endpoint.get(endpoint).and_then(|id| self.entries.get(id)).map(|e| &*e.registration)
    }

    /// The registration with id `id` (the `{id}` of `/rd/{id}`).
    pub fn by_id(&self, id: &str) -> Option<&Registration> {
        self.entries.get(id).map(|e| &*e.registration)
    }

    /// The registration whose client talks from `address` (for the Send operation, which names
    /// no registration).
    pub fn by_address(&self, address: &SocketAddr) -> Option<&Registration> {
        self.by_address.get(address).and_then(|id| self.entries.get(id)).map(|e| &*e.registration)
    }

    /// Every live registration.
    pub fn iter(&self) -> impl Iterator<Item = &Registration> {
        self.entries.values().map(|e| &*e.registration)
    }

    /// Puts back a registration loaded from storage, expiring `remaining` after `now`
    /// (`None`: no expiry).
    pub fn restore(&mut self, now: Instant, registration: Arc<Registration>, remaining: Option<Duration>) {
        self.remove(&registration.id.clone());
        if let Some(old) = self.by_endpoint.get(&registration.endpoint).cloned() {
            self.remove(&old);
        }
        self.insert(registration, remaining.map(|r| now + r));
    }

    fn insert(&mut self, registration: Arc<Registration>, expires: Option<Instant>) {
        if let Some(at) = expires {
            self.expiries.insert((at, registration.id.clone()));
        }
        self.by_endpoint.insert(registration.endpoint.clone(), registration.id.clone());
        self.by_address.insert(registration.address, registration.id.clone());
        self.entries.insert(registration.id.clone(), Entry { registration, expires });
    }

    fn remove(&mut self, id: &str) -> Option<Arc<Registration>> {
        let entry = self.entries.remove(id)?;
        if let Some(at) = entry.expires {
            self.expiries.remove(&(at, id.to_owned()));
        }
        if self.by_endpoint.get(&entry.registration.endpoint).is_some_and(|i| i == id) {
            self.by_endpoint.remove(&entry.registration.endpoint);
        }
        if self.by_address.get(&entry.registration.address).is_some_and(|i| i == id) {
            self.by_address.remove(&entry.registration.address);
        }
        Some(entry.registration)
    }

    fn expiry(now: Instant, lifetime_s: u32) -> Option<Instant> {
        (lifetime_s > 0).then(|| now + Duration::from_secs(u64::from(lifetime_s)))
    }

    fn new_id(&mut self) -> String {
        loop {
            self.counter += 1;
            let id = format!("{:012x}", splitmix(self.seed ^ self.counter) & 0xFFFF_FFFF_FFFF);
            if !self.entries.contains_key(&id) {
                return id;
            }
        }
    }

    /// The earliest expiry, for the caller's timer.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.expiries.first().map(|(at, _)| *at)
    }

    /// Removes and returns every registration whose lifetime ran out by `now` (§6.2.1: the
    /// server removes a registration when its lifetime elapses without Update).
    pub fn expire(&mut self, now: Instant) -> Vec<Arc<Registration>> {
        let due: Vec<String> =
            self.expiries.iter().take_while(|(at, _)| *at <= now).map(|(_, id)| id.clone()).collect();
        due.iter().filter_map(|id| self.remove(id)).collect()
    }

    /// Forgets rate-limit windows that ended.
    pub fn expire_sources(&mut self, now: Instant) {
        let window = self.config.source_window;
        self.sources.retain(|_, (start, _)| now.saturating_duration_since(*start) < window);
    }

    fn admit_source(&mut self, now: Instant, ip: IpAddr) -> bool {
        let window = self.config.source_window;
        if !self.sources.contains_key(&ip) && self.sources.len() >= self.config.max_tracked_sources {
            self.expire_sources(now);
            if self.sources.len() >= self.config.max_tracked_sources {
                let oldest = self.sources.iter().min_by_key(|(_, (start, _))| *start).map(|(ip, _)| *ip);
                if let Some(oldest) = oldest {
                    self.sources.remove(&oldest);
                }
            }
        }
        let slot = self.sources.entry(ip).or_insert((now, 0));
        if now.saturating_duration_since(slot.0) >= window {
            *slot = (now, 0);
        }
        slot.1 = slot.1.saturating_add(1);
        slot.1 <= self.config.max_registers_per_source
    }

    /// Handles a request whose Uri-Path starts with `rd`; `rest` is what follows `rd`.
    pub fn handle(&mut self, now: Instant, peer: SocketAddr, rest: &[String], request: &Packet) -> RdReply {
        let method = match request.header.code {
            MessageClass::Request(m) => m,
            _ => return RdReply::error(ResponseType::BadRequest, "not a request"),
        };
        // A client that echoes the whole Location-Path after its own `rd` (`/rd/rd/{id}`) is
        // understood too: the id is the last segment.
        let rest = match rest {
            [rd, id] if rd == "rd" => std::slice::from_ref(id),
            other => other,
        };
        match (method, rest) {
            (RequestType::Post, []) => self.register(now, peer, request),
            (RequestType::Post, [id]) => self.update(now, peer, id, request),
            (RequestType::Delete, [id]) => self.deregister(id),
            (_, [] | [_]) => RdReply::error(ResponseType::MethodNotAllowed, "method not allowed on /rd"),
            _ => RdReply::error(ResponseType::NotFound, "no such resource"),
        }
    }

    fn objects(&self, payload: &[u8]) -> Result<(String, Vec<u16>, Vec<ObjectLink>), Box<RdReply>> {
        let fail = |code, why: String| Box::new(RdReply::error(code, why));
        if payload.len() > self.config.max_payload {
            return Err(fail(ResponseType::RequestEntityTooLarge, "registration payload too large".into()));
        }
        let limits = Limits { max_records: self.config.max_objects.saturating_add(1) };
        let reg = link_format::parse_registration(payload, &limits)
            .map_err(|e| fail(ResponseType::BadRequest, format!("bad link-format payload: {e}")))?;
        if reg.objects.len() > self.config.max_objects {
            return Err(fail(ResponseType::RequestEntityTooLarge, "too many objects".into()));
        }
        let objects = reg
            .objects
            .iter()
            .map(|o| ObjectLink { path: o.path.to_string(), version: o.version().map(str::to_owned) })
            .collect();
        Ok((reg.root_path, reg.content_formats, objects))
    }

    /// Register (§6.2.1).
    fn register(&mut self, now: Instant, peer: SocketAddr, request: &Packet) -> RdReply {
        if !self.admit_source(now, peer.ip()) {
            return RdReply::error(ResponseType::TooManyRequests, "too many registrations from this address");
        }
        let p = match parse_params(request) {
            Ok(p) => p,
            Err(why) => return RdReply::error(ResponseType::BadRequest, why),
        };
        let Some(ep) = p.ep.filter(|ep| !ep.is_empty()) else {
            return RdReply::error(ResponseType::BadRequest, "endpoint name (ep) is required");
        };
        if ep.len() > self.config.max_endpoint_len || unidm_models::DeviceId::lwm2m(&ep).is_err() {
            return RdReply::error(ResponseType::BadRequest, "invalid endpoint name");
        }
        if self.config.denied(&ep) {
            return RdReply::error(ResponseType::Forbidden, "endpoint not allowed");
        }
        let version = p.lwm2m.unwrap_or_else(|| "1.0".to_owned());
        if !matches!(version.as_str(), "1.0" | "1.1" | "1.2") {
            return RdReply::error(ResponseType::PreconditionFailed, format!("unsupported LwM2M version {version}"));
        }
        let binding = p.b.unwrap_or_else(|| "U".to_owned());
        if !valid_binding(&binding) {
            return RdReply::error(ResponseType::BadRequest, format!("invalid binding {binding:?}"));
        }
        let (root_path, content_formats, objects) = match self.objects(&request.payload) {
            Ok(o) => o,
            Err(reply) => return *reply,
        };
        let replacing = self.by_endpoint.get(&ep).cloned();
        if replacing.is_none() && self.entries.len() >= self.config.max_registrations {
            return RdReply::error(ResponseType::ServiceUnavailable, "registration table full");
        }
        let replaced = replacing.and_then(|id| self.remove(&id));
        let lifetime_s = p.lt.unwrap_or(86_400);
        let registration = Arc::new(Registration {
            id: self.new_id(),
            endpoint: ep,
            lifetime_s,
            version,
            queue_mode: p.q || binding.contains('Q'),
            binding,
            sms: p.sms,
            address: peer,
            root_path,
            content_formats,
            objects,
        });
        self.insert(registration.clone(), Self::expiry(now, lifetime_s));
        RdReply {
            code: ResponseType::Created,
            location: vec!["rd".to_owned(), registration.id.clone()],
            diagnostic: None,
            change: Some(RdChange::Registered { registration, replaced }),
        }
    }

    /// Update (§6.2.2): optional `lt`, `b`, `sms`, `Q` and payload; an empty Update refreshes
    /// the lifetime only.
    fn update(&mut self, now: Instant, peer: SocketAddr, id: &str, request: &Packet) -> RdReply {
        if !self.entries.contains_key(id) {
            return RdReply::error(ResponseType::NotFound, "unknown registration");
        }
        let p = match parse_params(request) {
            Ok(p) => p,
            Err(why) => return RdReply::error(ResponseType::BadRequest, why),
        };
        if p.b.as_deref().is_some_and(|b| !valid_binding(b)) {
            return RdReply::error(ResponseType::BadRequest, "invalid binding");
        }
        let objects = if request.payload.is_empty() {
            None
        } else {
            match self.objects(&request.payload) {
                Ok(o) => Some(o),
                Err(reply) => return *reply,
            }
        };
        let Some(current) = self.remove(id) else {
            return RdReply::error(ResponseType::NotFound, "unknown registration");
        };
        // The most common Update only refreshes the lifetime: the registration is then kept as
        // it is (shared, not copied).
        let queue_mode = match &p.b {
            Some(b) => p.q || b.contains('Q'),
            None => p.q || current.queue_mode,
        };
        let unchanged = p.lt.is_none_or(|lt| lt == current.lifetime_s)
            && p.b.as_ref().is_none_or(|b| *b == current.binding)
            && queue_mode == current.queue_mode
            && (p.sms.is_none() || p.sms == current.sms)
            && objects.is_none()
            && current.address == peer;
        let mut objects_changed = false;
        let registration = if unchanged {
            current
        } else {
            let mut registration = Arc::unwrap_or_clone(current);
            if let Some(lt) = p.lt {
                registration.lifetime_s = lt;
            }
            if let Some(b) = p.b {
                registration.binding = b;
            }
            registration.queue_mode = queue_mode;
            if p.sms.is_some() {
                registration.sms = p.sms;
            }
            if let Some((root_path, content_formats, objects)) = objects {
                registration.root_path = root_path;
                if !content_formats.is_empty() {
                    registration.content_formats = content_formats;
                }
                objects_changed = registration.objects != objects;
                registration.objects = objects;
            }
            registration.address = peer;
            Arc::new(registration)
        };
        let expires = Self::expiry(now, registration.lifetime_s);
        self.insert(registration.clone(), expires);
        RdReply {
            code: ResponseType::Changed,
            location: Vec::new(),
            diagnostic: None,
            change: Some(RdChange::Updated { registration, objects_changed }),
        }
    }

    /// De-register (§6.2.3).
    fn deregister(&mut self, id: &str) -> RdReply {
        match self.remove(id) {
            Some(registration) => RdReply {
                code: ResponseType::Deleted,
                location: Vec::new(),
                diagnostic: None,
                change: Some(RdChange::Deregistered { registration }),
            },
            None => RdReply::error(ResponseType::NotFound, "unknown registration"),
        }
    }
}

#[cfg(test)]
mod tests;
