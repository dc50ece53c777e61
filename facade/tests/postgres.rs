//! `unidm serve --db postgres://...` end to end through the protocols: an LwM2M client and a
//! TR-069 CPE managed on a PostgreSQL store, and the LwM2M registration still known after a
//! restart (its record read back from PostgreSQL). Skipped with a notice without PostgreSQL,
//! unless `UNIDM_REQUIRE_POSTGRES=1`.

mod common;

use serde_json::{json, Value};
use unidm_lwm2m::sim::{SimClient, SimConfig};
use unidm_testkit::postgres::TempPostgres;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn devices_of_two_protocols_are_managed_on_postgres_and_a_registration_survives_a_restart() {
    let Some(pg) = TempPostgres::start() else { return };
    let url = pg.create_database("unidm");
    let lwm2m = common::free_udp_addr();
    let server = common::serve_on(tempfile::tempdir().unwrap(), "", &lwm2m, &url);
    let lamp = SimClient::start(SimConfig::new("pg-lamp", lwm2m.parse().unwrap())).await.unwrap();
    lamp.register().await.unwrap();
    let tree = unidm_tr069::sim::ParameterTree::tr181("00D09E", "PGGW", "PG1");
    let _cpe =
        unidm_tr069::sim::SimCpe::start(unidm_tr069::sim::SimConfig::new(server.acs.clone(), tree)).await.unwrap();
    common::wait_api(&server.api, "/devices/lwm2m:pg-lamp", |d| d["presence"]["state"] == "online").await;
    common::wait_api(&server.api, "/devices/tr069:00D09E-PGGW-PG1", |_| true).await;

    let read = common::native(&server.api, "lwm2m:pg-lamp", json!({"op": "read", "path": "/3/0/0"})).await;
    assert_eq!(read["state"], "succeeded", "{read}");
    let gpv = common::native(
        &server.api,
        "tr069:00D09E-PGGW-PG1",
        json!({"op": "read", "path": "Device.DeviceInfo.Manufacturer"}),
    )
    .await;
    assert_eq!(gpv["state"], "succeeded", "{gpv}");
    // Stored in PostgreSQL: the rows are there.
    let rows = pg.psql("unidm", "SELECT count(*) FROM devices WHERE record IS NOT NULL AND id = 'lwm2m:pg-lamp'");
    assert_eq!(rows.trim(), "1", "the registration's record is in the device's row");
    let dir = server.stop();

    // Restarted on the same database and port: the client's update is known (2.04), not
    // refused as an unknown registration, and the device is managed again.
    let server = common::serve_on(dir, "", &lwm2m, &url);
    lamp.update().await.expect("the registration is known after the restart");
    let read = common::native(&server.api, "lwm2m:pg-lamp", json!({"op": "read", "path": "/3/0/0"})).await;
    assert_eq!(read["state"], "succeeded", "{read}");
    let ops: Value =
        reqwest::get(format!("{}/devices/lwm2m:pg-lamp/operations", server.api)).await.unwrap().json().await.unwrap();
    assert_eq!(ops["total"], 2, "the read before the restart is there too: {ops}");
    server.stop();
}
