//! SyncML DM authentication and integrity, pure functions (OMA DM Security 1.2 §5.1.3 - §5.1.4;
//! SyncML Representation Protocol 1.2 `Cred` / `Chal`).
//!
//! - `syncml:auth-basic`: `Cred/Data` = `B64(username ":" password)`.
//! - `syncml:auth-md5`: `Cred/Data` = `B64(H(B64(H(username ":" password)) ":" nonce))`, H =
//!   MD5, the nonce being the bytes of the last `NextNonce` the verifier sent. Clients differ in
//!   what they hash: the decoded bytes of a base64 `NextNonce` or its base64 text;
//!   [`verify_md5`] accepts both.
//! - `syncml:auth-MAC` (HMAC integrity of every message): `mac` =
//!   `B64(H(B64(H(username ":" password)) ":" nonce ":" B64(H(body))))` over the exact body bytes
//!   (XML or WBXML), sent in the HTTP header
//!   `x-syncml-hmac: algorithm=MD5, username="<name>", mac=<b64>`.
//!
//! Nonces and passwords come from the caller (the session engine makes them from the OS random
//! source); comparisons of secrets run in constant time.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use md5::{Digest as _, Md5};

/// `Cred/Meta/Type` of basic authentication.
pub const AUTH_BASIC: &str = "syncml:auth-basic";
/// `Cred/Meta/Type` of MD5 digest authentication.
pub const AUTH_MD5: &str = "syncml:auth-md5";
/// `Chal/Meta/Type` of HMAC integrity.
pub const AUTH_MAC: &str = "syncml:auth-MAC";
/// The HTTP header that carries HMAC integrity.
pub const HMAC_HEADER: &str = "x-syncml-hmac";

fn md5(data: &[u8]) -> [u8; 16] {
    Md5::digest(data).into()
}

fn b64_md5(data: &[u8]) -> String {
    B64.encode(md5(data))
}

/// Constant-time equality of two byte strings (length is not secret).
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// `Cred/Data` of `syncml:auth-basic`.
pub fn basic(username: &str, password: &str) -> String {
    B64.encode(format!("{username}:{password}"))
}

/// Checks `syncml:auth-basic` data: the user name it carries, when the password matches
/// `password_of(username)`.
pub fn verify_basic<'a>(data: &str, password_of: impl FnOnce(&str) -> Option<&'a str>) -> Option<String> {
    let decoded = B64.decode(data.trim()).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, pass) = text.split_once(':')?;
    let expected = password_of(user)?;
    same(pass.as_bytes(), expected.as_bytes()).then(|| user.to_owned())
}

/// `Cred/Data` of `syncml:auth-md5` for `nonce` (the bytes the verifier last sent).
pub fn md5_digest(username: &str, password: &str, nonce: &[u8]) -> String {
    let mut inner = b64_md5(format!("{username}:{password}").as_bytes()).into_bytes();
    inner.push(b':');
    inner.extend_from_slice(nonce);
    b64_md5(&inner)
}

/// Checks `syncml:auth-md5` data against the nonce the server sent (its raw bytes); accepts the
/// digest over the bytes and, as some clients compute it, over the nonce's base64 text.
pub fn verify_md5(data: &str, username: &str, password: &str, nonce: &[u8]) -> bool {
    let data = data.trim().as_bytes();
    same(data, md5_digest(username, password, nonce).as_bytes())
        || same(data, md5_digest(username, password, B64.encode(nonce).as_bytes()).as_bytes())
}

/// The `mac` of `syncml:auth-MAC` over `body` with `nonce`.
pub fn hmac(username: &str, password: &str, nonce: &[u8], body: &[u8]) -> String {
    let mut input = b64_md5(format!("{username}:{password}").as_bytes()).into_bytes();
    input.push(b':');
    input.extend_from_slice(nonce);
    input.push(b':');
    input.extend_from_slice(b64_md5(body).as_bytes());
    b64_md5(&input)
}

/// The `x-syncml-hmac` header value for `body`.
pub fn hmac_header(username: &str, password: &str, nonce: &[u8], body: &[u8]) -> String {
    format!("algorithm=MD5, username=\"{}\", mac={}", username.replace('"', ""), hmac(username, password, nonce, body))
}

/// A parsed `x-syncml-hmac` header (OMA DM Security 1.2 §5.1.4.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HmacHeader {
    /// The algorithm; only MD5 exists (and is assumed when absent).
    pub algorithm: String,
    /// Whose credentials computed the mac.
    pub username: String,
    /// The mac, base64.
    pub mac: String,
}

/// Why an `x-syncml-hmac` header was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HmacError {
    /// `username` or `mac` is missing.
    #[error("x-syncml-hmac lacks {0}")]
    Missing(&'static str),
    /// An algorithm other than MD5.
    #[error("x-syncml-hmac algorithm {0:?} is not supported (MD5 only)")]
    Algorithm(String),
}

impl HmacHeader {
    /// Parses the header value: comma-separated `name=value` pairs, values optionally quoted,
    /// names case-insensitive.
    pub fn parse(value: &str) -> Result<HmacHeader, HmacError> {
        let (mut algorithm, mut username, mut mac) = (None, None, None);
        for part in split_params(value) {
            let Some((k, v)) = part.split_once('=') else { continue };
            let v = v.trim().trim_matches('"').to_owned();
            match k.trim().to_ascii_lowercase().as_str() {
                "algorithm" => algorithm = Some(v),
                "username" => username = Some(v),
                "mac" => mac = Some(v),
                _ => {}
            }
        }
        let algorithm = algorithm.unwrap_or_else(|| "MD5".into());
        if !algorithm.eq_ignore_ascii_case("md5") {
            return Err(HmacError::Algorithm(algorithm));
        }
        Ok(HmacHeader {
            algorithm,
            username: username.ok_or(HmacError::Missing("username"))?,
            mac: mac.ok_or(HmacError::Missing("mac"))?,
        })
    }

    /// Whether the mac is right for `body`, with `password` and `nonce` (raw bytes, or as some
    /// clients compute it, the nonce's base64 text).
    pub fn verify(&self, password: &str, nonce: &[u8], body: &[u8]) -> bool {
        same(self.mac.as_bytes(), hmac(&self.username, password, nonce, body).as_bytes())
            || same(self.mac.as_bytes(), hmac(&self.username, password, B64.encode(nonce).as_bytes(), body).as_bytes())
    }
}

/// Splits on commas outside double quotes.
fn split_params(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut start, mut quoted) = (0, false);
    for (i, c) in s.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_round_trips_and_checks_the_password() {
        let data = basic("dev1", "s3cret:x");
        assert_eq!(data, "ZGV2MTpzM2NyZXQ6eA==");
        assert_eq!(verify_basic(&data, |u| (u == "dev1").then_some("s3cret:x")), Some("dev1".into()));
        assert_eq!(verify_basic(&data, |_| Some("other")), None);
        assert_eq!(verify_basic("not base64!", |_| Some("x")), None);
        assert_eq!(verify_basic(&B64.encode("nocolon"), |_| Some("x")), None);
    }

    #[test]
    fn md5_digest_follows_the_formula_and_accepts_both_nonce_forms() {
        // B64(H(B64(H("user:pass")) ":" nonce)), computed step by step.
        let inner = B64.encode(md5(b"user:pass"));
        let expected = B64.encode(md5(format!("{inner}:nonce-bytes").as_bytes()));
        assert_eq!(md5_digest("user", "pass", b"nonce-bytes"), expected);
        assert_eq!(expected.len(), 24, "base64 of 16 bytes");

        let nonce = [0u8, 1, 2, 250, 255];
        let over_bytes = md5_digest("user", "pass", &nonce);
        let over_text = md5_digest("user", "pass", B64.encode(nonce).as_bytes());
        assert_ne!(over_bytes, over_text);
        assert!(verify_md5(&over_bytes, "user", "pass", &nonce));
        assert!(verify_md5(&over_text, "user", "pass", &nonce), "clients that hash the base64 text");
        assert!(!verify_md5(&over_bytes, "user", "wrong", &nonce));
        assert!(!verify_md5(&over_bytes, "user", "pass", b"another nonce"), "a replayed digest fails a new nonce");
    }

    #[test]
    fn hmac_header_round_trips_and_detects_tampering() {
        let body = b"<SyncML>...</SyncML>";
        let value = hmac_header("srv", "pw", b"n1", body);
        let h = HmacHeader::parse(&value).unwrap();
        assert_eq!((h.algorithm.as_str(), h.username.as_str()), ("MD5", "srv"));
        assert!(h.verify("pw", b"n1", body));
        assert!(!h.verify("pw", b"n1", b"<SyncML>..!</SyncML>"), "a changed body fails");
        assert!(!h.verify("pw", b"n2", body), "another nonce fails");
        // Liberal parsing: no algorithm, other order, spaces, quoted mac.
        let loose = format!("mac=\"{}\" ,  username=srv", h.mac);
        assert!(HmacHeader::parse(&loose).unwrap().verify("pw", b"n1", body));
        assert_eq!(HmacHeader::parse("username=\"a\""), Err(HmacError::Missing("mac")));
        assert!(matches!(HmacHeader::parse("algorithm=SHA1, username=a, mac=b"), Err(HmacError::Algorithm(_))));
    }
}
