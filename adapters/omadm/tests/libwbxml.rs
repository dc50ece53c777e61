//! Our WBXML against libwbxml (Debian `libwbxml2-utils`: `wbxml2xml`, `xml2wbxml`), a WBXML
//! implementation nobody here wrote.
//!
//! Skipped with a notice when the tools are missing, unless `UNIDM_REQUIRE_WBXML=1` (as in CI).
//!
//! libwbxml 0.11 quirks met here:
//! - `wbxml2xml` always prints `<!DOCTYPE SyncML PUBLIC "-//SYNCML//DTD SyncML 1.2//EN" ...>`
//!   (an external identifier only, which our reader skips; it refuses internal subsets).
//! - `wbxml2xml` writes the bytes of `OPAQUE` Data into the XML unescaped and unchecked, so
//!   binary opaque data yields XML that is not well-formed; UTF-8 opaque data comes back as text.
//! - `xml2wbxml` writes WBXML 1.3 (`03`) unless told `-v 1.2`, the numeric public id 0x1201 and,
//!   by default, a string table that `STR_T` tokens reference.
//! - `xml2wbxml` writes every `Data` content as `OPAQUE`, text included, so our decoder yields
//!   [`Data::Opaque`] where the XML had text: the messages are compared in canonical XML, which
//!   writes UTF-8 opaque data as text.
//! - `xml2wbxml` encodes a TNDS `MgmtTree` in `Data` as a separate WBXML document (version 1.3,
//!   literal public id `-//OMA//DTD-DM-DDF 1.2//EN`, code page 2) inside `OPAQUE`, and rewrites
//!   the Item's Meta Type `application/vnd.syncml.dmtnds+xml` to `...+wbxml`; `wbxml2xml` undoes
//!   both. Its SyncML 1.2 table has code pages 0 and 1 only, so the inline page-2 form the AOSP
//!   toolkit writes (and we write) comes out of `wbxml2xml` as unknown tags.
//! - libwbxml's SyncML 1.1 table (public id 0x0FD3) lacks the 1.2 tokens (`Correlator` 0x3C,
//!   ...): it prints them as unknown tags, so DM 1.2 content must travel with public id 0x1201.
//! - Without a string table (`xml2wbxml -n`) it refuses elements it has no token for, since a
//!   `LITERAL` tag needs the table.
//! - Our literal public-id form (`00 00` + `-//SYNCML//DTD SyncML 1.2//EN` at offset 0) is read by
//!   `wbxml2xml` like the numeric one.

mod common;

use std::path::Path;
use std::process::Command;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use unidm_omadm::codec::{wbxml, xml, Data, Limits, PublicIdForm, SyncML, WbxmlOptions};

const GOLDEN: [&[u8]; 3] = [
    include_bytes!("data/pkg1_client.xml"),
    include_bytes!("data/pkg2_server.xml"),
    include_bytes!("data/generic_alert.xml"),
];

/// Whether the libwbxml tools are installed; panics when they are required and missing.
fn tools_present() -> bool {
    let present = ["wbxml2xml", "xml2wbxml"].iter().all(|t| Command::new(t).arg("-h").output().is_ok());
    if !present {
        if std::env::var("UNIDM_REQUIRE_WBXML").as_deref() == Ok("1") {
            panic!("UNIDM_REQUIRE_WBXML=1 but wbxml2xml / xml2wbxml are not installed (Debian libwbxml2-utils)");
        }
        eprintln!("notice: libwbxml2-utils (wbxml2xml, xml2wbxml) not installed; libwbxml interop skipped");
    }
    present
}

fn run(tool: &str, args: &[&str], input: &[u8], dir: &Path) -> Vec<u8> {
    let inp = dir.join("in");
    let out = dir.join("out");
    std::fs::write(&inp, input).unwrap();
    let _ = std::fs::remove_file(&out);
    let mut cmd = Command::new(tool);
    cmd.args(args).arg("-o").arg(&out).arg(&inp);
    let res = cmd.output().expect("runs");
    assert!(res.status.success(), "{tool} failed: {}", String::from_utf8_lossy(&res.stderr));
    std::fs::read(&out)
        .unwrap_or_else(|e| panic!("{tool} wrote nothing ({e}): {}", String::from_utf8_lossy(&res.stderr)))
}

/// Our WBXML, read by libwbxml and printed as XML, is the same message.
fn via_wbxml2xml(msg: &SyncML, form: PublicIdForm, dir: &Path) -> SyncML {
    let bin = wbxml::encode_with(msg, WbxmlOptions { public_id: form }).unwrap();
    // Indented output (the default) as well: whitespace between elements is not content.
    let printed = run("wbxml2xml", &["-m", "1"], &bin, dir);
    xml::decode(&printed, &Limits::default()).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&printed)))
}

/// Our XML, encoded by libwbxml, read by our WBXML decoder, is the same message: returns the
/// canonical XML of what we decoded, to compare with ours.
fn via_xml2wbxml(msg: &SyncML, args: &[&str], dir: &Path) -> Vec<u8> {
    let text = xml::encode(msg).unwrap();
    let bin = run("xml2wbxml", args, &text, dir);
    let back = wbxml::decode(&bin, &Limits::default()).unwrap_or_else(|e| panic!("{e}: {bin:02X?}"));
    xml::encode(&back).unwrap()
}

#[test]
fn libwbxml_reads_our_wbxml() {
    if !tools_present() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    for doc in GOLDEN {
        let msg = xml::decode(doc, &Limits::default()).unwrap();
        for form in [PublicIdForm::Numeric, PublicIdForm::Literal] {
            assert_eq!(via_wbxml2xml(&msg, form, dir.path()), msg);
        }
    }
    // SyncML 1.1 (DM 1.1.2): public id 0x0FD3 and namespace SYNCML:SYNCML1.1.
    let mut old = xml::decode(GOLDEN[0], &Limits::default()).unwrap();
    old.hdr.ver_dtd = "1.1".into();
    old.hdr.ver_proto = "DM/1.1".into();
    for form in [PublicIdForm::Numeric, PublicIdForm::Literal] {
        assert_eq!(via_wbxml2xml(&old, form, dir.path()), old);
    }
}

#[test]
fn we_read_libwbxml_output() {
    if !tools_present() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    for doc in GOLDEN {
        let msg = xml::decode(doc, &Limits::default()).unwrap();
        // Without a string table libwbxml cannot write the LITERAL tag an unknown command needs.
        let no_table: &[&[&str]] = if doc == GOLDEN[2] { &[] } else { &[&["-n"], &["-v", "1.1", "-n"]] };
        for args in [&[][..], &["-v", "1.2"], &["-v", "1.1"]].iter().chain(no_table) {
            let ours = xml::encode(&msg).unwrap();
            assert_eq!(
                String::from_utf8(via_xml2wbxml(&msg, args, dir.path())).unwrap(),
                String::from_utf8(ours).unwrap(),
                "xml2wbxml {args:?}"
            );
        }
    }
    // The string table is in use in the default mode: the same message, fewer bytes.
    let msg = xml::decode(GOLDEN[0], &Limits::default()).unwrap();
    let with_table = run("xml2wbxml", &[], &xml::encode(&msg).unwrap(), dir.path());
    assert!(with_table[4] > 0, "expected a string table: {with_table:02X?}");
}

#[test]
fn utf8_opaque_data_comes_back_as_text() {
    if !tools_present() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut msg = xml::decode(GOLDEN[0], &Limits::default()).unwrap();
    let unidm_omadm::codec::Command::Replace(r) = &mut msg.body.commands[1] else { panic!() };
    r.items[0].data = Some(Data::Opaque(b"IMEI:1".to_vec()));
    let back = via_wbxml2xml(&msg, PublicIdForm::Numeric, dir.path());
    let unidm_omadm::codec::Command::Replace(r2) = &back.body.commands[1] else { panic!() };
    assert_eq!(r2.items[0].data, Some(Data::Text("IMEI:1".into())));
}

/// Arbitrary messages both ways through libwbxml (few cases: each spawns two processes).
#[test]
fn arbitrary_messages_through_libwbxml() {
    if !tools_present() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut runner = TestRunner::new(Config { cases: 24, failure_persistence: None, ..Config::default() });
    runner
        .run(&common::plain_message(), |mut msg| {
            // libwbxml's SyncML 1.1 table (public id 0x0FD3) has no Correlator, a 1.2 token.
            msg.hdr.ver_dtd = "1.2".into();
            prop_assert_eq!(via_wbxml2xml(&msg, PublicIdForm::Numeric, dir.path()), msg.clone());
            prop_assert_eq!(via_xml2wbxml(&msg, &[], dir.path()), xml::encode(&msg).unwrap());
            Ok(())
        })
        .unwrap();
}

/// libwbxml's embedded TNDS document: `OPAQUE` Data holding a WBXML document of its own, which
/// our reader decodes to the same tree as the XML.
#[test]
fn embedded_tnds_from_libwbxml() {
    if !tools_present() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let doc = br#"<SyncML xmlns="SYNCML:SYNCML1.2"><SyncHdr><VerDTD>1.2</VerDTD><VerProto>DM/1.2</VerProto><SessionID>1</SessionID><MsgID>2</MsgID><Target><LocURI>s</LocURI></Target><Source><LocURI>d</LocURI></Source></SyncHdr><SyncBody><Results><CmdID>1</CmdID><CmdRef>4</CmdRef><Item><Meta><Format xmlns="syncml:metinf">xml</Format><Type xmlns="syncml:metinf">application/vnd.syncml.dmtnds+xml</Type></Meta><Data><MgmtTree xmlns="syncml:dmddf1.2"><VerDTD>1.2</VerDTD><Node><NodeName>fw</NodeName><Path>./FUMO</Path></Node></MgmtTree></Data></Item></Results><Final/></SyncBody></SyncML>"#;
    let msg = xml::decode(doc, &Limits::default()).unwrap();
    let bin = run("xml2wbxml", &[], doc, dir.path());
    let back = wbxml::decode(&bin, &Limits::default()).unwrap();
    let (unidm_omadm::codec::Command::Results(ours), unidm_omadm::codec::Command::Results(theirs)) =
        (&msg.body.commands[0], &back.body.commands[0])
    else {
        panic!("{back:?}")
    };
    let meta = theirs.items[0].meta.as_ref().unwrap();
    assert_eq!(meta.r#type.as_deref(), Some("application/vnd.syncml.dmtnds+wbxml"));
    let Some(Data::Opaque(embedded)) = &theirs.items[0].data else { panic!("{:?}", theirs.items[0].data) };
    let tree = wbxml::read_element(embedded, &Limits::default()).unwrap();
    assert_eq!(Some(Data::Markup(vec![tree])), ours.items[0].data);
}
