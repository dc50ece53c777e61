//! Connection requests to a CPE agent that is strict about header bytes (field fault: every
//! connection request got 401 because unidm wrote `authorization:` in lower case).

mod acs;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use acs::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use unidm_models::{Action, NativeOp, NativeRequest, OperationState};

/// What the strict stub saw.
#[derive(Default)]
struct Seen {
    /// Requests that carried credentials in any spelling.
    with_credentials: AtomicUsize,
    /// Of those, the ones with the exact bytes `Authorization: Digest ` (accepted).
    accepted: AtomicUsize,
}

/// Reads one HTTP request head (a connection request is a GET without a body).
async fn read_head(sock: &mut tokio::net::TcpStream) -> Option<String> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = sock.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    Some(String::from_utf8_lossy(&buf).into_owned())
}

/// The value of a request head's Authorization header, in any spelling of its name.
fn authorization(head: &str) -> Option<String> {
    head.lines().find_map(|l| {
        let (name, value) = l.split_once(':')?;
        name.eq_ignore_ascii_case("authorization").then(|| value.trim().to_owned())
    })
}

/// GETs the simulated CPE's real listener with `authorization`: its status and challenge.
async fn pass_on(client: &reqwest::Client, url: &str, authorization: Option<String>) -> (u16, Option<String>) {
    let mut forward = client.get(url);
    if let Some(c) = authorization {
        forward = forward.header("Authorization", c);
    }
    match forward.send().await {
        Ok(r) => {
            let challenge = r.headers().get("www-authenticate").and_then(|v| v.to_str().ok()).map(str::to_owned);
            (r.status().as_u16(), challenge)
        }
        Err(_) => (502, None),
    }
}

/// Answers with `status` (and `challenge`), then closes.
async fn answer(sock: &mut tokio::net::TcpStream, status: u16, challenge: Option<String>) {
    let mut reply = format!("HTTP/1.1 {status} X\r\nContent-Length: 0\r\nConnection: close\r\n");
    if let Some(c) = challenge {
        reply.push_str(&format!("WWW-Authenticate: {c}\r\n"));
    }
    reply.push_str("\r\n");
    let _ = sock.write_all(reply.as_bytes()).await;
    let _ = sock.shutdown().await;
}

/// A CPE's connection-request endpoint that matches header bytes as the field agent does: it
/// passes the request on to the simulated CPE's real (Digest-checking) listener only when it
/// contains exactly `Authorization: Digest `, and answers 401 with the CPE's challenge otherwise.
fn spawn_strict_stub(listener: tokio::net::TcpListener, real_url: String, seen: Arc<Seen>) {
    tokio::spawn(async move {
        let client = reqwest::Client::new();
        loop {
            let Ok((mut sock, _)) = listener.accept().await else { return };
            let (client, real_url, seen) = (client.clone(), real_url.clone(), seen.clone());
            tokio::spawn(async move {
                let Some(head) = read_head(&mut sock).await else { return };
                let credentials = authorization(&head);
                let mut passed = None;
                if let Some(c) = credentials {
                    seen.with_credentials.fetch_add(1, Ordering::SeqCst);
                    if head.contains("\r\nAuthorization: Digest ") {
                        seen.accepted.fetch_add(1, Ordering::SeqCst);
                        passed = Some(c);
                    }
                }
                // Without the exact bytes the real listener sees no credentials: 401 + challenge.
                let (status, challenge) = pass_on(&client, &real_url, passed).await;
                answer(&mut sock, status, challenge).await;
            });
        }
    });
}

#[tokio::test]
async fn connection_request_reaches_a_cpe_that_matches_title_case_header_bytes() {
    let f = fixture().await;
    let stub = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let stub_url = format!("http://{}/", stub.local_addr().unwrap());
    let mut config = f.sim_config(tr181("strict-cr-1"));
    // No periodic Inform: the operation can only reach the CPE through the connection request.
    config.periodic_inform = None;
    config.connection_request_url = Some(stub_url);
    let (cpe, id) = f.sim(config).await;
    let seen = Arc::new(Seen::default());
    spawn_strict_stub(stub, cpe.connection_request_url(), seen.clone());
    // The bootstrap session set the connection-request credentials; wait until it is over.
    assert!(cpe.wait_for(WAIT, |_| cpe.is_idle()).await);
    assert!(cpe.get("Device.ManagementServer.ConnectionRequestUsername").is_some_and(|u| u.starts_with("unidm-")));
    let before = cpe.stats();

    let read = Action::Native(NativeRequest {
        op: NativeOp::Read,
        path: "Device.DeviceInfo.UpTime".into(),
        value: None,
        args: None,
        format: None,
    });
    let op = f.run(&id, read).await;
    assert_eq!(op.state, OperationState::Succeeded, "{op:?}");
    let after = cpe.stats();
    assert_eq!(after.connection_requests, before.connection_requests + 1, "the CPE accepted one connection request");
    assert!(after.last_events.contains(&"6 CONNECTION REQUEST".to_owned()), "{after:?}");
    assert!(!after.last_events.contains(&"2 PERIODIC".to_owned()), "{after:?}");
    assert_eq!(seen.accepted.load(Ordering::SeqCst), 1);
    assert_eq!(seen.with_credentials.load(Ordering::SeqCst), 1, "the first authenticated request was accepted");
    cpe.stop();
}

/// A connection-request endpoint that answers 503 to its first `fail_first` requests, then
/// passes requests on to the simulated CPE's real listener; counts every request.
fn spawn_flaky_stub(listener: tokio::net::TcpListener, real_url: String, fail_first: usize, seen: Arc<AtomicUsize>) {
    tokio::spawn(async move {
        let client = reqwest::Client::new();
        loop {
            let Ok((mut sock, _)) = listener.accept().await else { return };
            let (client, real_url, seen) = (client.clone(), real_url.clone(), seen.clone());
            tokio::spawn(async move {
                let Some(head) = read_head(&mut sock).await else { return };
                let n = seen.fetch_add(1, Ordering::SeqCst);
                let (status, challenge) = match n < fail_first {
                    true => (503, None),
                    false => pass_on(&client, &real_url, authorization(&head)).await,
                };
                answer(&mut sock, status, challenge).await;
            });
        }
    });
}

/// An idle CPE (no periodic Inform) behind a flaky connection-request endpoint.
async fn flaky_cpe(
    f: &Fixture,
    serial: &str,
    fail_first: usize,
) -> (unidm_tr069::sim::SimCpe, unidm_models::DeviceId, Arc<AtomicUsize>) {
    let stub = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mut config = f.sim_config(tr181(serial));
    config.periodic_inform = None;
    config.connection_request_url = Some(format!("http://{}/", stub.local_addr().unwrap()));
    let (cpe, id) = f.sim(config).await;
    let seen = Arc::new(AtomicUsize::new(0));
    spawn_flaky_stub(stub, cpe.connection_request_url(), fail_first, seen.clone());
    assert!(cpe.wait_for(WAIT, |_| cpe.is_idle()).await);
    (cpe, id, seen)
}

fn uptime() -> Action {
    Action::Native(NativeRequest {
        op: NativeOp::Read,
        path: "Device.DeviceInfo.UpTime".into(),
        value: None,
        args: None,
        format: None,
    })
}

#[tokio::test]
async fn a_failed_connection_request_is_sent_again() {
    let config = unidm_tr069::Tr069Config {
        connection_request_attempts: 3,
        connection_request_backoff: std::time::Duration::from_millis(100),
        ..local_config()
    };
    let f = fixture_with(config).await;
    let (cpe, id, seen) = flaky_cpe(&f, "flaky-cr-1", 2).await;
    let before = cpe.stats().connection_requests;
    let op = f.run(&id, uptime()).await;
    assert_eq!(op.state, OperationState::Succeeded, "{op:?}");
    // Two refused attempts, then the third: its challenge and the authenticated request.
    assert_eq!(seen.load(Ordering::SeqCst), 4);
    assert_eq!(cpe.stats().connection_requests, before + 1);
    cpe.stop();
}

#[tokio::test]
async fn connection_requests_stop_after_their_attempts() {
    let config = unidm_tr069::Tr069Config {
        connection_request_attempts: 2,
        connection_request_backoff: std::time::Duration::from_millis(100),
        ..local_config()
    };
    let f = fixture_with(config).await;
    let (cpe, id, seen) = flaky_cpe(&f, "flaky-cr-2", usize::MAX).await;
    let op = f.engine.create_operation(&id, uptime(), unidm_core::CreateOptions::default()).await.unwrap();
    unidm_testkit::until("two attempts", || seen.load(Ordering::SeqCst) == 2).await;
    // Past the next backoffs (100 + 200 ms): no third attempt; the operation waits.
    tokio::time::sleep(std::time::Duration::from_millis(700)).await;
    assert_eq!(seen.load(Ordering::SeqCst), 2);
    assert!(!f.engine.operation(op.id).await.unwrap().state.is_terminal());
    cpe.stop();
}
