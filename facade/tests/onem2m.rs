//! unidm mirroring its devices into a real oneM2M CSE, the ACME CSE (PyPI `acmecse`, started
//! here headless with an in-memory store on a free port), and managed from it by another
//! oneM2M originator. Needs `acmecse` on the PATH (or `UNIDM_ACMECSE`); skipped with a notice
//! otherwise, unless `UNIDM_REQUIRE_ACMECSE=1`.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use unidm_lwm2m::sim::{SimClient, SimConfig};

struct Acme {
    child: Child,
    base: String,
    _dir: tempfile::TempDir,
}

impl Drop for Acme {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn acme_binary() -> Option<String> {
    if let Ok(path) = std::env::var("UNIDM_ACMECSE") {
        return Some(path);
    }
    let found = Command::new("sh").args(["-c", "command -v acmecse"]).output().ok()?;
    if found.status.success() {
        return Some(String::from_utf8_lossy(&found.stdout).trim().to_owned());
    }
    let required = std::env::var("UNIDM_REQUIRE_ACMECSE").is_ok_and(|v| v == "1");
    assert!(!required, "acmecse is required (UNIDM_REQUIRE_ACMECSE=1) but not installed");
    eprintln!("notice: acmecse not installed (pip install acmecse); the oneM2M tests are skipped");
    None
}

/// ACME on a free port. The port is found by binding and releasing it, so another process may
/// take it before ACME binds it: ACME is then started again on another port.
async fn start_acme() -> Option<Acme> {
    let binary = acme_binary()?;
    let mut failures = Vec::new();
    for _ in 0..3 {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        match launch(&binary, port, Duration::from_secs(20)).await {
            Ok(acme) => return Some(acme),
            Err(log) => failures.push(format!("port {port}: {log}")),
        }
    }
    panic!("ACME did not start: {failures:#?}");
}

/// ACME on `port`, with an empty in-memory store (a restart on the same port loses everything).
async fn start_acme_on(port: u16) -> Option<Acme> {
    let binary = acme_binary()?;
    Some(launch(&binary, port, Duration::from_secs(30)).await.unwrap_or_else(|log| panic!("ACME did not start: {log}")))
}

/// ACME started on `port` and answering within `wait`, or its log.
async fn launch(binary: &str, port: u16, wait: Duration) -> Result<Acme, String> {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("acme.ini"),
        format!(
            "[basic.config]\ncseType=IN\ncseID=id-in\ncseName=cse-in\nadminID=CAdmin\ndataDirectory=${{baseDirectory}}\n\
             networkInterface=127.0.0.1\ncseHost=127.0.0.1\nhttpPort={port}\ndatabaseType=memory\nlogLevel=warn\nconsoleTheme=dark\n"
        ),
    )
    .unwrap();
    let log = std::fs::File::create(dir.path().join("acme.log")).unwrap();
    let child = Command::new(binary)
        .args([
            "--headless",
            "--db-type",
            "memory",
            "--http-port",
            &port.to_string(),
            "--no-coap",
            "--no-mqtt",
            "--no-ws",
        ])
        .args(["--no-remote-cse", "--base-directory"])
        .arg(dir.path())
        .current_dir(dir.path())
        // Its errors reach the log before it is killed.
        .env("PYTHONUNBUFFERED", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::from(log.try_clone().unwrap()))
        .stderr(Stdio::from(log))
        .spawn()
        .expect("start acmecse");
    let mut acme = Acme { child, base: format!("http://127.0.0.1:{port}"), _dir: dir };
    let deadline = Instant::now() + wait;
    loop {
        if cse(&acme, "GET", "", "CAdmin", None).await.0 == 2000 {
            return Ok(acme);
        }
        let exited = acme.child.try_wait().ok().flatten();
        if exited.is_some() || Instant::now() > deadline {
            let log = std::fs::read_to_string(acme._dir.path().join("acme.log")).unwrap_or_default();
            return Err(format!("{} {log}", exited.map_or("not answering".to_owned(), |s| s.to_string())));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// One request to the CSE as `origin`: the RSC and the body.
async fn cse(acme: &Acme, method: &str, path: &str, origin: &str, body: Option<(u16, Value)>) -> (u32, Value) {
    let url = match path.trim_matches('/') {
        "" => format!("{}/~/id-in/cse-in", acme.base),
        p if p.starts_with('?') => format!("{}/~/id-in/cse-in{p}", acme.base),
        p => format!("{}/~/id-in/cse-in/{p}", acme.base),
    };
    let http = reqwest::Client::new();
    let mut r = match method {
        "GET" => http.get(url),
        "PUT" => http.put(url),
        "POST" => http.post(url),
        _ => http.delete(url),
    }
    .header("X-M2M-Origin", origin)
    .header("X-M2M-RI", "test")
    .header("X-M2M-RVI", "3")
    .header("Accept", "application/json");
    if let Some((ty, body)) = body {
        let ct = if ty == 0 { "application/json".to_owned() } else { format!("application/json;ty={ty}") };
        r = r.header("Content-Type", ct).body(body.to_string());
    }
    let Ok(response) = r.send().await else { return (0, Value::Null) };
    let rsc =
        response.headers().get("X-M2M-RSC").and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok()).unwrap_or(0);
    (rsc, response.json().await.unwrap_or(Value::Null))
}

async fn until(acme: &Acme, path: &str, what: &str, ready: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (rsc, body) = cse(acme, "GET", path, "CAdmin", None).await;
        if rsc == 2000 && ready(&body) {
            return body;
        }
        assert!(Instant::now() < deadline, "{what}: {rsc} {body}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Waits until unidm manages the mgmtObj at `path`: another originator (`Cmanager`) may read
/// it, which unidm allows once its subscription is in place.
async fn managed(acme: &Acme, path: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (rsc, body) = cse(acme, "GET", path, "Cmanager", None).await;
        if rsc == 2000 {
            return;
        }
        assert!(Instant::now() < deadline, "{path} not open to Cmanager: {rsc} {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn devices_appear_in_the_cse_and_are_managed_from_it() {
    let Some(acme) = start_acme().await else { return };
    let server = common::serve(&format!("[onem2m]\ncse = \"{}\"\nmin_update_interval_s = 1\n", acme.base));

    // A LwM2M client and a CPE become <node>s with their mgmtObjs and current attributes.
    let mut config = SimConfig::new("m2m-sensor", server.lwm2m.parse().unwrap());
    config.version = "1.1".into();
    let _sensor = SimClient::start(config).await.unwrap();
    _sensor.register().await.unwrap();
    let mut failing = SimConfig::new("m2m-broken", server.lwm2m.parse().unwrap());
    failing.firmware.update_result = 8;
    let _broken = SimClient::start(failing).await.unwrap();
    _broken.register().await.unwrap();
    let mut gateway = SimConfig::new("m2m-gw", server.lwm2m.parse().unwrap());
    gateway.version = "1.1".into();
    gateway.gateway_children = 2;
    let _gateway = SimClient::start(gateway).await.unwrap();
    _gateway.register().await.unwrap();
    let tree = unidm_tr069::sim::ParameterTree::tr181("00D09E", "M2MGW", "M2M1");
    let _cpe =
        unidm_tr069::sim::SimCpe::start(unidm_tr069::sim::SimConfig::new(server.acs.clone(), tree)).await.unwrap();

    let dvi =
        until(&acme, "lwm2m_m2m-sensor/deviceInfo", "the sensor's deviceInfo", |b| b["m2m:dvi"]["man"] == "unidm sim")
            .await;
    assert_eq!(dvi["m2m:dvi"]["mgd"], 1007);
    assert_eq!(dvi["m2m:dvi"]["ptl"], json!(["LWM2M"]));
    let capability = until(&acme, "lwm2m_m2m-sensor/capability-firmware", "a deviceCapability", |_| true).await;
    assert_eq!(
        (capability["m2m:dvc"]["mgd"].as_u64(), capability["m2m:dvc"]["can"].as_str()),
        (Some(1008), Some("firmware"))
    );
    let node = until(&acme, "lwm2m_m2m-sensor", "the sensor's node", |_| true).await;
    assert_eq!(node["m2m:nod"]["ni"], "lwm2m:m2m-sensor");
    until(&acme, "tr069_00D09E-M2MGW-M2M1/firmware", "the CPE's firmware mgmtObj", |b| b["m2m:fwr"]["mgd"] == 1001)
        .await;
    // A gateway's area network lists its end devices, each linked back to it.
    let ani = until(&acme, "lwm2m_m2m-gw/areaNwkInfo", "the gateway's areaNwkInfo", |b| {
        b["m2m:ani"]["ldv"].as_array().is_some_and(|l| l.len() == 2)
    })
    .await;
    let first = ani["m2m:ani"]["ldv"][0].as_str().unwrap().rsplit('/').next().unwrap().to_owned();
    let andi = until(&acme, &format!("{first}/areaNwkDeviceInfo"), "an end device's areaNwkDeviceInfo", |_| true).await;
    assert_eq!(andi["m2m:andi"]["awi"], "/id-in/cse-in/lwm2m_m2m-gw/areaNwkInfo", "{andi}");
    assert!(andi["m2m:andi"]["dvd"].as_str().unwrap().starts_with("lwm2m:m2m-gw/"), "{andi}");
    // Discovery by label finds devices by protocol.
    let (rsc, found) = cse(&acme, "GET", "?fu=1&ty=14&lbl=protocol:tr069", "CAdmin", None).await;
    assert_eq!(rsc, 2000, "{found}");
    let uris = found["m2m:uril"].as_array().unwrap();
    assert_eq!(uris.len(), 1, "{found}");
    assert!(uris[0].as_str().unwrap().contains("tr069_00D09E-M2MGW-M2M1"), "{found}");

    // Another oneM2M application (its own AE) asks for a firmware update through the CSE.
    let (rsc, ae) = cse(
        &acme,
        "POST",
        "",
        "Cmanager",
        Some((2, json!({"m2m:ae": {"rn": "manager", "api": "Nmanager", "rr": false, "srv": ["3"]}}))),
    )
    .await;
    assert_eq!(rsc, 2001, "{ae}");
    let update = json!({"m2m:fwr": {"url": "http://127.0.0.1:9/fw-2.0.bin", "vr": "2.0", "ud": true}});
    managed(&acme, "lwm2m_m2m-sensor/firmware").await;
    // unidm's subscription is its own.
    let (rsc, body) = cse(&acme, "DELETE", "lwm2m_m2m-sensor/firmware/unidm-sub", "Cmanager", None).await;
    assert_eq!(rsc, 4103, "{body}");
    let (rsc, body) = cse(&acme, "PUT", "lwm2m_m2m-sensor/firmware", "Cmanager", Some((0, update.clone()))).await;
    assert_eq!(rsc, 2004, "{body}");
    let done = until(&acme, "lwm2m_m2m-sensor/firmware", "uds succeeded", |b| b["m2m:fwr"]["uds"]["sus"] == 1).await;
    assert_eq!(done["m2m:fwr"]["ud"], false, "{done}");
    let ops: Value = reqwest::get(format!("{}/devices/lwm2m:m2m-sensor/operations", server.api))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let firmware = ops["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["action"]["kind"] == "firmware")
        .expect("a firmware operation");
    assert_eq!(
        (firmware["state"].as_str(), firmware["action"]["uri"].as_str()),
        (Some("succeeded"), Some("http://127.0.0.1:9/fw-2.0.bin"))
    );

    // A device that fails its update: uds says so.
    managed(&acme, "lwm2m_m2m-broken/firmware").await;
    let (rsc, body) = cse(&acme, "PUT", "lwm2m_m2m-broken/firmware", "Cmanager", Some((0, update))).await;
    assert_eq!(rsc, 2004, "{body}");
    until(&acme, "lwm2m_m2m-broken/firmware", "uds failed", |b| b["m2m:fwr"]["uds"]["sus"] == 2).await;

    // rbo.rbo reboots the CPE.
    managed(&acme, "tr069_00D09E-M2MGW-M2M1/reboot").await;
    let (rsc, body) =
        cse(&acme, "PUT", "tr069_00D09E-M2MGW-M2M1/reboot", "Cmanager", Some((0, json!({"m2m:rbo": {"rbo": true}}))))
            .await;
    assert_eq!(rsc, 2004, "{body}");
    operation_of(&server.api, "tr069:00D09E-M2MGW-M2M1", "reboot", "succeeded").await;
    let status: Value = reqwest::get(format!("{}/onem2m", server.api)).await.unwrap().json().await.unwrap();
    assert_eq!(status["connected"], true, "{status}");
    assert!(status["operations"].as_u64().unwrap() >= 3, "{status}");
    let metrics = reqwest::get(server.api.replace("/api/v1", "/metrics")).await.unwrap().text().await.unwrap();
    assert!(metrics.contains("unidm_onem2m_connected 1") && metrics.contains("unidm_onem2m_nodes 6"), "{metrics}");
    server.stop();
}

/// The first operation of `device` that satisfies `wanted`, waiting up to 30 s for it.
async fn operation_where(api: &str, device: &str, what: &str, wanted: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let ops: Value =
            reqwest::get(format!("{api}/devices/{device}/operations")).await.unwrap().json().await.unwrap();
        if let Some(op) = ops["items"].as_array().unwrap().iter().find(|o| wanted(o)) {
            return op.clone();
        }
        assert!(Instant::now() < deadline, "no {what} on {device}: {ops}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn operation_of(api: &str, device: &str, kind: &str, state: &str) -> Value {
    operation_where(api, device, &format!("{state} {kind}"), |o| o["action"]["kind"] == kind && o["state"] == state)
        .await
}

/// The first resource address oneM2M discovery `query` lists that satisfies `wanted`.
async fn discovered(acme: &Acme, query: &str, what: &str, wanted: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, found) = cse(acme, "GET", query, "CAdmin", None).await;
        let uri = found["m2m:uril"].as_array().into_iter().flatten().filter_map(Value::as_str).find(|u| wanted(u));
        if let Some(uri) = uri {
            return uri.to_owned();
        }
        assert!(Instant::now() < deadline, "no {what}: {found}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A oneM2M `<group>` of three devices' `firmware` mgmtObjs (LwM2M, TR-069, OMA DM), updated
/// once through its fan-out point: the CSE updates every member and unidm runs one firmware
/// operation per device. Then a software module's `swr.act` activates it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_fan_out_reaches_three_protocols_and_software_is_managed() {
    let Some(acme) = start_acme().await else { return };
    let config = format!(
        "[onem2m]\ncse = \"{}\"\nmin_update_interval_s = 1\n\n[omadm]\nusername = \"dm-client\"\npassword = \"client-secret\"\nserver_password = \"server-secret\"\n",
        acme.base
    );
    let server = common::serve(&config);
    let mut lwm2m = SimConfig::new("m2m-lamp", server.lwm2m.parse().unwrap());
    lwm2m.version = "1.1".into();
    lwm2m.software_management = true;
    let lamp = SimClient::start(lwm2m).await.unwrap();
    lamp.register().await.unwrap();
    let tree = unidm_tr069::sim::ParameterTree::tr181("00D09E", "GRPGW", "GRP1");
    let _cpe =
        unidm_tr069::sim::SimCpe::start(unidm_tr069::sim::SimConfig::new(server.acs.clone(), tree)).await.unwrap();
    let mut dm =
        unidm_omadm::sim::SimConfig::new(server.dm.clone(), "IMEI:490154203237518", "dm-client", "client-secret");
    dm.server_password = "server-secret".into();
    let dm = unidm_omadm::sim::SimDevice::new(dm);
    dm.run().await.unwrap();
    let (push, _listener) = dm.listen_package0("127.0.0.1:0".parse().unwrap()).await.unwrap();
    // FUMO results come in a later session (Generic Alert 1226).
    let _periodic = dm.spawn_periodic(Duration::from_millis(300));
    let http = reqwest::Client::new();
    let r = http
        .put(format!("{}/omadm/clients/IMEI:490154203237518/push", server.api))
        .json(&json!({"address": format!("udp://{push}")}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());

    let members = ["lwm2m_m2m-lamp/firmware", "tr069_00D09E-GRPGW-GRP1/firmware"];
    for m in members {
        until(&acme, m, m, |b| b["m2m:fwr"]["mgd"] == 1001).await;
        managed(&acme, m).await;
    }
    // The DM device's id has a `:`: its node name carries a hash; discovery finds it.
    let dm_firmware =
        discovered(&acme, "?fu=1&ty=13&lbl=protocol:omadm", "OMA DM firmware mgmtObj", |u| u.ends_with("/firmware"))
            .await;
    let (rsc, ae) = cse(
        &acme,
        "POST",
        "",
        "Cmanager",
        Some((2, json!({"m2m:ae": {"rn": "manager", "api": "Nmanager", "rr": false, "srv": ["3"]}}))),
    )
    .await;
    assert_eq!(rsc, 2001, "{ae}");
    let dm_path = dm_firmware.split("cse-in/").nth(1).unwrap_or(&dm_firmware).to_owned();
    managed(&acme, &dm_path).await;
    let dm_member = format!("cse-in/{dm_path}");
    let mid: Vec<String> = members.iter().map(|m| format!("cse-in/{m}")).chain([dm_member]).collect();
    let group = json!({"m2m:grp": {"rn": "fleet", "mt": 13, "mnm": 10, "mid": mid}});
    let (rsc, body) = cse(&acme, "POST", "manager", "Cmanager", Some((9, group))).await;
    assert_eq!(rsc, 2001, "{body} {mid:?}");
    assert_eq!(body["m2m:grp"]["cnm"], 3, "{body}");
    let update = json!({"m2m:fwr": {"url": "http://127.0.0.1:9/fleet-3.0.bin", "vr": "3.0", "ud": true}});
    let (rsc, body) = cse(&acme, "PUT", "manager/fleet/fopt", "Cmanager", Some((0, update))).await;
    assert_eq!(rsc, 2000, "{body}");
    let answers = body["m2m:agr"]["m2m:rsp"].as_array().unwrap();
    assert!(answers.len() == 3 && answers.iter().all(|a| a["rsc"] == 2004), "{body}");
    for device in ["lwm2m:m2m-lamp", "tr069:00D09E-GRPGW-GRP1", "omadm:IMEI:490154203237518"] {
        let op = operation_of(&server.api, device, "firmware", "succeeded").await;
        assert_eq!(op["action"]["uri"], "http://127.0.0.1:9/fleet-3.0.bin", "{op}");
    }

    // A module installed through unidm appears as an swr; `act` set by the application
    // activates it.
    let r = http
        .post(format!("{}/devices/lwm2m:m2m-lamp/software", server.api))
        .json(&json!({"action": "install", "uri": "http://127.0.0.1:9/app.pkg"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202, "{}", r.text().await.unwrap());
    operation_of(&server.api, "lwm2m:m2m-lamp", "software", "succeeded").await;
    let swr =
        discovered(&acme, "?fu=1&ty=13&lbl=protocol:lwm2m", "swr", |u| u.contains("lwm2m_m2m-lamp/software-")).await;
    let swr = swr.split("cse-in/").nth(1).unwrap().to_owned();
    managed(&acme, &swr).await;
    let (rsc, body) = cse(&acme, "PUT", &swr, "Cmanager", Some((0, json!({"m2m:swr": {"act": true}})))).await;
    assert_eq!(rsc, 2004, "{body}");
    operation_where(&server.api, "lwm2m:m2m-lamp", "succeeded activate", |o| {
        o["action"]["action"] == "activate" && o["state"] == "succeeded"
    })
    .await;
    until(&acme, &swr, "act back to false", |b| b["m2m:swr"]["act"] == false).await;
    // An install from the swr: `url` and `in`.
    let install = json!({"m2m:swr": {"url": "http://127.0.0.1:9/app-2.pkg", "in": true}});
    let (rsc, body) = cse(&acme, "PUT", &swr, "Cmanager", Some((0, install))).await;
    assert_eq!(rsc, 2004, "{body}");
    operation_where(&server.api, "lwm2m:m2m-lamp", "install from the swr", |o| {
        o["action"]["action"] == "install"
            && o["action"]["uri"] == "http://127.0.0.1:9/app-2.pkg"
            && o["state"] == "succeeded"
    })
    .await;
    until(&acme, &swr, "in back to false", |b| b["m2m:swr"]["in"] == false).await;
    server.stop();
}

async fn request_count(api: &str) -> u64 {
    let status: Value = reqwest::get(format!("{api}/onem2m")).await.unwrap().json().await.unwrap();
    status["requests"].as_u64().unwrap()
}

/// The request count once the mirror has been idle for a second (a device's first write is
/// over).
async fn settled_request_count(api: &str) -> u64 {
    let mut last = request_count(api).await;
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let now = request_count(api).await;
        if now == last {
            return now;
        }
        last = now;
    }
}

/// The CSE going away and coming back empty loses no change (a device that came meanwhile is
/// there, and so is the first); a burst of changes to one device is written at most once per
/// `min_update_interval_s`, its last state included.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cse_outage_loses_nothing_and_bursts_are_rate_limited() {
    let Some(acme) = start_acme().await else { return };
    let port: u16 = acme.base.rsplit(':').next().unwrap().parse().unwrap();
    // A node unidm made for a device it no longer has (deleted while unidm was down).
    let ghost = json!({"m2m:nod": {"rn": "lwm2m_ghost", "ni": "lwm2m:ghost", "lbl": ["unidm", "protocol:lwm2m"]}});
    assert_eq!(cse(&acme, "POST", "", "CAdmin", Some((14, ghost))).await.0, 2001);
    let server = common::serve(&format!("[onem2m]\ncse = \"{}\"\nmin_update_interval_s = 1\n", acme.base));
    let first = SimClient::start(SimConfig::new("m2m-first", server.lwm2m.parse().unwrap())).await.unwrap();
    first.register().await.unwrap();
    until(&acme, "lwm2m_m2m-first", "the first node", |_| true).await;
    assert_eq!(cse(&acme, "GET", "lwm2m_ghost", "CAdmin", None).await.0, 4004, "the orphan node is deleted");

    // A burst of 40 label changes in about 2 s: the node's labels are written a few times, not 40.
    let http = reqwest::Client::new();
    let before = settled_request_count(&server.api).await;
    for i in 0..40 {
        let r = http
            .put(format!("{}/devices/lwm2m:m2m-first/labels", server.api))
            .json(&json!({"labels": {"step": i.to_string()}}))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    until(&acme, "lwm2m_m2m-first", "the last labels", |b| {
        b["m2m:nod"]["lbl"].as_array().unwrap().contains(&json!("step:39"))
    })
    .await;
    let written = request_count(&server.api).await - before;
    assert!((1..=15).contains(&written), "{written} requests for 40 changes in 2 s at one write per second");

    // The CSE stops; a device registers meanwhile; the CSE comes back empty on the same port.
    drop(acme);
    let second = SimClient::start(SimConfig::new("m2m-second", server.lwm2m.parse().unwrap())).await.unwrap();
    second.register().await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let status: Value = reqwest::get(format!("{}/onem2m", server.api)).await.unwrap().json().await.unwrap();
        if status["connected"] == false {
            assert!(status["lastError"].as_str().unwrap().contains("unreachable"), "{status}");
            break;
        }
        assert!(Instant::now() < deadline, "the outage went unnoticed: {status}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let acme = start_acme_on(port).await.unwrap();
    until(&acme, "lwm2m_m2m-second/deviceInfo", "the device that came during the outage", |_| true).await;
    let node = until(&acme, "lwm2m_m2m-first", "the first device, written again", |_| true).await;
    assert!(node["m2m:nod"]["lbl"].as_array().unwrap().contains(&json!("step:39")), "{node}");
    server.stop();
}

/// unidm registered as an `<AE>` of its own originator (not the CSE's admin), once the operator
/// granted it the creation of `<node>`s and ACPs under the CSEBase; before that, the mirror
/// reports the CSE's refusal.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unidm_runs_as_an_ae_of_its_own_when_configured() {
    let Some(acme) = start_acme().await else { return };
    let config = format!(
        "[onem2m]\ncse = \"{}\"\noriginator = \"Cunidm\"\nae = \"unidm\"\nmin_update_interval_s = 1\n",
        acme.base
    );
    let server = common::serve(&config);
    let client = SimClient::start(SimConfig::new("ae-sensor", server.lwm2m.parse().unwrap())).await.unwrap();
    client.register().await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let status: Value = reqwest::get(format!("{}/onem2m", server.api)).await.unwrap().json().await.unwrap();
        if status["lastError"].as_str().is_some_and(|e| e.contains("access denied")) {
            break;
        }
        assert!(Instant::now() < deadline, "no refusal reported: {status}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let ae = until(&acme, "unidm", "unidm's AE", |_| true).await;
    assert_eq!(ae["m2m:ae"]["aei"], "Cunidm", "{ae}");
    // The operator lets Cunidm create ACPs (1) and nodes (14) under the CSEBase.
    let grant = json!({"m2m:acp": {"pv": {"acr": [
        {"acor": ["all"], "acod": [{"chty": [1, 26]}], "acop": 1},
        {"acor": ["Cunidm"], "acod": [{"chty": [1, 14]}], "acop": 1}
    ]}}});
    let url = format!("{}/~/id-in/acpCreateRootResources", acme.base);
    let r = reqwest::Client::new()
        .put(url)
        .header("X-M2M-Origin", "CAdmin")
        .header("X-M2M-RI", "grant")
        .header("X-M2M-RVI", "3")
        .header("Content-Type", "application/json")
        .body(grant.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["X-M2M-RSC"], "2004");
    // Written again within REFUSED_RETRY (5 s).
    let node = until(&acme, "lwm2m_ae-sensor", "a node created by Cunidm", |_| true).await;
    assert_eq!(node["m2m:nod"]["ni"], "lwm2m:ae-sensor");
    until(&acme, "lwm2m_ae-sensor/deviceInfo", "its deviceInfo", |_| true).await;
    server.stop();
}
