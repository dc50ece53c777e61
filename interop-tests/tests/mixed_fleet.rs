//! One API over heterogeneous devices (MGR-004, MGR-005): a LwM2M client and a TR-069 CPE are
//! put in one group by label and rebooted by one group operation; the aggregate reports both.
//! A LwM2M client, a TR-069 CPE and an OMA DM client take one group firmware operation, each
//! through its own protocol (LwM2M /5 pull, CWMP Download + TransferComplete, FUMO Exec + Generic
//! Alert 1226), and each one's `snapshot.firmware` ends `succeeded` with the version.

mod common;

use common::{device_path, Stack};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_group_operation_reboots_both_protocols() {
    let s = Stack::start().await;
    let lw =
        unidm_lwm2m::sim::SimClient::start(unidm_lwm2m::sim::SimConfig::new("lamp-1", s.lwm2m_addr())).await.unwrap();
    lw.register().await.unwrap();
    let tree = unidm_tr069::sim::ParameterTree::tr181("00259E", "HGW", "CPE-1");
    let cpe = unidm_tr069::sim::SimCpe::start(unidm_tr069::sim::SimConfig::new(s.acs.acs_url().unwrap(), tree))
        .await
        .unwrap();

    let ids = ["lwm2m:lamp-1", "tr069:00259E-HGW-CPE%2D1"];
    for id in ids {
        s.device_when(id, |d| d["presence"]["state"] == "online").await;
        s.put(&format!("{}/labels", device_path(id)), json!({"labels": {"site": "depot"}})).await;
    }
    s.post("/groups", json!({"id": "depot", "selector": {"labels": {"site": "depot"}}})).await;
    assert_eq!(s.get("/groups/depot/members").await, json!(ids));

    let gop = s.post("/groups/depot/operations", json!({"action": {"kind": "reboot"}, "concurrency": 1})).await;
    assert_eq!(gop["aggregate"]["total"], 2);
    let view = s.get_when(&format!("/group-operations/{}", gop["id"]), |v| v["aggregate"]["done"] == true).await;
    assert_eq!(view["aggregate"]["counts"]["succeeded"], 2, "{view}");
    assert!(lw.reboots() >= 1);
    assert!(cpe.stats().reboots >= 1);
    cpe.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_group_firmware_operation_over_lwm2m_tr069_and_oma_dm() {
    let s = Stack::start().await;
    let lw =
        unidm_lwm2m::sim::SimClient::start(unidm_lwm2m::sim::SimConfig::new("meter-7", s.lwm2m_addr())).await.unwrap();
    lw.register().await.unwrap();
    let tree = unidm_tr069::sim::ParameterTree::tr181("00259E", "HGW", "FW7");
    let cpe = unidm_tr069::sim::SimCpe::start(unidm_tr069::sim::SimConfig::new(s.acs.acs_url().unwrap(), tree))
        .await
        .unwrap();
    // The DM client: a first session makes it known; Package #0 over UDP brings it back when an
    // operation is queued, and a periodic session reports the FUMO result (Generic Alert 1226).
    let dm = s.dm_client("IMEI:490154203237518");
    dm.run().await.unwrap();
    let (push, _listener) = dm.listen_package0("127.0.0.1:0".parse().unwrap()).await.unwrap();
    s.omadm.set_push_address("IMEI:490154203237518", push).await;
    let _periodic = dm.spawn_periodic(std::time::Duration::from_millis(300));

    let ids = ["lwm2m:meter-7", "omadm:IMEI:490154203237518", "tr069:00259E-HGW-FW7"];
    for id in ids {
        s.device_when(id, |d| d["presence"]["state"] == "online").await;
        s.put(&format!("{}/labels", device_path(id)), json!({"labels": {"fleet": "fw"}})).await;
    }
    s.post("/groups", json!({"id": "fw", "selector": {"labels": {"fleet": "fw"}}})).await;
    assert_eq!(s.get("/groups/fw/members").await, json!(ids));

    let action = json!({"kind": "firmware", "uri": "http://127.0.0.1:9/fw-5.1.bin", "version": "5.1"});
    let gop = s.post("/groups/fw/operations", json!({"action": action})).await;
    assert_eq!(gop["aggregate"]["total"], 3);
    let view = s.get_when(&format!("/group-operations/{}", gop["id"]), |v| v["aggregate"]["done"] == true).await;
    assert_eq!(view["aggregate"]["counts"]["succeeded"], 3, "{view}");
    for id in ids {
        let d = s.device_when(id, |d| d["snapshot"]["firmware"]["state"] == "succeeded").await;
        assert_eq!(d["snapshot"]["firmware"]["version"], "5.1", "{id}: {d}");
    }
    assert_eq!(dm.node("./FUMO/DownloadAndUpdate/PkgURL").as_deref(), Some("http://127.0.0.1:9/fw-5.1.bin"));
    cpe.stop();
}
