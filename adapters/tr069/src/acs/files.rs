//! The ACS's file server: firmware images and configuration files for Download (TR-069
//! Amendment 6, A.3.2.8; 3.5 "File transfers" over HTTP with RFC 7233 single byte ranges, so a
//! CPE can resume) and the target of Upload (A.4.1.5; HTTP PUT or POST).
//!
//! Files live flat in one directory; a name with a path separator or a leading dot is refused.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path as UrlPath, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

/// Settings of the file server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileServerConfig {
    /// The directory served.
    pub dir: PathBuf,
    /// Whether PUT / POST may store files (the Upload target).
    pub accept_uploads: bool,
    /// Largest accepted upload, bytes.
    pub max_upload: usize,
}

/// The URL path prefix of the file server.
pub const FILES_PREFIX: &str = "/files/";

fn safe_name(name: &str) -> bool {
    !name.is_empty() && !name.starts_with('.') && !name.contains(['/', '\\', '\0'])
}

/// A single `bytes=` range against a file of `len` bytes: `Ok(None)` for no (or an ignored)
/// Range header, `Err(())` when unsatisfiable (RFC 7233 §4.4).
pub(crate) fn parse_range(header: Option<&str>, len: u64) -> Result<Option<(u64, u64)>, ()> {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else { return Ok(None) };
    if spec.contains(',') {
        return Ok(None); // multiple ranges: answer with the whole file
    }
    if len == 0 {
        return Err(());
    }
    let (a, b) = spec.split_once('-').ok_or(())?;
    let (a, b) = (a.trim(), b.trim());
    let range = if a.is_empty() {
        let n: u64 = b.parse().map_err(|_| ())?;
        if n == 0 {
            return Err(());
        }
        (len.saturating_sub(n), len - 1)
    } else {
        let start: u64 = a.parse().map_err(|_| ())?;
        let end = if b.is_empty() { len - 1 } else { b.parse::<u64>().map_err(|_| ())?.min(len - 1) };
        (start, end)
    };
    if range.0 >= len || range.0 > range.1 {
        return Err(());
    }
    Ok(Some(range))
}

/// The routes, to merge into the ACS router.
pub(crate) fn router(config: FileServerConfig) -> Router {
    let limit = config.max_upload;
    Router::new()
        .route(&format!("{FILES_PREFIX}{{name}}"), get(serve).put(store).post(store))
        .layer(axum::extract::DefaultBodyLimit::max(limit))
        .with_state(Arc::new(config))
}

async fn serve(
    State(cfg): State<Arc<FileServerConfig>>,
    UrlPath(name): UrlPath<String>,
    method: Method,
    headers: HeaderMap,
) -> Response {
    if !safe_name(&name) {
        return StatusCode::NOT_FOUND.into_response();
    }
    let Ok(data) = tokio::fs::read(Path::new(&cfg.dir).join(&name)).await else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let len = data.len() as u64;
    let range = parse_range(headers.get(header::RANGE).and_then(|v| v.to_str().ok()), len);
    let etag = format!("\"{}\"", &crate::digest::md5_hex(&data)[..16]);
    let (status, body, content_range) = match range {
        Err(()) => {
            let mut r = StatusCode::RANGE_NOT_SATISFIABLE.into_response();
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{len}")) {
                r.headers_mut().insert(header::CONTENT_RANGE, v);
            }
            return r;
        }
        Ok(None) => (StatusCode::OK, data, None),
        Ok(Some((a, b))) => {
            let slice = data.get(a as usize..=b as usize).map(<[u8]>::to_vec).unwrap_or_default();
            (StatusCode::PARTIAL_CONTENT, slice, Some(format!("bytes {a}-{b}/{len}")))
        }
    };
    let body = if method == Method::HEAD { Vec::new() } else { body };
    let mut r = (status, body).into_response();
    let h = r.headers_mut();
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    if let Some(v) = content_range.and_then(|c| HeaderValue::from_str(&c).ok()) {
        h.insert(header::CONTENT_RANGE, v);
    }
    r
}

async fn store(State(cfg): State<Arc<FileServerConfig>>, UrlPath(name): UrlPath<String>, body: Bytes) -> StatusCode {
    if !cfg.accept_uploads {
        return StatusCode::METHOD_NOT_ALLOWED;
    }
    if !safe_name(&name) {
        return StatusCode::BAD_REQUEST;
    }
    // The folder is made on the first upload; the file appears whole or not at all (written
    // beside it under a name the server never serves, then renamed).
    let dir = Path::new(&cfg.dir);
    let part = dir.join(format!(".{name}.part"));
    let stored = async {
        tokio::fs::create_dir_all(dir).await?;
        tokio::fs::write(&part, &body).await?;
        tokio::fs::rename(&part, dir.join(&name)).await
    };
    match stored.await {
        Ok(()) => StatusCode::CREATED,
        Err(e) => {
            let _ = tokio::fs::remove_file(&part).await;
            tracing::warn!(%name, error = %e, "upload not stored");
            StatusCode::INTERNAL_SERVER_ERROR
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(parse_range(None, 10), Ok(None));
        assert_eq!(parse_range(Some("bytes=0-3"), 10), Ok(Some((0, 3))));
        assert_eq!(parse_range(Some("bytes=5-"), 10), Ok(Some((5, 9))));
        assert_eq!(parse_range(Some("bytes=-4"), 10), Ok(Some((6, 9))));
        assert_eq!(parse_range(Some("bytes=8-100"), 10), Ok(Some((8, 9))));
        assert_eq!(parse_range(Some("bytes=10-"), 10), Err(()));
        assert_eq!(parse_range(Some("bytes=4-2"), 10), Err(()));
        assert_eq!(parse_range(Some("bytes=x-2"), 10), Err(()));
        assert_eq!(parse_range(Some("bytes=0-1,4-5"), 10), Ok(None));
        assert_eq!(parse_range(Some("bytes=-1"), 0), Err(()));
        assert!(!safe_name("../etc/passwd") && !safe_name(".hidden") && safe_name("fw-1.bin"));
    }
}
