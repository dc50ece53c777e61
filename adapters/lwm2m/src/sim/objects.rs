//! The simulated client's object tree (/1 Server, /3 Device, /5 Firmware Update) and its answers to
//! Device Management requests (TS Core 1.1 §6.3; objects as the registry's `N.xml` define them),
//! without I/O: [`Objects::handle`] turns a request into a response and the side effects the client
//! runs.

use std::collections::BTreeMap;

use coap_lite::{CoapOption, MessageClass, Packet, RequestType, ResponseType};

use crate::coap::{decode_uint, encode_uint};
use crate::codec::{self, Content, ContentFormat, Limits, Record, ResourceType, Value};
use crate::model::{self, BuiltinModels};
use crate::path::Path;

/// What the client must do after answering.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Execute /3/0/4.
    Reboot,
    /// Execute /3/0/5.
    FactoryReset,
    /// A Package URI was written: start (or, for an empty URI, reset) the download.
    Download(String),
    /// Execute /5/0/2 in state Downloaded.
    Update,
    /// Execute /1/0/8 Registration Update Trigger.
    RegistrationUpdate,
    /// Execute /1/0/4 Disable: de-register, and register again after the Disable Timeout
    /// /1/0/5 (registry `1.xml`).
    Disable(std::time::Duration),
    /// Start notifying `path` with `token`, in `format`.
    Observe {
        /// Token of the observe request.
        token: Vec<u8>,
        /// Observed path.
        path: Path,
        /// Format of the notifications.
        format: ContentFormat,
    },
    /// Stop notifying `path`.
    CancelObserve(Path),
    /// Start notifying the values at `paths`, all in one SenML pack (Observe-Composite).
    ObserveComposite {
        /// Token of the observe request.
        token: Vec<u8>,
        /// Observed paths.
        paths: Vec<Path>,
        /// Format of the notifications (SenML JSON or CBOR).
        format: ContentFormat,
    },
    /// Stop the Observe-Composite with this token, or else of these paths.
    CancelObserveComposite {
        /// Token of the cancel, the observation's (RFC 7641 §3.6).
        token: Vec<u8>,
        /// The paths it lists.
        paths: Vec<Path>,
    },
    /// An instance was created or deleted: tell the server with an Update carrying the new
    /// object list (TS Core 1.1 §6.2.2).
    ObjectsChanged,
    /// The server changed values (Write, Write-Composite) or instances (Create, Delete) at
    /// these paths: notify the observations they concern (RFC 7641 §4.2; ETS 1.1-int-308 to
    /// -310 for Observe-Composite).
    Changed(Vec<Path>),
    /// A firmware image was written to Package `/5/0/0`: Downloaded.
    PackageWritten,
    /// Bootstrap-Finish arrived: register with the account written.
    BootstrapFinished,
    /// Execute /1/0/9 Bootstrap-Request Trigger: ask the bootstrap server again, then register
    /// with the account it writes.
    BootstrapTrigger,
    /// Run a step of the Software Management state machine of `/9/{instance}` after the
    /// configured delay.
    Software {
        /// The /9 instance.
        instance: u16,
        /// What ends.
        step: super::software::SoftwareStep,
    },
}

/// Writable resources (DDF `Operations` containing `W`) of the simulated objects; Portfolio
/// `/16/x/0` Identity is a writable multiple resource (ETS 1.1-int-228).
const WRITABLE: &[(u16, u16)] =
    &[(1, 1), (1, 2), (1, 3), (1, 5), (1, 6), (1, 7), (3, 13), (3, 14), (3, 15), (5, 0), (5, 1), (9, 3), (16, 0)];

/// An empty Package or Package URI: a reset to Idle (registry `5.xml`, resources 0 and 1).
fn empty(value: &Value) -> bool {
    match value {
        Value::String(s) => s.is_empty(),
        Value::Opaque(b) => b.is_empty(),
        _ => false,
    }
}

/// The simulated objects.
#[derive(Debug, Clone)]
pub struct Objects {
    /// Resource and resource-instance values.
    pub values: BTreeMap<Path, Value>,
    /// LwM2M 1.1 or later (SenML JSON by default instead of TLV).
    pub v1_1: bool,
    /// Notification attributes written by the server (Write-Attributes), by path.
    pub attributes: super::manage::AttributeSets,
    /// Instances created without any resource.
    pub empty_instances: std::collections::BTreeSet<Path>,
    /// Answer reads in the default format whatever Accept asks ([`super::SimConfig::ignore_accept`]).
    pub ignore_accept: bool,
}

impl Objects {
    /// A device with identity, battery, memory and an idle firmware object.
    pub fn new(manufacturer: &str, model: &str, serial: &str, fw_version: &str, lifetime: u32, v1_1: bool) -> Objects {
        let mut values = BTreeMap::new();
        let s = |v: &str| Value::String(v.to_owned());
        for (path, value) in [
            (Path::Resource(1, 0, 0), Value::Integer(1)),
            (Path::Resource(1, 0, 1), Value::Integer(i64::from(lifetime))),
            (Path::Resource(1, 0, 2), Value::Integer(1)),
            (Path::Resource(1, 0, 3), Value::Integer(60)),
            (Path::Resource(1, 0, 5), Value::Integer(86_400)),
            (Path::Resource(1, 0, 6), Value::Boolean(false)),
            (Path::Resource(1, 0, 7), s("U")),
            (Path::Resource(3, 0, 0), s(manufacturer)),
            (Path::Resource(3, 0, 1), s(model)),
            (Path::Resource(3, 0, 2), s(serial)),
            (Path::Resource(3, 0, 3), s(fw_version)),
            // Available Power Sources (DC, USB) and their voltages in mV: multiple resources.
            (Path::ResourceInstance(3, 0, 6, 0), Value::Integer(1)),
            (Path::ResourceInstance(3, 0, 6, 1), Value::Integer(5)),
            (Path::ResourceInstance(3, 0, 7, 0), Value::Integer(3800)),
            (Path::ResourceInstance(3, 0, 7, 1), Value::Integer(5000)),
            (Path::Resource(3, 0, 9), Value::Integer(87)),
            (Path::Resource(3, 0, 10), Value::Integer(512)),
            (Path::ResourceInstance(3, 0, 11, 0), Value::Integer(0)),
            (Path::Resource(3, 0, 13), Value::Time(1_700_000_000)),
            (Path::Resource(3, 0, 14), s("+01:00")),
            (Path::Resource(3, 0, 16), s("U")),
            (Path::Resource(3, 0, 17), s("sensor")),
            (Path::Resource(3, 0, 18), s("hw-1")),
            (Path::Resource(3, 0, 19), s("sw-1")),
            (Path::Resource(3, 0, 20), Value::Integer(0)),
            (Path::Resource(3, 0, 21), Value::Integer(2048)),
            (Path::Resource(5, 0, 1), s("")),
            (Path::Resource(5, 0, 3), Value::Integer(0)),
            (Path::Resource(5, 0, 5), Value::Integer(0)),
            (Path::ResourceInstance(5, 0, 8, 0), Value::Integer(0)),
            (Path::ResourceInstance(5, 0, 8, 1), Value::Integer(2)),
            (Path::ResourceInstance(5, 0, 8, 2), Value::Integer(3)),
            (Path::Resource(5, 0, 9), Value::Integer(0)),
        ] {
            values.insert(path, value);
        }
        Objects {
            values,
            v1_1,
            attributes: Default::default(),
            empty_instances: Default::default(),
            ignore_accept: false,
        }
    }

    /// Adds Connectivity Monitoring /4/0 and Location /6/0 instances.
    pub fn with_connectivity_and_location(mut self) -> Objects {
        for (path, value) in [
            (Path::Resource(4, 0, 0), Value::Integer(6)),
            (Path::ResourceInstance(4, 0, 1, 0), Value::Integer(6)),
            (Path::Resource(4, 0, 2), Value::Integer(-87)),
            (Path::ResourceInstance(4, 0, 4, 0), Value::String("10.0.0.7".into())),
            (Path::Resource(4, 0, 8), Value::Integer(4711)),
            (Path::Resource(6, 0, 0), Value::Float(48.8584)),
            (Path::Resource(6, 0, 1), Value::Float(2.2945)),
            (Path::Resource(6, 0, 5), Value::Time(1_700_000_000)),
        ] {
            self.values.insert(path, value);
        }
        self
    }

    /// The registration payload: every instance, in link-format (TS Core 1.1 §6.2.1); from 1.1
    /// on without the Security object /0 and the OSCORE object /21, which "MUST NOT be part of"
    /// it (a bootstrapped client has them; ETS 1.0-int-101 as the conformance runner checks it).
    pub fn link_format(&self) -> String {
        let listed = |p: &&Path| !(self.v1_1 && matches!(p.object_id(), Some(0 | 21)));
        self.instances().iter().filter(listed).map(|p| format!("<{p}>")).collect::<Vec<_>>().join(",")
    }

    /// Records at or under `path`.
    pub fn content(&self, path: &Path) -> Content {
        Content::new(
            self.values.iter().filter(|(p, _)| path.is_prefix_of(p)).map(|(p, v)| Record::new(*p, v.clone())).collect(),
        )
    }

    /// Encodes what is at `path` in `format`, or the answer code when it cannot.
    pub fn encode(&self, path: &Path, format: Option<ContentFormat>) -> Result<(ContentFormat, Vec<u8>), ResponseType> {
        let format = format.filter(|_| !self.ignore_accept);
        let content = self.content(path);
        if content.records.is_empty() {
            return Err(ResponseType::NotFound);
        }
        let single = content.records.len() == 1 && content.records[0].path == *path;
        let format = format.unwrap_or(match (self.v1_1, single) {
            (_, true) => ContentFormat::Text,
            (true, false) => ContentFormat::SenmlJson,
            (false, false) => ContentFormat::Tlv,
        });
        if !matches!(
            format,
            ContentFormat::Text | ContentFormat::Tlv | ContentFormat::SenmlJson | ContentFormat::SenmlCbor
        ) {
            return Err(ResponseType::NotAcceptable);
        }
        codec::encode(format, &content, path).map(|b| (format, b)).map_err(|_| ResponseType::NotAcceptable)
    }

    /// Answers one request; `response` already carries the message id and token.
    pub fn handle(&mut self, request: &Packet, response: &mut Packet) -> Vec<Effect> {
        let mut effects = Vec::new();
        let code = self.answer(request, response, &mut effects).unwrap_or_else(|c| c);
        response.header.code = MessageClass::Response(code);
        effects
    }

    fn answer(
        &mut self,
        request: &Packet,
        response: &mut Packet,
        effects: &mut Vec<Effect>,
    ) -> Result<ResponseType, ResponseType> {
        let segments = crate::coap::uri_path(request);
        let path = Path::from_segments(&segments).map_err(|_| ResponseType::NotFound)?;
        let cf = |o| request.get_first_option(o).and_then(|v| decode_uint(v)).map(|v| ContentFormat::from(v as u16));
        let MessageClass::Request(method) = request.header.code else { return Err(ResponseType::BadRequest) };
        let queries: Vec<String> = request
            .get_option(CoapOption::UriQuery)
            .into_iter()
            .flatten()
            .map(|s| String::from_utf8_lossy(s).into_owned())
            .collect();
        let observe = request.get_first_option(CoapOption::Observe).and_then(|v| decode_uint(v));
        match method {
            RequestType::Fetch if path == Path::Root => {
                let (format, accept) = (cf(CoapOption::ContentFormat), cf(CoapOption::Accept));
                self.fetch(request, format, accept, observe, response, effects)
            }
            RequestType::IPatch if path == Path::Root => self.ipatch(request, cf(CoapOption::ContentFormat), effects),
            RequestType::Get if cf(CoapOption::Accept) == Some(ContentFormat::LinkFormat) => {
                self.discover(&path, response)
            }
            RequestType::Put if !queries.is_empty() && request.payload.is_empty() => {
                self.write_attributes(&path, &queries)
            }
            RequestType::Post if matches!(path, Path::Object(_)) => {
                let object = path.object_id().unwrap_or_default();
                self.create(object, request, cf(CoapOption::ContentFormat), response, effects)
            }
            RequestType::Delete => self.delete(&path, effects),
            // The Security object is the bootstrap server's only (TS Core 1.1 §5.4.1; ETS 1.1-int-221).
            RequestType::Get if path.object_id() == Some(0) => Err(ResponseType::Unauthorized),
            RequestType::Get => {
                let (format, payload) = self.encode(&path, cf(CoapOption::Accept))?;
                response.add_option(CoapOption::ContentFormat, encode_uint(u32::from(format.code())));
                response.payload = payload;
                match observe {
                    Some(0) => {
                        response.add_option(CoapOption::Observe, encode_uint(0));
                        effects.push(Effect::Observe { token: request.get_token().to_vec(), path, format });
                    }
                    Some(1) => effects.push(Effect::CancelObserve(path)),
                    _ => {}
                }
                Ok(ResponseType::Content)
            }
            RequestType::Put => self.write(&path, request, cf(CoapOption::ContentFormat), effects),
            RequestType::Post if path.is_resource_level() => self.execute(&path, effects),
            RequestType::Post => self.write(&path, request, cf(CoapOption::ContentFormat), effects),
            _ => Err(ResponseType::MethodNotAllowed),
        }
    }

    fn write(
        &mut self,
        path: &Path,
        request: &Packet,
        format: Option<ContentFormat>,
        effects: &mut Vec<Effect>,
    ) -> Result<ResponseType, ResponseType> {
        let format = format.ok_or(ResponseType::BadRequest)?;
        let content = codec::decode(format, &request.payload, path, &BuiltinModels, &Limits::default())
            .map_err(|_| ResponseType::BadRequest)?;
        self.write_records(content, effects)?;
        self.start_software_downloads(path, effects);
        Ok(ResponseType::Changed)
    }

    /// Writes records after checking that every one is writable (4.05 otherwise, nothing
    /// written); a Package URI is taken in Idle only.
    pub(crate) fn write_records(&mut self, content: Content, effects: &mut Vec<Effect>) -> Result<(), ResponseType> {
        for r in &content.records {
            let (Some(o), Some(res)) = (r.path.object_id(), r.path.resource_id()) else {
                return Err(ResponseType::BadRequest);
            };
            if !WRITABLE.contains(&(o, res)) {
                return Err(ResponseType::MethodNotAllowed);
            }
            // A new package or Package URI is taken in Idle only; an empty one resets
            // (registry `5.xml`, resources 0 and 1). Each only when the Delivery Method /5/0/9 takes it.
            let idle = self.values.get(&Path::Resource(5, 0, 3)) == Some(&Value::Integer(0));
            let method = self.values.get(&Path::Resource(5, 0, 9));
            let (package, uri) = (r.path == Path::Resource(5, 0, 0), r.path == Path::Resource(5, 0, 1));
            if (package || uri) && !empty(&r.value) && !idle {
                return Err(ResponseType::MethodNotAllowed);
            }
            // A Package URI the client cannot use is refused at once (ETS 1.0-int-778).
            if uri && matches!(&r.value, Value::String(u) if !u.is_empty() && !u.contains("://")) {
                return Err(ResponseType::BadRequest);
            }
            let refused = if package { Value::Integer(0) } else { Value::Integer(1) };
            if (package || uri) && !empty(&r.value) && method == Some(&refused) {
                return Err(ResponseType::MethodNotAllowed);
            }
        }
        effects.push(Effect::Changed(content.records.iter().map(|r| r.path).collect()));
        for r in content.records {
            if r.path == Path::Resource(5, 0, 1) {
                if let Value::String(uri) = &r.value {
                    effects.push(Effect::Download(uri.clone()));
                }
            }
            if r.path == Path::Resource(5, 0, 0) {
                effects.push(if empty(&r.value) { Effect::Download(String::new()) } else { Effect::PackageWritten });
            }
            self.values.insert(r.path, r.value);
        }
        Ok(())
    }

    /// Whether the Firmware Update Protocol Support /5/0/8 lists the scheme of `uri` (true
    /// when the resource is absent: a 1.0 client that does not say).
    pub fn downloads_with(&self, uri: &str) -> bool {
        let listed: Vec<i64> = self
            .values
            .iter()
            .filter_map(|(p, v)| match (p, v) {
                (Path::ResourceInstance(5, 0, 8, _), Value::Integer(i)) => Some(*i),
                _ => None,
            })
            .collect();
        listed.is_empty() || crate::adapter::firmware::protocol_for(uri).is_some_and(|p| listed.contains(&p))
    }

    fn execute(&mut self, path: &Path, effects: &mut Vec<Effect>) -> Result<ResponseType, ResponseType> {
        let (Some(o), Some(r)) = (path.object_id(), path.resource_id()) else { return Err(ResponseType::BadRequest) };
        if model::resource_type(o, r) != Some(ResourceType::None) {
            return Err(ResponseType::MethodNotAllowed);
        }
        match (o, r) {
            (3, 4) => effects.push(Effect::Reboot),
            (3, 5) => effects.push(Effect::FactoryReset),
            (1, 8) => effects.push(Effect::RegistrationUpdate),
            (1, 4) => {
                let timeout = match self.values.get(&Path::Resource(1, 0, 5)) {
                    Some(Value::Integer(s)) if *s >= 0 => *s as u64,
                    _ => 86_400,
                };
                effects.push(Effect::Disable(std::time::Duration::from_secs(timeout)));
            }
            (1, 9) => effects.push(Effect::BootstrapTrigger),
            (9, 4 | 6 | 10 | 11) => {
                let instance = path.instance_id().unwrap_or_default();
                match self.software_execute(instance, r) {
                    Ok(true) => {
                        effects.push(Effect::Software { instance, step: super::software::SoftwareStep::Installed })
                    }
                    Ok(false) => {}
                    Err(()) => return Err(ResponseType::MethodNotAllowed),
                }
            }
            (5, 2) => {
                // Update is executable only in Downloaded (registry `5.xml` resource 2; ETS 1.0-int-772).
                if self.values.get(&Path::Resource(5, 0, 3)) != Some(&Value::Integer(2)) {
                    return Err(ResponseType::MethodNotAllowed);
                }
                effects.push(Effect::Update);
            }
            _ => {}
        }
        Ok(ResponseType::Changed)
    }

    /// Starts a download for each Package URI `/9/x/3` just written under `path`.
    pub(crate) fn start_software_downloads(&mut self, path: &Path, effects: &mut Vec<Effect>) {
        let written: Vec<(u16, String)> = self
            .values
            .iter()
            .filter(|(p, _)| path.is_prefix_of(p) || p.is_prefix_of(path))
            .filter_map(|(p, v)| match (p, v) {
                (Path::Resource(9, i, 3), Value::String(uri)) if !uri.is_empty() => Some((*i, uri.clone())),
                _ => None,
            })
            .collect();
        for (instance, uri) in written {
            if matches!(self.values.get(&Path::Resource(9, instance, 7)), None | Some(Value::Integer(0))) {
                self.software_download(instance, &uri);
                effects.push(Effect::Software { instance, step: super::software::SoftwareStep::Downloaded });
            }
        }
    }
}
