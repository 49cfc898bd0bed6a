//! The TLS acceptor: a PEM certificate chain and private key, rustls with the ring provider
//! (the one the rest of the workspace uses), TLS 1.2 and 1.3.

use std::io;
use std::sync::Arc;

use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::TlsFiles;

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, message)
}

/// Loads the files; every failure names the file and what is wrong with it.
pub(crate) fn acceptor(files: &TlsFiles) -> io::Result<TlsAcceptor> {
    let cert_path = files.cert.display();
    let certs = CertificateDer::pem_file_iter(&files.cert)
        .map_err(|e| invalid(format!("TLS certificate file {cert_path}: {e}")))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| invalid(format!("TLS certificate file {cert_path}: {e}")))?;
    if certs.is_empty() {
        return Err(invalid(format!("TLS certificate file {cert_path}: no CERTIFICATE in it")));
    }
    let key_path = files.key.display();
    let key = PrivateKeyDer::from_pem_file(&files.key)
        .map_err(|e| invalid(format!("TLS private key file {key_path}: {e}")))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| invalid(format!("TLS: {e}")))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| invalid(format!("TLS certificate {cert_path} and key {key_path}: {e}")))?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}
