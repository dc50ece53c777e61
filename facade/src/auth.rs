//! Bearer-token authentication and role checks ([`crate::access`]). With no token at all, only
//! loopback clients are served (as admins), so a fresh `unidm serve` is never an open door on
//! a network. Every mutating call is written to the audit log with who made it.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::access::{required, Principal, Role};
use crate::problem::Problem;
use crate::AppState;

fn unauthorized(detail: &str) -> Response {
    let mut res = Problem::new(StatusCode::UNAUTHORIZED, "unauthorized", "Unauthorized", detail).into_response();
    res.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"unidm\""));
    res
}

/// Middleware: 401 for a missing or unknown token when tokens exist; 403 for a non-loopback
/// client when none does, and for a role below what the route needs.
pub async fn require(
    State(app): State<AppState>,
    peer: Result<
        ConnectInfo<SocketAddr>,
        <ConnectInfo<SocketAddr> as axum::extract::FromRequestParts<AppState>>::Rejection,
    >,
    mut req: Request,
    next: Next,
) -> Response {
    // A CSE's notifications carry no bearer token; they only prompt a read back from the CSE.
    if req.uri().path() == crate::ONEM2M_NOTIFY && app.onem2m.is_some() {
        return next.run(req).await;
    }
    // The console's page and scripts are public; the API calls they make carry the token.
    if req.method() == axum::http::Method::GET && crate::console::PATHS.contains(&req.uri().path()) {
        return next.run(req).await;
    }
    app.access.ready().await;
    let principal = if app.access.has_tokens() {
        let given = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")));
        let Some(given) = given else {
            return unauthorized("send `Authorization: Bearer <token>` with an API token");
        };
        match app.access.authenticate(given) {
            Some(p) => p,
            None => return unauthorized("the token is not known (or was deleted)"),
        }
    } else {
        let loopback = peer.as_ref().is_ok_and(|ConnectInfo(addr)| addr.ip().is_loopback());
        if !loopback {
            return Problem::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                "Forbidden",
                "no API token is configured, so only loopback clients are served; set --token or UNIDM_TOKEN",
            )
            .into_response();
        }
        Principal { name: "loopback".into(), role: Role::Admin }
    };
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let needs = required(&method, &path);
    if principal.role < needs {
        let detail = format!(
            "the token `{}` is a {}; this call needs a {}",
            principal.name,
            principal.role.as_str(),
            needs.as_str()
        );
        let res = Problem::new(StatusCode::FORBIDDEN, "forbidden-role", "Forbidden", detail).into_response();
        if !matches!(method, Method::GET | Method::HEAD | Method::OPTIONS) {
            app.access.record(&principal, method.as_str(), &path, res.status().as_u16());
        }
        return res;
    }
    // A change while the database is away would be made in memory and not stored: refused
    // before it is made.
    let change = !matches!(method, Method::GET | Method::HEAD | Method::OPTIONS);
    if change && path.starts_with("/api/") {
        if let Err(e) = app.engine.store_writable() {
            return Problem::from(unidm_core::CoreError::Storage(e)).into_response();
        }
    }
    req.extensions_mut().insert(principal.clone());
    let res = next.run(req).await;
    if !matches!(method, Method::GET | Method::HEAD | Method::OPTIONS) {
        app.access.record(&principal, method.as_str(), &path, res.status().as_u16());
    }
    res
}
