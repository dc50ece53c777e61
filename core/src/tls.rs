//! TLS server settings shared by every HTTP endpoint unidm runs (the API, the ACS, the DM
//! server): a certificate chain and key in PEM files, and optionally the CAs whose client
//! certificates are accepted (asked for, not required: a CPE without one still authenticates
//! by password). rustls with the `ring` provider; TLS 1.2 and 1.3.

use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use rustls;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// Where a server's certificate and key are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// PEM certificate chain, leaf first.
    pub cert: PathBuf,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
    /// PEM CA certificates whose client certificates are accepted (optional client auth).
    pub client_ca: Option<PathBuf>,
}

/// Why TLS settings could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read or holds no usable PEM.
    #[error("{path}: {message}")]
    File {
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// rustls refused the certificate and key together.
    #[error("TLS: {0}")]
    Rustls(String),
}

fn file_error(path: &Path, message: impl ToString) -> TlsError {
    TlsError::File { path: path.display().to_string(), message: message.to_string() }
}

/// The certificates of a PEM file.
pub fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs: Vec<_> = CertificateDer::pem_file_iter(path)
        .map_err(|e| file_error(path, e))?
        .collect::<Result<_, _>>()
        .map_err(|e| file_error(path, e))?;
    if certs.is_empty() {
        return Err(file_error(path, "no certificate in the file"));
    }
    Ok(certs)
}

/// A rustls client configuration trusting `ca` (a PEM file) or, without one, the public web
/// roots (Mozilla's, from `webpki-roots`).
pub fn client_config(ca: Option<&Path>) -> Result<rustls::ClientConfig, TlsError> {
    let mut roots = rustls::RootCertStore::empty();
    match ca {
        Some(ca) => {
            for c in certificates(ca)? {
                roots.add(c).map_err(|e| file_error(ca, e))?;
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    Ok(rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Rustls(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A rustls server configuration from `files`, offering `alpn` (e.g. `h2`, `http/1.1`).
pub fn server_config(files: &TlsFiles, alpn: &[&[u8]]) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let certs = certificates(&files.cert)?;
    let key = PrivateKeyDer::from_pem_file(&files.key).map_err(|e| file_error(&files.key, e))?;
    let builder = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Rustls(e.to_string()))?;
    let builder = match &files.client_ca {
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            for c in certificates(ca)? {
                roots.add(c).map_err(|e| file_error(ca, e))?;
            }
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
                .allow_unauthenticated()
                .build()
                .map_err(|e| TlsError::Rustls(e.to_string()))?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let mut config = builder.with_single_cert(certs, key).map_err(|e| TlsError::Rustls(e.to_string()))?;
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(Arc::new(config))
}

/// The task serving a listener ([`serve`] run in its own task), so that a shutdown can wait
/// until the address is free again: a restart on the same address then binds.
#[derive(Debug, Default)]
pub struct ServerTask(std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>);

impl ServerTask {
    /// The task to wait for.
    pub fn set(&self, task: tokio::task::JoinHandle<()>) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = Some(task);
    }

    /// Waits until the server stopped (it was told to), its 5 s grace for open connections
    /// included.
    pub async fn stopped(&self) {
        let task = self.0.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(task) = task {
            let _ = tokio::time::timeout(std::time::Duration::from_secs(6), task).await;
        }
    }
}

/// Serves `router` on `listener` until `shutdown` resolves: HTTPS with `tls`, plain HTTP
/// without; handlers see the client's address as `ConnectInfo<SocketAddr>`. In-flight
/// requests get 5 s to finish after `shutdown`.
#[cfg(feature = "https")]
pub async fn serve(
    listener: tokio::net::TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    router: axum::Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let service = router.into_make_service_with_connect_info::<std::net::SocketAddr>();
    match tls {
        None => {
            // Graceful shutdown waits for every connection, and an event stream (SSE) never
            // ends by itself: after 5 s the rest are dropped, as with TLS.
            let (stopping, stopped) = tokio::sync::oneshot::channel::<()>();
            let signal = async move {
                shutdown.await;
                let _ = stopping.send(());
            };
            let server = axum::serve(listener, service).with_graceful_shutdown(signal);
            let grace = async move {
                if stopped.await.is_ok() {
                    tokio::time::sleep(std::time::Duration::from_secs(5)).await;
                } else {
                    std::future::pending::<()>().await;
                }
            };
            tokio::select! {
                served = server => served,
                _ = grace => Ok(()),
            }
        }
        Some(config) => {
            let handle = axum_server::Handle::new();
            let h = handle.clone();
            tokio::spawn(async move {
                shutdown.await;
                h.graceful_shutdown(Some(std::time::Duration::from_secs(5)));
            });
            axum_server::from_tcp_rustls(
                listener.into_std()?,
                axum_server::tls_rustls::RustlsConfig::from_config(config),
            )
            .handle(handle)
            .serve(service)
            .await
        }
    }
}
