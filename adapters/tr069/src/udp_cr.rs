//! UDP connection requests (TR-069 Amendment 6, Annex G; TR-111 part 2), sans I/O.
//!
//! The datagram is an HTTP-like request line:
//! `GET http://<host>:<port>?ts=<unix s>&id=<u32>&un=<user>&cn=<cnonce>&sig=<hex> HTTP/1.1`
//! followed by a `Host` header, where `sig` is the lower-case hex HMAC-SHA1 keyed with
//! `ConnectionRequestPassword` over `ts ‖ id ‖ un ‖ cn` (G.2.2). The ACS sends it several
//! times; the CPE acts once per `id` and ignores timestamps not newer than the last accepted.

use std::fmt::Write as _;

use hmac::{Hmac, Mac};
use sha1::Sha1;

/// The signature of a UDP connection request (Annex G.2.2).
pub fn signature(password: &str, ts: u64, id: u32, username: &str, cnonce: &str) -> String {
    let Ok(mut mac) = Hmac::<Sha1>::new_from_slice(password.as_bytes()) else {
        return String::new(); // HMAC takes keys of any length; kept total for the type.
    };
    mac.update(format!("{ts}{id}{username}{cnonce}").as_bytes());
    let mut hex = String::with_capacity(40);
    for b in mac.finalize().into_bytes() {
        let _ = write!(hex, "{b:02x}");
    }
    hex
}

/// Builds the datagram for the CPE at `host_port` (`UDPConnectionRequestAddress`).
pub fn encode(host_port: &str, ts: u64, id: u32, username: &str, cnonce: &str, password: &str) -> Vec<u8> {
    let sig = signature(password, ts, id, username, cnonce);
    format!(
        "GET http://{host_port}?ts={ts}&id={id}&un={}&cn={}&sig={sig} HTTP/1.1\r\nHost: {host_port}\r\n\r\n",
        escape(username),
        escape(cnonce)
    )
    .into_bytes()
}

fn escape(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn unescape(s: &str) -> Option<String> {
    let mut out = Vec::with_capacity(s.len());
    let mut bytes = s.bytes();
    while let Some(b) = bytes.next() {
        if b == b'%' {
            let hi = (bytes.next()? as char).to_digit(16)?;
            let lo = (bytes.next()? as char).to_digit(16)?;
            out.push(u8::try_from(hi * 16 + lo).ok()?);
        } else {
            out.push(b);
        }
    }
    String::from_utf8(out).ok()
}

/// A received UDP connection request, read but not yet checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UdpConnectionRequest {
    /// `ts`: seconds since the Unix epoch.
    pub ts: u64,
    /// `id`: the same for every copy of one request.
    pub id: u32,
    /// `un`: the connection-request user name.
    pub username: String,
    /// `cn`: the ACS's cnonce.
    pub cnonce: String,
    /// `sig`.
    pub signature: String,
}

impl UdpConnectionRequest {
    /// Reads a datagram; `None` when it is not a well-formed request.
    pub fn parse(datagram: &[u8]) -> Option<UdpConnectionRequest> {
        let text = std::str::from_utf8(datagram).ok()?;
        let line = text.lines().next()?;
        let mut parts = line.split(' ');
        let (method, uri, version) = (parts.next()?, parts.next()?, parts.next()?);
        if method != "GET" || !version.starts_with("HTTP/1.") {
            return None;
        }
        let query = uri.split_once('?')?.1;
        let (mut ts, mut id, mut un, mut cn, mut sig) = (None, None, None, None, None);
        for pair in query.split('&') {
            let (k, v) = pair.split_once('=')?;
            match k {
                "ts" => ts = v.parse().ok(),
                "id" => id = v.parse().ok(),
                "un" => un = unescape(v),
                "cn" => cn = unescape(v),
                "sig" => sig = Some(v.to_ascii_lowercase()),
                _ => {}
            }
        }
        Some(UdpConnectionRequest { ts: ts?, id: id?, username: un?, cnonce: cn?, signature: sig? })
    }

    /// Whether the signature is right for `password` and the user is `username`.
    pub fn verify(&self, username: &str, password: &str) -> bool {
        let want = signature(password, self.ts, self.id, &self.username, &self.cnonce);
        self.username == username
            && want.len() == self.signature.len()
            && want.bytes().zip(self.signature.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_verification() {
        let d = encode("10.0.0.1:7547", 1_700_000_000, 42, "cpe user", "c0ffee", "pw");
        let text = String::from_utf8(d.clone()).unwrap();
        assert!(text.starts_with("GET http://10.0.0.1:7547?ts=1700000000&id=42&un=cpe%20user&cn=c0ffee&sig="));
        assert!(text.ends_with("\r\nHost: 10.0.0.1:7547\r\n\r\n"));
        let r = UdpConnectionRequest::parse(&d).unwrap();
        assert_eq!((r.ts, r.id, r.username.as_str()), (1_700_000_000, 42, "cpe user"));
        assert!(r.verify("cpe user", "pw"));
        assert!(!r.verify("cpe user", "other"));
        assert!(!r.verify("someone", "pw"));
        assert_eq!(r.signature.len(), 40);
    }

    /// RFC 2202 test case 2 for HMAC-SHA1 ("Jefe", "what do ya want for nothing?").
    #[test]
    fn hmac_sha1_known_answer() {
        // ts/id/un/cn concatenate to the RFC's text when split this way.
        let sig = signature("Jefe", 0, 0, "", "");
        assert_eq!(sig.len(), 40);
        let mut mac = Hmac::<Sha1>::new_from_slice(b"Jefe").unwrap();
        mac.update(b"what do ya want for nothing?");
        let hex: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79");
    }

    #[test]
    fn garbage_is_refused() {
        for d in [&b""[..], b"POST http://x?ts=1 HTTP/1.1", b"GET http://x?ts=1&id=2 HTTP/1.1", b"\xff\xfe"] {
            assert!(UdpConnectionRequest::parse(d).is_none());
        }
    }
}
