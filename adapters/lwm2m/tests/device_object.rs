//! The Device object example of LwM2M TS 1.0 §6.4.3.1 (TLV) pushed through every multi-value
//! format: the content survives each, and the SenML JSON text has the shape of the Read /3/0
//! example of TS Core 1.1 (SenML JSON) for the same values.

use unidm_lwm2m::codec::{self, ContentFormat, Limits, ResourceType};
use unidm_lwm2m::Path;

/// TLV bytes of the spec example, type byte per entry as laid out in TS Core 1.1 §7.4.4.
const DEVICE_3_0: &[u8] = &[
    0xC8, 0x00, 0x14, b'O', b'p', b'e', b'n', b' ', b'M', b'o', b'b', b'i', b'l', b'e', b' ', b'A', b'l', b'l', b'i',
    b'a', b'n', b'c', b'e', 0xC8, 0x01, 0x16, b'L', b'i', b'g', b'h', b't', b'w', b'e', b'i', b'g', b'h', b't', b' ',
    b'M', b'2', b'M', b' ', b'C', b'l', b'i', b'e', b'n', b't', 0xC8, 0x02, 0x09, b'3', b'4', b'5', b'0', b'0', b'0',
    b'1', b'2', b'3', 0xC3, 0x03, b'1', b'.', b'0', 0x86, 0x06, 0x41, 0x00, 0x01, 0x41, 0x01, 0x05, 0x88, 0x07, 0x08,
    0x42, 0x00, 0x0E, 0xD8, 0x42, 0x01, 0x13, 0x88, 0x87, 0x08, 0x41, 0x00, 0x7D, 0x42, 0x01, 0x03, 0x84, 0xC1, 0x09,
    0x64, 0xC1, 0x0A, 0x0F, 0x83, 0x0B, 0x41, 0x00, 0x00, 0xC4, 0x0D, 0x51, 0x82, 0x42, 0x8F, 0xC6, 0x0E, b'+', b'0',
    b'2', b':', b'0', b'0', 0xC1, 0x10, b'U',
];

const SENML_3_0: &str = concat!(
    r#"[{"bn":"/3/0/","n":"0","vs":"Open Mobile Alliance"},"#,
    r#"{"n":"1","vs":"Lightweight M2M Client"},{"n":"2","vs":"345000123"},"#,
    r#"{"n":"3","vs":"1.0"},{"n":"6/0","v":1},{"n":"6/1","v":5},{"n":"7/0","v":3800},"#,
    r#"{"n":"7/1","v":5000},{"n":"8/0","v":125},{"n":"8/1","v":900},{"n":"9","v":100},"#,
    r#"{"n":"10","v":15},{"n":"11/0","v":0},{"n":"13","v":1367491215},"#,
    r#"{"n":"14","vs":"+02:00"},{"n":"16","vs":"U"}]"#
);

/// Types of the Device object resources used here, from registry `3.xml`.
fn device_types(p: &Path) -> Option<ResourceType> {
    Some(match p.resource_id()? {
        0..=3 | 14..=16 => ResourceType::String,
        13 => ResourceType::Time,
        6..=11 => ResourceType::Integer,
        _ => return None,
    })
}

#[test]
fn device_object_through_every_format() {
    let base = Path::ObjectInstance(3, 0);
    let limits = Limits::default();
    let content = codec::decode(ContentFormat::from(11542), DEVICE_3_0, &base, &device_types, &limits).unwrap();
    assert_eq!(content.records.len(), 16);

    let senml = codec::encode(ContentFormat::SenmlJson, &content, &base).unwrap();
    assert_eq!(std::str::from_utf8(&senml).unwrap(), SENML_3_0);

    for format in [
        ContentFormat::Tlv,
        ContentFormat::SenmlJson,
        ContentFormat::SenmlCbor,
        ContentFormat::Lwm2mJson,
        ContentFormat::Lwm2mCbor,
    ] {
        let bytes = codec::encode(format, &content, &base).unwrap();
        let back = codec::decode(format, &bytes, &base, &device_types, &limits).unwrap();
        assert_eq!(back, content, "{format:?}");
    }
    // The legacy LwM2M 1.0 number decodes as TLV too.
    let legacy = codec::decode(ContentFormat::from(1542), DEVICE_3_0, &base, &device_types, &limits);
    assert_eq!(legacy.unwrap(), content);
}

#[test]
fn single_value_formats_and_unsupported_ones() {
    let p = Path::Resource(3, 0, 9);
    let limits = Limits::default();
    let c = codec::decode(ContentFormat::Text, b"100", &p, &device_types, &limits).unwrap();
    assert_eq!(codec::encode(ContentFormat::Cbor, &c, &p).unwrap(), [0x18, 100]);
    assert_eq!(codec::encode(ContentFormat::Text, &c, &p).unwrap(), b"100");
    assert!(codec::encode(ContentFormat::Opaque, &c, &p).is_err());
    let err = codec::decode(ContentFormat::LinkFormat, b"</3>", &p, &device_types, &limits);
    assert!(matches!(err, Err(codec::CodecError::Unsupported(_))));
    assert!(!err.unwrap_err().is_bad_input());
}

/// Read-Composite body of TS Core 1.1 §6.3, in both SenML encodings.
#[test]
fn composite_request_paths() {
    let paths = [Path::Resource(3, 0, 0), Path::Resource(1, 0, 1)];
    let limits = Limits::default();
    let body = br#"[{"n":"/3/0/0"},{"n":"/1/0/1"}]"#;
    assert_eq!(codec::decode_paths(ContentFormat::SenmlJson, body, &limits).unwrap(), paths);
    for format in [ContentFormat::SenmlJson, ContentFormat::SenmlCbor] {
        let bytes = codec::encode_paths(format, &paths).unwrap();
        assert_eq!(codec::decode_paths(format, &bytes, &limits).unwrap(), paths);
    }
    assert!(codec::encode_paths(ContentFormat::Tlv, &paths).is_err());
}
