//! The simulated client's datagram transport: plain UDP on a socket of its own or shared with
//! other clients ([`super::shared`]), or CoAP over DTLS with a PSK
//! ([`crate::dtls::DtlsClient`], own socket only): a send to a server without a session starts
//! the handshake and the datagram waits for it; received records are decrypted, handshake
//! records answered.

use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::UdpSocket;

use super::shared::{Inbox, SharedSocket};
use crate::dtls::DtlsClient;

pub(crate) struct Transport {
    io: Io,
    dtls: Option<DtlsClient>,
    /// The bootstrap server and how it was reached (its DTLS client, or `None`: in clear text),
    /// kept when the bootstrap gave other credentials for the LwM2M server: a Bootstrap-Request
    /// Trigger goes back with the bootstrap account's own security, as a device's would.
    bootstrap: Option<(SocketAddr, Option<DtlsClient>)>,
    /// Application datagrams decrypted and not yet taken.
    inbox: VecDeque<(Vec<u8>, SocketAddr)>,
}

enum Io {
    Own(UdpSocket),
    Shared { socket: Arc<SharedSocket>, client: u32, inbox: Inbox },
}

impl Io {
    fn try_send_to(&self, bytes: &[u8], peer: SocketAddr) -> io::Result<usize> {
        match self {
            Io::Own(s) => s.try_send_to(bytes, peer),
            Io::Shared { socket, client, .. } => socket.try_send_to(*client, bytes, peer),
        }
    }
}

impl Transport {
    pub(crate) fn new(socket: UdpSocket, dtls: Option<DtlsClient>) -> Transport {
        Transport { io: Io::Own(socket), dtls, bootstrap: None, inbox: VecDeque::new() }
    }

    /// The client's index on a shared socket (its tokens start with it).
    pub(crate) fn shared_index(&self) -> Option<u32> {
        match &self.io {
            Io::Shared { client, .. } => Some(*client),
            Io::Own(_) => None,
        }
    }

    /// Client `client` of a shared socket, its datagrams coming from `inbox`.
    pub(crate) fn shared(socket: Arc<SharedSocket>, client: u32, inbox: Inbox) -> Transport {
        Transport { io: Io::Shared { socket, client, inbox }, dtls: None, bootstrap: None, inbox: VecDeque::new() }
    }

    /// Talks DTLS with this client from now on (as a bootstrap server provisioned it).
    /// The client that was talking DTLS with `bootstrap` keeps doing so.
    pub(crate) fn use_dtls(&mut self, client: io::Result<DtlsClient>, bootstrap: Option<SocketAddr>) -> io::Result<()> {
        if matches!(self.io, Io::Shared { .. }) {
            return Err(io::Error::other("DTLS needs a socket of the client's own, not a shared one"));
        }
        let old = self.dtls.replace(client?);
        match bootstrap {
            // Already kept from an earlier bootstrap with this server.
            Some(bs) if self.bootstrap.as_ref().is_some_and(|(addr, _)| *addr == bs) => {}
            Some(bs) => self.bootstrap = Some((bs, old)),
            None => {}
        }
        Ok(())
    }

    /// The DTLS client for `peer`, or `None` to talk to it in clear text.
    fn dtls_for(&mut self, peer: SocketAddr) -> Option<&mut DtlsClient> {
        match &mut self.bootstrap {
            Some((bs, client)) if *bs == peer => client.as_mut(),
            _ => self.dtls.as_mut(),
        }
    }

    /// Sends what the DTLS layer wrote.
    fn flush_dtls(&mut self) {
        let clients = self.dtls.iter_mut().chain(self.bootstrap.as_mut().and_then(|(_, c)| c.as_mut()));
        let records: Vec<(SocketAddr, Vec<u8>)> = clients.flat_map(|d| d.drain_transmits()).collect();
        for (peer, record) in records {
            let _ = self.io.try_send_to(&record, peer);
        }
    }

    pub(crate) fn try_send_to(&mut self, bytes: &[u8], peer: SocketAddr) -> io::Result<usize> {
        match self.dtls_for(peer) {
            None => self.io.try_send_to(bytes, peer),
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
        match (&self.io, &self.dtls) {
            (Io::Own(s), None) => s.send_to(bytes, peer).await,
            (Io::Shared { socket, client, .. }, None) => socket.send_to(*client, bytes, peer).await,
            _ => self.try_send_to(bytes, peer),
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
            let (n, peer) = match &mut self.io {
                Io::Own(s) => s.recv_from(buf).await?,
                Io::Shared { inbox, .. } => {
                    let (d, peer) = inbox.recv().await.ok_or_else(|| io::Error::other("shared socket closed"))?;
                    let n = d.len().min(buf.len());
                    buf[..n].copy_from_slice(&d[..n]);
                    (n, peer)
                }
            };
            let Some(d) = self.dtls_for(peer) else { return Ok((n, peer)) };
            match d.handle_datagram(peer, &buf[..n]) {
                Ok(app) => self.inbox.extend(app.into_iter().map(|a| (a, peer))),
                Err(e) => tracing::debug!(%peer, error = %e, "DTLS session with the server failed"),
            }
            self.flush_dtls();
        }
    }
}
