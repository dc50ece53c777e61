//! Firmware push (registry `5.xml`, Delivery Method push): the adapter fetches the image the
//! firmware action names and writes it to Package `/5/0/0`; the server's Block1 sender cuts it
//! into blocks (RFC 7959 §2.5). The image is fetched over HTTP or HTTPS (the server's
//! certificate checked against the web PKI roots and `Lwm2mConfig::fetch_roots`), bounded in size and time
//! (`Lwm2mConfig::firmware_push_max`, `firmware_fetch_timeout`): an untrusted server cannot make
//! the adapter hold more.

use std::time::Duration;

use unidm_models::{ErrorKind, OperationError};

/// The image at `uri` (`http://` or `https://`), at most `max` bytes, fetched within
/// `timeout`; `roots` are CA certificates (DER) trusted besides the web PKI's.
pub(super) async fn fetch(
    uri: &str,
    max: usize,
    timeout: Duration,
    roots: &[Vec<u8>],
) -> Result<Vec<u8>, OperationError> {
    let lower = uri.get(..8).unwrap_or(uri).to_ascii_lowercase();
    if !lower.starts_with("http://") && !lower.starts_with("https://") {
        return Err(OperationError::new(
            ErrorKind::NotSupported,
            format!("unidm fetches images to push over http:// or https:// only; {uri} is neither"),
        ));
    }
    let failed = |e: reqwest::Error| {
        let kind = if e.is_timeout() { ErrorKind::Timeout } else { ErrorKind::Transport };
        OperationError::new(kind, format!("fetching the image {uri}: {e}"))
    };
    let mut builder = reqwest::Client::builder().timeout(timeout).https_only(lower.starts_with("https://"));
    for der in roots {
        let cert = reqwest::Certificate::from_der(der)
            .map_err(|e| OperationError::new(ErrorKind::Internal, format!("a configured CA certificate: {e}")))?;
        builder = builder.add_root_certificate(cert);
    }
    let client = builder.build().map_err(|e| OperationError::new(ErrorKind::Internal, format!("HTTP client: {e}")))?;
    let mut response = client.get(uri).send().await.map_err(failed)?;
    let status = response.status();
    if !status.is_success() {
        return Err(OperationError::new(ErrorKind::BadInput, format!("fetching the image {uri}: HTTP {status}")));
    }
    let too_big = |size: u64| {
        OperationError::new(
            ErrorKind::BadInput,
            format!("the image {uri} has {size} bytes or more, over the {max} bytes a push may carry"),
        )
    };
    if let Some(len) = response.content_length().filter(|len| *len > max as u64) {
        return Err(too_big(len));
    }
    let mut image = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(failed)? {
        if image.len() + chunk.len() > max {
            return Err(too_big((image.len() + chunk.len()) as u64));
        }
        image.extend_from_slice(&chunk);
    }
    if image.is_empty() {
        return Err(OperationError::new(ErrorKind::BadInput, format!("the image {uri} is empty")));
    }
    Ok(image)
}

#[cfg(test)]
mod tests {
    use super::*;
    use unidm_testkit::tls::TestCa;

    /// An HTTPS server of one image, with a certificate of `ca`.
    async fn https_image(ca: &TestCa) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let tls = unidm_core::tls::server_config(&ca.files, &[b"http/1.1"]).unwrap();
        let app = axum::Router::new().route("/fw.bin", axum::routing::get(|| async { vec![7u8; 1000] }));
        tokio::spawn(unidm_core::tls::serve(listener, Some(tls), app, std::future::pending()));
        format!("https://localhost:{port}/fw.bin")
    }

    #[tokio::test]
    async fn https_images_are_fetched_only_from_trusted_servers() {
        let dir = tempfile::tempdir().unwrap();
        let ca = TestCa::new(dir.path());
        let uri = https_image(&ca).await;
        let t = Duration::from_secs(5);
        let image = fetch(&uri, 4096, t, std::slice::from_ref(&ca.ca_der)).await.unwrap();
        assert_eq!(image.len(), 1000);
        let e = fetch(&uri, 4096, t, &[]).await.unwrap_err();
        assert_eq!(e.kind, ErrorKind::Transport, "a certificate no trusted CA signed: {e:?}");
        let other = TestCa::new(tempfile::tempdir().unwrap().path());
        assert!(fetch(&uri, 4096, t, std::slice::from_ref(&other.ca_der)).await.is_err(), "another CA");
        assert_eq!(fetch(&uri, 10, t, std::slice::from_ref(&ca.ca_der)).await.unwrap_err().kind, ErrorKind::BadInput);
        assert_eq!(fetch("ftp://x/fw", 10, t, &[]).await.unwrap_err().kind, ErrorKind::NotSupported);
    }
}
