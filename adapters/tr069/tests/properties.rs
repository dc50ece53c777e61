//! Property tests: encode-then-parse is the identity; no input makes the parser panic.

mod common;

use proptest::prelude::*;
use unidm_tr069::{encode_envelope, parse_envelope, parse_envelope_with, Limits, Rpc};

/// A SOAP Fault without `detail` and without header has no element in a CWMP namespace, so
/// the namespace cannot survive the trip; every other envelope must.
fn carries_namespace(env: &unidm_tr069::Envelope) -> bool {
    !matches!(&env.rpc, Rpc::Fault(f) if f.detail.is_none()) || !env.header.is_empty()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn encode_then_parse_is_identity(env in common::envelope()) {
        prop_assume!(carries_namespace(&env));
        let bytes = encode_envelope(&env);
        let parsed = parse_envelope(&bytes);
        prop_assert_eq!(parsed, Ok(env), "{}", String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = parse_envelope(&bytes);
    }

    #[test]
    fn xmlish_text_never_panics(s in "[<>/=\"a-zA-Z:!\\[\\]&;# -]{0,300}") {
        let _ = parse_envelope(s.as_bytes());
    }

    #[test]
    fn mutated_envelopes_never_panic(
        env in common::envelope(),
        cut in any::<prop::sample::Index>(),
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..4),
    ) {
        let mut bytes = encode_envelope(&env);
        for (i, b) in flips {
            let i = i.index(bytes.len());
            bytes[i] = b;
        }
        let _ = parse_envelope(&bytes);
        let end = cut.index(bytes.len() + 1);
        let _ = parse_envelope(&bytes[..end]);
        let tight = Limits { max_depth: 4, max_children: 2, max_elements: 16, ..Limits::default() };
        let _ = parse_envelope_with(&bytes, &tight);
    }
}

proptest! {
    #[test]
    fn typed_values_never_panic(t in common::xsd_type(), text in "\\PC{0,40}") {
        let v = unidm_tr069::soap::Value::new(t, text);
        if let Ok(typed) = v.typed() {
            // A value that checks out converts back to one that checks out.
            let back = unidm_tr069::soap::Value::from(typed);
            prop_assert!(back.typed().is_ok());
        }
    }

    #[test]
    fn date_time_like_text_never_panics(text in "[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]{0,10}[+\u{e9}Z:0-9-]{0,7}") {
        let v = unidm_tr069::soap::Value::new(unidm_tr069::soap::XsdType::DateTime, text);
        let _ = v.typed();
    }
}
