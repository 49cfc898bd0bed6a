//! Each scripted behaviour of the simulator, over real TCP with a raw SMPP client.

mod support;

use std::sync::atomic::Ordering;
use std::time::Duration;

use support::{Client, Read, start};
use tokio::time::Instant;
use tongdao_simulator::{BindKind, Outcomes, Script, SimError};
use tongdao_smpp::pdu::Sm;
use tongdao_smpp::receipt::{DeliveryReceipt, ReceiptOutcome};
use tongdao_smpp::tlv::Tlvs;
use tongdao_smpp::{Command, Pdu, status};

const QUIET: Duration = Duration::from_millis(300);

/// The message id of a submit_sm_resp, asserting its sequence and status.
fn resp_id(command: &Command, sequence: u32, expected: u32) -> String {
    assert_eq!((command.sequence, command.status), (sequence, expected), "{command:?}");
    match &command.pdu {
        Pdu::SubmitSmResp(r) => r.message_id.clone(),
        other => panic!("expected submit_sm_resp, got {other:?}"),
    }
}

fn receipt_of(command: Command) -> (Sm, DeliveryReceipt) {
    match command.pdu {
        Pdu::DeliverSm(sm) => {
            assert!(sm.is_delivery_receipt(), "{sm:?}");
            let text = DeliveryReceipt::parse(&String::from_utf8_lossy(&sm.short_message)).expect("receipt text");
            (sm, text)
        }
        other => panic!("expected a receipt, got {other:?}"),
    }
}

#[tokio::test]
async fn every_submit_undeliverable_gives_undeliv_receipts() {
    let outcomes = Outcomes { delivered: 0, undeliverable: 100, ..Outcomes::default() };
    let (sim, addr, _stop) = start(Script { outcomes, ..Script::default() }).await;
    let mut client = Client::bound(addr, BindKind::Transceiver, "acct").await;
    for n in 0..5 {
        let sequence = client.submit(&format!("message {n}"), true).await;
        let id = resp_id(&client.next().await, sequence, status::ESME_ROK);
        let (sm, text) = receipt_of(client.next().await);
        assert_eq!(
            (text.outcome(), text.stat.as_str(), text.err.as_deref()),
            (ReceiptOutcome::Undeliverable, "UNDELIV", Some("001"))
        );
        assert_eq!(text.id, id);
        assert_eq!(sm.tlvs.message_state(), Some(5));
        assert_eq!(sm.tlvs.receipted_message_id(), Some(id));
    }
    assert_eq!(sim.stats().receipts.load(Ordering::Relaxed), 5);

    // Other outcomes by weight alone; "no receipt" accepts and sends nothing.
    for (outcomes, stat, state) in [
        (Outcomes { delivered: 0, expired: 1, ..Outcomes::default() }, "EXPIRED", 3),
        (Outcomes { delivered: 0, rejected: 1, ..Outcomes::default() }, "REJECTD", 8),
    ] {
        sim.set_script(Script { outcomes, ..Script::default() }).expect("valid");
        let sequence = client.submit("hi", true).await;
        resp_id(&client.next().await, sequence, status::ESME_ROK);
        let (sm, text) = receipt_of(client.next().await);
        assert_eq!((text.stat.as_str(), sm.tlvs.message_state()), (stat, Some(state)));
    }
    sim.set_script(Script {
        outcomes: Outcomes { delivered: 0, no_receipt: 1, ..Outcomes::default() },
        ..Script::default()
    })
    .expect("valid");
    let sequence = client.submit("hi", true).await;
    assert!(!resp_id(&client.next().await, sequence, status::ESME_ROK).is_empty(), "accepted with an id");
    client.expect_silence(QUIET).await;
}

#[tokio::test]
async fn a_mixed_seeded_outcome_draw_gives_both_outcomes() {
    let outcomes = Outcomes { delivered: 1, undeliverable: 1, ..Outcomes::default() };
    let (_sim, addr, _stop) = start(Script { outcomes, seed: Some(42), ..Script::default() }).await;
    let mut client = Client::bound(addr, BindKind::Transceiver, "acct").await;
    let mut stats = Vec::new();
    for _ in 0..100 {
        client.submit("hi", true).await;
    }
    while stats.len() < 100 {
        if let Pdu::DeliverSm(sm) = client.next().await.pdu {
            stats.push(DeliveryReceipt::parse(&String::from_utf8_lossy(&sm.short_message)).expect("text").stat);
        }
    }
    let delivered = stats.iter().filter(|s| *s == "DELIVRD").count();
    assert!((25..=75).contains(&delivered), "about half delivered: {delivered}");
    assert_eq!(stats.iter().filter(|s| *s == "UNDELIV").count(), 100 - delivered);
}

#[tokio::test]
async fn throttle_fraction_one_throttles_every_submit_without_id_or_receipt() {
    let (sim, addr, _stop) = start(Script { throttle_fraction: 1.0, ..Script::default() }).await;
    let mut client = Client::bound(addr, BindKind::Transceiver, "acct").await;
    for _ in 0..5 {
        let sequence = client.submit("hi", true).await;
        assert_eq!(resp_id(&client.next().await, sequence, status::ESME_RTHROTTLED), "");
    }
    client.expect_silence(QUIET).await;
    let stats = sim.stats().snapshot();
    assert_eq!((stats.submits, stats.throttled, stats.receipts), (5, 5, 0));
}

#[tokio::test]
async fn a_throttle_fraction_throttles_about_that_fraction() {
    let (sim, addr, _stop) = start(Script { throttle_fraction: 0.3, seed: Some(7), ..Script::default() }).await;
    let mut client = Client::bound(addr, BindKind::Transmitter, "acct").await;
    let mut throttled = 0;
    for _ in 0..300 {
        let sequence = client.submit("hi", false).await;
        let resp = client.next().await;
        assert_eq!(resp.sequence, sequence);
        throttled += usize::from(resp.status == status::ESME_RTHROTTLED);
    }
    assert!((60..=120).contains(&throttled), "about 90 of 300: {throttled}");
    assert_eq!(sim.stats().throttled.load(Ordering::Relaxed), throttled as u64);
}

#[tokio::test]
async fn reject_fraction_one_rejects_every_submit_permanently() {
    let (sim, addr, _stop) = start(Script { reject_fraction: 1.0, ..Script::default() }).await;
    let mut client = Client::bound(addr, BindKind::Transceiver, "acct").await;
    for _ in 0..3 {
        let sequence = client.submit("hi", true).await;
        assert_eq!(resp_id(&client.next().await, sequence, status::ESME_RINVDSTADR), "");
    }
    client.expect_silence(QUIET).await;
    assert_eq!(sim.stats().rejected.load(Ordering::Relaxed), 3);
}

#[tokio::test]
async fn tps_limit_throttles_what_is_over_the_rolling_second() {
    let (sim, addr, _stop) = start(Script { tps_limit: 5, ..Script::default() }).await;
    let mut client = Client::bound(addr, BindKind::Transmitter, "acct").await;
    let mut other = Client::bound(addr, BindKind::Transmitter, "acct").await;
    let started = Instant::now();
    let mut statuses = Vec::new();
    for n in 0..8 {
        // The limit is per simulator: two sessions share it.
        let session = if n % 2 == 0 { &mut client } else { &mut other };
        let sequence = session.submit("hi", false).await;
        let resp = session.next().await;
        assert_eq!(resp.sequence, sequence);
        statuses.push(resp.status);
    }
    assert!(started.elapsed() < Duration::from_millis(900), "the test needs the 8 submits within a second");
    let ok = statuses.iter().filter(|s| **s == status::ESME_ROK).count();
    let throttled = statuses.iter().filter(|s| **s == status::ESME_RTHROTTLED).count();
    assert_eq!((ok, throttled), (5, 3), "{statuses:?}");
    assert_eq!(&statuses[..5], &[status::ESME_ROK; 5], "the first five pass");

    tokio::time::sleep(Duration::from_millis(1100)).await;
    let sequence = client.submit("hi", false).await;
    resp_id(&client.next().await, sequence, status::ESME_ROK);
    assert_eq!(sim.stats().throttled.load(Ordering::Relaxed), 3);
}

#[tokio::test]
async fn answer_delay_holds_the_response_but_not_the_session() {
    let (_sim, addr, _stop) = start(Script { answer_delay_ms: 400, ..Script::default() }).await;
    let mut client = Client::bound(addr, BindKind::Transceiver, "acct").await;
    let sent = Instant::now();
    let submit = client.submit("hi", false).await;
    let enquire = client.send(Pdu::EnquireLink).await;
    let first = client.next().await;
    assert_eq!((first.pdu, first.sequence), (Pdu::EnquireLinkResp, enquire), "enquire_link answered meanwhile");
    assert!(sent.elapsed() < Duration::from_millis(350), "enquire_link was not held: {:?}", sent.elapsed());
    resp_id(&client.next().await, submit, status::ESME_ROK);
    assert!(sent.elapsed() >= Duration::from_millis(390), "the response waited: {:?}", sent.elapsed());
}

#[tokio::test]
async fn receipt_before_response_reverses_the_order_on_the_wire() {
    let (sim, addr, _stop) = start(Script::default()).await;
    let mut client = Client::bound(addr, BindKind::Transceiver, "acct").await;
    let sequence = client.submit("hi", true).await;
    let id = resp_id(&client.next().await, sequence, status::ESME_ROK);
    assert_eq!(receipt_of(client.next().await).1.id, id, "by default the response comes first");

    sim.set_script(Script { receipt_before_response: true, ..Script::default() }).expect("valid");
    for _ in 0..3 {
        let sequence = client.submit("hi", true).await;
        let (_, receipt) = receipt_of(client.next().await);
        assert_eq!(resp_id(&client.next().await, sequence, status::ESME_ROK), receipt.id, "then the response");
    }

    // With a receipt delay, the response waits for the receipt.
    sim.set_script(Script { receipt_before_response: true, receipt_delay_ms: 300, ..Script::default() })
        .expect("valid");
    let sent = Instant::now();
    let sequence = client.submit("hi", true).await;
    let (_, receipt) = receipt_of(client.next().await);
    assert!(sent.elapsed() >= Duration::from_millis(290));
    assert_eq!(resp_id(&client.next().await, sequence, status::ESME_ROK), receipt.id);
}

#[tokio::test]
async fn receipts_go_to_another_bind_of_the_same_system_id_when_scripted() {
    let (sim, addr, _stop) = start(Script { receipt_on_other_bind: true, ..Script::default() }).await;
    let mut sender = Client::bound(addr, BindKind::Transceiver, "acct").await;
    let mut receiver = Client::bound(addr, BindKind::Receiver, "acct").await;
    let mut stranger = Client::bound(addr, BindKind::Receiver, "other").await;
    for _ in 0..2 {
        let sequence = sender.submit("hi", true).await;
        let id = resp_id(&sender.next().await, sequence, status::ESME_ROK);
        let (sm, receipt) = receipt_of(receiver.next().await);
        assert_eq!((receipt.id, sm.tlvs.receipted_message_id()), (id.clone(), Some(id)));
    }
    sender.expect_silence(QUIET).await;
    stranger.expect_silence(Duration::from_millis(50)).await;

    sim.set_script(Script::default()).expect("valid");
    let sequence = sender.submit("hi", true).await;
    let id = resp_id(&sender.next().await, sequence, status::ESME_ROK);
    assert_eq!(receipt_of(sender.next().await).1.id, id, "unscripted: on the submitting session");
    receiver.expect_silence(QUIET).await;
}

#[tokio::test]
async fn a_transmitter_is_never_sent_a_deliver_sm() {
    let (sim, addr, _stop) = start(Script::default()).await;
    let mut transmitter = Client::bound(addr, BindKind::Transmitter, "acct").await;
    let sequence = transmitter.submit("hi", true).await;
    resp_id(&transmitter.next().await, sequence, status::ESME_ROK);
    transmitter.expect_silence(QUIET).await;
    assert!(matches!(sim.inject_mo("+8613800138000", "10690001", "hi").await, Err(SimError::NoReceiver)));

    // A receiver of the same system_id gets the transmitter's receipts.
    let mut receiver = Client::bound(addr, BindKind::Receiver, "acct").await;
    let sequence = transmitter.submit("hi", true).await;
    let id = resp_id(&transmitter.next().await, sequence, status::ESME_ROK);
    assert_eq!(receipt_of(receiver.next().await).1.id, id);
    transmitter.expect_silence(QUIET).await;

    // A receiver may not submit, nor may an unbound session.
    let sequence = receiver.submit("hi", true).await;
    resp_id(&receiver.next().await, sequence, status::ESME_RINVBNDSTS);
    let mut unbound = Client::connect(addr).await;
    let sequence = unbound.submit("hi", true).await;
    resp_id(&unbound.next().await, sequence, status::ESME_RINVBNDSTS);
}

#[tokio::test]
async fn receipt_tlv_false_sends_the_text_alone() {
    let (_sim, addr, _stop) = start(Script { receipt_tlv: false, ..Script::default() }).await;
    let mut client = Client::bound(addr, BindKind::Transceiver, "acct").await;
    let sequence = client.submit("text only please", true).await;
    let id = resp_id(&client.next().await, sequence, status::ESME_ROK);
    let (sm, receipt) = receipt_of(client.next().await);
    assert!(sm.tlvs.is_empty(), "no TLVs: {:?}", sm.tlvs);
    assert_eq!((receipt.outcome(), receipt.text.as_deref()), (ReceiptOutcome::Delivered, Some("text only please")));
    assert_eq!(receipt.id, id);
}

#[tokio::test]
async fn message_ids_are_hex_by_default_and_decimal_when_scripted() {
    async fn ids(script: Script) -> Vec<(String, String)> {
        let (_sim, addr, _stop) = start(script).await;
        let mut client = Client::bound(addr, BindKind::Transceiver, "acct").await;
        let mut ids = Vec::new();
        for _ in 0..12 {
            let sequence = client.submit("hi", true).await;
            let id = resp_id(&client.next().await, sequence, status::ESME_ROK);
            ids.push((id, receipt_of(client.next().await).1.id));
        }
        ids
    }
    let expected = |f: fn(u64) -> String| (1..=12).map(|n| (f(n), f(n))).collect::<Vec<_>>();
    assert_eq!(ids(Script::default()).await, expected(|n| format!("{n:x}")));
    assert_eq!(ids(Script { receipt_id_decimal: true, ..Script::default() }).await, expected(|n| n.to_string()));
}

#[tokio::test]
async fn drop_after_submits_closes_every_session_once() {
    let (sim, addr, _stop) = start(Script { drop_after_submits: 3, ..Script::default() }).await;
    let mut sender = Client::bound(addr, BindKind::Transmitter, "acct").await;
    let mut receiver = Client::bound(addr, BindKind::Receiver, "acct").await;
    for _ in 0..2 {
        let sequence = sender.submit("hi", false).await;
        resp_id(&sender.next().await, sequence, status::ESME_ROK);
    }
    assert_eq!(sim.stats().drops.load(Ordering::Relaxed), 0);
    sender.submit("hi", false).await;
    assert!(sender.closes().await, "the submitting session is dropped");
    assert!(receiver.closes().await, "and every other one");
    assert_eq!(sim.stats().drops.load(Ordering::Relaxed), 2);

    // Once: the sessions that come back live on.
    let mut again = Client::bound(addr, BindKind::Transceiver, "acct").await;
    for _ in 0..5 {
        let sequence = again.submit("hi", false).await;
        resp_id(&again.next().await, sequence, status::ESME_ROK);
    }
    again.alive().await;
    assert_eq!(sim.stats().drops.load(Ordering::Relaxed), 2);
    assert_eq!(sim.stats().sessions_bound.load(Ordering::Relaxed), 1);
}

fn mo_of(command: Command) -> Sm {
    match command.pdu {
        Pdu::DeliverSm(sm) => {
            assert!(!sm.is_delivery_receipt());
            sm
        }
        other => panic!("expected an MO deliver_sm, got {other:?}"),
    }
}

#[tokio::test]
async fn an_mo_text_is_one_deliver_sm_in_gsm_or_ucs2() {
    let (sim, addr, _stop) = start(Script::default()).await;
    let mut receiver = Client::bound(addr, BindKind::Receiver, "acct").await;
    assert_eq!(sim.inject_mo("+8613800138000", "10690001", "STOP").await.expect("sent"), 1);
    let sm = mo_of(receiver.next().await);
    assert_eq!(
        (sm.source_addr.as_str(), sm.source_addr_ton, sm.destination_addr.as_str()),
        ("8613800138000", 1, "10690001")
    );
    assert_eq!((sm.esm_class, sm.data_coding, sm.short_message.as_slice()), (0, 0, b"STOP".as_slice()));

    assert_eq!(sim.inject_mo("+8613800138000", "10690001", "退订").await.expect("sent"), 1);
    let sm = mo_of(receiver.next().await);
    assert_eq!((sm.esm_class, sm.data_coding), (0, 8));
    assert_eq!(sm.short_message, vec![0x90, 0x00, 0x8B, 0xA2], "UTF-16BE");
    assert_eq!(sim.stats().mo.load(Ordering::Relaxed), 2);
}

#[tokio::test]
async fn a_long_mo_text_is_concatenated_with_a_user_data_header() {
    let (sim, addr, _stop) = start(Script::default()).await;
    let mut receiver = Client::bound(addr, BindKind::Transceiver, "acct").await;
    let text: String = (0..200).map(|n| char::from(b'a' + (n % 26) as u8)).collect();
    assert_eq!(sim.inject_mo("8613800138000", "10690001", &text).await.expect("sent"), 2);
    let (first, second) = (mo_of(receiver.next().await), mo_of(receiver.next().await));
    for (n, sm) in [&first, &second].into_iter().enumerate() {
        assert_eq!((sm.esm_class, sm.data_coding), (0x40, 0));
        let udh = &sm.short_message[..6];
        assert_eq!(&udh[..3], &[0x05, 0x00, 0x03]);
        assert_eq!((udh[4], udh[5]), (2, n as u8 + 1));
    }
    assert_eq!(first.short_message[3], second.short_message[3], "one reference");
    let joined: Vec<u8> = [&first.short_message[6..], &second.short_message[6..]].concat();
    assert_eq!((first.short_message.len() - 6, joined), (153, text.into_bytes()));
}

#[tokio::test]
async fn mo_messages_go_round_robin_over_receivers() {
    let (sim, addr, _stop) = start(Script::default()).await;
    let mut one = Client::bound(addr, BindKind::Receiver, "a").await;
    let mut two = Client::bound(addr, BindKind::Transceiver, "b").await;
    let _transmitter = Client::bound(addr, BindKind::Transmitter, "c").await;
    for _ in 0..4 {
        sim.inject_mo("8613800138000", "10690001", "hi").await.expect("sent");
    }
    let mut got = [0, 0];
    for (n, client) in [&mut one, &mut two].into_iter().enumerate() {
        loop {
            match client.next_within(QUIET).await {
                Read::Pdu(command) => {
                    mo_of(command);
                    got[n] += 1;
                }
                Read::Silence => break,
                Read::Closed => panic!("closed"),
            }
        }
    }
    assert_eq!(got, [2, 2]);
}
