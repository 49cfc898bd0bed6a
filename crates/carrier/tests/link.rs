//! A carrier link against the built-in SMSC simulator and against carriers that misbehave.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tongdao_carrier::{Incoming, Link, LinkConfig, LinkError, SubmitOutcome};
use tongdao_smpp::pdu::{BindResp, Sm};
use tongdao_smpp::tlv::Tlvs;
use tongdao_smpp::{Command, Leniency, Pdu, split_frame, status};

fn config(addr: std::net::SocketAddr, window: usize) -> LinkConfig {
    LinkConfig {
        addr,
        mode: tongdao_carrier::BindMode::Transceiver,
        system_id: "tongdao".into(),
        password: "secret".into(),
        system_type: String::new(),
        window,
        response_timeout: Duration::from_millis(300),
        enquire_link_interval: Duration::from_millis(50),
        tps: 0,
    }
}

fn message(n: usize) -> Sm {
    Sm {
        source_addr: "10690000".into(),
        destination_addr: format!("86138{n:08}"),
        registered_delivery: 1,
        short_message: format!("message {n}").into_bytes(),
        ..Sm::default()
    }
}

async fn simulator() -> (std::net::SocketAddr, Arc<tongdao_simulator::SimStats>, tokio::sync::watch::Sender<bool>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let stats = Arc::new(tongdao_simulator::SimStats::default());
    let (stop, stopped) = tokio::sync::watch::channel(false);
    tokio::spawn(tongdao_simulator::serve(listener, Default::default(), stats.clone(), stopped));
    (addr, stats, stop)
}

#[tokio::test]
async fn a_window_of_submits_is_accepted_and_every_receipt_comes_back() {
    let (addr, stats, _stop) = simulator().await;
    let (link, mut incoming) = Link::connect(config(addr, 10)).await.expect("bound");
    let mut tasks = Vec::new();
    for n in 0..200 {
        let link = link.clone();
        tasks.push(tokio::spawn(async move {
            let outcome = link.submit(message(n)).await;
            assert!(link.in_flight() <= 10, "the window holds");
            outcome
        }));
    }
    let mut ids = HashSet::new();
    for task in tasks {
        match task.await.expect("task") {
            SubmitOutcome::Accepted { message_id } => assert!(ids.insert(message_id), "ids are distinct"),
            other => panic!("not accepted: {other:?}"),
        }
    }
    let mut receipted = HashSet::new();
    while receipted.len() < 200 {
        let Some(Incoming::DeliverSm(sm, _ack)) =
            tokio::time::timeout(Duration::from_secs(5), incoming.recv()).await.expect("a receipt in time")
        else {
            panic!("the link closed");
        };
        assert!(sm.is_delivery_receipt());
        receipted.insert(sm.tlvs.receipted_message_id().expect("receipted_message_id"));
    }
    assert_eq!(receipted, ids, "one receipt per accepted submit, matched by the carrier's id");
    assert_eq!(stats.submits.load(Ordering::Relaxed), 200);
    tokio::time::sleep(Duration::from_millis(120)).await; // enquire_link runs every 50 ms
    assert!(matches!(link.submit(message(999)).await, SubmitOutcome::Accepted { .. }), "still bound after keep-alives");
    link.unbind().await.expect("unbinds");
}

#[tokio::test]
async fn an_unanswered_submit_times_out_as_temporary_and_frees_its_window_slot() {
    let (addr, _closed) = silent_carrier(status::ESME_ROK).await;
    let mut config = config(addr, 1);
    config.enquire_link_interval = Duration::ZERO;
    let (link, _incoming) = Link::connect(config).await.expect("bound");
    let started = std::time::Instant::now();
    assert_eq!(link.submit(message(1)).await, SubmitOutcome::TemporaryFailure { status: None });
    assert_eq!(link.submit(message(2)).await, SubmitOutcome::TemporaryFailure { status: None }, "the slot was freed");
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(link.in_flight(), 0);
}

#[tokio::test]
async fn a_refused_bind_is_reported_with_its_status_and_the_connection_closed() {
    let (addr, closed) = silent_carrier(status::ESME_RINVPASWD).await;
    let refused = Link::connect(config(addr, 1)).await.map(|_| ()).expect_err("refused");
    assert_eq!(refused, LinkError::BindRefused(status::ESME_RINVPASWD));
    tokio::time::timeout(Duration::from_secs(5), closed).await.expect("the link hangs up").expect("reported");
}

/// A carrier that answers binds with `bind_status`, never answers anything else, and says
/// when the client hangs up.
async fn silent_carrier(bind_status: u32) -> (std::net::SocketAddr, tokio::sync::oneshot::Receiver<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (hung_up, closed) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let Ok((mut stream, _)) = listener.accept().await else { return };
        let mut buffer = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            while let Ok(Some(length)) = split_frame(&buffer, 65536) {
                let frame: Vec<u8> = buffer.drain(..length).collect();
                if let Ok(Command { sequence, pdu: Pdu::BindTransceiver(_), .. }) =
                    Command::decode(&frame, &mut Leniency::default())
                {
                    let answer =
                        Command { status: bind_status, sequence, pdu: Pdu::BindTransceiverResp(BindResp::default()) };
                    let _ = stream.write_all(&answer.encode()).await;
                }
            }
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => {
                    let _ = hung_up.send(());
                    return;
                }
                Ok(n) => buffer.extend_from_slice(&chunk[..n]),
            }
        }
    });
    (addr, closed)
}

#[tokio::test]
async fn submits_are_spaced_at_the_link_s_tps() {
    let (addr, _stats, _stop) = simulator().await;
    let mut config = config(addr, 10);
    config.tps = 100;
    let (link, _incoming) = Link::connect(config).await.expect("bound");
    let started = std::time::Instant::now();
    let mut tasks = Vec::new();
    for n in 0..50 {
        let link = link.clone();
        tasks.push(tokio::spawn(async move { link.submit(message(n)).await }));
    }
    for task in tasks {
        assert!(matches!(task.await.expect("task"), SubmitOutcome::Accepted { .. }));
    }
    // 50 submits at 100 per second: the last leaves 49 intervals of 10 ms after the first.
    assert!(started.elapsed() >= Duration::from_millis(480), "took {:?}", started.elapsed());
}

#[tokio::test]
async fn a_full_window_holds_further_submits_until_an_answer_frees_a_place() {
    // A simulator that answers each submit after 200 ms: with a window of 4, twelve submits
    // go out four at a time, so never more than 4 are outstanding and the last answers
    // come after three rounds.
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let script = tongdao_simulator::Script { answer_delay_ms: 200, ..tongdao_simulator::Script::default() };
    let config_sim = tongdao_simulator::SimConfig { script: Some(script), ..Default::default() };
    let sim = tongdao_simulator::Simulator::new(config_sim, Arc::new(tongdao_simulator::SimStats::default()))
        .expect("simulator");
    let (_stop, stopped) = tokio::sync::watch::channel(false);
    tokio::spawn({
        let sim = sim.clone();
        async move { sim.serve(listener, stopped).await }
    });
    let (link, _incoming) = Link::connect(config(addr, 4)).await.expect("bound");
    let started = std::time::Instant::now();
    let tasks: Vec<_> = (0..12)
        .map(|n| {
            let link = link.clone();
            tokio::spawn(async move { link.submit(message(n)).await })
        })
        .collect();
    let mut most = 0;
    while tasks.iter().any(|t| !t.is_finished()) {
        most = most.max(link.in_flight());
        assert!(link.in_flight() <= 4, "never more than the window outstanding");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(most, 4, "the window was full");
    for task in tasks {
        assert!(matches!(task.await.expect("task"), SubmitOutcome::Accepted { .. }));
    }
    assert!(started.elapsed() >= Duration::from_millis(600), "three rounds of four: {:?}", started.elapsed());
}
