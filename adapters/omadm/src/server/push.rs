//! Package #0 (OMA DM Notification Initiated Session 1.2 §6.2) to a device that has no
//! session, retried with backoff a bounded number of times, by the device's push target: a UDP
//! datagram to its address (WAP push over IP), an HTTP POST of the bytes to a URL it registered,
//! or, for a device with neither, the configured webhook (an SMS gateway), which gets the bytes
//! in JSON with the device named.

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use unidm_models::DeviceId;

use super::Server;
use crate::package0::Notification;

/// 16 random bytes from the OS (a nonce, OMA DM Security 1.2 §5.1.3.3).
pub(crate) fn random_nonce() -> Vec<u8> {
    let mut b = vec![0u8; 16];
    if let Err(e) = getrandom::fill(&mut b) {
        tracing::error!(error = %e, "no OS randomness for a nonce");
    }
    b
}

fn random_session_id() -> u16 {
    let mut b = [0u8; 2];
    let _ = getrandom::fill(&mut b);
    u16::from_be_bytes(b).max(1)
}

/// Sends Package #0 to `device` while it has queued operations and no session, a bounded
/// number of times with backoff; at most one such task per device. Called again while the task
/// waits between attempts, it wakes the task, which sends a fresh Package #0 at once if the
/// device had a session since the last one (that notification is spent) and otherwise keeps
/// waiting.
pub(crate) fn notify(server: Arc<Server>, device: DeviceId) {
    let dev = device.native().to_owned();
    let wake = {
        let mut s = server.sessions();
        if let Some(wake) = s.notifying.get(&dev) {
            wake.notify_one();
            return;
        }
        let wake = Arc::new(tokio::sync::Notify::new());
        s.notifying.insert(dev.clone(), wake.clone());
        wake
    };
    tokio::spawn(async move {
        if !run(&server, &device, &wake).await {
            server.sessions().notifying.remove(&dev);
        }
    });
}
/// Where a device's Package #0 goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushTarget {
    /// A UDP datagram to this address (`udp://ip:port`, or `ip:port`).
    Udp(SocketAddr),
    /// An HTTP POST of the bytes (`application/vnd.syncml.notification`) to this URL.
    Http(String),
}

/// The media type of a Package #0 (OMA DM Notification Initiated Session 1.2 §9).
pub const NOTIFICATION_MEDIA_TYPE: &str = "application/vnd.syncml.notification";

impl PushTarget {
    /// Reads `udp://ip:port`, `ip:port` or an `http://` / `https://` URL.
    pub fn parse(text: &str) -> Result<PushTarget, String> {
        let t = text.trim();
        if t.len() > 512 {
            return Err("a push address is at most 512 characters".into());
        }
        let lower = t.to_ascii_lowercase();
        if lower.starts_with("http://") || lower.starts_with("https://") {
            return reqwest::Url::parse(t)
                .map(|u| PushTarget::Http(u.to_string()))
                .map_err(|e| format!("`{t}` is not a usable URL: {e}"));
        }
        let addr = lower.strip_prefix("udp://").map_or(t, |_| &t[6..]);
        addr.parse::<SocketAddr>()
            .map(PushTarget::Udp)
            .map_err(|_| format!("`{t}` is neither `udp://<ip>:<port>`, `<ip>:<port>` nor an http(s) URL"))
    }
}

impl std::fmt::Display for PushTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PushTarget::Udp(a) => write!(f, "udp://{a}"),
            PushTarget::Http(u) => f.write_str(u),
        }
    }
}

/// How many Package #0 are being sent at once, at most (an HTTP push holds a socket): a burst
/// of operations for thousands of absent devices queues here rather than running the server
/// out of file descriptors.
pub(crate) const MAX_IN_FLIGHT: usize = 256;

/// One HTTP client for every HTTP push and webhook call; it keeps a few idle connections per
/// host, briefly (many devices may share a push gateway; most hosts get one push now and then).
fn http() -> &'static reqwest::Client {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    CLIENT.get_or_init(|| {
        reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .pool_max_idle_per_host(8)
            .pool_idle_timeout(Duration::from_secs(5))
            .build()
            .unwrap_or_else(|_| reqwest::Client::new())
    })
}

impl Server {
    /// A fresh Package #0 for `dev` (a new session id, the server's password and the nonce the
    /// device last gave), remembered as the device's last one: the session it opens must carry
    /// its session id.
    pub(crate) fn build_package0(&self, dev: &str) -> Result<(Vec<u8>, u16), String> {
        let record = self.accounts.record(dev);
        let password = self.accounts.server_credentials_any().map(|c| c.password.clone()).unwrap_or_default();
        let nonce = record.server_nonce.clone().unwrap_or_default();
        let n = Notification::new(random_session_id(), self.config.server_id.clone());
        let bytes = n.encode(&password, &nonce).map_err(|e| e.to_string())?;
        let mut s = self.sessions();
        s.package0.insert(dev.to_owned(), bytes.clone());
        s.notified.insert(dev.to_owned(), n.session_id);
        Ok((bytes, n.session_id))
    }
}

/// The Package #0 task of [`notify`]. Returns `true` when it took the device out of
/// `notifying` itself: it does so under the same lock under which it found the device in a
/// session or without queued operations, so that an operation queued a moment later (whose
/// `notify` takes that lock after the submit) starts a new task rather than being missed.
async fn run(server: &Server, device: &DeviceId, wake: &tokio::sync::Notify) -> bool {
    let dev = device.native();
    let record = server.accounts.record(dev);
    let target = match record.push.as_deref().map(PushTarget::parse) {
        Some(Ok(t)) => Some(t),
        Some(Err(e)) => {
            tracing::warn!(dev_id = dev, error = %e, "unusable push address");
            None
        }
        None => None,
    };
    if target.is_none() && server.config.push_webhook.is_none() {
        tracing::debug!(dev_id = dev, "no push address: the operation waits for the device's next session");
        return false;
    }
    let (Some(h), Some(delivery)) = (server.handle().cloned(), server.delivery().cloned()) else { return false };
    let mut udp = None;
    // The Package #0 last sent and its session id; its attempts and the wait before the next.
    let mut sent: Option<(Vec<u8>, u16)> = None;
    let mut attempt = 0;
    let mut delay = server.config.push_backoff;
    loop {
        let spent = {
            let mut s = server.sessions();
            let needed = !s.by_device.contains_key(dev) && delivery.has_queued(device);
            // The device opened a session since (contact clears `notified`), or the API built
            // another Package #0: the one sent is spent.
            let spent = sent.as_ref().is_none_or(|(_, sid)| s.notified.get(dev) != Some(sid));
            if !needed || (!spent && attempt >= server.config.push_attempts.max(1)) {
                s.notifying.remove(dev);
                return true;
            }
            spent
        };
        if spent {
            match server.build_package0(dev) {
                Ok(built) => sent = Some(built),
                Err(e) => {
                    tracing::warn!(dev_id = dev, error = %e, "Package #0 not built");
                    return false;
                }
            }
            (attempt, delay) = (0, server.config.push_backoff);
        }
        let Some((bytes, _)) = sent.as_ref() else { return false };
        attempt += 1;
        let Ok(slot) = server.push_slots.acquire().await else { return false };
        let result = match &target {
            Some(PushTarget::Udp(addr)) => send_udp(&mut udp, *addr, bytes).await,
            Some(PushTarget::Http(url)) => {
                post(http().post(url).header("content-type", NOTIFICATION_MEDIA_TYPE).body(bytes.clone())).await
            }
            None => {
                let url = server.config.push_webhook.as_deref().unwrap_or_default();
                let body = serde_json::json!({
                    "device": device.to_string(),
                    "devId": dev,
                    "contentType": NOTIFICATION_MEDIA_TYPE,
                    "package0": B64.encode(bytes),
                });
                post(http().post(url).json(&body)).await
            }
        };
        drop(slot);
        let to = target.as_ref().map_or_else(|| "the push webhook".to_owned(), ToString::to_string);
        match result {
            Ok(()) => tracing::debug!(dev_id = dev, %to, attempt, "Package #0 sent"),
            Err(e) => tracing::info!(dev_id = dev, %to, attempt, error = %e, "Package #0 not sent"),
        }
        // Until the backoff ends, or earlier when an operation queued after a session the
        // device had since needs a fresh Package #0.
        let until = h.monotonic() + delay;
        loop {
            tokio::select! {
                () = h.sleep_until(until) => break,
                () = wake.notified() => {
                    let s = server.sessions();
                    if sent.as_ref().is_some_and(|(_, sid)| s.notified.get(dev) != Some(sid)) {
                        break;
                    }
                }
            }
        }
        delay = delay.saturating_mul(2);
    }
}

async fn send_udp(socket: &mut Option<tokio::net::UdpSocket>, addr: SocketAddr, bytes: &[u8]) -> Result<(), String> {
    if socket.is_none() {
        let bind: SocketAddr =
            if addr.is_ipv4() { ([0, 0, 0, 0], 0).into() } else { (std::net::Ipv6Addr::UNSPECIFIED, 0).into() };
        *socket = Some(tokio::net::UdpSocket::bind(bind).await.map_err(|e| format!("no UDP socket: {e}"))?);
    }
    let Some(s) = socket.as_ref() else { return Err("no UDP socket".into()) };
    s.send_to(bytes, addr).await.map(|_| ()).map_err(|e| e.to_string())
}

async fn post(request: reqwest::RequestBuilder) -> Result<(), String> {
    let response = request.send().await.map_err(|e| e.to_string())?;
    match response.status() {
        s if s.is_success() => Ok(()),
        s => Err(format!("HTTP {s}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_targets() {
        let udp = PushTarget::Udp("10.0.0.7:2948".parse().unwrap());
        assert_eq!(PushTarget::parse("10.0.0.7:2948"), Ok(udp.clone()));
        assert_eq!(PushTarget::parse(" UDP://10.0.0.7:2948 "), Ok(udp.clone()));
        assert_eq!(udp.to_string(), "udp://10.0.0.7:2948");
        assert_eq!(PushTarget::parse("udp://[::1]:9").unwrap().to_string(), "udp://[::1]:9");
        let http = PushTarget::parse("https://push.example/dev/7?k=1").unwrap();
        assert_eq!(http, PushTarget::Http("https://push.example/dev/7?k=1".into()));
        for bad in ["", "host.example:2948", "udp://10.0.0.7", "ftp://x/y", "http://", &"9".repeat(600)] {
            assert!(PushTarget::parse(bad).is_err(), "{bad}");
        }
    }
}
