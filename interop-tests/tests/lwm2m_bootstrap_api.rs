//! LwM2M bootstrap configured through the HTTP API: a configuration PUT under
//! `/api/v1/lwm2m/bootstrap/{endpoint}` is what a simulated client receives when it bootstraps,
//! after which it registers with the server account it was given.

mod common;

use common::Stack;
use serde_json::json;
use unidm_lwm2m::sim::{SimClient, SimConfig};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bootstrap_configured_through_the_api() {
    let s = Stack::start().await;
    let server = format!("coap://{}", s.lwm2m_addr());
    let cfg = json!({"servers": [{"shortServerId": 7, "uri": server, "security": {"mode": "noSec"}, "lifetime": 300}]});

    // Invalid configurations are refused naming the field.
    let bad = json!({"servers": [{"shortServerId": 0, "uri": server, "security": {"mode": "noSec"}}]});
    let r = s.http.put(format!("{}/lwm2m/bootstrap/bs-api", s.api)).json(&bad).send().await.unwrap();
    assert_eq!(r.status(), 400);
    let p: serde_json::Value = r.json().await.unwrap();
    assert!(p["field"].as_str().unwrap().contains("shortServerId"), "{p}");

    s.put("/lwm2m/bootstrap/bs-api", cfg.clone()).await;
    assert_eq!(s.get("/lwm2m/bootstrap/bs-api").await["servers"][0]["shortServerId"], 7);
    assert_eq!(s.get("/lwm2m/bootstrap").await[0]["endpoint"], "bs-api");

    let nowhere = std::net::SocketAddr::from(([127, 0, 0, 1], 9));
    let sim = SimClient::start(SimConfig::new("bs-api", nowhere)).await.unwrap();
    sim.bootstrap(s.lwm2m.bootstrap_addr().expect("bootstrap server")).await.unwrap();
    assert_eq!(sim.server(), s.lwm2m_addr(), "the client was given our server");
    sim.register().await.unwrap();
    s.device_when("lwm2m:bs-api", |d| d["presence"]["state"] == "online").await;

    let r = s.http.delete(format!("{}/lwm2m/bootstrap/bs-api", s.api)).send().await.unwrap();
    assert_eq!(r.status(), 204);
    let r = s.http.get(format!("{}/lwm2m/bootstrap/bs-api", s.api)).send().await.unwrap();
    assert_eq!(r.status(), 404);
}
