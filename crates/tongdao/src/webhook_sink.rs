//! `tongdao webhook-sink`: a webhook receiver that checks every callback's signature and
//! prints (or counts) the events, for the quickstart and `bench e2e`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use tokio::sync::watch;
use tongdao_domain::{Clock, MessageStatus, SystemClock};
use tongdao_notify::signature::{DEFAULT_TOLERANCE_SECS, SIGNATURE_HEADER, verify};

/// What a sink has seen.
#[derive(Debug, Default)]
pub struct SinkCounts {
    pub requests: AtomicU64,
    pub events: AtomicU64,
    /// Events reporting a final message status.
    pub final_statuses: AtomicU64,
    pub inbound: AtomicU64,
    pub bad_signatures: AtomicU64,
}

#[derive(Clone)]
struct Sink {
    secret: Arc<str>,
    counts: Arc<SinkCounts>,
    print: bool,
    /// Checks the signature's timestamp against this clock (the sender's, in tests).
    clock: Arc<dyn Clock>,
}

async fn receive(State(sink): State<Sink>, headers: HeaderMap, body: Bytes) -> StatusCode {
    sink.counts.requests.fetch_add(1, Ordering::Relaxed);
    let header = headers.get(SIGNATURE_HEADER).and_then(|v| v.to_str().ok()).unwrap_or("");
    let now = sink.clock.now_ms() / 1000;
    if verify(&sink.secret, header, &body, now, DEFAULT_TOLERANCE_SECS).is_err() {
        sink.counts.bad_signatures.fetch_add(1, Ordering::Relaxed);
        if sink.print {
            eprintln!("refused a callback with a bad signature");
        }
        return StatusCode::UNAUTHORIZED;
    }
    let Ok(batch) = serde_json::from_slice::<serde_json::Value>(&body) else {
        return StatusCode::BAD_REQUEST;
    };
    let events = batch.get("events").and_then(|e| e.as_array()).cloned().unwrap_or_default();
    for event in &events {
        sink.counts.events.fetch_add(1, Ordering::Relaxed);
        let status = event.get("status").and_then(|s| s.as_str()).and_then(MessageStatus::parse);
        if status.is_some_and(MessageStatus::is_final) {
            sink.counts.final_statuses.fetch_add(1, Ordering::Relaxed);
        }
        if event.get("type").and_then(|t| t.as_str()) == Some("inbound.message") {
            sink.counts.inbound.fetch_add(1, Ordering::Relaxed);
        }
        if sink.print {
            println!("signature ok: {event}");
        }
    }
    StatusCode::OK
}

/// Serves the sink on `listener` until `stop` turns true.
pub async fn serve(
    listener: tokio::net::TcpListener,
    secret: &str,
    counts: Arc<SinkCounts>,
    print: bool,
    clock: Arc<dyn Clock>,
    mut stop: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let sink = Sink { secret: Arc::from(secret), counts, print, clock };
    let app = Router::new().fallback(post(receive)).with_state(sink);
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            let _ = stop.wait_for(|s| *s).await;
        })
        .await?;
    Ok(())
}

/// `tongdao webhook-sink`: runs until Ctrl-C.
pub async fn run(listen: SocketAddr, secret: &str) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(listen).await?;
    println!("webhook sink listening on http://{}/ (checking X-Tongdao-Signature)", listener.local_addr()?);
    let (stop, stopped) = watch::channel(false);
    let counts = Arc::new(SinkCounts::default());
    let serving = tokio::spawn({
        let secret = secret.to_owned();
        async move { serve(listener, &secret, counts, true, Arc::new(SystemClock), stopped).await }
    });
    tokio::signal::ctrl_c().await?;
    let _ = stop.send(true);
    serving.await??;
    Ok(())
}
