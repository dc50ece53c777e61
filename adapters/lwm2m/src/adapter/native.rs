//! Discover, Write-Attributes, Create and Delete (TS Core 1.1 §5.4.2, §5.4.3 / §5.1.2, §5.4.4,
//! §5.4.5) as pure request builders and answer parsers, next to the
//! read / write / execute ones in [`super::device_request`].
//!
//! Result shapes (what an operation reports):
//! - Discover: `[{"path": "/3/0/7", "attributes": {"dim": 2, "pmin": 10}}, ...]`; attribute
//!   values that are numbers become JSON numbers, valueless ones `true`.
//! - Create: `{"path": "/o/i"}`, the instance the client created (Location-Path, else the id
//!   the server sent).
//! - Write-Attributes and Delete: no result.

use coap_lite::RequestType;
use serde_json::{json, Map, Value as Json};
use unidm_models::{ErrorKind, OperationError};

use super::device_request;
use crate::codec::{self, link_format, Content, ContentFormat, Limits, TypeHints};
use crate::path::Path;
use crate::server::{DmRequest, DmResponse, Registration};

fn bad_input(message: impl Into<String>) -> OperationError {
    OperationError::new(ErrorKind::BadInput, message.into())
}

/// Discover: GET with Accept 40 (application/link-format) on an object, instance or resource
/// (TS Core 1.1 §5.4.2; a resource instance cannot be discovered).
pub fn discover(path: Path) -> Result<DmRequest, OperationError> {
    if matches!(path, Path::Root | Path::ResourceInstance(..)) {
        return Err(bad_input(format!("Discover targets an object, an instance or a resource, not {path}")));
    }
    let mut r = DmRequest::new(RequestType::Get, path);
    r.accept = Some(ContentFormat::LinkFormat.code());
    Ok(r)
}

/// The links of a Discover answer as the JSON result list.
pub fn discover_result(response: &DmResponse) -> Result<Json, OperationError> {
    let links = link_format::parse(&response.payload, &Limits::default()).map_err(|e| {
        OperationError::new(ErrorKind::Internal, format!("undecodable Discover answer: {e}"))
            .with_code("content-format 40")
    })?;
    let list = links
        .iter()
        .map(|link| {
            let attributes: Map<String, Json> = link
                .attributes
                .iter()
                .map(|a| {
                    let value = match &a.value {
                        None => Json::Bool(true),
                        Some(v) if a.quoted => Json::String(v.clone()),
                        Some(v) => number(v).unwrap_or_else(|| Json::String(v.clone())),
                    };
                    (a.name.clone(), value)
                })
                .collect();
            json!({"path": link.target, "attributes": attributes})
        })
        .collect();
    Ok(Json::Array(list))
}

fn number(text: &str) -> Option<Json> {
    if let Ok(i) = text.parse::<i64>() {
        return Some(json!(i));
    }
    let f = text.parse::<f64>().ok().filter(|f| f.is_finite())?;
    serde_json::Number::from_f64(f).map(Json::Number)
}

/// The notification attributes a server may write (TS Core 1.1 §5.1.2), with
/// whether they take a decimal (`gt`, `lt`, `st`) rather than a non-negative integer.
const WRITABLE_ATTRIBUTES: &[(&str, bool)] =
    &[("pmin", false), ("pmax", false), ("gt", true), ("lt", true), ("st", true), ("epmin", false), ("epmax", false)];

/// Write-Attributes: PUT without payload, one Uri-Query per attribute (TS Core 1.1 §5.4.3).
/// `attributes` is `{"pmin": 10, "gt": 30.5}`; `null` removes an attribute (sent without a
/// value). Checked before sending: only `pmin pmax gt lt st epmin epmax` (`ver`, `dim` and
/// the rest are read-only), numbers of the right kind, `gt lt st` on resources only,
/// `pmin ≤ pmax`, `epmin ≤ epmax`, `lt < gt` and `lt + 2·st < gt` (§5.1.2 "Attributes").
pub fn write_attributes(path: Path, attributes: &Json) -> Result<DmRequest, OperationError> {
    let Json::Object(map) = attributes else {
        return Err(bad_input("attributes are an object, e.g. {\"pmin\": 10}"));
    };
    if map.is_empty() {
        return Err(bad_input("no attribute to write"));
    }
    if path == Path::Root {
        return Err(bad_input("attributes cannot be written on /"));
    }
    let mut query = Vec::with_capacity(map.len());
    let mut numbers = std::collections::HashMap::new();
    for (name, value) in map {
        let Some((_, decimal)) = WRITABLE_ATTRIBUTES.iter().find(|(n, _)| n == name) else {
            return Err(bad_input(match name.as_str() {
                "ver" | "dim" => format!("attribute {name} is set by the client and cannot be written"),
                _ => format!("unknown attribute {name} (writable: pmin pmax gt lt st epmin epmax)"),
            }));
        };
        if *decimal && !path.is_resource_level() {
            return Err(bad_input(format!("{name} applies to a resource or resource instance, not {path}")));
        }
        let text = match value {
            Json::Null => {
                query.push(name.clone());
                continue;
            }
            Json::Number(n) if *decimal => {
                let f = n.as_f64().filter(|f| f.is_finite()).ok_or_else(|| bad_input(format!("{name}: bad number")))?;
                if name == "st" && f < 0.0 {
                    return Err(bad_input("st must not be negative"));
                }
                numbers.insert(name.as_str(), f);
                n.to_string()
            }
            Json::Number(n) => {
                let u = n.as_u64().ok_or_else(|| bad_input(format!("{name} must be a non-negative integer")))?;
                numbers.insert(name.as_str(), u as f64);
                u.to_string()
            }
            other => return Err(bad_input(format!("{name}: {other} is not a number (null removes it)"))),
        };
        query.push(format!("{name}={text}"));
    }
    let get = |n: &str| numbers.get(n).copied();
    let ordered = |low: &str, high: &str, strict: bool| match (get(low), get(high)) {
        (Some(l), Some(h)) if (strict && l >= h) || (!strict && l > h) => {
            Err(bad_input(format!("{low} must be {} {high}", if strict { "below" } else { "at most" })))
        }
        _ => Ok(()),
    };
    ordered("pmin", "pmax", false)?;
    ordered("epmin", "epmax", false)?;
    ordered("lt", "gt", true)?;
    if let (Some(lt), Some(gt), Some(st)) = (get("lt"), get("gt"), get("st")) {
        if lt + 2.0 * st >= gt {
            return Err(bad_input("lt + 2*st must be below gt"));
        }
    }
    let mut r = DmRequest::new(RequestType::Put, path);
    r.query = query;
    Ok(r)
}

/// Create: POST on the object with the new instance's content (TS Core 1.1 §5.4.4), TLV for
/// LwM2M 1.0 and SenML JSON / CBOR for 1.1+ ([`device_request::preferred_format`]). On `/o` the server
/// picks the lowest instance id the registration does not list; on `/o/i` it asks for `i`.
/// `value` is `{"<resource>": value}` as for a write on an instance; absent = empty instance.
pub fn create(
    reg: &Registration,
    path: Path,
    value: Option<&Json>,
    hints: &dyn TypeHints,
) -> Result<(DmRequest, Path), OperationError> {
    let instance = match path {
        Path::ObjectInstance(..) => path,
        Path::Object(o) => {
            let taken: std::collections::BTreeSet<u16> =
                reg.object_paths().filter(|p| p.object_id() == Some(o)).filter_map(|p| p.instance_id()).collect();
            let free = (0..u16::MAX).find(|i| !taken.contains(i)).ok_or_else(|| bad_input("no free instance id"))?;
            Path::ObjectInstance(o, free)
        }
        _ => return Err(bad_input(format!("Create targets an object (/o) or a new instance (/o/i), not {path}"))),
    };
    let records = match value {
        None | Some(Json::Null) => Vec::new(),
        Some(v) => device_request::json_to_records(instance, v, hints)?,
    };
    let object = instance.truncate(1).unwrap_or(path);
    let format = device_request::preferred_format(reg);
    let mut content = Content::new(records);
    if content.records.is_empty() && format == ContentFormat::Tlv {
        // An empty instance in TLV: an Object Instance header with length 0 (§7.4.3): type bits
        // 00, id length bit 5, length in bits 2-0.
        let id = instance.instance_id().unwrap_or_default();
        let payload = match u8::try_from(id) {
            Ok(short) => vec![0x00, short],
            Err(_) => vec![0x20, (id >> 8) as u8, (id & 0xFF) as u8],
        };
        return Ok((with_payload(object, format, payload), instance));
    }
    content.records.sort_by_key(|r| r.path);
    let payload =
        codec::encode(format, &content, &object).map_err(|e| bad_input(format!("cannot encode the instance: {e}")))?;
    Ok((with_payload(object, format, payload), instance))
}

fn with_payload(path: Path, format: ContentFormat, payload: Vec<u8>) -> DmRequest {
    let mut r = DmRequest::new(RequestType::Post, path);
    r.content_format = Some(format.code());
    r.payload = payload;
    r
}

/// The created instance: the Location-Path of the 2.01 answer (`/o/i`, under the client's
/// root path if any), else the instance the server asked for.
pub fn created_path(response: &DmResponse, asked: Path) -> Path {
    let ids: Vec<&str> = response.location.iter().map(String::as_str).filter(|s| !s.is_empty()).collect();
    let tail = ids.len().saturating_sub(2);
    match Path::from_segments(&ids[tail..]) {
        Ok(p @ Path::ObjectInstance(..)) => p,
        _ => asked,
    }
}

/// Delete: DELETE on an object instance (TS Core 1.1 §5.4.5).
pub fn delete(path: Path) -> Result<DmRequest, OperationError> {
    match path {
        Path::ObjectInstance(..) => Ok(DmRequest::new(RequestType::Delete, path)),
        _ => Err(bad_input(format!("Delete targets an object instance (/o/i), not {path}"))),
    }
}

#[cfg(test)]
mod tests;
