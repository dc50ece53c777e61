//! The HTTP shell of the DM server (OMA DM SyncML HTTP Binding 1.2 §5): one POST route, the
//! SyncML media types, the `x-syncml-hmac` header, a body limit. Everything else is the
//! session's.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, DefaultBodyLimit, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;

use super::Server;
use crate::auth::HMAC_HEADER;
use crate::codec::{self, Alert, Command, ErrorKind, Limits, MediaType, SyncML};
use crate::session::SessionError;
use unidm_core::tls::rustls as rustls_config;

/// Serves the DM server on `listener` until the adapter stops.
pub(crate) fn spawn_server(
    server: Arc<Server>,
    listener: tokio::net::TcpListener,
    tls: Option<Arc<rustls_config::ServerConfig>>,
) {
    let router = Router::new()
        .route(&server.path(), post(handle))
        .layer(DefaultBodyLimit::max(server.config.max_message))
        .with_state(server.clone());
    let mut stop = server.stop.subscribe();
    let task = tokio::spawn(async move {
        let shutdown = async move {
            let _ = stop.changed().await;
        };
        let r = unidm_core::tls::serve(listener, tls, router, shutdown).await;
        if let Err(e) = r {
            tracing::error!(error = %e, "OMA DM server stopped");
        }
    });
    server.server_task.set(task);
}

/// The `s=` route token of the query, as written (it is already percent-encoded).
fn route_token(query: Option<&str>) -> Option<String> {
    query?.split('&').find_map(|kv| kv.strip_prefix("s=")).map(str::to_owned)
}

/// The Package #0 session id a Package 1 answering one (Alert 1200) must carry, when a
/// notification went to its device (OMA DM Notification Initiated Session 1.2 §6.2.2.10).
fn notified_session_id(server: &Server, msg: &SyncML) -> Option<u16> {
    let answers_package0 =
        msg.body.commands.iter().any(|c| matches!(c, Command::Alert(a) if a.code == Some(Alert::SERVER_INITIATED)));
    if !answers_package0 {
        return None;
    }
    server.sessions().notified.get(msg.hdr.source.loc_uri.trim()).copied()
}

async fn handle(
    State(server): State<Arc<Server>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    if MediaType::parse(content_type).is_err() {
        return (StatusCode::UNSUPPORTED_MEDIA_TYPE, "not a SyncML DM media type").into_response();
    }
    let hmac = headers.get(HMAC_HEADER).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let token = route_token(query.as_deref());
    let existing = token.as_ref().and_then(|t| server.sessions().by_token.get(t).cloned());
    let (slot, decoded) = match existing {
        Some(slot) => (slot, None),
        None => {
            if server.sessions().by_token.len() >= server.config.max_sessions {
                let mut r = (StatusCode::SERVICE_UNAVAILABLE, "too many DM sessions").into_response();
                r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("60"));
                return r;
            }
            let base = server.config.public_url.clone().unwrap_or_else(|| {
                let host = headers.get(header::HOST).and_then(|v| v.to_str().ok()).map(str::to_owned);
                let host = host.or_else(|| server.local_addr.get().map(|a| a.to_string())).unwrap_or_default();
                let scheme = if server.config.tls.is_some() { "https" } else { "http" };
                format!("{scheme}://{host}{}", server.path())
            });
            // While notifications are out, look into a new session's first message (decoded
            // once: the session takes it as it is).
            let notified = if server.sessions().notified.is_empty() {
                None
            } else {
                let limits = Limits { max_message_bytes: server.config.max_message, ..Limits::default() };
                let msg = codec::decode_with(content_type, &body, &limits);
                Some((msg.as_ref().ok().and_then(|m| notified_session_id(&server, m)), msg))
            };
            let session_id = notified.as_ref().and_then(|(id, _)| *id);
            let slot = Arc::new(tokio::sync::Mutex::new(server.new_session(base, peer, session_id)));
            (slot, notified.map(|(_, msg)| msg))
        }
    };
    let mut guard = slot.lock().await;
    let now = server.now();
    let taken = match decoded {
        Some(msg) => guard.session.handle_decoded(now, content_type, hmac.as_deref(), &body, msg),
        None => guard.session.handle_message_with_hmac(now, content_type, hmac.as_deref(), &body),
    };
    let new_token = guard.session.route_token();
    if let Err(e) = taken {
        let closed = guard.session.is_closed();
        if closed {
            server.drive(new_token.as_deref(), &mut guard, false).await;
        }
        tracing::info!(%peer, error = %e, "DM message refused");
        let status = match &e {
            SessionError::Codec(c) if c.kind() == ErrorKind::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            SessionError::Closed | SessionError::TimedOut => StatusCode::NOT_FOUND,
            _ => StatusCode::BAD_REQUEST,
        };
        return (status, e.to_string()).into_response();
    }
    if token.is_none() || token != new_token {
        // A new session: routed by its token from now on.
        if let Some(t) = &new_token {
            server.sessions().by_token.insert(t.clone(), slot.clone());
        }
    }
    let tapped = server.tap_received(&guard, content_type, &body);
    server.drive(new_token.as_deref(), &mut guard, true).await;
    if !tapped {
        server.tap_received(&guard, content_type, &body);
    }
    let Some(reply) = guard.session.poll_reply() else {
        server.drive(new_token.as_deref(), &mut guard, false).await;
        return (StatusCode::INTERNAL_SERVER_ERROR, "the session could not answer").into_response();
    };
    // Closing on the reply abandons what was still queued: handle it now.
    server.drive(new_token.as_deref(), &mut guard, false).await;
    server.tap_reply(&guard, &reply);
    let mut resp = (StatusCode::OK, reply.body).into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(reply.content_type.as_str()));
    if let Some(v) = reply.hmac.and_then(|m| HeaderValue::from_str(&m).ok()) {
        h.insert(HMAC_HEADER, v);
    }
    resp
}
