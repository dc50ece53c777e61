//! The HTTP shell of the ACS (TR-069 Amendment 6, 3.4 "HTTP" binding): one POST route on
//! axum, cookies, CPE authentication (3.4.4: Basic or Digest), body limit. Everything else is
//! the driver's.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, DefaultBodyLimit, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;

use super::driver::HttpReply;
use super::{Acs, CpeAuth};
use crate::digest::{parse_basic, Challenge, DigestAuthorization};

/// Name of the session cookie.
const COOKIE: &str = "session";
/// How long a Digest nonce stays valid.
const NONCE_LIFETIME: Duration = Duration::from_secs(300);

/// Serves the ACS on `listener` until the adapter stops.
pub(crate) fn spawn_server(
    acs: Arc<Acs>,
    listener: tokio::net::TcpListener,
    tls: Option<Arc<unidm_core::tls::rustls::ServerConfig>>,
) {
    let path = if acs.config.path.starts_with('/') { acs.config.path.clone() } else { format!("/{}", acs.config.path) };
    let mut router = Router::new()
        .route(&path, post(handle))
        .layer(DefaultBodyLimit::max(acs.config.max_envelope))
        .with_state(acs.clone());
    if let Some(files) = &acs.config.files {
        router = router.merge(super::files::router(files.clone()));
    }
    let mut stop = acs.stop.subscribe();
    let task = tokio::spawn(async move {
        let shutdown = async move {
            let _ = stop.changed().await;
        };
        let r = unidm_core::tls::serve(listener, tls, router, shutdown).await;
        if let Err(e) = r {
            tracing::error!(error = %e, "CWMP ACS server stopped");
        }
    });
    acs.server_task.set(task);
}

/// The `session` cookie, read leniently (some CPEs send odd separators).
fn session_cookie(headers: &HeaderMap) -> Option<String> {
    headers.get_all(header::COOKIE).iter().filter_map(|v| v.to_str().ok()).find_map(|v| {
        v.split([';', ',']).map(str::trim).find_map(|kv| kv.strip_prefix(COOKIE)?.strip_prefix('=').map(str::to_owned))
    })
}

/// Undoes `Content-Encoding: gzip | deflate` (CPEs with `ManagementServer.HTTPCompression`),
/// never inflating past `max` bytes.
pub(crate) fn decode_body(encoding: Option<&str>, body: Bytes, max: usize) -> Result<Bytes, (StatusCode, String)> {
    use std::io::Read;
    let encoding = encoding.map(|e| e.trim().to_ascii_lowercase());
    let mut out = Vec::new();
    let limit = u64::try_from(max).unwrap_or(u64::MAX).saturating_add(1);
    let read = match encoding.as_deref() {
        None | Some("") | Some("identity") => return Ok(body),
        Some("gzip") | Some("x-gzip") => flate2::read::GzDecoder::new(&body[..]).take(limit).read_to_end(&mut out),
        Some("deflate") => {
            // RFC 9110 deflate is zlib-wrapped; some clients send raw deflate.
            let zlib = flate2::read::ZlibDecoder::new(&body[..]).take(limit).read_to_end(&mut out);
            if zlib.is_err() {
                out.clear();
                flate2::read::DeflateDecoder::new(&body[..]).take(limit).read_to_end(&mut out)
            } else {
                zlib
            }
        }
        Some(other) => {
            return Err((StatusCode::UNSUPPORTED_MEDIA_TYPE, format!("Content-Encoding {other} not supported")))
        }
    };
    match read {
        Ok(_) if out.len() > max => Err((StatusCode::PAYLOAD_TOO_LARGE, "inflated envelope too large".into())),
        Ok(_) => Ok(Bytes::from(out)),
        Err(e) => Err((StatusCode::BAD_REQUEST, format!("bad compressed body: {e}"))),
    }
}

async fn handle(
    State(acs): State<Arc<Acs>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let encoding = headers.get(header::CONTENT_ENCODING).and_then(|v| v.to_str().ok());
    let body = match decode_body(encoding, body, acs.config.max_envelope) {
        Ok(b) => b,
        Err(refusal) => return refusal.into_response(),
    };
    let cookie = session_cookie(&headers);
    let (in_session, open) = {
        let st = acs.state();
        (
            cookie.as_deref().is_some_and(|c| st.sessions.contains_key(c)) || st.by_peer.contains_key(&peer),
            st.sessions.len(),
        )
    };
    if !in_session && open >= acs.config.max_sessions {
        // Overload: new sessions come back later (as GenieACS does, 503 + Retry-After).
        let mut r = (StatusCode::SERVICE_UNAVAILABLE, "too many CWMP sessions").into_response();
        r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("60"));
        return r;
    }
    let mut user = None;
    if !in_session {
        match authenticate(&acs, &headers) {
            Ok(u) => user = u,
            Err(challenge) => return challenge,
        }
    }
    let span = tracing::info_span!("cwmp_session", %peer, session = cookie.as_deref().unwrap_or("-"));
    match tracing::Instrument::instrument(acs.post(cookie.as_deref(), peer, &body, user), span).await {
        HttpReply::Envelope(bytes, new_cookie) => {
            let mut resp = (StatusCode::OK, bytes).into_response();
            let h = resp.headers_mut();
            h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/xml; charset=\"utf-8\""));
            if let Some(c) = new_cookie.and_then(|c| HeaderValue::from_str(&format!("{COOKIE}={c}; Path=/")).ok()) {
                h.insert(header::SET_COOKIE, c);
            }
            resp
        }
        HttpReply::NoContent => StatusCode::NO_CONTENT.into_response(),
        HttpReply::Error(status, why) => {
            tracing::info!(%peer, status, %why, "CWMP POST refused");
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
            (status, why).into_response()
        }
    }
}

/// The password of `user`: from the configuration, else set through the API for one CPE.
fn password_of(acs: &Acs, users: &std::collections::BTreeMap<String, String>, user: &str) -> Option<String> {
    if let Some(p) = users.get(user) {
        return Some(p.clone());
    }
    let st = acs.state();
    let id = st.cpe_users.get(user)?;
    st.devices.get(id)?.cpe_password.clone()
}

/// Checks the CPE's credentials: the user name that passed, or the 401 to send.
#[allow(clippy::result_large_err)]
fn authenticate(acs: &Acs, headers: &HeaderMap) -> Result<Option<String>, Response> {
    let given = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    match &acs.config.cpe_auth {
        CpeAuth::None => Ok(None),
        CpeAuth::Basic { users } => {
            let ok =
                given.and_then(parse_basic).filter(|(u, p)| password_of(acs, users, u).is_some_and(|want| want == *p));
            if let Some((u, _)) = ok {
                Ok(Some(u))
            } else {
                let challenge = format!("Basic realm=\"{}\"", acs.config.realm);
                Err(unauthorized(&challenge))
            }
        }
        CpeAuth::Digest { users } => {
            let now = acs.monotonic();
            if let Some(a) = given.and_then(DigestAuthorization::parse) {
                let valid = a.realm == acs.config.realm
                    && password_of(acs, users, &a.username).is_some_and(|p| a.verify(&p, "POST"));
                // Each nonce count is accepted once (RFC 7616 §3.4: replay protection); without
                // qop a nonce is good for one request.
                let nc = a.nc.as_deref().and_then(|n| u32::from_str_radix(n, 16).ok()).unwrap_or(0);
                let fresh = valid && {
                    let mut st = acs.state();
                    st.nonces.retain(|_, (t, _)| now.saturating_sub(*t) < NONCE_LIFETIME);
                    match st.nonces.get_mut(&a.nonce) {
                        Some((_, last)) if a.qop.is_none() || nc > *last => {
                            *last = if a.qop.is_none() { u32::MAX } else { nc };
                            true
                        }
                        _ => false,
                    }
                };
                if fresh {
                    return Ok(Some(a.username));
                }
            }
            let nonce = super::secret::token();
            acs.state().nonces.insert(nonce.clone(), (now, 0));
            let c = Challenge {
                realm: acs.config.realm.clone(),
                nonce,
                opaque: None,
                qop: vec!["auth".into()],
                algorithm: None,
            };
            Err(unauthorized(&c.to_header()))
        }
    }
}

fn unauthorized(challenge: &str) -> Response {
    let mut resp = StatusCode::UNAUTHORIZED.into_response();
    if let Ok(v) = HeaderValue::from_str(challenge) {
        resp.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn compressed_bodies_are_inflated_within_the_limit() {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&[b'a'; 1000]).unwrap();
        let gz = Bytes::from(gz.finish().unwrap());
        assert_eq!(decode_body(Some("gzip"), gz.clone(), 1000).unwrap().len(), 1000);
        assert_eq!(decode_body(Some("gzip"), gz, 999).unwrap_err().0, StatusCode::PAYLOAD_TOO_LARGE);
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        z.write_all(b"<x/>").unwrap();
        assert_eq!(&decode_body(Some("Deflate"), Bytes::from(z.finish().unwrap()), 100).unwrap()[..], b"<x/>");
        assert_eq!(decode_body(Some("gzip"), Bytes::from_static(b"nope"), 100).unwrap_err().0, StatusCode::BAD_REQUEST);
        assert_eq!(decode_body(Some("br"), Bytes::new(), 100).unwrap_err().0, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        assert_eq!(&decode_body(None, Bytes::from_static(b"x"), 100).unwrap()[..], b"x");
    }

    #[test]
    fn cookies_are_read_leniently() {
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, HeaderValue::from_static("a=1; session=abc, b=2"));
        assert_eq!(session_cookie(&h).as_deref(), Some("abc"));
    }
}
