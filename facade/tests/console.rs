//! The web console in a real browser: headless Chromium (Debian `chromium`), driven over the
//! DevTools protocol with real mouse and keyboard input, against `unidm serve` and simulated
//! LwM2M and TR-069 devices. Screenshots of the main pages go to
//! `target/tmp/console-screenshots/`. Skipped with a notice without Chromium, unless
//! `UNIDM_REQUIRE_CHROMIUM=1`.

#[path = "common/browser.rs"]
mod browser;
mod common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use browser::{Browser, Page};
use futures::StreamExt;
use serde_json::{json, Value};
use unidm_core::{SqliteStore, StoreExt, Write};
use unidm_lwm2m::sim::{SimClient, SimConfig};
use unidm_models::{Device, DeviceId, Timestamp};

fn screenshots() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("console-screenshots")
}

/// Asks `device` to refresh its device info (an operation, so events), through the API.
async fn refresh(api: &str, device: &str) {
    let r =
        reqwest::Client::new().post(format!("{api}/devices/{device}/refresh")).json(&json!({})).send().await.unwrap();
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());
}

/// The flows an operator goes through, each with the mouse or the keyboard, each checked on
/// the page without a reload.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_manages_devices_from_the_console() {
    let Some(chromium) = browser::chromium() else { return };
    let server = common::serve("");
    let origin = server.api.trim_end_matches("/api/v1").to_owned();
    let mut clients = Vec::new();
    for i in 0..3 {
        let c = SimClient::start(SimConfig::new(&format!("console-{i}"), server.lwm2m.parse().unwrap())).await.unwrap();
        c.register().await.unwrap();
        clients.push(c);
    }
    let tree = unidm_tr069::sim::ParameterTree::tr181("00D09E", "ConsoleGW", "CON1");
    let _cpe =
        unidm_tr069::sim::SimCpe::start(unidm_tr069::sim::SimConfig::new(server.acs.clone(), tree)).await.unwrap();
    common::wait_api(&server.api, "/devices/tr069:00D09E-ConsoleGW-CON1", |_| true).await;
    let shots = screenshots();
    let mut b = Browser::launch(&chromium, 1280, 900).await;

    // The fleet: counts per protocol, every device with its identity.
    b.goto(&format!("{origin}/#/fleet")).await;
    b.wait_for("the fleet", "document.querySelectorAll('#devices tr[data-device]').length === 4").await;
    assert_eq!(b.text("[data-protocol=lwm2m]").await, "lwm2m 3 (3 online)");
    assert_eq!(b.text("[data-protocol=tr069]").await, "tr069 1 (1 online)");
    let row = b.text("tr[data-device='lwm2m:console-1']").await;
    assert!(row.contains("online") && row.contains("unidm sim"), "{row}");
    b.screenshot(&shots.join("fleet.png")).await;

    // A filter typed and applied with the keyboard: Enter in the field submits the form.
    b.type_into("#fleet-filters input[name=search]", "CONSOLE-1").await;
    b.press("Enter").await;
    b.wait_for("the filtered fleet", "document.querySelectorAll('#devices tr[data-device]').length === 1").await;
    assert!(b.text("#pager").await.contains("1–1 of 1"));

    // The device page, opened with a click: identity, capabilities, the registered objects.
    b.click("tr[data-device='lwm2m:console-1'] a").await;
    b.wait_for("the device page", "document.querySelector('h1')?.innerText === 'lwm2m:console-1'").await;
    assert!(b.text("#identity").await.contains("Manufacturer\tunidm sim"), "{}", b.text("#identity").await);
    assert!(b.text("#capabilities").await.contains("reboot"), "{}", b.text("#capabilities").await);
    b.wait_for("the object tree", "document.querySelector('#tree li[data-path=\"/3/0\"]')").await;
    b.screenshot(&shots.join("device.png")).await;

    // Reboot: asked once, the operation it created shown, and its state turns succeeded on the
    // page without a reload (the marker set before survives).
    b.eval("window.noReload = true").await;
    let asked = b.dialogs.len();
    b.click("#reboot").await;
    b.wait_for("the created operation", "document.querySelector('#acted a[data-operation]')").await;
    assert_eq!(b.dialogs[asked..], ["reboot lwm2m:console-1?".to_owned()]);
    let op = b.eval("document.querySelector('#acted a[data-operation]').dataset.operation").await;
    let op = op.as_str().unwrap().to_owned();
    b.wait_for(
        "the reboot to succeed on the page",
        &format!("document.querySelector('#operations tr[data-operation=\"{op}\"] .state')?.innerText === 'succeeded'"),
    )
    .await;
    assert_eq!(b.eval("window.noReload").await, json!(true));

    // Events of other devices leave the page alone; one of this device updates it.
    let http = reqwest::Client::new();
    let label = |device: &str, value: &str| {
        http.put(format!("{}/devices/{device}/labels", server.api)).json(&json!({"labels": {"mark": value}})).send()
    };
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let before = b.eval("window.unidmDeviceUpdates()").await;
    for i in 0..5 {
        assert!(label("lwm2m:console-2", &i.to_string()).await.unwrap().status().is_success());
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(b.eval("window.unidmDeviceUpdates()").await, before, "another device's events updated the page");
    assert!(label("lwm2m:console-1", "here").await.unwrap().status().is_success());
    b.wait_for("the page's own update", &format!("window.unidmDeviceUpdates() > {before}")).await;
    let reboot: Value = reqwest::get(format!("{}/operations/{op}", server.api)).await.unwrap().json().await.unwrap();
    assert_eq!((reboot["action"]["kind"].as_str(), reboot["state"].as_str()), (Some("reboot"), Some("succeeded")));

    // A native read picked from the tree and sent with the keyboard; its result shown.
    b.click("#tree li[data-path='/3/0'] button").await;
    assert_eq!(b.eval("document.querySelector('#native [name=path]').value").await, json!("/3/0"));
    b.type_into("#native [name=path]", "/3/0/0").await;
    b.press("Enter").await;
    b.wait_for("the read's result", "document.querySelector('#native-result')?.innerText.includes('succeeded')").await;
    assert!(b.text("#native-result").await.contains("unidm sim"), "{}", b.text("#native-result").await);

    // A path the device cannot take: the operation fails, and the page says why.
    b.type_into("#native [name=path]", "not a path").await;
    b.press("Enter").await;
    b.wait_for("the failed read", "document.querySelector('#native-result')?.innerText.includes('failed')").await;
    assert!(b.text("#native-result").await.contains("bad LwM2M path"), "{}", b.text("#native-result").await);

    // A bad input the API refuses: its problem (title and detail) next to the form.
    b.type_into("#firmware [name=uri]", "not-a-uri").await;
    b.press("Enter").await;
    let shown = b.wait_for("the problem", "document.querySelector('#firmware-result .problem')?.innerText").await;
    let shown = shown.as_str().unwrap().to_owned();
    let refused = reqwest::Client::new()
        .post(format!("{}/devices/lwm2m:console-1/firmware", server.api))
        .json(&json!({"uri": "not-a-uri"}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 400);
    let refused: Value = refused.json().await.unwrap();
    let expected = format!("{}: {}", refused["title"].as_str().unwrap(), refused["detail"].as_str().unwrap());
    assert_eq!(shown, expected);

    // Files: an upload through the file input, with its progress, listed once done.
    let image = tempfile::tempdir().unwrap();
    let file = image.path().join("fw-2.bin");
    std::fs::write(&file, vec![0x5a; 300_000]).unwrap();
    b.goto(&format!("{origin}/#/files")).await;
    b.wait_for("the files page", "document.querySelector('#files')").await;
    b.set_file("#file", &file).await;
    b.wait_for("the upload", "document.querySelector('tr[data-file=\"fw-2.bin\"]')").await;
    assert!(b.text("tr[data-file='fw-2.bin']").await.contains("300000 bytes"));
    b.screenshot(&shots.join("files.png")).await;
    let files: Value = reqwest::get(format!("{}/files", server.api)).await.unwrap().json().await.unwrap();
    let url =
        files.as_array().unwrap().iter().find(|f| f["name"] == "fw-2.bin").unwrap()["url"].as_str().unwrap().to_owned();

    // Groups: one created from the page by its members, previewed first.
    b.goto(&format!("{origin}/#/groups")).await;
    b.wait_for("the groups page", "document.querySelector('#create-group')").await;
    b.type_into("#create-group [name=id]", "lamps").await;
    b.type_into("#create-group [name=members]", "lwm2m:console-0 lwm2m:console-1, lwm2m:console-2").await;
    b.click("#create-group button[type=button]").await;
    b.wait_for("the preview", "document.querySelector('#group-preview')?.innerText.includes('3 listed')").await;
    b.click("#create-group button:not([type])").await;
    b.wait_for("the new group", "document.querySelector('tr[data-group=lamps]')?.innerText.includes('3 members')")
        .await;

    // A firmware campaign started from the page, followed live to its end.
    b.type_into("#start-campaign [name=uri]", &url).await;
    b.type_into("#start-campaign [name=concurrency]", "1").await;
    b.click("#start-campaign button").await;
    b.wait_for("the campaign page", "location.hash.startsWith('#/campaign/')").await;
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let counts = b.text("#campaign-counts").await;
        if seen.last() != Some(&counts) {
            seen.push(counts.clone());
        }
        if counts.ends_with("done") {
            break;
        }
        assert!(Instant::now() < deadline, "the campaign never ended on the page: {seen:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(seen.last().unwrap(), "3 devices: 3 succeeded — done", "{seen:?}");
    assert!(seen.len() >= 2, "the page showed the campaign's progress, not only its end: {seen:?}");
    assert!(b.dialogs.last().unwrap().starts_with("firmware http"), "{:?}", b.dialogs);
    b.screenshot(&shots.join("campaign.png")).await;

    // Operations, filtered by state.
    b.goto(&format!("{origin}/#/operations")).await;
    b.wait_for("the operations", "document.querySelector('#all-operations tr[data-operation]')").await;
    b.choose("#operation-filters [name=state]", "failed").await;
    b.click("#operation-filters button").await;
    b.wait_for(
        "the failed operations",
        "document.querySelector('#operations-pager')?.innerText.includes(' 1 in all ')",
    )
    .await;
    let failed =
        b.eval("[...document.querySelectorAll('#all-operations tr[data-operation]')].map((r) => r.innerText)").await;
    assert_eq!(failed.as_array().unwrap().len(), 1, "only the read of a bad path failed: {failed}");
    assert!(failed[0].as_str().unwrap().contains("bad LwM2M path"), "{failed}");

    // Events: the live tail holds what happened meanwhile (operation changes among them).
    b.goto(&format!("{origin}/#/events")).await;
    b.type_into("form.filters [name=type]", "operationChanged").await;
    b.press("Enter").await;
    b.eval("window.tailBefore = document.querySelectorAll('#events tr').length").await;
    refresh(&server.api, "lwm2m:console-2").await;
    b.wait_for(
        "the refresh in the tail",
        "[...document.querySelectorAll('#events tr')].some((r) => r.innerText.includes('lwm2m:console-2') && r.innerText.includes('refreshDeviceInfo'))",
    )
    .await;
    b.screenshot(&shots.join("events.png")).await;

    // Rules: JSON that does not parse, then a rule the API refuses, each explained in place.
    b.goto(&format!("{origin}/#/rules")).await;
    b.type_into("#create-rule textarea", "{ nope").await;
    b.click("#create-rule button").await;
    assert!(b
        .wait_for("the parse error", "document.querySelector('#rule-result .problem')?.innerText")
        .await
        .as_str()
        .unwrap()
        .starts_with("Not JSON"));
    b.type_into("#create-rule textarea", r#"{"id": "r1", "triggers": ["nonsense"], "actions": []}"#).await;
    b.click("#create-rule button").await;
    let refused = b
        .wait_for("the refusal", "document.querySelector('#rule-result .problem')?.innerText.includes('nonsense') && document.querySelector('#rule-result .problem').innerText")
        .await;
    assert!(
        refused.as_str().unwrap().starts_with("Bad request: ") && refused.as_str().unwrap().contains("unknown variant"),
        "{refused}"
    );
    // And a good one, listed.
    let rule = r#"{"id": "gold-refresh", "selector": {"labels": {"tier": "gold"}}, "triggers": ["firstContact"], "actions": [{"kind": "refreshDeviceInfo"}]}"#;
    b.type_into("#create-rule textarea", rule).await;
    b.click("#create-rule button").await;
    let listed = b.wait_for("the rule", "document.querySelector('tr[data-rule=\"gold-refresh\"]')?.innerText").await;
    assert!(
        listed.as_str().unwrap().contains("firstContact") && listed.as_str().unwrap().contains("refreshDeviceInfo"),
        "{listed}"
    );

    // LwM2M bootstrap: a configuration added from the page, listed without its key.
    b.goto(&format!("{origin}/#/bootstrap")).await;
    b.type_into("#bootstrap-config [name=endpoint]", "console-9").await;
    b.type_into("#bootstrap-config [name=uri]", "coap://127.0.0.1:5683").await;
    b.click("#bootstrap-config button").await;
    let listed =
        b.wait_for("the configuration", "document.querySelector('tr[data-endpoint=\"console-9\"]')?.innerText").await;
    assert!(listed.as_str().unwrap().contains("coap://127.0.0.1:5683 (noSec"), "{listed}");

    // Topology: a gateway and its end devices as a tree.
    let mut gateway = SimConfig::new("console-gw", server.lwm2m.parse().unwrap());
    gateway.gateway_children = 2;
    let gw = SimClient::start(gateway).await.unwrap();
    gw.register().await.unwrap();
    common::wait_api(&server.api, "/topology", |t| t["edges"].as_array().is_some_and(|e| e.len() == 2)).await;
    b.goto(&format!("{origin}/#/topology")).await;
    b.wait_for("the tree", "document.querySelectorAll('li[data-node^=\"lwm2m:console-gw/\"]').length === 2").await;
    assert!(b.eval("!!document.querySelector('li[data-node=\"lwm2m:console-gw\"] > ul')").await == json!(true));

    // Keyboard navigation: from the top of a freshly loaded page, Tab reaches the menu, Enter
    // follows it.
    b.goto("about:blank").await;
    b.goto(&format!("{origin}/#/fleet")).await;
    b.wait_for("the fleet", "document.querySelector('#devices tr[data-device]')").await;
    let mut reached = Vec::new();
    for _ in 0..4 {
        b.press("Tab").await;
        reached.push(b.eval("document.activeElement?.innerText ?? ''").await.as_str().unwrap_or_default().to_owned());
    }
    assert_eq!(reached, ["Skip to content", "unidm", "Fleet", "Groups"]);
    b.press("Enter").await;
    b.wait_for(
        "the groups page by keyboard",
        "location.hash === '#/groups' && document.querySelector('tr[data-group=lamps]')",
    )
    .await;

    // An unknown device: the problem instead of a page.
    b.goto(&format!("{origin}/#/device/lwm2m:nobody")).await;
    let missing = b.wait_for("the problem", "document.querySelector('.problem')?.innerText").await;
    assert!(missing.as_str().unwrap().contains("lwm2m:nobody"), "{missing}");

    assert!(b.errors.is_empty(), "the page logged errors: {:#?}", b.errors);
    println!("screenshots in {}", shots.display());
    drop(b);
    server.stop();
}

/// The fleet page over 100,000 devices: one page of them and the counts, first rendered (API
/// answers and DOM) in a time the test prints; then a burst of device events at about 1,000 a
/// second, during which the page keeps answering (its longest stall printed).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fleet_page_stays_fast_with_100000_devices() {
    let Some(chromium) = browser::chromium() else { return };
    const DEVICES: usize = 100_000;
    let dir = tempfile::tempdir().unwrap();
    {
        // The devices go straight into the database the server then starts on.
        let store = SqliteStore::open(dir.path().join("unidm.db")).unwrap();
        let now = Timestamp::from_system(std::time::SystemTime::now());
        let writes: Vec<Write> = (0..DEVICES)
            .map(|i| {
                let id = if i % 10 == 0 {
                    DeviceId::parse(&format!("tr069:00D09E-Big-{i:06}")).unwrap()
                } else {
                    DeviceId::parse(&format!("lwm2m:big-{i:06}")).unwrap()
                };
                let mut d = Device::new(id, now);
                d.identity.manufacturer = Some("Acme".into());
                d.identity.model = Some(format!("M{}", i % 7));
                Write::device(&d)
            })
            .collect();
        store.write(writes).await.unwrap();
    }
    let server = common::serve_in(dir, "");
    let origin = server.api.trim_end_matches("/api/v1").to_owned();
    let mut b = Browser::launch(&chromium, 1280, 900).await;
    b.goto(&format!("{origin}/#/fleet")).await;
    let rendered = b.wait_for("the fleet", "window.unidmRendered?.page === 'fleet' && window.unidmRendered").await;
    let since_navigation = b.eval("performance.now()").await;
    assert_eq!(b.eval("document.querySelectorAll('#devices tr[data-device]').length").await, json!(50));
    assert!(b.text("#pager").await.contains("1–50 of 100000"), "{}", b.text("#pager").await);
    assert_eq!(b.text("[data-protocol=lwm2m]").await, "lwm2m 90000 (0 online)");
    println!(
        "fleet page, {DEVICES} devices: first render {:.0} ms (the page's requests and DOM; {:.0} ms since navigation)",
        rendered["ms"].as_f64().unwrap(),
        since_navigation.as_f64().unwrap()
    );
    b.screenshot(&screenshots().join("fleet-100000.png")).await;

    // A burst of events: label changes on 3,000 devices over about 3 s, 32 in flight; the page
    // measures its own longest stall meanwhile (a 20 ms timer's largest lateness).
    b.eval(
        "window.stall = 0; window.lastTick = performance.now(); \
         window.probe = setInterval(() => { const t = performance.now(); window.stall = Math.max(window.stall, t - window.lastTick - 20); window.lastTick = t; }, 20)",
    )
    .await;
    let http = reqwest::Client::new();
    let started = Instant::now();
    let burst = futures::stream::iter(0..3000usize)
        .map(|i| {
            let (http, api) = (http.clone(), server.api.clone());
            async move {
                // Paced at about 1,000 a second.
                tokio::time::sleep_until((started + Duration::from_millis(i as u64)).into()).await;
                let id = format!("lwm2m:big-{:06}", (i * 10 + 1) % DEVICES);
                let r = http
                    .put(format!("{api}/devices/{id}/labels"))
                    .json(&json!({"labels": {"burst": i.to_string()}}))
                    .send()
                    .await
                    .unwrap();
                assert!(r.status().is_success());
            }
        })
        .buffer_unordered(32);
    burst.collect::<Vec<()>>().await;
    let took = started.elapsed();
    let seen = b.wait_for("the burst's events", "window.unidmEvents?.() >= 3000 && window.unidmEvents()").await;
    let stall = b.eval("clearInterval(window.probe); window.stall").await;
    println!(
        "burst: 3000 device events in {:.1} s ({:.0}/s), {} received by the page; its longest stall {:.0} ms",
        took.as_secs_f64(),
        3000.0 / took.as_secs_f64(),
        seen,
        stall.as_f64().unwrap()
    );
    // Still live: a filter applied after the burst works.
    b.choose("#fleet-filters [name=protocol]", "tr069").await;
    // An event while the user is choosing does not re-render the form under them.
    let r = http
        .put(format!("{}/devices/lwm2m:big-000001/labels", server.api))
        .json(&json!({"labels": {"burst": "after"}}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    b.wait_for("the event after the burst", "window.unidmEvents() >= 3001").await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(b.eval("document.querySelector('#fleet-filters [name=protocol]').value").await, json!("tr069"));
    b.click("#fleet-filters button").await;
    b.wait_for("the tr069 devices", "document.querySelector('#pager')?.innerText.includes('of 10000 ')").await;
    assert!(b.errors.is_empty(), "the page logged errors: {:#?}", b.errors);
    drop(b);

    // On a phone's screen: nothing wider than the screen (no sideways scrolling).
    let mut phone = Browser::launch(&chromium, 390, 844).await;
    phone.goto(&format!("{origin}/#/fleet")).await;
    phone.wait_for("the fleet", "document.querySelector('#devices tr[data-device]')").await;
    let widths = phone.eval("[document.documentElement.scrollWidth, window.innerWidth]").await;
    assert!(widths[0].as_f64() <= widths[1].as_f64(), "wider than the phone's screen: {widths}");
    phone.screenshot(&screenshots().join("fleet-phone.png")).await;
    drop(phone);
    server.stop();
}

/// The console in Firefox (WebDriver BiDi, Firefox's own protocol): the fleet, a device, a
/// reboot confirmed and followed to succeeded on the page, the live events tail.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_works_in_firefox() {
    let Some(firefox) = browser::firefox() else { return };
    let server = common::serve("");
    let origin = server.api.trim_end_matches("/api/v1").to_owned();
    let mut clients = Vec::new();
    for i in 0..2 {
        let c = SimClient::start(SimConfig::new(&format!("fox-{i}"), server.lwm2m.parse().unwrap())).await.unwrap();
        c.register().await.unwrap();
        clients.push(c);
    }
    let mut f = browser::Firefox::launch(&firefox).await;
    f.goto(&format!("{origin}/#/fleet")).await;
    f.wait_for("the fleet", "document.querySelectorAll('#devices tr[data-device]').length === 2").await;
    assert_eq!(f.eval("document.querySelector('[data-protocol=lwm2m]').innerText").await, json!("lwm2m 2 (2 online)"));

    f.click("tr[data-device='lwm2m:fox-0'] a").await;
    f.wait_for("the device page", "document.querySelector('h1')?.innerText === 'lwm2m:fox-0'").await;
    f.wait_for("the object tree", "document.querySelector('#tree li[data-path=\"/3/0\"]')").await;
    f.click("#reboot").await;
    let op = f
        .wait_for("the created operation", "document.querySelector('#acted a[data-operation]')?.dataset.operation")
        .await;
    assert_eq!(f.dialogs, ["reboot lwm2m:fox-0?"]);
    let op = op.as_str().unwrap().to_owned();
    f.wait_for(
        "the reboot to succeed on the page",
        &format!("document.querySelector('#operations tr[data-operation=\"{op}\"] .state')?.innerText === 'succeeded'"),
    )
    .await;

    f.goto(&format!("{origin}/#/events")).await;
    refresh(&server.api, "lwm2m:fox-1").await;
    f.wait_for(
        "the refresh in the tail",
        "[...document.querySelectorAll('#events tr')].some((r) => r.innerText.includes('lwm2m:fox-1') && r.innerText.includes('refreshDeviceInfo'))",
    )
    .await;
    drop(f);
    server.stop();
}
