//! The secrets the ACS makes, from the OS random source through [`unidm_core::secret`]:
//! session cookies, Digest nonces (RFC 7616, 3.3: "a server-specified string ... uniquely
//! generated"), cnonces of connection requests, UDP connection-request ids (TR-069 Amendment 6,
//! Annex G.2.1) and the connection-request credentials the ACS sets on CPEs (3.2.2).

pub(crate) use unidm_core::secret::token;
use unidm_core::secret::{alphanumeric, bytes};

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
    u32::from_be_bytes(bytes::<4>())
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

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
    fn udp_ids_vary() {
        let ids: HashSet<u32> = (0..100).map(|_| udp_id()).collect();
        assert!(ids.len() > 95, "{} distinct of 100", ids.len());
    }
}
