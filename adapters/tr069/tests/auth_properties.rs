//! Property tests for the parsers that take untrusted header and file text: arbitrary input
//! never panics, and what the Digest side writes the other side accepts.

use proptest::prelude::*;
use unidm_tr069::digest::{parse_basic, Challenge, DigestAuthorization};
use unidm_tr069::sim::ParameterTree;

proptest! {
    #[test]
    fn header_parsers_never_panic(s in ".{0,300}") {
        let _ = Challenge::parse(&s);
        let _ = DigestAuthorization::parse(&s);
        let _ = parse_basic(&s);
        let _ = Challenge::parse(&format!("Digest {s}"));
        let _ = DigestAuthorization::parse(&format!("Digest {s}"));
    }

    #[test]
    fn csv_reader_never_panics(s in "[a-zA-Z0-9.,\"\\n ]{0,400}") {
        let _ = ParameterTree::from_csv(&s);
    }

    #[test]
    fn digest_answers_verify(
        user in "[a-zA-Z0-9_-]{1,20}",
        pass in "[ -~]{0,20}",
        realm in "[a-zA-Z0-9 @.]{1,20}",
        nonce in "[a-f0-9]{8,32}",
        uri in "/[a-z0-9/]{0,20}",
        qop in any::<bool>(),
    ) {
        let c = Challenge { realm, nonce, opaque: Some("o".into()), qop: if qop { vec!["auth".into()] } else { vec![] }, algorithm: None };
        let parsed = Challenge::parse(&c.to_header()).expect("own challenge parses");
        let answer = parsed.respond(&user, &pass, "GET", &uri, "cafe", 1);
        let a = DigestAuthorization::parse(&answer).expect("own answer parses");
        prop_assert!(a.verify(&pass, "GET"));
        let wrong = format!("{pass}x");
        prop_assert!(!a.verify(&wrong, "GET"));
    }
}
