//! Duplicate detection for incoming messages (RFC 7252 §4.5): a message id seen from the same
//! peer within EXCHANGE_LIFETIME (CON) or NON_LIFETIME (NON) is a duplicate, and a duplicate CON
//! gets the response it got the first time, without running the request again.
//!
//! Memory is bounded twice: per peer (oldest ids evicted first) and in peers (the peer silent
//! the longest is evicted), so a flood of spoofed addresses or ids cannot grow it.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::TransmissionParams;

/// What to do with an incoming message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seen {
    /// First time: process it (and call [`Deduplicator::store_response`] with the answer).
    New,
    /// Seen before and answered: send these bytes again, do not process.
    Replay(Vec<u8>),
    /// Seen before, no answer stored yet (still being processed, or a NON): drop it.
    Drop,
}

#[derive(Debug)]
struct Entry {
    expires: Instant,
    response: Option<Vec<u8>>,
}

#[derive(Debug, Default)]
struct PeerCache {
    entries: HashMap<u16, Entry>,
    /// Insertion order; with a monotonic `now` this is also expiry order within one lifetime.
    order: VecDeque<u16>,
    last_seen: Option<Instant>,
}

impl PeerCache {
    fn expire(&mut self, now: Instant) {
        while let Some(id) = self.order.front().copied() {
            match self.entries.get(&id) {
                Some(e) if e.expires > now => break,
                _ => {
                    self.order.pop_front();
                    self.entries.remove(&id);
                }
            }
        }
    }
}

/// Per-peer message-id cache.
#[derive(Debug)]
pub struct Deduplicator {
    con_lifetime: Duration,
    non_lifetime: Duration,
    max_peers: usize,
    max_per_peer: usize,
    peers: HashMap<SocketAddr, PeerCache>,
}

impl Deduplicator {
    /// A cache remembering at most `max_per_peer` ids for each of at most `max_peers` peers.
    pub fn new(params: &TransmissionParams, max_peers: usize, max_per_peer: usize) -> Self {
        Deduplicator {
            con_lifetime: params.exchange_lifetime(),
            non_lifetime: params.non_lifetime(),
            max_peers: max_peers.max(1),
            max_per_peer: max_per_peer.max(1),
            peers: HashMap::new(),
        }
    }

    /// Classifies a message received at `now`; a new one is remembered.
    pub fn check(&mut self, now: Instant, peer: SocketAddr, message_id: u16, confirmable: bool) -> Seen {
        if !self.peers.contains_key(&peer) && self.peers.len() >= self.max_peers {
            self.evict_quietest_peer();
        }
        let cache = self.peers.entry(peer).or_default();
        cache.last_seen = Some(now);
        cache.expire(now);
        if let Some(entry) = cache.entries.get(&message_id) {
            return match &entry.response {
                Some(bytes) => Seen::Replay(bytes.clone()),
                None => Seen::Drop,
            };
        }
        if cache.entries.len() >= self.max_per_peer {
            if let Some(oldest) = cache.order.pop_front() {
                cache.entries.remove(&oldest);
            }
        }
        let lifetime = if confirmable { self.con_lifetime } else { self.non_lifetime };
        cache.entries.insert(message_id, Entry { expires: now + lifetime, response: None });
        cache.order.push_back(message_id);
        Seen::New
    }

    /// Remembers the answer sent to `message_id`, to replay it for duplicates.
    pub fn store_response(&mut self, peer: SocketAddr, message_id: u16, response: Vec<u8>) {
        if let Some(entry) = self.peers.get_mut(&peer).and_then(|c| c.entries.get_mut(&message_id)) {
            entry.response = Some(response);
        }
    }

    /// Drops expired ids and peers left with none.
    pub fn expire(&mut self, now: Instant) {
        self.peers.retain(|_, cache| {
            cache.expire(now);
            !cache.entries.is_empty()
        });
    }

    /// Number of peers currently tracked.
    pub fn peer_count(&self) -> usize {
        self.peers.len()
    }

    /// Linear in peers, but only runs when the peer table is full.
    fn evict_quietest_peer(&mut self) {
        let quietest = self.peers.iter().min_by_key(|(_, c)| c.last_seen).map(|(addr, _)| *addr);
        if let Some(addr) = quietest {
            self.peers.remove(&addr);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([192, 0, 2, 1], port))
    }

    #[test]
    fn replays_the_stored_response_within_exchange_lifetime() {
        let t0 = Instant::now();
        let mut d = Deduplicator::new(&TransmissionParams::default(), 10, 10);
        assert_eq!(d.check(t0, addr(1), 7, true), Seen::New);
        assert_eq!(d.check(t0, addr(1), 7, true), Seen::Drop);
        d.store_response(addr(1), 7, vec![1, 2]);
        let later = t0 + Duration::from_secs(246);
        assert_eq!(d.check(later, addr(1), 7, true), Seen::Replay(vec![1, 2]));
        // Another peer may reuse the id.
        assert_eq!(d.check(later, addr(2), 7, true), Seen::New);
        // After EXCHANGE_LIFETIME the id is new again.
        let expired = t0 + Duration::from_secs(248);
        assert_eq!(d.check(expired, addr(1), 7, true), Seen::New);
    }

    #[test]
    fn non_messages_use_non_lifetime() {
        let t0 = Instant::now();
        let mut d = Deduplicator::new(&TransmissionParams::default(), 10, 10);
        assert_eq!(d.check(t0, addr(1), 1, false), Seen::New);
        assert_eq!(d.check(t0 + Duration::from_secs(144), addr(1), 1, false), Seen::Drop);
        assert_eq!(d.check(t0 + Duration::from_secs(146), addr(1), 1, false), Seen::New);
    }

    #[test]
    fn bounded_per_peer_and_in_peers() {
        let t0 = Instant::now();
        let mut d = Deduplicator::new(&TransmissionParams::default(), 2, 3);
        for id in 0..4 {
            assert_eq!(d.check(t0, addr(1), id, true), Seen::New);
        }
        // Id 0 was evicted to make room for id 3.
        assert_eq!(d.check(t0, addr(1), 0, true), Seen::New);
        assert_eq!(d.check(t0, addr(1), 3, true), Seen::Drop);
        let t1 = t0 + Duration::from_secs(1);
        d.check(t1, addr(2), 0, true);
        d.check(t1, addr(3), 0, true);
        assert_eq!(d.peer_count(), 2);
        // addr(1) was the quietest and is gone.
        assert_eq!(d.check(t1, addr(1), 3, true), Seen::New);
        d.expire(t0 + Duration::from_secs(1000));
        assert_eq!(d.peer_count(), 0);
    }
}
