use super::*;
use crate::codec::{NoHints, Value};
use crate::model::BuiltinModels;
use coap_lite::ResponseType;
use serde_json::json;

fn reg(version: &str, content_formats: Vec<u16>) -> Registration {
    Registration { content_formats, ..Registration::for_test(version) }
}

/// TS Core 1.1 §6.3 Read-Composite: FETCH on `/`, Content-Format 110 with names only, Accept 110;
/// the paths sorted and deduplicated so that a cancel in another order is the same observation.
#[test]
fn read_composite_is_a_fetch_on_root_listing_paths() {
    let paths = [Path::Resource(3, 0, 0), Path::Resource(1, 0, 1), Path::Resource(3, 0, 0)];
    let r = read(&reg("1.1", vec![]), &paths, None).unwrap();
    assert_eq!((r.method, r.path, r.content_format, r.accept), (RequestType::Fetch, Path::Root, Some(110), Some(110)));
    assert_eq!(std::str::from_utf8(&r.payload).unwrap(), r#"[{"n":"/1/0/1"},{"n":"/3/0/0"}]"#);
    assert_eq!(r.composite, Some(vec![Path::Resource(1, 0, 1), Path::Resource(3, 0, 0)]));
    assert_eq!(r.observe, None);
    let observe = read(&reg("1.1", vec![]), &paths, Some(0)).unwrap();
    let cancel = read(&reg("1.1", vec![]), &[paths[1], paths[0]], Some(1)).unwrap();
    assert_eq!((observe.observe, cancel.observe), (Some(0), Some(1)));
    assert_eq!(observe.observed(), cancel.observed());
    assert_eq!(observe.payload, cancel.payload);
    // A client offering SenML CBOR only gets CBOR both ways.
    let cbor = read(&reg("1.1", vec![112]), &paths, None).unwrap();
    assert_eq!((cbor.content_format, cbor.accept), (Some(112), Some(112)));
    let back = codec::decode_paths(ContentFormat::SenmlCbor, &cbor.payload, &Limits::default()).unwrap();
    assert_eq!(back, vec![Path::Resource(1, 0, 1), Path::Resource(3, 0, 0)]);
}

#[test]
fn paths_come_from_a_json_list() {
    assert_eq!(paths(Some(&json!(["/", "/3/0/7/1"]))).unwrap(), vec![Path::Root, Path::ResourceInstance(3, 0, 7, 1)]);
    for bad in [json!([]), json!("/3/0/0"), json!([3]), json!(["3/0"]), json!(["/3/0/0/0/0"])] {
        assert_eq!(paths(Some(&bad)).unwrap_err().kind, ErrorKind::BadInput, "{bad}");
    }
    assert!(paths(None).is_err());
    assert!(check_target("/").is_ok());
    assert!(check_target("/3/0").is_err());
}

/// Write-Composite: iPATCH on `/`, SenML records typed by the object model.
#[test]
fn write_composite_is_an_ipatch_with_values() {
    let value = json!({"/3/0/14": "+02:00", "/1/0/1": "300", "/1/0": {"6": true}, "/3/0/7/1": 5000});
    let r = write(&reg("1.1", vec![]), &value, &BuiltinModels).unwrap();
    assert_eq!((r.method, r.path, r.content_format, r.composite), (RequestType::IPatch, Path::Root, Some(110), None));
    let content =
        codec::decode(ContentFormat::SenmlJson, &r.payload, &Path::Root, &BuiltinModels, &Limits::default()).unwrap();
    assert_eq!(content.get(&Path::Resource(1, 0, 1)), Some(&Value::Integer(300)));
    assert_eq!(content.get(&Path::Resource(1, 0, 6)), Some(&Value::Boolean(true)));
    assert_eq!(content.get(&Path::Resource(3, 0, 14)), Some(&Value::String("+02:00".into())));
    assert_eq!(content.get(&Path::ResourceInstance(3, 0, 7, 1)), Some(&Value::Integer(5000)));
    for bad in [json!({}), json!(["/1/0/1"]), json!({"/": 1}), json!({"/1": {"0": 1}}), json!({"/1/0/1": "x"})] {
        assert!(write(&reg("1.1", vec![]), &bad, &BuiltinModels).is_err(), "{bad}");
    }
    let cbor = write(&reg("1.1", vec![112]), &json!({"/1/0/1": 60}), &BuiltinModels).unwrap();
    assert_eq!(cbor.content_format, Some(112));
}

#[test]
fn only_1_1_clients_get_composite_requests() {
    assert!(check_version(&reg("1.1", vec![])).is_ok());
    assert!(check_version(&reg("1.2", vec![])).is_ok());
    let e = check_version(&reg("1.0", vec![])).unwrap_err();
    assert_eq!(e.kind, ErrorKind::NotSupported);
    assert!(e.message.contains("1.1"), "{}", e.message);
}

/// ETS 1.1-int-236: an answer carrying only the present paths is a result with only those.
#[test]
fn answers_become_path_value_maps() {
    let answer = DmResponse {
        code: ResponseType::Content,
        content_format: Some(110),
        payload: br#"[{"bn":"/3/0/","n":"0","vs":"Acme"},{"n":"7/1","v":5000}]"#.to_vec(),
        location: vec![],
    };
    assert_eq!(result(&answer, &NoHints).unwrap(), json!({"/3/0/0": "Acme", "/3/0/7/1": 5000}));
    let empty = DmResponse { payload: b"[]".to_vec(), ..answer };
    assert_eq!(result(&empty, &NoHints).unwrap(), json!({}));
}
