//! `application/vnd.oma.lwm2m+json` (content format 11543, legacy 1543): the LwM2M 1.0 JSON
//! format (LwM2M TS 1.0 §6.4.4 "JSON"; kept in TS Core 1.1 §7.4.7 for compatibility).
//!
//! ```text
//! {"bn":"/3/0/","bt":..,"e":[{"n":"0","sv":"Open Mobile Alliance"},{"n":"6/0","v":1},
//!                            {"n":"x","bv":true},{"n":"y","ov":"3:0"},{"n":"z","v":1,"t":-5}]}
//! ```
//! `v` numeric, `sv` string (Opaque as base64 in `sv`), `bv` boolean, `ov` object link; the
//! full name is `bn` joined with `n`, `bn` defaulting to the request path.

use base64::Engine;
use serde_json::{Map, Value as Json};

use super::senml::{Number, SenmlRecord, SenmlValue};
use super::senml_json::decode_base64;
use super::{hint_for, CodecError, Content, Limits, Record, ResourceType, TypeHints, Value};
use crate::path::Path;

/// Decodes a LwM2M JSON document sent for a request on `base`.
pub fn decode(bytes: &[u8], base: &Path, hints: &dyn TypeHints, limits: &Limits) -> Result<Content, CodecError> {
    let json: Json = serde_json::from_slice(bytes).map_err(|e| CodecError::malformed(format!("LwM2M JSON: {e}")))?;
    let Json::Object(doc) = json else {
        return Err(CodecError::malformed("LwM2M JSON must be an object"));
    };
    let base_name = match doc.get("bn") {
        None => base.to_string(),
        Some(Json::String(s)) => s.clone(),
        Some(_) => return Err(CodecError::malformed("bn must be a string")),
    };
    let base_time = match doc.get("bt") {
        None => None,
        Some(v) => Some(v.as_f64().ok_or_else(|| CodecError::malformed("bt must be a number"))?),
    };
    let Some(Json::Array(entries)) = doc.get("e") else {
        return Err(CodecError::malformed("LwM2M JSON needs an array \"e\""));
    };
    limits.check(entries.len())?;
    let mut out = Vec::with_capacity(entries.len());
    for entry in entries {
        let Json::Object(e) = entry else {
            return Err(CodecError::malformed("LwM2M JSON entry must be an object"));
        };
        let name = match e.get("n") {
            None => "",
            Some(Json::String(s)) => s.as_str(),
            Some(_) => return Err(CodecError::malformed("n must be a string")),
        };
        let path: Path = join(&base_name, name).parse()?;
        if !path.is_resource_level() {
            return Err(CodecError::malformed(format!("LwM2M JSON entry {path} is not a resource")));
        }
        let time = match (base_time, e.get("t")) {
            (None, None) => None,
            (b, t) => Some(
                b.unwrap_or(0.0)
                    + match t {
                        None => 0.0,
                        Some(t) => t.as_f64().ok_or_else(|| CodecError::malformed("t must be a number"))?,
                    },
            ),
        };
        let value = entry_value(e, hint_for(hints, &path), &path)?;
        out.push(Record { path, value, time });
    }
    Ok(Content::new(out))
}

/// `bn` and `n` join with exactly one `/` between them.
fn join(base: &str, name: &str) -> String {
    if name.is_empty() || base.ends_with('/') || name.starts_with('/') {
        format!("{base}{name}")
    } else {
        format!("{base}/{name}")
    }
}

fn entry_value(e: &Map<String, Json>, ty: Option<ResourceType>, path: &Path) -> Result<Value, CodecError> {
    let mut found = None;
    for label in ["v", "sv", "bv", "ov"] {
        if let Some(v) = e.get(label) {
            if found.replace((label, v)).is_some() {
                return Err(CodecError::invalid(*path, "entry with two values"));
            }
        }
    }
    let bad = |what: &str| CodecError::invalid(*path, what.to_owned());
    let senml = match found {
        None => return Err(bad("entry has no value")),
        Some(("v", Json::Number(n))) => SenmlValue::Number(if let Some(i) = n.as_i64() {
            Number::Int(i)
        } else if let Some(u) = n.as_u64() {
            Number::UInt(u)
        } else {
            Number::Float(n.as_f64().ok_or_else(|| bad("v is not a number"))?)
        }),
        Some(("sv", Json::String(s))) => match ty {
            Some(ResourceType::Opaque) => {
                SenmlValue::Data(decode_base64(s).ok_or_else(|| bad("opaque sv is not base64"))?)
            }
            _ => SenmlValue::String(s.clone()),
        },
        Some(("bv", Json::Bool(b))) => SenmlValue::Boolean(*b),
        Some(("ov", Json::String(s))) => SenmlValue::ObjectLink(s.clone()),
        Some((label, _)) => return Err(bad(&format!("{label} has the wrong JSON type"))),
    };
    // The same typing rules as SenML apply once the value is read.
    let pack = [SenmlRecord { name: Some(path.to_string()), value: Some(senml), ..SenmlRecord::default() }];
    let hint = move |_: &Path| ty;
    let mut content = super::senml::resolve(&pack, &hint, &Limits::default())?;
    content.records.pop().map(|r| r.value).ok_or_else(|| bad("entry has no value"))
}

/// Encodes records for a response or request on `base`; every record must lie under `base`.
pub fn encode(content: &Content, base: &Path) -> Result<Vec<u8>, CodecError> {
    let bn = match base {
        Path::Root => "/".to_owned(),
        p => format!("{p}/"),
    };
    let mut entries = Vec::with_capacity(content.records.len());
    for r in &content.records {
        if !base.is_prefix_of(&r.path) {
            return Err(CodecError::OutsideBase { path: r.path, base: *base });
        }
        let full = r.path.to_string();
        let name = full.get(bn.len()..).unwrap_or("").to_owned();
        let mut e = Map::new();
        e.insert("n".into(), Json::String(name));
        let (label, v) = match &r.value {
            Value::String(s) | Value::CoreLink(s) => ("sv", Json::String(s.clone())),
            Value::Opaque(d) => ("sv", Json::String(base64::engine::general_purpose::STANDARD.encode(d))),
            Value::Integer(i) | Value::Time(i) => ("v", Json::from(*i)),
            Value::UnsignedInteger(u) => ("v", Json::from(*u)),
            Value::Float(f) => (
                "v",
                serde_json::Number::from_f64(*f)
                    .map(Json::Number)
                    .ok_or_else(|| CodecError::Unencodable(format!("{f} has no JSON form")))?,
            ),
            Value::Boolean(b) => ("bv", Json::Bool(*b)),
            Value::ObjectLink(o, i) => ("ov", Json::String(format!("{o}:{i}"))),
        };
        e.insert(label.into(), v);
        if let Some(t) = r.time {
            let t = serde_json::Number::from_f64(t)
                .ok_or_else(|| CodecError::Unencodable(format!("time {t} has no JSON form")))?;
            e.insert("t".into(), Json::Number(t));
        }
        entries.push(Json::Object(e));
    }
    let mut doc = Map::new();
    doc.insert("bn".into(), Json::String(bn));
    doc.insert("e".into(), Json::Array(entries));
    serde_json::to_vec(&Json::Object(doc)).map_err(|e| CodecError::Unencodable(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::testutil::{any_content, any_object_content, hints_of};
    use crate::codec::NoHints;
    use proptest::prelude::*;

    /// LwM2M TS 1.0 §6.4.4 example: Read on /3/0 answered in JSON (first entries of the
    /// Device object example; same values as the TLV example of §6.4.3.1).
    #[test]
    fn decodes_spec_example() {
        let body = br#"{"bn":"/3/0/","e":[
            {"n":"0","sv":"Open Mobile Alliance"},
            {"n":"1","sv":"Lightweight M2M Client"},
            {"n":"6/0","v":1},{"n":"6/1","v":5},
            {"n":"9","v":100},
            {"n":"13","v":1367491215},
            {"n":"16","sv":"U"}]}"#;
        let hints = |p: &Path| match p.resource_id() {
            Some(13) => Some(ResourceType::Time),
            _ => None,
        };
        let c = decode(body, &Path::ObjectInstance(3, 0), &hints, &Limits::default()).unwrap();
        assert_eq!(c.records.len(), 7);
        assert_eq!(c.get(&Path::ResourceInstance(3, 0, 6, 1)), Some(&Value::Integer(5)));
        assert_eq!(c.get(&Path::Resource(3, 0, 13)), Some(&Value::Time(1_367_491_215)));
    }

    #[test]
    fn bn_defaults_to_request_path_and_joins_with_slash() {
        let c =
            decode(br#"{"e":[{"n":"9","v":1}]}"#, &Path::ObjectInstance(3, 0), &NoHints, &Limits::default()).unwrap();
        assert_eq!(c.records[0].path, Path::Resource(3, 0, 9));
        let c = decode(br#"{"bn":"/3/0/9","e":[{"v":1,"t":2}],"bt":10}"#, &Path::Root, &NoHints, &Limits::default())
            .unwrap();
        assert_eq!(c.records[0].path, Path::Resource(3, 0, 9));
        assert_eq!(c.records[0].time, Some(12.0));
    }

    #[test]
    fn rejects_bad_documents() {
        let b = Path::ObjectInstance(3, 0);
        let l = Limits::default();
        for body in [
            &b"[]"[..],
            br#"{"bn":"/3/0/"}"#,
            br#"{"e":[{"n":"1"}]}"#,
            br#"{"e":[{"n":"1","v":1,"sv":"x"}]}"#,
            br#"{"e":[{"n":"1","v":"1"}]}"#,
            br#"{"e":[{"n":"a","v":1}]}"#,
        ] {
            assert!(decode(body, &b, &NoHints, &l).is_err());
        }
    }

    proptest! {
        #[test]
        fn roundtrip_object(content in any_object_content(3)) {
            let base = Path::Object(3);
            let bytes = encode(&content, &base).unwrap();
            let back = decode(&bytes, &base, &hints_of(&content), &Limits::default()).unwrap();
            prop_assert_eq!(back, content);
        }

        #[test]
        fn roundtrip_root(content in any_content()) {
            let bytes = encode(&content, &Path::Root).unwrap();
            let back = decode(&bytes, &Path::Root, &hints_of(&content), &Limits::default()).unwrap();
            prop_assert_eq!(back, content);
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..128)) {
            let _ = decode(&bytes, &Path::Object(3), &NoHints, &Limits::default());
        }
    }
}
