//! Golden tests: hand-written DM messages decode into the expected structs, and survive
//! XML -> model -> WBXML -> model -> XML unchanged.

use unidm_omadm::codec::{
    self, wbxml, xml, Alert, Chal, Command, Cred, Data, Element, Encoding, Exec, Item, ItemCommand, Limits, Location,
    Meta, Namespace, Node, PublicIdForm, Status, SyncBody, SyncHdr, SyncML, UnknownCommand, WbxmlOptions,
};

const PKG1: &[u8] = include_bytes!("data/pkg1_client.xml");
const PKG2: &[u8] = include_bytes!("data/pkg2_server.xml");
const GENERIC_ALERT: &[u8] = include_bytes!("data/generic_alert.xml");

fn src_item(uri: &str, data: &str) -> Item {
    Item { source: Some(Location::uri(uri)), data: Some(Data::Text(data.into())), ..Item::default() }
}

fn target_item(uri: &str) -> Item {
    Item { target: Some(Location::uri(uri)), ..Item::default() }
}

fn hdr(session: &str, target: &str, source: &str) -> SyncHdr {
    SyncHdr {
        ver_dtd: "1.2".into(),
        ver_proto: "DM/1.2".into(),
        session_id: session.into(),
        msg_id: "1".into(),
        target: Location::uri(target),
        source: Location::uri(source),
        resp_uri: None,
        no_resp: false,
        cred: None,
        meta: None,
    }
}

fn status(cmd_id: &str, cmd_ref: &str, cmd: &str, code: u16) -> Status {
    Status {
        cmd_id: cmd_id.into(),
        msg_ref: Some("1".into()),
        cmd_ref: cmd_ref.into(),
        cmd: cmd.into(),
        code,
        ..Status::default()
    }
}

fn pkg1_expected() -> SyncML {
    let mut hdr = hdr("1A2B", "https://dm.example/dm", "IMEI:493005100592800");
    hdr.source.loc_name = Some("dmuser".into());
    hdr.cred = Some(Cred {
        meta: Some(Meta { format: Some("b64".into()), r#type: Some("syncml:auth-basic".into()), ..Meta::default() }),
        data: "ZG11c2VyOnNlY3JldA==".into(),
    });
    hdr.meta = Some(Meta { max_msg_size: Some(16384), max_obj_size: Some(1048576), ..Meta::default() });
    SyncML {
        hdr,
        body: SyncBody {
            commands: vec![
                Command::Alert(Alert { cmd_id: "1".into(), code: Some(Alert::CLIENT_INITIATED), ..Alert::default() }),
                Command::Replace(ItemCommand {
                    cmd_id: "2".into(),
                    items: vec![
                        src_item("./DevInfo/DevId", "IMEI:493005100592800"),
                        src_item("./DevInfo/Man", "Acme & Sons"),
                        src_item("./DevInfo/Mod", "Roadrunner-2"),
                        src_item("./DevInfo/DmV", "1.2"),
                        src_item("./DevInfo/Lang", "en-US"),
                    ],
                    ..ItemCommand::default()
                }),
            ],
            r#final: true,
        },
    }
}

fn pkg2_expected() -> SyncML {
    let mut hdr = hdr("1A2B", "IMEI:493005100592800", "https://dm.example/dm");
    hdr.resp_uri = Some("https://dm.example/dm?s=1A2B".into());
    hdr.meta = Some(Meta { max_msg_size: Some(65536), ..Meta::default() });
    let mut hdr_status = status("1", "0", "SyncHdr", 212);
    hdr_status.target_refs = vec!["https://dm.example/dm".into()];
    hdr_status.source_refs = vec!["IMEI:493005100592800".into()];
    hdr_status.chal = Some(Chal {
        meta: Meta {
            format: Some("b64".into()),
            r#type: Some("syncml:auth-md5".into()),
            next_nonce: Some("Tm9uY2UxMjM0NTY3ODkwMTI=".into()),
            ..Meta::default()
        },
    });
    let mut url = target_item("./FUMO/fw/DownloadAndUpdate/PkgURL");
    url.meta = Some(Meta { format: Some("chr".into()), r#type: Some("text/plain".into()), ..Meta::default() });
    url.data = Some(Data::Text("https://fw.example/pkg/2.0.bin?a=1&b=2".into()));
    SyncML {
        hdr,
        body: SyncBody {
            commands: vec![
                Command::Status(hdr_status),
                Command::Status(status("2", "1", "Alert", 200)),
                Command::Status(status("3", "2", "Replace", 200)),
                Command::Get(ItemCommand {
                    cmd_id: "4".into(),
                    items: vec![target_item("./DevDetail/FwV"), target_item("./FUMO?list=Struct")],
                    ..ItemCommand::default()
                }),
                Command::Replace(ItemCommand { cmd_id: "5".into(), items: vec![url], ..ItemCommand::default() }),
                Command::Exec(Exec {
                    cmd_id: "6".into(),
                    correlator: Some("op-42".into()),
                    item: target_item("./FUMO/fw/DownloadAndUpdate"),
                    ..Exec::default()
                }),
            ],
            r#final: true,
        },
    }
}

fn generic_alert_expected() -> SyncML {
    let mut hdr = hdr("2C", "https://dm.example/dm", "IMEI:493005100592800");
    hdr.cred = Some(Cred {
        meta: Some(Meta { format: Some("b64".into()), r#type: Some("syncml:auth-md5".into()), ..Meta::default() }),
        data: "kH3uvNw1nVD9PeULbP2aPg==".into(),
    });
    let item = Item {
        source: Some(Location::uri("./FUMO/fw")),
        meta: Some(Meta {
            r#type: Some("org.openmobilealliance.dm.firmwareupdate.downloadandupdate".into()),
            format: Some("int".into()),
            mark: Some("critical".into()),
            ..Meta::default()
        }),
        data: Some(Data::Text("200".into())),
        more_data: false,
        target: None,
    };
    SyncML {
        hdr,
        body: SyncBody {
            commands: vec![
                Command::Alert(Alert { cmd_id: "1".into(), code: Some(1201), ..Alert::default() }),
                Command::Alert(Alert {
                    cmd_id: "2".into(),
                    code: Some(Alert::GENERIC_ALERT),
                    correlator: Some("op-42".into()),
                    items: vec![item],
                    ..Alert::default()
                }),
                Command::Unknown(UnknownCommand { name: "Unknownish".into(), cmd_id: None }),
            ],
            r#final: true,
        },
    }
}

#[test]
fn package1_from_a_client_decodes() {
    let msg = codec::decode("application/vnd.syncml.dm+xml; charset=UTF-8", PKG1).expect("decodes");
    assert_eq!(msg, pkg1_expected());
}

#[test]
fn package2_from_a_server_decodes() {
    let msg = codec::decode("application/vnd.syncml.dm+xml", PKG2).expect("decodes");
    assert_eq!(msg, pkg2_expected());
}

#[test]
fn generic_alert_decodes_with_prefixes_and_odd_case() {
    let msg = codec::decode("application/vnd.syncml+xml", GENERIC_ALERT).expect("decodes");
    assert_eq!(msg, generic_alert_expected());
}

#[test]
fn canonical_xml_is_what_we_expect() {
    let msg = pkg1_expected();
    let out = String::from_utf8(xml::encode(&msg).unwrap()).unwrap();
    assert!(out.starts_with(
        "<SyncML xmlns=\"SYNCML:SYNCML1.2\"><SyncHdr><VerDTD>1.2</VerDTD><VerProto>DM/1.2</VerProto>\
         <SessionID>1A2B</SessionID><MsgID>1</MsgID><Target><LocURI>https://dm.example/dm</LocURI></Target>"
    ));
    assert!(out.contains(
        "<Meta><MaxMsgSize xmlns=\"syncml:metinf\">16384</MaxMsgSize>\
         <MaxObjSize xmlns=\"syncml:metinf\">1048576</MaxObjSize></Meta></SyncHdr>"
    ));
    assert!(out.contains("<Data>Acme &amp; Sons</Data>"));
    assert!(out.ends_with("<Final/></SyncBody></SyncML>"));
}

/// XML -> model -> WBXML -> model -> XML is the identity on canonical XML, for both public-id
/// forms.
#[test]
fn xml_wbxml_xml_is_identity() {
    for doc in [PKG1, PKG2, GENERIC_ALERT] {
        let msg = xml::decode(doc, &Limits::default()).unwrap();
        let canonical = xml::encode(&msg).unwrap();
        for form in [PublicIdForm::Numeric, PublicIdForm::Literal] {
            let bin = wbxml::encode_with(&msg, WbxmlOptions { public_id: form }).unwrap();
            let back = codec::decode("application/vnd.syncml.dm+wbxml", &bin).unwrap();
            assert_eq!(back, msg);
            assert_eq!(xml::encode(&back).unwrap(), canonical);
        }
    }
}

#[test]
fn wbxml_header_in_both_public_id_forms() {
    let msg = pkg1_expected();
    let numeric = wbxml::encode(&msg).unwrap();
    // version 1.2, public id 0x1201, UTF-8, empty string table, SyncML with content, SyncHdr.
    assert_eq!(&numeric[..7], &[0x02, 0xA4, 0x01, 0x6A, 0x00, 0x6D, 0x6C]);
    let literal = wbxml::encode_with(&msg, WbxmlOptions { public_id: PublicIdForm::Literal }).unwrap();
    assert_eq!(&literal[..5], &[0x02, 0x00, 0x00, 0x6A, 0x1E]);
    assert_eq!(&literal[5..35], b"-//SYNCML//DTD SyncML 1.2//EN\0");
    // MaxMsgSize sits on the MetInf page: SWITCH_PAGE 1, MaxMsgSize with content.
    assert!(numeric.windows(3).any(|w| w == [0x00, 0x01, 0x4C]));
    // SyncML 1.1 uses public id 0x0FD3.
    let mut old = msg.clone();
    old.hdr.ver_dtd = "1.1".into();
    assert_eq!(&wbxml::encode(&old).unwrap()[..4], &[0x02, 0x9F, 0x53, 0x6A]);
    assert!(xml::encode(&old).unwrap().starts_with(b"<SyncML xmlns=\"SYNCML:SYNCML1.1\">"));
}

/// A hand-assembled WBXML Package 1 as the SyncML RTK writes it, with opaque Data.
#[test]
fn hand_written_wbxml_decodes() {
    let mut b = vec![0x02, 0xA4, 0x01, 0x6A, 0x03];
    b.extend_from_slice(b"1\0\0"); // string table: "1" at 0
    b.push(0x6D); // SyncML
    b.push(0x6C); // SyncHdr
    for (tag, val) in [(0x71u8, "1.2"), (0x72, "DM/1.2"), (0x65, "5"), (0x5B, "1")] {
        b.push(tag);
        b.push(0x03);
        b.extend_from_slice(val.as_bytes());
        b.extend_from_slice(&[0x00, 0x01]);
    }
    b.extend_from_slice(&[0x6E, 0x57, 0x03]); // Target LocURI STR_I
    b.extend_from_slice(b"http://s\0");
    b.extend_from_slice(&[0x01, 0x01, 0x67, 0x57, 0xC3, 0x03]); // Source LocURI as OPAQUE
    b.extend_from_slice(b"dev");
    b.extend_from_slice(&[0x01, 0x01, 0x01]); // /LocURI /Source /SyncHdr
    b.push(0x6B); // SyncBody
    b.extend_from_slice(&[0x46, 0x4B, 0x83, 0x00, 0x01]); // Alert CmdID STR_T "1"
    b.extend_from_slice(&[0x4F, 0x03]);
    b.extend_from_slice(b"1201\0");
    b.extend_from_slice(&[0x01, 0x01]); // /Data /Alert
    b.extend_from_slice(&[0x60, 0x4B, 0x03, b'2', 0x00, 0x01]); // Replace CmdID
    b.extend_from_slice(&[0x54, 0x67, 0x57, 0x03]);
    b.extend_from_slice(b"./DevInfo/Ext/Blob\0");
    b.extend_from_slice(&[0x01, 0x01]); // /LocURI /Source
    b.extend_from_slice(&[0x5A, 0x00, 0x01, 0x47, 0x03]);
    b.extend_from_slice(b"bin\0");
    b.extend_from_slice(&[0x01, 0x00, 0x00, 0x01]); // /Format SWITCH_PAGE 0 /Meta
    b.extend_from_slice(&[0x4F, 0xC3, 0x04, 0x00, 0xFF, 0x10, 0x80, 0x01]); // Data OPAQUE
    b.extend_from_slice(&[0x01, 0x01, 0x12, 0x01, 0x01]); // /Item /Replace Final /SyncBody /SyncML
    let msg = wbxml::decode(&b, &Limits::default()).expect("decodes");
    assert_eq!(msg.hdr.session_id, "5");
    assert_eq!(msg.hdr.source.loc_uri, "dev");
    assert!(msg.body.r#final);
    let Command::Replace(r) = &msg.body.commands[1] else { panic!("{:?}", msg.body.commands) };
    assert_eq!(r.items[0].data, Some(Data::Opaque(vec![0x00, 0xFF, 0x10, 0x80])));
    assert_eq!(r.items[0].meta.as_ref().and_then(|m| m.format.as_deref()), Some("bin"));
    // Re-encoded, the opaque value stays OPAQUE; XML refuses binary it cannot carry.
    assert_eq!(wbxml::decode(&wbxml::encode(&msg).unwrap(), &Limits::default()).unwrap(), msg);
    assert!(codec::encode(&msg, Encoding::Xml).unwrap_err().is_unsupported());
}

/// A TNDS tree in Results Data (DM DDF vocabulary, WBXML code page 2) keeps its namespace
/// through both encodings; an element the page does not name travels as a LITERAL tag.
#[test]
fn tnds_markup_in_data_round_trips() {
    let doc = br#"<SyncML xmlns="SYNCML:SYNCML1.2"><SyncHdr><VerDTD>1.2</VerDTD><VerProto>DM/1.2</VerProto><SessionID>1</SessionID><MsgID>2</MsgID><Target><LocURI>s</LocURI></Target><Source><LocURI>d</LocURI></Source></SyncHdr><SyncBody><Results><CmdID>1</CmdID><MsgRef>1</MsgRef><CmdRef>4</CmdRef><Item><Source><LocURI>./FUMO?list=TNDS</LocURI></Source><Meta><Format xmlns="syncml:metinf">xml</Format><Type xmlns="syncml:metinf">application/vnd.syncml.dmtnds+xml</Type></Meta><Data><MgmtTree xmlns="syncml:dmddf1.2"><VerDTD>1.2</VerDTD><Node><NodeName>fw</NodeName><RTProperties><Format><node/></Format><VendorThing>x</VendorThing></RTProperties></Node></MgmtTree></Data></Item></Results><Final/></SyncBody></SyncML>"#;
    let msg = xml::decode(doc, &Limits::default()).unwrap();
    let Command::Results(r) = &msg.body.commands[0] else { panic!() };
    let Some(Data::Markup(tree)) = &r.items[0].data else { panic!("{:?}", r.items[0].data) };
    assert_eq!(tree[0].ns, Namespace::DmDdf);
    assert_eq!(tree[0].name, "MgmtTree");
    let node = tree[0].child("Node").unwrap();
    assert_eq!(
        node.child("RTProperties").unwrap().child("Format").unwrap().child("node").unwrap().ns,
        Namespace::DmDdf
    );
    let bin = wbxml::encode(&msg).unwrap();
    assert!(bin.windows(3).any(|w| w == [0x00, 0x02, 0x60]), "MgmtTree on page 2");
    let back = wbxml::decode(&bin, &Limits::default()).unwrap();
    assert_eq!(back, msg);
    assert_eq!(xml::encode(&back).unwrap(), xml::encode(&msg).unwrap());
    let out = String::from_utf8(xml::encode(&msg).unwrap()).unwrap();
    assert!(out.contains("<Data><MgmtTree xmlns=\"syncml:dmddf1.2\"><VerDTD>1.2</VerDTD>"), "{out}");
}

#[test]
fn element_tree_helpers() {
    let mut el = Element::new(Namespace::SyncMl, "Item");
    el.push(Element::text(Namespace::SyncMl, "Data", "x"));
    el.content.push(Node::Opaque(b"y".to_vec()));
    assert_eq!(el.count(), 2);
    assert_eq!(el.depth(), 2);
    assert_eq!(el.child("DATA").unwrap().string().unwrap(), "x");
    assert_eq!(el.string().unwrap(), "y");
}
