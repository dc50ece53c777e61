//! Secrets and nonces from the operating system's random source (`getrandom`): session
//! cookies, Digest nonces (RFC 7616, 3.3: "a server-specified string ... uniquely generated"),
//! cnonces of connection requests, UDP connection-request ids (TR-069 Amendment 6, Annex G.2.1)
//! and the connection-request credentials the ACS sets on CPEs (3.2.2). Nothing here is derived
//! from a counter, the time or an address, so none of it can be predicted from what a CPE sees.

/// Fills `buf` from the OS random source. A machine without one cannot make secrets at all;
/// like `std`'s `RandomState`, that is treated as unrecoverable.
fn fill(buf: &mut [u8]) {
    if let Err(e) = getrandom::fill(buf) {
        panic!("the operating system's random source failed: {e}");
    }
}

/// 128 random bits as 32 lowercase hex digits: session cookies, Digest nonces, cnonces.
pub(crate) fn token() -> String {
    let mut b = [0u8; 16];
    fill(&mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Letters and digits only: safe in a SOAP string, a Digest header and a URL, and easy to type
/// when an operator has to enter it on a CPE's web page.
const ALPHANUMERIC: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// `len` random letters and digits, uniformly (rejection sampling: bytes >= 248 are drawn
/// again, so no character is more likely than another).
pub(crate) fn alphanumeric(len: usize) -> String {
    let limit = 256 - 256 % ALPHANUMERIC.len();
    let mut out = String::with_capacity(len);
    let mut buf = [0u8; 32];
    while out.len() < len {
        fill(&mut buf);
        for &b in &buf {
            if usize::from(b) < limit && out.len() < len {
                out.push(char::from(ALPHANUMERIC[usize::from(b) % ALPHANUMERIC.len()]));
            }
        }
    }
    out
}

/// A connection-request password: 24 letters and digits (about 142 bits).
pub(crate) fn password() -> String {
    alphanumeric(24)
}

/// A connection-request user name: `unidm-` and 12 letters and digits.
pub(crate) fn username() -> String {
    format!("unidm-{}", alphanumeric(12))
}

/// The `id` of a UDP connection request (Annex G.2.1: "a random number ... the CPE uses to
/// recognise a repeated message").
pub(crate) fn udp_id() -> u32 {
    let mut b = [0u8; 4];
    fill(&mut b);
    u32::from_be_bytes(b)
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn tokens_are_128_bit_hex_and_distinct() {
        let tokens: HashSet<String> = (0..1000).map(|_| token()).collect();
        assert_eq!(tokens.len(), 1000, "no repeats in 1000 tokens");
        for t in &tokens {
            assert_eq!(t.len(), 32);
            assert!(t.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()), "{t}");
        }
    }

    #[test]
    fn credentials_are_alphanumeric_of_fixed_length_and_distinct() {
        let passwords: HashSet<String> = (0..1000).map(|_| password()).collect();
        assert_eq!(passwords.len(), 1000);
        assert!(passwords.iter().all(|p| p.len() == 24 && p.bytes().all(|b| b.is_ascii_alphanumeric())));
        let users: HashSet<String> = (0..1000).map(|_| username()).collect();
        assert_eq!(users.len(), 1000);
        for u in &users {
            let rest = u.strip_prefix("unidm-").expect("prefix");
            assert!(rest.len() == 12 && rest.bytes().all(|b| b.is_ascii_alphanumeric()), "{u}");
        }
    }

    #[test]
    fn every_character_of_the_alphabet_is_drawn() {
        // 62 symbols, 20 000 draws: each expected ~320 times; missing one would mean a bias.
        let s = alphanumeric(20_000);
        let seen: HashSet<u8> = s.bytes().collect();
        assert_eq!(seen.len(), ALPHANUMERIC.len());
    }

    #[test]
    fn udp_ids_vary() {
        let ids: HashSet<u32> = (0..100).map(|_| udp_id()).collect();
        assert!(ids.len() > 95, "{} distinct of 100", ids.len());
    }
}
