//! CoAP over DTLS (PSK, raw public keys, certificates): the simulated client and libcoap's
//! `coap-client-openssl` register over `coaps`, the device is read over its session, identities
//! and keys are bound to their endpoints, and those set through the adapter survive a restart.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::{native, Fixture};
use unidm_lwm2m::sim::{SimClient, SimConfig};
use unidm_lwm2m::{DtlsSettings, Lwm2mConfig};
use unidm_models::{NativeOp, OperationState, PresenceState};

const KEY: &[u8] = b"secret-psk-0001!";

fn dtls_config() -> Lwm2mConfig {
    let mut c = common::config();
    c.dtls = Some(DtlsSettings { listen: SocketAddr::from(([127, 0, 0, 1], 0)), ..Default::default() });
    c
}

fn secure_sim(f: &Fixture, ep: &str, identity: &str, key: &[u8]) -> SimConfig {
    let mut c = SimConfig::new(ep, f.adapter.dtls_addr().expect("DTLS listening"));
    c.psk = Some((identity.as_bytes().to_vec(), key.to_vec()));
    c
}

/// A `coaps` server account with a PSK, as a bootstrap configuration gives it.
fn psk_account(f: &Fixture, short_server_id: u16, identity: &str) -> unidm_lwm2m::bootstrap::ServerAccount {
    use base64::Engine as _;
    unidm_lwm2m::bootstrap::ServerAccount {
        short_server_id,
        uri: format!("coaps://{}", f.adapter.dtls_addr().unwrap()),
        security: unidm_lwm2m::bootstrap::SecurityMode::Psk {
            identity: identity.into(),
            key: base64::engine::general_purpose::STANDARD.encode(KEY),
        },
        lifetime: 120,
        binding: "U".into(),
        default_min_period: None,
        default_max_period: None,
        notification_storing: true,
    }
}

#[tokio::test]
async fn a_client_registers_over_dtls_psk_and_is_read_over_its_session() {
    let f = Fixture::with(dtls_config()).await;
    f.adapter.set_psk(b"id-dev-1", Some("dev-1"), KEY).await.unwrap();
    let _sim = f.online(secure_sim(&f, "dev-1", "id-dev-1", KEY)).await;
    let op = f.run("dev-1", native(NativeOp::Read, "/3/0/0", None)).await;
    assert_eq!(op.state, OperationState::Succeeded, "{op:?}");
    let result = op.result.unwrap();
    assert!(result.to_string().contains("unidm sim"), "{result}");
    assert_eq!(f.adapter.psk_identities("dev-1"), [b"id-dev-1".to_vec()]);
    f.stop().await;
}

/// Observes `/3/0/9` of `ep` and sees a change of it notified (`value`), then updates its
/// firmware (pull) and sees the new version read back: what a client over DTLS must carry.
async fn observe_and_update_firmware(f: &Fixture, sim: &SimClient, ep: &str, value: i64) {
    use unidm_core::Received;
    use unidm_lwm2m::codec::Value;
    use unidm_lwm2m::Path;
    use unidm_models::{Action, Event, FirmwareUpdate};
    let op = f.run(ep, native(NativeOp::Observe, "/3/0/9", None)).await;
    assert_eq!(op.state, OperationState::Succeeded, "{op:?}");
    let mut events = f.engine.subscribe();
    sim.set(Path::Resource(3, 0, 9), Value::Integer(value));
    let seen = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            if let Some(Received::Event(Event::Observation { path, value, .. })) = events.recv().await {
                if path == "/3/0/9" {
                    return value;
                }
            }
        }
    })
    .await
    .expect("a notification over DTLS");
    assert_eq!(seen, serde_json::json!(value));
    let fw = Action::Firmware(FirmwareUpdate {
        uri: "http://127.0.0.1/fw-2.0.bin".into(),
        version: Some("2.0".into()),
        name: None,
    });
    let op = f.run(ep, fw).await;
    assert_eq!(op.state, OperationState::Succeeded, "{:?}", op.error);
    // The simulated client reports the version its behaviour names (2.0) after the update.
    f.wait_device(ep, |d| d.identity.fw_version.as_deref() == Some("2.0")).await;
}

/// Observe and a firmware update (pull, then the new version read back) over the DTLS
/// session; then a flood of ClientHellos from many ports leaves the device served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn observe_firmware_and_a_client_hello_flood_over_dtls() {
    let f = Fixture::with(dtls_config()).await;
    f.adapter.set_psk(b"id-obs", Some("obs-1"), KEY).await.unwrap();
    let sim = f.online(secure_sim(&f, "obs-1", "id-obs", KEY)).await;
    observe_and_update_firmware(&f, &sim, "obs-1", 42).await;

    // 2,000 ClientHellos from 200 ports: they cost cookies (and bounded half-open state), and
    // the registered device is still read.
    let mut hello = unidm_lwm2m::dtls::DtlsClient::psk(b"x", b"y").unwrap();
    let dtls = f.adapter.dtls_addr().unwrap();
    hello.send(dtls, b"x").unwrap();
    let record = hello.drain_transmits().remove(0).1;
    for _ in 0..200 {
        let s = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        for _ in 0..10 {
            let _ = s.send_to(&record, dtls).await;
        }
    }
    let op = f.run("obs-1", native(NativeOp::Read, "/3/0/0", None)).await;
    assert_eq!(op.state, OperationState::Succeeded, "{op:?}");
    f.stop().await;
}

#[tokio::test]
async fn wrong_keys_other_endpoints_and_plain_coap_are_refused() {
    let f = Fixture::with(dtls_config()).await;
    f.adapter.set_psk(b"id-dev-1", Some("dev-1"), KEY).await.unwrap();
    f.adapter.set_psk(b"id-dev-2", Some("dev-2"), KEY).await.unwrap();
    // A wrong key: no session, so no registration (the client's CoAP retries would go on).
    let sim = SimClient::start(secure_sim(&f, "dev-1", "id-dev-1", b"not-the-key-0000")).await.unwrap();
    let r = tokio::time::timeout(Duration::from_secs(3), sim.register()).await;
    assert!(!matches!(r, Ok(Ok(()))), "{r:?}");
    // Another endpoint's identity: the session opens, the Register gets 4.03.
    let sim = SimClient::start(secure_sim(&f, "dev-1", "id-dev-2", KEY)).await.unwrap();
    let e = sim.register().await.unwrap_err();
    assert!(e.to_string().contains("4.03") || e.to_string().to_lowercase().contains("forbidden"), "{e}");
    // dev-1 has credentials: plain CoAP is refused.
    let plain = SimClient::start(SimConfig::new("dev-1", f.addr())).await.unwrap();
    assert!(plain.register().await.is_err());
    assert!(f.device("dev-1").is_none_or(|d| d.presence.state != PresenceState::Online));
    // An endpoint without credentials still registers in clear text.
    let _open = f.online(SimConfig::new("dev-3", f.addr())).await;
    f.stop().await;
}

#[tokio::test]
async fn psk_identities_survive_a_restart_and_can_be_removed() {
    let f = Fixture::with(dtls_config()).await;
    f.adapter.set_psk(b"id-dev-1", Some("dev-1"), KEY).await.unwrap();
    assert!(f.adapter.set_psk(b"", None, KEY).await.is_err());
    assert!(f.adapter.set_psk(b"x", None, &[0; 65]).await.is_err());
    let dir = f.stop().await;
    let f = Fixture::on(dir, dtls_config()).await;
    assert_eq!(f.adapter.psk_identities("dev-1").len(), 1, "loaded at start");
    let _sim = f.online(secure_sim(&f, "dev-1", "id-dev-1", KEY)).await;
    assert!(f.adapter.remove_psk(b"id-dev-1").await.unwrap());
    assert!(f.adapter.psk_identities("dev-1").is_empty());
    f.stop().await;
}

/// libcoap's DTLS-PSK client (OpenSSL inside, code we did not write) registers over `coaps`.
/// Skipped with a notice when the binary is missing, unless `UNIDM_REQUIRE_LIBCOAP=1` (CI).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn libcoap_registers_over_dtls_psk() {
    const BINARY: &str = "coap-client-openssl";
    if std::process::Command::new(BINARY).arg("-h").output().is_err() {
        assert!(std::env::var("UNIDM_REQUIRE_LIBCOAP").is_err(), "{BINARY} is required: install libcoap3-bin");
        eprintln!("SKIPPED: {BINARY} not installed (apt-get install libcoap3-bin)");
        return;
    }
    let mut config = dtls_config();
    config.read_device_on_register = false;
    let f = Fixture::with(config).await;
    f.adapter.set_psk(b"libcoap-id", Some("libcoap-psk"), KEY).await.unwrap();
    let uri = format!("coaps://{}/rd?ep=libcoap-psk&lt=60&lwm2m=1.1&b=U", f.adapter.dtls_addr().unwrap());
    let run = |identity: &'static str| {
        let uri = uri.clone();
        async move {
            tokio::process::Command::new(BINARY)
                .args(["-m", "post", "-t", "40", "-e", "</1/0>,</3/0>", "-B", "5", "-u", identity, "-k"])
                .arg(std::str::from_utf8(KEY).unwrap())
                .arg(&uri)
                .output()
                .await
                .expect("run coap-client-openssl")
        }
    };
    let out = run("libcoap-id").await;
    assert!(out.status.success(), "coap-client-openssl failed: {}", String::from_utf8_lossy(&out.stderr));
    let d = f.wait_device("libcoap-psk", |d| d.presence.state == PresenceState::Online).await;
    assert_eq!(d.presence.lifetime_s, Some(60));
    let reg = f.adapter.registration("libcoap-psk").expect("registered");
    assert_eq!(reg.objects.len(), 2);
    f.stop().await;
}

/// The bootstrap server provisions a PSK account for `coaps`: the server learns the identity,
/// the client registers over DTLS with what it was given, and the bootstrap configuration is
/// shown without its key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bootstrapped_psk_is_used_to_register_over_dtls() {
    let f = Fixture::with(dtls_config()).await;
    let bs = f.adapter.bootstrap_addr().expect("bootstrap server");
    let account = psk_account(&f, 7, "bs-psk-id");
    let config = unidm_lwm2m::BootstrapConfig { servers: vec![account] };
    f.adapter.put_bootstrap_config("bs-dtls", config.clone()).await.unwrap();
    assert_eq!(f.adapter.psk_identities("bs-dtls"), [b"bs-psk-id".to_vec()]);
    let shown = config.redacted();
    assert!(!serde_json::to_string(&shown).unwrap().contains(&config_key(&config)), "no key shown");
    let sim = SimClient::start(SimConfig::new("bs-dtls", SocketAddr::from(([127, 0, 0, 1], 9)))).await.unwrap();
    sim.bootstrap(bs).await.unwrap();
    assert_eq!(sim.server(), f.adapter.dtls_addr().unwrap());
    sim.register().await.unwrap();
    f.wait_device("bs-dtls", |d| d.presence.state == PresenceState::Online).await;
    // Replaced by a configuration with another identity, then deleted: no identity is left.
    let replaced = unidm_lwm2m::BootstrapConfig { servers: vec![psk_account(&f, 7, "bs-psk-id-2")] };
    f.adapter.put_bootstrap_config("bs-dtls", replaced).await.unwrap();
    assert_eq!(f.adapter.psk_identities("bs-dtls"), [b"bs-psk-id-2".to_vec()]);
    assert!(f.adapter.delete_bootstrap_config("bs-dtls").await);
    assert!(f.adapter.psk_identities("bs-dtls").is_empty());
    f.stop().await;
}

fn config_key(c: &unidm_lwm2m::BootstrapConfig) -> String {
    match &c.servers[0].security {
        unidm_lwm2m::bootstrap::SecurityMode::Psk { key, .. } => key.clone(),
        _ => unreachable!(),
    }
}

/// Certificate mode: a client certificate a trusted CA signed registers as the endpoint its CN
/// names; another CN is refused with 4.03; a certificate of an unknown CA opens no session.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn x509_clients_register_as_their_certificate_names() {
    use unidm_lwm2m::dtls::X509Settings;
    use unidm_testkit::tls::TestCa;
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new(dir.path());
    let (cert, key) = ca.server_pem();
    let mut config = dtls_config();
    if let Some(d) = config.dtls.as_mut() {
        d.x509 = Some(X509Settings {
            cert_pem: cert.into_bytes(),
            key_pem: key.into_bytes(),
            ca_pem: ca.ca_pem.clone().into_bytes(),
        });
    }
    let f = Fixture::with(config).await;
    let client = |ca_of_cert: &TestCa, cn: &str, ep: &str| {
        let (cert, key) = ca_of_cert.client(cn);
        let mut c = SimConfig::new(ep, f.adapter.dtls_addr().unwrap());
        c.x509 = Some(X509Settings {
            cert_pem: cert.into_bytes(),
            key_pem: key.into_bytes(),
            ca_pem: ca.ca_pem.clone().into_bytes(),
        });
        c
    };
    let _sim = f.online(client(&ca, "x509-dev", "x509-dev")).await;
    let op = f.run("x509-dev", native(NativeOp::Read, "/3/0/0", None)).await;
    assert_eq!(op.state, OperationState::Succeeded, "{op:?}");

    let other = SimClient::start(client(&ca, "someone-else", "x509-dev-2")).await.unwrap();
    let e = other.register().await.unwrap_err();
    assert!(e.contains("4.03") || e.to_lowercase().contains("forbidden"), "{e}");
    let stranger_ca = TestCa::new(tempfile::tempdir().unwrap().path());
    let stranger = SimClient::start(client(&stranger_ca, "x509-dev-3", "x509-dev-3")).await.unwrap();
    let r = tokio::time::timeout(Duration::from_secs(3), stranger.register()).await;
    assert!(!matches!(r, Ok(Ok(()))), "{r:?}");
    assert!(f.device("x509-dev-3").is_none());
    // PSK clients still work beside certificates.
    f.adapter.set_psk(b"id-psk", Some("psk-dev"), KEY).await.unwrap();
    let _psk = f.online(secure_sim(&f, "psk-dev", "id-psk", KEY)).await;
    f.stop().await;
}

/// Bootstrap over DTLS (coaps on the bootstrap server): the client bootstraps with its
/// bootstrap PSK, is given its server PSK, and registers over DTLS with it; another identity
/// cannot bootstrap as that endpoint.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bootstrap_over_dtls_then_register_over_dtls() {
    let mut config = dtls_config();
    config.bootstrap_dtls = Some(DtlsSettings { listen: SocketAddr::from(([127, 0, 0, 1], 0)), ..Default::default() });
    let f = Fixture::with(config).await;
    let bs = f.adapter.bootstrap_dtls_addr().expect("bootstrap over DTLS");
    // The bootstrap identity, bound to the endpoint.
    f.adapter.set_psk(b"bs-id-7", Some("bs-dtls-7"), b"bootstrap-key-77").await.unwrap();
    let account = psk_account(&f, 9, "srv-id-7");
    let config = unidm_lwm2m::BootstrapConfig { servers: vec![account] };
    f.adapter.put_bootstrap_config("bs-dtls-7", config).await.unwrap();
    let mut c = SimConfig::new("bs-dtls-7", SocketAddr::from(([127, 0, 0, 1], 9)));
    c.psk = Some((b"bs-id-7".to_vec(), b"bootstrap-key-77".to_vec()));
    let sim = SimClient::start(c).await.unwrap();
    sim.bootstrap(bs).await.unwrap();
    assert_eq!(sim.server(), f.adapter.dtls_addr().unwrap());
    sim.register().await.unwrap();
    f.wait_device("bs-dtls-7", |d| d.presence.state == PresenceState::Online).await;

    f.adapter.set_psk(b"other-id", Some("someone-else"), b"other-key-000000").await.unwrap();
    let mut c = SimConfig::new("bs-dtls-7", SocketAddr::from(([127, 0, 0, 1], 9)));
    c.psk = Some((b"other-id".to_vec(), b"other-key-000000".to_vec()));
    let impostor = SimClient::start(c).await.unwrap();
    let r = tokio::time::timeout(Duration::from_secs(5), impostor.bootstrap(bs)).await;
    assert!(!matches!(r, Ok(Ok(()))), "another identity bootstrapping bs-dtls-7: {r:?}");
    f.stop().await;
}

/// aiocoap's client with tinydtls (PyPI `aiocoap[tinydtls]`: a DTLS stack nobody here wrote,
/// `TLS_PSK_WITH_AES_128_CCM_8` only) registers over `coaps` with a PSK. Skipped with a notice
/// when it is missing, unless `UNIDM_REQUIRE_AIOCOAP=1` (CI).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aiocoap_tinydtls_registers_over_dtls_psk() {
    let binary = std::env::var("UNIDM_AIOCOAP_CLIENT").unwrap_or_else(|_| "aiocoap-client".into());
    if std::process::Command::new(&binary).arg("--help").output().is_err() {
        assert!(
            std::env::var("UNIDM_REQUIRE_AIOCOAP").is_err(),
            "{binary} is required: pip install 'aiocoap[tinydtls]'"
        );
        eprintln!("SKIPPED: {binary} not installed (pip install 'aiocoap[tinydtls]')");
        return;
    }
    let mut config = dtls_config();
    config.read_device_on_register = false;
    let f = Fixture::with(config).await;
    f.adapter.set_psk(b"aio-id", Some("aio-1"), KEY).await.unwrap();
    let addr = f.adapter.dtls_addr().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let creds = dir.path().join("creds.json");
    let key = std::str::from_utf8(KEY).unwrap();
    let json = format!(
        r#"{{"coaps://{addr}/*": {{"dtls": {{"psk": {{"ascii": "{key}"}}, "client-identity": {{"ascii": "aio-id"}}}}}}}}"#
    );
    std::fs::write(&creds, json).unwrap();
    let out = tokio::process::Command::new(&binary)
        .args(["-m", "POST", "--content-format", "application/link-format", "--payload", "</1/0>,</3/0>,</5/0>"])
        .arg("--credentials")
        .arg(&creds)
        .arg(format!("coaps://{addr}/rd?ep=aio-1&lt=60&b=U"))
        .output()
        .await
        .expect("run aiocoap-client");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "aiocoap-client failed: {text}");
    assert!(text.contains("/rd/"), "a Location-Path under /rd: {text}");
    let d = f.wait_device("aio-1", |d| d.presence.state == PresenceState::Online).await;
    assert_eq!(d.presence.lifetime_s, Some(60));
    assert_eq!(f.adapter.registration("aio-1").expect("registered").objects.len(), 3);
    f.stop().await;
}

/// A fresh P-256 key pair: the private key (PKCS #8 DER, as the Security object carries it)
/// and the public key (DER `SubjectPublicKeyInfo`).
fn p256() -> (Vec<u8>, Vec<u8>) {
    let group = openssl::ec::EcGroup::from_curve_name(openssl::nid::Nid::X9_62_PRIME256V1).unwrap();
    let key = openssl::pkey::PKey::from_ec_key(openssl::ec::EcKey::generate(&group).unwrap()).unwrap();
    (key.private_key_to_pkcs8().unwrap(), key.public_key_to_der().unwrap())
}

/// A server taking raw public keys with its own key pair; answers the public key.
fn rpk_config() -> (Lwm2mConfig, Vec<u8>) {
    let (server_key, server_pub) = p256();
    let mut c = dtls_config();
    if let Some(d) = c.dtls.as_mut() {
        d.rpk_key = Some(server_key);
    }
    (c, server_pub)
}

fn rpk_sim(f: &Fixture, ep: &str, key: &[u8], server_pub: &[u8]) -> SimConfig {
    let mut c = SimConfig::new(ep, f.adapter.dtls_addr().expect("DTLS listening"));
    c.rpk = Some((key.to_vec(), server_pub.to_vec()));
    c
}

/// Raw public keys (RFC 7250): a client whose key is bound to its endpoint registers, is read,
/// observed and firmware-updated over its session; an unknown key opens no session; a key
/// bound to another endpoint gets 4.03; plain CoAP is refused for the bound endpoint; the key
/// survives a restart and can be removed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_public_key_clients_register_and_are_managed_over_dtls() {
    let (config, server_pub) = rpk_config();
    let shown = format!("{config:?}");
    assert!(shown.contains("rpk_key: Some(\"<secret>\")"), "the server's private key is not shown: {shown}");
    let f = Fixture::with(config.clone()).await;
    let (key_1, pub_1) = p256();
    let (key_2, pub_2) = p256();
    // Given as PEM: stored as the canonical DER.
    let pem = openssl::pkey::PKey::public_key_from_der(&pub_1).unwrap().public_key_to_pem().unwrap();
    assert_eq!(f.adapter.set_rpk(&pem, Some("rpk-1")).await.unwrap(), pub_1);
    f.adapter.set_rpk(&pub_2, Some("rpk-2")).await.unwrap();
    assert!(f.adapter.set_rpk(b"not a key", Some("rpk-3")).await.is_err());
    assert_eq!(f.adapter.rpk_keys("rpk-1"), std::slice::from_ref(&pub_1));

    let sim = f.online(rpk_sim(&f, "rpk-1", &key_1, &server_pub)).await;
    let op = f.run("rpk-1", native(NativeOp::Read, "/3/0/0", None)).await;
    assert_eq!(op.state, OperationState::Succeeded, "{op:?}");
    observe_and_update_firmware(&f, &sim, "rpk-1", 17).await;

    // An unknown key: no session, no registration.
    let (stranger, _) = p256();
    let sim_x = SimClient::start(rpk_sim(&f, "rpk-x", &stranger, &server_pub)).await.unwrap();
    let r = tokio::time::timeout(Duration::from_secs(3), sim_x.register()).await;
    assert!(!matches!(r, Ok(Ok(()))), "{r:?}");
    assert!(f.device("rpk-x").is_none());
    // rpk-2's key presenting itself as rpk-1 (bound to another key): the session opens, 4.03.
    let other = SimClient::start(rpk_sim(&f, "rpk-1", &key_2, &server_pub)).await.unwrap();
    let e = other.register().await.unwrap_err();
    assert!(e.contains("4.03") || e.to_lowercase().contains("forbidden"), "{e}");
    // A server key other than the one the client was given: the client refuses the server.
    let (_, wrong_server) = p256();
    let fooled = SimClient::start(rpk_sim(&f, "rpk-2", &key_2, &wrong_server)).await.unwrap();
    let r = tokio::time::timeout(Duration::from_secs(3), fooled.register()).await;
    assert!(!matches!(r, Ok(Ok(()))), "{r:?}");
    // Plain CoAP for a bound endpoint is refused.
    let plain = SimClient::start(SimConfig::new("rpk-2", f.addr())).await.unwrap();
    assert!(plain.register().await.is_err());
    drop((sim, sim_x, other, fooled, plain));

    let dir = f.stop().await;
    let f = Fixture::on(dir, config).await;
    assert_eq!(f.adapter.rpk_keys("rpk-2"), std::slice::from_ref(&pub_2), "loaded at start");
    let _sim = f.online(rpk_sim(&f, "rpk-2", &key_2, &server_pub)).await;
    assert!(f.adapter.remove_rpk(&pub_2).await.unwrap());
    assert!(f.adapter.rpk_keys("rpk-2").is_empty());
    f.stop().await;
}

/// The bootstrap server provisions a raw-public-key account for `coaps` (Security Mode 1:
/// `/0/x/3` the client's public key, `/0/x/5` its private key, `/0/x/4` the server's public
/// key): the server learns the client's key, and the client bootstrapped in clear text
/// registers over DTLS with what it was given.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bootstrapped_raw_public_key_is_used_to_register_over_dtls() {
    use base64::Engine as _;
    let b64 = |d: &[u8]| base64::engine::general_purpose::STANDARD.encode(d);
    let (config, server_pub) = rpk_config();
    let f = Fixture::with(config).await;
    let bs = f.adapter.bootstrap_addr().expect("bootstrap server");
    let (client_key, client_pub) = p256();
    let mut account = psk_account(&f, 5, "unused");
    account.security = unidm_lwm2m::bootstrap::SecurityMode::Rpk {
        public_key: b64(&client_pub),
        secret_key: b64(&client_key),
        server_public_key: b64(&server_pub),
    };
    let config = unidm_lwm2m::BootstrapConfig { servers: vec![account] };
    f.adapter.put_bootstrap_config("bs-rpk", config.clone()).await.unwrap();
    assert_eq!(f.adapter.rpk_keys("bs-rpk"), std::slice::from_ref(&client_pub));
    assert!(!serde_json::to_string(&config.redacted()).unwrap().contains(&b64(&client_key)), "no secret shown");
    let sim = SimClient::start(SimConfig::new("bs-rpk", SocketAddr::from(([127, 0, 0, 1], 9)))).await.unwrap();
    sim.bootstrap(bs).await.unwrap();
    assert_eq!(sim.server(), f.adapter.dtls_addr().unwrap());
    sim.register().await.unwrap();
    f.wait_device("bs-rpk", |d| d.presence.state == PresenceState::Online).await;
    let op = f.run("bs-rpk", native(NativeOp::Read, "/3/0/0", None)).await;
    assert_eq!(op.state, OperationState::Succeeded, "{op:?}");
    // Deleting the configuration takes the key away.
    assert!(f.adapter.delete_bootstrap_config("bs-rpk").await);
    assert!(f.adapter.rpk_keys("bs-rpk").is_empty());
    f.stop().await;
}
