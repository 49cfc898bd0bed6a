//! Store and forward: a deliver_sm the ESME has not answered when its session ends is sent
//! again on another receiving bind of the same system_id, or kept until one binds.

mod support;

use std::time::Duration;

use support::{Client, Read, eventually, start};
use tongdao_simulator::{BindKind, Script, Simulator};
use tongdao_smpp::pdu::Sm;
use tongdao_smpp::receipt::DeliveryReceipt;
use tongdao_smpp::{Command, Pdu, status};

const QUIET: Duration = Duration::from_millis(300);

/// Submits asking for a receipt; the message id. The receipt is left for the caller to read.
async fn submit(client: &mut Client) -> String {
    let sequence = client.submit("hi", true).await;
    let resp = client.next().await;
    assert_eq!((resp.sequence, resp.status), (sequence, status::ESME_ROK), "{resp:?}");
    match resp.pdu {
        Pdu::SubmitSmResp(r) => r.message_id,
        other => panic!("expected submit_sm_resp, got {other:?}"),
    }
}

fn deliver_sm(command: &Command) -> &Sm {
    match &command.pdu {
        Pdu::DeliverSm(sm) => sm,
        other => panic!("expected a deliver_sm, got {other:?}"),
    }
}

/// The receipted message id of a receipt, from its text.
fn receipt_id(command: &Command) -> String {
    let sm = deliver_sm(command);
    assert!(sm.is_delivery_receipt(), "{sm:?}");
    DeliveryReceipt::parse(&String::from_utf8_lossy(&sm.short_message)).expect("receipt text").id
}

fn parked(sim: &Simulator) -> u64 {
    sim.stats().snapshot().parked
}

#[tokio::test]
async fn an_unanswered_receipt_goes_to_the_next_bind_after_the_connection_drops() {
    let (sim, addr, _stop) = start(Script::default()).await;
    let mut first = Client::bound(addr, BindKind::Transceiver, "acct").await;
    let id = submit(&mut first).await;
    assert_eq!(receipt_id(&first.next().await), id, "the receipt came, and is left unanswered");
    drop(first);

    let mut second = Client::bound(addr, BindKind::Transceiver, "acct").await;
    let again = second.next().await;
    assert_eq!(receipt_id(&again), id, "the same receipt, on the next bind");
    assert_eq!(again.status, status::ESME_ROK);
    second.answer(again.sequence, status::ESME_ROK).await;
    second.expect_silence(QUIET).await;
    let stats = sim.stats().snapshot();
    assert_eq!((stats.receipts, stats.redelivered, stats.parked, stats.dropped_undelivered), (1, 1, 0, 0));
}

#[tokio::test]
async fn receipts_are_parked_while_no_receiver_is_bound_and_sent_in_order_when_one_binds() {
    let (sim, addr, _stop) = start(Script::default()).await;
    let mut first = Client::bound(addr, BindKind::Transceiver, "acct").await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        let id = submit(&mut first).await;
        assert_eq!(receipt_id(&first.next().await), id);
        ids.push(id);
    }
    drop(first);
    eventually("the receipts parked", || parked(&sim) == 3).await;

    // Neither another system_id nor a transmitter of this one takes them.
    let mut stranger = Client::bound(addr, BindKind::Receiver, "other").await;
    let mut transmitter = Client::bound(addr, BindKind::Transmitter, "acct").await;
    stranger.expect_silence(QUIET).await;
    transmitter.expect_silence(Duration::from_millis(50)).await;
    assert_eq!(parked(&sim), 3);

    let mut receiver = Client::bound(addr, BindKind::Receiver, "acct").await;
    let mut got = Vec::new();
    for _ in 0..3 {
        let command = receiver.next().await;
        got.push(receipt_id(&command));
        receiver.answer(command.sequence, status::ESME_ROK).await;
    }
    assert_eq!(got, ids, "oldest first");
    receiver.expect_silence(QUIET).await;
    let stats = sim.stats().snapshot();
    assert_eq!((stats.redelivered, stats.parked), (3, 0));
}

#[tokio::test]
async fn on_unbind_unanswered_receipts_go_to_a_live_bind_of_the_same_system_id() {
    let (sim, addr, _stop) = start(Script::default()).await;
    let mut receiver = Client::bound(addr, BindKind::Receiver, "acct").await;
    let mut stranger = Client::bound(addr, BindKind::Receiver, "other").await;
    let mut sender = Client::bound(addr, BindKind::Transceiver, "acct").await;
    let mut ids = Vec::new();
    for _ in 0..2 {
        let id = submit(&mut sender).await;
        assert_eq!(receipt_id(&sender.next().await), id, "by default on the submitting session");
        ids.push(id);
    }
    receiver.expect_silence(Duration::from_millis(50)).await;
    let sequence = sender.send(Pdu::Unbind).await;
    let resp = sender.next().await;
    assert_eq!((resp.pdu, resp.sequence), (Pdu::UnbindResp, sequence));

    let got = [receipt_id(&receiver.next().await), receipt_id(&receiver.next().await)];
    assert_eq!(got.to_vec(), ids);
    stranger.expect_silence(QUIET).await;
    let stats = sim.stats().snapshot();
    assert_eq!((stats.redelivered, stats.parked, stats.unbinds), (2, 0, 1));
}

#[tokio::test]
async fn an_unanswered_mo_survives_a_drop_by_the_simulator() {
    let (sim, addr, _stop) = start(Script::default()).await;
    let mut first = Client::bound(addr, BindKind::Transceiver, "acct").await;
    assert_eq!(sim.inject_mo("+8613800138000", "10690001", "STOP").await.expect("sent"), 1);
    assert_eq!(deliver_sm(&first.next().await).short_message, b"STOP");
    assert_eq!(sim.drop_sessions(), 1);
    assert!(first.closes().await);
    eventually("the MO parked", || parked(&sim) == 1).await;

    let mut second = Client::bound(addr, BindKind::Receiver, "acct").await;
    let command = second.next().await;
    let sm = deliver_sm(&command);
    assert_eq!(
        (sm.esm_class, sm.source_addr.as_str(), sm.short_message.as_slice()),
        (0, "8613800138000", &b"STOP"[..])
    );
    assert_eq!(sim.stats().snapshot().redelivered, 1);
}

#[tokio::test]
async fn an_answered_deliver_sm_is_not_sent_again_whatever_its_status() {
    let (sim, addr, _stop) = start(Script::default()).await;
    let mut first = Client::bound(addr, BindKind::Transceiver, "acct").await;
    submit(&mut first).await;
    let receipt = first.next().await;
    first.answer(receipt.sequence, status::ESME_ROK).await;
    submit(&mut first).await;
    let refused = first.next().await;
    first.answer(refused.sequence, status::ESME_RSYSERR).await;
    sim.inject_mo("8613800138000", "10690001", "hi").await.expect("sent");
    let mo = first.next().await;
    deliver_sm(&mo);
    first.answer(mo.sequence, status::ESME_ROK).await;
    // enquire_link is read after the answers: once it is answered, so are they.
    first.alive().await;
    drop(first);
    eventually("the session ended", || sim.sessions() == 0).await;

    let mut second = Client::bound(addr, BindKind::Transceiver, "acct").await;
    second.expect_silence(QUIET).await;
    let stats = sim.stats().snapshot();
    assert_eq!((stats.redelivered, stats.parked, stats.dropped_undelivered), (0, 0, 0));
}

#[tokio::test]
async fn a_receipt_due_after_its_session_ended_is_kept_for_the_next_bind() {
    let (sim, addr, _stop) = start(Script { receipt_delay_ms: 300, ..Script::default() }).await;
    let mut first = Client::bound(addr, BindKind::Transceiver, "acct").await;
    let id = submit(&mut first).await;
    drop(first);
    eventually("the receipt parked", || parked(&sim) == 1).await;

    let mut second = Client::bound(addr, BindKind::Transceiver, "acct").await;
    assert_eq!(receipt_id(&second.next().await), id);
    let stats = sim.stats().snapshot();
    assert_eq!((stats.receipts, stats.redelivered, stats.parked), (0, 1, 0));
}

#[tokio::test]
async fn a_deliver_sm_unanswered_again_goes_on_to_the_bind_after() {
    let (sim, addr, _stop) = start(Script::default()).await;
    let mut first = Client::bound(addr, BindKind::Transceiver, "acct").await;
    let id = submit(&mut first).await;
    first.next().await;
    drop(first);
    let mut second = Client::bound(addr, BindKind::Receiver, "acct").await;
    assert_eq!(receipt_id(&second.next().await), id);
    drop(second);
    let mut third = Client::bound(addr, BindKind::Receiver, "acct").await;
    match third.next_within(Duration::from_secs(5)).await {
        Read::Pdu(command) => assert_eq!(receipt_id(&command), id),
        other => panic!("expected the receipt a third time, got {other:?}"),
    }
    assert_eq!(sim.stats().snapshot().redelivered, 2);
}
