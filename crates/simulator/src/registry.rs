//! The live sessions: who is connected, how each bound, and the way to write to it; and the
//! deliver_sm each system_id was sent and has not answered. Used to send receipts on another
//! bind, to inject MO messages, to drop every session, and to store and forward: what a
//! session leaves unanswered when it ends goes to another receiving bind of its system_id, or
//! waits for the next one, as a real carrier's MC does.
//!
//! Every deliver_sm is held from the moment it is queued until the ESME answers it, under the
//! same lock as the sessions. A session's end takes what it holds under that lock and nothing
//! is held on it afterwards, so a deliver_sm is either taken at the end of its session or
//! refused by it unsent, then kept by its sender (a receipt) or reported as not sent (an
//! injected MO): none falls between.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use serde::Serialize;
use tokio::sync::{Notify, mpsc};
use tongdao_smpp::{Command, Pdu, status};

use crate::SimStats;

/// The most deliver_sm held for one system_id, sent and unanswered or waiting for a bind. A
/// real MC's store is bounded too; beyond this the oldest is dropped (and counted) so an ESME
/// that never answers cannot grow the simulator without end.
pub const MAX_HELD: usize = 100_000;

/// Where the sequence number sits in an encoded PDU's header (SMPP 3.4 §3.2).
const SEQUENCE: std::ops::Range<usize> = 12..16;

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
    /// The session's number, which keys what it holds.
    pub session: u64,
    /// The system_id it bound with (empty before the bind): what it holds is that system_id's.
    pub system_id: Arc<str>,
    pub out: mpsc::Sender<Out>,
    pub sequence: Arc<AtomicU32>,
}

impl Peer {
    pub fn new(session: u64, out: mpsc::Sender<Out>) -> Peer {
        Peer { session, system_id: Arc::from(""), out, sequence: Arc::new(AtomicU32::new(1)) }
    }

    fn next_sequence(&self) -> u32 {
        // Sequence numbers run 1..=0x7FFF_FFFF (SMPP 3.4 §5.1.4).
        (self.sequence.fetch_add(1, Ordering::Relaxed) & 0x7FFF_FFFF).max(1)
    }
}

/// A deliver_sm refused by a session that had ended, to be kept with [`Registry::keep`].
#[derive(Debug)]
pub(crate) struct Gone(Vec<u8>);

/// deliver_sm to send again after their session ended, each already held on the session it
/// goes to: one that fails to go is taken again when that session ends.
#[derive(Debug, Default)]
#[must_use = "the deliver_sm are held but not sent until this is sent"]
pub(crate) struct Resend(Vec<(mpsc::Sender<Out>, Vec<u8>)>);

impl Resend {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Queues each on its session, in order, counting it before it can be read.
    pub async fn send(self, stats: &SimStats) {
        for (out, bytes) in self.0 {
            if let Ok(permit) = out.reserve().await {
                stats.redelivered.fetch_add(1, Ordering::Relaxed);
                permit.send(Out::Bytes(bytes));
            }
        }
    }
}

#[derive(Debug)]
struct Entry {
    kind: Option<BindKind>,
    peer: Peer,
    kill: Arc<Notify>,
    /// Its reader has stopped: no longer picked, counted or told to close, but what is sent
    /// to it meanwhile is still held on it until it ends.
    closing: bool,
}

impl Entry {
    fn receives(&self) -> bool {
        !self.closing && self.kind.is_some_and(BindKind::can_receive)
    }
}

/// One held deliver_sm.
#[derive(Debug)]
struct Held {
    /// The session and sequence number it was last sent with; `None` while it waits for a bind.
    on: Option<(u64, u32)>,
    /// The deliver_sm as encoded; its sequence number is rewritten each time it goes out.
    bytes: Vec<u8>,
}

/// What one system_id's sessions were sent and have not answered, and what waits for its
/// next receiving bind.
#[derive(Debug, Default)]
struct Account {
    /// By age, the oldest first: it is the first dropped when over the bound.
    held: BTreeMap<u64, Held>,
    /// (session, sequence) → age, to find what an answer or a session's end concerns.
    sent: BTreeMap<(u64, u32), u64>,
    /// Ages of those waiting for a bind, sent in this order when one comes.
    parked: BTreeSet<u64>,
}

impl Account {
    /// Holds `bytes` on `peer` under a new sequence number, which it writes into them; the
    /// copy to send.
    fn hold_on(&mut self, peer: &Peer, age: u64, mut bytes: Vec<u8>) -> Vec<u8> {
        let sequence = peer.next_sequence();
        if let Some(field) = bytes.get_mut(SEQUENCE) {
            field.copy_from_slice(&sequence.to_be_bytes());
        }
        self.sent.insert((peer.session, sequence), age);
        let copy = bytes.clone();
        self.held.insert(age, Held { on: Some((peer.session, sequence)), bytes });
        copy
    }

    /// Makes room for one more under `cap` by dropping the oldest; how many were dropped and,
    /// of them, how many were parked.
    fn make_room(&mut self, cap: usize) -> (u64, u64) {
        let (mut dropped, mut parked) = (0, 0);
        while self.held.len() >= cap.max(1) {
            let Some((age, held)) = self.held.pop_first() else { break };
            match held.on {
                Some(key) => {
                    self.sent.remove(&key);
                }
                None => {
                    self.parked.remove(&age);
                    parked += 1;
                }
            }
            dropped += 1;
        }
        (dropped, parked)
    }
}

#[derive(Debug, Default)]
struct State {
    sessions: BTreeMap<u64, Entry>,
    accounts: HashMap<Arc<str>, Account>,
    /// The age of the next deliver_sm held: lower is older. A deliver_sm sent again keeps its
    /// age, so the bound drops what has waited longest.
    next_age: u64,
}

impl State {
    fn age(&mut self) -> u64 {
        self.next_age += 1;
        self.next_age
    }
}

#[derive(Debug)]
pub(crate) struct Registry {
    state: Mutex<State>,
    /// Round-robin position among the candidates of [`Registry::pick_receiver`].
    cursor: AtomicUsize,
    /// [`MAX_HELD`], smaller in tests.
    cap: usize,
    stats: Arc<SimStats>,
}

/// One session that can receive, round-robin among those that do; `other_than` leaves a
/// session out, `system_id` keeps only the sessions bound with it.
fn pick<'a>(
    sessions: &'a BTreeMap<u64, Entry>,
    cursor: &AtomicUsize,
    other_than: Option<u64>,
    system_id: Option<&str>,
) -> Option<&'a Entry> {
    let fits = |(id, entry): &(&u64, &Entry)| {
        entry.receives() && other_than != Some(**id) && system_id.is_none_or(|s| s == &*entry.peer.system_id)
    };
    let count = sessions.iter().filter(fits).count();
    if count == 0 {
        return None;
    }
    let nth = cursor.fetch_add(1, Ordering::Relaxed) % count;
    sessions.iter().filter(fits).nth(nth).map(|(_, entry)| entry)
}

impl Registry {
    pub fn new(stats: Arc<SimStats>, cap: usize) -> Registry {
        Registry { state: Mutex::default(), cursor: AtomicUsize::new(0), cap, stats }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A new connection, not bound yet.
    pub fn insert(&self, peer: Peer, kill: Arc<Notify>) {
        self.lock().sessions.insert(peer.session, Entry { kind: None, peer, kill, closing: false });
    }

    /// The session bound as `kind` with `peer.system_id`. When it can receive, what waits for
    /// its system_id is held on it at once (so no session ending meanwhile parks anything
    /// unseen) and returned, oldest first, to send after the bind_resp.
    pub fn bound(&self, peer: &Peer, kind: BindKind) -> Resend {
        let mut guard = self.lock();
        let state = &mut *guard;
        let Some(entry) = state.sessions.get_mut(&peer.session) else { return Resend::default() };
        entry.peer = peer.clone();
        entry.kind = Some(kind);
        let mut resend = Resend::default();
        if !kind.can_receive() {
            return resend;
        }
        let Some(account) = state.accounts.get_mut(&peer.system_id) else { return resend };
        let parked = std::mem::take(&mut account.parked);
        self.stats.parked.fetch_sub(parked.len() as u64, Ordering::Relaxed);
        for age in parked {
            if let Some(held) = account.held.remove(&age) {
                resend.0.push((peer.out.clone(), account.hold_on(peer, age, held.bytes)));
            }
        }
        resend
    }

    /// The session's reader has stopped: it is no longer picked nor counted.
    pub fn closing(&self, id: u64) {
        if let Some(entry) = self.lock().sessions.get_mut(&id) {
            entry.closing = true;
        }
    }

    /// The session has ended (its writer too): it is forgotten, and what it was sent and has
    /// not answered goes, oldest first, to other receiving sessions of its system_id
    /// (round-robin) or, when there are none, waits for the next one to bind.
    pub fn ended(&self, id: u64) -> Resend {
        let mut guard = self.lock();
        let state = &mut *guard;
        let mut resend = Resend::default();
        let Some(entry) = state.sessions.remove(&id) else { return resend };
        let system_id = entry.peer.system_id;
        let Some(account) = state.accounts.get_mut(&system_id) else { return resend };
        let keys: Vec<(u64, u32)> = account.sent.range((id, 0)..=(id, u32::MAX)).map(|(key, _)| *key).collect();
        let mut ages: Vec<u64> = keys.iter().filter_map(|key| account.sent.remove(key)).collect();
        ages.sort_unstable();
        for age in ages {
            if let Some(held) = account.held.remove(&age) {
                self.place(&state.sessions, account, &system_id, age, held.bytes, &mut resend);
            }
        }
        resend
    }

    /// The ESME answered a deliver_sm: with any status, it is no longer held.
    pub fn answered(&self, id: u64, system_id: &str, sequence: u32) {
        let mut state = self.lock();
        if let Some(account) = state.accounts.get_mut(system_id)
            && let Some(age) = account.sent.remove(&(id, sequence))
        {
            account.held.remove(&age);
        }
    }

    /// Queues a PDU the simulator originates (a deliver_sm) on `peer`'s session, with its next
    /// sequence number, and holds it until the ESME answers. Waiting for room in the queue
    /// comes first, so a caller that gives up waiting leaves nothing held. [`Gone`] when the
    /// session went away before taking it.
    pub async fn originate(&self, peer: &Peer, pdu: Pdu) -> Result<(), Gone> {
        let bytes = Command { status: status::ESME_ROK, sequence: 0, pdu }.encode();
        let Ok(permit) = peer.out.reserve().await else { return Err(Gone(bytes)) };
        let copy = {
            let mut guard = self.lock();
            let state = &mut *guard;
            if !state.sessions.contains_key(&peer.session) {
                return Err(Gone(bytes));
            }
            let age = state.age();
            let account = state.accounts.entry(peer.system_id.clone()).or_default();
            self.count_dropped(account.make_room(self.cap));
            account.hold_on(peer, age, bytes)
        };
        permit.send(Out::Bytes(copy));
        Ok(())
    }

    /// Keeps a deliver_sm whose session ended before taking it: it goes to another receiving
    /// session of `system_id`, or waits for the next one to bind.
    pub async fn keep(&self, system_id: &Arc<str>, Gone(bytes): Gone) {
        let resend = {
            let mut guard = self.lock();
            let state = &mut *guard;
            let age = state.age();
            let account = state.accounts.entry(system_id.clone()).or_default();
            self.count_dropped(account.make_room(self.cap));
            let mut resend = Resend::default();
            self.place(&state.sessions, account, system_id, age, bytes, &mut resend);
            resend
        };
        resend.send(&self.stats).await;
    }

    /// Holds a deliver_sm on a receiving session of `system_id` (round-robin) and adds it to
    /// `resend`, or parks it when none is bound.
    fn place(
        &self,
        sessions: &BTreeMap<u64, Entry>,
        account: &mut Account,
        system_id: &str,
        age: u64,
        bytes: Vec<u8>,
        resend: &mut Resend,
    ) {
        match pick(sessions, &self.cursor, None, Some(system_id)) {
            Some(to) => resend.0.push((to.peer.out.clone(), account.hold_on(&to.peer, age, bytes))),
            None => {
                account.parked.insert(age);
                account.held.insert(age, Held { on: None, bytes });
                self.stats.parked.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    fn count_dropped(&self, (dropped, parked): (u64, u64)) {
        if dropped > 0 {
            self.stats.dropped_undelivered.fetch_add(dropped, Ordering::Relaxed);
            self.stats.parked.fetch_sub(parked, Ordering::Relaxed);
        }
    }

    /// Connected sessions, bound or not.
    pub fn len(&self) -> usize {
        self.lock().sessions.values().filter(|entry| !entry.closing).count()
    }

    /// One session that can receive, round-robin among those that do; `other_than` leaves
    /// a session out, `system_id` keeps only the sessions bound with it.
    pub fn pick_receiver(&self, other_than: Option<u64>, system_id: Option<&str>) -> Option<Peer> {
        pick(&self.lock().sessions, &self.cursor, other_than, system_id).map(|entry| entry.peer.clone())
    }

    /// Tells every connected session to close at once; how many were told.
    pub fn kill_all(&self) -> usize {
        let state = self.lock();
        let mut told = 0;
        for entry in state.sessions.values().filter(|entry| !entry.closing) {
            // notify_one keeps a permit, so a session busy elsewhere sees it on its next wait.
            entry.kill.notify_one();
            told += 1;
        }
        told
    }
}

#[cfg(test)]
mod tests {
    use tongdao_smpp::Leniency;
    use tongdao_smpp::pdu::Sm;

    use super::*;

    fn receiver(registry: &Registry, session: u64) -> (Peer, mpsc::Receiver<Out>) {
        let (out, queue) = mpsc::channel(16);
        let mut peer = Peer::new(session, out);
        registry.insert(peer.clone(), Arc::new(Notify::new()));
        peer.system_id = Arc::from("acct");
        (peer, queue)
    }

    fn mo(n: u8) -> Pdu {
        Pdu::DeliverSm(Sm { short_message: vec![n], ..Sm::default() })
    }

    /// What a session was queued: (sequence, short_message) of each deliver_sm.
    fn queued(queue: &mut mpsc::Receiver<Out>) -> Vec<(u32, u8)> {
        let mut got = Vec::new();
        while let Ok(Out::Bytes(bytes)) = queue.try_recv() {
            let command = Command::decode(&bytes, &mut Leniency::default()).expect("decodes");
            match command.pdu {
                Pdu::DeliverSm(sm) => got.push((command.sequence, sm.short_message[0])),
                other => panic!("expected a deliver_sm, got {other:?}"),
            }
        }
        got
    }

    #[tokio::test]
    async fn what_is_held_per_system_id_is_bounded_by_dropping_the_oldest() {
        let stats = Arc::new(SimStats::default());
        let registry = Registry::new(stats.clone(), 3);
        let (one, mut one_queue) = receiver(&registry, 1);
        assert!(registry.bound(&one, BindKind::Receiver).is_empty());
        for n in 1..=5 {
            registry.originate(&one, mo(n)).await.expect("queued");
        }
        assert_eq!(queued(&mut one_queue), [(1, 1), (2, 2), (3, 3), (4, 4), (5, 5)]);
        assert_eq!(stats.dropped_undelivered.load(Ordering::Relaxed), 2, "1 and 2, the oldest");
        registry.answered(1, "acct", 1);
        registry.answered(1, "acct", 3);
        registry.closing(1);
        assert!(registry.ended(1).is_empty(), "nobody to send them to");
        assert_eq!(stats.parked.load(Ordering::Relaxed), 2, "4 and 5");

        let (two, mut two_queue) = receiver(&registry, 2);
        registry.bound(&two, BindKind::Receiver).send(&stats).await;
        assert_eq!(queued(&mut two_queue), [(1, 4), (2, 5)], "in order, under the new session's numbers");
        assert_eq!(stats.parked.load(Ordering::Relaxed), 0);
        registry.originate(&two, mo(6)).await.expect("queued");
        registry.originate(&two, mo(7)).await.expect("queued");
        assert_eq!(queued(&mut two_queue), [(3, 6), (4, 7)]);
        assert_eq!(stats.dropped_undelivered.load(Ordering::Relaxed), 3, "4 went on one session and another");

        registry.closing(2);
        assert!(registry.ended(2).is_empty());
        assert_eq!(stats.parked.load(Ordering::Relaxed), 3, "5, 6 and 7");
        assert!(matches!(registry.originate(&two, mo(8)).await, Err(Gone(_))), "an ended session takes nothing");
        let gone = Gone(Command { status: 0, sequence: 0, pdu: mo(8) }.encode());
        registry.keep(&two.system_id, gone).await;
        let held = stats.snapshot();
        assert_eq!((held.parked, held.dropped_undelivered, held.redelivered), (3, 4, 2), "5 dropped while parked");

        let (three, mut three_queue) = receiver(&registry, 3);
        registry.bound(&three, BindKind::Transmitter).send(&stats).await;
        assert!(queued(&mut three_queue).is_empty(), "a transmitter is sent nothing");
        let (four, mut four_queue) = receiver(&registry, 4);
        registry.bound(&four, BindKind::Transceiver).send(&stats).await;
        assert_eq!(queued(&mut four_queue), [(1, 6), (2, 7), (3, 8)]);
    }
}
