//! Package #0, the notification that asks a client to open a session (OMA DM Notification
//! Initiated Session 1.2 §6.2; media type `application/vnd.syncml.notification`, WSP 0x44).
//!
//! Layout, big-endian: a 128-bit MD5 digest, then a 64-bit header (version 10 bits = 11,
//! ui-mode 2, initiator 1, future use 27 = 0, session id 16, length of the server identifier 8),
//! the server identifier, and an optional vendor-specific trigger body. The digest is
//! `H(B64(H(server-identifier ":" password)) ":" nonce ":" B64(H(trigger)))`, H = MD5, where
//! *trigger* is every byte after the digest, *password* the server's credential on the device
//! and *nonce* the server nonce the device keeps.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use md5::{Digest as _, Md5};

/// The notification format version this module writes (1.1, written as 11).
pub const VERSION: u16 = 11;
/// Shortest notification: digest + header.
pub const MIN_LEN: usize = 16 + 8;

/// The user interaction the server asks for (§6.2.2.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UiMode {
    /// 00: not specified.
    NotSpecified,
    /// 01: background.
    Background,
    /// 10: informative.
    Informative,
    /// 11: user interaction.
    UserInteraction,
}

impl UiMode {
    fn bits(self) -> u64 {
        match self {
            UiMode::NotSpecified => 0,
            UiMode::Background => 1,
            UiMode::Informative => 2,
            UiMode::UserInteraction => 3,
        }
    }

    fn from_bits(b: u64) -> UiMode {
        match b & 3 {
            0 => UiMode::NotSpecified,
            1 => UiMode::Background,
            2 => UiMode::Informative,
            _ => UiMode::UserInteraction,
        }
    }
}

/// A Package #0.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    /// Format version × 10 (11).
    pub version: u16,
    /// What the user sees.
    pub ui_mode: UiMode,
    /// True: the server initiated it.
    pub server_initiated: bool,
    /// 1..=0xFFFF; the client sends it back, as upper-case hex without leading zeros, as the
    /// SessionID of Package #1.
    pub session_id: u16,
    /// The server identifier (DMAcc `ServerID`).
    pub server_id: String,
    /// Vendor-specific trigger body.
    pub vendor: Vec<u8>,
}

/// Why bytes are not a Package #0.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotificationError {
    /// Fewer bytes than the digest, header and server identifier need.
    #[error("notification too short: {0} bytes")]
    Truncated(usize),
    /// The server identifier is not UTF-8.
    #[error("notification server identifier is not UTF-8")]
    ServerId,
    /// Longer than 255 bytes of server identifier (it has an 8-bit length).
    #[error("server identifier longer than 255 bytes")]
    ServerIdTooLong,
}

impl Notification {
    /// A server-initiated, background notification for `session_id` from `server_id`.
    pub fn new(session_id: u16, server_id: impl Into<String>) -> Self {
        Notification {
            version: VERSION,
            ui_mode: UiMode::Background,
            server_initiated: true,
            session_id,
            server_id: server_id.into(),
            vendor: Vec::new(),
        }
    }

    /// The SessionID the client will use in Package #1 (§6.2.2.10).
    pub fn session_id_text(&self) -> String {
        format!("{:X}", self.session_id)
    }

    /// Every byte after the digest.
    fn trigger(&self) -> Result<Vec<u8>, NotificationError> {
        let id = self.server_id.as_bytes();
        let len = u8::try_from(id.len()).map_err(|_| NotificationError::ServerIdTooLong)?;
        let header = (u64::from(self.version & 0x3ff) << 54)
            | (self.ui_mode.bits() << 52)
            | (u64::from(self.server_initiated) << 51)
            | (u64::from(self.session_id) << 8)
            | u64::from(len);
        let mut out = Vec::with_capacity(8 + id.len() + self.vendor.len());
        out.extend_from_slice(&header.to_be_bytes());
        out.extend_from_slice(id);
        out.extend_from_slice(&self.vendor);
        Ok(out)
    }

    /// The notification's bytes, digest first, signed with the server's `password` and the
    /// device's server `nonce`.
    pub fn encode(&self, password: &str, nonce: &[u8]) -> Result<Vec<u8>, NotificationError> {
        let trigger = self.trigger()?;
        let mut out = digest(&self.server_id, password, nonce, &trigger).to_vec();
        out.extend_from_slice(&trigger);
        Ok(out)
    }

    /// Parses a notification; [`Notification::verify`] checks its digest.
    pub fn decode(bytes: &[u8]) -> Result<(Notification, [u8; 16]), NotificationError> {
        if bytes.len() < MIN_LEN {
            return Err(NotificationError::Truncated(bytes.len()));
        }
        let mut d = [0u8; 16];
        d.copy_from_slice(&bytes[..16]);
        let mut h = [0u8; 8];
        h.copy_from_slice(&bytes[16..24]);
        let header = u64::from_be_bytes(h);
        let len = (header & 0xff) as usize;
        let id = bytes.get(24..24 + len).ok_or(NotificationError::Truncated(bytes.len()))?;
        let server_id = std::str::from_utf8(id).map_err(|_| NotificationError::ServerId)?.to_owned();
        let n = Notification {
            version: (header >> 54) as u16,
            ui_mode: UiMode::from_bits(header >> 52),
            server_initiated: (header >> 51) & 1 == 1,
            session_id: ((header >> 8) & 0xffff) as u16,
            server_id,
            vendor: bytes[24 + len..].to_vec(),
        };
        Ok((n, d))
    }

    /// Whether `bytes` (a whole notification) carry the right digest for `password` and `nonce`.
    pub fn verify(bytes: &[u8], password: &str, nonce: &[u8]) -> bool {
        let Ok((n, d)) = Notification::decode(bytes) else { return false };
        digest(&n.server_id, password, nonce, &bytes[16..]) == d
    }
}

/// The digest of §6.2.2.2.
pub fn digest(server_id: &str, password: &str, nonce: &[u8], trigger: &[u8]) -> [u8; 16] {
    let mut input = B64.encode(Md5::digest(format!("{server_id}:{password}").as_bytes())).into_bytes();
    input.push(b':');
    input.extend_from_slice(nonce);
    input.push(b':');
    input.extend_from_slice(B64.encode(Md5::digest(trigger)).as_bytes());
    Md5::digest(&input).into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn header_bits_sit_where_the_spec_puts_them() {
        let n = Notification::new(0x1A2B, "unidm");
        let bytes = n.encode("pw", b"nonce").unwrap();
        assert_eq!(bytes.len(), 16 + 8 + 5);
        // version 11 = 0b0000001011 in the top 10 bits, ui-mode 01, initiator 1, 27 zero bits.
        let header = u64::from_be_bytes(bytes[16..24].try_into().unwrap());
        assert_eq!(header >> 54, 11);
        assert_eq!((header >> 52) & 3, 1);
        assert_eq!((header >> 51) & 1, 1);
        assert_eq!((header >> 24) & ((1 << 27) - 1), 0, "future-use bits are zero");
        assert_eq!(&bytes[16..24], &[0x02, 0xD8, 0x00, 0x00, 0x00, 0x1A, 0x2B, 0x05]);
        assert_eq!(&bytes[24..], b"unidm");
        assert_eq!(n.session_id_text(), "1A2B");
        assert_eq!(Notification::new(0x00F0, "x").session_id_text(), "F0", "no leading zeros");
    }

    #[test]
    fn digest_follows_the_formula_and_is_verified() {
        let n = Notification { vendor: vec![9, 9], ..Notification::new(7, "srv") };
        let bytes = n.encode("secret", b"N0").unwrap();
        let inner = B64.encode(Md5::digest(b"srv:secret"));
        let trigger = B64.encode(Md5::digest(&bytes[16..]));
        let expected: [u8; 16] = Md5::digest(format!("{inner}:N0:{trigger}").as_bytes()).into();
        assert_eq!(bytes[..16], expected);
        assert!(Notification::verify(&bytes, "secret", b"N0"));
        assert!(!Notification::verify(&bytes, "secret", b"N1"));
        assert!(!Notification::verify(&bytes, "other", b"N0"));
        let mut tampered = bytes.clone();
        *tampered.last_mut().unwrap() ^= 1;
        assert!(!Notification::verify(&tampered, "secret", b"N0"));
        assert_eq!(Notification::decode(&bytes).unwrap().0, n);
    }

    #[test]
    fn bad_input_is_refused() {
        assert_eq!(Notification::decode(&[0; 23]), Err(NotificationError::Truncated(23)));
        let mut short_id = vec![0u8; 24];
        short_id[23] = 10;
        assert_eq!(Notification::decode(&short_id), Err(NotificationError::Truncated(24)));
        let long = Notification::new(1, "x".repeat(256));
        assert_eq!(long.encode("p", b"n"), Err(NotificationError::ServerIdTooLong));
    }

    proptest! {
        #[test]
        fn encode_then_decode_is_identity(session in 1u16.., id in "[ -~]{0,40}", vendor in proptest::collection::vec(any::<u8>(), 0..64), ui in 0u64..4, init: bool) {
            let n = Notification { version: VERSION, ui_mode: UiMode::from_bits(ui), server_initiated: init, session_id: session, server_id: id, vendor };
            let bytes = n.encode("p", b"n").unwrap();
            prop_assert_eq!(Notification::decode(&bytes).unwrap().0, n);
            prop_assert!(Notification::verify(&bytes, "p", b"n"));
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = Notification::decode(&bytes);
            let _ = Notification::verify(&bytes, "p", b"n");
        }
    }
}
