//! DTLS 1.2 for CoAP (`coaps`, RFC 7252 §9; LwM2M 1.x transport security) over the system's
//! OpenSSL, without I/O: each peer's connection reads from and writes to an in-memory
//! datagram pipe, so a UDP shell feeds it what the socket received and sends what it wrote.
//! No cryptography is written here.
//!
//! - [`DtlsServer`]: many peers on one socket. PSK (RFC 4279) with the identity checked by a
//!   [`PskStore`], raw public keys (RFC 7250) checked by an [`RpkStore`], X.509 client
//!   certificates checked against CAs; the cipher suites LwM2M mandates
//!   (`TLS_PSK_WITH_AES_128_CCM_8`, `TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8`) and the common GCM /
//!   CBC ones; a HelloVerifyRequest cookie always (an HMAC of the peer address
//!   under a key drawn from the OS random source at start); bounded half-open handshakes
//!   (the oldest goes first), handshakes per source per second, and sessions in total; idle
//!   sessions expire. The authenticated PSK identity of each session is kept for the
//!   registration check.
//! - [`DtlsClient`]: the client side for the simulator and tests, one session per server,
//!   application data queued until the handshake ends.
//!
//! Raw public keys need OpenSSL 3.2 or later: the `openssl` crate is built `vendored` (its
//! own OpenSSL 3.x, linked statically), and the few RFC 7250 calls the crate does not wrap are
//! declared in [`ffi`]. A raw public key is named by its DER `SubjectPublicKeyInfo`
//! ([`spki`] also takes PEM and the bare P-256 points some clients store).

use std::collections::{HashMap, VecDeque};
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use openssl::ex_data::Index;
use openssl::ssl::{
    ErrorCode, HandshakeError, MidHandshakeSslStream, ShutdownState, Ssl, SslContext, SslContextBuilder, SslMethod,
    SslMode, SslOptions, SslStream, SslVerifyMode,
};
use sha2::Sha256;

/// The PSK cipher suites offered, strongest first; `TLS_PSK_WITH_AES_128_CCM_8` is the one
/// LwM2M mandates (OMA LwM2M 1.1 Transport §5.2.8). Security level 0 keeps CCM_8 on OpenSSL
/// builds that moved its 64-bit tag there (PSK suites have no certificate key to weaken).
pub const PSK_CIPHERS: &str =
    "PSK-AES128-CCM8:PSK-AES128-GCM-SHA256:PSK-AES256-GCM-SHA384:PSK-AES128-CCM:PSK-AES128-CBC-SHA256:@SECLEVEL=0";
/// The certificate suites offered with X.509 and raw public keys:
/// `TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8` (LwM2M's mandated one) first, then GCM / CBC with ECDSA
/// or RSA certificates. Security level 0 keeps CCM_8 here too; [`strong_enough`] puts level
/// 1's floor on peer keys back (level 0 would take any key).
pub const CERT_CIPHERS: &str = "ECDHE-ECDSA-AES128-CCM8:ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:\
    ECDHE-ECDSA-AES128-SHA256:ECDHE-RSA-AES128-SHA256:@SECLEVEL=0";

/// Fewest security bits a peer's key may have (OpenSSL security level 1: RSA 1024, EC 160).
const MIN_KEY_BITS: u32 = 80;

/// Whether the key being verified (a certificate's or a raw one) is strong enough.
fn strong_enough(ctx: &openssl::x509::X509StoreContextRef) -> bool {
    use foreign_types_shared::ForeignTypeRef;
    // SAFETY: the store context is live for the callback; the key belongs to it.
    let rpk = unsafe { ffi::X509_STORE_CTX_get0_rpk(ctx.as_ptr()) };
    let bits = if rpk.is_null() {
        ctx.current_cert().and_then(|c| c.public_key().ok()).map(|k| k.security_bits())
    } else {
        // SAFETY: non-null and owned by the context.
        Some(unsafe { openssl::pkey::PKeyRef::<openssl::pkey::Public>::from_ptr(rpk) }.security_bits())
    };
    bits.is_some_and(|b| b >= MIN_KEY_BITS)
}

/// X.509 material in PEM: the server's (or client's) certificate chain and key, and the CAs
/// whose certificates the other side must present.
#[derive(Clone, PartialEq, Eq)]
pub struct X509Settings {
    /// Certificate chain, PEM, leaf first.
    pub cert_pem: Vec<u8>,
    /// Private key, PEM.
    pub key_pem: Vec<u8>,
    /// Trusted CAs, PEM (client certificates on the server; the server's on a client).
    pub ca_pem: Vec<u8>,
}

impl std::fmt::Debug for X509Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("X509Settings").finish_non_exhaustive()
    }
}

/// Installs certificate, key and trusted CAs on a context under construction.
fn use_x509(b: &mut SslContextBuilder, x: &X509Settings) -> Result<(), openssl::error::ErrorStack> {
    let mut chain = openssl::x509::X509::stack_from_pem(&x.cert_pem)?.into_iter();
    if let Some(leaf) = chain.next() {
        b.set_certificate(&leaf)?;
    }
    for c in chain {
        b.add_extra_chain_cert(c)?;
    }
    let key = openssl::pkey::PKey::private_key_from_pem(&x.key_pem)?;
    b.set_private_key(&key)?;
    b.check_private_key()?;
    for ca in openssl::x509::X509::stack_from_pem(&x.ca_pem)? {
        b.cert_store_mut().add_cert(ca)?;
    }
    Ok(())
}

/// The RFC 7250 calls of OpenSSL 3.2+ that the `openssl` crate does not wrap.
mod ffi {
    use std::os::raw::{c_int, c_uchar};

    use openssl_sys::{EVP_PKEY, SSL, SSL_CTX, X509_STORE_CTX};

    /// `TLSEXT_cert_type_x509` (RFC 7250 §3).
    pub const CERT_TYPE_X509: u8 = 0;
    /// `TLSEXT_cert_type_rpk`.
    pub const CERT_TYPE_RPK: u8 = 2;

    extern "C" {
        pub fn SSL_CTX_set1_client_cert_type(ctx: *mut SSL_CTX, val: *const c_uchar, len: usize) -> c_int;
        pub fn SSL_CTX_set1_server_cert_type(ctx: *mut SSL_CTX, val: *const c_uchar, len: usize) -> c_int;
        pub fn SSL_get0_peer_rpk(s: *const SSL) -> *mut EVP_PKEY;
        pub fn X509_STORE_CTX_get0_rpk(ctx: *const X509_STORE_CTX) -> *mut EVP_PKEY;
    }
}

/// Sets the certificate types a context offers or accepts, most preferred first: `client`
/// for the client's certificate, `server` for the server's.
fn set_cert_types(b: &mut SslContextBuilder, client: &[u8], server: &[u8]) -> Result<(), openssl::error::ErrorStack> {
    // SAFETY: the context is live; OpenSSL copies the lists.
    let ok = unsafe {
        ffi::SSL_CTX_set1_client_cert_type(b.as_ptr(), client.as_ptr(), client.len()) == 1
            && ffi::SSL_CTX_set1_server_cert_type(b.as_ptr(), server.as_ptr(), server.len()) == 1
    };
    if ok {
        Ok(())
    } else {
        Err(openssl::error::ErrorStack::get())
    }
}

/// The DER `SubjectPublicKeyInfo` of an OpenSSL key the library owns.
///
/// # Safety
/// `key` is null or a live `EVP_PKEY` that outlives the call.
unsafe fn spki_of(key: *mut openssl_sys::EVP_PKEY) -> Option<Vec<u8>> {
    use foreign_types_shared::ForeignTypeRef;
    if key.is_null() {
        return None;
    }
    // SAFETY: non-null and live (the caller's promise); only borrowed here.
    let key = unsafe { openssl::pkey::PKeyRef::<openssl::pkey::Public>::from_ptr(key) };
    key.public_key_to_der().ok()
}

/// The raw public key a verification is about (`None`: a certificate chain).
fn verified_rpk(ctx: &openssl::x509::X509StoreContextRef) -> Option<Vec<u8>> {
    use foreign_types_shared::ForeignTypeRef;
    // SAFETY: the store context is live for the callback; the key belongs to it.
    unsafe { spki_of(ffi::X509_STORE_CTX_get0_rpk(ctx.as_ptr())) }
}

/// A public key as its DER `SubjectPublicKeyInfo`, from PEM, DER, or a bare P-256 point
/// (`04 || x || y`, or `x || y` as some LwM2M clients store it).
pub fn spki(bytes: &[u8]) -> Result<Vec<u8>, String> {
    use openssl::ec::{EcGroup, EcKey, EcPoint};
    use openssl::pkey::PKey;
    let trimmed = bytes.trim_ascii_start();
    let key = if trimmed.starts_with(b"-----") {
        PKey::public_key_from_pem(trimmed).map_err(|_| "not a PEM public key".to_owned())?
    } else if matches!(bytes.len(), 64 | 65) && (bytes.len() == 64 || bytes[0] == 4) {
        let point = if bytes.len() == 64 { [&[4u8][..], bytes].concat() } else { bytes.to_vec() };
        let group = EcGroup::from_curve_name(openssl::nid::Nid::X9_62_PRIME256V1).map_err(|e| e.to_string())?;
        let mut cx = openssl::bn::BigNumContext::new().map_err(|e| e.to_string())?;
        let point = EcPoint::from_bytes(&group, &point, &mut cx).map_err(|_| "not a point of P-256".to_owned())?;
        let ec = EcKey::from_public_key(&group, &point).map_err(|_| "not a point of P-256".to_owned())?;
        PKey::from_ec_key(ec).map_err(|e| e.to_string())?
    } else {
        PKey::public_key_from_der(bytes).map_err(|_| "not a DER SubjectPublicKeyInfo".to_owned())?
    };
    key.public_key_to_der().map_err(|e| e.to_string())
}

/// A private key from PEM or DER (PKCS #8 or SEC 1).
pub fn private_key(bytes: &[u8]) -> Result<openssl::pkey::PKey<openssl::pkey::Private>, String> {
    let trimmed = bytes.trim_ascii_start();
    let parsed = if trimmed.starts_with(b"-----") {
        openssl::pkey::PKey::private_key_from_pem(trimmed)
    } else {
        openssl::pkey::PKey::private_key_from_der(bytes)
    };
    parsed.map_err(|_| "not a private key (PEM or DER)".to_owned())
}

/// A short, stable name of a raw public key for logs: the first bytes of its SHA-256.
pub fn fingerprint(spki: &[u8]) -> String {
    use sha2::Digest;
    let digest = Sha256::digest(spki);
    format!("sha256:{}", unidm_core::hex::encode(&digest[..8]))
}

/// Who a DTLS peer proved to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PeerIdentity {
    /// A PSK identity the store knows.
    Psk(Vec<u8>),
    /// A raw public key (DER `SubjectPublicKeyInfo`) the store knows.
    RawPublicKey(Vec<u8>),
    /// The subject CN of a client certificate a trusted CA signed.
    Certificate(String),
    /// Nothing (a certificate suite without a client certificate).
    Anonymous,
}

/// Why a DTLS context could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum DtlsSetupError {
    /// OpenSSL refused something.
    #[error("{0}")]
    Ssl(#[from] openssl::error::ErrorStack),
    /// A key is unusable; says why.
    #[error("{0}")]
    Key(String),
}

/// The identity of a finished handshake (a resumed one too: the session keeps it).
fn peer_identity(ssl: &openssl::ssl::SslRef) -> PeerIdentity {
    use foreign_types_shared::ForeignTypeRef;
    if let Some(id) = ssl.psk_identity().filter(|i| !i.is_empty()) {
        return PeerIdentity::Psk(id.to_vec());
    }
    let verified = ssl.verify_result() == openssl::x509::X509VerifyResult::OK;
    // SAFETY: the key belongs to the connection's session, live while `ssl` is.
    if let Some(key) = unsafe { spki_of(ffi::SSL_get0_peer_rpk(ssl.as_ptr())) } {
        return if verified { PeerIdentity::RawPublicKey(key) } else { PeerIdentity::Anonymous };
    }
    let cn = ssl.peer_certificate().filter(|_| verified).and_then(|c| {
        c.subject_name().entries_by_nid(openssl::nid::Nid::COMMONNAME).next().and_then(|e| e.data().to_string().ok())
    });
    cn.map_or(PeerIdentity::Anonymous, PeerIdentity::Certificate)
}

/// The path MTU assumed (IPv6 minimum 1280 less headers).
const MTU: u32 = 1200;

/// Longest PSK identity and key taken (RFC 4279 §5.3: identities up to 128 bytes, keys 64).
pub const MAX_IDENTITY: usize = 128;
/// Longest key.
pub const MAX_KEY: usize = 64;

/// One PSK credential: the identity a client presents, its key, and the LwM2M endpoint it may
/// register as.
#[derive(Clone, PartialEq, Eq)]
pub struct Psk {
    /// The endpoint client name this identity may register (`None`: any).
    pub endpoint: Option<String>,
    /// The key.
    pub key: Vec<u8>,
}

impl std::fmt::Debug for Psk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key.
        f.debug_struct("Psk").field("endpoint", &self.endpoint).field("key", &"<secret>").finish()
    }
}

/// A raw public key credential (RFC 7250): the LwM2M endpoint its holder may register as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rpk {
    /// The endpoint client name this key may register (`None`: any).
    pub endpoint: Option<String>,
}

/// A credential bound to an endpoint (or to none).
pub trait Bound: Clone {
    /// The endpoint it may register as (`None`: any no other credential is bound to).
    fn endpoint(&self) -> Option<&str>;
}

impl Bound for Psk {
    fn endpoint(&self) -> Option<&str> {
        self.endpoint.as_deref()
    }
}

impl Bound for Rpk {
    fn endpoint(&self) -> Option<&str> {
        self.endpoint.as_deref()
    }
}

/// The credentials the server knows, by what a client presents (a PSK identity, or a raw
/// public key's DER `SubjectPublicKeyInfo`); shared with whoever sets them (the API).
#[derive(Debug)]
pub struct Identities<T>(Arc<RwLock<HashMap<Vec<u8>, T>>>);

/// The PSK identities the server knows.
pub type PskStore = Identities<Psk>;
/// The raw public keys the server knows.
pub type RpkStore = Identities<Rpk>;

impl<T> Default for Identities<T> {
    fn default() -> Self {
        Identities(Arc::default())
    }
}

/// A clone is the same store.
impl<T> Clone for Identities<T> {
    fn clone(&self) -> Self {
        Identities(self.0.clone())
    }
}

/// Two stores are equal when they are the same store.
impl<T> PartialEq for Identities<T> {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl<T> Eq for Identities<T> {}

impl<T: Bound> Identities<T> {
    /// Sets (or replaces) an identity's credential.
    pub fn set(&self, identity: &[u8], credential: T) {
        self.0.write().unwrap_or_else(|e| e.into_inner()).insert(identity.to_vec(), credential);
    }

    /// Removes an identity; answers whether it was there.
    pub fn remove(&self, identity: &[u8]) -> bool {
        self.0.write().unwrap_or_else(|e| e.into_inner()).remove(identity).is_some()
    }

    /// The credential of an identity.
    pub fn get(&self, identity: &[u8]) -> Option<T> {
        self.0.read().unwrap_or_else(|e| e.into_inner()).get(identity).cloned()
    }

    /// Whether some identity is bound to `endpoint` (then the endpoint must use DTLS).
    pub fn binds(&self, endpoint: &str) -> bool {
        self.0.read().unwrap_or_else(|e| e.into_inner()).values().any(|p| p.endpoint() == Some(endpoint))
    }

    /// Every identity known.
    pub fn identities(&self) -> Vec<Vec<u8>> {
        self.0.read().unwrap_or_else(|e| e.into_inner()).keys().cloned().collect()
    }

    /// The identities bound to `endpoint`.
    pub fn identities_of(&self, endpoint: &str) -> Vec<Vec<u8>> {
        let map = self.0.read().unwrap_or_else(|e| e.into_inner());
        map.iter().filter(|(_, p)| p.endpoint() == Some(endpoint)).map(|(i, _)| i.clone()).collect()
    }

    /// How many identities are known.
    pub fn len(&self) -> usize {
        self.0.read().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Limits of a [`DtlsServer`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DtlsLimits {
    /// Handshakes in progress at once; a new one evicts the oldest (default 1,024).
    pub max_handshakes: usize,
    /// Established sessions at once; past it new handshakes are refused (default 100,000).
    pub max_sessions: usize,
    /// New handshakes per source address per second (default 20).
    pub handshakes_per_source: u32,
    /// A handshake not finished in this long is dropped (default 30 s).
    pub handshake_timeout: Duration,
    /// A session that carried nothing for this long is dropped (default 24 h; LwM2M clients
    /// resume with a new handshake).
    pub idle_timeout: Duration,
}

impl Default for DtlsLimits {
    fn default() -> Self {
        DtlsLimits {
            max_handshakes: 1024,
            max_sessions: 100_000,
            handshakes_per_source: 20,
            handshake_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(24 * 3600),
        }
    }
}

/// A peer's datagram pipe: a read takes one queued datagram (would-block when none), a write
/// is one datagram out.
#[derive(Debug, Default)]
struct Pipe {
    inbound: VecDeque<Vec<u8>>,
    outbound: Vec<Vec<u8>>,
}

impl Read for Pipe {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.inbound.pop_front() {
            Some(d) => {
                let n = d.len().min(buf.len());
                buf[..n].copy_from_slice(&d[..n]);
                Ok(n)
            }
            None => Err(io::ErrorKind::WouldBlock.into()),
        }
    }
}

impl Write for Pipe {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.outbound.push(buf.to_vec());
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

enum Conn {
    Handshaking(MidHandshakeSslStream<Pipe>),
    Open(SslStream<Pipe>),
}

impl Conn {
    fn pipe(&mut self) -> &mut Pipe {
        match self {
            Conn::Handshaking(m) => m.get_mut(),
            Conn::Open(s) => s.get_mut(),
        }
    }

    fn ssl(&self) -> &openssl::ssl::SslRef {
        match self {
            Conn::Handshaking(m) => m.ssl(),
            Conn::Open(s) => s.ssl(),
        }
    }
}

/// What a handshake step left.
enum Step {
    Open(SslStream<Pipe>),
    Pending(MidHandshakeSslStream<Pipe>),
    Failed(String),
}

fn step(r: Result<SslStream<Pipe>, HandshakeError<Pipe>>) -> Step {
    match r {
        Ok(s) => Step::Open(s),
        Err(HandshakeError::WouldBlock(m)) => Step::Pending(m),
        Err(HandshakeError::Failure(m)) => Step::Failed(m.error().to_string()),
        Err(HandshakeError::SetupFailure(e)) => Step::Failed(e.to_string()),
    }
}

/// Reads every application datagram the pipe holds.
fn read_app(s: &mut SslStream<Pipe>, out: &mut Vec<Vec<u8>>) -> Result<(), String> {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        if s.get_ref().inbound.is_empty() {
            return Ok(());
        }
        match s.ssl_read(&mut buf) {
            Ok(0) => return Err("closed by the peer".into()),
            Ok(n) => out.push(buf[..n].to_vec()),
            Err(e) if e.code() == ErrorCode::WANT_READ => return Ok(()),
            Err(e) if e.code() == ErrorCode::ZERO_RETURN => return Err("closed by the peer".into()),
            // OpenSSL drops records that do not authenticate by itself (RFC 6347 §4.1.2.7); an
            // error here is fatal to the session (OpenSSL will not read it again), so it ends
            // rather than being read in a loop.
            Err(e) => return Err(e.to_string()),
        }
    }
}

/// Lets OpenSSL retransmit a handshake flight whose timer ran out (`DTLSv1_handle_timeout`).
fn handle_dtls_timeout(ssl: &openssl::ssl::SslRef) {
    use foreign_types_shared::ForeignTypeRef;
    const DTLS_CTRL_HANDLE_TIMEOUT: std::os::raw::c_int = 74;
    // SAFETY: `ssl` is a live SSL owned by the connection; the control takes no argument.
    unsafe {
        openssl_sys::SSL_ctrl(ssl.as_ptr(), DTLS_CTRL_HANDLE_TIMEOUT, 0, std::ptr::null_mut());
    }
}

/// An event of the server side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DtlsEvent {
    /// A handshake completed.
    Established {
        /// The client's address.
        peer: SocketAddr,
        /// Who it proved to be.
        identity: PeerIdentity,
    },
    /// A handshake failed or a session ended.
    Closed {
        /// The client's address.
        peer: SocketAddr,
        /// Why (never a secret).
        reason: String,
    },
}

struct Session {
    conn: Conn,
    last: Instant,
    started: Instant,
    identity: Option<PeerIdentity>,
}

/// The server side of DTLS for many peers on one socket.
pub struct DtlsServer {
    ctx: SslContext,
    peer_index: Index<Ssl, SocketAddr>,
    limits: DtlsLimits,
    sessions: HashMap<SocketAddr, Session>,
    /// Open sessions whose client started a new handshake from the same address (a client
    /// that restarted, or a NAT that gave its port to another): kept, and used, until the new
    /// handshake completes (then dropped) or fails (then back), RFC 6347 §4.2.8.
    replaced: HashMap<SocketAddr, Session>,
    /// Handshakes in progress, oldest first.
    handshaking: VecDeque<SocketAddr>,
    /// New handshakes per source address in the current second.
    rate: HashMap<std::net::IpAddr, u32>,
    rate_second: Option<Instant>,
    transmits: Vec<(SocketAddr, Vec<u8>)>,
    events: VecDeque<DtlsEvent>,
    open: usize,
}

impl std::fmt::Debug for DtlsServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DtlsServer").field("sessions", &self.sessions.len()).finish_non_exhaustive()
    }
}

type HmacSha256 = Hmac<Sha256>;

fn cookie(secret: &[u8; 32], peer: SocketAddr) -> [u8; 16] {
    let mut mac = HmacSha256::new_from_slice(secret).expect("any key length");
    mac.update(peer.to_string().as_bytes());
    let tag = mac.finalize().into_bytes();
    let mut c = [0u8; 16];
    c.copy_from_slice(&tag[..16]);
    c
}

impl DtlsServer {
    /// A server that knows the identities of `psks`; with `x509` it also takes client
    /// certificates its CAs signed, and with `rpk` (its own raw key pair) the raw public keys
    /// of `rpks`.
    pub fn new(
        psks: PskStore,
        limits: DtlsLimits,
        x509: Option<&X509Settings>,
        rpk: Option<(&[u8], RpkStore)>,
    ) -> Result<DtlsServer, DtlsSetupError> {
        let peer_index = Ssl::new_ex_index::<SocketAddr>()?;
        let mut b = SslContextBuilder::new(SslMethod::dtls())?;
        b.set_options(SslOptions::COOKIE_EXCHANGE | SslOptions::NO_QUERY_MTU | SslOptions::NO_TICKET);
        // Sessions stay in OpenSSL's server cache so that a client coming back (from a new
        // address, say) resumes with an abbreviated handshake; the context names whose they
        // are (without one, resuming a certificate session would fail the handshake).
        b.set_session_id_context(b"unidm-lwm2m")?;
        if let Some(x) = x509 {
            use_x509(&mut b, x)?;
        }
        let rpks = match rpk {
            Some((key, rpks)) => {
                let key = private_key(key).map_err(DtlsSetupError::Key)?;
                if key.id() != openssl::pkey::Id::EC {
                    return Err(DtlsSetupError::Key("the raw public key must be an EC key (ECDSA)".into()));
                }
                if let Some(x) = x509 {
                    // One EC key per context: with a certificate, the raw public key is the
                    // certificate's.
                    if !private_key(&x.key_pem).is_ok_and(|k| k.public_eq(&key)) {
                        return Err(DtlsSetupError::Key(
                            "with a certificate, the raw public key must be the certificate's key".into(),
                        ));
                    }
                } else {
                    b.set_private_key(&key)?;
                }
                Some(rpks)
            }
            None => None,
        };
        use ffi::{CERT_TYPE_RPK as RPK, CERT_TYPE_X509 as X509};
        match (x509.is_some(), rpks.is_some()) {
            (true, true) => set_cert_types(&mut b, &[X509, RPK], &[X509, RPK])?,
            (false, true) => set_cert_types(&mut b, &[RPK], &[RPK])?,
            _ => {}
        }
        if x509.is_some() || rpks.is_some() {
            // PSK suites first: a client offering both keeps the cheaper handshake.
            let psk_ciphers = PSK_CIPHERS.trim_end_matches(":@SECLEVEL=0");
            b.set_cipher_list(&format!("{psk_ciphers}:{CERT_CIPHERS}"))?;
            // Asked for and checked (certificates against the CAs, raw keys against the
            // store); a client without one is anonymous and may not register.
            b.set_verify_callback(SslVerifyMode::PEER, move |ok, ctx| match verified_rpk(ctx) {
                _ if !strong_enough(ctx) => false,
                None => ok,
                Some(key) => {
                    let known = rpks.as_ref().is_some_and(|r| r.get(&key).is_some());
                    if known {
                        ctx.set_error(openssl::x509::X509VerifyResult::OK);
                    } else {
                        tracing::info!(key = %fingerprint(&key), "DTLS: unknown raw public key");
                    }
                    known
                }
            });
        } else {
            b.set_cipher_list(PSK_CIPHERS)?;
            b.set_verify(SslVerifyMode::NONE);
        }
        b.set_mode(SslMode::RELEASE_BUFFERS);
        let secret: [u8; 32] = unidm_core::secret::bytes();
        b.set_cookie_generate_cb(move |ssl, buf| {
            let Some(peer) = ssl.ex_data(peer_index).copied() else { return Ok(0) };
            let c = cookie(&secret, peer);
            buf[..c.len()].copy_from_slice(&c);
            Ok(c.len())
        });
        b.set_cookie_verify_cb(move |ssl, got| {
            ssl.ex_data(peer_index).is_some_and(|peer| {
                let want = cookie(&secret, *peer);
                openssl::memcmp::eq(&want, got.get(..16).unwrap_or(&[0; 16])) && got.len() == 16
            })
        });
        b.set_psk_server_callback(move |_ssl, identity, key_out| {
            let Some(identity) = identity.filter(|i| !i.is_empty() && i.len() <= MAX_IDENTITY) else {
                return Ok(0);
            };
            let Some(psk) = psks.get(identity) else {
                tracing::info!(identity = %String::from_utf8_lossy(identity), "DTLS: unknown PSK identity");
                return Ok(0);
            };
            if psk.key.len() > key_out.len() {
                return Ok(0);
            }
            key_out[..psk.key.len()].copy_from_slice(&psk.key);
            Ok(psk.key.len())
        });
        Ok(DtlsServer {
            ctx: b.build(),
            peer_index,
            limits,
            sessions: HashMap::new(),
            handshaking: VecDeque::new(),
            rate: HashMap::new(),
            rate_second: None,
            transmits: Vec::new(),
            events: VecDeque::new(),
            open: 0,
            replaced: HashMap::new(),
        })
    }

    /// A datagram from `peer`: the application datagrams it carried (a handshake step carries
    /// none).
    pub fn handle_datagram(&mut self, now: Instant, peer: SocketAddr, datagram: &[u8]) -> Vec<Vec<u8>> {
        let mut app = Vec::new();
        // DTLS records start with a content type of 20-25 (RFC 6347 §4.1); anything else is not
        // ours.
        if datagram.len() < 13 || !(20..=25).contains(&datagram[0]) {
            return app;
        }
        // A ClientHello: a handshake record (22) of epoch 0 whose message is type 1.
        let client_hello = datagram[0] == 22 && datagram[3..5] == [0, 0] && datagram.get(13) == Some(&1);
        if self.replaced.contains_key(&peer) && datagram[0] == 23 {
            // Application data while the client's new handshake runs: the old session's.
            return self.old_session_data(now, peer, datagram);
        }
        let open = self.sessions.get(&peer).is_some_and(|s| matches!(s.conn, Conn::Open(_)));
        if open && client_hello {
            // A new handshake on an established association (RFC 6347 §4.2.8): it starts
            // beside the session (cookie exchange first), which lasts until it completes.
            if !self.admit(now, peer) {
                return app;
            }
            let Some(conn) = self.start(peer) else { return app };
            if let Some(old) = self.sessions.insert(peer, Session { conn, last: now, started: now, identity: None }) {
                self.replaced.insert(peer, old);
            }
            self.handshaking.push_back(peer);
        }
        if !self.sessions.contains_key(&peer) {
            // Only a ClientHello (handshake record, epoch 0) opens a session.
            if datagram[0] != 22 || datagram[3..5] != [0, 0] || !self.admit(now, peer) {
                return app;
            }
            match self.start(peer) {
                Some(s) => {
                    self.sessions.insert(peer, Session { conn: s, last: now, started: now, identity: None });
                    self.handshaking.push_back(peer);
                }
                None => return app,
            }
        }
        let Some(s) = self.sessions.remove(&peer) else { return app };
        let Session { mut conn, started, mut identity, .. } = s;
        let was_open = matches!(conn, Conn::Open(_));
        conn.pipe().inbound.push_back(datagram.to_vec());
        let result = match conn {
            Conn::Handshaking(m) => match step(m.handshake()) {
                Step::Open(mut stream) => {
                    let id = peer_identity(stream.ssl());
                    self.handshaking.retain(|p| *p != peer);
                    if self.replaced.remove(&peer).is_none() {
                        // (A replaced session's place in the count goes to its successor.)
                        self.open += 1;
                    }
                    self.events.push_back(DtlsEvent::Established { peer, identity: id.clone() });
                    identity = Some(id);
                    let r = read_app(&mut stream, &mut app);
                    r.map(|()| Conn::Open(stream))
                }
                Step::Pending(m) => Ok(Conn::Handshaking(m)),
                Step::Failed(reason) => Err(reason),
            },
            Conn::Open(mut stream) => read_app(&mut stream, &mut app).map(|()| Conn::Open(stream)),
        };
        match result {
            Ok(conn) => {
                let mut s = Session { conn, last: now, started, identity };
                self.flush(peer, &mut s);
                self.sessions.insert(peer, s);
            }
            Err(reason) => {
                if was_open || identity.is_some() {
                    self.open = self.open.saturating_sub(1);
                } else {
                    self.handshaking.retain(|p| *p != peer);
                }
                tracing::debug!(%peer, %reason, "DTLS session ended");
                self.events.push_back(DtlsEvent::Closed { peer, reason });
                self.restore_replaced(peer);
            }
        }
        app
    }

    /// An application record for the session a new handshake from `peer` may replace.
    fn old_session_data(&mut self, now: Instant, peer: SocketAddr, datagram: &[u8]) -> Vec<Vec<u8>> {
        let mut app = Vec::new();
        let Some(mut old) = self.replaced.remove(&peer) else { return app };
        old.conn.pipe().inbound.push_back(datagram.to_vec());
        let ok = match &mut old.conn {
            Conn::Open(stream) => read_app(stream, &mut app).is_ok(),
            Conn::Handshaking(_) => false,
        };
        if ok {
            old.last = now;
            self.flush(peer, &mut old);
            self.replaced.insert(peer, old);
        } else {
            self.open = self.open.saturating_sub(1);
        }
        app
    }

    /// The session a failed or abandoned new handshake from `peer` was to replace, back in
    /// place.
    fn restore_replaced(&mut self, peer: SocketAddr) {
        if self.sessions.get(&peer).is_some_and(|s| matches!(s.conn, Conn::Handshaking(_))) {
            return;
        }
        if let Some(old) = self.replaced.remove(&peer) {
            self.sessions.insert(peer, old);
        }
    }

    /// Whether a new handshake from `peer` may start now.
    fn admit(&mut self, now: Instant, peer: SocketAddr) -> bool {
        if self.open >= self.limits.max_sessions {
            return false;
        }
        if self.rate_second.is_none_or(|t| now.duration_since(t) >= Duration::from_secs(1)) {
            self.rate.clear();
            self.rate_second = Some(now);
        }
        let n = self.rate.entry(peer.ip()).or_default();
        *n += 1;
        if *n > self.limits.handshakes_per_source {
            return false;
        }
        while self.handshaking.len() >= self.limits.max_handshakes.max(1) {
            let Some(oldest) = self.handshaking.pop_front() else { break };
            self.sessions.remove(&oldest);
            self.restore_replaced(oldest);
        }
        true
    }

    fn start(&mut self, peer: SocketAddr) -> Option<Conn> {
        let mut ssl = Ssl::new(&self.ctx).ok()?;
        ssl.set_ex_data(self.peer_index, peer);
        ssl.set_mtu(MTU).ok()?;
        match step(ssl.accept(Pipe::default())) {
            Step::Pending(m) => Some(Conn::Handshaking(m)),
            Step::Open(s) => Some(Conn::Open(s)),
            Step::Failed(_) => None,
        }
    }

    fn flush(&mut self, peer: SocketAddr, s: &mut Session) {
        for d in s.conn.pipe().outbound.drain(..) {
            self.transmits.push((peer, d));
        }
    }

    fn close_session(&mut self, peer: SocketAddr, reason: &str) -> Option<()> {
        let mut s = self.sessions.remove(&peer)?;
        if let Conn::Open(stream) = &mut s.conn {
            // An idle session ends cleanly: the client may resume it later.
            stream.set_shutdown(ShutdownState::SENT | ShutdownState::RECEIVED);
        }
        self.flush(peer, &mut s);
        if matches!(s.conn, Conn::Open(_)) {
            self.open = self.open.saturating_sub(1);
        } else {
            self.handshaking.retain(|p| *p != peer);
        }
        self.events.push_back(DtlsEvent::Closed { peer, reason: reason.to_owned() });
        self.restore_replaced(peer);
        Some(())
    }

    /// Encrypts an application datagram to `peer`; false when it has no open session.
    pub fn send(&mut self, peer: SocketAddr, datagram: &[u8]) -> bool {
        // While a new handshake runs, the session it is to replace still carries.
        let replacing = self.replaced.contains_key(&peer);
        let table = if replacing { &mut self.replaced } else { &mut self.sessions };
        let Some(mut s) = table.remove(&peer) else { return false };
        let sent = match &mut s.conn {
            Conn::Open(stream) => stream.ssl_write(datagram).is_ok(),
            Conn::Handshaking(_) => false,
        };
        self.flush(peer, &mut s);
        let table = if replacing { &mut self.replaced } else { &mut self.sessions };
        table.insert(peer, s);
        sent
    }

    /// The open session of `peer`: the one a new handshake is to replace, while it runs.
    fn open_session(&self, peer: &SocketAddr) -> Option<&Session> {
        self.replaced.get(peer).or_else(|| self.sessions.get(peer)).filter(|s| matches!(s.conn, Conn::Open(_)))
    }

    /// Whether `peer` has an open session.
    pub fn is_open(&self, peer: &SocketAddr) -> bool {
        self.open_session(peer).is_some()
    }

    /// The cipher suite of `peer`'s session (OpenSSL's name).
    pub fn cipher(&self, peer: &SocketAddr) -> Option<&'static str> {
        self.open_session(peer).and_then(|s| s.conn.ssl().current_cipher()).map(|c| c.name())
    }

    /// Who `peer`'s open session proved to be.
    pub fn identity(&self, peer: &SocketAddr) -> Option<&PeerIdentity> {
        self.open_session(peer).and_then(|s| s.identity.as_ref())
    }

    /// Drops expired handshakes and idle sessions, and retransmits handshake flights whose
    /// timer ran out.
    pub fn handle_timeout(&mut self, now: Instant) {
        let expired: Vec<(SocketAddr, &'static str)> = self
            .sessions
            .iter()
            .filter_map(|(p, s)| match s.conn {
                Conn::Handshaking(_) if now.duration_since(s.started) >= self.limits.handshake_timeout => {
                    Some((*p, "handshake timed out"))
                }
                Conn::Open(_) if now.duration_since(s.last) >= self.limits.idle_timeout => Some((*p, "idle")),
                _ => None,
            })
            .collect();
        for (p, why) in expired {
            self.close_session(p, why);
        }
        let pending: Vec<SocketAddr> = self.handshaking.iter().copied().collect();
        for p in pending {
            if let Some(mut s) = self.sessions.remove(&p) {
                handle_dtls_timeout(s.conn.ssl());
                self.flush(p, &mut s);
                self.sessions.insert(p, s);
            }
        }
    }

    /// Every datagram to send, in order.
    pub fn drain_transmits(&mut self) -> Vec<(SocketAddr, Vec<u8>)> {
        std::mem::take(&mut self.transmits)
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<DtlsEvent> {
        self.events.pop_front()
    }

    /// Sessions open, handshakes in progress.
    pub fn counts(&self) -> (usize, usize) {
        (self.open, self.handshaking.len())
    }
}

/// The client side: one session per server address.
pub struct DtlsClient {
    ctx: SslContext,
    sessions: HashMap<SocketAddr, (Conn, Vec<Vec<u8>>)>,
    transmits: Vec<(SocketAddr, Vec<u8>)>,
    /// The last session with each server, offered again when a new connection starts (an
    /// abbreviated handshake).
    resumable: HashMap<SocketAddr, openssl::ssl::SslSession>,
}

impl std::fmt::Debug for DtlsClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DtlsClient").field("sessions", &self.sessions.len()).finish_non_exhaustive()
    }
}

impl DtlsClient {
    /// A client presenting `identity` with `key`.
    pub fn psk(identity: &[u8], key: &[u8]) -> Result<DtlsClient, openssl::error::ErrorStack> {
        let mut b = SslContextBuilder::new(SslMethod::dtls())?;
        b.set_cipher_list(PSK_CIPHERS)?;
        b.set_options(SslOptions::NO_QUERY_MTU | SslOptions::NO_TICKET);
        b.set_verify(SslVerifyMode::NONE);
        let (identity, key) = (identity.to_vec(), key.to_vec());
        b.set_psk_client_callback(move |_ssl, _hint, id_out, key_out| {
            // The identity is written NUL-terminated.
            if identity.len() >= id_out.len() || key.len() > key_out.len() {
                return Ok(0);
            }
            id_out[..identity.len()].copy_from_slice(&identity);
            id_out[identity.len()] = 0;
            key_out[..key.len()].copy_from_slice(&key);
            Ok(key.len())
        });
        Ok(DtlsClient { ctx: b.build(), sessions: HashMap::new(), transmits: Vec::new(), resumable: HashMap::new() })
    }

    /// A client presenting a certificate, and checking the server's against `x509.ca_pem`.
    pub fn x509(x509: &X509Settings) -> Result<DtlsClient, openssl::error::ErrorStack> {
        let mut b = SslContextBuilder::new(SslMethod::dtls())?;
        b.set_cipher_list(CERT_CIPHERS)?;
        b.set_options(SslOptions::NO_QUERY_MTU | SslOptions::NO_TICKET);
        use_x509(&mut b, x509)?;
        b.set_verify_callback(SslVerifyMode::PEER, |ok, ctx| ok && strong_enough(ctx));
        Ok(DtlsClient { ctx: b.build(), sessions: HashMap::new(), transmits: Vec::new(), resumable: HashMap::new() })
    }

    /// A client presenting the raw public key of `key` (PEM or DER private key), and accepting
    /// only a server whose raw public key is `server_key` (PEM, DER or a P-256 point), as the
    /// LwM2M Security object gives them (`/0/x/5`, `/0/x/4`).
    pub fn rpk(key: &[u8], server_key: &[u8]) -> Result<DtlsClient, DtlsSetupError> {
        let key = private_key(key).map_err(DtlsSetupError::Key)?;
        let expected = spki(server_key).map_err(DtlsSetupError::Key)?;
        let mut b = SslContextBuilder::new(SslMethod::dtls())?;
        b.set_cipher_list(CERT_CIPHERS)?;
        b.set_options(SslOptions::NO_QUERY_MTU | SslOptions::NO_TICKET);
        b.set_private_key(&key)?;
        set_cert_types(&mut b, &[ffi::CERT_TYPE_RPK], &[ffi::CERT_TYPE_RPK])?;
        b.set_verify_callback(SslVerifyMode::PEER, move |_, ctx| {
            let matches = strong_enough(ctx) && verified_rpk(ctx).is_some_and(|k| k == expected);
            if matches {
                ctx.set_error(openssl::x509::X509VerifyResult::OK);
            }
            matches
        });
        Ok(DtlsClient { ctx: b.build(), sessions: HashMap::new(), transmits: Vec::new(), resumable: HashMap::new() })
    }

    /// Encrypts a datagram to `server`, starting a handshake first when there is no session
    /// (the datagram waits for it).
    pub fn send(&mut self, server: SocketAddr, datagram: &[u8]) -> io::Result<()> {
        if !self.sessions.contains_key(&server) {
            let mut ssl = Ssl::new(&self.ctx).map_err(io::Error::other)?;
            ssl.set_mtu(MTU).map_err(io::Error::other)?;
            if let Some(session) = self.resumable.get(&server) {
                // SAFETY: the session comes from a connection of this client's own context.
                if let Err(e) = unsafe { ssl.set_session(session) } {
                    tracing::debug!(error = %e, "DTLS session not offered for resumption");
                }
            }
            let conn = match step(ssl.connect(Pipe::default())) {
                Step::Pending(m) => Conn::Handshaking(m),
                Step::Open(s) => Conn::Open(s),
                Step::Failed(e) => return Err(io::Error::other(e)),
            };
            self.sessions.insert(server, (conn, Vec::new()));
        }
        let Some((conn, queued)) = self.sessions.get_mut(&server) else { return Ok(()) };
        match conn {
            Conn::Open(s) => {
                s.ssl_write(datagram).map_err(io::Error::other)?;
            }
            Conn::Handshaking(_) => queued.push(datagram.to_vec()),
        }
        self.flush(server);
        Ok(())
    }

    /// A datagram from `server`: the application datagrams it carried.
    pub fn handle_datagram(&mut self, server: SocketAddr, datagram: &[u8]) -> io::Result<Vec<Vec<u8>>> {
        let mut app = Vec::new();
        let Some((mut conn, mut queued)) = self.sessions.remove(&server) else { return Ok(app) };
        conn.pipe().inbound.push_back(datagram.to_vec());
        let r = match conn {
            Conn::Handshaking(m) => match step(m.handshake()) {
                Step::Open(mut s) => {
                    for d in queued.drain(..) {
                        let _ = s.ssl_write(&d);
                    }
                    let r = read_app(&mut s, &mut app);
                    conn = Conn::Open(s);
                    r
                }
                Step::Pending(m) => {
                    conn = Conn::Handshaking(m);
                    Ok(())
                }
                Step::Failed(e) => return Err(io::Error::other(e)),
            },
            Conn::Open(mut s) => {
                let r = read_app(&mut s, &mut app);
                conn = Conn::Open(s);
                r
            }
        };
        self.sessions.insert(server, (conn, queued));
        self.flush(server);
        match r {
            Ok(()) => Ok(app),
            Err(e) => {
                self.sessions.remove(&server);
                Err(io::Error::other(e))
            }
        }
    }

    /// Retransmits handshake flights whose timer ran out.
    pub fn handle_timeout(&mut self) {
        let servers: Vec<SocketAddr> = self.sessions.keys().copied().collect();
        for s in servers {
            if let Some((conn @ Conn::Handshaking(_), _)) = self.sessions.get_mut(&s) {
                handle_dtls_timeout(conn.ssl());
            }
            self.flush(s);
        }
    }

    /// Whether the session with `server` is open.
    pub fn is_open(&self, server: &SocketAddr) -> bool {
        self.sessions.get(server).is_some_and(|(c, _)| matches!(c, Conn::Open(_)))
    }

    /// Forgets the session with `server` (the next send handshakes again).
    pub fn forget(&mut self, server: &SocketAddr) {
        if let Some((Conn::Open(mut s), _)) = self.sessions.remove(server) {
            // Marked as ended cleanly, so that OpenSSL keeps its session resumable.
            s.set_shutdown(ShutdownState::SENT | ShutdownState::RECEIVED);
            if let Some(session) = s.ssl().session() {
                self.resumable.insert(*server, session.to_owned());
            }
        }
    }

    /// Whether the open session with `server` was resumed (an abbreviated handshake).
    pub fn resumed(&self, server: &SocketAddr) -> bool {
        self.sessions.get(server).is_some_and(|(c, _)| matches!(c, Conn::Open(_)) && c.ssl().session_reused())
    }

    fn flush(&mut self, server: SocketAddr) {
        if let Some((conn, _)) = self.sessions.get_mut(&server) {
            for d in conn.pipe().outbound.drain(..) {
                self.transmits.push((server, d));
            }
        }
    }

    /// Every datagram to send, in order.
    pub fn drain_transmits(&mut self) -> Vec<(SocketAddr, Vec<u8>)> {
        std::mem::take(&mut self.transmits)
    }
}

#[cfg(test)]
mod tests;
