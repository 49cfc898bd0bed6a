//! The customer side over SMPP, end to end on a real node: binds against stored credentials,
//! submit_sm through the accept path, receipts and MO back on the customer's binds.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tongdao_domain::text::{decode_gsm7_unpacked, encode_ucs2};
use tongdao_smpp::DeliveryReceipt;
use tongdao_smpp::pdu::{CancelSm, Pdu, QuerySm, Sm};
use tongdao_smpp::status::*;
use tongdao_smpp::tlv::{self, Tlv, Tlvs};

use crate::esme::{Esme, Mode, WAIT, gsm};
use crate::harness::{Sender, TestGateway};

const TO: &str = "8613800138000";

impl TestGateway {
    pub fn smpp_addr(&self) -> std::net::SocketAddr {
        self.gateway.as_ref().expect("running").smpp.as_ref().expect("SMPP listens").addr()
    }

    /// SMPP credentials for the customer: (system_id, password).
    pub async fn smpp_account(&self, sender: &Sender, settings: Value) -> (String, String) {
        let (status, body) =
            self.admin(Method::POST, &format!("/customers/{}/smpp-accounts", sender.id), Some(settings)).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let system_id = body["account"]["system_id"].as_str().expect("system_id").to_owned();
        (system_id, body["password"].as_str().expect("password").to_owned())
    }
}

async fn node_with(sender: &str) -> (TestGateway, Sender, String, String) {
    let gw = TestGateway::spawn_with_simulator(|_| {}).await;
    let customer = gw.onboard(sender, "10").await;
    let (system_id, password) = gw.smpp_account(&customer, json!({})).await;
    (gw, customer, system_id, password)
}

fn receipt_of(sm: &Sm) -> DeliveryReceipt {
    assert_eq!(sm.esm_class & 0x3C, 0x04, "a delivery receipt");
    DeliveryReceipt::parse(&decode_gsm7_unpacked(&sm.short_message)).expect("receipt text")
}

/// The HTTP API's id of a message an SMPP submit_sm_resp named (SMPP ids go without `msg_`).
fn http_id(smpp_id: &str) -> String {
    assert!(smpp_id.len() == 26 && smpp_id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()), "{smpp_id}");
    format!("msg_{smpp_id}")
}

async fn price_of(gw: &TestGateway, sender: &Sender, id: &str) -> (String, u64) {
    let (status, body) = gw.message(sender, &http_id(id)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    (body["price"].as_str().expect("price").to_owned(), body["segments"].as_u64().expect("segments"))
}

#[tokio::test]
async fn a_bound_customer_submits_and_gets_the_receipt_on_its_bind() {
    let (gw, alice, system_id, password) = node_with("alice").await;
    let mut esme = Esme::bound(gw.smpp_addr(), Mode::Transceiver, &system_id, &password).await;
    let (status, id) = esme.submit(gsm(TO, "Your code is 123456")).await;
    assert_eq!(status, ESME_ROK);
    assert_eq!(gw.message(&alice, &http_id(&id)).await.0, StatusCode::OK, "the same message over HTTP");

    let sm = esme.next_delivery(WAIT).await.expect("a receipt");
    let receipt = receipt_of(&sm);
    assert_eq!((receipt.id.as_str(), receipt.stat.as_str()), (id.as_str(), "DELIVRD"));
    assert_eq!(receipt.text.as_deref(), Some("Your code is 123456"));
    assert_eq!(sm.tlvs.receipted_message_id().as_deref(), Some(id.as_str()));
    assert_eq!(sm.tlvs.message_state(), Some(2));
    assert_eq!(sm.source_addr, TO, "a receipt comes from the recipient");

    let resp = esme.call(Pdu::QuerySm(QuerySm { message_id: id.clone(), ..QuerySm::default() })).await;
    let Pdu::QuerySmResp(query) = resp.pdu else { panic!("query_sm_resp") };
    assert_eq!((resp.status, query.message_state, query.final_date.len()), (ESME_ROK, 2, 16));
    assert_eq!(gw.balance(&alice).await, "9.9550", "charged once, one segment");
    assert_eq!(esme.unbind().await, ESME_ROK);
    gw.ledger_check(&alice.id).await;
}

#[tokio::test]
async fn ucs2_and_long_messages_are_billed_per_segment_never_twice() {
    let (gw, alice, system_id, password) = node_with("alice").await;
    let mut esme = Esme::bound(gw.smpp_addr(), Mode::Transceiver, &system_id, &password).await;

    let ucs2 = Sm { data_coding: 8, short_message: encode_ucs2("您的验证码是 123456"), ..gsm(TO, "x") };
    let (status, short) = esme.submit(ucs2).await;
    assert_eq!(status, ESME_ROK);
    let (status, body) = gw.message(&alice, &http_id(&short)).await;
    assert_eq!(
        (status, body["text"].as_str(), body["encoding"].as_str()),
        (StatusCode::OK, Some("您的验证码是 123456"), Some("ucs2"))
    );

    // Three parts the customer cut itself, with a concatenation UDH: three messages of one
    // segment each, each sent on as that part.
    let mut udh_ids = Vec::new();
    for seq in 1..=3u8 {
        let mut body = vec![5, 0, 3, 0x42, 3, seq];
        body.extend(encode_ucs2(&"长".repeat(60)));
        let part = Sm { data_coding: 8, esm_class: 0x40, short_message: body, ..gsm(TO, "x") };
        let (status, id) = esme.submit(part).await;
        assert_eq!(status, ESME_ROK, "part {seq}");
        udh_ids.push(id);
    }
    // Two parts with SAR TLVs.
    let mut sar_ids = Vec::new();
    for seq in 1..=2u8 {
        let mut part = gsm(TO, &"a".repeat(150));
        part.tlvs = vec![
            Tlv::u16(tlv::SAR_MSG_REF_NUM, 0x1234),
            Tlv::u8(tlv::SAR_TOTAL_SEGMENTS, 2),
            Tlv::u8(tlv::SAR_SEGMENT_SEQNUM, seq),
        ];
        let (status, id) = esme.submit(part).await;
        assert_eq!(status, ESME_ROK);
        sar_ids.push(id);
    }
    // One whole long text in message_payload: one message of three segments.
    let mut payload = Sm { data_coding: 8, short_message: Vec::new(), ..gsm(TO, "x") };
    payload.tlvs.push(Tlv::new(tlv::MESSAGE_PAYLOAD, encode_ucs2(&"长".repeat(150))));
    let (status, whole) = esme.submit(payload).await;
    assert_eq!(status, ESME_ROK);

    for id in udh_ids.iter().chain(&sar_ids) {
        assert_eq!(price_of(&gw, &alice, id).await, ("0.0450".to_owned(), 1), "{id}");
    }
    assert_eq!(price_of(&gw, &alice, &whole).await, ("0.1350".to_owned(), 3));
    // 1 + 3 + 2 + 3 segments at 0.0450.
    assert_eq!(gw.balance(&alice).await, "9.5950");

    let mut receipted = std::collections::HashSet::new();
    while receipted.len() < 7 {
        let sm = esme.next_delivery(WAIT).await.expect("every message gets its receipt");
        receipted.insert(receipt_of(&sm).id);
    }
    assert!(udh_ids.iter().chain(&sar_ids).chain([&short, &whole]).all(|id| receipted.contains(id)));
    gw.ledger_check(&alice.id).await;
}

#[tokio::test]
async fn binds_are_refused_with_the_right_status() {
    let (gw, alice, system_id, password) = node_with("alice").await;
    let addr = gw.smpp_addr();
    let refused = |mode, system_id: String, password: String, version| async move {
        Esme::connect(addr).await.bind(mode, &system_id, &password, version).await
    };
    assert_eq!(refused(Mode::Transceiver, system_id.clone(), "wrong".into(), 0x34).await, ESME_RINVPASWD);
    assert_eq!(refused(Mode::Transmitter, "nobody".into(), password.clone(), 0x34).await, ESME_RINVSYSID);
    // SMPP 3.3 binds too.
    assert_eq!(refused(Mode::Receiver, system_id.clone(), password.clone(), 0x33).await, ESME_ROK);

    let (fenced, fenced_password) =
        gw.smpp_account(&alice, json!({"system_id": "fenced", "allowed_ips": ["10.0.0.0/8"]})).await;
    assert_eq!(refused(Mode::Transceiver, fenced, fenced_password, 0x34).await, ESME_RBINDFAIL, "IP not allowed");

    let (single, single_password) = gw.smpp_account(&alice, json!({"system_id": "single", "max_binds": 1})).await;
    let mut first = Esme::bound(addr, Mode::Transceiver, &single, &single_password).await;
    assert_eq!(refused(Mode::Transceiver, single.clone(), single_password.clone(), 0x34).await, ESME_RBINDFAIL);
    assert_eq!(first.bind(Mode::Transceiver, &single, &single_password, 0x34).await, ESME_RALYBND);

    let mut unbound = Esme::connect(addr).await;
    assert_eq!(unbound.submit(gsm(TO, "early")).await.0, ESME_RINVBNDSTS);
    let mut receiver = Esme::bound(addr, Mode::Receiver, &system_id, &password).await;
    assert_eq!(receiver.submit(gsm(TO, "not here")).await.0, ESME_RINVBNDSTS);
}

#[tokio::test]
async fn refusals_and_throttling_answer_through_the_rejection_table() {
    let gw = TestGateway::spawn_with_simulator(|_| {}).await;
    let poor = gw.onboard("poor", "0.0400").await;
    let (system_id, password) = gw.smpp_account(&poor, json!({"tps": 1})).await;
    let mut esme = Esme::bound(gw.smpp_addr(), Mode::Transmitter, &system_id, &password).await;
    assert_eq!(esme.submit(gsm(TO, "cannot pay")).await.0, ESME_RSUBMITFAIL, "insufficient balance");
    // One submit per second: the next at once is throttled, without reaching the platform.
    assert_eq!(esme.submit(gsm("8613800138001", "too fast")).await.0, ESME_RTHROTTLED);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(esme.submit(gsm("12345", "bad number")).await.0, ESME_RINVDSTADR);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let binary = Sm { data_coding: 4, ..gsm(TO, "x") };
    assert_eq!(esme.submit(binary).await.0, 0x104, "an unsupported data_coding");
    assert_eq!(gw.balance(&poor).await, "0.0400", "nothing charged");
}

#[tokio::test]
async fn registered_delivery_decides_which_receipts_come_back() {
    let (gw, alice, system_id, password) = node_with("alice").await;
    let mut esme = Esme::bound(gw.smpp_addr(), Mode::Transceiver, &system_id, &password).await;
    let none = Sm { registered_delivery: 0, ..gsm(TO, "no receipt") };
    let failures_only = Sm { registered_delivery: 2, ..gsm(TO, "receipt on failure") };
    for sm in [none, failures_only.clone()] {
        let (_, id) = esme.submit(sm).await;
        gw.wait_final(&alice, &http_id(&id)).await;
    }
    gw.script(json!({"outcomes": {"delivered": 0, "undeliverable": 1}}));
    let (_, failed) = esme.submit(failures_only).await;
    let sm = esme.next_delivery(WAIT).await.expect("the failure's receipt");
    let receipt = receipt_of(&sm);
    assert_eq!((receipt.id.as_str(), receipt.stat.as_str()), (failed.as_str(), "UNDELIV"));
    assert_eq!(sm.tlvs.message_state(), Some(5));
    assert!(esme.next_delivery(Duration::from_millis(700)).await.is_none(), "no other receipt");
}

#[tokio::test]
async fn receipts_wait_for_a_receiver_bind_and_a_customer_sees_only_its_own() {
    let gw = TestGateway::spawn_with_simulator(|_| {}).await;
    let alice = gw.onboard("alice", "10").await;
    let bob = gw.onboard("bob", "10").await;
    let (alice_id, alice_password) = gw.smpp_account(&alice, json!({})).await;
    let (bob_id, bob_password) = gw.smpp_account(&bob, json!({})).await;
    for (customer, number) in [(&alice, "10690001"), (&bob, "10690002")] {
        let path = format!("/customers/{}/numbers", customer.id);
        let (status, body) = gw.admin(Method::POST, &path, Some(json!({"number": number}))).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    // Submitted with no receiver bound: the receipts are kept until one binds.
    let mut alice_tx = Esme::bound(gw.smpp_addr(), Mode::Transmitter, &alice_id, &alice_password).await;
    let mut bob_tx = Esme::bound(gw.smpp_addr(), Mode::Transmitter, &bob_id, &bob_password).await;
    let mut alice_sent = std::collections::HashSet::new();
    let mut bob_sent = std::collections::HashSet::new();
    for i in 0..5 {
        alice_sent.insert(alice_tx.submit(gsm(TO, &format!("alice {i}"))).await.1);
        bob_sent.insert(bob_tx.submit(gsm(TO, &format!("bob {i}"))).await.1);
    }
    for id in alice_sent.iter() {
        gw.wait_final(&alice, &http_id(id)).await;
    }
    for id in bob_sent.iter() {
        gw.wait_final(&bob, &http_id(id)).await;
    }
    let mut alice_rx = Esme::bound(gw.smpp_addr(), Mode::Receiver, &alice_id, &alice_password).await;
    let mut alice_trx = Esme::bound(gw.smpp_addr(), Mode::Transceiver, &alice_id, &alice_password).await;
    let mut bob_rx = Esme::bound(gw.smpp_addr(), Mode::Receiver, &bob_id, &bob_password).await;

    // A reply to each customer's number.
    let sim = gw.simulator();
    sim.inject_mo("8613900139000", "10690001", "to alice").await.expect("sent");
    sim.inject_mo("8613900139001", "10690002", "to bob").await.expect("sent");

    let mut alice_got = std::collections::HashSet::new();
    let mut alice_mo = Vec::new();
    while alice_got.len() < 5 || alice_mo.is_empty() {
        // Either of her receiving binds may carry each one (the spread itself is tested in
        // crates/smpp-server/tests/deliver.rs).
        let sm = tokio::select! {
            sm = alice_rx.next_delivery(WAIT) => sm,
            sm = alice_trx.next_delivery(WAIT) => sm,
        };
        let sm = sm.expect("alice's deliveries");
        if sm.esm_class & 0x04 != 0 {
            alice_got.insert(receipt_of(&sm).id);
        } else {
            alice_mo.push(decode_gsm7_unpacked(&sm.short_message));
        }
    }
    assert_eq!(alice_got, alice_sent, "alice gets exactly her receipts");
    assert_eq!(alice_mo, ["to alice"]);
    let mut bob_got = std::collections::HashSet::new();
    let mut bob_mo = Vec::new();
    while bob_got.len() < 5 || bob_mo.is_empty() {
        let sm = bob_rx.next_delivery(WAIT).await.expect("bob's deliveries");
        if sm.esm_class & 0x04 != 0 {
            bob_got.insert(receipt_of(&sm).id);
        } else {
            bob_mo.push(decode_gsm7_unpacked(&sm.short_message));
        }
    }
    assert_eq!(bob_got, bob_sent, "bob gets exactly his receipts");
    assert_eq!(bob_mo, ["to bob"]);
    for esme in [&mut alice_rx, &mut alice_trx, &mut bob_rx] {
        assert!(esme.next_delivery(Duration::from_millis(500)).await.is_none(), "nothing more, nothing else");
    }
    assert_eq!(gw.platform().store().smpp_outbox_depth().await.expect("depth"), 0, "all taken");
}

#[tokio::test]
async fn cancel_sm_refunds_a_message_not_yet_sent_and_refuses_one_that_went() {
    let (gw, alice, system_id, password) = node_with("alice").await;
    let mut esme = Esme::bound(gw.smpp_addr(), Mode::Transceiver, &system_id, &password).await;
    // In an hour (relative SMPP time).
    let later = Sm { schedule_delivery_time: "000000010000000R".into(), ..gsm(TO, "later") };
    let (status, scheduled) = esme.submit(later).await;
    assert_eq!(status, ESME_ROK);
    assert_eq!(gw.balance(&alice).await, "9.9550");
    let cancel = |id: &str| Pdu::CancelSm(CancelSm { message_id: id.to_owned(), ..CancelSm::default() });
    assert_eq!(esme.call(cancel(&scheduled)).await.status, ESME_ROK);
    assert_eq!(gw.balance(&alice).await, "10.0000", "refunded");
    assert_eq!(esme.call(cancel(&scheduled)).await.status, ESME_RCANCELFAIL, "refunded once");
    let query = esme.call(Pdu::QuerySm(QuerySm { message_id: scheduled.clone(), ..QuerySm::default() })).await;
    let Pdu::QuerySmResp(state) = query.pdu else { panic!("query_sm_resp") };
    assert_eq!(state.message_state, 4, "deleted");

    let (_, sent) = esme.submit(gsm(TO, "now")).await;
    gw.wait_final(&alice, &http_id(&sent)).await;
    assert_eq!(esme.call(cancel(&sent)).await.status, ESME_RCANCELFAIL);
    assert_eq!(esme.call(cancel("unknown")).await.status, ESME_RCANCELFAIL);
    let query = esme.call(Pdu::QuerySm(QuerySm { message_id: "unknown".into(), ..QuerySm::default() })).await;
    assert_eq!(query.status, ESME_RQUERYFAIL);
    gw.ledger_check(&alice.id).await;
}

#[tokio::test]
async fn another_customers_message_is_not_found_over_smpp() {
    let gw = TestGateway::spawn_with_simulator(|_| {}).await;
    let alice = gw.onboard("alice", "10").await;
    let mallory = gw.onboard("mallory", "10").await;
    let (alice_id, alice_password) = gw.smpp_account(&alice, json!({})).await;
    let (m_id, m_password) = gw.smpp_account(&mallory, json!({})).await;
    let mut a = Esme::bound(gw.smpp_addr(), Mode::Transmitter, &alice_id, &alice_password).await;
    let later = Sm { schedule_delivery_time: "000000010000000R".into(), ..gsm(TO, "mine") };
    let (_, id) = a.submit(later).await;
    let mut m = Esme::bound(gw.smpp_addr(), Mode::Transmitter, &m_id, &m_password).await;
    let query = m.call(Pdu::QuerySm(QuerySm { message_id: id.clone(), ..QuerySm::default() })).await;
    assert_eq!(query.status, ESME_RQUERYFAIL);
    let cancel = m.call(Pdu::CancelSm(CancelSm { message_id: id, ..CancelSm::default() })).await;
    assert_eq!(cancel.status, ESME_RCANCELFAIL);
    assert_eq!(gw.balance(&alice).await, "9.9550", "still charged: not cancelled by another customer");
}

#[tokio::test]
async fn the_operator_manages_smpp_accounts_and_passwords_are_stored_hashed() {
    let (gw, alice, system_id, password) = node_with("alice").await;
    assert_eq!(password.len(), 8);
    let (status, list) = gw.admin(Method::GET, &format!("/customers/{}/smpp-accounts", alice.id), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["accounts"][0]["system_id"], json!(system_id));
    assert!(!list.to_string().contains(&password), "the password is never shown again");
    let stored = gw.platform().store().find_smpp_account(&system_id).await.expect("read").expect("account");
    assert!(stored.password_hash.starts_with("$argon2id$") && !stored.password_hash.contains(&password));

    let path = format!("/customers/{}/smpp-accounts/{system_id}", alice.id);
    let (status, body) = gw.admin(Method::PATCH, &path, Some(json!({"password": "n3wpass", "tps": 5}))).await;
    assert_eq!((status, body["tps"].as_u64()), (StatusCode::OK, Some(5)), "{body}");
    let addr = gw.smpp_addr();
    assert_eq!(Esme::connect(addr).await.bind(Mode::Transmitter, &system_id, &password, 0x34).await, ESME_RINVPASWD);
    assert_eq!(Esme::connect(addr).await.bind(Mode::Transmitter, &system_id, "n3wpass", 0x34).await, ESME_ROK);
    let (status, body) = gw.admin(Method::PATCH, &path, Some(json!({"password": "far too long"}))).await;
    assert_eq!((status, body["error"]["field"].as_str()), (StatusCode::BAD_REQUEST, Some("password")));
    let (status, _) = gw.admin(Method::DELETE, &path, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(Esme::connect(addr).await.bind(Mode::Transmitter, &system_id, "n3wpass", 0x34).await, ESME_RINVSYSID);
    let (status, body) = gw
        .admin(Method::POST, &format!("/customers/{}/smpp-accounts", alice.id), Some(json!({"system_id": "a b"})))
        .await;
    assert_eq!((status, body["error"]["field"].as_str()), (StatusCode::BAD_REQUEST, Some("system_id")));
}

/// rusmppc, an independent SMPP implementation, as the customer: binds as SMPP 3.4, submits
/// GSM and UCS-2 text, receives and answers its receipts, unbinds.
#[tokio::test]
async fn rusmppc_binds_submits_and_receives_its_receipts() {
    use futures::StreamExt;
    use rusmpp::pdus::{BindTransceiver, DeliverSmResp, SubmitSm};
    use rusmpp::types::{COctetString, OctetString};
    use rusmpp::values::{DataCoding, InterfaceVersion, Npi, RegisteredDelivery, Ton};
    use rusmpp::{CommandId, Pdu as RPdu};
    use std::str::FromStr;

    let (gw, alice, system_id, password) = node_with("alice").await;
    let (client, mut events) = rusmppc::ConnectionBuilder::new()
        .disable_interface_version_check()
        .response_timeout(Duration::from_secs(5))
        .no_enquire_link_interval()
        .connect(format!("smpp://{}", gw.smpp_addr()))
        .await
        .expect("rusmppc connects");
    client
        .bind_transceiver(
            BindTransceiver::builder()
                .system_id(COctetString::from_str(&system_id).expect("system_id"))
                .password(COctetString::from_str(&password).expect("password"))
                .interface_version(InterfaceVersion::Smpp3_4)
                .build(),
        )
        .await
        .expect("rusmppc binds");
    let mut ids = Vec::new();
    for (coding, body) in
        [(DataCoding::McSpecific, b"Hello from rusmppc".to_vec()), (DataCoding::Ucs2, encode_ucs2("你好"))]
    {
        let submit = SubmitSm::builder()
            .source_addr_ton(Ton::Unknown)
            .source_addr_npi(Npi::Unknown)
            .dest_addr_ton(Ton::International)
            .dest_addr_npi(Npi::Isdn)
            .destination_addr(COctetString::from_str(TO).expect("to"))
            .data_coding(coding)
            .registered_delivery(RegisteredDelivery::request_all())
            .short_message(OctetString::from_vec(body).expect("body"))
            .build();
        let resp = client.submit_sm(submit).await.expect("submit_sm_resp OK");
        ids.push(String::from_utf8_lossy(resp.message_id().as_ref()).trim_end_matches('\0').to_owned());
    }
    let (_, body) = gw.message(&alice, &http_id(&ids[1])).await;
    assert_eq!(body["text"], json!("你好"));

    let mut receipted = std::collections::HashSet::new();
    while receipted.len() < 2 {
        let event = tokio::time::timeout(WAIT, events.next()).await.expect("an event").expect("the stream is open");
        let rusmppc::Event::Incoming(command) = event else { continue };
        if command.id() != CommandId::DeliverSm {
            continue;
        }
        let Some(RPdu::DeliverSm(deliver)) = command.pdu() else { panic!("a deliver_sm body") };
        let text = String::from_utf8_lossy(deliver.short_message().as_ref()).into_owned();
        let receipt = DeliveryReceipt::parse(&text).expect("receipt text");
        assert_eq!(receipt.stat, "DELIVRD", "{text}");
        receipted.insert(receipt.id);
        client.deliver_sm_resp(command.sequence_number(), DeliverSmResp::default()).await.expect("answered");
    }
    assert_eq!(receipted, ids.iter().cloned().collect(), "each message's receipt, by our id");
    client.unbind().await.expect("unbind_resp");
    // After unbind_resp the server closes the connection.
    tokio::time::timeout(WAIT, client.closed()).await.expect("closed by the server");
    assert_eq!(gw.balance(&alice).await, "9.9100");
}

#[tokio::test]
async fn forbidden_content_and_opted_out_numbers_are_refused_over_smpp_and_a_suspended_customer_cannot_bind() {
    let (gw, alice, system_id, password) = node_with("alice").await;
    let mut esme = Esme::bound(gw.smpp_addr(), Mode::Transceiver, &system_id, &password).await;
    assert_eq!(esme.submit(gsm(TO, "Your code is 1234")).await.0, ESME_ROK);
    // The records name the bind it came from (clause 3.1).
    let now = gw.clock_now();
    let format = tongdao_pipeline::records::RecordFormat::Json;
    let export = gw.platform().export_records(&alice.id, now - 60_000, now + 60_000, format, "test").await;
    let records: Value = serde_json::from_slice(&export.expect("exported").bytes).expect("JSON");
    assert_eq!(records[0]["source"], format!("smpp:{system_id}@127.0.0.1"), "{records}");
    let forbidden = Sm {
        data_coding: 8,
        short_message: "兼职刷单".encode_utf16().flat_map(u16::to_be_bytes).collect(),
        ..gsm(TO, "")
    };
    assert_eq!(esme.submit(forbidden).await.0, ESME_RSUBMITFAIL, "content_rejected");
    let (status, _) = gw.as_customer(&alice.key, Method::POST, "/suppressions", Some(json!({"number": TO}))).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(esme.submit(gsm(TO, "hello again")).await.0, ESME_RINVDSTADR, "recipient_opted_out");

    let (status, _) = gw
        .admin(Method::POST, &format!("/agreements/{}/suspend", alice.agreement_id), Some(json!({"reason": "spam"})))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(esme.submit(gsm("8613800138009", "still bound")).await.0, ESME_RSUBMITFAIL, "account_suspended");
    let refused = Esme::connect(gw.smpp_addr()).await.bind(Mode::Transceiver, &system_id, &password, 0x34).await;
    assert_eq!(refused, ESME_RBINDFAIL, "a suspended customer cannot bind");
}
