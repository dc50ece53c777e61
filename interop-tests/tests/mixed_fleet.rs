//! One API over heterogeneous devices (MGR-004, MGR-005): a LwM2M client and a TR-069 CPE are
//! put in one group by label and rebooted by one group operation; the aggregate reports both.

use serde_json::json;
use unidm_interop::{device_path, Stack};

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
