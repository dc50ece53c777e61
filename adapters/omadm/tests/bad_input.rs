//! Bad input: every hostile or broken message is a typed error, never a panic, and nothing is
//! allocated beyond the limits.

use unidm_omadm::codec::{self, wbxml, xml, CodecError, ErrorKind, Limits};

const MINIMAL: &str = "<SyncML xmlns='SYNCML:SYNCML1.2'><SyncHdr><VerDTD>1.2</VerDTD><VerProto>DM/1.2</VerProto>\
<SessionID>1</SessionID><MsgID>1</MsgID><Target><LocURI>t</LocURI></Target><Source><LocURI>s</LocURI></Source>\
</SyncHdr><SyncBody>BODY<Final/></SyncBody></SyncML>";

fn with_body(body: &str) -> Vec<u8> {
    MINIMAL.replace("BODY", body).into_bytes()
}

fn both(msg: &[u8], limits: &Limits) -> [Result<codec::SyncML, CodecError>; 2] {
    let generous = Limits { max_depth: 250, max_elements: 1 << 20, ..Limits::default() };
    let m = xml::decode(msg, &generous).expect("the XML form is valid");
    let bin = wbxml::encode(&m).unwrap();
    [xml::decode(msg, limits), wbxml::decode(&bin, limits)]
}

#[test]
fn minimal_message_decodes() {
    let m = xml::decode(&with_body(""), &Limits::default()).unwrap();
    assert!(m.body.r#final && m.body.commands.is_empty());
}

#[test]
fn oversized_messages_are_refused() {
    let msg = with_body(&"<Alert><CmdID>1</CmdID><Data>1201</Data></Alert>".repeat(100));
    let limits = Limits { max_message_bytes: 1000, ..Limits::default() };
    for r in both(&msg, &Limits { max_message_bytes: 10_000, ..limits }) {
        assert!(r.is_ok());
    }
    let err = xml::decode(&msg, &limits).unwrap_err();
    assert_eq!(err, CodecError::TooLarge { size: msg.len(), limit: 1000 });
    assert_eq!(err.kind(), ErrorKind::TooLarge);
    let bin = wbxml::encode(&xml::decode(&msg, &Limits::default()).unwrap()).unwrap();
    assert!(matches!(wbxml::decode(&bin, &limits), Err(CodecError::TooLarge { .. })));
}

#[test]
fn deep_nesting_is_refused() {
    let depth = 100;
    let body = format!(
        "{}<Get><CmdID>1</CmdID></Get>{}",
        "<Sequence><CmdID>1</CmdID>".repeat(depth),
        "</Sequence>".repeat(depth)
    );
    let msg = with_body(&body);
    assert_eq!(xml::decode(&msg, &Limits::default()).unwrap_err(), CodecError::TooDeep { limit: 48 });
    let limits = Limits { max_depth: 500, ..Limits::default() };
    for r in both(&msg, &Limits { max_depth: 60, ..limits }) {
        assert_eq!(r.unwrap_err(), CodecError::TooDeep { limit: 60 });
    }
    // Raw WBXML: a million open Atomic tags in 1 MiB stops at the limit without recursion.
    let mut doc = vec![0x02, 0xA4, 0x01, 0x6A, 0x00];
    doc.resize(1024 * 1024 - 1, 0x48);
    assert_eq!(wbxml::decode(&doc, &Limits::default()).unwrap_err(), CodecError::TooDeep { limit: 48 });
}

#[test]
fn too_many_elements_are_refused() {
    let msg = with_body(&"<Get><CmdID>1</CmdID></Get>".repeat(50));
    let limits = Limits { max_elements: 100, ..Limits::default() };
    for r in both(&msg, &limits) {
        assert_eq!(r.unwrap_err(), CodecError::TooManyElements { limit: 100 });
    }
}

#[test]
fn doctype_and_entity_expansion_are_refused() {
    let laughs = b"<?xml version=\"1.0\"?><!DOCTYPE lolz [<!ENTITY lol \"lol\"><!ENTITY lol2 \"&lol;&lol;&lol;\">]>\
<SyncML>&lol2;</SyncML>";
    let err = xml::decode(laughs, &Limits::default()).unwrap_err();
    assert_eq!(err, CodecError::DoctypeRefused { has_entities: true });
    assert!(err.is_unsupported());
    let xxe = b"<!DOCTYPE SyncML [<!ENTITY x SYSTEM \"file:///etc/passwd\">]><SyncML>&x;</SyncML>";
    assert_eq!(xml::decode(xxe, &Limits::default()).unwrap_err(), CodecError::DoctypeRefused { has_entities: true });
    let subset = b"<!DOCTYPE SyncML [<!ELEMENT SyncML ANY>]><SyncML/>";
    assert_eq!(
        xml::decode(subset, &Limits::default()).unwrap_err(),
        CodecError::DoctypeRefused { has_entities: false }
    );
    // An external identifier alone declares nothing and is never fetched: accepted, as SyncML
    // stacks (and libwbxml) write it.
    let external = format!(
        "<?xml version=\"1.0\"?><!DOCTYPE SyncML PUBLIC \"-//SYNCML//DTD SyncML 1.2//EN\" \
         \"http://www.openmobilealliance.org/tech/DTD/OMA-TS-SyncML_RepPro_DTD-V1_2.dtd\">{MINIMAL}"
    );
    assert!(xml::decode(external.as_bytes(), &Limits::default()).is_ok());
    // A SYSTEM identifier is not fetched: an entity it might declare stays undeclared.
    let body = MINIMAL.replace("BODY", "<Alert><CmdID>&x;</CmdID></Alert>");
    let system = format!("<!DOCTYPE SyncML SYSTEM \"file:///etc/passwd\">{body}");
    assert!(xml::decode(system.as_bytes(), &Limits::default()).unwrap_err().is_malformed());
    let late = MINIMAL.replace("<SyncBody>", "<SyncBody><!DOCTYPE SyncML PUBLIC \"a\" \"b\">");
    assert!(xml::decode(late.as_bytes(), &Limits::default()).is_err());
    // An entity reference without a declaration is malformed, not expanded.
    assert!(xml::decode(&with_body("<Alert><CmdID>&lol;</CmdID></Alert>"), &Limits::default())
        .unwrap_err()
        .is_malformed());
}

#[test]
fn malformed_xml_is_malformed() {
    for doc in [
        &b""[..],
        b"<SyncML>",
        b"<SyncML></SyncHdr>",
        b"<SyncML/><SyncML/>",
        b"text<SyncML/>",
        b"\xFF\xFE<SyncML/>",
        b"<SyncML a='1' a='2'/>",
    ] {
        let err = xml::decode(doc, &Limits::default()).unwrap_err();
        assert!(err.is_malformed(), "{doc:?}: {err:?}");
    }
}

#[test]
fn invalid_syncml_is_malformed() {
    let cases: [(&[u8], &str); 5] = [
        (b"<Envelope/>", "Envelope"),
        (b"<SyncML><SyncBody/></SyncML>", "SyncML"),
        (&with_body("<Status><CmdID>1</CmdID><CmdRef>0</CmdRef><Cmd>SyncHdr</Cmd><Data>OK</Data></Status>"), "Data"),
        (&with_body("<Exec><CmdID>1</CmdID></Exec>"), "Exec"),
        (&with_body("<Alert><Data>1201</Data></Alert>"), "Alert"),
    ];
    for (doc, element) in cases {
        match xml::decode(doc, &Limits::default()) {
            Err(CodecError::Invalid { element: e, .. }) => assert_eq!(e, element),
            other => panic!("{}: {other:?}", String::from_utf8_lossy(doc)),
        }
    }
}

#[test]
fn unknown_elements_are_skipped() {
    let body = "<Get><CmdID>1</CmdID><Lang>en</Lang><X-Vendor><Deep/></X-Vendor><Item><Target><LocURI>./a</LocURI>\
<Filter/></Target><TargetParent><LocURI>p</LocURI></TargetParent></Item></Get><Map><CmdID>9</CmdID></Map>";
    let m = xml::decode(&with_body(body), &Limits::default()).unwrap();
    assert_eq!(m.body.commands.len(), 2);
    assert_eq!(m.body.commands[1].name(), "Map");
    assert_eq!(m.body.commands[1].cmd_id(), Some("9"));
}

#[test]
fn bad_media_types_are_unsupported() {
    for ct in ["", "text/xml", "application/vnd.syncml.notification", "application/vnd.syncml.dm+json"] {
        let err = codec::decode(ct, MINIMAL.as_bytes()).unwrap_err();
        assert_eq!(err, CodecError::UnsupportedMediaType(ct.into()));
        assert!(err.is_unsupported());
    }
}

#[test]
fn broken_wbxml_is_a_typed_error() {
    let header = [0x02u8, 0xA4, 0x01, 0x6A, 0x00];
    let cases: Vec<(Vec<u8>, ErrorKind)> = vec![
        (vec![], ErrorKind::Malformed),
        (vec![0x02], ErrorKind::Malformed),
        (vec![0x07, 0xA4, 0x01, 0x6A, 0x00, 0x6D, 0x01], ErrorKind::Unsupported),
        // DevInf 1.2 is a document of its own, not a SyncML message.
        (vec![0x02, 0xA4, 0x03, 0x6A, 0x00, 0x6D, 0x01], ErrorKind::Unsupported),
        // UTF-16 charset.
        (vec![0x02, 0xA4, 0x01, 0x83, 0x7F, 0x00, 0x6D, 0x01], ErrorKind::Unsupported),
        // Literal public id naming something else.
        ([&[0x02, 0x00, 0x00, 0x6A, 0x04][..], b"abc\0", &[0x6D, 0x01]].concat(), ErrorKind::Unsupported),
        // Public-id string-table index out of range.
        (vec![0x02, 0x00, 0x09, 0x6A, 0x00, 0x6D, 0x01], ErrorKind::Malformed),
        // String table longer than the document.
        (vec![0x02, 0xA4, 0x01, 0x6A, 0x7F, 0x6D], ErrorKind::Malformed),
        // mb_u_int32 of six bytes.
        (vec![0x02, 0x81, 0x81, 0x81, 0x81, 0x81, 0x01], ErrorKind::Malformed),
        ([&header[..], &[0x6D, 0x4F]].concat(), ErrorKind::Malformed),
        ([&header[..], &[0x6D, 0x01, 0x01]].concat(), ErrorKind::Malformed),
        ([&header[..], &[0x03, b'a', 0x00]].concat(), ErrorKind::Malformed),
        ([&header[..], &[0x6D, 0x03, b'a']].concat(), ErrorKind::Malformed),
        ([&header[..], &[0x6D, 0xC3, 0x8F, 0xFF, 0xFF, 0xFF, 0x7F, 0x01]].concat(), ErrorKind::Malformed),
        ([&header[..], &[0x6D, 0x83, 0x05, 0x01]].concat(), ErrorKind::Malformed),
        ([&header[..], &[0x6D, 0x3F, 0x01]].concat(), ErrorKind::Malformed),
        ([&header[..], &[0x6D, 0x00, 0x09, 0x45, 0x01, 0x01]].concat(), ErrorKind::Malformed),
        ([&header[..], &[0x6D, 0x02, 0x8F, 0xFF, 0xFF, 0xFF, 0x7F, 0x01]].concat(), ErrorKind::Malformed),
        ([&header[..], &[0x6D, 0xC0, 0x01]].concat(), ErrorKind::Unsupported),
        ([&header[..], &[0x6D, 0x03, 0xFF, 0x00, 0x01]].concat(), ErrorKind::Malformed),
        ([&header[..], &[0x2D, 0x2D]].concat(), ErrorKind::Malformed),
    ];
    for (doc, kind) in cases {
        let err = wbxml::decode(&doc, &Limits::default()).unwrap_err();
        assert_eq!(err.kind(), kind, "{doc:02X?}: {err:?}");
    }
}

#[test]
fn truncated_wbxml_never_decodes() {
    let m = xml::decode(&with_body("<Alert><CmdID>1</CmdID><Data>1201</Data></Alert>"), &Limits::default()).unwrap();
    let bin = wbxml::encode(&m).unwrap();
    for end in 0..bin.len() {
        assert!(wbxml::decode(&bin[..end], &Limits::default()).is_err(), "{end}");
    }
    // Attributes and processing instructions are skipped.
    let mut with_attrs = bin[..5].to_vec();
    with_attrs.extend_from_slice(&[0x43, 0x05, 0x03, b'x', 0x00, 0x01]); // PI before the root
    with_attrs.push(0x6D | 0x80); // SyncML with attributes
    with_attrs.extend_from_slice(&[0x05, 0x03, b'v', 0x00, 0x00, 0x01, 0x86, 0x01]);
    with_attrs.extend_from_slice(&bin[6..]);
    assert_eq!(wbxml::decode(&with_attrs, &Limits::default()).unwrap(), m);
}

#[test]
fn unrepresentable_output_is_unsupported() {
    let mut m = xml::decode(&with_body(""), &Limits::default()).unwrap();
    m.hdr.session_id = "a\0b".into();
    assert!(xml::encode(&m).unwrap_err().is_unsupported());
    assert!(wbxml::encode(&m).unwrap_err().is_unsupported());
}
