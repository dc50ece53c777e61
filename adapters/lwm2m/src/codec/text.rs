//! `text/plain` (content format 0): one resource value as text (TS Core 1.1 §7.4.1 "Plain
//! Text"; LwM2M 1.0 §6.4.1).
//!
//! Numbers are decimal, Boolean is `0`/`1`, Time is decimal seconds, Objlnk is `o:i`, and
//! Opaque is base64 (§7.4.1 requires Opaque in text/plain to be base64-encoded).

use base64::Engine;

use super::{hint_for, single, single_path, CodecError, Content, ObjectLinkText, Record};
use super::{ResourceType, TypeHints, Value};
use crate::path::Path;

/// Decodes the text of a value for the resource (instance) `base`. Without a hint the value is
/// a [`Value::String`].
pub fn decode(bytes: &[u8], base: &Path, hints: &dyn TypeHints) -> Result<Content, CodecError> {
    let path = single_path(base)?;
    let text = std::str::from_utf8(bytes).map_err(|_| CodecError::invalid(path, "not UTF-8"))?;
    let value = parse_value(text, hint_for(hints, &path), &path)?;
    Ok(Content::new(vec![Record::new(path, value)]))
}

/// Encodes the only record of `content`.
pub fn encode(content: &Content) -> Result<Vec<u8>, CodecError> {
    Ok(format_value(&single(content)?.value).into_bytes())
}

/// Reads a value in its text form, typed by `ty` (string when unknown).
pub(crate) fn parse_value(text: &str, ty: Option<ResourceType>, path: &Path) -> Result<Value, CodecError> {
    let bad = |what: &str| CodecError::invalid(*path, format!("{what}: {text:?}"));
    let t = text.trim();
    Ok(match ty {
        None | Some(ResourceType::String) | Some(ResourceType::None) => Value::String(text.to_owned()),
        Some(ResourceType::Corelnk) => Value::CoreLink(text.to_owned()),
        Some(ResourceType::Integer) => Value::Integer(t.parse().map_err(|_| bad("not an integer"))?),
        Some(ResourceType::UnsignedInteger) => {
            Value::UnsignedInteger(t.parse().map_err(|_| bad("not an unsigned integer"))?)
        }
        Some(ResourceType::Time) => Value::Time(t.parse().map_err(|_| bad("not a time"))?),
        Some(ResourceType::Float) => Value::Float(t.parse().map_err(|_| bad("not a float"))?),
        Some(ResourceType::Boolean) => match t {
            "0" | "false" => Value::Boolean(false),
            "1" | "true" => Value::Boolean(true),
            _ => return Err(bad("not a boolean")),
        },
        Some(ResourceType::Objlnk) => {
            let ObjectLinkText(o, i) = t.parse().map_err(|_| bad("not an object link"))?;
            Value::ObjectLink(o, i)
        }
        Some(ResourceType::Opaque) => {
            Value::Opaque(base64::engine::general_purpose::STANDARD.decode(t).map_err(|_| bad("not base64"))?)
        }
    })
}

/// Writes a value in its text form.
pub(crate) fn format_value(value: &Value) -> String {
    match value {
        Value::String(s) | Value::CoreLink(s) => s.clone(),
        Value::Integer(i) | Value::Time(i) => i.to_string(),
        Value::UnsignedInteger(u) => u.to_string(),
        Value::Float(f) => f.to_string(),
        Value::Boolean(b) => if *b { "1" } else { "0" }.to_owned(),
        Value::ObjectLink(o, i) => ObjectLinkText(*o, *i).to_string(),
        Value::Opaque(bytes) => base64::engine::general_purpose::STANDARD.encode(bytes),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::testutil::{any_value, hints_of};
    use proptest::prelude::*;

    #[test]
    fn decodes_typed_values() {
        let p = Path::Resource(3, 0, 9);
        let int = |_: &Path| Some(ResourceType::Integer);
        let c = decode(b"95", &p, &int).unwrap();
        assert_eq!(c.get(&p), Some(&Value::Integer(95)));
        let c = decode(b"Open Mobile Alliance", &p, &super::super::NoHints).unwrap();
        assert_eq!(c.get(&p), Some(&Value::String("Open Mobile Alliance".into())));
        let link = |_: &Path| Some(ResourceType::Objlnk);
        assert_eq!(decode(b"3:0", &p, &link).unwrap().get(&p), Some(&Value::ObjectLink(3, 0)));
        assert!(decode(b"x", &p, &int).is_err());
        assert!(decode(b"1", &Path::ObjectInstance(3, 0), &int).is_err());
    }

    proptest! {
        #[test]
        fn roundtrip(v in any_value()) {
            let p = Path::Resource(3, 0, 1);
            let content = Content::new(vec![Record::new(p, v)]);
            let bytes = encode(&content).unwrap();
            prop_assert_eq!(decode(&bytes, &p, &hints_of(&content)).unwrap(), content);
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            for ty in crate::codec::testutil::ALL_TYPES {
                let _ = decode(&bytes, &Path::Resource(1, 0, 1), &move |_: &Path| Some(ty));
            }
        }
    }
}
