//! The ACS's HTTP endpoint against bad and hostile input, and CPE authentication. Every bad
//! POST gets an HTTP error or a SOAP fault; the ACS keeps serving afterwards.

mod acs;

use std::collections::BTreeMap;

use acs::*;
use unidm_tr069::CpeAuth;

fn data(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn wrap(ns: &str, body: &str) -> Vec<u8> {
    format!(
        r#"<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" xmlns:cwmp="{ns}"><soap:Header><cwmp:ID soap:mustUnderstand="1">9</cwmp:ID></soap:Header><soap:Body>{body}</soap:Body></soap:Envelope>"#
    )
    .into_bytes()
}

const NS: &str = "urn:dslforum-org:cwmp-1-0";

async fn post(url: &str, cookie: Option<&str>, body: Vec<u8>) -> (u16, Option<String>, String) {
    let client = reqwest::Client::new();
    let mut req = client.post(url).body(body);
    if let Some(c) = cookie {
        req = req.header("Cookie", c);
    }
    let resp = req.send().await.expect("ACS answers");
    let status = resp.status().as_u16();
    let cookie = resp
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .map(|c| c.split(';').next().unwrap_or("").to_owned());
    (status, cookie, resp.text().await.unwrap_or_default())
}

#[tokio::test]
async fn bad_input_gets_errors_not_panics() {
    let f = fixture_with(Tr069Config { max_envelope: 64 * 1024, ..local_config() }).await;
    let url = f.url();
    let cases: Vec<(&str, Vec<u8>, u16)> = vec![
        ("malformed XML", b"<soap:Envelope><soap:Body>".to_vec(), 400),
        ("not XML", vec![0xff, 0x00, 0x13, 0x37], 400),
        ("wrong envelope namespace", br#"<Envelope xmlns="urn:nope"><Body/></Envelope>"#.to_vec(), 400),
        ("unknown CWMP namespace", wrap("urn:dslforum-org:cwmp-9-9", "<cwmp:Inform/>"), 400),
        ("entity expansion", data("billion_laughs.xml"), 400),
        ("oversized envelope", wrap(NS, &format!("<cwmp:Inform>{}</cwmp:Inform>", "x".repeat(100 * 1024))), 413),
        ("Inform without DeviceId", wrap(NS, "<cwmp:Inform><Event/><MaxEnvelopes>1</MaxEnvelopes><CurrentTime>2024-01-01T00:00:00Z</CurrentTime><RetryCount>0</RetryCount><ParameterList/></cwmp:Inform>"), 400),
        ("empty POST first", Vec::new(), 400),
        ("response before Inform", wrap(NS, "<cwmp:RebootResponse/>"), 400),
    ];
    for (what, body, want) in cases {
        let (status, _, _) = post(&url, None, body).await;
        assert_eq!(status, want, "{what}");
    }
    assert_eq!(f.adapter.open_sessions(), 0, "refused sessions are dropped");

    // Out of order inside a session: after the Inform, an ACS-side message is refused with a
    // SOAP fault (8000) and the session goes on.
    let (status, cookie, body) = post(&url, None, data("inform_tr098_boot.xml")).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("InformResponse"));
    let cookie = cookie.expect("session cookie");
    let (status, _, body) = post(
        &url,
        Some(&cookie),
        wrap(NS, "<cwmp:GetParameterValuesResponse><ParameterList/></cwmp:GetParameterValuesResponse>"),
    )
    .await;
    assert_eq!(status, 200);
    assert!(body.contains("Fault") && body.contains("8000"), "{body}");
    let (status, _, _) = post(&url, Some(&cookie), Vec::new()).await;
    // The bootstrap credentials request or the end of the session.
    assert!(status == 200 || status == 204, "{status}");

    // Still serving a real CPE.
    let (cpe, _) = f.sim(f.sim_config(tr181("after-bad"))).await;
    cpe.stop();
}

#[tokio::test]
async fn a_new_inform_replaces_a_stale_session() {
    let f = fixture().await;
    let (status, cookie, _) = post(&f.url(), None, data("inform_tr098_boot.xml")).await;
    assert_eq!(status, 200);
    let old = cookie.unwrap();
    // The CPE gave up on its session but kept the cookie: its next Inform opens a new one.
    let (status, cookie, body) = post(&f.url(), Some(&old), data("inform_tr098_boot.xml")).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("InformResponse"), "{body}");
    assert_ne!(cookie.as_deref(), Some(old.as_str()));
    assert_eq!(f.adapter.open_sessions(), 1);
}

#[tokio::test]
async fn cpe_digest_authentication() {
    let users: BTreeMap<String, String> = [("cpe-1".to_owned(), "s3cret".to_owned())].into();
    let f = fixture_with(Tr069Config { cpe_auth: CpeAuth::Digest { users }, ..local_config() }).await;
    let mut good = f.sim_config(tr181("auth-ok"));
    good.acs_credentials = Some(("cpe-1".into(), "s3cret".into()));
    let (cpe, _) = f.sim(good).await;
    cpe.stop();

    let mut bad = f.sim_config(tr181("auth-bad"));
    bad.acs_credentials = Some(("cpe-1".into(), "wrong".into()));
    let intruder = unidm_tr069::sim::SimCpe::start(bad).await.unwrap();
    assert!(intruder.wait_for(WAIT, |s| s.failed_sessions >= 1).await);
    assert!(f.engine.device(&id_of(&intruder)).is_err(), "no device from a refused CPE");
    intruder.stop();

    let (status, _, _) = post(&f.url(), None, data("inform_tr098_boot.xml")).await;
    assert_eq!(status, 401);

    // A captured Authorization is good once: replaying it is challenged again.
    let client = reqwest::Client::new();
    let first = client.post(f.url()).body(data("inform_tr098_boot.xml")).send().await.unwrap();
    let challenge = first.headers()["www-authenticate"].to_str().unwrap().to_owned();
    let c = unidm_tr069::digest::Challenge::parse(&challenge).unwrap();
    let auth = c.respond("cpe-1", "s3cret", "POST", "/", "abcd", 1);
    // A fresh connection each time: an authenticated connection keeps its session.
    let send = || {
        reqwest::Client::new()
            .post(f.url())
            .header("Authorization", auth.clone())
            .body(data("inform_tr098_boot.xml"))
            .send()
    };
    assert_eq!(send().await.unwrap().status().as_u16(), 200);
    assert_eq!(send().await.unwrap().status().as_u16(), 401);
}

#[tokio::test]
async fn cpe_basic_authentication() {
    let users: BTreeMap<String, String> = [("cpe-2".to_owned(), "pw".to_owned())].into();
    let f = fixture_with(Tr069Config { cpe_auth: CpeAuth::Basic { users }, ..local_config() }).await;
    let mut good = f.sim_config(tr181("basic-ok"));
    good.acs_credentials = Some(("cpe-2".into(), "pw".into()));
    let (cpe, _) = f.sim(good).await;
    cpe.stop();
}

#[tokio::test]
async fn unknown_devices_can_be_refused() {
    let f = fixture_with(Tr069Config { accept_unknown_devices: false, ..local_config() }).await;
    let (status, _, _) = post(&f.url(), None, data("inform_tr098_boot.xml")).await;
    assert_eq!(status, 403);
    assert_eq!(f.adapter.open_sessions(), 0);
}

use unidm_tr069::Tr069Config;

#[tokio::test]
async fn idle_sessions_time_out_and_overload_is_refused() {
    let config =
        Tr069Config { session_timeout: std::time::Duration::from_millis(500), max_sessions: 1, ..local_config() };
    let f = fixture_with(config).await;
    let (status, _, _) = post(&f.url(), None, data("inform_tr098_boot.xml")).await;
    assert_eq!(status, 200);
    assert_eq!(f.adapter.open_sessions(), 1);
    // A second CPE while the only slot is taken: come back later.
    let resp = reqwest::Client::new().post(f.url()).body(data("inform_tr098_boot.xml")).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 503);
    assert_eq!(resp.headers()["retry-after"], "60");
    // The first CPE never continues: the sweeper closes its session.
    let deadline = tokio::time::Instant::now() + WAIT;
    while f.adapter.open_sessions() > 0 {
        assert!(tokio::time::Instant::now() < deadline, "session timed out");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn gzip_bodies_are_accepted() {
    use std::io::Write;
    let f = fixture().await;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&data("inform_tr098_boot.xml")).unwrap();
    let resp = reqwest::Client::new()
        .post(f.url())
        .header("Content-Encoding", "gzip")
        .body(gz.finish().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert!(resp.text().await.unwrap().contains("InformResponse"));
}

#[tokio::test]
async fn garbage_inside_sessions_never_breaks_the_acs() {
    let f = fixture().await;
    let url = f.url();
    let inform = data("inform_tr098_boot.xml");
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for round in 0..60 {
        let (status, cookie, _) = post(&url, None, inform.clone()).await;
        assert_eq!(status, 200);
        let cookie = cookie.unwrap();
        // Half the rounds go past the CPE-request phase first (the ACS then sends requests).
        if round % 2 == 1 {
            let (status, _, _) = post(&url, Some(&cookie), Vec::new()).await;
            assert!(status == 200 || status == 204);
        }
        let body: Vec<u8> = match round % 3 {
            0 => (0..(next() % 512)).map(|_| next() as u8).collect(),
            1 => inform[..(next() as usize % inform.len())].to_vec(),
            _ => {
                let mut b = inform.clone();
                for _ in 0..8 {
                    let i = next() as usize % b.len();
                    b[i] = next() as u8;
                }
                b
            }
        };
        let (status, _, _) = post(&url, Some(&cookie), body).await;
        assert!([200, 204, 400, 413].contains(&status), "round {round}: {status}");
    }
    let (cpe, _) = f.sim(f.sim_config(tr181("after-garbage"))).await;
    cpe.stop();
}

#[tokio::test]
async fn credentials_tied_to_a_device_cannot_inform_as_another() {
    let users: BTreeMap<String, String> =
        [("cpe-a", "pw-a"), ("cpe-b", "pw-b"), ("shared", "pw-s")].map(|(u, p)| (u.to_owned(), p.to_owned())).into();
    let user_devices: BTreeMap<String, String> =
        [("cpe-a", "bind-1"), ("cpe-b", "tr069:00D09E-SimGW-bind4")].map(|(u, d)| (u.to_owned(), d.to_owned())).into();
    let f = fixture_with(Tr069Config { cpe_auth: CpeAuth::Digest { users }, user_devices, ..local_config() }).await;
    let mut own = f.sim_config(tr181("bind-1"));
    own.acs_credentials = Some(("cpe-a".into(), "pw-a".into()));
    let (cpe, _) = f.sim(own).await;
    cpe.stop();

    // The same credentials from another device: 403, no device, no session left open.
    let mut other = f.sim_config(tr181("bind-2"));
    other.acs_credentials = Some(("cpe-a".into(), "pw-a".into()));
    let impostor = unidm_tr069::sim::SimCpe::start(other).await.unwrap();
    assert!(impostor.wait_for(WAIT, |s| s.failed_sessions >= 1).await);
    assert!(f.engine.device(&id_of(&impostor)).is_err(), "no device from the wrong credentials");
    assert_eq!(impostor.stats().sessions, 0);
    impostor.stop();

    // A user without a binding may inform as any device; the full device id binds as well.
    let mut free = f.sim_config(tr181("bind-3"));
    free.acs_credentials = Some(("shared".into(), "pw-s".into()));
    let (cpe, _) = f.sim(free).await;
    cpe.stop();
    let mut by_id = f.sim_config(tr181("bind4"));
    by_id.acs_credentials = Some(("cpe-b".into(), "pw-b".into()));
    let (cpe, id) = f.sim(by_id).await;
    assert_eq!(id.as_str(), "tr069:00D09E-SimGW-bind4");
    cpe.stop();
}

#[tokio::test]
async fn a_cpe_without_cookies_keeps_its_session_on_its_connection() {
    let f = fixture().await;
    // One client, one keep-alive connection, and the cookie is never sent back.
    let client = reqwest::Client::builder().pool_max_idle_per_host(1).build().unwrap();
    let inform = client.post(f.url()).body(data("inform_tr098_boot.xml")).send().await.unwrap();
    assert_eq!(inform.status().as_u16(), 200);
    assert!(inform.headers().get("set-cookie").is_some());
    inform.bytes().await.unwrap();
    // The empty POST continues the session: the ACS's own requests follow, then 204.
    let mut body = Vec::new();
    let mut requests = 0;
    loop {
        let r = client.post(f.url()).body(body).send().await.unwrap();
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        if status == 204 {
            break;
        }
        assert_eq!(status, 200, "{text}");
        requests += 1;
        assert!(requests < 10, "session ends");
        let id = text.split("<cwmp:ID").nth(1).and_then(|t| t.split('>').nth(1)).and_then(|t| t.split('<').next());
        let fault = "<soap:Fault><faultcode>Client</faultcode><faultstring>CWMP fault</faultstring><detail>\
                     <cwmp:Fault><FaultCode>9000</FaultCode><FaultString>no</FaultString></cwmp:Fault></detail></soap:Fault>";
        let envelope = String::from_utf8(wrap(NS, fault)).unwrap();
        body = envelope.replace(">9</cwmp:ID>", &format!(">{}</cwmp:ID>", id.unwrap_or("9"))).into_bytes();
    }
    assert!(requests >= 1, "the first-contact upkeep went through the cookie-less session");
    assert_eq!(f.adapter.open_sessions(), 0);
}

/// Credentials set at run time (the API's `PUT /devices/{id}/credentials`): the CPE's own user
/// and password open its sessions (bound to it, kept across a restart), and connection-request
/// credentials reach the CPE in its next session.
#[tokio::test]
async fn cpe_credentials_set_at_run_time() {
    let f = fixture_with(Tr069Config { cpe_auth: CpeAuth::Digest { users: BTreeMap::new() }, ..local_config() }).await;
    let id = unidm_models::DeviceId::tr069("00D09E", Some("SimGW"), "rt1").unwrap();
    f.engine.provision_device(id.clone(), BTreeMap::new()).await.unwrap();
    let info = f.adapter.set_cpe_credentials(&id, Some(("rt-user", "rt-pass"))).await.unwrap();
    assert_eq!(info.cpe_username.as_deref(), Some("rt-user"));
    let mut own = f.sim_config(tr181("rt1"));
    own.acs_credentials = Some(("rt-user".into(), "rt-pass".into()));
    let (cpe, _) = f.sim(own).await;

    // Connection-request credentials go to the CPE in its next session.
    let info = f.adapter.set_connection_request_credentials(&id, "cr-user", "cr-pass").await.unwrap();
    assert!(info.connection_request_pending);
    cpe.inform_now();
    let deadline = tokio::time::Instant::now() + WAIT;
    while cpe.get("Device.ManagementServer.ConnectionRequestUsername").as_deref() != Some("cr-user") {
        assert!(tokio::time::Instant::now() < deadline, "the CPE never got the connection-request credentials");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    cpe.stop();

    // Bound to its device: another CPE with them is refused.
    let mut other = f.sim_config(tr181("rt2"));
    other.acs_credentials = Some(("rt-user".into(), "rt-pass".into()));
    let impostor = unidm_tr069::sim::SimCpe::start(other).await.unwrap();
    assert!(impostor.wait_for(WAIT, |s| s.failed_sessions >= 1).await);
    impostor.stop();
    // A user taken, or bad input: refused.
    let other_id = unidm_models::DeviceId::tr069("00D09E", Some("SimGW"), "rt9").unwrap();
    f.engine.provision_device(other_id.clone(), BTreeMap::new()).await.unwrap();
    assert!(f.adapter.set_cpe_credentials(&other_id, Some(("rt-user", "x"))).await.is_err());
    assert!(f.adapter.set_cpe_credentials(&other_id, Some(("", "x"))).await.is_err());

    // Kept across a restart; removed, they open nothing.
    f.engine.shutdown().await;
    let Fixture { engine, dir, .. } = f;
    drop(engine);
    let f = reopen(dir, Tr069Config { cpe_auth: CpeAuth::Digest { users: BTreeMap::new() }, ..local_config() }).await;
    assert_eq!(f.adapter.credentials(&id).cpe_username.as_deref(), Some("rt-user"));
    f.adapter.set_cpe_credentials(&id, None).await.unwrap();
    let mut again = f.sim_config(tr181("rt1"));
    again.acs_credentials = Some(("rt-user".into(), "rt-pass".into()));
    let refused = unidm_tr069::sim::SimCpe::start(again).await.unwrap();
    assert!(refused.wait_for(WAIT, |s| s.failed_sessions >= 1).await);
    refused.stop();
}
