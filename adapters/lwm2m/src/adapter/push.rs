//! Firmware push (registry `5.xml`, Delivery Method push): the adapter fetches the image the
//! firmware action names and writes it to Package `/5/0/0`; the server's Block1 sender cuts it
//! into blocks (RFC 7959 §2.5). The image is fetched over plain HTTP, bounded in size and time
//! (`Lwm2mConfig::firmware_push_max`, `firmware_fetch_timeout`): an untrusted server cannot make
//! the adapter hold more.

use std::time::Duration;

use unidm_models::{ErrorKind, OperationError};

/// The image at `uri` (`http://`), at most `max` bytes, fetched within `timeout`.
pub(super) async fn fetch(uri: &str, max: usize, timeout: Duration) -> Result<Vec<u8>, OperationError> {
    let plain_http = uri.get(..7).is_some_and(|s| s.eq_ignore_ascii_case("http://"));
    if !plain_http {
        return Err(OperationError::new(
            ErrorKind::NotSupported,
            format!("unidm fetches images to push over http:// only; {uri} is not such a URI"),
        ));
    }
    let failed = |e: reqwest::Error| {
        let kind = if e.is_timeout() { ErrorKind::Timeout } else { ErrorKind::Transport };
        OperationError::new(kind, format!("fetching the image {uri}: {e}"))
    };
    let client = reqwest::Client::builder()
        .timeout(timeout)
        .build()
        .map_err(|e| OperationError::new(ErrorKind::Internal, format!("HTTP client: {e}")))?;
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
