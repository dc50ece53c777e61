//! The authentication of each client message (OMA DM Security 1.2 §5.1.3 - §5.1.4; SyncML
//! Representation Protocol 1.2 §5.1.4 `Chal`, §5.1.5 `Cred`): the SyncHdr Status it earns
//! (200, 212, 401, 407), the `Chal` with a fresh `NextNonce`, and the events that tell the
//! adapter what to store.

use super::credentials::{chal, verify_cred, verify_hmac, ClientAuth, NonceDirection, Verdict};
use super::request::status_for;
use super::{DmSession, SessionEvent, AUTH_ACCEPTED, AUTH_REQUIRED, OK, UNAUTHORIZED};
use crate::auth;
use crate::codec::{Status, SyncML};

impl DmSession {
    pub(super) fn fresh_nonce(&mut self) -> Vec<u8> {
        let n = (self.nonce_source)();
        self.client_nonce = Some(n.clone());
        self.events
            .push_back(SessionEvent::NonceUpdated { direction: NonceDirection::ClientToServer, nonce: n.clone() });
        n
    }

    /// The Status of the client's SyncHdr and whether its commands may run (OMA DM Security
    /// 1.2 §5.1.3 - §5.1.4; SyncML RepPro 1.2 §5.1.4 `Chal`).
    pub(super) fn authenticate(&mut self, msg: &SyncML, hmac: Option<&str>, body: &[u8]) -> (Status, bool) {
        let mut status = status_for(&msg.hdr.msg_id, "0", "SyncHdr", OK);
        let dev_id = self.dev_id().unwrap_or_default().to_owned();
        let policy = self.config.client_auth;
        if self.hmac || hmac.is_some() || policy == ClientAuth::Hmac {
            let verdict = verify_hmac(self.store.as_ref(), &dev_id, hmac, self.client_nonce.as_deref(), body);
            // Every message of an HMAC session carries a new nonce (§5.1.4.4).
            let nonce = self.fresh_nonce();
            status.chal = Some(chal(auth::AUTH_MAC, Some(&nonce)));
            return match verdict {
                Verdict::Accepted { username, scheme } => {
                    self.hmac = true;
                    self.accept(username, scheme);
                    (status, true)
                }
                Verdict::Missing => (Status { code: AUTH_REQUIRED, ..status }, false),
                Verdict::Wrong => (Status { code: UNAUTHORIZED, ..status }, false),
            };
        }
        if self.authenticated || policy == ClientAuth::None {
            self.authenticated = true;
            return (status, true);
        }
        let verdict = verify_cred(
            self.store.as_ref(),
            policy,
            &dev_id,
            msg.hdr.source.loc_name.as_deref(),
            msg.hdr.cred.as_ref(),
            self.client_nonce.as_deref(),
        );
        let scheme = if policy == ClientAuth::Basic { auth::AUTH_BASIC } else { auth::AUTH_MD5 };
        match verdict {
            Verdict::Accepted { username, scheme } => {
                self.accept(username, scheme);
                status.code = AUTH_ACCEPTED;
                if scheme == auth::AUTH_MD5 {
                    // The next session's nonce (OMA DM Security 1.2 §5.1.3.3: one per session).
                    let nonce = self.fresh_nonce();
                    status.chal = Some(chal(auth::AUTH_MD5, Some(&nonce)));
                }
                (status, true)
            }
            Verdict::Missing | Verdict::Wrong => {
                status.code = if verdict == Verdict::Missing { AUTH_REQUIRED } else { UNAUTHORIZED };
                // A fresh nonce in every challenge, basic included: the client may answer in md5.
                let nonce = self.fresh_nonce();
                status.chal = Some(chal(scheme, Some(&nonce)));
                (status, false)
            }
        }
    }

    fn accept(&mut self, username: String, scheme: &'static str) {
        if !self.authenticated {
            self.authenticated = true;
            self.events.push_back(SessionEvent::Authenticated { username, scheme });
        }
    }
}
