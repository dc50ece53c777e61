use super::*;
use crate::codec::testutil::{any_object_content, hints_of, ALL_TYPES};
use crate::codec::NoHints;
use proptest::prelude::*;

/// Device object types from registry `3.xml`, enough for the spec example.
fn device_hints(p: &Path) -> Option<ResourceType> {
    Some(match p.resource_id()? {
        0..=3 | 14..=16 => ResourceType::String,
        13 => ResourceType::Time,
        6..=11 => ResourceType::Integer,
        _ => return None,
    })
}

/// The Device object example of LwM2M TS 1.0 §6.4.3.1 (Read on /3/0, "Single Object Instance"),
/// transcribed by hand: every type byte, id and length was re-derived from the OMA-TLV layout of TS
/// Core 1.1 §7.4.4 "TLV", and the values match registry `3.xml` types.
const DEVICE_3_0: &[u8] = &[
    0xC8, 0x00, 0x14, b'O', b'p', b'e', b'n', b' ', b'M', b'o', b'b', b'i', b'l', b'e', b' ', b'A', b'l', b'l', b'i',
    b'a', b'n', b'c', b'e', //
    0xC8, 0x01, 0x16, b'L', b'i', b'g', b'h', b't', b'w', b'e', b'i', b'g', b'h', b't', b' ', b'M', b'2', b'M', b' ',
    b'C', b'l', b'i', b'e', b'n', b't', //
    0xC8, 0x02, 0x09, b'3', b'4', b'5', b'0', b'0', b'0', b'1', b'2', b'3', //
    0xC3, 0x03, b'1', b'.', b'0', //
    0x86, 0x06, 0x41, 0x00, 0x01, 0x41, 0x01, 0x05, //
    0x88, 0x07, 0x08, 0x42, 0x00, 0x0E, 0xD8, 0x42, 0x01, 0x13, 0x88, //
    0x87, 0x08, 0x41, 0x00, 0x7D, 0x42, 0x01, 0x03, 0x84, //
    0xC1, 0x09, 0x64, //
    0xC1, 0x0A, 0x0F, //
    0x83, 0x0B, 0x41, 0x00, 0x00, //
    0xC4, 0x0D, 0x51, 0x82, 0x42, 0x8F, //
    0xC6, 0x0E, b'+', b'0', b'2', b':', b'0', b'0', //
    0xC1, 0x10, b'U',
];

fn device_content() -> Content {
    let r = |id, v| Record::new(Path::Resource(3, 0, id), v);
    let ri = |id, i, v| Record::new(Path::ResourceInstance(3, 0, id, i), v);
    let s = |x: &str| Value::String(x.into());
    Content::new(vec![
        r(0, s("Open Mobile Alliance")),
        r(1, s("Lightweight M2M Client")),
        r(2, s("345000123")),
        r(3, s("1.0")),
        ri(6, 0, Value::Integer(1)),
        ri(6, 1, Value::Integer(5)),
        ri(7, 0, Value::Integer(3800)),
        ri(7, 1, Value::Integer(5000)),
        ri(8, 0, Value::Integer(125)),
        ri(8, 1, Value::Integer(900)),
        r(9, Value::Integer(100)),
        r(10, Value::Integer(15)),
        ri(11, 0, Value::Integer(0)),
        r(13, Value::Time(1_367_491_215)),
        r(14, s("+02:00")),
        r(16, s("U")),
    ])
}

#[test]
fn spec_device_example_decodes() {
    let base = Path::ObjectInstance(3, 0);
    let c = decode(DEVICE_3_0, &base, &device_hints, &Limits::default()).unwrap();
    assert_eq!(c, device_content());
}

#[test]
fn spec_device_example_encodes_byte_for_byte() {
    let base = Path::ObjectInstance(3, 0);
    assert_eq!(encode(&device_content(), &base).unwrap(), DEVICE_3_0);
}

/// Worked from the §7.4.4 type byte: /3/0/0 = "Open Mobile Alliance" is `C8 00 14` + 20 bytes.
#[test]
fn fact_sheet_single_resource_example() {
    let base = Path::Resource(3, 0, 0);
    let c = Content::new(vec![Record::new(base, Value::String("Open Mobile Alliance".into()))]);
    let bytes = encode(&c, &base).unwrap();
    assert_eq!(&bytes[..3], &[0xC8, 0x00, 0x14]);
    assert_eq!(&bytes[3..], b"Open Mobile Alliance");
}

/// LwM2M TS 1.0 §6.4.3.2 "Multiple Object Instance" example: Read on /2 (Access Control) with
/// instances 0 and 2, ACL instances for servers 127 and 310 (the latter needs a 16-bit id).
/// Transcribed by hand and re-derived from the TS Core 1.1 §7.4.4 layout.
const ACCESS_CONTROL_2: &[u8] = &[
    0x08, 0x00, 0x0E, 0xC1, 0x00, 0x01, 0xC1, 0x01, 0x00, 0x83, 0x02, 0x41, 0x7F, 0x07, 0xC1, 0x03, 0x7F, //
    0x08, 0x02, 0x12, 0xC1, 0x00, 0x03, 0xC1, 0x01, 0x00, 0x87, 0x02, 0x41, 0x7F, 0x07, 0x61, 0x01, 0x36, 0x01, 0xC1,
    0x03, 0x7F,
];

#[test]
fn spec_access_control_example() {
    let base = Path::Object(2);
    let ints = |_: &Path| Some(ResourceType::Integer);
    let c = decode(ACCESS_CONTROL_2, &base, &ints, &Limits::default()).unwrap();
    let r = |i, id, v| Record::new(Path::Resource(2, i, id), Value::Integer(v));
    let acl = |i, ri, v| Record::new(Path::ResourceInstance(2, i, 2, ri), Value::Integer(v));
    let expected = Content::new(vec![
        r(0, 0, 1),
        r(0, 1, 0),
        acl(0, 127, 7),
        r(0, 3, 127),
        r(2, 0, 3),
        r(2, 1, 0),
        acl(2, 127, 7),
        acl(2, 310, 1),
        r(2, 3, 127),
    ]);
    assert_eq!(c, expected);
    assert_eq!(encode(&expected, &base).unwrap(), ACCESS_CONTROL_2);
}

#[test]
fn untyped_values_stay_opaque() {
    let c = decode(&[0xC1, 0x09, 0x64], &Path::ObjectInstance(3, 0), &NoHints, &Limits::default()).unwrap();
    assert_eq!(c.get(&Path::Resource(3, 0, 9)), Some(&Value::Opaque(vec![0x64])));
}

#[test]
fn object_instance_wrapper_and_16_bit_ids() {
    // Object instance 1 holding resource 300 (16-bit id) with a 1-byte value.
    let bytes = [0x04, 0x01, 0xE1, 0x01, 0x2C, 0x07];
    let c = decode(&bytes, &Path::Object(3303), &NoHints, &Limits::default()).unwrap();
    assert_eq!(c.get(&Path::Resource(3303, 1, 300)), Some(&Value::Opaque(vec![7])));
    let back = encode(&c, &Path::Object(3303)).unwrap();
    assert_eq!(back, bytes);
}

#[test]
fn rejects_bad_payloads() {
    let l = Limits::default();
    let base = Path::ObjectInstance(3, 0);
    // Length beyond the input.
    assert!(matches!(decode(&[0xC8, 0x00, 0xFF, 1], &base, &NoHints, &l), Err(CodecError::Truncated(_))));
    // Mismatching id against the request path.
    assert!(decode(&[0x00, 0x01], &base, &NoHints, &l).is_err());
    // A resource inside a resource instance level.
    assert!(decode(&[0x83, 0x0B, 0xC1, 0x00, 0x00], &base, &NoHints, &l).is_err());
    // Too many records.
    let small = Limits { max_records: 1 };
    assert!(matches!(
        decode(&[0xC1, 0x09, 0x64, 0xC1, 0x0A, 0x0F], &base, &NoHints, &small),
        Err(CodecError::LimitExceeded(_))
    ));
    // A boolean of 2 bytes.
    let b = |_: &Path| Some(ResourceType::Boolean);
    assert!(decode(&[0xC2, 0x01, 0, 1], &base, &b, &l).is_err());
}

#[test]
fn encodes_resource_instance_and_multiple_resource_bases() {
    let ri = Path::ResourceInstance(3, 0, 6, 1);
    let c = Content::new(vec![Record::new(ri, Value::Integer(5))]);
    assert_eq!(encode(&c, &ri).unwrap(), [0x41, 0x01, 0x05]);
    let res = Path::Resource(3, 0, 6);
    assert_eq!(encode(&c, &res).unwrap(), [0x83, 0x06, 0x41, 0x01, 0x05]);
    assert!(encode(&c, &Path::Root).is_err());
    assert!(encode(&c, &Path::Object(4)).is_err());
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
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..128)) {
        for base in [Path::Object(1), Path::ObjectInstance(1, 0), Path::Resource(1, 0, 1)] {
            for ty in ALL_TYPES {
                let _ = decode(&bytes, &base, &move |_: &Path| Some(ty), &Limits::default());
            }
        }
    }
}
