//! `application/senml+json` (content format 110): SenML JSON packs (RFC 8428 §5) as LwM2M
//! uses them (TS Core 1.1 §7.4.5 "SenML JSON").
//!
//! `vd` is written base64url without padding (RFC 8428 §5, "Data Value"); decoding also
//! accepts the standard alphabet and padding, which some clients send.

use base64::Engine;
use serde_json::{Map, Value as Json};

use super::senml::{self, Number, SenmlRecord, SenmlValue};
use super::{CodecError, Content, Limits, TypeHints};
use crate::path::Path;

/// Decodes a SenML JSON pack into records.
pub fn decode(bytes: &[u8], hints: &dyn TypeHints, limits: &Limits) -> Result<Content, CodecError> {
    senml::resolve(&parse_pack(bytes, limits)?, hints, limits)
}

/// Decodes the name-only pack of a composite request into paths.
pub fn decode_paths(bytes: &[u8], limits: &Limits) -> Result<Vec<Path>, CodecError> {
    senml::resolve_paths(&parse_pack(bytes, limits)?, limits)
}

/// Encodes records as a SenML JSON pack.
pub fn encode(content: &Content) -> Result<Vec<u8>, CodecError> {
    write_pack(&senml::from_content(content))
}

/// Encodes a path list as the body of a Read-Composite / Observe-Composite request.
pub fn encode_paths(paths: &[Path]) -> Result<Vec<u8>, CodecError> {
    write_pack(&senml::from_paths(paths))
}

/// Reads base64 in either alphabet, padded or not.
pub(crate) fn decode_base64(text: &str) -> Option<Vec<u8>> {
    let normalized: String = text
        .trim_end_matches('=')
        .chars()
        .map(|c| match c {
            '+' => '-',
            '/' => '_',
            c => c,
        })
        .collect();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(normalized).ok()
}

fn parse_pack(bytes: &[u8], limits: &Limits) -> Result<Vec<SenmlRecord>, CodecError> {
    let json: Json = serde_json::from_slice(bytes).map_err(|e| CodecError::malformed(format!("SenML JSON: {e}")))?;
    let Json::Array(items) = json else {
        return Err(CodecError::malformed("SenML JSON pack must be an array"));
    };
    limits.check(items.len())?;
    items.iter().map(parse_record).collect()
}

fn number(v: &Json, label: &str) -> Result<f64, CodecError> {
    v.as_f64().ok_or_else(|| CodecError::malformed(format!("SenML label {label} must be a number")))
}

fn text<'a>(v: &'a Json, label: &str) -> Result<&'a str, CodecError> {
    v.as_str().ok_or_else(|| CodecError::malformed(format!("SenML label {label} must be a string")))
}

fn parse_record(item: &Json) -> Result<SenmlRecord, CodecError> {
    let Json::Object(map) = item else {
        return Err(CodecError::malformed("SenML record must be an object"));
    };
    let mut rec = SenmlRecord::default();
    let set_value = |rec: &mut SenmlRecord, v: SenmlValue| {
        if rec.value.replace(v).is_some() {
            Err(CodecError::malformed("SenML record with two values"))
        } else {
            Ok(())
        }
    };
    for (label, v) in map {
        match label.as_str() {
            "bn" => rec.base_name = Some(text(v, label)?.to_owned()),
            "bt" => rec.base_time = Some(number(v, label)?),
            "n" => rec.name = Some(text(v, label)?.to_owned()),
            "t" => rec.time = Some(number(v, label)?),
            "v" => {
                let n = match v {
                    Json::Number(n) => {
                        if let Some(i) = n.as_i64() {
                            Number::Int(i)
                        } else if let Some(u) = n.as_u64() {
                            Number::UInt(u)
                        } else {
                            Number::Float(number(v, label)?)
                        }
                    }
                    _ => return Err(CodecError::malformed("SenML label v must be a number")),
                };
                set_value(&mut rec, SenmlValue::Number(n))?
            }
            "vs" => set_value(&mut rec, SenmlValue::String(text(v, label)?.to_owned()))?,
            "vb" => {
                let b = v.as_bool().ok_or_else(|| CodecError::malformed("SenML label vb must be a boolean"))?;
                set_value(&mut rec, SenmlValue::Boolean(b))?
            }
            "vd" => {
                let d =
                    decode_base64(text(v, label)?).ok_or_else(|| CodecError::malformed("SenML vd is not base64"))?;
                set_value(&mut rec, SenmlValue::Data(d))?
            }
            "vlo" => set_value(&mut rec, SenmlValue::ObjectLink(text(v, label)?.to_owned()))?,
            // RFC 8428 §4.4: a label ending in '_' must be understood, so reject it.
            other if other.ends_with('_') => {
                return Err(CodecError::malformed(format!("unsupported must-understand SenML label {other}")))
            }
            _ => {}
        }
    }
    Ok(rec)
}

fn json_number(n: f64) -> Result<Json, CodecError> {
    serde_json::Number::from_f64(n)
        .map(Json::Number)
        .ok_or_else(|| CodecError::Unencodable(format!("{n} has no JSON form")))
}

fn write_pack(pack: &[SenmlRecord]) -> Result<Vec<u8>, CodecError> {
    let mut items = Vec::with_capacity(pack.len());
    for rec in pack {
        let mut map = Map::new();
        if let Some(bn) = &rec.base_name {
            map.insert("bn".into(), Json::String(bn.clone()));
        }
        if let Some(bt) = rec.base_time {
            map.insert("bt".into(), json_number(bt)?);
        }
        if let Some(n) = &rec.name {
            map.insert("n".into(), Json::String(n.clone()));
        }
        if let Some(t) = rec.time {
            map.insert("t".into(), json_number(t)?);
        }
        match &rec.value {
            None => {}
            Some(SenmlValue::Number(Number::Int(i))) => {
                map.insert("v".into(), Json::from(*i));
            }
            Some(SenmlValue::Number(Number::UInt(u))) => {
                map.insert("v".into(), Json::from(*u));
            }
            Some(SenmlValue::Number(Number::Float(f))) => {
                map.insert("v".into(), json_number(*f)?);
            }
            Some(SenmlValue::String(s)) => {
                map.insert("vs".into(), Json::String(s.clone()));
            }
            Some(SenmlValue::Boolean(b)) => {
                map.insert("vb".into(), Json::Bool(*b));
            }
            Some(SenmlValue::Data(d)) => {
                let text = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(d);
                map.insert("vd".into(), Json::String(text));
            }
            Some(SenmlValue::ObjectLink(s)) => {
                map.insert("vlo".into(), Json::String(s.clone()));
            }
        }
        items.push(Json::Object(map));
    }
    serde_json::to_vec(&Json::Array(items)).map_err(|e| CodecError::Unencodable(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::testutil::{any_content, any_paths, hints_of};
    use crate::codec::{NoHints, Record, ResourceType, Value};
    use proptest::prelude::*;

    /// Shape of the Read-Composite answer in LwM2M TS Core 1.1 §7.4.5 examples (Device object
    /// resources under a common base name), values as in the §7.4.4 TLV examples.
    #[test]
    fn decodes_spec_style_pack() {
        let body = br#"[{"bn":"/3/0/","n":"0","vs":"Open Mobile Alliance"},
            {"n":"9","v":95},{"n":"13","v":1367491215},{"n":"6/0","v":1},
            {"bn":"/1/0/","n":"1","v":86400},{"n":"6","vb":false},
            {"bn":"/9/0/","n":"5","vlo":"3:0"},{"n":"2","vd":"AQID"}]"#;
        let hints = |p: &Path| match (p.object_id(), p.resource_id()) {
            (Some(3), Some(13)) => Some(ResourceType::Time),
            _ => None,
        };
        let c = decode(body, &hints, &Limits::default()).unwrap();
        assert_eq!(c.records.len(), 8);
        assert_eq!(c.get(&Path::Resource(3, 0, 0)), Some(&Value::String("Open Mobile Alliance".into())));
        assert_eq!(c.get(&Path::Resource(3, 0, 13)), Some(&Value::Time(1_367_491_215)));
        assert_eq!(c.get(&Path::ResourceInstance(3, 0, 6, 0)), Some(&Value::Integer(1)));
        assert_eq!(c.get(&Path::Resource(1, 0, 1)), Some(&Value::Integer(86400)));
        assert_eq!(c.get(&Path::Resource(9, 0, 5)), Some(&Value::ObjectLink(3, 0)));
        assert_eq!(c.get(&Path::Resource(9, 0, 2)), Some(&Value::Opaque(vec![1, 2, 3])));
    }

    /// TS Core 1.1 §6.3 Read-Composite request body `[{"n":"/3/0/0"},{"n":"/1/0/1"}]`.
    #[test]
    fn composite_paths() {
        let body = br#"[{"n":"/3/0/0"},{"n":"/1/0/1"}]"#;
        let paths = decode_paths(body, &Limits::default()).unwrap();
        assert_eq!(paths, vec![Path::Resource(3, 0, 0), Path::Resource(1, 0, 1)]);
        let back = decode_paths(&encode_paths(&paths).unwrap(), &Limits::default()).unwrap();
        assert_eq!(back, paths);
        assert!(decode(body, &NoHints, &Limits::default()).is_err());
    }

    #[test]
    fn encodes_with_base_name() {
        let c = Content::new(vec![
            Record::new(Path::Resource(3, 0, 0), Value::String("x".into())),
            Record::new(Path::Resource(3, 0, 9), Value::Integer(95)),
        ]);
        let s = String::from_utf8(encode(&c).unwrap()).unwrap();
        assert_eq!(s, r#"[{"bn":"/3/0/","n":"0","vs":"x"},{"n":"9","v":95}]"#);
    }

    #[test]
    fn rejects_bad_packs() {
        let l = Limits::default();
        for body in [
            &br#"{"n":"/3/0/0"}"#[..],
            br#"[{"n":"/3/0/0","v":1,"vs":"a"}]"#,
            br#"[{"n":"/3/0","v":1}]"#,
            br#"[{"n":"/3/0/0","v":"1"}]"#,
            br#"[{"n":"/3/0/0","v":1,"x_":1}]"#,
            br#"[{"n":"/70000/0/0","v":1}]"#,
        ] {
            assert!(decode(body, &NoHints, &l).is_err(), "{:?}", std::str::from_utf8(body));
        }
        let deep = "[".repeat(100_000);
        assert!(decode(deep.as_bytes(), &NoHints, &l).is_err());
        let small = Limits { max_records: 1 };
        assert!(decode(br#"[{"n":"/3/0/0","v":1},{"n":"/3/0/1","v":1}]"#, &NoHints, &small).is_err());
    }

    proptest! {
        #[test]
        fn roundtrip(content in any_content()) {
            let bytes = encode(&content).unwrap();
            let back = decode(&bytes, &hints_of(&content), &Limits::default()).unwrap();
            prop_assert_eq!(back, content);
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..128)) {
            let _ = decode(&bytes, &NoHints, &Limits::default());
        }

        /// Path-only records of a composite request (TS Core 1.1 §6.3) survive the round trip,
        /// whatever prefix `bn` factors out.
        #[test]
        fn paths_roundtrip(paths in any_paths()) {
            let bytes = encode_paths(&paths).unwrap();
            prop_assert_eq!(decode_paths(&bytes, &Limits::default()).unwrap(), paths);
        }

        #[test]
        fn arbitrary_bytes_never_panic_as_paths(bytes in proptest::collection::vec(any::<u8>(), 0..128)) {
            let _ = decode_paths(&bytes, &Limits::default());
        }

        #[test]
        fn arbitrary_json_never_panics(s in r#"\[(\{("(bn|n|v|vs|vb|vd|vlo|t|bt)":("[/0-9:]{0,8}"|-?[0-9]{1,22}(\.[0-9])?|true|null),?){0,4}\},?){0,3}\]"#) {
            let _ = decode(s.as_bytes(), &NoHints, &Limits::default());
        }
    }
}
