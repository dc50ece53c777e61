//! Many simulated clients on one UDP socket, each with its own objects and state, so that a
//! fleet of 100,000 fits in one process (one socket per client stops near 20,000 file
//! descriptors, or the ephemeral ports).
//!
//! A server sends its requests to the address a client registered from, so clients that share
//! an address are told apart by an alternate root path (TS Core 1.1 §6.2.1: the client
//! registers `</u42>;rt="oma.lwm2m",</u42/3/0>,...` and the server sends its requests under
//! `/u42`): [`SharedSocket`] routes a request by its first Uri-Path segment and strips it, so
//! the client sees the path it would see alone. The rest of the traffic is routed by what each
//! client owns:
//!
//! - message ids: the server deduplicates by source address and message id (RFC 7252 §4.5), so
//!   the clients' CON / NON messages go out under ids unique on the socket (a retransmission
//!   keeps the id its first send got); an ACK or RST comes back to the client that sent the
//!   message, under the client's own id;
//! - tokens: a client's tokens start with its index (4 bytes, big-endian), so a separate
//!   response finds its client.

use std::collections::{HashMap, VecDeque};
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use coap_lite::{CoapOption, Packet};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

/// Message ids remembered for the ACKs to come: more than any server answers late.
const REMEMBERED: usize = 30_000;

/// Datagrams for one client: (bytes, from).
pub(crate) type Inbox = mpsc::UnboundedReceiver<(Vec<u8>, SocketAddr)>;

/// One UDP socket shared by simulated clients (see the module docs).
#[derive(Debug)]
pub struct SharedSocket {
    socket: UdpSocket,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    clients: Vec<mpsc::UnboundedSender<(Vec<u8>, SocketAddr)>>,
    next_mid: u16,
    /// Socket message id → (client, its own id).
    by_mid: HashMap<u16, (u32, u16)>,
    /// (client, its own id) → socket message id, so that a retransmission keeps its id.
    by_origin: HashMap<(u32, u16), u16>,
    /// Socket ids in the order given, to forget the oldest.
    order: VecDeque<u16>,
}

impl State {
    fn socket_mid(&mut self, client: u32, own: u16) -> u16 {
        if let Some(mid) = self.by_origin.get(&(client, own)) {
            return *mid;
        }
        if self.order.len() >= REMEMBERED {
            if let Some(old) = self.order.pop_front() {
                if let Some(origin) = self.by_mid.remove(&old) {
                    self.by_origin.remove(&origin);
                }
            }
        }
        let mid = self.next_mid;
        self.next_mid = self.next_mid.wrapping_add(1);
        if let Some(stale) = self.by_mid.insert(mid, (client, own)) {
            self.by_origin.remove(&stale);
        }
        self.by_origin.insert((client, own), mid);
        self.order.push_back(mid);
        mid
    }
}

impl SharedSocket {
    /// Binds `addr` and starts routing what arrives; `seed` is the first message id.
    pub async fn bind(addr: SocketAddr, seed: u16) -> io::Result<Arc<SharedSocket>> {
        let s = Arc::new(SharedSocket {
            socket: UdpSocket::bind(addr).await?,
            state: Mutex::new(State { next_mid: seed, ..State::default() }),
        });
        tokio::spawn(s.clone().receive());
        Ok(s)
    }

    /// The socket's address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.socket.local_addr()
    }

    /// A new client: its index (its root path is [`root_path`] of it) and its datagrams.
    pub(crate) fn attach(&self) -> (u32, Inbox) {
        let (tx, rx) = mpsc::unbounded_channel();
        let mut state = self.state();
        state.clients.push(tx);
        ((state.clients.len() - 1) as u32, rx)
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sends a datagram of `client`, its message id made unique on the socket when it is a
    /// CON or NON (an ACK or RST answers the peer's id and goes out as it is).
    pub(crate) fn try_send_to(&self, client: u32, bytes: &[u8], peer: SocketAddr) -> io::Result<usize> {
        self.socket.try_send_to(&self.outgoing(client, bytes), peer)
    }

    /// [`SharedSocket::try_send_to`], waiting for room in the socket's buffer.
    pub(crate) async fn send_to(&self, client: u32, bytes: &[u8], peer: SocketAddr) -> io::Result<usize> {
        let out = self.outgoing(client, bytes);
        self.socket.send_to(&out, peer).await
    }

    fn outgoing(&self, client: u32, bytes: &[u8]) -> Vec<u8> {
        let kind = bytes.first().map(|b| (b >> 4) & 0x3);
        let mut out = bytes.to_vec();
        if bytes.len() >= 4 && matches!(kind, Some(0 | 1)) {
            let own = u16::from_be_bytes([bytes[2], bytes[3]]);
            let mid = self.state().socket_mid(client, own);
            out[2..4].copy_from_slice(&mid.to_be_bytes());
        }
        out
    }

    async fn receive(self: Arc<Self>) {
        let mut buf = vec![0u8; 65_535];
        loop {
            let Ok((n, peer)) = self.socket.recv_from(&mut buf).await else { continue };
            if let Some((client, bytes)) = self.route(&buf[..n]) {
                let tx = self.state().clients.get(client as usize).cloned();
                if let Some(tx) = tx {
                    let _ = tx.send((bytes, peer));
                }
            }
        }
    }

    /// Which client a datagram is for, and the datagram as that client must see it.
    fn route(&self, d: &[u8]) -> Option<(u32, Vec<u8>)> {
        if d.len() < 4 {
            return None;
        }
        let (kind, tkl, code) = ((d[0] >> 4) & 0x3, usize::from(d[0] & 0xf), d[1]);
        let mid = u16::from_be_bytes([d[2], d[3]]);
        if kind >= 2 {
            // ACK / RST: to the sender of the message, under its own id.
            let (client, own) = *self.state().by_mid.get(&mid)?;
            let mut out = d.to_vec();
            out[2..4].copy_from_slice(&own.to_be_bytes());
            return Some((client, out));
        }
        if code != 0 && code >> 5 == 0 {
            // A request: by its root path, which the client does not see.
            let mut packet = Packet::from_bytes(d).ok()?;
            let mut path: VecDeque<Vec<u8>> = packet.get_option(CoapOption::UriPath)?.iter().cloned().collect();
            let client = client_of_root(path.pop_front()?.as_slice())?;
            packet.clear_option(CoapOption::UriPath);
            for segment in path {
                packet.add_option(CoapOption::UriPath, segment);
            }
            return Some((client, packet.to_bytes().ok()?));
        }
        // A separate response: by the index its token starts with.
        let token = d.get(4..4 + tkl)?;
        let client = u32::from_be_bytes(token.get(..4)?.try_into().ok()?);
        Some((client, d.to_vec()))
    }
}

/// The root path of client `index`: `/u{index}`.
pub(crate) fn root_path(index: u32) -> String {
    format!("/u{index}")
}

fn client_of_root(segment: &[u8]) -> Option<u32> {
    std::str::from_utf8(segment.strip_prefix(b"u")?).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use coap_lite::{MessageClass, MessageType, RequestType, ResponseType};

    fn packet(kind: MessageType, code: MessageClass, mid: u16, token: &[u8]) -> Packet {
        let mut p = Packet::new();
        p.header.set_type(kind);
        p.header.code = code;
        p.header.message_id = mid;
        p.set_token(token.to_vec());
        p
    }

    #[tokio::test]
    async fn requests_go_by_root_path_acks_by_message_id_responses_by_token() {
        let s = SharedSocket::bind("127.0.0.1:0".parse().unwrap(), 1000).await.unwrap();
        let server = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let to = server.local_addr().unwrap();
        let (a, mut inbox_a) = s.attach();
        let (b, mut inbox_b) = s.attach();
        assert_eq!((a, b, root_path(b).as_str()), (0, 1, "/u1"));

        // Both clients send a CON with message id 7: the server sees two ids, and a
        // retransmission keeps the id its first send got.
        let post = |token: &[u8]| packet(MessageType::Confirmable, MessageClass::Request(RequestType::Post), 7, token);
        let mut buf = vec![0u8; 2048];
        let mut seen = Vec::new();
        for (client, token) in [(a, [0, 0, 0, 0, 9]), (b, [0, 0, 0, 1, 9]), (a, [0, 0, 0, 0, 9])] {
            s.send_to(client, &post(&token).to_bytes().unwrap(), to).await.unwrap();
            let (n, _) = server.recv_from(&mut buf).await.unwrap();
            seen.push(Packet::from_bytes(&buf[..n]).unwrap().header.message_id);
        }
        assert_ne!(seen[0], seen[1]);
        assert_eq!(seen[0], seen[2], "a retransmission keeps its id");

        // The piggybacked ACK to b's message comes to b under b's own id.
        let from = s.local_addr().unwrap();
        let ack = packet(
            MessageType::Acknowledgement,
            MessageClass::Response(ResponseType::Created),
            seen[1],
            &[0, 0, 0, 1, 9],
        );
        server.send_to(&ack.to_bytes().unwrap(), from).await.unwrap();
        let (bytes, _) = inbox_b.recv().await.unwrap();
        assert_eq!(Packet::from_bytes(&bytes).unwrap().header.message_id, 7);

        // A request under /u0 goes to a, without its root path.
        let mut get = packet(MessageType::Confirmable, MessageClass::Request(RequestType::Get), 55, b"srv");
        for seg in ["u0", "3", "0", "9"] {
            get.add_option(CoapOption::UriPath, seg.as_bytes().to_vec());
        }
        server.send_to(&get.to_bytes().unwrap(), from).await.unwrap();
        let (bytes, _) = inbox_a.recv().await.unwrap();
        let got = Packet::from_bytes(&bytes).unwrap();
        let path: Vec<Vec<u8>> = got.get_option(CoapOption::UriPath).unwrap().iter().cloned().collect();
        assert_eq!(path, [b"3".to_vec(), b"0".to_vec(), b"9".to_vec()]);
        assert_eq!(got.header.message_id, 55, "the server's id, for the client's ACK");

        // A separate response goes by the index its token starts with.
        let late =
            packet(MessageType::Confirmable, MessageClass::Response(ResponseType::Changed), 77, &[0, 0, 0, 1, 3]);
        server.send_to(&late.to_bytes().unwrap(), from).await.unwrap();
        let (bytes, _) = inbox_b.recv().await.unwrap();
        assert_eq!(Packet::from_bytes(&bytes).unwrap().header.message_id, 77);

        // Requests for no client, and unknown ACKs, go nowhere.
        assert!(s
            .route(&packet(MessageType::Acknowledgement, MessageClass::Empty, 4242, &[]).to_bytes().unwrap())
            .is_none());
        let mut stray = packet(MessageType::Confirmable, MessageClass::Request(RequestType::Get), 1, b"x");
        stray.add_option(CoapOption::UriPath, b"3".to_vec());
        assert!(s.route(&stray.to_bytes().unwrap()).is_none());
        assert!(inbox_a.try_recv().is_err() && inbox_b.try_recv().is_err());
    }

    #[test]
    fn old_message_ids_are_forgotten_in_order() {
        let mut state = State::default();
        let first = state.socket_mid(0, 1);
        for own in 2..=(REMEMBERED as u16 + 1) {
            state.socket_mid(0, own);
        }
        assert!(!state.by_mid.contains_key(&first));
        assert_eq!((state.by_mid.len(), state.by_origin.len()), (REMEMBERED, REMEMBERED));
    }
}
