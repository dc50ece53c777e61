//! `application/vnd.oma.lwm2m+cbor` (content format 11544, LwM2M 1.2 only; TS Core 1.2 §7.4
//! subsection "LwM2M CBOR"). No legacy number exists (1542 / 1543 are TLV and JSON only).
//!
//! The payload is a CBOR map nested by path: keys are ids, or arrays of ids that stand for
//! several levels at once (`{[3,0]: {0: "Open Mobile Alliance"}}`), and leaves are values. Paths
//! are absolute (they start at the object id). Values use the single-value CBOR mapping of
//! [`super::cbor`]: Time as tag 1, Objlnk as text `"o:i"`.

use ciborium::value::{Integer, Value as Cbor};

use super::senml::{self, SenmlValue};
use super::senml_cbor::{cbor_number, read_cbor, write_cbor};
use super::{hint_for, CodecError, Content, Limits, Record, ResourceType, TypeHints, Value};
use crate::path::Path;

/// Decodes a LwM2M CBOR payload.
pub fn decode(bytes: &[u8], hints: &dyn TypeHints, limits: &Limits) -> Result<Content, CodecError> {
    let Cbor::Map(root) = read_cbor(bytes)? else {
        return Err(CodecError::malformed("LwM2M CBOR must be a map"));
    };
    let mut out = Vec::new();
    walk(&root, &[], hints, limits, &mut out)?;
    Ok(Content::new(out))
}

fn key_ids(key: &Cbor) -> Result<Vec<u16>, CodecError> {
    let id = |k: &Cbor| match k {
        Cbor::Integer(i) => u16::try_from(i128::from(*i)).ok(),
        _ => None,
    };
    match key {
        Cbor::Array(items) if !items.is_empty() && items.len() <= 4 => {
            items.iter().map(|k| id(k).ok_or_else(|| CodecError::malformed("LwM2M CBOR key is not an id"))).collect()
        }
        k => id(k).map(|i| vec![i]).ok_or_else(|| CodecError::malformed("LwM2M CBOR key is not an id")),
    }
}

fn walk(
    map: &[(Cbor, Cbor)],
    prefix: &[u16],
    hints: &dyn TypeHints,
    limits: &Limits,
    out: &mut Vec<Record>,
) -> Result<(), CodecError> {
    for (key, v) in map {
        let mut ids = prefix.to_vec();
        ids.extend(key_ids(key)?);
        let path =
            Path::from_ids(&ids).ok_or_else(|| CodecError::malformed("LwM2M CBOR nested deeper than /o/i/r/ri"))?;
        match v {
            Cbor::Map(inner) => walk(inner, &ids, hints, limits, out)?,
            leaf if path.is_resource_level() => {
                limits.check(out.len() + 1)?;
                let value = from_cbor(leaf, hint_for(hints, &path), &path)?;
                out.push(Record::new(path, value));
            }
            _ => return Err(CodecError::malformed(format!("LwM2M CBOR value at {path}, above resource level"))),
        }
    }
    Ok(())
}

/// Reads one CBOR data item as a resource value (TS Core 1.1 §7.4.3 data type mapping).
pub(crate) fn from_cbor(item: &Cbor, ty: Option<ResourceType>, path: &Path) -> Result<Value, CodecError> {
    let senml = match item {
        Cbor::Tag(1, inner) => {
            return match cbor_number(inner) {
                Some(n) => senml::to_value(&SenmlValue::Number(n), Some(ty.unwrap_or(ResourceType::Time)), path),
                None => Err(CodecError::invalid(*path, "tag 1 must hold a number")),
            };
        }
        Cbor::Integer(_) | Cbor::Float(_) => {
            SenmlValue::Number(cbor_number(item).ok_or_else(|| CodecError::invalid(*path, "integer out of range"))?)
        }
        Cbor::Text(t) if ty == Some(ResourceType::Objlnk) => SenmlValue::ObjectLink(t.clone()),
        Cbor::Text(t) => SenmlValue::String(t.clone()),
        Cbor::Bytes(b) => SenmlValue::Data(b.clone()),
        Cbor::Bool(b) => SenmlValue::Boolean(*b),
        _ => return Err(CodecError::invalid(*path, "unsupported CBOR item for a value")),
    };
    senml::to_value(&senml, ty, path)
}

/// Writes a resource value as one CBOR data item.
pub(crate) fn to_cbor(value: &Value) -> Cbor {
    match value {
        Value::String(s) | Value::CoreLink(s) => Cbor::Text(s.clone()),
        Value::Integer(i) => Cbor::Integer(Integer::from(*i)),
        Value::UnsignedInteger(u) => Cbor::Integer(Integer::from(*u)),
        Value::Float(f) => Cbor::Float(*f),
        Value::Boolean(b) => Cbor::Bool(*b),
        Value::Opaque(d) => Cbor::Bytes(d.clone()),
        Value::Time(t) => Cbor::Tag(1, Box::new(Cbor::Integer(Integer::from(*t)))),
        Value::ObjectLink(o, i) => Cbor::Text(format!("{o}:{i}")),
    }
}

/// Encodes records as nested maps from the object level (no key compression).
pub fn encode(content: &Content) -> Result<Vec<u8>, CodecError> {
    let records: Vec<&Record> = content.records.iter().collect();
    write_cbor(&nest(&records, 1)?)
}

fn nest(records: &[&Record], level: usize) -> Result<Cbor, CodecError> {
    let mut groups: Vec<(u16, Vec<&Record>)> = Vec::new();
    for r in records {
        let id =
            r.path.id_at(level).ok_or_else(|| CodecError::Unencodable(format!("{} has no value level", r.path)))?;
        match groups.iter_mut().find(|(g, _)| *g == id) {
            Some((_, members)) => members.push(r),
            None => groups.push((id, vec![r])),
        }
    }
    let mut map = Vec::with_capacity(groups.len());
    for (id, members) in groups {
        let value = match members.as_slice() {
            [one] if one.path.depth() == level => to_cbor(&one.value),
            _ if members.iter().all(|r| r.path.depth() > level) => nest(&members, level + 1)?,
            _ => {
                return Err(CodecError::Unencodable(format!(
                    "id {id} at level {level} holds both a value and children"
                )))
            }
        };
        map.push((Cbor::Integer(Integer::from(id)), value));
    }
    Ok(Cbor::Map(map))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::testutil::{any_content, hints_of};
    use crate::codec::NoHints;
    use proptest::prelude::*;

    /// `{[3, 0]: {0: "Open Mobile Alliance", 9: 100}}`: key compression as TS Core 1.2 "LwM2M
    /// CBOR" describes it, bytes assembled from RFC 8949 major types.
    #[test]
    fn decodes_compressed_keys() {
        let mut bytes = vec![0xA1, 0x82, 0x03, 0x00, 0xA2, 0x00, 0x74];
        bytes.extend_from_slice(b"Open Mobile Alliance");
        bytes.extend_from_slice(&[0x09, 0x18, 100]);
        let c = decode(&bytes, &NoHints, &Limits::default()).unwrap();
        assert_eq!(c.get(&Path::Resource(3, 0, 0)), Some(&Value::String("Open Mobile Alliance".into())));
        assert_eq!(c.get(&Path::Resource(3, 0, 9)), Some(&Value::Integer(100)));
    }

    #[test]
    fn rejects_bad_shapes() {
        let l = Limits::default();
        // A value at object level.
        assert!(decode(&[0xA1, 0x03, 0x01], &NoHints, &l).is_err());
        // A negative id.
        assert!(decode(&[0xA1, 0x20, 0xA0], &NoHints, &l).is_err());
        // Five levels.
        assert!(decode(&[0xA1, 0x85, 1, 2, 3, 4, 5, 0x01], &NoHints, &l).is_err());
        assert!(decode(&[0x80], &NoHints, &l).is_err());
    }

    #[test]
    fn time_is_tag_1() {
        let c = Content::new(vec![Record::new(Path::Resource(3, 0, 13), Value::Time(10))]);
        let bytes = encode(&c).unwrap();
        assert_eq!(bytes, [0xA1, 0x03, 0xA1, 0x00, 0xA1, 0x0D, 0xC1, 0x0A]);
        assert_eq!(decode(&bytes, &NoHints, &Limits::default()).unwrap(), c);
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
    }
}
