//! Read-Composite, Write-Composite and Observe-Composite with its cancel (LwM2M 1.1, TS Core
//! 1.1 §6.3 and §6.4.3) as pure request builders and answer parsers, next to
//! the single-path ones in [`super::device_request`].
//!
//! All of them target the root path `/` and carry SenML JSON (110) or SenML CBOR (112):
//! - Read-Composite: FETCH, the body listing paths only (`[{"n":"/3/0/0"},{"n":"/1/0/1"}]`),
//!   Accept = the same format; 2.05 with the values of the paths present (partial presence:
//!   absent paths are simply missing, ETS 1.1-int-236).
//! - Observe-Composite: the same FETCH with Observe=0; each notification carries SenML of all
//!   the paths. Cancel: the same FETCH with Observe=1 and the observation's token.
//! - Write-Composite: iPATCH, the body SenML records with values; 2.04.
//!
//! As native operations (`path` is `/`): `readComposite`, `observeComposite` and
//! `cancelObserveComposite` take `value` = `["/3/0/0", "/1/0/1"]`; `writeComposite` takes
//! `value` = `{"/3/0/14": "+02:00", "/1/0/1": 300}` (each entry shaped as a `write` on that
//! path takes it). Results map full resource paths to values (`{"/3/0/0": "Acme"}`).
//! A LwM2M 1.0 client has none of these operations: they fail with `NotSupported`.

use coap_lite::RequestType;
use serde_json::Value as Json;
use unidm_models::{ErrorKind, OperationError};

use super::device_request;
use crate::codec::{self, Content, ContentFormat, Limits, TypeHints};
use crate::path::Path;
use crate::server::{DmRequest, DmResponse, Registration};

fn bad_input(message: impl Into<String>) -> OperationError {
    OperationError::new(ErrorKind::BadInput, message.into())
}

/// Composite operations exist from LwM2M 1.1 on (TS Core 1.1 §6.3); a 1.0 client would answer
/// FETCH and iPATCH with 4.05 at best.
pub fn check_version(reg: &Registration) -> Result<(), OperationError> {
    if reg.is_1_1_or_later() {
        Ok(())
    } else {
        Err(OperationError::new(
            ErrorKind::NotSupported,
            format!(
                "composite operations need LwM2M 1.1 or later; {} registered with lwm2m={}",
                reg.endpoint, reg.version
            ),
        ))
    }
}

/// SenML CBOR when the client lists 112 but not 110 among its content formats, else SenML
/// JSON (the only formats a composite request can carry, TS Core 1.1 §6.3).
pub fn format(reg: &Registration) -> ContentFormat {
    match device_request::preferred_format(reg) {
        ContentFormat::SenmlCbor => ContentFormat::SenmlCbor,
        _ => ContentFormat::SenmlJson,
    }
}

/// The paths of a `readComposite` / `observeComposite` / `cancelObserveComposite`: a non-empty
/// JSON array of path strings, `"/"` included (ETS 1.1-int-235, Read-Composite on root).
pub fn paths(value: Option<&Json>) -> Result<Vec<Path>, OperationError> {
    let list = value
        .and_then(Json::as_array)
        .filter(|l| !l.is_empty())
        .ok_or_else(|| bad_input("a composite operation lists its paths in value, e.g. [\"/3/0/0\", \"/1/0/1\"]"))?;
    Limits::default().check(list.len()).map_err(|e| bad_input(e.to_string()))?;
    list.iter()
        .map(|p| {
            let text = p.as_str().ok_or_else(|| bad_input(format!("{p} is not a path string")))?;
            text.parse::<Path>().map_err(|e| bad_input(format!("bad LwM2M path: {e}")))
        })
        .collect()
}

/// The target of a composite native operation must be `/`: the paths go in `value`.
pub fn check_target(path: &str) -> Result<(), OperationError> {
    match path.parse::<Path>() {
        Ok(Path::Root) => Ok(()),
        _ => Err(bad_input(format!("composite operations target /, not {path:?}; list the paths in value"))),
    }
}

/// Read-Composite, or Observe-Composite with `observe = Some(0)` and its cancel with
/// `Some(1)`: FETCH on `/`, the body the path list (sorted, without duplicates, so that a
/// cancel listing the same set in another order matches the observation), Accept the same
/// format.
pub fn read(reg: &Registration, paths: &[Path], observe: Option<u32>) -> Result<DmRequest, OperationError> {
    let mut paths = paths.to_vec();
    paths.sort();
    paths.dedup();
    let format = format(reg);
    let payload = codec::encode_paths(format, &paths).map_err(|e| bad_input(format!("cannot encode paths: {e}")))?;
    let mut r = DmRequest::new(RequestType::Fetch, Path::Root);
    r.content_format = Some(format.code());
    r.accept = Some(format.code());
    r.observe = observe;
    r.composite = Some(paths);
    r.payload = payload;
    Ok(r)
}

/// Write-Composite: iPATCH on `/` with SenML records. `value` maps paths to what a write on
/// each takes: a value for a resource or resource instance, `{"<instance>": value}` for a
/// multiple resource, `{"<resource>": value}` for an object instance.
pub fn write(reg: &Registration, value: &Json, hints: &dyn TypeHints) -> Result<DmRequest, OperationError> {
    let map = value
        .as_object()
        .filter(|m| !m.is_empty())
        .ok_or_else(|| bad_input("a composite write maps paths to values, e.g. {\"/1/0/1\": 300}"))?;
    let mut records = Vec::with_capacity(map.len());
    for (key, v) in map {
        let path: Path = key.parse().map_err(|e| bad_input(format!("bad LwM2M path: {e}")))?;
        if path.depth() < 2 {
            return Err(bad_input(format!(
                "a composite write targets instances, resources or resource instances, not {path}"
            )));
        }
        records.extend(device_request::json_to_records(path, v, hints)?);
    }
    records.sort_by_key(|r| r.path);
    let format = format(reg);
    let payload = codec::encode(format, &Content::new(records), &Path::Root)
        .map_err(|e| bad_input(format!("cannot encode values: {e}")))?;
    let mut r = DmRequest::new(RequestType::IPatch, Path::Root);
    r.content_format = Some(format.code());
    r.payload = payload;
    Ok(r)
}

/// The records of a Read-Composite answer or an Observe-Composite notification.
pub fn decode(response: &DmResponse, hints: &dyn TypeHints) -> Result<Content, OperationError> {
    device_request::decode(&Path::Root, response, hints)
}

/// A Read-Composite answer as the JSON result: full resource path to value, for the paths
/// present only.
pub fn result(response: &DmResponse, hints: &dyn TypeHints) -> Result<Json, OperationError> {
    let content = decode(response, hints)?;
    Ok(Json::Object(
        content.records.iter().map(|r| (r.path.to_string(), device_request::value_to_json(&r.value))).collect(),
    ))
}

#[cfg(test)]
mod tests;
