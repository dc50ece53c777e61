//! A UDP balancer for tests of several unidm nodes: what an operator puts in front of them
//! (LVS, an nginx `stream` block) in a few lines. Each client address is bound to one backend
//! through an upstream socket of its own, so that the backend's requests to the client (an
//! LwM2M server's reads) find their way back, as through a NAT. A backend taken out
//! ([`UdpBalancer::remove`], its node died) loses its clients: their next datagram goes to a
//! live backend from a new upstream address, as after a NAT rebinding.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::net::UdpSocket;
use tokio::task::JoinHandle;

struct Route {
    backend: SocketAddr,
    upstream: Arc<UdpSocket>,
    task: JoinHandle<()>,
}

#[derive(Default)]
struct Table {
    backends: Vec<SocketAddr>,
    routes: HashMap<SocketAddr, Route>,
    /// Clients bound so far, for round-robin.
    next: usize,
}

/// The balancer; stops when dropped.
pub struct UdpBalancer {
    addr: SocketAddr,
    table: Arc<Mutex<Table>>,
    task: JoinHandle<()>,
}

impl UdpBalancer {
    /// Listens on a free loopback port, spreading clients over `backends` in turn.
    pub async fn start(backends: Vec<SocketAddr>) -> std::io::Result<UdpBalancer> {
        let front = Arc::new(UdpSocket::bind("127.0.0.1:0").await?);
        let addr = front.local_addr()?;
        let table = Arc::new(Mutex::new(Table { backends, ..Table::default() }));
        let task = tokio::spawn(forward(front, table.clone()));
        Ok(UdpBalancer { addr, table, task })
    }

    /// Where clients send.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Takes a backend out: its clients move to the others at their next datagram.
    pub fn remove(&self, backend: SocketAddr) {
        let mut t = self.table.lock().unwrap();
        t.backends.retain(|b| *b != backend);
        t.routes.retain(|_, r| {
            let keep = r.backend != backend;
            if !keep {
                r.task.abort();
            }
            keep
        });
    }

    /// The backend a client is bound to now.
    pub fn backend_of(&self, client: SocketAddr) -> Option<SocketAddr> {
        self.table.lock().unwrap().routes.get(&client).map(|r| r.backend)
    }
}

impl Drop for UdpBalancer {
    fn drop(&mut self) {
        self.task.abort();
        for r in self.table.lock().unwrap().routes.values() {
            r.task.abort();
        }
    }
}

async fn forward(front: Arc<UdpSocket>, table: Arc<Mutex<Table>>) {
    let mut buf = vec![0u8; 65536];
    loop {
        let Ok((n, client)) = front.recv_from(&mut buf).await else { return };
        let route = {
            let mut t = table.lock().unwrap();
            match t.routes.get(&client) {
                Some(r) => Some((r.upstream.clone(), r.backend)),
                None if t.backends.is_empty() => None,
                None => {
                    let backend = t.backends[t.next % t.backends.len()];
                    t.next += 1;
                    // A std socket, bound at once, so that no await runs under the lock.
                    let Ok(std_socket) = std::net::UdpSocket::bind("127.0.0.1:0") else { continue };
                    let _ = std_socket.set_nonblocking(true);
                    let Ok(upstream) = UdpSocket::from_std(std_socket) else { continue };
                    let upstream = Arc::new(upstream);
                    let task = tokio::spawn(back(upstream.clone(), front.clone(), client));
                    t.routes.insert(client, Route { backend, upstream: upstream.clone(), task });
                    Some((upstream, backend))
                }
            }
        };
        if let Some((upstream, backend)) = route {
            let _ = upstream.send_to(&buf[..n], backend).await;
        }
    }
}

/// The backend's datagrams to one client.
async fn back(upstream: Arc<UdpSocket>, front: Arc<UdpSocket>, client: SocketAddr) {
    let mut buf = vec![0u8; 65536];
    while let Ok((n, _)) = upstream.recv_from(&mut buf).await {
        let _ = front.send_to(&buf[..n], client).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn clients_are_spread_and_move_when_their_backend_goes() {
        let a = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let lb = UdpBalancer::start(vec![a.local_addr().unwrap(), b.local_addr().unwrap()]).await.unwrap();
        let c1 = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let c2 = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let mut buf = [0u8; 16];
        c1.send_to(b"one", lb.addr()).await.unwrap();
        let (n, from) = a.recv_from(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"one");
        c2.send_to(b"two", lb.addr()).await.unwrap();
        let (n, _) = b.recv_from(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"two", "the second client goes to the second backend");
        // The backend answers (or asks) the client through the balancer.
        a.send_to(b"back", from).await.unwrap();
        let (n, src) = c1.recv_from(&mut buf).await.unwrap();
        assert_eq!((&buf[..n], src), (&b"back"[..], lb.addr()));
        // Backend a goes: c1 moves to b.
        lb.remove(a.local_addr().unwrap());
        c1.send_to(b"again", lb.addr()).await.unwrap();
        let (n, _) = b.recv_from(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"again");
        assert_eq!(lb.backend_of(c1.local_addr().unwrap()), Some(b.local_addr().unwrap()));
    }
}
