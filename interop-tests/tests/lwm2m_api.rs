//! LwM2M through the HTTP API: a simulated client registers over UDP, appears as a device with
//! its identity read from /3, and is managed through `/api/v1`: native read and write, observe
//! (notifications arrive as SSE-able events), firmware update, reboot, deregistration.

mod common;

use common::{device_path, Stack, WAIT};
use serde_json::json;
use unidm_core::Received;
use unidm_lwm2m::sim::{SimClient, SimConfig};
use unidm_lwm2m::Path;
use unidm_models::Event;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_is_managed_through_the_api() {
    let s = Stack::start().await;
    let mut config = SimConfig::new("urn:imei:490154203237518", s.lwm2m_addr());
    config.manufacturer = "Acme".into();
    config.firmware.new_version = "2.0".into();
    let client = SimClient::start(config).await.unwrap();
    client.register().await.unwrap();

    let id = "lwm2m:urn:imei:490154203237518";
    let dev = device_path(id);
    let device = s.device_when(id, |d| d["identity"]["manufacturer"] == "Acme").await;
    assert_eq!(device["presence"]["state"], "online");
    assert!(device["capabilities"].as_array().unwrap().contains(&json!("firmware")));

    // Its registration: the objects and instances it reported (the console's tree), and 404
    // for an endpoint that is not registered.
    let reg = s.get("/lwm2m/registrations/urn:imei:490154203237518").await;
    assert_eq!((reg["endpoint"].as_str(), reg["binding"].as_str()), (Some("urn:imei:490154203237518"), Some("U")));
    let paths: Vec<&str> = reg["objects"].as_array().unwrap().iter().filter_map(|o| o["path"].as_str()).collect();
    assert!(paths.contains(&"/3/0") && paths.contains(&"/5/0"), "{reg}");
    assert!(reg.get("id").is_none(), "the registration id is a CoAP peer's credential: {reg}");
    let missing = s.http.get(format!("{}/lwm2m/registrations/nobody", s.api)).send().await.unwrap();
    assert_eq!(missing.status(), 404);

    // Found by part of its id and by its firmware version, not by another.
    let found = s.get("/devices?search=490154203&version=1.0").await;
    assert_eq!(found["total"], 1, "{found}");
    assert_eq!(s.get("/devices?search=490154203&version=9.9").await["total"], 0);

    // Native read and write (Lifetime of the server object).
    let op = s.post(&format!("{dev}/native"), json!({"op": "read", "path": "/3/0/0"})).await;
    let done = s.finished(&op).await;
    assert_eq!(done["state"], "succeeded", "{done}");
    assert!(done["result"].to_string().contains("Acme"), "{done}");
    let op = s.post(&format!("{dev}/native"), json!({"op": "write", "path": "/1/0/1", "value": 120})).await;
    assert_eq!(s.finished(&op).await["state"], "succeeded");

    // Observe: a change on the device arrives as an observation event.
    let mut events = s.engine.subscribe();
    let op = s.post(&format!("{dev}/native"), json!({"op": "observe", "path": "/3/0/9"})).await;
    assert_eq!(s.finished(&op).await["state"], "succeeded");
    client.set(Path::Resource(3, 0, 9), unidm_lwm2m::codec::Value::Integer(42));
    let seen = tokio::time::timeout(WAIT, async {
        loop {
            if let Some(Received::Event(Event::Observation { path, value, .. })) = events.recv().await {
                if path.contains("3/0/9") {
                    return value;
                }
            }
        }
    })
    .await
    .expect("a notification");
    assert!(seen.to_string().contains("42"), "{seen}");

    // Firmware update (pull): write URI, wait for Downloaded, execute Update, read the result.
    let op =
        s.post(&format!("{dev}/firmware"), json!({"uri": "coap://files.example/fw-2.0.bin", "version": "2.0"})).await;
    let done = s.finished(&op).await;
    assert_eq!(done["state"], "succeeded", "{done}");
    let device = s.device_when(id, |d| d["snapshot"]["firmware"]["state"] == "succeeded").await;
    assert_eq!(device["snapshot"]["firmware"]["state"], "succeeded");

    // Reboot, then deregistration makes the device offline.
    let op = s.post(&format!("{dev}/reboot"), json!({})).await;
    assert_eq!(s.finished(&op).await["state"], "succeeded");
    assert!(client.reboots() >= 1);
    client.deregister().await.unwrap();
    s.device_when(id, |d| d["presence"]["state"] == "offline").await;
}
