//! The DTLS side of a UDP shell (the server's and the bootstrap server's): a second socket
//! whose datagrams go through a [`DtlsServer`], the [`Gate`] checking each decrypted request
//! against the session's identity, and the answers to peers with a session sent back over it.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::net::UdpSocket;
use unidm_core::AdapterError;

use super::DtlsSettings;
use crate::dtls::{DtlsServer, PeerIdentity, PskStore, RpkStore};

/// A DTLS socket and its sessions.
pub(crate) struct Secure {
    socket: UdpSocket,
    dtls: DtlsServer,
    buf: Vec<u8>,
    tick: tokio::time::Interval,
}

/// An application datagram that came over DTLS.
pub(crate) struct Received {
    pub peer: SocketAddr,
    /// What the session proved.
    pub identity: Option<crate::dtls::PeerIdentity>,
    pub plain: Vec<u8>,
}

impl Secure {
    /// Binds `settings.listen` (`None` when `settings` is).
    pub(crate) fn bind(
        settings: Option<&DtlsSettings>,
        psks: &PskStore,
        rpks: &RpkStore,
        recv_buffer: Option<usize>,
    ) -> Result<Option<Secure>, AdapterError> {
        let Some(d) = settings else { return Ok(None) };
        let socket =
            super::shell::bind(d.listen, recv_buffer).map_err(|e| AdapterError(format!("bind {}: {e}", d.listen)))?;
        let rpk = d.rpk_key.as_deref().map(|k| (k, rpks.clone()));
        let dtls = DtlsServer::new(psks.clone(), d.limits.clone(), d.x509.as_ref(), rpk)
            .map_err(|e| AdapterError(format!("DTLS: {e}")))?;
        Ok(Some(Secure {
            socket,
            dtls,
            buf: vec![0u8; 65_535],
            tick: tokio::time::interval(Duration::from_millis(500)),
        }))
    }

    pub(crate) fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.socket.local_addr()
    }

    /// The application datagrams of the next DTLS datagram, each with its peer and the
    /// identity its session proved (for the caller's [`super::gate::Gate`]); or nothing when the DTLS timers
    /// ticked (retransmitted flights, expiries). Pending forever without DTLS; cancel-safe.
    pub(crate) async fn recv(secure: &mut Option<Secure>, now: fn() -> Instant) -> Vec<Received> {
        let Some(s) = secure.as_mut() else { return std::future::pending().await };
        let (n, peer) = tokio::select! {
            r = s.socket.recv_from(&mut s.buf) => match r {
                Ok(r) => r,
                Err(e) => {
                    tracing::debug!(error = %e, "UDP (DTLS) receive error");
                    return Vec::new();
                }
            },
            _ = s.tick.tick() => {
                s.dtls.handle_timeout(now());
                return Vec::new();
            }
        };
        let mut out = Vec::new();
        for plain in s.dtls.handle_datagram(now(), peer, &s.buf[..n]) {
            out.push(Received { peer, identity: s.dtls.identity(&peer).cloned(), plain });
        }
        while let Some(event) = s.dtls.poll_event() {
            tracing::debug!(?event, "DTLS");
        }
        out
    }

    /// How `peer` reaches us, for the wire tap: `over DTLS (PSK identity `id`)`, `over DTLS
    /// (certificate CN=…)`, `over DTLS (raw public key)`, or `in clear text` (no session).
    pub(crate) fn transport(secure: &Option<Secure>, peer: &SocketAddr) -> String {
        match secure.as_ref().filter(|s| s.dtls.is_open(peer)).map(|s| s.dtls.identity(peer)) {
            None => "in clear text".into(),
            Some(Some(PeerIdentity::Psk(id))) => format!("over DTLS (PSK identity `{}`)", String::from_utf8_lossy(id)),
            Some(Some(PeerIdentity::Certificate(cn))) => format!("over DTLS (certificate CN={cn})"),
            Some(Some(PeerIdentity::RawPublicKey(_))) => "over DTLS (raw public key)".into(),
            Some(Some(PeerIdentity::Anonymous) | None) => "over DTLS".into(),
        }
    }

    /// Sends `bytes` to `peer` over its session; false when it has none (send in clear).
    pub(crate) fn send(secure: &mut Option<Secure>, peer: SocketAddr, bytes: &[u8]) -> bool {
        match secure.as_mut().filter(|s| s.dtls.is_open(&peer)) {
            Some(s) => s.dtls.send(peer, bytes),
            None => false,
        }
    }

    /// Sends the records the DTLS layer wrote.
    pub(crate) async fn flush(secure: &mut Option<Secure>) {
        if let Some(s) = secure.as_mut() {
            for (peer, d) in s.dtls.drain_transmits() {
                if let Err(e) = s.socket.send_to(&d, peer).await {
                    tracing::debug!(%peer, error = %e, "UDP (DTLS) send error");
                }
            }
        }
    }
}
