//! Block-wise transfers (RFC 7959), client side: Block2 reassembly of large responses (a Read of a
//! big resource) and Block1 sending of large request bodies (a firmware image written to `/5/0/0`;
//! a client with Firmware Update must support block-wise, registry `5.xml`). Both are bounded in
//! total size.
//!
//! Each block travels as its own request through [`super::exchange::Exchanges`]; these types
//! only say which block to ask for or send next and check what comes back.

use coap_lite::{CoapOption, MessageClass, Packet, ResponseType};

use super::{decode_uint, encode_uint, CoapError};

/// Largest block number: NUM has at most 20 bits (RFC 7959 §2.2).
const MAX_NUM: u32 = (1 << 20) - 1;

/// A Block1 or Block2 option value: NUM, M and SZX (RFC 7959 §2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockOption {
    /// Block number.
    pub num: u32,
    /// More blocks follow.
    pub more: bool,
    /// Size exponent: the block holds `2^(szx + 4)` bytes, 16 to 1024 (SZX 7 is reserved).
    pub szx: u8,
}

impl BlockOption {
    /// Block size in bytes.
    pub fn size(&self) -> usize {
        1usize << (self.szx.min(6) + 4)
    }

    /// Offset of the block's first byte.
    pub fn offset(&self) -> usize {
        self.num as usize * self.size()
    }

    /// Option bytes.
    pub fn encode(&self) -> Vec<u8> {
        encode_uint((self.num << 4) | (u32::from(self.more) << 3) | u32::from(self.szx & 0b111))
    }

    /// Parses option bytes (at most 3); SZX 7 (BERT, RFC 8323 only) is refused over UDP.
    pub fn decode(bytes: &[u8]) -> Result<BlockOption, CoapError> {
        let v = decode_uint(bytes)
            .filter(|_| bytes.len() <= 3)
            .ok_or_else(|| CoapError::Block("block option longer than 3 bytes".into()))?;
        let szx = (v & 0b111) as u8;
        if szx == 7 {
            return Err(CoapError::Block("SZX 7 is reserved".into()));
        }
        Ok(BlockOption { num: v >> 4, more: v & 0b1000 != 0, szx })
    }

    /// Reads the option `which` (Block1 or Block2) of a packet, if present.
    pub fn from_packet(packet: &Packet, which: CoapOption) -> Result<Option<BlockOption>, CoapError> {
        packet.get_first_option(which).map(|v| BlockOption::decode(v)).transpose()
    }

    fn set_on(&self, packet: &mut Packet, which: CoapOption) {
        packet.clear_option(which);
        packet.add_option(which, self.encode());
    }
}

/// The SZX for a block size in bytes (16..=1024, a power of two).
pub fn szx_for_size(size: usize) -> Option<u8> {
    (4..=10).find(|e| 1usize << e == size).map(|e| (e - 4) as u8)
}

/// What to do after a Block2 response.
#[derive(Debug, Clone, PartialEq)]
pub enum Block2Step {
    /// The body is complete: the last response with the whole body as payload.
    Complete(Packet),
    /// Ask for this block next, with [`Block2Assembler::next_request`].
    Next(BlockOption),
}

/// Reassembles a response body sent in Block2 blocks (RFC 7959 §2.4, §3.1).
#[derive(Debug, Clone)]
pub struct Block2Assembler {
    max_size: usize,
    body: Vec<u8>,
}

impl Block2Assembler {
    /// Accepts bodies up to `max_size` bytes.
    pub fn new(max_size: usize) -> Self {
        Block2Assembler { max_size, body: Vec::new() }
    }

    /// Bytes received so far.
    pub fn received(&self) -> usize {
        self.body.len()
    }

    /// Takes one response of the transfer.
    pub fn on_response(&mut self, response: &Packet) -> Result<Block2Step, CoapError> {
        let Some(block) = BlockOption::from_packet(response, CoapOption::Block2)? else {
            if self.body.is_empty() {
                return Ok(Block2Step::Complete(response.clone()));
            }
            return Err(CoapError::Block("Block2 option missing mid-transfer".into()));
        };
        if let Some(total) = response.get_first_option(CoapOption::Size2).and_then(|v| decode_uint(v)) {
            if total as usize > self.max_size {
                return Err(CoapError::Block(format!("announced size {total} exceeds the limit of {}", self.max_size)));
            }
        }
        if block.offset() != self.body.len() {
            return Err(CoapError::Block(format!(
                "block {} at offset {} but {} bytes received",
                block.num,
                block.offset(),
                self.body.len()
            )));
        }
        if block.more && response.payload.len() != block.size() {
            return Err(CoapError::Block("a block other than the last must fill its size".into()));
        }
        if response.payload.len() > block.size() {
            return Err(CoapError::Block("block payload larger than its size".into()));
        }
        if self.body.len() + response.payload.len() > self.max_size {
            return Err(CoapError::Block(format!("body exceeds the limit of {} bytes", self.max_size)));
        }
        self.body.extend_from_slice(&response.payload);
        if block.more {
            if block.num >= MAX_NUM {
                return Err(CoapError::Block("block number overflow".into()));
            }
            return Ok(Block2Step::Next(BlockOption { num: block.num + 1, more: false, szx: block.szx }));
        }
        let mut whole = response.clone();
        whole.payload = std::mem::take(&mut self.body);
        whole.clear_option(CoapOption::Block2);
        Ok(Block2Step::Complete(whole))
    }

    /// The original request asking for `block` (without Observe: later blocks of a notification
    /// are plain GETs, RFC 7959 §2.6).
    pub fn next_request(original: &Packet, block: BlockOption) -> Packet {
        let mut request = original.clone();
        request.clear_option(CoapOption::Observe);
        block.set_on(&mut request, CoapOption::Block2);
        request
    }
}

/// What to do after a response to a Block1 request.
#[derive(Debug, Clone, PartialEq)]
pub enum Block1Step {
    /// Send this request next.
    Continue(Packet),
    /// The transfer is over; the final response (success or the server's error).
    Done(Packet),
}

/// Sends a request body in Block1 blocks (RFC 7959 §2.5, §3.2).
#[derive(Debug, Clone)]
pub struct Block1Sender {
    template: Packet,
    payload: Vec<u8>,
    szx: u8,
    /// Offset of the block in flight.
    offset: usize,
}

impl Block1Sender {
    /// Prepares to send `payload` with `template`'s method, path and options, in blocks of
    /// `2^(szx+4)` bytes. Payloads above `max_size`, or needing more than 2^20 blocks, are
    /// refused.
    pub fn new(template: Packet, payload: Vec<u8>, szx: u8, max_size: usize) -> Result<Self, CoapError> {
        if szx > 6 {
            return Err(CoapError::Block(format!("SZX {szx} is not 0..=6")));
        }
        if payload.len() > max_size {
            return Err(CoapError::Block(format!(
                "payload of {} bytes exceeds the limit of {max_size}",
                payload.len()
            )));
        }
        let sender = Block1Sender { template, payload, szx, offset: 0 };
        if sender.payload.len() / sender.block_size() > MAX_NUM as usize {
            return Err(CoapError::Block("too many blocks for this size".into()));
        }
        Ok(sender)
    }

    fn block_size(&self) -> usize {
        1usize << (self.szx + 4)
    }

    fn current_block(&self) -> BlockOption {
        let size = self.block_size();
        BlockOption { num: (self.offset / size) as u32, more: self.offset + size < self.payload.len(), szx: self.szx }
    }

    /// Bytes the server has confirmed so far.
    pub fn acknowledged(&self) -> usize {
        self.offset
    }

    /// The request carrying the block in flight (the first one carries Size1, §4).
    pub fn request(&self) -> Packet {
        let block = self.current_block();
        let mut request = self.template.clone();
        block.set_on(&mut request, CoapOption::Block1);
        if self.offset == 0 {
            request.clear_option(CoapOption::Size1);
            request.add_option(CoapOption::Size1, encode_uint(self.payload.len() as u32));
        }
        let end = (self.offset + self.block_size()).min(self.payload.len());
        request.payload = self.payload.get(self.offset..end).unwrap_or_default().to_vec();
        request
    }

    /// Takes the response to the block in flight.
    pub fn on_response(&mut self, response: &Packet) -> Result<Block1Step, CoapError> {
        let sent = self.current_block();
        let code = match response.header.code {
            MessageClass::Response(code) => code,
            _ => return Err(CoapError::Block("not a response".into())),
        };
        let echoed = BlockOption::from_packet(response, CoapOption::Block1)?;
        if code == ResponseType::Continue {
            let Some(echo) = echoed else {
                return Err(CoapError::Block("2.31 without Block1".into()));
            };
            if !sent.more {
                return Err(CoapError::Block("2.31 after the last block".into()));
            }
            if echo.offset() != self.offset && echo.num != sent.num {
                return Err(CoapError::Block(format!(
                    "server acknowledged block {} while block {} was sent",
                    echo.num, sent.num
                )));
            }
            // The server may ask for smaller blocks from now on (§2.5, the "1:8/1/128" case).
            self.offset += self.block_size().min(self.payload.len() - self.offset);
            self.szx = self.szx.min(echo.szx);
            return Ok(Block1Step::Continue(self.request()));
        }
        if code.is_error() || !sent.more {
            if !code.is_error() {
                self.offset = self.payload.len();
            }
            return Ok(Block1Step::Done(response.clone()));
        }
        Err(CoapError::Block("final response before the last block was sent".into()))
    }
}

#[cfg(test)]
mod tests;
