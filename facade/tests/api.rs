//! Every `/api/v1` route through the router, with its errors, auth, the OpenAPI document and
//! metrics. Devices are reported through an engine handle, as an adapter would.

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::connect_info::MockConnectInfo;
use axum::http::{header, Method, Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tower::ServiceExt;
use unidm_core::{AdapterHandle, Contact, Engine, SqliteStore};
use unidm_models::{DeviceId, Function, Protocol};

struct Api {
    router: Router,
    engine: Engine,
    _dir: tempfile::TempDir,
}

const LOOPBACK: ([u8; 4], u16) = ([127, 0, 0, 1], 40000);

async fn api_with(token: Option<&str>, peer: ([u8; 4], u16)) -> Api {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::builder().store(SqliteStore::open(dir.path().join("t.db")).unwrap()).start().await.unwrap();
    let router = unidm::app(engine.clone(), token.map(str::to_owned)).layer(MockConnectInfo(SocketAddr::from(peer)));
    Api { router, engine, _dir: dir }
}

async fn api() -> Api {
    api_with(None, LOOPBACK).await
}

impl Api {
    async fn call(&self, method: Method, uri: &str, body: Option<Value>) -> (StatusCode, String, Value) {
        self.call_raw(method, uri, body.map(|b| ("application/json", b.to_string())), None).await
    }

    async fn call_raw(
        &self,
        method: Method,
        uri: &str,
        body: Option<(&str, String)>,
        auth: Option<&str>,
    ) -> (StatusCode, String, Value) {
        let mut req = Request::builder().method(method).uri(uri);
        if let Some(a) = auth {
            req = req.header(header::AUTHORIZATION, a);
        }
        let req = match body {
            Some((ct, b)) => req.header(header::CONTENT_TYPE, ct).body(Body::from(b)).unwrap(),
            None => req.body(Body::empty()).unwrap(),
        };
        let res = self.router.clone().oneshot(req).await.unwrap();
        let status = res.status();
        let ct = res.headers().get(header::CONTENT_TYPE).map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
        let bytes = res.into_body().collect().await.unwrap().to_bytes();
        let v = serde_json::from_slice(&bytes).unwrap_or(Value::String(String::from_utf8_lossy(&bytes).into()));
        (status, ct, v)
    }

    /// A device that registered, with these capabilities (`None`: unknown).
    async fn device(&self, ep: &str, caps: Option<&[Function]>) -> DeviceId {
        let id = DeviceId::lwm2m(ep).unwrap();
        self.engine
            .handle(Protocol::Lwm2m)
            .device_contact(&id, Contact::online(), |d| {
                d.identity.manufacturer = Some("Acme".into());
                d.identity.model = Some("M1".into());
                d.capabilities = caps.and_then(AdapterHandle::functions);
            })
            .await
            .unwrap();
        id
    }
}

fn assert_problem(r: &(StatusCode, String, Value), status: StatusCode, slug: &str) {
    assert_eq!(r.0, status, "{:?}", r.2);
    assert_eq!(r.1, "application/problem+json");
    assert_eq!(r.2["type"], format!("urn:unidm:problem:{slug}"), "{:?}", r.2);
    assert_eq!(r.2["status"], status.as_u16());
}

fn assert_field(r: &(StatusCode, String, Value), field: &str) {
    assert_problem(r, StatusCode::BAD_REQUEST, "bad-request");
    assert_eq!(r.2["field"], field, "{:?}", r.2);
}

#[tokio::test]
async fn devices_list_filter_page_and_provision() {
    let a = api().await;
    for i in 0..12 {
        a.device(&format!("d{i:02}"), None).await;
    }
    let r = a.call(Method::GET, "/api/v1/devices?limit=5&offset=10", None).await;
    assert_eq!(r.0, StatusCode::OK);
    assert_eq!(r.2["total"], 12);
    assert_eq!(r.2["items"].as_array().unwrap().len(), 2);
    assert_eq!(r.2["items"][0]["id"], "lwm2m:d10");

    let r = a
        .call(Method::POST, "/api/v1/devices", Some(json!({"id": "tr069:00259E-CPE-1", "labels": {"site": "north"}})))
        .await;
    assert_eq!(r.0, StatusCode::CREATED);
    assert_eq!(r.2["presence"]["state"], "offline");
    assert_problem(
        &a.call(Method::POST, "/api/v1/devices", Some(json!({"id": "tr069:00259E-CPE-1"}))).await,
        StatusCode::CONFLICT,
        "conflict",
    );
    assert_field(&a.call(Method::POST, "/api/v1/devices", Some(json!({"id": "mqtt:x"}))).await, "id");
    assert_field(&a.call(Method::POST, "/api/v1/devices", Some(json!({"labels": {}}))).await, "id");

    let r = a.call(Method::GET, "/api/v1/devices?protocol=tr069", None).await;
    assert_eq!(r.2["total"], 1);
    let r = a.call(Method::GET, "/api/v1/devices?label=site%3Dnorth", None).await;
    assert_eq!(r.2["items"][0]["id"], "tr069:00259E-CPE-1");
    let r = a.call(Method::GET, "/api/v1/devices?online=true&manufacturer=Acme&model=M1", None).await;
    assert_eq!(r.2["total"], 12);
    assert_field(&a.call(Method::GET, "/api/v1/devices?protocol=mqtt", None).await, "protocol");
    assert_field(&a.call(Method::GET, "/api/v1/devices?limit=0", None).await, "limit");
    assert_field(&a.call(Method::GET, "/api/v1/devices?online=maybe", None).await, "online");
    assert_problem(
        &a.call(Method::GET, "/api/v1/devices?group=nope", None).await,
        StatusCode::NOT_FOUND,
        "group-not-found",
    );
}

#[tokio::test]
async fn one_device_labels_topology_and_delete() {
    let a = api().await;
    let gw = a.device("urn:imei:1", None).await;
    a.engine.handle(Protocol::Lwm2m).set_children(&gw, vec![DeviceId::lwm2m("child-1").unwrap()]).await.unwrap();

    let r = a.call(Method::GET, "/api/v1/devices/lwm2m:urn%3Aimei%3A1", None).await;
    assert_eq!(r.0, StatusCode::OK);
    assert_eq!(r.2["identity"]["manufacturer"], "Acme");
    assert_problem(
        &a.call(Method::GET, "/api/v1/devices/lwm2m:ghost", None).await,
        StatusCode::NOT_FOUND,
        "device-not-found",
    );
    assert_field(&a.call(Method::GET, "/api/v1/devices/ghost", None).await, "id");

    let r = a
        .call(Method::PUT, "/api/v1/devices/lwm2m:urn%3Aimei%3A1/labels", Some(json!({"labels": {"tier": "gold"}})))
        .await;
    assert_eq!(r.2["labels"]["tier"], "gold");
    assert_field(
        &a.call(Method::PUT, "/api/v1/devices/lwm2m:urn%3Aimei%3A1/labels", Some(json!({"labels": {"tier": 1}}))).await,
        "labels.tier",
    );

    let r = a.call(Method::GET, "/api/v1/devices/lwm2m:urn%3Aimei%3A1/topology", None).await;
    assert_eq!(r.2["children"], json!(["lwm2m:child-1"]));
    let r = a.call(Method::GET, "/api/v1/devices/lwm2m:child-1/topology", None).await;
    assert_eq!(r.2["parent"], "lwm2m:urn:imei:1");
    let r = a.call(Method::GET, "/api/v1/topology", None).await;
    assert_eq!(r.2["edges"][0], json!({"parent": "lwm2m:urn:imei:1", "child": "lwm2m:child-1"}));

    assert_eq!(a.call(Method::DELETE, "/api/v1/devices/lwm2m:child-1", None).await.0, StatusCode::NO_CONTENT);
    assert_problem(
        &a.call(Method::DELETE, "/api/v1/devices/lwm2m:child-1", None).await,
        StatusCode::NOT_FOUND,
        "device-not-found",
    );
}

#[tokio::test]
async fn management_actions_create_operations() {
    let a = api().await;
    a.device("d", None).await;
    let base = "/api/v1/devices/lwm2m:d";
    let cases = [
        ("reboot", None, "reboot"),
        ("factory-reset", Some(json!({"timeoutSeconds": 60})), "factoryReset"),
        ("firmware", Some(json!({"uri": "http://fw.example/2.0.bin", "version": "2.0"})), "firmware"),
        ("software", Some(json!({"action": "install", "uri": "http://sw.example/app.pkg"})), "software"),
        ("software", Some(json!({"action": "uninstall", "module": "3"})), "software"),
        ("diagnostics/ping", Some(json!({"host": "8.8.8.8", "count": 4})), "ping"),
        ("diagnostics/traceroute", Some(json!({"host": "example.org"})), "traceroute"),
        ("refresh", None, "refreshDeviceInfo"),
        ("native", Some(json!({"op": "read", "path": "/3/0/0"})), "native"),
        ("native", Some(json!({"op": "write", "path": "/1/0/1", "value": 300})), "native"),
        ("native", Some(json!({"op": "execute", "path": "/3/0/4", "args": "0='x'"})), "native"),
        ("native", Some(json!({"op": "observe", "path": "/3/0/9"})), "native"),
    ];
    let count = cases.len();
    for (path, body, kind) in cases {
        let r = a.call(Method::POST, &format!("{base}/{path}"), body.clone()).await;
        assert_eq!(r.0, StatusCode::ACCEPTED, "{path} {body:?}: {:?}", r.2);
        assert_eq!(r.2["action"]["kind"], kind);
        assert_eq!(r.2["state"], "pending");
    }
    let r = a.call(Method::GET, &format!("{base}/operations?limit=100"), None).await;
    assert_eq!(r.2["total"], count);
    // The operation is there the moment the answer comes back.
    let id = r.2["items"][0]["id"].as_u64().unwrap();
    assert_eq!(a.call(Method::GET, &format!("/api/v1/operations/{id}"), None).await.0, StatusCode::OK);
}

#[tokio::test]
async fn management_errors_name_the_field() {
    let a = api().await;
    a.device("d", Some(&[Function::Reboot, Function::Native])).await;
    let base = "/api/v1/devices/lwm2m:d";
    assert_field(&a.call(Method::POST, &format!("{base}/firmware"), Some(json!({"version": "2"}))).await, "uri");
    assert_field(&a.call(Method::POST, &format!("{base}/firmware"), Some(json!({"uri": 5}))).await, "uri");
    assert_field(
        &a.call(Method::POST, &format!("{base}/firmware"), Some(json!({"uri": "x", "colour": 1}))).await,
        "colour",
    );
    assert_field(&a.call(Method::POST, &format!("{base}/software"), Some(json!({"action": "install"}))).await, "uri");
    assert_field(
        &a.call(Method::POST, &format!("{base}/software"), Some(json!({"action": "explode"}))).await,
        "action",
    );
    assert_field(
        &a.call(Method::POST, &format!("{base}/native"), Some(json!({"op": "write", "path": "/1/0/1"}))).await,
        "value",
    );
    assert_field(
        &a.call(Method::POST, &format!("{base}/diagnostics/ping"), Some(json!({"host": "h", "count": 0}))).await,
        "count",
    );
    assert_field(
        &a.call(Method::POST, &format!("{base}/reboot"), Some(json!({"timeoutSeconds": 0}))).await,
        "timeoutSeconds",
    );
    let malformed = a
        .call_raw(Method::POST, &format!("{base}/firmware"), Some(("application/json", "{\"uri\": ".into())), None)
        .await;
    assert_problem(&malformed, StatusCode::BAD_REQUEST, "bad-request");
    let wrong_type =
        a.call_raw(Method::POST, &format!("{base}/firmware"), Some(("text/plain", "uri".into())), None).await;
    assert_problem(&wrong_type, StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported-media-type");
    let huge = format!("{{\"uri\": \"http://x/{}\"}}", "a".repeat(2 << 20));
    let r = a.call_raw(Method::POST, &format!("{base}/firmware"), Some(("application/json", huge)), None).await;
    assert_problem(&r, StatusCode::PAYLOAD_TOO_LARGE, "body-too-large");
    // The device told us what it supports: firmware is not among it.
    let r = a.call(Method::POST, &format!("{base}/firmware"), Some(json!({"uri": "http://fw/1.bin"}))).await;
    assert_problem(&r, StatusCode::UNPROCESSABLE_ENTITY, "function-not-supported");
    assert_problem(
        &a.call(Method::POST, "/api/v1/devices/lwm2m:ghost/reboot", None).await,
        StatusCode::NOT_FOUND,
        "device-not-found",
    );
}

/// `POST /operations/batch`: each request answered in place (created, or refused with the
/// field named by its position), the created ones listed; malformed or oversized batches are
/// refused whole.
#[tokio::test]
async fn a_batch_of_operations_is_answered_per_request() {
    let a = api().await;
    a.device("d", None).await;
    a.device("r", Some(&[Function::Reboot])).await;
    let batch = json!({"operations": [
        {"device": "lwm2m:d", "action": {"kind": "reboot"}},
        {"device": "lwm2m:ghost", "action": {"kind": "reboot"}},
        {"device": "lwm2m:r", "action": {"kind": "factoryReset"}},
        {"device": "lwm2m:d", "action": {"kind": "firmware", "uri": "relative"}},
        {"device": "lwm2m:d", "action": {"kind": "reboot"}, "timeoutSeconds": 0},
        {"device": "lwm2m:r", "action": {"kind": "reboot"}, "timeoutSeconds": 60},
    ]});
    let (status, _, r) = a.call(Method::POST, "/api/v1/operations/batch", Some(batch)).await;
    assert_eq!(status, StatusCode::OK, "{r}");
    assert_eq!((r["created"].as_u64(), r["refused"].as_u64()), (Some(2), Some(4)), "{r}");
    let items = r["items"].as_array().unwrap();
    assert_eq!(items.len(), 6);
    let problem = |i: usize| (items[i]["problem"]["status"].as_u64(), items[i]["problem"]["field"].as_str());
    assert_eq!(problem(1), (Some(404), Some("operations[1]")));
    assert_eq!(problem(2), (Some(422), Some("operations[2]")));
    assert_eq!(problem(3), (Some(400), Some("operations[3].action.uri")));
    assert_eq!(problem(4), (Some(400), Some("operations[4].timeoutSeconds")));
    for i in [0, 5] {
        assert_eq!(items[i]["state"], "pending", "{r}");
        let id = items[i]["id"].as_u64().unwrap();
        let (status, _, op) = a.call(Method::GET, &format!("/api/v1/operations/{id}"), None).await;
        assert_eq!((status, op["device"].as_str()), (StatusCode::OK, Some(if i == 0 { "lwm2m:d" } else { "lwm2m:r" })));
    }
    let r = a.call(Method::GET, "/api/v1/operations?state=pending", None).await;
    assert_eq!(r.2["total"], 2);

    assert_field(
        &a.call(Method::POST, "/api/v1/operations/batch", Some(json!({"operations": []}))).await,
        "operations",
    );
    let many: Vec<Value> = (0..1001).map(|_| json!({"device": "lwm2m:d", "action": {"kind": "reboot"}})).collect();
    assert_field(
        &a.call(Method::POST, "/api/v1/operations/batch", Some(json!({ "operations": many }))).await,
        "operations",
    );
    let (status, _, _) =
        a.call(Method::POST, "/api/v1/operations/batch", Some(json!({"operations": [{"device": "nope"}]}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let r = a.call(Method::GET, "/api/v1/operations", None).await;
    assert_eq!(r.2["total"], 2, "a refused batch creates nothing");
}

#[tokio::test]
async fn operations_create_list_get_cancel() {
    let a = api().await;
    a.device("d", None).await;
    let r = a.call(Method::POST, "/api/v1/operations", Some(json!({"device": "lwm2m:d", "action": {"kind": "reboot"}, "retry": {"maxAttempts": 5, "backoffMs": 100, "maxBackoffMs": 1000}}))).await;
    assert_eq!(r.0, StatusCode::ACCEPTED);
    assert_eq!(r.2["retry"]["maxAttempts"], 5);
    let id = r.2["id"].as_u64().unwrap();
    assert_field(
        &a.call(Method::POST, "/api/v1/operations", Some(json!({"device": "lwm2m:d", "action": {"kind": "firmware"}})))
            .await,
        "action.uri",
    );
    assert_field(
        &a.call(
            Method::POST,
            "/api/v1/operations",
            Some(json!({"device": "lwm2m:d", "action": {"kind": "firmware", "uri": ""}})),
        )
        .await,
        "action.uri",
    );
    assert_field(&a.call(Method::POST, "/api/v1/operations", Some(json!({"device": "lwm2m:d", "action": {"kind": "reboot"}, "retry": {"maxAttempts": 0, "backoffMs": 1, "maxBackoffMs": 1}}))).await, "retry.maxAttempts");

    let r = a.call(Method::GET, "/api/v1/operations?device=lwm2m%3Ad&state=pending", None).await;
    assert_eq!(r.2["total"], 1);
    assert_field(&a.call(Method::GET, "/api/v1/operations?state=sleepy", None).await, "state");
    let r = a.call(Method::POST, &format!("/api/v1/operations/{id}/cancel"), None).await;
    assert_eq!((r.0, r.2["state"].as_str()), (StatusCode::OK, Some("cancelled")));
    assert_problem(
        &a.call(Method::POST, &format!("/api/v1/operations/{id}/cancel"), None).await,
        StatusCode::CONFLICT,
        "conflict",
    );
    assert_problem(
        &a.call(Method::GET, "/api/v1/operations/424242", None).await,
        StatusCode::NOT_FOUND,
        "operation-not-found",
    );
    assert_field(&a.call(Method::GET, "/api/v1/operations/abc", None).await, "path");
    assert_problem(
        &a.call(Method::GET, "/api/v1/devices/lwm2m:ghost/operations", None).await,
        StatusCode::NOT_FOUND,
        "device-not-found",
    );
}

#[tokio::test]
async fn groups_and_group_operations() {
    let a = api().await;
    a.device("a", None).await;
    a.device("b", Some(&[Function::DeviceInfo])).await;
    let r =
        a.call(Method::POST, "/api/v1/groups", Some(json!({"id": "acme", "selector": {"manufacturer": "Acme"}}))).await;
    assert_eq!(r.0, StatusCode::CREATED);
    assert_problem(
        &a.call(Method::POST, "/api/v1/groups", Some(json!({"id": "acme"}))).await,
        StatusCode::CONFLICT,
        "conflict",
    );
    assert_field(&a.call(Method::POST, "/api/v1/groups", Some(json!({"id": "a b"}))).await, "id");
    assert_field(
        &a.call(Method::POST, "/api/v1/groups", Some(json!({"id": "g", "selector": {"colour": "red"}}))).await,
        "selector.colour",
    );
    assert_eq!(a.call(Method::GET, "/api/v1/groups", None).await.2.as_array().unwrap().len(), 1);
    assert_eq!(a.call(Method::GET, "/api/v1/groups/acme", None).await.2["selector"]["manufacturer"], "Acme");
    assert_eq!(a.call(Method::GET, "/api/v1/groups/acme/members", None).await.2, json!(["lwm2m:a", "lwm2m:b"]));
    let r = a.call(Method::GET, "/api/v1/devices?group=acme", None).await;
    assert_eq!(r.2["total"], 2);

    let r = a
        .call(
            Method::POST,
            "/api/v1/groups/acme/operations",
            Some(json!({"action": {"kind": "reboot"}, "concurrency": 1})),
        )
        .await;
    assert_eq!(r.0, StatusCode::ACCEPTED, "{:?}", r.2);
    assert_eq!(r.2["aggregate"]["total"], 2);
    assert_eq!(r.2["aggregate"]["counts"]["failed"], 1, "b does not support reboot");
    let gid = r.2["id"].as_u64().unwrap();
    assert_eq!(a.call(Method::GET, "/api/v1/groups/acme/operations", None).await.2[0]["id"], gid);
    let r = a.call(Method::GET, &format!("/api/v1/group-operations/{gid}"), None).await;
    assert_eq!(r.2["aggregate"]["results"].as_array().unwrap().len(), 2);
    let r = a.call(Method::GET, &format!("/api/v1/operations?groupOperation={gid}"), None).await;
    assert_eq!(r.2["total"], 2);
    let r = a.call(Method::POST, &format!("/api/v1/group-operations/{gid}/cancel"), None).await;
    assert_eq!(r.2["aggregate"]["done"], true);
    assert_eq!(r.2["cancelled"], true);
    assert_problem(
        &a.call(Method::GET, "/api/v1/group-operations/99999", None).await,
        StatusCode::NOT_FOUND,
        "group-operation-not-found",
    );
    assert_field(
        &a.call(
            Method::POST,
            "/api/v1/groups/acme/operations",
            Some(json!({"action": {"kind": "reboot"}, "concurrency": 0})),
        )
        .await,
        "concurrency",
    );

    let r = a.call(Method::PUT, "/api/v1/groups/acme", Some(json!({"members": ["lwm2m:a"]}))).await;
    assert_eq!(r.0, StatusCode::OK);
    assert_eq!(a.call(Method::GET, "/api/v1/groups/acme/members", None).await.2, json!(["lwm2m:a"]));
    a.call(Method::POST, "/api/v1/groups", Some(json!({"id": "empty"}))).await;
    assert_problem(
        &a.call(Method::POST, "/api/v1/groups/empty/operations", Some(json!({"action": {"kind": "reboot"}}))).await,
        StatusCode::CONFLICT,
        "conflict",
    );
    assert_eq!(a.call(Method::DELETE, "/api/v1/groups/acme", None).await.0, StatusCode::NO_CONTENT);
    assert_problem(&a.call(Method::GET, "/api/v1/groups/acme", None).await, StatusCode::NOT_FOUND, "group-not-found");
    assert_problem(
        &a.call(Method::PUT, "/api/v1/groups/acme", Some(json!({}))).await,
        StatusCode::NOT_FOUND,
        "group-not-found",
    );
}

#[tokio::test]
async fn rules_crud() {
    let a = api().await;
    let rule = json!({"id": "fw", "selector": {"model": "M1"}, "triggers": ["firstContact", "boot"],
        "actions": [{"kind": "firmware", "uri": "http://fw/2.bin", "version": "2"}]});
    let r = a.call(Method::POST, "/api/v1/rules", Some(rule.clone())).await;
    assert_eq!(r.0, StatusCode::CREATED, "{:?}", r.2);
    assert_eq!(r.2["enabled"], true);
    assert_problem(&a.call(Method::POST, "/api/v1/rules", Some(rule)).await, StatusCode::CONFLICT, "conflict");
    assert_field(
        &a.call(
            Method::POST,
            "/api/v1/rules",
            Some(json!({"id": "x", "triggers": [], "actions": [{"kind": "reboot"}]})),
        )
        .await,
        "triggers",
    );
    assert_field(
        &a.call(
            Method::POST,
            "/api/v1/rules",
            Some(json!({"id": "x", "triggers": ["boot"], "actions": [{"kind": "firmware", "uri": "nope"}]})),
        )
        .await,
        "actions[0].uri",
    );
    assert_field(
        &a.call(Method::POST, "/api/v1/rules", Some(json!({"id": "x", "triggers": ["sunrise"], "actions": []}))).await,
        "triggers[0]",
    );
    assert_eq!(a.call(Method::GET, "/api/v1/rules", None).await.2.as_array().unwrap().len(), 1);
    let r = a
        .call(
            Method::PUT,
            "/api/v1/rules/fw",
            Some(json!({"triggers": ["boot"], "actions": [{"kind": "reboot"}], "enabled": false})),
        )
        .await;
    assert_eq!((r.0, r.2["enabled"].as_bool()), (StatusCode::OK, Some(false)));
    assert_eq!(a.call(Method::GET, "/api/v1/rules/fw", None).await.2["triggers"], json!(["boot"]));

    // A matching device's first contact runs the rule's actions.
    a.call(
        Method::PUT,
        "/api/v1/rules/fw",
        Some(json!({"selector": {"model": "M1"}, "triggers": ["firstContact"], "actions": [{"kind": "reboot"}]})),
    )
    .await;
    a.device("new", None).await;
    let r = a.call(Method::GET, "/api/v1/operations?device=lwm2m%3Anew", None).await;
    assert_eq!(r.2["items"][0]["rule"], "fw");

    assert_eq!(a.call(Method::DELETE, "/api/v1/rules/fw", None).await.0, StatusCode::NO_CONTENT);
    assert_problem(&a.call(Method::GET, "/api/v1/rules/fw", None).await, StatusCode::NOT_FOUND, "rule-not-found");
}

#[tokio::test]
async fn events_stream_as_sse() {
    let a = api().await;
    let req = Request::get("/api/v1/events?types=deviceRegistered").body(Body::empty()).unwrap();
    let res = a.router.clone().oneshot(req).await.unwrap();
    assert_eq!(res.headers()[header::CONTENT_TYPE], "text/event-stream");
    let mut body = res.into_body();
    a.device("sse", None).await;
    let frame = tokio::time::timeout(std::time::Duration::from_secs(5), body.frame()).await.unwrap().unwrap().unwrap();
    let text = String::from_utf8(frame.into_data().unwrap().to_vec()).unwrap();
    assert!(text.starts_with("event: deviceRegistered\ndata: {"), "{text}");
    assert!(text.contains("\"id\":\"lwm2m:sse\""), "{text}");
    assert_field(&a.call(Method::GET, "/api/v1/events?device=nope", None).await, "id");
}

#[tokio::test]
async fn auth_loopback_only_without_token() {
    let remote = api_with(None, ([192, 0, 2, 7], 5555)).await;
    assert_problem(&remote.call(Method::GET, "/api/v1/devices", None).await, StatusCode::FORBIDDEN, "forbidden");
    assert_problem(&remote.call(Method::GET, "/metrics", None).await, StatusCode::FORBIDDEN, "forbidden");
    let local = api().await;
    assert_eq!(local.call(Method::GET, "/api/v1/devices", None).await.0, StatusCode::OK);
}

#[tokio::test]
async fn auth_bearer_token() {
    let a = api_with(Some("s3cret"), ([192, 0, 2, 7], 5555)).await;
    assert_problem(&a.call(Method::GET, "/api/v1/devices", None).await, StatusCode::UNAUTHORIZED, "unauthorized");
    let wrong = a.call_raw(Method::GET, "/api/v1/devices", None, Some("Bearer nope")).await;
    assert_problem(&wrong, StatusCode::UNAUTHORIZED, "unauthorized");
    let basic = a.call_raw(Method::GET, "/api/v1/devices", None, Some("Basic czNjcmV0")).await;
    assert_problem(&basic, StatusCode::UNAUTHORIZED, "unauthorized");
    let ok = a.call_raw(Method::GET, "/api/v1/devices", None, Some("Bearer s3cret")).await;
    assert_eq!(ok.0, StatusCode::OK);
    // A token is required from loopback clients too once configured.
    let local = api_with(Some("s3cret"), LOOPBACK).await;
    assert_eq!(local.call(Method::GET, "/api/v1/devices", None).await.0, StatusCode::UNAUTHORIZED);
}

/// Every route the server answers is in the OpenAPI document, and every path in the document is
/// routed (none falls through to the `no-such-route` fallback or a 405).
#[tokio::test]
async fn openapi_lists_every_route() {
    let a = api().await;
    let (status, _, doc) = a.call(Method::GET, "/api/v1/openapi.json", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc["paths"].as_object().unwrap();
    let expected = [
        ("get", "/api/v1/devices"),
        ("post", "/api/v1/devices"),
        ("get", "/api/v1/devices/{id}"),
        ("delete", "/api/v1/devices/{id}"),
        ("put", "/api/v1/devices/{id}/labels"),
        ("get", "/api/v1/devices/{id}/credentials"),
        ("put", "/api/v1/devices/{id}/credentials"),
        ("delete", "/api/v1/devices/{id}/credentials"),
        ("get", "/api/v1/tokens"),
        ("post", "/api/v1/tokens"),
        ("delete", "/api/v1/tokens/{name}"),
        ("get", "/api/v1/audit"),
        ("get", "/api/v1/devices/{id}/topology"),
        ("get", "/api/v1/devices/{id}/operations"),
        ("post", "/api/v1/devices/{id}/reboot"),
        ("post", "/api/v1/devices/{id}/factory-reset"),
        ("post", "/api/v1/devices/{id}/firmware"),
        ("post", "/api/v1/devices/{id}/software"),
        ("post", "/api/v1/devices/{id}/diagnostics/ping"),
        ("post", "/api/v1/devices/{id}/diagnostics/traceroute"),
        ("post", "/api/v1/devices/{id}/refresh"),
        ("post", "/api/v1/devices/{id}/native"),
        ("get", "/api/v1/operations"),
        ("post", "/api/v1/operations"),
        ("post", "/api/v1/operations/batch"),
        ("get", "/api/v1/operations/{id}"),
        ("post", "/api/v1/operations/{id}/cancel"),
        ("get", "/api/v1/groups"),
        ("post", "/api/v1/groups"),
        ("get", "/api/v1/groups/{id}"),
        ("put", "/api/v1/groups/{id}"),
        ("delete", "/api/v1/groups/{id}"),
        ("get", "/api/v1/groups/{id}/members"),
        ("get", "/api/v1/groups/{id}/operations"),
        ("post", "/api/v1/groups/{id}/operations"),
        ("get", "/api/v1/group-operations/{id}"),
        ("post", "/api/v1/group-operations/{id}/cancel"),
        ("get", "/api/v1/rules"),
        ("post", "/api/v1/rules"),
        ("get", "/api/v1/rules/{id}"),
        ("put", "/api/v1/rules/{id}"),
        ("delete", "/api/v1/rules/{id}"),
        ("get", "/api/v1/topology"),
        ("get", "/api/v1/events"),
        ("get", "/api/v1/openapi.json"),
        ("get", "/api/v1/files"),
        ("post", "/api/v1/files"),
        ("delete", "/api/v1/files/{name}"),
        ("get", "/api/v1/lwm2m/bootstrap"),
        ("get", "/api/v1/lwm2m/registrations/{endpoint}"),
        ("get", "/api/v1/lwm2m/northbound"),
        ("put", "/api/v1/lwm2m/northbound"),
        ("delete", "/api/v1/lwm2m/northbound"),
        ("get", "/api/v1/lwm2m/bootstrap/{endpoint}"),
        ("put", "/api/v1/lwm2m/bootstrap/{endpoint}"),
        ("delete", "/api/v1/lwm2m/bootstrap/{endpoint}"),
        ("get", "/api/v1/omadm/clients/{devId}"),
        ("put", "/api/v1/omadm/clients/{devId}/push"),
        ("delete", "/api/v1/omadm/clients/{devId}/push"),
        ("put", "/api/v1/omadm/clients/{devId}/credentials"),
        ("delete", "/api/v1/omadm/clients/{devId}/credentials"),
        ("post", "/api/v1/omadm/clients/{devId}/package0"),
        ("get", "/api/v1/conformance-runs"),
        ("post", "/api/v1/conformance-runs"),
        ("get", "/api/v1/conformance-runs/{id}"),
        ("delete", "/api/v1/conformance-runs/{id}"),
        ("get", "/api/v1/conformance-runs/{id}/report"),
        ("get", "/api/v1/conformance/catalogues/{protocol}"),
        ("get", "/api/v1/onem2m"),
    ];
    let mut listed = 0;
    for (path, item) in paths {
        for method in item.as_object().unwrap().keys() {
            listed += 1;
            assert!(expected.contains(&(method.as_str(), path.as_str())), "unexpected {method} {path} in the document");
            if path == "/api/v1/events" {
                continue; // an endless stream; covered by its own test
            }
            let uri = path.replace("{id}", "1");
            let m = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let r = a.call(m, &uri, Some(json!({}))).await;
            assert_ne!(r.0, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
            assert_ne!(r.2["type"], "urn:unidm:problem:no-such-route", "{method} {path} is documented but not routed");
        }
    }
    assert_eq!(listed, expected.len(), "the document lists every route");
    assert_problem(&a.call(Method::GET, "/api/v1/nothing-here", None).await, StatusCode::NOT_FOUND, "no-such-route");
}

#[tokio::test]
async fn metrics_in_prometheus_text() {
    let a = api().await;
    a.device("m", None).await;
    a.call(Method::POST, "/api/v1/devices/lwm2m:m/reboot", None).await;
    let (status, ct, body) = a.call(Method::GET, "/metrics", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(ct.starts_with("text/plain"));
    let text = body.as_str().unwrap();
    assert!(text.contains("unidm_devices{presence=\"online\"} 1"), "{text}");
    assert!(text.contains("unidm_operations_active{state=\"pending\"} 1"), "{text}");
    // The device and the operation were stored: two writes at least, in one commit at least.
    let counter = |name: &str| -> u64 {
        let line =
            text.lines().find(|l| l.starts_with(&format!("{name} "))).unwrap_or_else(|| panic!("{name}: {text}"));
        line.split_whitespace().nth(1).unwrap().parse::<f64>().unwrap() as u64
    };
    assert!(counter("unidm_store_writes_total") >= 2, "{text}");
    assert!((1..=counter("unidm_store_writes_total")).contains(&counter("unidm_store_commits_total")), "{text}");
    assert!(text.contains("unidm_store_commit_seconds_total "), "{text}");
    assert!(
        text.contains(
            "unidm_http_requests_total{method=\"POST\",route=\"/api/v1/devices/{id}/reboot\",status=\"202\"} 1"
        ),
        "{text}"
    );
}
