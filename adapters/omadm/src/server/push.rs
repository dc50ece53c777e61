//! Package #0 (OMA DM Notification Initiated Session 1.2 §6.2) to a device that has no
//! session, over UDP to its push address, retried with backoff a bounded number of times.

use std::net::SocketAddr;
use std::sync::Arc;

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

/// Sends Package #0 to `device` until it opens a session or the attempts run out; at most one
/// such task per device.
pub(crate) fn notify(server: Arc<Server>, device: DeviceId) {
    let dev = device.native().to_owned();
    if !server.sessions().notifying.insert(dev.clone()) {
        return;
    }
    tokio::spawn(async move {
        run(&server, &dev).await;
        server.sessions().notifying.remove(&dev);
    });
}

async fn run(server: &Server, dev: &str) {
    let record = server.accounts.record(dev);
    let Some(addr) = record.push.as_deref().and_then(|a| a.parse::<SocketAddr>().ok()) else {
        tracing::debug!(dev_id = dev, "no push address: the operation waits for the device's next session");
        return;
    };
    let password = server.accounts.server_credentials_any().map(|c| c.password.clone()).unwrap_or_default();
    let nonce = record.server_nonce.clone().unwrap_or_default();
    let n = Notification::new(random_session_id(), server.config.server_id.clone());
    let bytes = match n.encode(&password, &nonce) {
        Ok(b) => b,
        Err(e) => {
            tracing::warn!(dev_id = dev, error = %e, "Package #0 not built");
            return;
        }
    };
    {
        let mut s = server.sessions();
        s.package0.insert(dev.to_owned(), bytes.clone());
        s.notified.insert(dev.to_owned(), n.session_id);
    }
    let bind: SocketAddr = if addr.is_ipv4() { ([0, 0, 0, 0], 0).into() } else { "[::]:0".parse().unwrap_or(addr) };
    let socket = match tokio::net::UdpSocket::bind(bind).await {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "no UDP socket for Package #0");
            return;
        }
    };
    let Some(h) = server.handle().cloned() else { return };
    let mut delay = server.config.push_backoff;
    for attempt in 1..=server.config.push_attempts.max(1) {
        if server.sessions().by_device.contains_key(dev) {
            return;
        }
        match socket.send_to(&bytes, addr).await {
            Ok(_) => tracing::debug!(dev_id = dev, %addr, attempt, "Package #0 sent"),
            Err(e) => tracing::info!(dev_id = dev, %addr, attempt, error = %e, "Package #0 not sent"),
        }
        h.sleep(delay).await;
        delay = delay.saturating_mul(2);
    }
}
