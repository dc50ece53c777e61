use super::*;
use crate::model::BuiltinModels;
use crate::server::ObjectLink;
use coap_lite::ResponseType;

fn reg(version: &str, objects: &[&str]) -> Registration {
    let objects = objects.iter().map(|p| ObjectLink { path: (*p).into(), version: None }).collect();
    Registration { objects, ..Registration::for_test(version) }
}

fn answer(payload: &str, location: &[&str]) -> DmResponse {
    DmResponse {
        code: ResponseType::Content,
        content_format: Some(40),
        payload: payload.as_bytes().to_vec(),
        location: location.iter().map(|s| (*s).to_owned()).collect(),
    }
}

#[test]
fn discover_asks_for_link_format_and_lists_attributes() {
    let r = discover(Path::ObjectInstance(3, 0)).unwrap();
    assert_eq!((r.method, r.accept), (RequestType::Get, Some(40)));
    assert!(discover(Path::ResourceInstance(3, 0, 7, 0)).is_err());
    assert!(discover(Path::Root).is_err());
    let result = discover_result(&answer("</3/0>;pmin=10,</3/0/7>;dim=2;gt=2.5,</3/0/0>;obs", &[])).unwrap();
    assert_eq!(
        result,
        json!([
            {"path": "/3/0", "attributes": {"pmin": 10}},
            {"path": "/3/0/7", "attributes": {"dim": 2, "gt": 2.5}},
            {"path": "/3/0/0", "attributes": {"obs": true}},
        ])
    );
    assert!(discover_result(&answer("3/0", &[])).is_err());
}

#[test]
fn write_attributes_become_uri_queries() {
    let r = write_attributes(Path::Resource(3, 0, 9), &json!({"pmin": 10, "pmax": 60, "gt": 50.5, "lt": 10})).unwrap();
    assert_eq!(r.method, RequestType::Put);
    assert!(r.payload.is_empty());
    let mut q = r.query.clone();
    q.sort();
    assert_eq!(q, ["gt=50.5", "lt=10", "pmax=60", "pmin=10"]);
    let r = write_attributes(Path::ObjectInstance(3, 0), &json!({"pmin": null})).unwrap();
    assert_eq!(r.query, ["pmin"]);
}

#[test]
fn write_attributes_are_validated() {
    let res = Path::Resource(3, 0, 9);
    for bad in [
        json!({"ver": "1.1"}),
        json!({"dim": 2}),
        json!({"foo": 1}),
        json!({}),
        json!(5),
        json!({"pmin": -1}),
        json!({"pmin": 1.5}),
        json!({"pmin": "10"}),
        json!({"pmin": 60, "pmax": 10}),
        json!({"epmin": 6, "epmax": 5}),
        json!({"lt": 10, "gt": 5}),
        json!({"lt": 10, "gt": 20, "st": 5}),
        json!({"st": -1}),
    ] {
        let e = write_attributes(res, &bad).unwrap_err();
        assert_eq!(e.kind, ErrorKind::BadInput, "{bad}");
    }
    assert!(write_attributes(Path::ObjectInstance(3, 0), &json!({"gt": 1})).is_err());
    assert!(write_attributes(Path::Root, &json!({"pmin": 1})).is_err());
    assert!(write_attributes(res, &json!({"lt": 10, "gt": 20, "st": 4})).is_ok());
}

#[test]
fn create_picks_a_free_instance_and_the_version_format() {
    let r10 = reg("1.0", &["/1/0", "/3/0", "/9/0", "/9/1"]);
    let (req, asked) = create(&r10, Path::Object(9), Some(&json!({"0": "app", "1": "1.0"})), &BuiltinModels).unwrap();
    assert_eq!((req.method, req.path, req.content_format), (RequestType::Post, Path::Object(9), Some(11542)));
    assert_eq!(asked, Path::ObjectInstance(9, 2));
    let decoded =
        codec::decode(ContentFormat::Tlv, &req.payload, &Path::Object(9), &BuiltinModels, &Limits::default()).unwrap();
    assert_eq!(decoded.get(&Path::Resource(9, 2, 0)), Some(&crate::codec::Value::String("app".into())));
    let (req, _) = create(&r10, Path::ObjectInstance(9, 300), None, &BuiltinModels).unwrap();
    assert_eq!(req.payload, [0x20, 1, 44]);
    let (req, _) = create(&r10, Path::Object(9), None, &BuiltinModels).unwrap();
    assert_eq!(req.payload, [0x00, 2]);
    let (req, asked) = create(&reg("1.1", &[]), Path::Object(6), Some(&json!({"0": 1.5})), &BuiltinModels).unwrap();
    assert_eq!((req.content_format, asked), (Some(110), Path::ObjectInstance(6, 0)));
    assert!(create(&r10, Path::Resource(9, 0, 1), None, &BuiltinModels).is_err());
}

#[test]
fn created_path_comes_from_location() {
    let asked = Path::ObjectInstance(9, 0);
    assert_eq!(created_path(&answer("", &["9", "4"]), asked), Path::ObjectInstance(9, 4));
    assert_eq!(created_path(&answer("", &["root", "9", "5"]), asked), Path::ObjectInstance(9, 5));
    assert_eq!(created_path(&answer("", &[]), asked), asked);
    assert_eq!(created_path(&answer("", &["x", "y"]), asked), asked);
}

#[test]
fn delete_targets_instances() {
    assert_eq!(delete(Path::ObjectInstance(9, 1)).unwrap().method, RequestType::Delete);
    assert!(delete(Path::Object(9)).is_err());
    assert!(delete(Path::Resource(9, 1, 0)).is_err());
}
