//! The DM server's messages in the engine's wire tap ([`unidm_core::WireTap`]), for the
//! conformance runner's per-case exchanges: each message of a tapped device decoded to XML
//! (WBXML too), with a one-line summary of its commands and its secrets left out.

use unidm_core::Direction;

use super::{Server, Slot};
use crate::codec::{self, Command, Data, Encoding, Item, SyncML};
use crate::session::Reply;

/// What stands in for a secret in a tapped message.
const REDACTED: &str = "(redacted)";

impl Server {
    /// Records the message the device sent, when the session's device is known and tapped (one
    /// atomic load otherwise); whether it could say whose it is. Called before the message's
    /// commands are acted on, so that the record comes before the operations they end; again
    /// after, for a session's first message (its device known only then).
    pub(super) fn tap_received(&self, slot: &Slot, content_type: &str, body: &[u8]) -> bool {
        let (Some(h), Some(device)) = (self.handle(), slot.device.as_ref()) else { return false };
        let tap = h.wire_tap();
        if tap.is_tapped_any() {
            tap.record(device, h.now(), Direction::FromDevice, || render(content_type, body));
        }
        true
    }

    /// Records the server's reply, when the session's device is tapped.
    pub(super) fn tap_reply(&self, slot: &Slot, reply: &Reply) {
        let (Some(h), Some(device)) = (self.handle(), slot.device.as_ref()) else { return };
        let tap = h.wire_tap();
        if tap.is_tapped_any() {
            tap.record(device, h.now(), Direction::ToDevice, || render(reply.content_type.as_str(), &reply.body));
        }
    }
}

/// The summary line and the XML of a SyncML message.
pub(crate) fn render(content_type: &str, bytes: &[u8]) -> (String, String) {
    match codec::decode(content_type, bytes) {
        Ok(mut msg) => {
            redact(&mut msg);
            let xml = codec::encode(&msg, Encoding::Xml).map(|b| String::from_utf8_lossy(&b).into_owned());
            (summary(&msg), xml.unwrap_or_else(|e| format!("(not encodable as XML: {e})")))
        }
        Err(e) => ("undecodable SyncML".to_owned(), e.to_string()),
    }
}

/// `MsgID 2: Status SyncHdr 212, Alert 1226, Replace ./FUMO/PkgURL, Final`.
pub(crate) fn summary(msg: &SyncML) -> String {
    let mut parts: Vec<String> = msg.body.commands.iter().map(command).collect();
    if msg.body.r#final {
        parts.push("Final".into());
    }
    format!("MsgID {}: {}", msg.hdr.msg_id, parts.join(", "))
}

fn command(c: &Command) -> String {
    let first =
        |items: &[Item]| items.first().and_then(|i| i.target.as_ref().or(i.source.as_ref())).map(|l| l.loc_uri.clone());
    let with = |name: &str, target: Option<String>| match target {
        Some(t) => format!("{name} {t}"),
        None => name.to_owned(),
    };
    match c {
        Command::Alert(a) => with("Alert", a.code.map(|c| c.to_string())),
        Command::Add(i) => with("Add", first(&i.items)),
        Command::Replace(i) => with("Replace", first(&i.items)),
        Command::Delete(i) => with("Delete", first(&i.items)),
        Command::Copy(i) => with("Copy", first(&i.items)),
        Command::Get(i) => with("Get", first(&i.items)),
        Command::Exec(e) => with("Exec", first(std::slice::from_ref(&e.item))),
        Command::Atomic(inner) => {
            format!("Atomic [{}]", inner.commands.iter().map(command).collect::<Vec<_>>().join(", "))
        }
        Command::Sequence(inner) => {
            format!("Sequence [{}]", inner.commands.iter().map(command).collect::<Vec<_>>().join(", "))
        }
        Command::Status(s) => format!("Status {} {}", s.cmd, s.code),
        Command::Results(r) => with("Results", first(&r.items)),
        Command::Unknown(u) => u.name.clone(),
    }
}

/// Credentials and account secrets out: the header's and the commands' `Cred`, and the value
/// of any DMAcc authentication secret or data written or read.
fn redact(msg: &mut SyncML) {
    if let Some(cred) = &mut msg.hdr.cred {
        cred.data = REDACTED.into();
    }
    for c in &mut msg.body.commands {
        redact_command(c);
    }
    for c in &mut msg.body.commands {
        if let Command::Status(s) = c {
            if let Some(cred) = &mut s.cred {
                cred.data = REDACTED.into();
            }
        }
    }
}

fn redact_command(c: &mut Command) {
    let (cred, items): (Option<&mut codec::Cred>, &mut [Item]) = match c {
        Command::Add(i) | Command::Replace(i) | Command::Delete(i) | Command::Copy(i) | Command::Get(i) => {
            (i.cred.as_mut(), &mut i.items)
        }
        Command::Exec(e) => (e.cred.as_mut(), std::slice::from_mut(&mut e.item)),
        Command::Alert(a) => (a.cred.as_mut(), &mut a.items),
        Command::Results(r) => (None, &mut r.items),
        Command::Atomic(inner) | Command::Sequence(inner) => {
            inner.commands.iter_mut().for_each(redact_command);
            return;
        }
        Command::Status(_) | Command::Unknown(_) => return,
    };
    if let Some(cred) = cred {
        cred.data = REDACTED.into();
    }
    for item in items {
        let uri = item.target.as_ref().or(item.source.as_ref()).map(|l| l.loc_uri.as_str()).unwrap_or_default();
        let secret =
            ["AAuthSecret", "AAuthData", "ClientNonce", "ServerNonce", "AAuthPW"].iter().any(|s| uri.contains(s));
        if secret && item.data.is_some() {
            item.data = Some(Data::Text(REDACTED.into()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PACKAGE1: &str = r#"<SyncML xmlns="SYNCML:SYNCML1.2"><SyncHdr><VerDTD>1.2</VerDTD><VerProto>DM/1.2</VerProto>
<SessionID>1</SessionID><MsgID>1</MsgID><Target><LocURI>http://dm</LocURI></Target>
<Source><LocURI>IMEI:1</LocURI></Source>
<Cred><Meta><Type xmlns="syncml:metinf">syncml:auth-basic</Type></Meta><Data>dXNlcjpzZWNyZXQ=</Data></Cred></SyncHdr>
<SyncBody><Alert><CmdID>1</CmdID><Data>1201</Data></Alert>
<Replace><CmdID>2</CmdID><Item><Source><LocURI>./DevInfo/DevId</LocURI></Source><Data>IMEI:1</Data></Item></Replace>
<Replace><CmdID>3</CmdID><Item><Target><LocURI>./DMAcc/x/AppAuth/1/AAuthSecret</LocURI></Target><Data>hunter2</Data></Item></Replace>
<Final/></SyncBody></SyncML>"#;

    #[test]
    fn a_tapped_message_is_summarised_and_keeps_no_secret() {
        let (summary, xml) = render("application/vnd.syncml.dm+xml", PACKAGE1.as_bytes());
        assert_eq!(
            summary,
            "MsgID 1: Alert 1201, Replace ./DevInfo/DevId, Replace ./DMAcc/x/AppAuth/1/AAuthSecret, Final"
        );
        assert!(xml.contains("IMEI:1") && xml.contains("1201"), "{xml}");
        assert!(!xml.contains("dXNlcjpzZWNyZXQ=") && !xml.contains("hunter2"), "{xml}");
        assert_eq!(xml.matches(REDACTED).count(), 2, "{xml}");
    }

    #[test]
    fn a_wbxml_message_is_shown_as_xml() {
        let msg = codec::decode("application/vnd.syncml.dm+xml", PACKAGE1.as_bytes()).unwrap();
        let wbxml = codec::encode(&msg, Encoding::Wbxml).unwrap();
        let (summary, xml) = render("application/vnd.syncml.dm+wbxml", &wbxml);
        assert!(summary.starts_with("MsgID 1: Alert 1201"), "{summary}");
        assert!(xml.contains("<LocURI>./DevInfo/DevId</LocURI>"), "{xml}");
        let (summary, _) = render("application/vnd.syncml.dm+xml", b"<nope/>");
        assert_eq!(summary, "undecodable SyncML");
    }
}
