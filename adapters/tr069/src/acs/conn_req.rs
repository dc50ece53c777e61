//! Connection requests, ACS side (TR-069 Amendment 6, 3.2.2): an HTTP GET to the CPE's
//! `ConnectionRequestURL`, answered 200 / 204 once authenticated. The first GET goes without
//! credentials; a 401 is answered with Digest (preferred) or Basic.
//!
//! Header names go out in their canonical title case (`Authorization`, `Host`): HTTP header
//! names are case-insensitive (RFC 9110, 5.1), but a widely deployed CPE agent matches the
//! bytes `Authorization: Digest ` and answers 401 to `authorization: Digest ...`, as hyper
//! writes them by default. curl and other ACSs send title case.

use std::sync::Arc;
use std::time::Duration;

use unidm_models::DeviceId;

use super::Acs;
use crate::digest::{basic_header, Challenge};

/// The HTTP client of connection requests: title-case header names, `timeout` per request.
/// A connection is kept only for the moment between the challenge and the authenticated
/// request: each CPE is a host of its own, and an idle connection per CPE woken would pile up
/// file descriptors by the thousand.
pub(crate) fn client(timeout: Duration) -> reqwest::Client {
    let builder = reqwest::Client::builder()
        .timeout(timeout)
        .http1_title_case_headers()
        .pool_idle_timeout(Duration::from_secs(1))
        .pool_max_idle_per_host(1);
    builder.build().unwrap_or_else(|e| {
        // Only a broken TLS / resolver set-up fails here; the default client still sends
        // requests, in lower case.
        tracing::error!(error = %e, "connection-request client not built; using the default client");
        reqwest::Client::new()
    })
}

/// Why a connection request did not get through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CrFailure {
    /// The CPE answered 401 to the authenticated request: it refused the credentials or the
    /// way they were sent. `challenge` is what it asked for (WWW-Authenticate), never the
    /// secret.
    Refused { status: u16, challenge: String },
    /// Anything else: unreachable, bad URL, no credentials, another status.
    Other(String),
}

impl std::fmt::Display for CrFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CrFailure::Refused { status, challenge } => {
                write!(f, "CPE answered {status} to the authenticated request (challenge: {challenge})")
            }
            CrFailure::Other(why) => f.write_str(why),
        }
    }
}

impl From<String> for CrFailure {
    fn from(why: String) -> Self {
        CrFailure::Other(why)
    }
}

impl From<&str> for CrFailure {
    fn from(why: &str) -> Self {
        CrFailure::Other(why.to_owned())
    }
}

/// The CPE's challenges (WWW-Authenticate) of a response.
fn challenges_of(resp: &reqwest::Response) -> Vec<String> {
    resp.headers()
        .get_all(reqwest::header::WWW_AUTHENTICATE)
        .iter()
        .filter_map(|v| v.to_str().ok().map(str::to_owned))
        .collect()
}

/// Sends one connection request; `Ok` when the CPE accepted it.
pub(crate) async fn send(
    client: &reqwest::Client,
    url: &str,
    creds: Option<&(String, String)>,
    cnonce: &str,
) -> Result<(), CrFailure> {
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("bad ConnectionRequestURL {url:?}: {e}"))?;
    if parsed.scheme() != "http" {
        return Err(format!("unsupported ConnectionRequestURL scheme {:?}", parsed.scheme()).into());
    }
    let first = client.get(parsed.clone()).send().await.map_err(|e| e.to_string())?;
    let status = first.status().as_u16();
    if status == 200 || status == 204 {
        return Ok(());
    }
    if status != 401 {
        return Err(format!("CPE answered {status}").into());
    }
    let Some((user, pass)) = creds else {
        return Err("CPE asks for credentials and none are known".into());
    };
    let challenges = challenges_of(&first);
    let uri = match parsed.query() {
        Some(q) => format!("{}?{q}", parsed.path()),
        None => parsed.path().to_owned(),
    };
    let authorization = if let Some(c) = challenges.iter().find_map(|c| Challenge::parse(c)) {
        c.respond(user, pass, "GET", &uri, cnonce, 1)
    } else if challenges.iter().any(|c| c.trim_start().to_ascii_lowercase().starts_with("basic")) {
        basic_header(user, pass)
    } else {
        return Err("CPE sent no usable challenge".into());
    };
    let second = client
        .get(parsed)
        .header(reqwest::header::AUTHORIZATION, authorization)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    match second.status().as_u16() {
        200 | 204 => Ok(()),
        401 => Err(CrFailure::Refused { status: 401, challenge: challenges_of(&second).join(", ") }),
        s => Err(format!("CPE answered {s} to the authenticated request").into()),
    }
}

/// Sends a UDP connection request (Annex G) to `host:port`, three times as datagrams may be
/// lost; the CPE acts once per `id`.
pub(crate) async fn send_udp(addr: &str, id: u32, user: &str, pass: &str, cnonce: &str) -> Result<(), String> {
    let target = tokio::net::lookup_host(addr)
        .await
        .map_err(|e| format!("bad UDPConnectionRequestAddress {addr:?}: {e}"))?
        .next()
        .ok_or_else(|| format!("UDPConnectionRequestAddress {addr:?} does not resolve"))?;
    let bind: std::net::SocketAddr =
        if target.is_ipv4() { ([0, 0, 0, 0], 0).into() } else { (std::net::Ipv6Addr::UNSPECIFIED, 0).into() };
    let socket = tokio::net::UdpSocket::bind(bind).await.map_err(|e| e.to_string())?;
    let ts = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let datagram = crate::udp_cr::encode(addr, ts, id, user, cnonce, pass);
    for _ in 0..3 {
        socket.send_to(&datagram, target).await.map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// How many connection requests are sent at once, at most (each holds a socket): a burst of
/// operations for thousands of idle CPEs queues here rather than running the ACS out of file
/// descriptors.
pub(crate) const MAX_IN_FLIGHT: usize = 256;

/// Where and how a device takes connection requests.
type CrTarget = (Option<String>, Option<String>, Option<(String, String)>);

/// Sends a connection request to the device if none is in flight: HTTP to its
/// `ConnectionRequestURL` (3.2.2), and when that fails or is unknown, UDP to its
/// `UDPConnectionRequestAddress` (Annex G). A failed one is tried again after
/// [`super::Tr069Config::connection_request_backoff`] (doubling), up to
/// [`super::Tr069Config::connection_request_attempts`] in all, as long as the device has work
/// queued and no session; after the last, its work waits for the CPE's next Inform.
pub(crate) fn connection_request(acs: &Arc<Acs>, device: &DeviceId) {
    if !acs.config.connection_requests {
        return;
    }
    {
        let mut st = acs.state();
        if cr_target(&st, device).is_none() || !st.cr_inflight.insert(device.clone()) {
            return;
        }
    }
    let acs = acs.clone();
    let device = device.clone();
    tokio::spawn(async move {
        let attempts = acs.config.connection_request_attempts.max(1);
        let mut delay = acs.config.connection_request_backoff;
        let mut attempt = 1;
        loop {
            // Read again each time: an Inform between attempts may have brought a new URL.
            let target = cr_target(&acs.state(), &device);
            let Some(target) = target else { break };
            let r = match acs.cr_slots.acquire().await {
                Ok(_slot) => attempt_once(&acs, &device, target).await,
                Err(_) => break,
            };
            match r {
                Ok(()) => {
                    tracing::debug!(%device, attempt, "connection request sent");
                    break;
                }
                Err(e) if attempt >= attempts => {
                    tracing::info!(%device, error = %e, attempt,
                        "connection request failed; the device's work waits for its next Inform");
                    break;
                }
                Err(e) => {
                    tracing::info!(%device, error = %e, attempt, retry_in = ?delay, "connection request failed");
                }
            }
            let Some(h) = acs.handle.get() else { break };
            h.sleep(delay).await;
            delay = delay.saturating_mul(2);
            attempt += 1;
            // Checked and let go under one lock: work queued after this check finds no
            // request in flight and starts its own.
            let mut st = acs.state();
            if st.active.contains_key(&device) || !acs.has_work(&st, &device) {
                st.cr_inflight.remove(&device);
                return;
            }
        }
        acs.state().cr_inflight.remove(&device);
    });
}

fn cr_target(st: &super::state::State, device: &DeviceId) -> Option<CrTarget> {
    let rec = st.devices.get(device)?;
    if rec.cr_url.is_none() && rec.udp_cr_address.is_none() {
        return None;
    }
    Some((rec.cr_url.clone(), rec.udp_cr_address.clone(), rec.cr_username.clone().zip(rec.cr_password.clone())))
}

/// One connection request: HTTP, then UDP when HTTP fails and the CPE has a UDP address.
async fn attempt_once(acs: &Acs, device: &DeviceId, target: CrTarget) -> Result<(), CrFailure> {
    let (url, udp, creds) = target;
    let cnonce = super::secret::token();
    let mut r = match &url {
        Some(url) => send(&acs.http, url, creds.as_ref(), &cnonce).await,
        None => Err("no ConnectionRequestURL".into()),
    };
    if let Err(CrFailure::Refused { status, challenge }) = &r {
        // Worth an operator's eye: the CPE is reachable but refuses the ACS. Its challenge
        // says what it wants; the password stays out of the log.
        tracing::warn!(%device, status, %challenge, url = url.as_deref().unwrap_or_default(),
            "CPE refused the connection request");
    }
    if let (Err(e), Some(addr), Some((user, pass))) = (&r, &udp, &creds) {
        tracing::debug!(%device, error = %e, "HTTP connection request failed; trying UDP");
        let id = super::secret::udp_id();
        r = send_udp(addr, id, user, pass, &cnonce[..16]).await.map_err(CrFailure::Other);
    }
    r
}
