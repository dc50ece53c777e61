use super::*;
use crate::model::BuiltinModels;

fn reg(version: &str) -> Registration {
    Registration::for_test(version)
}

#[test]
fn format_follows_version() {
    assert_eq!(preferred_format(&reg("1.0")), ContentFormat::Tlv);
    assert_eq!(preferred_format(&reg("1.1")), ContentFormat::SenmlJson);
    assert_eq!(read(&reg("1.0"), Path::ObjectInstance(3, 0), None).accept, Some(11542));
}

#[test]
fn writes_are_typed_by_the_model() {
    let w = write(&reg("1.0"), Path::Resource(1, 0, 1), &json!("300"), &BuiltinModels).unwrap();
    assert_eq!((w.method, w.content_format, w.payload.as_slice()), (RequestType::Put, Some(0), &b"300"[..]));
    let w = write(&reg("1.1"), Path::ObjectInstance(1, 0), &json!({"1": 60, "6": true}), &BuiltinModels).unwrap();
    assert_eq!(w.method, RequestType::Post);
    assert_eq!(w.content_format, Some(110));
    let recs = json_to_records(Path::ObjectInstance(1, 0), &json!({"1": 60, "6": true}), &BuiltinModels).unwrap();
    assert_eq!(recs[0].value, Value::Integer(60));
    assert_eq!(recs[1].value, Value::Boolean(true));
    assert!(write(&reg("1.0"), Path::Resource(1, 0, 1), &json!("x"), &BuiltinModels).is_err());
    assert!(write(&reg("1.0"), Path::Object(1), &json!(1), &BuiltinModels).is_err());
    assert_eq!(
        json_to_value(&Path::Resource(3, 0, 22), &json!("3:0"), &BuiltinModels).unwrap(),
        Value::ObjectLink(3, 0)
    );
}

#[test]
fn answers_map_to_error_kinds() {
    let resp = |code| DmResponse { code, content_format: None, payload: vec![], location: vec![] };
    assert!(check(&resp(ResponseType::Content)).is_ok());
    let e = check(&resp(ResponseType::NotFound)).unwrap_err();
    assert_eq!((e.kind, e.protocol_code.as_deref()), (ErrorKind::NotFound, Some("4.04")));
    let e = check(&resp(ResponseType::MethodNotAllowed)).unwrap_err();
    assert_eq!((e.kind, e.protocol_code.as_deref()), (ErrorKind::DeviceRefused, Some("4.05")));
    assert_eq!(check(&resp(ResponseType::Unauthorized)).unwrap_err().kind, ErrorKind::DeviceRefused);
    assert_eq!(check(&resp(ResponseType::Forbidden)).unwrap_err().protocol_code.as_deref(), Some("4.03"));
    for c in [ResponseType::BadRequest, ResponseType::NotAcceptable, ResponseType::UnsupportedContentFormat] {
        assert_eq!(check(&resp(c)).unwrap_err().kind, ErrorKind::BadInput);
    }
    assert!(failure(RequestFailure::TimedOut, "GET /3/0/0").kind.is_retryable());
}

#[test]
fn reads_render_as_json() {
    let content = Content::new(vec![
        Record::new(Path::Resource(3, 0, 0), Value::String("Acme".into())),
        Record::new(Path::ResourceInstance(3, 0, 11, 0), Value::Integer(0)),
    ]);
    assert_eq!(content_to_json(&Path::ObjectInstance(3, 0), &content), json!({"/3/0/0": "Acme", "/3/0/11/0": 0}));
    let one = Content::new(vec![Record::new(Path::Resource(3, 0, 9), Value::Integer(80))]);
    assert_eq!(content_to_json(&Path::Resource(3, 0, 9), &one), json!(80));
    let multi = Content::new(vec![Record::new(Path::ResourceInstance(3, 0, 11, 0), Value::Integer(0))]);
    assert_eq!(content_to_json(&Path::Resource(3, 0, 11), &multi), json!({"0": 0}));
    let tlv = DmResponse {
        code: ResponseType::Content,
        content_format: Some(1542),
        payload: vec![0xC1, 0x09, 0x64],
        location: vec![],
    };
    let c = decode(&Path::ObjectInstance(3, 0), &tlv, &BuiltinModels).unwrap();
    assert_eq!(c.get(&Path::Resource(3, 0, 9)), Some(&Value::Integer(100)));
}

mod props {
    use super::*;
    use proptest::prelude::*;

    fn json() -> impl Strategy<Value = serde_json::Value> {
        let leaf = prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::from),
            any::<i64>().prop_map(serde_json::Value::from),
            any::<f64>().prop_map(serde_json::Value::from),
            "[ -~]{0,8}".prop_map(serde_json::Value::from),
        ];
        leaf.prop_recursive(3, 16, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
                proptest::collection::btree_map("[0-9a-z]{1,3}", inner, 0..4)
                    .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        /// User JSON never panics the encoder, whatever the path and version.
        #[test]
        fn arbitrary_writes_never_panic(value in json(), o in 0u16..10, r in 0u16..25, v1_1 in any::<bool>()) {
            let registration = reg(if v1_1 { "1.1" } else { "1.0" });
            for path in [Path::ObjectInstance(o, 0), Path::Resource(o, 0, r), Path::ResourceInstance(o, 0, r, 1)] {
                let _ = write(&registration, path, &value, &BuiltinModels);
            }
        }
    }
}
