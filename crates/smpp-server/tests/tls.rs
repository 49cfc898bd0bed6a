//! 9. TLS: with certificate files configured the listener speaks TLS only.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{Client, TestBackend, config, start};
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::pki_types::ServerName;
use tokio_rustls::rustls::{self, RootCertStore};
use tongdao_smpp::{Pdu, status};
use tongdao_smpp_server::{BindMode, Server, ServerConfig, TlsFiles};

struct Certificate {
    _dir: tempfile::TempDir,
    files: TlsFiles,
    der: rustls::pki_types::CertificateDer<'static>,
}

fn self_signed() -> Certificate {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let files = TlsFiles { cert: dir.path().join("cert.pem"), key: dir.path().join("key.pem") };
    std::fs::write(&files.cert, certified.cert.pem()).unwrap();
    std::fs::write(&files.key, certified.signing_key.serialize_pem()).unwrap();
    Certificate { _dir: dir, files, der: certified.cert.der().clone() }
}

fn connector(certificate: &Certificate) -> TlsConnector {
    let mut roots = RootCertStore::empty();
    roots.add(certificate.der.clone()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    TlsConnector::from(Arc::new(config))
}

#[tokio::test]
async fn bind_and_submit_work_over_tls() {
    let certificate = self_signed();
    let backend = Arc::new(TestBackend::new());
    let server = start(&backend, ServerConfig { tls: Some(certificate.files.clone()), ..config() }).await;
    let tcp = tokio::net::TcpStream::connect(server.local_addr()).await.unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    let stream = connector(&certificate).connect(name, tcp).await.expect("the TLS handshake");
    let mut client = Client::over(stream);
    let resp = client.bind(BindMode::Transceiver, "alice", "secret", 0x34).await;
    assert_eq!(resp.status, status::ESME_ROK);
    let sequence = client.submit("8613800000001").await;
    let resp = client.recv().await;
    assert_eq!((resp.sequence, resp.status), (sequence, status::ESME_ROK));
    assert_eq!(common::message_id(&resp), "m1");
    assert_eq!(backend.submitted(), 1);
}

#[tokio::test]
async fn a_tls_listener_does_not_speak_plain_smpp() {
    let certificate = self_signed();
    let backend = Arc::new(TestBackend::new());
    let server = start(&backend, ServerConfig { tls: Some(certificate.files.clone()), ..config() }).await;
    let mut plain = Client::connect(server.local_addr()).await;
    plain.send(Pdu::EnquireLink).await;
    // Whatever comes back is a TLS alert, never an SMPP answer; then the connection closes.
    assert!(plain.closed_within(Duration::from_secs(2)).await);
    assert_eq!(backend.submitted(), 0);
}

#[tokio::test]
async fn bad_certificate_or_key_files_are_a_clear_error() {
    let certificate = self_signed();
    let backend: Arc<TestBackend> = Arc::new(TestBackend::new());
    let missing =
        TlsFiles { cert: certificate.files.cert.with_file_name("nope.pem"), key: certificate.files.key.clone() };
    let err = Server::start(ServerConfig { tls: Some(missing), ..config() }, backend.clone()).await.unwrap_err();
    assert!(err.to_string().contains("TLS certificate file") && err.to_string().contains("nope.pem"), "{err}");
    let swapped = TlsFiles { cert: certificate.files.key.clone(), key: certificate.files.key.clone() };
    let err = Server::start(ServerConfig { tls: Some(swapped), ..config() }, backend.clone()).await.unwrap_err();
    assert!(err.to_string().contains("no CERTIFICATE"), "{err}");
    let no_key = TlsFiles { cert: certificate.files.cert.clone(), key: certificate.files.cert.clone() };
    let err = Server::start(ServerConfig { tls: Some(no_key), ..config() }, backend).await.unwrap_err();
    assert!(err.to_string().contains("TLS private key file"), "{err}");
}
