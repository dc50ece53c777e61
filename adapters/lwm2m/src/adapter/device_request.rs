//! Device Management requests from unidm actions and their answers back to JSON (TS Core 1.1 §6.3
//! "Device Management and Service Enablement Interface"; formats §7.4; response codes RFC 7252
//! §5.9). Pure functions: the adapter's tasks call them around [`crate::server::Server::request`].

use base64::Engine as _;
use coap_lite::{MessageClass, RequestType, ResponseType};
use serde_json::{json, Map, Value as Json};
use unidm_models::{ErrorKind, OperationError};

use crate::codec::{self, Content, ContentFormat, Limits, Record, ResourceType, TypeHints, Value};
use crate::path::Path;
use crate::server::{DmRequest, DmResponse, Registration, RequestFailure};

/// The content format to ask for and to write in, by what the client supports: SenML JSON
/// (or SenML CBOR) for LwM2M 1.1+, TLV for 1.0 (Core 1.1 §7.4).
pub fn preferred_format(reg: &Registration) -> ContentFormat {
    let listed = |cf: u16| reg.content_formats.contains(&cf);
    if !reg.is_1_1_or_later() {
        ContentFormat::Tlv
    } else if reg.content_formats.is_empty() || listed(110) {
        ContentFormat::SenmlJson
    } else if listed(112) {
        ContentFormat::SenmlCbor
    } else {
        ContentFormat::Tlv
    }
}

/// Read (GET with Accept), or Observe with `observe = Some(0)`. A LwM2M 1.0 client reading
/// one resource gets no Accept: plain text is its default there (TS Core 1.0 §6.4), and some
/// 1.0 clients (lwm2m-node-lib) drop a request whose Accept they do not know instead of
/// answering 4.06.
pub fn read(reg: &Registration, path: Path, observe: Option<u32>) -> DmRequest {
    let mut r = DmRequest::new(RequestType::Get, path);
    let single = matches!(path, Path::Resource(o, _, res) if crate::model::is_multiple(o, res) == Some(false))
        || matches!(path, Path::ResourceInstance(..));
    if reg.is_1_1_or_later() || !single {
        r.accept = Some(preferred_format(reg).code());
    }
    r.observe = observe;
    r
}

/// Execute (POST, arguments as text, Core 1.1 §5.4.5).
pub fn execute(path: Path, args: Option<&str>) -> DmRequest {
    let mut r = DmRequest::new(RequestType::Post, path);
    if let Some(a) = args.filter(|a| !a.is_empty()) {
        r.content_format = Some(ContentFormat::Text.code());
        r.payload = a.as_bytes().to_vec();
    }
    r
}

/// Write: PUT (replace) on a resource or resource instance, POST (partial update) on an
/// object instance (Core 1.1 §6.3.3). The JSON value is typed by the object model.
pub fn write(reg: &Registration, path: Path, value: &Json, hints: &dyn TypeHints) -> Result<DmRequest, OperationError> {
    write_in(reg, path, value, hints, None)
}

/// [`write`] in `format` when given (an API caller's choice), else in the client's preferred one.
pub fn write_in(
    reg: &Registration,
    path: Path,
    value: &Json,
    hints: &dyn TypeHints,
    format: Option<ContentFormat>,
) -> Result<DmRequest, OperationError> {
    let records = json_to_records(path, value, hints)?;
    let content = Content::new(records);
    let (method, base) = match path {
        Path::Resource(..) | Path::ResourceInstance(..) => (RequestType::Put, path),
        Path::ObjectInstance(..) => (RequestType::Post, path),
        _ => return Err(bad_input(format!("cannot write to {path}: target a resource or an object instance"))),
    };
    let single_text = path.is_resource_level()
        && content.records.len() == 1
        && content.records[0].path == path
        && !matches!(content.records[0].value, Value::Opaque(_));
    let single_opaque = path.is_resource_level()
        && content.records.len() == 1
        && content.records[0].path == path
        && matches!(content.records[0].value, Value::Opaque(_));
    // A firmware image for /5/0/0 goes as application/octet-stream (Core 1.1 §7.4.1).
    let format = match format {
        Some(asked) => asked,
        None if single_opaque => ContentFormat::Opaque,
        None => match preferred_format(reg) {
            ContentFormat::Tlv if single_text => ContentFormat::Text,
            f => f,
        },
    };
    let payload = codec::encode(format, &content, &base).map_err(|e| bad_input(format!("cannot encode value: {e}")))?;
    let mut r = DmRequest::new(method, path);
    r.content_format = Some(format.code());
    r.payload = payload;
    Ok(r)
}

/// A write of `bytes` to the opaque resource `path` (a firmware image for /5/0/0) as
/// application/octet-stream (Core 1.1 §7.4.1); the server sends a large one block-wise.
pub fn write_opaque(path: Path, bytes: Vec<u8>) -> DmRequest {
    let mut r = DmRequest::new(RequestType::Put, path);
    r.content_format = Some(ContentFormat::Opaque.code());
    r.payload = bytes;
    r
}

fn bad_input(message: String) -> OperationError {
    OperationError::new(ErrorKind::BadInput, message)
}

/// Converts a user's JSON value into records under `path`: a scalar for a resource, an object
/// `{"ri": v}` (or array) for a multiple resource, an object `{"res": v}` for an instance.
pub fn json_to_records(path: Path, value: &Json, hints: &dyn TypeHints) -> Result<Vec<Record>, OperationError> {
    match (path, value) {
        (Path::ObjectInstance(..), Json::Object(map)) => {
            let mut out = Vec::new();
            for (k, v) in map {
                let id = k.parse::<u16>().map_err(|_| bad_input(format!("resource id {k:?} is not a number")))?;
                let child = path.child(id).ok_or_else(|| bad_input("path too deep".into()))?;
                out.extend(json_to_records(child, v, hints)?);
            }
            Ok(out)
        }
        (Path::Resource(..), Json::Object(map)) => map
            .iter()
            .map(|(k, v)| {
                let id = k.parse::<u16>().map_err(|_| bad_input(format!("instance id {k:?} is not a number")))?;
                let child = path.child(id).ok_or_else(|| bad_input("path too deep".into()))?;
                Ok(Record::new(child, json_to_value(&child, v, hints)?))
            })
            .collect(),
        (Path::Resource(..), Json::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, v)| {
                let id = u16::try_from(i).map_err(|_| bad_input("too many resource instances".into()))?;
                let child = path.child(id).ok_or_else(|| bad_input("path too deep".into()))?;
                Ok(Record::new(child, json_to_value(&child, v, hints)?))
            })
            .collect(),
        (Path::Resource(..) | Path::ResourceInstance(..), v) => {
            Ok(vec![Record::new(path, json_to_value(&path, v, hints)?)])
        }
        _ => Err(bad_input(format!("a value for {path} must be an object keyed by resource id"))),
    }
}

/// One JSON value to a LwM2M value of the resource's DDF type (or the JSON type when unknown).
pub fn json_to_value(path: &Path, v: &Json, hints: &dyn TypeHints) -> Result<Value, OperationError> {
    let ty = hints.resource_type(path).or_else(|| path.parent().and_then(|p| hints.resource_type(&p)));
    let wrong = || bad_input(format!("{v} is not a valid value for {path} ({ty:?})"));
    let as_i64 = || v.as_i64().or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()));
    Ok(match ty {
        Some(ResourceType::String) => Value::String(v.as_str().map(str::to_owned).unwrap_or_else(|| v.to_string())),
        Some(ResourceType::Integer) => Value::Integer(as_i64().ok_or_else(wrong)?),
        Some(ResourceType::Time) => Value::Time(as_i64().ok_or_else(wrong)?),
        Some(ResourceType::UnsignedInteger) => Value::UnsignedInteger(
            v.as_u64().or_else(|| v.as_str().and_then(|s| s.trim().parse().ok())).ok_or_else(wrong)?,
        ),
        Some(ResourceType::Float) => {
            Value::Float(v.as_f64().or_else(|| v.as_str().and_then(|s| s.trim().parse().ok())).ok_or_else(wrong)?)
        }
        Some(ResourceType::Boolean) => Value::Boolean(match v {
            Json::Bool(b) => *b,
            Json::Number(n) if n.as_u64() == Some(0) || n.as_u64() == Some(1) => n.as_u64() == Some(1),
            Json::String(s) if s == "true" || s == "false" => s == "true",
            _ => return Err(wrong()),
        }),
        Some(ResourceType::Opaque) => {
            let s = v.as_str().ok_or_else(wrong)?;
            Value::Opaque(base64::engine::general_purpose::STANDARD.decode(s).map_err(|_| wrong())?)
        }
        Some(ResourceType::Objlnk) => {
            let link: codec::ObjectLinkText = v.as_str().ok_or_else(wrong)?.parse().map_err(|_| wrong())?;
            Value::ObjectLink(link.0, link.1)
        }
        Some(ResourceType::Corelnk) => Value::CoreLink(v.as_str().ok_or_else(wrong)?.to_owned()),
        Some(ResourceType::None) => return Err(bad_input(format!("{path} is executable, it has no value"))),
        None => match v {
            Json::String(s) => Value::String(s.clone()),
            Json::Bool(b) => Value::Boolean(*b),
            Json::Number(n) => match n.as_i64() {
                Some(i) => Value::Integer(i),
                None => Value::Float(n.as_f64().ok_or_else(wrong)?),
            },
            _ => return Err(wrong()),
        },
    })
}

/// A LwM2M value as JSON: opaque as base64, object links as `"o:i"`.
pub fn value_to_json(v: &Value) -> Json {
    match v {
        Value::String(s) | Value::CoreLink(s) => Json::String(s.clone()),
        Value::Integer(i) | Value::Time(i) => json!(i),
        Value::UnsignedInteger(u) => json!(u),
        Value::Float(f) => serde_json::Number::from_f64(*f).map(Json::Number).unwrap_or(Json::Null),
        Value::Boolean(b) => Json::Bool(*b),
        Value::Opaque(bytes) => Json::String(base64::engine::general_purpose::STANDARD.encode(bytes)),
        Value::ObjectLink(o, i) => Json::String(format!("{o}:{i}")),
    }
}

/// Decodes a response payload for a request on `path`. A payload without Content-Format is
/// read as text for a resource and TLV otherwise (LwM2M 1.0 defaults).
pub fn decode(path: &Path, response: &DmResponse, hints: &dyn TypeHints) -> Result<Content, OperationError> {
    if response.payload.is_empty() {
        return Ok(Content::default());
    }
    let format = match response.content_format {
        Some(cf) => ContentFormat::from(cf),
        None if path.is_resource_level() => ContentFormat::Text,
        None => ContentFormat::Tlv,
    };
    codec::decode(format, &response.payload, path, hints, &Limits::default()).map_err(|e| {
        OperationError::new(ErrorKind::Internal, format!("undecodable answer from the device: {e}"))
            .with_code(format!("content-format {}", format.code()))
    })
}

/// Content as the JSON result of a read on `path`: the value itself for a single resource,
/// `{"ri": v}` for a multiple resource, otherwise a map from full path to value.
pub fn content_to_json(path: &Path, content: &Content) -> Json {
    if let [one] = content.records.as_slice() {
        if &one.path == path {
            return value_to_json(&one.value);
        }
    }
    if let Path::Resource(..) = path {
        if !content.records.is_empty() && content.records.iter().all(|r| r.path.parent().as_ref() == Some(path)) {
            let map: Map<String, Json> = content
                .records
                .iter()
                .filter_map(|r| r.path.resource_instance_id().map(|ri| (ri.to_string(), value_to_json(&r.value))))
                .collect();
            return Json::Object(map);
        }
    }
    Json::Object(content.records.iter().map(|r| (r.path.to_string(), value_to_json(&r.value))).collect())
}

/// `"4.04"` for a response code (RFC 7252 §5.9 notation).
pub fn code_string(code: ResponseType) -> String {
    let raw = u8::from(MessageClass::Response(code));
    format!("{}.{:02}", raw >> 5, raw & 0x1F)
}

/// Maps an error response (RFC 7252 §5.9 codes, as LwM2M uses them) to the operation error kinds.
pub fn check(response: &DmResponse) -> Result<(), OperationError> {
    use ResponseType::*;
    if !response.code.is_error() && response.code != UnKnown {
        return Ok(());
    }
    let code = code_string(response.code);
    let detail = String::from_utf8_lossy(&response.payload);
    let kind = match response.code {
        NotFound => ErrorKind::NotFound,
        Unauthorized | Forbidden | MethodNotAllowed | Conflict => ErrorKind::DeviceRefused,
        BadRequest
        | BadOption
        | NotAcceptable
        | UnsupportedContentFormat
        | PreconditionFailed
        | RequestEntityTooLarge
        | RequestEntityIncomplete
        | UnprocessableEntity => ErrorKind::BadInput,
        ServiceUnavailable | GatewayTimeout | TooManyRequests => ErrorKind::Transport,
        NotImplemented => ErrorKind::NotSupported,
        _ => ErrorKind::DeviceRefused,
    };
    let mut message = format!("device answered {code}");
    if !detail.is_empty() {
        message.push_str(&format!(": {detail}"));
    }
    Err(OperationError::new(kind, message).with_code(code))
}

/// Maps a request without an answer to an operation error naming the request (`what`, as
/// [`describe`] gives it): a timeout after the CoAP retransmission schedule (RFC 7252 §4.2)
/// is a failed attempt of a retryable kind, which the engine retries per the operation's
/// policy.
pub fn failure(f: RequestFailure, what: &str) -> OperationError {
    match f {
        RequestFailure::TimedOut => OperationError::new(
            ErrorKind::Timeout,
            format!("no answer to {what} after the CoAP retransmission schedule"),
        ),
        RequestFailure::Reset => {
            OperationError::new(ErrorKind::Transport, format!("the device reset {what}")).with_code("RST")
        }
        RequestFailure::Rejected(why) => OperationError::new(ErrorKind::Transport, format!("{what}: {why}")),
    }
}

/// A request in words for errors: its CoAP method (RFC 7252 §5.8, RFC 8132) and path, as
/// `GET /3/0/0`.
pub fn describe(method: RequestType, path: Path) -> String {
    let method = match method {
        RequestType::Get => "GET",
        RequestType::Post => "POST",
        RequestType::Put => "PUT",
        RequestType::Delete => "DELETE",
        RequestType::Fetch => "FETCH",
        RequestType::Patch => "PATCH",
        RequestType::IPatch => "iPATCH",
        _ => "request",
    };
    format!("{method} {path}")
}

#[cfg(test)]
mod tests;
