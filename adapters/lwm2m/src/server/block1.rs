//! Server-side Block1 (RFC 7959 §2.5): a Register or Update payload too large for one datagram
//! arrives in blocks; each but the last is answered 2.31 Continue, and the last is processed with
//! the whole body. Transfers are bounded in size, number and age.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use coap_lite::{CoapOption, Packet, ResponseType};

use crate::coap::block::BlockOption;

/// What to do with a request.
#[derive(Debug)]
pub(crate) enum Block1Outcome {
    /// Not block-wise: process it as it is.
    Plain,
    /// The last block arrived: process this request, which carries the whole body, and echo
    /// the block option in the answer.
    Whole(Box<Packet>, BlockOption),
    /// Answer with this code (2.31 Continue, 4.08, 4.13, 5.03), echoing the block option.
    Reply(ResponseType, Option<BlockOption>),
}

type Key = (SocketAddr, Vec<Vec<u8>>, Vec<Vec<u8>>);

#[derive(Debug)]
struct Transfer {
    body: Vec<u8>,
    started: Instant,
}

/// Block1 transfers in progress.
#[derive(Debug)]
pub(crate) struct Block1Receiver {
    max_body: usize,
    max_transfers: usize,
    lifetime: Duration,
    transfers: HashMap<Key, Transfer>,
}

impl Block1Receiver {
    pub(crate) fn new(max_body: usize, max_transfers: usize, lifetime: Duration) -> Self {
        Block1Receiver { max_body, max_transfers: max_transfers.max(1), lifetime, transfers: HashMap::new() }
    }

    pub(crate) fn len(&self) -> usize {
        self.transfers.len()
    }

    pub(crate) fn expire(&mut self, now: Instant) {
        let lifetime = self.lifetime;
        self.transfers.retain(|_, t| now.saturating_duration_since(t.started) < lifetime);
    }

    pub(crate) fn on_request(&mut self, now: Instant, peer: SocketAddr, request: &Packet) -> Block1Outcome {
        let block = match BlockOption::from_packet(request, CoapOption::Block1) {
            Ok(Some(b)) => b,
            Ok(None) => return Block1Outcome::Plain,
            Err(_) => return Block1Outcome::Reply(ResponseType::BadOption, None),
        };
        // RFC 7959 §2.5: the request is identified by its endpoint and options, not its token.
        let options = |o| request.get_option(o).map(|l| l.iter().cloned().collect()).unwrap_or_default();
        let key: Key = (peer, options(CoapOption::UriPath), options(CoapOption::UriQuery));
        if block.num == 0 {
            if !self.transfers.contains_key(&key) && self.transfers.len() >= self.max_transfers {
                self.expire(now);
                if self.transfers.len() >= self.max_transfers {
                    return Block1Outcome::Reply(ResponseType::ServiceUnavailable, None);
                }
            }
            self.transfers.insert(key.clone(), Transfer { body: Vec::new(), started: now });
        }
        let Some(transfer) = self.transfers.get_mut(&key) else {
            return Block1Outcome::Reply(ResponseType::RequestEntityIncomplete, Some(block));
        };
        if block.offset() != transfer.body.len() || (block.more && request.payload.len() != block.size()) {
            self.transfers.remove(&key);
            return Block1Outcome::Reply(ResponseType::RequestEntityIncomplete, Some(block));
        }
        if transfer.body.len() + request.payload.len() > self.max_body {
            self.transfers.remove(&key);
            return Block1Outcome::Reply(ResponseType::RequestEntityTooLarge, Some(block));
        }
        transfer.body.extend_from_slice(&request.payload);
        if block.more {
            return Block1Outcome::Reply(ResponseType::Continue, Some(block));
        }
        let body = self.transfers.remove(&key).map(|t| t.body).unwrap_or_default();
        let mut whole = request.clone();
        whole.clear_option(CoapOption::Block1);
        whole.payload = body;
        Block1Outcome::Whole(Box::new(whole), block)
    }
}
