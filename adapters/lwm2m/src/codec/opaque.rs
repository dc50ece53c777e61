//! `application/octet-stream` (content format 42): one Opaque resource value as raw bytes (TS
//! Core 1.1 §7.4.2 "Opaque"; LwM2M 1.0 §6.4.2).

use super::{single, single_path, CodecError, Content, Record, Value};
use crate::path::Path;

/// Decodes the bytes as the Opaque value of the resource (instance) `base`.
pub fn decode(bytes: &[u8], base: &Path) -> Result<Content, CodecError> {
    let path = single_path(base)?;
    Ok(Content::new(vec![Record::new(path, Value::Opaque(bytes.to_vec()))]))
}

/// Encodes the only record of `content`, which must be [`Value::Opaque`]: §7.4.2 allows this
/// format for Opaque resources only.
pub fn encode(content: &Content) -> Result<Vec<u8>, CodecError> {
    match &single(content)?.value {
        Value::Opaque(bytes) => Ok(bytes.clone()),
        other => Err(CodecError::Unencodable(format!(
            "octet-stream carries only Opaque values, got {:?}",
            other.resource_type()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn rejects_non_opaque() {
        let c = Content::new(vec![Record::new(Path::Resource(5, 0, 0), Value::Integer(1))]);
        assert!(encode(&c).is_err());
        assert!(decode(b"x", &Path::Object(5)).is_err());
    }

    proptest! {
        #[test]
        fn roundtrip(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let p = Path::Resource(5, 0, 0);
            let c = decode(&bytes, &p).unwrap();
            prop_assert_eq!(encode(&c).unwrap(), bytes);
        }
    }
}
