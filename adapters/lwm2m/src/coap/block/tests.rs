use super::*;
use coap_lite::{MessageType, RequestType};

fn response(code: ResponseType, block: Option<BlockOption>, which: CoapOption, payload: &[u8]) -> Packet {
    let mut p = Packet::new();
    p.header.set_type(MessageType::Acknowledgement);
    p.header.code = MessageClass::Response(code);
    if let Some(b) = block {
        p.add_option(which, b.encode());
    }
    p.payload = payload.to_vec();
    p
}

#[test]
fn block_option_encoding_rfc_7959_section_2_2() {
    let b = BlockOption { num: 1, more: true, szx: 6 };
    assert_eq!(b.encode(), vec![0x1E]);
    assert_eq!(BlockOption::decode(&[0x1E]).unwrap(), b);
    assert_eq!(b.size(), 1024);
    assert_eq!(b.offset(), 1024);
    let zero = BlockOption { num: 0, more: false, szx: 0 };
    assert_eq!(zero.encode(), Vec::<u8>::new());
    assert_eq!(BlockOption::decode(&[]).unwrap(), zero);
    assert!(BlockOption::decode(&[0x07]).is_err());
    assert!(BlockOption::decode(&[1, 2, 3, 4]).is_err());
    assert_eq!(szx_for_size(16), Some(0));
    assert_eq!(szx_for_size(1024), Some(6));
    assert_eq!(szx_for_size(100), None);
}

#[test]
fn block2_reassembles_and_asks_for_next_blocks() {
    let body: Vec<u8> = (0..300u32).map(|i| i as u8).collect();
    let mut get = Packet::new();
    get.header.code = MessageClass::Request(RequestType::Get);
    get.add_option(CoapOption::Observe, vec![]);
    let mut asm = Block2Assembler::new(1000);
    let mut num = 0;
    let step = loop {
        let start = num as usize * 128;
        let end = (start + 128).min(body.len());
        let more = end < body.len();
        let block = BlockOption { num, more, szx: 3 };
        match asm
            .on_response(&response(ResponseType::Content, Some(block), CoapOption::Block2, &body[start..end]))
            .unwrap()
        {
            Block2Step::Next(next) => {
                let req = Block2Assembler::next_request(&get, next);
                assert_eq!(req.get_first_option(CoapOption::Observe), None);
                let asked = BlockOption::from_packet(&req, CoapOption::Block2).unwrap().unwrap();
                assert_eq!(asked.num, num + 1);
                num = asked.num;
            }
            done => break done,
        }
    };
    let Block2Step::Complete(whole) = step else {
        panic!("transfer not complete");
    };
    assert_eq!(whole.payload, body);
    assert_eq!(whole.get_first_option(CoapOption::Block2), None);
}

#[test]
fn block2_rejects_gaps_short_blocks_and_oversize() {
    let c = ResponseType::Content;
    let b2 = CoapOption::Block2;
    let mut asm = Block2Assembler::new(64);
    // Block 1 before block 0.
    assert!(asm.on_response(&response(c, Some(BlockOption { num: 1, more: true, szx: 0 }), b2, &[0; 16])).is_err());
    // A non-final block shorter than its size.
    assert!(asm.on_response(&response(c, Some(BlockOption { num: 0, more: true, szx: 0 }), b2, &[0; 3])).is_err());
    // Size2 above the limit.
    let mut big = response(c, Some(BlockOption { num: 0, more: true, szx: 0 }), b2, &[0; 16]);
    big.add_option(CoapOption::Size2, super::super::encode_uint(100_000));
    assert!(asm.on_response(&big).is_err());
    // Growing beyond the limit.
    let mut asm = Block2Assembler::new(40);
    for num in 0..2 {
        let r = response(c, Some(BlockOption { num, more: true, szx: 0 }), b2, &[0; 16]);
        assert!(matches!(asm.on_response(&r), Ok(Block2Step::Next(_))));
    }
    let r = response(c, Some(BlockOption { num: 2, more: true, szx: 0 }), b2, &[0; 16]);
    assert!(asm.on_response(&r).is_err());
    // No Block2 at all: a plain response.
    let mut fresh = Block2Assembler::new(10);
    let plain = response(c, None, b2, b"x");
    assert_eq!(fresh.on_response(&plain).unwrap(), Block2Step::Complete(plain));
}

fn put_firmware() -> Packet {
    let mut p = Packet::new();
    p.header.set_type(MessageType::Confirmable);
    p.header.code = MessageClass::Request(RequestType::Put);
    for seg in ["5", "0", "0"] {
        p.add_option(CoapOption::UriPath, seg.as_bytes().to_vec());
    }
    p
}

/// A firmware image pushed to /5/0/0 (Package, registry `5.xml`) where the device asks for smaller
/// blocks after the first one, as in RFC 7959 §2.5's "1:0/1/1024 then 1:8/1/128" exchange.
#[test]
fn block1_pushes_firmware_and_follows_a_smaller_size() {
    let image: Vec<u8> = (0..2500u32).map(|i| (i * 7) as u8).collect();
    let mut sender = Block1Sender::new(put_firmware(), image.clone(), 6, 1 << 20).unwrap();
    let mut request = sender.request();
    assert_eq!(request.get_first_option(CoapOption::Size1).and_then(|v| super::super::decode_uint(v)), Some(2500));
    let mut received = Vec::new();
    let mut rounds = 0;
    let last = loop {
        rounds += 1;
        let block = BlockOption::from_packet(&request, CoapOption::Block1).unwrap().unwrap();
        assert_eq!(block.offset(), received.len());
        received.extend_from_slice(&request.payload);
        let reply = if block.more {
            // The device wants 128-byte blocks.
            let echo = BlockOption { num: block.num, more: true, szx: 3 };
            response(ResponseType::Continue, Some(echo), CoapOption::Block1, b"")
        } else {
            response(ResponseType::Changed, Some(block), CoapOption::Block1, b"")
        };
        match sender.on_response(&reply).unwrap() {
            Block1Step::Continue(next) => request = next,
            Block1Step::Done(last) => break last,
        }
    };
    assert_eq!(received, image);
    assert_eq!(last.header.code, MessageClass::Response(ResponseType::Changed));
    assert_eq!(sender.acknowledged(), image.len());
    // 1024 bytes, then (2500 - 1024) / 128 rounded up = 12 blocks.
    assert_eq!(rounds, 13);
}

#[test]
fn block1_stops_on_error_and_checks_bounds() {
    let mut sender = Block1Sender::new(put_firmware(), vec![0; 100], 0, 1000).unwrap();
    let too_large = response(ResponseType::RequestEntityTooLarge, None, CoapOption::Block1, b"");
    assert_eq!(sender.on_response(&too_large).unwrap(), Block1Step::Done(too_large));
    assert!(Block1Sender::new(put_firmware(), vec![0; 2000], 0, 1000).is_err());
    assert!(Block1Sender::new(put_firmware(), vec![], 7, 1000).is_err());
    // A final success before the last block is a protocol error.
    let mut sender = Block1Sender::new(put_firmware(), vec![0; 100], 0, 1000).unwrap();
    let early = response(ResponseType::Changed, None, CoapOption::Block1, b"");
    assert!(sender.on_response(&early).is_err());
    // 2.31 must echo Block1.
    let cont = response(ResponseType::Continue, None, CoapOption::Block1, b"");
    assert!(sender.on_response(&cont).is_err());
}
