//! The simulated client's side of the Bootstrap Interface (TS Core 1.1 §5.2.7,
//! §6.1), without I/O: Bootstrap-Delete (keeping the bootstrap account), -Discover,
//! -Write and -Finish from the bootstrap server, and the server account it leaves behind.

use std::net::{SocketAddr, ToSocketAddrs};

use coap_lite::{CoapOption, MessageClass, Packet, RequestType, ResponseType};

use super::objects::{Effect, Objects};
use crate::coap::{decode_uint, encode_uint};
use crate::codec::link_format::{self, Link};
use crate::codec::{self, ContentFormat, Limits, Value};
use crate::model::BuiltinModels;
use crate::path::Path;

fn truthy(v: Option<&Value>) -> bool {
    match v {
        Some(Value::Boolean(b)) => *b,
        Some(Value::Integer(i)) => *i != 0,
        Some(Value::Opaque(b)) => b.iter().any(|x| *x != 0),
        _ => false,
    }
}

fn text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s.clone()),
        Value::Opaque(b) => String::from_utf8(b.clone()).ok(),
        _ => None,
    }
}

impl Objects {
    /// Adds the bootstrap account `/0/0` (Bootstrap-Server true) unless one exists.
    pub fn ensure_bootstrap_account(&mut self, bootstrap: SocketAddr) {
        if self.bootstrap_instances().is_empty() {
            self.values.insert(Path::Resource(0, 0, 0), Value::String(format!("coap://{bootstrap}")));
            self.values.insert(Path::Resource(0, 0, 1), Value::Boolean(true));
            self.values.insert(Path::Resource(0, 0, 2), Value::Integer(3));
        }
    }

    fn bootstrap_instances(&self) -> Vec<Path> {
        self.instances()
            .into_iter()
            .filter(|i| i.object_id() == Some(0) && truthy(self.values.get(&i.child(1).unwrap_or(*i))))
            .collect()
    }

    fn server_instance(&self) -> Option<Path> {
        self.instances()
            .into_iter()
            .find(|i| i.object_id() == Some(0) && !truthy(self.values.get(&i.child(1).unwrap_or(*i))))
    }

    /// The first LwM2M server account written by the bootstrap server: its address (from
    /// `coap://host:port`, port 5683 by default, or `coaps://`, 5684) and Short Server ID.
    pub fn server_account(&self) -> Option<(SocketAddr, i64)> {
        let instance = self.server_instance()?;
        let uri = text(self.values.get(&instance.child(0)?))?;
        let addr = uri_address(&uri)?;
        let ssid = match self.values.get(&instance.child(10)?) {
            Some(Value::Integer(i)) => *i,
            Some(Value::Opaque(b)) => b.iter().fold(0i64, |a, x| (a << 8) | i64::from(*x)),
            _ => 0,
        };
        Some((addr, ssid))
    }

    /// The bootstrap server's address, from the bootstrap account `/0/x/0`.
    pub fn bootstrap_server(&self) -> Option<SocketAddr> {
        let instance = *self.bootstrap_instances().first()?;
        uri_address(&text(self.values.get(&instance.child(0)?))?)
    }
}

/// The address of a `coap://host:port` (5683 by default) or `coaps://` (5684) URI.
fn uri_address(uri: &str) -> Option<SocketAddr> {
    {
        let (rest, port) = match uri.strip_prefix("coaps://") {
            Some(r) => (r, 5684),
            None => (uri.strip_prefix("coap://")?, 5683),
        };
        let authority = rest.split('/').next()?;
        let with_port = if authority.rsplit_once(':').is_some_and(|(_, p)| p.parse::<u16>().is_ok()) {
            authority.to_owned()
        } else {
            format!("{authority}:{port}")
        };
        with_port.to_socket_addrs().ok()?.next()
    }
}

/// What a client needs to talk DTLS to its server, from the Security object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerSecurity {
    /// A pre-shared key.
    Psk {
        /// `/0/x/3`.
        identity: Vec<u8>,
        /// `/0/x/5`.
        key: Vec<u8>,
    },
    /// A raw public key.
    Rpk {
        /// The client's private key `/0/x/5`.
        secret_key: Vec<u8>,
        /// The server's public key `/0/x/4`.
        server_key: Vec<u8>,
    },
    /// A certificate.
    X509 {
        /// The client's certificate `/0/x/3`, DER.
        certificate: Vec<u8>,
        /// The client's private key `/0/x/5`, DER (or PEM).
        secret_key: Vec<u8>,
        /// The certificate the server's chain must lead to `/0/x/4`, DER.
        server_certificate: Vec<u8>,
    },
}

impl ServerSecurity {
    /// A DTLS client with these credentials.
    pub fn client(&self) -> std::io::Result<crate::dtls::DtlsClient> {
        match self {
            ServerSecurity::Psk { identity, key } => {
                crate::dtls::DtlsClient::psk(identity, key).map_err(std::io::Error::other)
            }
            ServerSecurity::Rpk { secret_key, server_key } => {
                crate::dtls::DtlsClient::rpk(secret_key, server_key).map_err(std::io::Error::other)
            }
            ServerSecurity::X509 { certificate, secret_key, server_certificate } => {
                let pem = |der: &[u8]| openssl::x509::X509::from_der(der).and_then(|c| c.to_pem());
                let key = crate::dtls::private_key(secret_key).map_err(std::io::Error::other)?;
                let settings = crate::dtls::X509Settings {
                    cert_pem: pem(certificate).map_err(std::io::Error::other)?,
                    key_pem: key.private_key_to_pem_pkcs8().map_err(std::io::Error::other)?,
                    ca_pem: pem(server_certificate).map_err(std::io::Error::other)?,
                };
                crate::dtls::DtlsClient::x509(&settings).map_err(std::io::Error::other)
            }
        }
    }
}

impl Objects {
    /// The DTLS credentials of the server account: a PSK identity `/0/x/3` and key `/0/x/5`
    /// when its Security Mode `/0/x/2` is 0, the client's private key `/0/x/5` and the server's
    /// public key `/0/x/4` when it is 1 (RPK), the client's certificate `/0/x/3`, its key
    /// `/0/x/5` and the server's certificate `/0/x/4` when it is 2.
    pub fn server_security(&self) -> Option<ServerSecurity> {
        let instance = self.server_instance()?;
        // Values written in TLV are kept untyped (opaque): a big-endian integer then.
        let mode = match self.values.get(&instance.child(2)?) {
            Some(Value::Integer(m)) => *m,
            Some(Value::Opaque(b)) if !b.is_empty() && b.len() <= 8 => {
                b.iter().fold(0i64, |a, x| (a << 8) | i64::from(*x))
            }
            _ => return None,
        };
        let bytes = |res: u16| match self.values.get(&instance.child(res)?) {
            Some(Value::Opaque(b)) => Some(b.clone()),
            Some(Value::String(s)) => Some(s.clone().into_bytes()),
            _ => None,
        };
        match mode {
            0 => Some(ServerSecurity::Psk { identity: bytes(3)?, key: bytes(5)? }),
            1 => Some(ServerSecurity::Rpk { secret_key: bytes(5)?, server_key: bytes(4)? }),
            2 => Some(ServerSecurity::X509 {
                certificate: bytes(3)?,
                secret_key: bytes(5)?,
                server_certificate: bytes(4)?,
            }),
            _ => None,
        }
    }

    /// Answers a request from the bootstrap server.
    pub fn handle_bootstrap(&mut self, request: &Packet, response: &mut Packet) -> Vec<Effect> {
        let mut effects = Vec::new();
        let code = self.bootstrap_answer(request, response, &mut effects).unwrap_or_else(|c| c);
        response.header.code = MessageClass::Response(code);
        effects
    }

    fn bootstrap_answer(
        &mut self,
        request: &Packet,
        response: &mut Packet,
        effects: &mut Vec<Effect>,
    ) -> Result<ResponseType, ResponseType> {
        let segments = crate::coap::uri_path(request);
        let MessageClass::Request(method) = request.header.code else { return Err(ResponseType::BadRequest) };
        if segments == ["bs"] && method == RequestType::Post {
            effects.push(Effect::BootstrapFinished);
            return Ok(ResponseType::Changed);
        }
        let path = Path::from_segments(&segments).map_err(|_| ResponseType::NotFound)?;
        match method {
            RequestType::Delete => {
                let keep = self.bootstrap_instances();
                let gone = |p: &Path| path.is_prefix_of(p) && !keep.iter().any(|k| k.is_prefix_of(p));
                self.values.retain(|p, _| !gone(p));
                self.attributes.retain(|p, _| !gone(p));
                self.empty_instances.retain(|p| !gone(p));
                Ok(ResponseType::Deleted)
            }
            RequestType::Get if path.depth() <= 1 => {
                let links: Vec<Link> = self
                    .instances()
                    .into_iter()
                    .filter(|i| path.is_prefix_of(i))
                    .map(|i| Link::for_path(&i, Vec::new()))
                    .collect();
                response.add_option(CoapOption::ContentFormat, encode_uint(40));
                response.payload = link_format::encode(&links).into_bytes();
                Ok(ResponseType::Content)
            }
            RequestType::Put if path.depth() >= 2 => {
                let format = request
                    .get_first_option(CoapOption::ContentFormat)
                    .and_then(|v| decode_uint(v))
                    .map(|v| ContentFormat::from(v as u16))
                    .ok_or(ResponseType::BadRequest)?;
                let content = codec::decode(format, &request.payload, &path, &BuiltinModels, &Limits::default())
                    .map_err(|_| ResponseType::BadRequest)?;
                if path.depth() == 2 {
                    self.values.retain(|p, _| !path.is_prefix_of(p));
                }
                for r in content.records {
                    self.values.insert(r.path, r.value);
                }
                Ok(ResponseType::Changed)
            }
            _ => Err(ResponseType::MethodNotAllowed),
        }
    }
}
