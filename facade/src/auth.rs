//! Bearer-token authentication. With no token configured, only loopback clients are served, so
//! a fresh `unidm serve` is never an open door on a network.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::problem::Problem;
use crate::AppState;

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Middleware: 401 for a missing or wrong token when one is configured; 403 for a non-loopback
/// client when none is.
pub async fn require(
    State(app): State<AppState>,
    peer: Result<
        ConnectInfo<SocketAddr>,
        <ConnectInfo<SocketAddr> as axum::extract::FromRequestParts<AppState>>::Rejection,
    >,
    req: Request,
    next: Next,
) -> Response {
    match app.token.as_deref() {
        Some(token) => {
            let given = req
                .headers()
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")));
            if !given.is_some_and(|g| constant_time_eq(g.trim().as_bytes(), token.as_bytes())) {
                let mut res = Problem::new(
                    StatusCode::UNAUTHORIZED,
                    "unauthorized",
                    "Unauthorized",
                    "send `Authorization: Bearer <token>` with the configured API token",
                )
                .into_response();
                res.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"unidm\""));
                return res;
            }
        }
        None => {
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
        }
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    #[test]
    fn compares_tokens_fully() {
        assert!(super::constant_time_eq(b"secret", b"secret"));
        assert!(!super::constant_time_eq(b"secret", b"secreT"));
        assert!(!super::constant_time_eq(b"secret", b"secret2"));
    }
}
