//! The simulated client's datagram transport: plain UDP, or CoAP over DTLS with a PSK
//! ([`crate::dtls::DtlsClient`]): a send to a server without a session starts the handshake
//! and the datagram waits for it; received records are decrypted, handshake records answered.

use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;

use tokio::net::UdpSocket;

use crate::dtls::DtlsClient;

pub(crate) struct Transport {
    socket: UdpSocket,
    dtls: Option<DtlsClient>,
    /// Application datagrams decrypted and not yet taken.
    inbox: VecDeque<(Vec<u8>, SocketAddr)>,
}

impl Transport {
    pub(crate) fn new(socket: UdpSocket, dtls: Option<DtlsClient>) -> Transport {
        Transport { socket, dtls, inbox: VecDeque::new() }
    }

    /// Talks DTLS with this PSK from now on (as a bootstrap server provisioned it).
    pub(crate) fn use_psk(&mut self, identity: &[u8], key: &[u8]) -> io::Result<()> {
        self.dtls = Some(DtlsClient::psk(identity, key).map_err(io::Error::other)?);
        Ok(())
    }

    /// Sends what the DTLS layer wrote.
    fn flush_dtls(&mut self) {
        if let Some(d) = self.dtls.as_mut() {
            for (peer, record) in d.drain_transmits() {
                let _ = self.socket.try_send_to(&record, peer);
            }
        }
    }

    pub(crate) fn try_send_to(&mut self, bytes: &[u8], peer: SocketAddr) -> io::Result<usize> {
        match self.dtls.as_mut() {
            None => self.socket.try_send_to(bytes, peer),
            Some(d) => {
                if !d.is_open(&peer) {
                    // A retransmitted request while handshaking: let OpenSSL resend its flight.
                    d.handle_timeout();
                }
                d.send(peer, bytes)?;
                self.flush_dtls();
                Ok(bytes.len())
            }
        }
    }

    pub(crate) async fn send_to(&mut self, bytes: &[u8], peer: SocketAddr) -> io::Result<usize> {
        match self.dtls {
            None => self.socket.send_to(bytes, peer).await,
            Some(_) => self.try_send_to(bytes, peer),
        }
    }

    /// The next application datagram (cancel-safe: nothing awaits after a datagram is read).
    pub(crate) async fn recv_from(&mut self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        loop {
            if let Some((d, peer)) = self.inbox.pop_front() {
                let n = d.len().min(buf.len());
                buf[..n].copy_from_slice(&d[..n]);
                return Ok((n, peer));
            }
            let (n, peer) = self.socket.recv_from(buf).await?;
            let Some(d) = self.dtls.as_mut() else { return Ok((n, peer)) };
            match d.handle_datagram(peer, &buf[..n]) {
                Ok(app) => self.inbox.extend(app.into_iter().map(|a| (a, peer))),
                Err(e) => tracing::debug!(%peer, error = %e, "DTLS session with the server failed"),
            }
            self.flush_dtls();
        }
    }
}
