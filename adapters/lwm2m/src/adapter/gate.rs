//! Who may register, update or de-register which endpoint, by the transport a request came on
//! (LwM2M 1.1 Transport §5.2.7: the server binds the DTLS identity to the endpoint). Checked
//! in the shell before the sans-I/O server sees the request, so that the server's logic does
//! not change:
//!
//! - Over DTLS, an identity bound to an endpoint may only act as that endpoint; an identity
//!   bound to none may act as any endpoint no other identity is bound to; a raw public key
//!   the same (RFC 7250; its holder proved the private key). A client certificate
//!   acts as the endpoint its subject CN names (LwM2M 1.1 Transport §5.2.8.3); a session
//!   without a client identity may not register.
//! - Over plain CoAP, an endpoint that has a PSK identity or a raw public key is refused (it
//!   must use DTLS), and
//!   with `require_dtls` every registration is.
//!
//! A refusal is a 4.03 Forbidden answered on the request's own transport and logged with the
//! endpoint and identity (never a key).

use coap_lite::{CoapOption, MessageClass, MessageType, Packet, RequestType, ResponseType};

use crate::dtls::{Bound, Identities, PeerIdentity, PskStore, RpkStore};

/// The registration check of the shell.
#[derive(Debug)]
pub(crate) struct Gate {
    psks: PskStore,
    rpks: RpkStore,
    require_dtls: bool,
}

impl Gate {
    pub(crate) fn new(psks: PskStore, rpks: RpkStore, require_dtls: bool) -> Gate {
        Gate { psks, rpks, require_dtls }
    }

    /// Whether plain datagrams need a check (some endpoint must use DTLS).
    pub(crate) fn active(&self) -> bool {
        self.require_dtls || !self.psks.is_empty() || !self.rpks.is_empty()
    }

    /// Whether some credential binds `endpoint` (it must then use DTLS).
    fn binds(&self, endpoint: &str) -> bool {
        self.psks.binds(endpoint) || self.rpks.binds(endpoint)
    }

    /// Whether the credential `id` names in `store` lets its holder act as `endpoint`.
    fn bound<T: Bound>(&self, store: &Identities<T>, id: &[u8], endpoint: &str) -> bool {
        match store.get(id) {
            // Removed since the handshake.
            None => false,
            Some(c) => match c.endpoint() {
                Some(bound) => bound == endpoint,
                None => !self.binds(endpoint),
            },
        }
    }

    /// Whether nothing may register or bootstrap in clear text.
    pub(crate) fn requires_dtls(&self) -> bool {
        self.require_dtls
    }

    /// Whether a datagram may go to the server; `identity` is what the DTLS session proved
    /// (`None`: plain CoAP), `endpoint_of` the endpoint of a registration id (the server's
    /// registry: an Update or De-register names only `/rd/{id}`). A refusal is the 4.03 to
    /// answer.
    pub(crate) fn check(
        &self,
        identity: Option<&PeerIdentity>,
        datagram: &[u8],
        endpoint_of: impl Fn(&str) -> Option<String>,
    ) -> Result<(), Vec<u8>> {
        let Ok(packet) = Packet::from_bytes(datagram) else { return Ok(()) };
        let MessageClass::Request(method) = packet.header.code else { return Ok(()) };
        let path = crate::coap::uri_path(&packet);
        let endpoint = match (method, path.as_slice()) {
            (RequestType::Post, [rd]) if rd == "rd" => match endpoint_query(&packet) {
                Some(ep) => ep,
                None => return Ok(()),
            },
            // Bootstrap-Request (TS Core 1.1 §6.1.3).
            (RequestType::Post, [bs]) if bs == "bs" => match endpoint_query(&packet) {
                Some(ep) => ep,
                None => return Ok(()),
            },
            (RequestType::Post | RequestType::Delete, [rd, id]) if rd == "rd" => match endpoint_of(id) {
                Some(ep) => ep,
                None => return Ok(()),
            },
            _ => return Ok(()),
        };
        if self.allowed(identity, &endpoint) {
            return Ok(());
        }
        let shown = match identity {
            None => "none (plain CoAP)".to_owned(),
            Some(PeerIdentity::Psk(id)) => format!("PSK {}", String::from_utf8_lossy(id)),
            Some(PeerIdentity::RawPublicKey(k)) => format!("raw public key {}", crate::dtls::fingerprint(k)),
            Some(PeerIdentity::Certificate(cn)) => format!("certificate CN={cn}"),
            Some(PeerIdentity::Anonymous) => "anonymous DTLS".to_owned(),
        };
        tracing::warn!(%endpoint, identity = %shown, "registration refused: the security identity does not match the endpoint");
        Err(forbidden(&packet))
    }

    fn allowed(&self, identity: Option<&PeerIdentity>, endpoint: &str) -> bool {
        match identity {
            None => !self.require_dtls && !self.binds(endpoint),
            Some(PeerIdentity::Anonymous) => false,
            Some(PeerIdentity::Certificate(cn)) => cn == endpoint,
            Some(PeerIdentity::Psk(id)) => self.bound(&self.psks, id, endpoint),
            Some(PeerIdentity::RawPublicKey(key)) => self.bound(&self.rpks, key, endpoint),
        }
    }
}

fn endpoint_query(packet: &Packet) -> Option<String> {
    packet.get_option(CoapOption::UriQuery)?.iter().find_map(|q| {
        let q = String::from_utf8_lossy(q);
        q.strip_prefix("ep=").map(str::to_owned)
    })
}

fn forbidden(request: &Packet) -> Vec<u8> {
    let mut p = Packet::new();
    p.header.message_id = request.header.message_id;
    p.set_token(request.get_token().to_vec());
    let kind = if request.header.get_type() == MessageType::Confirmable {
        MessageType::Acknowledgement
    } else {
        MessageType::NonConfirmable
    };
    p.header.set_type(kind);
    p.header.code = MessageClass::Response(ResponseType::Forbidden);
    p.payload = b"endpoint not allowed for this security identity".to_vec();
    p.to_bytes().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dtls::Psk;

    fn register(ep: &str) -> Vec<u8> {
        let mut p = Packet::new();
        p.header.set_type(MessageType::Confirmable);
        p.header.code = MessageClass::Request(RequestType::Post);
        p.header.message_id = 7;
        p.set_token(vec![1, 2]);
        p.add_option(CoapOption::UriPath, b"rd".to_vec());
        p.add_option(CoapOption::UriQuery, format!("ep={ep}").into_bytes());
        p.to_bytes().unwrap()
    }

    fn psk(id: &[u8]) -> PeerIdentity {
        PeerIdentity::Psk(id.to_vec())
    }

    fn update(id: &str) -> Vec<u8> {
        let mut p = Packet::new();
        p.header.set_type(MessageType::Confirmable);
        p.header.code = MessageClass::Request(RequestType::Post);
        p.add_option(CoapOption::UriPath, b"rd".to_vec());
        p.add_option(CoapOption::UriPath, id.as_bytes().to_vec());
        p.to_bytes().unwrap()
    }

    #[test]
    fn identities_act_only_as_their_endpoints() {
        let psks = PskStore::default();
        psks.set(b"id-a", Psk { endpoint: Some("a".into()), key: b"k".to_vec() });
        psks.set(b"any", Psk { endpoint: None, key: b"k".to_vec() });
        let gate = Gate::new(psks.clone(), Default::default(), false);
        // The server's registry: registration r1 is endpoint a's.
        let ids = |id: &str| (id == "r1").then(|| "a".to_owned());
        assert!(gate.check(Some(&psk(b"id-a")), &register("a"), ids).is_ok());
        let refused = gate.check(Some(&psk(b"id-a")), &register("b"), ids).unwrap_err();
        let reply = Packet::from_bytes(&refused).unwrap();
        assert_eq!(reply.header.code, MessageClass::Response(ResponseType::Forbidden));
        assert_eq!((reply.header.message_id, reply.get_token()), (7, &[1u8, 2][..]));
        assert!(
            gate.check(Some(&psk(b"any")), &register("b"), ids).is_ok(),
            "an unbound identity, an unbound endpoint"
        );
        assert!(gate.check(Some(&psk(b"any")), &register("a"), ids).is_err(), "a is bound to id-a");
        assert!(gate.check(Some(&psk(b"gone")), &register("b"), ids).is_err(), "an identity removed since");
        // Plain CoAP: a bound endpoint must use DTLS; others may register.
        assert!(gate.check(None, &register("a"), ids).is_err());
        assert!(gate.check(None, &register("b"), ids).is_ok());
        // Updates by registration id follow the endpoint.
        assert!(gate.check(Some(&psk(b"id-a")), &update("r1"), ids).is_ok());
        assert!(gate.check(None, &update("r1"), ids).is_err());
        assert!(gate.check(Some(&psk(b"any")), &update("r1"), ids).is_err());
        assert!(gate.check(None, &update("unknown"), ids).is_ok(), "the server answers 4.04");
        // Everything else passes; with require_dtls no plain registration does.
        assert!(gate.check(None, b"\x40\x01\x00\x01", ids).is_ok());
        // Certificates act as their CN; anonymous sessions as nobody.
        let cert = |cn: &str| PeerIdentity::Certificate(cn.into());
        assert!(gate.check(Some(&cert("b")), &register("b"), ids).is_ok());
        assert!(gate.check(Some(&cert("b")), &register("c"), ids).is_err());
        assert!(gate.check(Some(&PeerIdentity::Anonymous), &register("b"), ids).is_err());
        let strict = Gate::new(psks, Default::default(), true);
        assert!(strict.check(None, &register("b"), ids).is_err());
        assert!(strict.check(Some(&psk(b"any")), &register("b"), ids).is_ok());
    }

    #[test]
    fn raw_public_keys_act_only_as_their_endpoints() {
        use crate::dtls::Rpk;
        let rpks = RpkStore::default();
        rpks.set(b"key-a", Rpk { endpoint: Some("a".into()) });
        rpks.set(b"key-any", Rpk { endpoint: None });
        let gate = Gate::new(PskStore::default(), rpks.clone(), false);
        assert!(gate.active(), "a bound key makes plain registrations checked");
        let key = |k: &[u8]| PeerIdentity::RawPublicKey(k.to_vec());
        let ids = |_: &str| None;
        assert!(gate.check(Some(&key(b"key-a")), &register("a"), ids).is_ok());
        assert!(gate.check(Some(&key(b"key-a")), &register("b"), ids).is_err(), "another endpoint");
        assert!(gate.check(Some(&key(b"key-any")), &register("b"), ids).is_ok());
        assert!(gate.check(Some(&key(b"key-any")), &register("a"), ids).is_err(), "a is bound to key-a");
        assert!(gate.check(Some(&key(b"unknown")), &register("b"), ids).is_err(), "a key removed since");
        assert!(gate.check(None, &register("a"), ids).is_err(), "a must use DTLS");
        rpks.remove(b"key-a");
        assert!(gate.check(None, &register("a"), ids).is_ok());
    }
}
