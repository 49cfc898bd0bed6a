//! 7. Deliveries: receipts and MO to the customer's receiving binds.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{Client, TestBackend, config, receipt, start};
use tokio::net::TcpStream;
use tongdao_smpp::pdu::{MessageIdResp, Sm};
use tongdao_smpp::{Pdu, status};
use tongdao_smpp_server::{BindMode, ServerConfig};

/// The next deliver_sm (answering nothing).
async fn next_delivery(client: &mut Client<TcpStream>) -> (u32, Sm) {
    let command = client.recv().await;
    match command.pdu {
        Pdu::DeliverSm(sm) => (command.sequence, sm),
        other => panic!("expected deliver_sm, got {other:?}"),
    }
}

async fn answer(client: &mut Client<TcpStream>, sequence: u32, status: u32) {
    client.send_as(status, sequence, Pdu::DeliverSmResp(MessageIdResp::default())).await;
}

/// Which delivery a receipt body is (its `id:m<n>`).
fn which(sm: &Sm) -> i64 {
    let text = String::from_utf8_lossy(&sm.short_message);
    text.split_whitespace().next().and_then(|id| id.strip_prefix("id:m")).and_then(|n| n.parse().ok()).unwrap()
}

#[tokio::test]
async fn pending_deliveries_go_out_oldest_first_and_acks_reach_the_backend() {
    let backend = Arc::new(TestBackend::new());
    for id in [3, 1, 2] {
        backend.add_pending("cus_a", id, receipt(id));
    }
    let server = start(&backend, config()).await;
    let mut client = Client::bound(server.local_addr(), BindMode::Receiver, "alice", "secret").await;
    let mut seen = Vec::new();
    for _ in 0..3 {
        let (sequence, sm) = next_delivery(&mut client).await;
        assert_eq!(sm, receipt(which(&sm)), "the body as the backend shaped it, TLVs kept for 3.4");
        seen.push(which(&sm));
        answer(&mut client, sequence, status::ESME_ROK).await;
    }
    assert_eq!(seen, [1, 2, 3]);
    common::eventually("acks in the backend", || backend.delivered_ids("cus_a") == [1, 2, 3]).await;
    assert!(backend.pending.lock().unwrap().is_empty());
    assert_eq!(server.stats().deliveries_ok, 3);
}

#[tokio::test]
async fn wake_sends_a_new_delivery_without_waiting_for_the_poll() {
    let backend = Arc::new(TestBackend::new());
    let server = start(&backend, config()).await;
    let mut client = Client::bound(server.local_addr(), BindMode::Transceiver, "alice", "secret").await;
    // Let the pump find nothing and settle into waiting.
    common::eventually("the pump polled", || backend.pending_calls.load(std::sync::atomic::Ordering::SeqCst) >= 1)
        .await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    backend.add_pending("cus_a", 10, receipt(10));
    let woken = tokio::time::Instant::now();
    server.wake();
    let (sequence, sm) = next_delivery(&mut client).await;
    assert!(woken.elapsed() < Duration::from_millis(500), "woken, not polled");
    assert_eq!(which(&sm), 10);
    answer(&mut client, sequence, status::ESME_ROK).await;
    // Without a wake, the pump still polls within a second.
    backend.add_pending("cus_a", 11, receipt(11));
    let (_, sm) = next_delivery(&mut client).await;
    assert_eq!(which(&sm), 11);
}

#[tokio::test]
async fn a_3_3_bind_gets_deliveries_without_tlvs() {
    let backend = Arc::new(TestBackend::new());
    backend.add_pending("cus_a", 1, receipt(1));
    let server = start(&backend, config()).await;
    let mut client = Client::connect(server.local_addr()).await;
    assert_eq!(client.bind(BindMode::Receiver, "alice", "secret", 0x33).await.status, status::ESME_ROK);
    let (sequence, sm) = next_delivery(&mut client).await;
    assert!(sm.tlvs.is_empty());
    assert_eq!(sm, Sm { tlvs: Vec::new(), ..receipt(1) });
    answer(&mut client, sequence, status::ESME_ROK).await;
    common::eventually("acked", || backend.delivered_ids("cus_a") == [1]).await;
}

#[tokio::test]
async fn an_error_answer_is_reported_and_the_delivery_sent_again_later() {
    let backend = Arc::new(TestBackend::new());
    backend.add_pending("cus_a", 1, receipt(1));
    let server = start(&backend, config()).await;
    let mut client = Client::bound(server.local_addr(), BindMode::Receiver, "alice", "secret").await;
    let (sequence, _) = next_delivery(&mut client).await;
    answer(&mut client, sequence, status::ESME_RMSGQFUL).await;
    let refused = tokio::time::Instant::now();
    let (again, sm) = next_delivery(&mut client).await;
    assert!(refused.elapsed() >= Duration::from_millis(80), "after redeliver_after");
    assert_ne!(again, sequence, "a new sequence number");
    assert_eq!(which(&sm), 1);
    assert_eq!(*backend.not_delivered.lock().unwrap(), [(1, Some(status::ESME_RMSGQFUL))]);
    // A generic_nack counts as an error answer too.
    client.send_as(status::ESME_RINVCMDID, again, Pdu::GenericNack).await;
    let (third, _) = next_delivery(&mut client).await;
    answer(&mut client, third, status::ESME_ROK).await;
    common::eventually("acked", || backend.delivered_ids("cus_a") == [1]).await;
    assert_eq!(server.stats().deliveries_failed, 2);
}

#[tokio::test]
async fn an_unanswered_delivery_times_out_and_is_sent_again() {
    let backend = Arc::new(TestBackend::new());
    backend.add_pending("cus_a", 1, receipt(1));
    let server = start(&backend, config()).await;
    let mut client = Client::bound(server.local_addr(), BindMode::Receiver, "alice", "secret").await;
    let (first, _) = next_delivery(&mut client).await;
    let sent = tokio::time::Instant::now();
    let (second, sm) = next_delivery(&mut client).await;
    assert!(sent.elapsed() >= Duration::from_millis(250), "response timeout, then redeliver_after");
    assert_ne!(first, second);
    assert_eq!(which(&sm), 1);
    assert_eq!(*backend.not_delivered.lock().unwrap(), [(1, None)]);
    assert_eq!(server.stats().deliveries_timed_out, 1);
    // A late answer to the first is ignored; the answer to the second acknowledges.
    answer(&mut client, first, status::ESME_ROK).await;
    answer(&mut client, second, status::ESME_ROK).await;
    common::eventually("acked once", || backend.delivered_ids("cus_a") == [1]).await;
}

#[tokio::test]
async fn deliveries_go_round_robin_over_the_customers_receiving_binds() {
    let backend = Arc::new(TestBackend::new());
    let server = start(&backend, config()).await;
    let mut first = Client::bound(server.local_addr(), BindMode::Receiver, "alice", "secret").await;
    let mut second = Client::bound(server.local_addr(), BindMode::Transceiver, "alice", "secret").await;
    // Both binds known to the pump, which found nothing yet.
    tokio::time::sleep(Duration::from_millis(100)).await;
    for id in 1..=4 {
        backend.add_pending("cus_a", id, receipt(id));
    }
    server.wake();
    let mut got = [Vec::new(), Vec::new()];
    for (i, client) in [&mut first, &mut second].into_iter().enumerate() {
        for _ in 0..2 {
            let (sequence, sm) = next_delivery(client).await;
            got[i].push(which(&sm));
            answer(client, sequence, status::ESME_ROK).await;
        }
        assert!(client.try_recv(Duration::from_millis(100)).await.is_none(), "two each");
    }
    let mut all: Vec<i64> = got.concat();
    all.sort_unstable();
    assert_eq!(all, [1, 2, 3, 4]);
    common::eventually("all acked", || backend.delivered_ids("cus_a") == [1, 2, 3, 4]).await;
}

#[tokio::test]
async fn a_bind_has_at_most_its_window_of_deliveries_outstanding() {
    let backend = Arc::new(TestBackend::new());
    for id in 1..=5 {
        backend.add_pending("cus_a", id, receipt(id));
    }
    let config = ServerConfig { window: 2, response_timeout: Duration::from_secs(5), ..config() };
    let server = start(&backend, config).await;
    let mut client = Client::bound(server.local_addr(), BindMode::Receiver, "alice", "secret").await;
    let (s1, _) = next_delivery(&mut client).await;
    let (_s2, _) = next_delivery(&mut client).await;
    assert!(client.try_recv(Duration::from_millis(150)).await.is_none(), "a full window waits");
    assert_eq!(server.sessions()[0].deliveries_in_flight, 2);
    answer(&mut client, s1, status::ESME_ROK).await;
    let (_, sm) = next_delivery(&mut client).await;
    assert_eq!(which(&sm), 3, "one slot freed, one more sent");
    assert!(client.try_recv(Duration::from_millis(150)).await.is_none());
}

#[tokio::test]
async fn a_closing_binds_unanswered_deliveries_go_to_another_bind_at_once() {
    let backend = Arc::new(TestBackend::new());
    backend.add_pending("cus_a", 1, receipt(1));
    let config =
        ServerConfig { response_timeout: Duration::from_secs(5), redeliver_after: Duration::from_secs(5), ..config() };
    let server = start(&backend, config).await;
    let mut first = Client::bound(server.local_addr(), BindMode::Receiver, "alice", "secret").await;
    let _ = next_delivery(&mut first).await;
    let mut second = Client::bound(server.local_addr(), BindMode::Receiver, "alice", "secret").await;
    assert!(second.try_recv(Duration::from_millis(200)).await.is_none(), "never on two binds at once");
    drop(first);
    let closed = tokio::time::Instant::now();
    let (sequence, sm) = next_delivery(&mut second).await;
    assert!(closed.elapsed() < Duration::from_secs(1), "at once, not after a timeout");
    assert_eq!(which(&sm), 1);
    answer(&mut second, sequence, status::ESME_ROK).await;
    common::eventually("acked", || backend.delivered_ids("cus_a") == [1]).await;
}

#[tokio::test]
async fn each_customer_receives_only_its_own_deliveries_and_transmitters_none() {
    let backend = Arc::new(TestBackend::new());
    for id in 1..=3 {
        backend.add_pending("cus_a", id, receipt(id));
    }
    for id in 11..=13 {
        backend.add_pending("cus_b", id, receipt(id));
    }
    let server = start(&backend, config()).await;
    let mut transmitter = Client::bound(server.local_addr(), BindMode::Transmitter, "alice", "secret").await;
    let mut alice = Client::bound(server.local_addr(), BindMode::Receiver, "alice", "secret").await;
    let mut bob = Client::bound(server.local_addr(), BindMode::Transceiver, "bob", "hunter2").await;
    for (client, expected) in [(&mut alice, [1, 2, 3]), (&mut bob, [11, 12, 13])] {
        let mut got = Vec::new();
        for _ in 0..3 {
            let (sequence, sm) = next_delivery(client).await;
            got.push(which(&sm));
            answer(client, sequence, status::ESME_ROK).await;
        }
        got.sort_unstable();
        assert_eq!(got, expected);
        assert!(client.try_recv(Duration::from_millis(100)).await.is_none());
    }
    assert!(transmitter.try_recv(Duration::from_millis(100)).await.is_none(), "a transmitter is sent nothing");
    common::eventually("acks", || {
        backend.delivered_ids("cus_a") == [1, 2, 3] && backend.delivered_ids("cus_b") == [11, 12, 13]
    })
    .await;
}

#[tokio::test]
async fn a_new_pump_starts_from_the_beginning_so_unacknowledged_deliveries_come_again() {
    let backend = Arc::new(TestBackend::new());
    backend.add_pending("cus_a", 1, receipt(1));
    backend.add_pending("cus_a", 2, receipt(2));
    let config = ServerConfig { response_timeout: Duration::from_secs(5), ..config() };
    let server = start(&backend, config).await;
    let mut client = Client::bound(server.local_addr(), BindMode::Receiver, "alice", "secret").await;
    let (s1, sm1) = next_delivery(&mut client).await;
    let (_s2, sm2) = next_delivery(&mut client).await;
    assert_eq!((which(&sm1), which(&sm2)), (1, 2));
    answer(&mut client, s1, status::ESME_ROK).await;
    common::eventually("1 acked", || backend.delivered_ids("cus_a") == [1]).await;
    // The customer's only receiving bind goes away with 2 unanswered.
    client.send(Pdu::Unbind).await;
    assert_eq!(client.recv().await.pdu, Pdu::UnbindResp);
    common::eventually("no bind left", || server.stats().binds_open == 0).await;
    let mut again = Client::bound(server.local_addr(), BindMode::Receiver, "alice", "secret").await;
    let (sequence, sm) = next_delivery(&mut again).await;
    assert_eq!(which(&sm), 2, "sent again, at least once");
    answer(&mut again, sequence, status::ESME_ROK).await;
    common::eventually("2 acked", || backend.delivered_ids("cus_a") == [1, 2]).await;
    assert!(again.try_recv(Duration::from_millis(200)).await.is_none(), "1 was acknowledged: not again");
}

#[tokio::test]
async fn an_unbinding_bind_is_sent_no_more_deliveries_and_its_unanswered_go_elsewhere() {
    let backend = Arc::new(TestBackend::new());
    backend.add_pending("cus_a", 1, receipt(1));
    let config = ServerConfig { response_timeout: Duration::from_secs(5), ..config() };
    let server = start(&backend, config).await;
    let mut first = Client::bound(server.local_addr(), BindMode::Transceiver, "alice", "secret").await;
    let _ = next_delivery(&mut first).await;
    let mut second = Client::bound(server.local_addr(), BindMode::Receiver, "alice", "secret").await;
    // A submit in flight keeps the first session open while it unbinds.
    backend.close_gate();
    let submit = first.submit("8613800000001").await;
    common::eventually("the submit in the backend", || {
        backend.submitting.load(std::sync::atomic::Ordering::SeqCst) == 1
    })
    .await;
    let unbind = first.send(Pdu::Unbind).await;
    // At the unbind (not at the close) its unanswered delivery moves to the other bind.
    let (sequence, sm) = next_delivery(&mut second).await;
    assert_eq!(which(&sm), 1);
    answer(&mut second, sequence, status::ESME_ROK).await;
    // New deliveries go to the other bind only.
    backend.add_pending("cus_a", 2, receipt(2));
    server.wake();
    let (sequence, sm) = next_delivery(&mut second).await;
    assert_eq!(which(&sm), 2);
    answer(&mut second, sequence, status::ESME_ROK).await;
    backend.open_gate();
    let resp = first.recv().await;
    assert_eq!((resp.sequence, resp.status), (submit, status::ESME_ROK));
    let resp = first.recv().await;
    assert_eq!((resp.pdu, resp.sequence), (Pdu::UnbindResp, unbind), "no deliver_sm after the unbind");
    assert!(first.closed_within(Duration::from_secs(1)).await);
    common::eventually("acked", || backend.delivered_ids("cus_a") == [1, 2]).await;
    assert_eq!(*backend.not_delivered.lock().unwrap(), [(1, None)], "reported unanswered at the unbind");
}
