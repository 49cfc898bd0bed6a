//! The live sessions: who is connected, how each bound, and the way to write to it. Used to
//! send receipts on another bind, to inject MO messages and to drop every session.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use serde::Serialize;
use tokio::sync::{Notify, mpsc};
use tongdao_smpp::{Command, Pdu, status};

/// How a session bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BindKind {
    Transmitter,
    Receiver,
    Transceiver,
}

impl BindKind {
    /// Receivers and transceivers may be sent deliver_sm; transmitters never are.
    pub fn can_receive(self) -> bool {
        !matches!(self, BindKind::Transmitter)
    }
}

/// What a session's writer is given: a PDU's bytes, or the order to flush and close.
#[derive(Debug)]
pub(crate) enum Out {
    Bytes(Vec<u8>),
    Close,
}

/// The way to write to one session: its bounded queue and its sequence numbers for the
/// PDUs the simulator originates (deliver_sm).
#[derive(Debug, Clone)]
pub(crate) struct Peer {
    pub out: mpsc::Sender<Out>,
    pub sequence: Arc<AtomicU32>,
}

impl Peer {
    /// Queues a PDU the simulator originates, with the session's next sequence number;
    /// false when the session has gone.
    pub async fn originate(&self, pdu: Pdu) -> bool {
        // Sequence numbers run 1..=0x7FFF_FFFF (SMPP 3.4 §5.1.4).
        let sequence = (self.sequence.fetch_add(1, Ordering::Relaxed) & 0x7FFF_FFFF).max(1);
        let command = Command { status: status::ESME_ROK, sequence, pdu };
        self.out.send(Out::Bytes(command.encode())).await.is_ok()
    }
}

#[derive(Debug)]
struct Entry {
    system_id: String,
    kind: Option<BindKind>,
    peer: Peer,
    kill: Arc<Notify>,
}

#[derive(Debug, Default)]
pub(crate) struct Registry {
    sessions: Mutex<BTreeMap<u64, Entry>>,
    /// Round-robin position among the candidates of [`Registry::pick_receiver`].
    cursor: AtomicUsize,
}

impl Registry {
    fn lock(&self) -> MutexGuard<'_, BTreeMap<u64, Entry>> {
        self.sessions.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A new connection, not bound yet.
    pub fn insert(&self, id: u64, peer: Peer, kill: Arc<Notify>) {
        self.lock().insert(id, Entry { system_id: String::new(), kind: None, peer, kill });
    }

    pub fn bound(&self, id: u64, system_id: &str, kind: BindKind) {
        if let Some(entry) = self.lock().get_mut(&id) {
            entry.system_id = system_id.to_owned();
            entry.kind = Some(kind);
        }
    }

    pub fn remove(&self, id: u64) {
        self.lock().remove(&id);
    }

    /// Connected sessions, bound or not.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// One session that can receive, round-robin among those that do; `other_than` leaves
    /// a session out, `system_id` keeps only the sessions bound with it.
    pub fn pick_receiver(&self, other_than: Option<u64>, system_id: Option<&str>) -> Option<Peer> {
        let sessions = self.lock();
        let fits = |(id, entry): &(&u64, &Entry)| {
            entry.kind.is_some_and(BindKind::can_receive)
                && other_than != Some(**id)
                && system_id.is_none_or(|s| s == entry.system_id)
        };
        let count = sessions.iter().filter(fits).count();
        if count == 0 {
            return None;
        }
        let nth = self.cursor.fetch_add(1, Ordering::Relaxed) % count;
        sessions.iter().filter(fits).nth(nth).map(|(_, entry)| entry.peer.clone())
    }

    /// Tells every connected session to close at once; how many were told.
    pub fn kill_all(&self) -> usize {
        let sessions = self.lock();
        for entry in sessions.values() {
            // notify_one keeps a permit, so a session busy elsewhere sees it on its next wait.
            entry.kill.notify_one();
        }
        sessions.len()
    }
}
