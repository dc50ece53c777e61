//! `application/cbor` (content format 60): one resource value as a single CBOR data item (TS
//! Core 1.1 §7.4.3 "CBOR").
//!
//! Integer and Unsigned Integer are CBOR integers, Float a CBOR float, Boolean a CBOR simple
//! value, String and Corelnk text strings, Opaque a byte string, Time tag 1 over an integer,
//! Objlnk the text `"o:i"`.

use super::lwm2m_cbor::{from_cbor, to_cbor};
use super::senml_cbor::{read_cbor, write_cbor};
use super::{hint_for, single, single_path, CodecError, Content, Record, TypeHints};
use crate::path::Path;

/// Decodes the value of the resource (instance) `base`.
pub fn decode(bytes: &[u8], base: &Path, hints: &dyn TypeHints) -> Result<Content, CodecError> {
    let path = single_path(base)?;
    let value = from_cbor(&read_cbor(bytes)?, hint_for(hints, &path), &path)?;
    Ok(Content::new(vec![Record::new(path, value)]))
}

/// Encodes the only record of `content`.
pub fn encode(content: &Content) -> Result<Vec<u8>, CodecError> {
    write_cbor(&to_cbor(&single(content)?.value))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::testutil::{any_value, hints_of, ALL_TYPES};
    use crate::codec::Value;
    use proptest::prelude::*;

    #[test]
    fn small_integer_is_one_byte() {
        let p = Path::Resource(3, 0, 9);
        let c = Content::new(vec![Record::new(p, Value::Integer(5))]);
        assert_eq!(encode(&c).unwrap(), [0x05]);
        assert!(decode(&[0x05, 0x05], &p, &crate::codec::NoHints).is_err());
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
            for ty in ALL_TYPES {
                let _ = decode(&bytes, &Path::Resource(1, 0, 1), &move |_: &Path| Some(ty));
            }
        }
    }
}
