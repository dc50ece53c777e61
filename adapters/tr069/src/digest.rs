//! HTTP authentication for CWMP: Digest (RFC 7616 / RFC 2617, MD5, `qop=auth`) and Basic
//! (RFC 7617).
//!
//! TR-069 Amendment 6, 3.2.2 requires a connection request to be authenticated with HTTP
//! Digest, and 3.4.4 lets the ACS authenticate the CPE with Basic or Digest. Both sides use
//! this module: the ACS answers a CPE's challenge (connection request) and challenges CPEs;
//! the simulated CPE does the reverse. Pure functions only; nonces and cnonces come from the
//! caller.

use std::fmt::Write as _;

use base64::Engine as _;
use md5::{Digest as _, Md5};

/// Lower-case hex MD5 of `data`.
pub fn md5_hex(data: &[u8]) -> String {
    let digest = Md5::digest(data);
    let mut s = String::with_capacity(32);
    for b in digest {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// Splits `k=v, k="v, w"` auth parameters (RFC 7235 §2.1 `auth-param`). Unparsable pieces are
/// skipped; names are lower-cased.
fn parse_params(s: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = s.trim();
    while !rest.is_empty() {
        rest = rest.trim_start_matches([',', ' ', '\t']);
        let Some(eq) = rest.find('=') else { break };
        let name = rest[..eq].trim().to_ascii_lowercase();
        rest = rest[eq + 1..].trim_start();
        let value;
        if let Some(quoted) = rest.strip_prefix('"') {
            let mut v = String::new();
            let mut escaped = false;
            let mut end = None;
            for (i, c) in quoted.char_indices() {
                match c {
                    _ if escaped => {
                        v.push(c);
                        escaped = false;
                    }
                    '\\' => escaped = true,
                    '"' => {
                        end = Some(i);
                        break;
                    }
                    _ => v.push(c),
                }
            }
            let Some(end) = end else { break };
            value = v;
            rest = &quoted[end + 1..];
        } else {
            let end = rest.find(',').unwrap_or(rest.len());
            value = rest[..end].trim().to_owned();
            rest = &rest[end..];
        }
        if !name.is_empty() {
            out.push((name, value));
        }
    }
    out
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// Splits `Scheme rest` and checks the scheme case-insensitively.
fn strip_scheme<'a>(header: &'a str, scheme: &str) -> Option<&'a str> {
    let header = header.trim();
    let (s, rest) = header.split_once(' ').unwrap_or((header, ""));
    s.eq_ignore_ascii_case(scheme).then_some(rest)
}

/// A `WWW-Authenticate: Digest …` challenge (RFC 7616 §3.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// `realm`.
    pub realm: String,
    /// `nonce`.
    pub nonce: String,
    /// `opaque`, echoed back.
    pub opaque: Option<String>,
    /// `qop` options offered (`auth`, `auth-int`); empty for RFC 2069 style.
    pub qop: Vec<String>,
    /// `algorithm` (only MD5 is supported; absent means MD5).
    pub algorithm: Option<String>,
}

impl Challenge {
    /// Reads a `WWW-Authenticate` value; `None` unless it is a Digest challenge with MD5.
    pub fn parse(header: &str) -> Option<Challenge> {
        let params = parse_params(strip_scheme(header, "Digest")?);
        let algorithm = param(&params, "algorithm").map(str::to_owned);
        if algorithm.as_deref().is_some_and(|a| !a.eq_ignore_ascii_case("MD5")) {
            return None;
        }
        Some(Challenge {
            realm: param(&params, "realm")?.to_owned(),
            nonce: param(&params, "nonce")?.to_owned(),
            opaque: param(&params, "opaque").map(str::to_owned),
            qop: param(&params, "qop")
                .map(|q| q.split(',').map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).collect())
                .unwrap_or_default(),
            algorithm,
        })
    }

    /// The header value a server sends (`qop="auth"`, `algorithm=MD5`).
    pub fn to_header(&self) -> String {
        let mut h = format!("Digest realm=\"{}\", qop=\"auth\", nonce=\"{}\", algorithm=MD5", self.realm, self.nonce);
        if let Some(o) = &self.opaque {
            let _ = write!(h, ", opaque=\"{o}\"");
        }
        h
    }

    /// The `Authorization` value answering this challenge for `method` on `uri` (RFC 7616
    /// §3.4.1): `qop=auth` when offered, else the RFC 2069 form.
    pub fn respond(&self, username: &str, password: &str, method: &str, uri: &str, cnonce: &str, nc: u32) -> String {
        let ha1 = md5_hex(format!("{username}:{}:{password}", self.realm).as_bytes());
        let ha2 = md5_hex(format!("{method}:{uri}").as_bytes());
        let nc = format!("{nc:08x}");
        let use_qop = self.qop.iter().any(|q| q == "auth");
        let response = if use_qop {
            md5_hex(format!("{ha1}:{}:{nc}:{cnonce}:auth:{ha2}", self.nonce).as_bytes())
        } else {
            md5_hex(format!("{ha1}:{}:{ha2}", self.nonce).as_bytes())
        };
        let mut h = format!(
            "Digest username=\"{username}\", realm=\"{}\", nonce=\"{}\", uri=\"{uri}\", response=\"{response}\", \
             algorithm=MD5",
            self.realm, self.nonce
        );
        if use_qop {
            let _ = write!(h, ", qop=auth, nc={nc}, cnonce=\"{cnonce}\"");
        }
        if let Some(o) = &self.opaque {
            let _ = write!(h, ", opaque=\"{o}\"");
        }
        h
    }
}

/// A received `Authorization: Digest …` (RFC 7616 §3.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigestAuthorization {
    /// `username`.
    pub username: String,
    /// `realm`.
    pub realm: String,
    /// `nonce`.
    pub nonce: String,
    /// `uri`.
    pub uri: String,
    /// `response`.
    pub response: String,
    /// `qop` (`auth`) when used.
    pub qop: Option<String>,
    /// `nc`.
    pub nc: Option<String>,
    /// `cnonce`.
    pub cnonce: Option<String>,
}

impl DigestAuthorization {
    /// Reads an `Authorization` value; `None` unless it is a complete Digest answer.
    pub fn parse(header: &str) -> Option<DigestAuthorization> {
        let params = parse_params(strip_scheme(header, "Digest")?);
        let get = |n: &str| param(&params, n).map(str::to_owned);
        Some(DigestAuthorization {
            username: get("username")?,
            realm: get("realm")?,
            nonce: get("nonce")?,
            uri: get("uri")?,
            response: get("response")?,
            qop: get("qop"),
            nc: get("nc"),
            cnonce: get("cnonce"),
        })
    }

    /// Whether `response` is right for `password` and `method` (the nonce's freshness is the
    /// caller's business).
    pub fn verify(&self, password: &str, method: &str) -> bool {
        let ha1 = md5_hex(format!("{}:{}:{password}", self.username, self.realm).as_bytes());
        let ha2 = md5_hex(format!("{method}:{}", self.uri).as_bytes());
        let expected = match (&self.qop, &self.nc, &self.cnonce) {
            (Some(q), Some(nc), Some(cn)) if q == "auth" => {
                md5_hex(format!("{ha1}:{}:{nc}:{cn}:auth:{ha2}", self.nonce).as_bytes())
            }
            (None, _, _) => md5_hex(format!("{ha1}:{}:{ha2}", self.nonce).as_bytes()),
            _ => return false,
        };
        constant_time_eq(expected.as_bytes(), self.response.to_ascii_lowercase().as_bytes())
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// `Authorization: Basic …` for a user and password (RFC 7617).
pub fn basic_header(username: &str, password: &str) -> String {
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}")))
}

/// Reads `Authorization: Basic …` into user and password.
pub fn parse_basic(header: &str) -> Option<(String, String)> {
    let raw = base64::engine::general_purpose::STANDARD.decode(strip_scheme(header, "Basic")?.trim()).ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (u, p) = text.split_once(':')?;
    Some((u.to_owned(), p.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 2617 §3.5 worked example.
    #[test]
    fn rfc2617_example() {
        let c = Challenge::parse(
            r#"Digest realm="testrealm@host.com", qop="auth,auth-int", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41""#,
        )
        .unwrap();
        assert_eq!(c.qop, ["auth", "auth-int"]);
        let h = c.respond("Mufasa", "Circle Of Life", "GET", "/dir/index.html", "0a4f113b", 1);
        assert!(h.contains(r#"response="6629fae49393a05397450978507c4ef1""#), "{h}");
        assert!(h.contains("nc=00000001"));
        let a = DigestAuthorization::parse(&h).unwrap();
        assert!(a.verify("Circle Of Life", "GET"));
        assert!(!a.verify("wrong", "GET"));
        assert!(!a.verify("Circle Of Life", "POST"));
    }

    #[test]
    fn server_challenge_round_trips() {
        let c = Challenge { realm: "unidm".into(), nonce: "abc".into(), opaque: None, qop: vec![], algorithm: None };
        let parsed = Challenge::parse(&c.to_header()).unwrap();
        assert_eq!(parsed.qop, ["auth"]);
        assert_eq!(parsed.nonce, "abc");
        let no_qop = c.respond("u", "p", "GET", "/", "x", 1);
        assert!(DigestAuthorization::parse(&no_qop).unwrap().verify("p", "GET"));
    }

    #[test]
    fn refuses_other_schemes_and_garbage() {
        assert!(Challenge::parse("Basic realm=\"x\"").is_none());
        assert!(Challenge::parse("Digest realm=\"x\", nonce=\"n\", algorithm=SHA-256").is_none());
        assert!(Challenge::parse("Digest realm=\"unterminated").is_none());
        assert!(DigestAuthorization::parse("Digest username=\"u\"").is_none());
        assert_eq!(parse_params("a=\"x\\\"y, z\", b=2"), [("a".into(), "x\"y, z".into()), ("b".into(), "2".into())]);
    }

    #[test]
    fn basic_round_trips() {
        let h = basic_header("cpe", "se:cret");
        assert_eq!(parse_basic(&h), Some(("cpe".into(), "se:cret".into())));
        assert_eq!(parse_basic("Basic !!!"), None);
    }
}
