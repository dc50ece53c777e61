//! Property tests: encode-then-decode is the identity in both encodings and across them; no
//! input makes either decoder panic.

mod common;

use proptest::prelude::*;
use unidm_omadm::codec::{self, wbxml, xml, Limits, PublicIdForm, WbxmlOptions};

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn xml_encode_then_decode_is_identity(msg in common::message()) {
        let bytes = xml::encode(&msg).unwrap();
        let back = xml::decode(&bytes, &Limits::default());
        prop_assert_eq!(back, Ok(msg), "{}", String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn wbxml_encode_then_decode_is_identity(msg in common::binary_message(), literal in any::<bool>()) {
        let public_id = if literal { PublicIdForm::Literal } else { PublicIdForm::Numeric };
        let bytes = wbxml::encode_with(&msg, WbxmlOptions { public_id }).unwrap();
        prop_assert_eq!(wbxml::decode(&bytes, &Limits::default()), Ok(msg));
    }

    #[test]
    fn xml_to_wbxml_to_xml_is_identity(msg in common::message()) {
        let xml1 = xml::encode(&msg).unwrap();
        let model = xml::decode(&xml1, &Limits::default()).unwrap();
        let bin = wbxml::encode(&model).unwrap();
        let model2 = wbxml::decode(&bin, &Limits::default()).unwrap();
        prop_assert_eq!(xml::encode(&model2).unwrap(), xml1);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = xml::decode(&bytes, &Limits::default());
        let _ = wbxml::decode(&bytes, &Limits::default());
        let _ = codec::decode("application/vnd.syncml.dm+wbxml", &bytes);
    }

    #[test]
    fn wbxml_token_soup_never_panics(
        body in proptest::collection::vec(
            prop_oneof![
                Just(0x00u8), Just(0x01), Just(0x02), Just(0x03), Just(0x04), Just(0x43), Just(0x44), Just(0x83),
                Just(0xC3), Just(0xC4), Just(0x6D), Just(0x6C), Just(0x4F), Just(0x5A), any::<u8>(),
            ],
            0..256,
        ),
        strtbl in proptest::collection::vec(any::<u8>(), 0..8),
    ) {
        let mut doc = vec![0x02, 0xA4, 0x01, 0x6A, strtbl.len() as u8];
        doc.extend_from_slice(&strtbl);
        doc.extend_from_slice(&body);
        let _ = wbxml::decode(&doc, &Limits::default());
    }

    #[test]
    fn xmlish_text_never_panics(s in "[<>/=\"a-zA-Z:!\\[\\]&;# -]{0,300}") {
        let _ = xml::decode(s.as_bytes(), &Limits::default());
    }

    #[test]
    fn mutated_messages_never_panic(
        msg in common::binary_message(),
        cut in any::<prop::sample::Index>(),
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..4),
    ) {
        let tight = Limits { max_depth: 6, max_elements: 32, max_expanded_bytes: 64, ..Limits::default() };
        let mut docs = vec![wbxml::encode(&msg).unwrap()];
        if let Ok(x) = xml::encode(&msg) {
            docs.push(x);
        }
        for mut bytes in docs {
            for (i, b) in &flips {
                let i = i.index(bytes.len());
                bytes[i] = *b;
            }
            let end = cut.index(bytes.len() + 1);
            for decode in [xml::decode, wbxml::decode] {
                let _ = decode(&bytes, &Limits::default());
                let _ = decode(&bytes[..end], &Limits::default());
                let _ = decode(&bytes, &tight);
            }
        }
    }
}
