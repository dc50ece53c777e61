//! `application/senml+cbor` (content format 112): SenML CBOR packs (RFC 8428 §6) as LwM2M uses
//! them (TS Core 1.1 §7.4.6 "SenML CBOR").
//!
//! Labels are the RFC 8428 §6 integers (bn -2, bt -3, n 0, v 2, vs 3, vb 4, t 6, vd 8); `vlo` has
//! no registered integer and travels as the text key `"vlo"`. Text keys for the other labels are
//! accepted too, as RFC 8428 §6 does not forbid them and some encoders emit them.

use ciborium::value::{Integer, Value as Cbor};

use super::senml::{self, Number, SenmlRecord, SenmlValue};
use super::{CodecError, Content, Limits, TypeHints};
use crate::path::Path;

const BN: i64 = -2;
const BT: i64 = -3;
const N: i64 = 0;
const V: i64 = 2;
const VS: i64 = 3;
const VB: i64 = 4;
const T: i64 = 6;
const VD: i64 = 8;

/// Decodes a SenML CBOR pack into records.
pub fn decode(bytes: &[u8], hints: &dyn TypeHints, limits: &Limits) -> Result<Content, CodecError> {
    senml::resolve(&parse_pack(bytes, limits)?, hints, limits)
}

/// Decodes the name-only pack of a composite request into paths.
pub fn decode_paths(bytes: &[u8], limits: &Limits) -> Result<Vec<Path>, CodecError> {
    senml::resolve_paths(&parse_pack(bytes, limits)?, limits)
}

/// Encodes records as a SenML CBOR pack.
pub fn encode(content: &Content) -> Result<Vec<u8>, CodecError> {
    write_pack(&senml::from_content(content))
}

/// Encodes a path list as the body of a Read-Composite / Observe-Composite request.
pub fn encode_paths(paths: &[Path]) -> Result<Vec<u8>, CodecError> {
    write_pack(&senml::from_paths(paths))
}

/// Reads exactly one CBOR item covering the whole input.
pub(crate) fn read_cbor(bytes: &[u8]) -> Result<Cbor, CodecError> {
    let mut rest = bytes;
    let item: Cbor = ciborium::de::from_reader(&mut rest).map_err(|e| CodecError::malformed(format!("CBOR: {e}")))?;
    if !rest.is_empty() {
        return Err(CodecError::malformed("trailing bytes after the CBOR item"));
    }
    Ok(item)
}

pub(crate) fn write_cbor(item: &Cbor) -> Result<Vec<u8>, CodecError> {
    let mut out = Vec::new();
    ciborium::ser::into_writer(item, &mut out).map_err(|e| CodecError::Unencodable(format!("CBOR: {e}")))?;
    Ok(out)
}

fn parse_pack(bytes: &[u8], limits: &Limits) -> Result<Vec<SenmlRecord>, CodecError> {
    let Cbor::Array(items) = read_cbor(bytes)? else {
        return Err(CodecError::malformed("SenML CBOR pack must be an array"));
    };
    limits.check(items.len())?;
    items.iter().map(parse_record).collect()
}

/// Maps a key to its integer label; text keys use the JSON names.
fn label(key: &Cbor) -> Option<Result<i64, String>> {
    match key {
        Cbor::Integer(i) => i64::try_from(*i).ok().map(Ok),
        Cbor::Text(t) => Some(match t.as_str() {
            "bn" => Ok(BN),
            "bt" => Ok(BT),
            "n" => Ok(N),
            "v" => Ok(V),
            "vs" => Ok(VS),
            "vb" => Ok(VB),
            "t" => Ok(T),
            "vd" => Ok(VD),
            other => Err(other.to_owned()),
        }),
        _ => None,
    }
}

pub(crate) fn cbor_number(v: &Cbor) -> Option<Number> {
    match v {
        Cbor::Integer(i) => {
            let wide = i128::from(*i);
            i64::try_from(wide).map(Number::Int).or_else(|_| u64::try_from(wide).map(Number::UInt)).ok()
        }
        Cbor::Float(f) => Some(Number::Float(*f)),
        _ => None,
    }
}

fn as_f64(v: &Cbor) -> Result<f64, CodecError> {
    match cbor_number(v) {
        Some(Number::Int(i)) => Ok(i as f64),
        Some(Number::UInt(u)) => Ok(u as f64),
        Some(Number::Float(f)) => Ok(f),
        None => Err(CodecError::malformed("SenML time must be a number")),
    }
}

fn as_text(v: &Cbor) -> Result<String, CodecError> {
    match v {
        Cbor::Text(t) => Ok(t.clone()),
        _ => Err(CodecError::malformed("SenML label must be a text string")),
    }
}

fn parse_record(item: &Cbor) -> Result<SenmlRecord, CodecError> {
    let Cbor::Map(entries) = item else {
        return Err(CodecError::malformed("SenML record must be a map"));
    };
    let mut rec = SenmlRecord::default();
    for (key, v) in entries {
        let value = match label(key) {
            Some(Ok(BN)) => {
                rec.base_name = Some(as_text(v)?);
                None
            }
            Some(Ok(BT)) => {
                rec.base_time = Some(as_f64(v)?);
                None
            }
            Some(Ok(N)) => {
                rec.name = Some(as_text(v)?);
                None
            }
            Some(Ok(T)) => {
                rec.time = Some(as_f64(v)?);
                None
            }
            Some(Ok(V)) => Some(SenmlValue::Number(
                cbor_number(v).ok_or_else(|| CodecError::malformed("SenML v must be a number"))?,
            )),
            Some(Ok(VS)) => Some(SenmlValue::String(as_text(v)?)),
            Some(Ok(VB)) => match v {
                Cbor::Bool(b) => Some(SenmlValue::Boolean(*b)),
                _ => return Err(CodecError::malformed("SenML vb must be a boolean")),
            },
            Some(Ok(VD)) => match v {
                Cbor::Bytes(b) => Some(SenmlValue::Data(b.clone())),
                _ => return Err(CodecError::malformed("SenML vd must be a byte string")),
            },
            Some(Err(text)) if text == "vlo" => Some(SenmlValue::ObjectLink(as_text(v)?)),
            // RFC 8428 §4.4 / §6: negative labels below -1 other than bn/bt and labels ending in
            // '_' are base or must-understand fields we do not implement; others are ignorable.
            Some(Err(text)) if text.ends_with('_') => {
                return Err(CodecError::malformed(format!("unsupported must-understand SenML label {text}")))
            }
            _ => None,
        };
        if let Some(value) = value {
            if rec.value.replace(value).is_some() {
                return Err(CodecError::malformed("SenML record with two values"));
            }
        }
    }
    Ok(rec)
}

fn write_pack(pack: &[SenmlRecord]) -> Result<Vec<u8>, CodecError> {
    let key = |l: i64| Cbor::Integer(Integer::from(l));
    let items = pack
        .iter()
        .map(|rec| {
            let mut map = Vec::new();
            if let Some(bn) = &rec.base_name {
                map.push((key(BN), Cbor::Text(bn.clone())));
            }
            if let Some(bt) = rec.base_time {
                map.push((key(BT), Cbor::Float(bt)));
            }
            if let Some(n) = &rec.name {
                map.push((key(N), Cbor::Text(n.clone())));
            }
            if let Some(t) = rec.time {
                map.push((key(T), Cbor::Float(t)));
            }
            match &rec.value {
                None => {}
                Some(SenmlValue::Number(Number::Int(i))) => map.push((key(V), Cbor::Integer(Integer::from(*i)))),
                Some(SenmlValue::Number(Number::UInt(u))) => map.push((key(V), Cbor::Integer(Integer::from(*u)))),
                Some(SenmlValue::Number(Number::Float(f))) => map.push((key(V), Cbor::Float(*f))),
                Some(SenmlValue::String(s)) => map.push((key(VS), Cbor::Text(s.clone()))),
                Some(SenmlValue::Boolean(b)) => map.push((key(VB), Cbor::Bool(*b))),
                Some(SenmlValue::Data(d)) => map.push((key(VD), Cbor::Bytes(d.clone()))),
                Some(SenmlValue::ObjectLink(s)) => map.push((Cbor::Text("vlo".into()), Cbor::Text(s.clone()))),
            }
            Cbor::Map(map)
        })
        .collect();
    write_cbor(&Cbor::Array(items))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::testutil::{any_content, any_paths, hints_of};
    use crate::codec::{NoHints, Record, Value};
    use proptest::prelude::*;

    /// RFC 8428 §6 labels, checked byte by byte: `[{-2: "/3/0/", 0: "9", 2: 95}]`.
    #[test]
    fn encodes_integer_labels() {
        let c = Content::new(vec![Record::new(Path::Resource(3, 0, 9), Value::Integer(95))]);
        let bytes = encode(&c).unwrap();
        let expected = [0x81, 0xA3, 0x21, 0x65, b'/', b'3', b'/', b'0', b'/', 0x00, 0x61, b'9', 0x02, 0x18, 95];
        assert_eq!(bytes, expected);
        assert_eq!(decode(&bytes, &NoHints, &Limits::default()).unwrap(), c);
    }

    #[test]
    fn object_link_uses_text_key() {
        let c = Content::new(vec![Record::new(Path::Resource(9, 0, 5), Value::ObjectLink(3, 0))]);
        let bytes = encode(&c).unwrap();
        assert!(bytes.windows(3).any(|w| w == b"vlo"));
        assert_eq!(decode(&bytes, &NoHints, &Limits::default()).unwrap(), c);
    }

    #[test]
    fn rejects_trailing_bytes_and_wrong_shapes() {
        let l = Limits::default();
        assert!(decode(&[0x80, 0x00], &NoHints, &l).is_err());
        assert!(decode(&[0xA0], &NoHints, &l).is_err());
        // Byte string announcing 2^32 bytes with none present.
        assert!(decode(&[0x81, 0xA1, 0x08, 0x5A, 0xFF, 0xFF, 0xFF, 0xFF], &NoHints, &l).is_err());
        // Array and map headers announcing 2^64 - 1 items must not allocate for them.
        let huge_array = [0x9B, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF];
        assert!(decode(&huge_array, &NoHints, &l).is_err());
        let huge_map = [0x81, 0xBB, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF];
        assert!(decode(&huge_map, &NoHints, &l).is_err());
        // Deep nesting hits the decoder's recursion limit instead of the stack.
        let deep = vec![0x81; 100_000];
        assert!(decode(&deep, &NoHints, &l).is_err());
        let paths = decode_paths(&encode_paths(&[Path::Object(3)]).unwrap(), &l).unwrap();
        assert_eq!(paths, vec![Path::Object(3)]);
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
    }
}
