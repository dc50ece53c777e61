//! Kicked and its response (TR-069 Amendment 6, A.4.2.1 Kicked).

use super::common::text_or_empty;
use super::RpcMessage;
use crate::error::CwmpError;
use crate::soap::writer::XmlWriter;
use crate::soap::xml::Element;

/// `Kicked`, CPE to ACS: relays a web "kick" (a browser hit on the CPE's kick URL).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Kicked {
    /// `Command` (≤ 32).
    pub command: String,
    /// `Referer` (≤ 64).
    pub referer: String,
    /// `Arg` (≤ 256).
    pub arg: String,
    /// `Next` (≤ 1024): URL the user goes to afterwards.
    pub next: String,
}

impl RpcMessage for Kicked {
    const NAME: &'static str = "Kicked";

    fn parse(el: &Element) -> Result<Self, CwmpError> {
        Ok(Kicked {
            command: text_or_empty(el, "Command"),
            referer: text_or_empty(el, "Referer"),
            arg: text_or_empty(el, "Arg"),
            next: text_or_empty(el, "Next"),
        })
    }

    fn encode_body(&self, w: &mut XmlWriter) {
        w.leaf("Command", &self.command);
        w.leaf("Referer", &self.referer);
        w.leaf("Arg", &self.arg);
        w.leaf("Next", &self.next);
    }
}

/// `KickedResponse`, ACS to CPE.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct KickedResponse {
    /// `NextURL` (≤ 1024): where the CPE redirects the browser.
    pub next_url: String,
}

impl RpcMessage for KickedResponse {
    const NAME: &'static str = "KickedResponse";

    fn parse(el: &Element) -> Result<Self, CwmpError> {
        Ok(KickedResponse { next_url: text_or_empty(el, "NextURL") })
    }

    fn encode_body(&self, w: &mut XmlWriter) {
        w.leaf("NextURL", &self.next_url);
    }
}
