//! Logs (point 11): binds at info / warn with system_id and peer IP; never a password, a
//! phone number or a message text.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use common::{Client, TestBackend, config, start};
use tongdao_smpp::status;
use tongdao_smpp_server::BindMode;

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

// One thread: every task of the server runs where the subscriber is set.
#[tokio::test(flavor = "current_thread")]
async fn binds_are_logged_without_secrets_numbers_or_texts() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let backend = Arc::new(TestBackend::new());
    let server = start(&backend, config()).await;
    let mut client = Client::bound(server.local_addr(), BindMode::Transceiver, "alice", "secret").await;
    client.submit("8613812345678").await;
    assert_eq!(client.recv().await.status, status::ESME_ROK);
    backend.add_pending("cus_a", 1, common::receipt(1));
    server.wake();
    let delivery = client.recv().await;
    client.send_as(0, delivery.sequence, tongdao_smpp::Pdu::DeliverSmResp(Default::default())).await;
    let mut refused = Client::connect(server.local_addr()).await;
    assert_eq!(refused.bind(BindMode::Transmitter, "alice", "s3cr3t-wrong", 0x34).await.status, status::ESME_RINVPASWD);
    common::eventually("acked", || backend.delivered_ids("cus_a") == [1]).await;
    drop(client);
    server.shutdown().await;

    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let bound = logs.lines().find(|l| l.contains("bound")).expect("a bind log line");
    assert!(bound.contains("INFO") && bound.contains("alice") && bound.contains("127.0.0.1"), "{bound}");
    let refused = logs.lines().find(|l| l.contains("bind refused")).expect("a refused bind log line");
    assert!(refused.contains("WARN") && refused.contains("alice") && refused.contains("127.0.0.1"), "{refused}");
    for secret in ["secret", "s3cr3t", "8613812345678", "8613800000000", "hello there", "stat:DELIVRD"] {
        assert!(!logs.contains(secret), "{secret:?} in the logs:\n{logs}");
    }
}
