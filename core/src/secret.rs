//! Secrets, nonces and session ids from the operating system's random source (`getrandom`),
//! for every adapter: session cookies, HTTP Digest and SyncML nonces, Package #0 session ids,
//! credentials set on devices. Nothing here is derived from a counter, the time or an address,
//! so none of it can be predicted from what a device sees.

/// Fills `buf` from the OS random source. A machine without one cannot make secrets at all;
/// like `std`'s `RandomState`, that is treated as unrecoverable.
pub fn fill(buf: &mut [u8]) {
    if let Err(e) = getrandom::fill(buf) {
        panic!("the operating system's random source failed: {e}");
    }
}

/// `N` random bytes.
pub fn bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    fill(&mut b);
    b
}

/// 128 random bits as 32 lowercase hex digits: session cookies, nonces, cnonces.
pub fn token() -> String {
    bytes::<16>().iter().map(|x| format!("{x:02x}")).collect()
}

/// Letters and digits only: safe in a SOAP string, an HTTP header and a URL, and easy to type
/// when an operator has to enter it on a device's web page.
const ALPHANUMERIC: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// `len` random letters and digits, uniformly (rejection sampling: bytes >= 248 are drawn
/// again, so no character is more likely than another).
pub fn alphanumeric(len: usize) -> String {
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
    fn every_character_of_the_alphabet_is_drawn() {
        // 62 symbols, 20 000 draws: each expected ~320 times; missing one would mean a bias.
        let s = alphanumeric(20_000);
        assert!(s.bytes().all(|b| b.is_ascii_alphanumeric()));
        let seen: HashSet<u8> = s.bytes().collect();
        assert_eq!(seen.len(), ALPHANUMERIC.len());
    }

    #[test]
    fn bytes_vary() {
        let all: HashSet<[u8; 8]> = (0..100).map(|_| bytes::<8>()).collect();
        assert_eq!(all.len(), 100);
    }
}
