//! The delivery pump of one customer: receipts and MO messages from [`Backend::pending`] to
//! the customer's receiver and transceiver binds as deliver_sm.
//!
//! One task per customer with at least one receiving bind; it ends when the last one closes.
//! It reads pending deliveries after its cursor (starting at 0), at most as many as its binds
//! have free window slots (and never more than [`FETCH_MAX`]; it waits for half the slots to be
//! free, so a backlog is read in chunks), and hands them out round robin
//! over the binds with room. Each deliver_sm waits for its response up to the response
//! timeout: OK is acknowledged to the backend in batches ([`ACK_BATCH`] ids or [`ACK_DELAY`],
//! whichever comes first); an error or no answer is reported ([`Backend::not_delivered`]) and
//! the delivery is sent again after `redeliver_after`, from memory. A delivery is held by
//! exactly one of: the ready queue, the retry list, one bind's in-flight map — so it is never
//! on two binds at once — and at most [`HELD_MAX`] are held. When a bind closes, its
//! unanswered deliveries are ready again at once for the other binds. When `pending` has
//! nothing new the pump waits for [`crate::Server::wake`] or [`POLL`].
//!
//! At least once: a new pump reads from cursor 0, so whatever an earlier pump sent and did not
//! see acknowledged is sent again.
//!
//! [`Backend::pending`]: crate::Backend::pending
//! [`Backend::not_delivered`]: crate::Backend::not_delivered

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TrySendError;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tongdao_smpp::{Command, Pdu, status};

use crate::Delivery;
use crate::server::{Inner, SessionCounters, add};
use crate::session::{Out, Sequence, later};

/// Events queued for one pump.
pub(crate) const EVENTS: usize = 4096;
/// Deliveries asked of the backend at once at most.
const FETCH_MAX: usize = 512;
/// Deliveries one pump holds in memory at most (ready, waiting for a retry, in flight).
const HELD_MAX: usize = 8192;
/// Acknowledgements written together at most.
const ACK_BATCH: usize = 256;
/// How long an acknowledgement waits for others.
const ACK_DELAY: Duration = Duration::from_millis(5);
/// Acknowledgements kept for another try when the backend failed to take them.
const ACK_KEEP: usize = 65_536;
/// How long the pump waits for a wake-up when nothing new is pending.
const POLL: Duration = Duration::from_secs(1);
/// How long a bind whose outgoing queue was full is passed over.
const CONGESTED: Duration = Duration::from_millis(10);

/// One receiving bind as its pump sees it.
#[derive(Debug)]
pub(crate) struct BindSlot {
    pub session: u64,
    pub out: mpsc::Sender<Out>,
    pub sequence: Arc<Sequence>,
    /// SMPP 3.3: deliver_sm without TLVs.
    pub legacy: bool,
    pub counters: Arc<SessionCounters>,
}

#[derive(Debug)]
pub(crate) enum PumpEvent {
    Opened(BindSlot),
    /// deliver_sm_resp (or generic_nack) for the deliver_sm `sequence` on `session`.
    Resp {
        session: u64,
        sequence: u32,
        status: u32,
    },
    /// A bind closed; `last`: the customer's last receiving bind, the pump ends.
    Closed {
        session: u64,
        last: bool,
    },
}

struct Slot {
    bind: BindSlot,
    in_flight: usize,
    /// Its queue was full: passed over until then.
    congested_until: Option<Instant>,
}

struct Pump {
    inner: Arc<Inner>,
    customer: String,
    slots: Vec<Slot>,
    /// Where the round robin goes on.
    next: usize,
    ready: VecDeque<Delivery>,
    /// Deliveries to send again at their time (in time order: the pause is the same for all).
    retries: VecDeque<(Instant, Delivery)>,
    in_flight: HashMap<(u64, u32), Delivery>,
    /// Response deadlines in sending order; an entry whose delivery was answered is stale.
    deadlines: VecDeque<(Instant, u64, u32)>,
    /// The ids held in `ready`, `retries` or `in_flight`.
    held: HashSet<i64>,
    cursor: i64,
    /// `pending` had nothing new: do not read again before this, or a wake-up.
    idle_until: Option<Instant>,
    acks: Vec<i64>,
    ack_due: Option<Instant>,
    /// The last acknowledgement failed: the next waits for `ack_due`, however many gather.
    ack_failing: bool,
}

pub(crate) async fn run(
    inner: Arc<Inner>,
    customer: String,
    mut events: mpsc::Receiver<PumpEvent>,
    previous: Option<JoinHandle<()>>,
) {
    // The customer's previous pump writes its last acknowledgements first.
    if let Some(previous) = previous {
        let _ = previous.await;
    }
    tracing::debug!(customer_id = ?customer, "delivery pump started");
    let mut wake = inner.wake.subscribe();
    let mut pump = Pump {
        inner,
        customer,
        slots: Vec::new(),
        next: 0,
        ready: VecDeque::new(),
        retries: VecDeque::new(),
        in_flight: HashMap::new(),
        deadlines: VecDeque::new(),
        held: HashSet::new(),
        cursor: 0,
        idle_until: None,
        acks: Vec::new(),
        ack_due: None,
        ack_failing: false,
    };
    loop {
        let now = Instant::now();
        pump.expire(now).await;
        pump.promote(now);
        pump.dispatch(now);
        let ack_full = pump.acks.len() >= ACK_BATCH && !pump.ack_failing;
        if ack_full || pump.ack_due.is_some_and(|due| due <= now) {
            pump.flush_acks().await;
        }
        if pump.idle_until.is_some_and(|until| until <= now) {
            pump.idle_until = None;
        }
        if pump.should_fetch() {
            wake.borrow_and_update();
            pump.fetch().await;
            continue;
        }
        let next = pump.next_timer().unwrap_or_else(|| now + POLL);
        tokio::select! {
            event = events.recv() => match event {
                None => break,
                Some(PumpEvent::Closed { session, last }) => {
                    pump.closed(session).await;
                    if last {
                        break;
                    }
                }
                Some(PumpEvent::Opened(bind)) => pump.slots.push(Slot { bind, in_flight: 0, congested_until: None }),
                Some(PumpEvent::Resp { session, sequence, status }) => pump.answered(session, sequence, status).await,
            },
            _ = wake.changed(), if pump.idle_until.is_some() => pump.idle_until = None,
            () = tokio::time::sleep_until(next) => {}
        }
    }
    pump.flush_acks().await;
    pump.inner.backend.stop_delivering(&pump.customer).await;
    tracing::debug!(customer_id = ?pump.customer, "delivery pump ended");
}

/// The deliver_sm as bytes, and its body back (without a copy) for a later retry.
fn encode(sequence: u32, sm: tongdao_smpp::pdu::Sm, legacy: bool) -> (Vec<u8>, tongdao_smpp::pdu::Sm) {
    let mut sm = sm;
    let tlvs = if legacy { std::mem::take(&mut sm.tlvs) } else { Vec::new() };
    let command = Command { status: status::ESME_ROK, sequence, pdu: Pdu::DeliverSm(sm) };
    let frame = command.encode();
    let mut sm = match command.pdu {
        Pdu::DeliverSm(sm) => sm,
        _ => tongdao_smpp::pdu::Sm::default(),
    };
    if legacy {
        sm.tlvs = tlvs;
    }
    (frame, sm)
}

impl Pump {
    fn held_count(&self) -> usize {
        self.ready.len() + self.retries.len() + self.in_flight.len()
    }

    fn free_slots(&self, now: Instant) -> usize {
        let window = self.inner.config.window;
        self.slots
            .iter()
            .filter(|s| s.congested_until.is_none_or(|until| until <= now))
            .map(|s| window.saturating_sub(s.in_flight))
            .sum()
    }

    /// Reads when the binds have room: at least half their windows, or all of it, so that a
    /// backlog is read in chunks rather than one delivery per answer.
    fn should_fetch(&self) -> bool {
        if self.slots.is_empty() || !self.ready.is_empty() || self.idle_until.is_some() {
            return false;
        }
        let free = self.free_slots(Instant::now());
        let total = self.slots.len() * self.inner.config.window;
        self.held_count() < HELD_MAX && free > 0 && (free * 2 >= total || self.in_flight.is_empty())
    }

    async fn fetch(&mut self) {
        let now = Instant::now();
        if !self.inner.backend.may_deliver(&self.customer).await {
            // Another node delivers to this customer's binds (it has binds there too).
            self.idle_until = Some(now + POLL);
            return;
        }
        let limit = self.free_slots(now).min(FETCH_MAX).min(HELD_MAX.saturating_sub(self.held_count()));
        let after = self.cursor;
        let asked = u32::try_from(limit).unwrap_or(u32::MAX);
        match self.inner.backend.pending(&self.customer, after, asked).await {
            Ok(deliveries) => {
                let got = deliveries.len();
                let mut fresh = 0;
                for delivery in deliveries {
                    // Ids at or below the cursor were read before (a backend that ignores
                    // `after_id` must not make us send one twice at once).
                    if delivery.id <= after || !self.held.insert(delivery.id) {
                        continue;
                    }
                    self.cursor = self.cursor.max(delivery.id);
                    self.ready.push_back(delivery);
                    fresh += 1;
                }
                if fresh == 0 || got < limit {
                    self.idle_until = Some(now + POLL);
                }
            }
            Err(e) => {
                tracing::warn!(customer_id = ?self.customer, error = %e, "reading pending deliveries failed");
                self.idle_until = Some(now + POLL);
            }
        }
    }

    /// The next bind with room, round robin.
    fn pick(&mut self, now: Instant) -> Option<usize> {
        let window = self.inner.config.window;
        let n = self.slots.len();
        for k in 0..n {
            let i = (self.next + k) % n;
            let slot = &self.slots[i];
            if slot.in_flight < window && slot.congested_until.is_none_or(|until| until <= now) {
                self.next = (i + 1) % n;
                return Some(i);
            }
        }
        None
    }

    fn dispatch(&mut self, now: Instant) {
        while !self.ready.is_empty() {
            let Some(i) = self.pick(now) else { break };
            let Some(delivery) = self.ready.pop_front() else { break };
            let slot = &mut self.slots[i];
            let sequence = slot.bind.sequence.next();
            let (frame, sm) = encode(sequence, delivery.sm, slot.bind.legacy);
            let delivery = Delivery { id: delivery.id, sm };
            match slot.bind.out.try_send(Out::Bytes(frame)) {
                Ok(()) => {
                    slot.in_flight += 1;
                    add(&slot.bind.counters.deliveries_in_flight, 1);
                    let session = slot.bind.session;
                    self.in_flight.insert((session, sequence), delivery);
                    let deadline = later(now, self.inner.config.response_timeout);
                    self.deadlines.push_back((deadline, session, sequence));
                }
                Err(e) => {
                    // Full: passed over for a moment. Closed: the session is ending and its
                    // Closed event follows.
                    let pause = match e {
                        TrySendError::Full(_) => CONGESTED,
                        TrySendError::Closed(_) => POLL,
                    };
                    slot.congested_until = Some(now + pause);
                    self.ready.push_front(delivery);
                }
            }
        }
    }

    fn slot_answered(&mut self, session: u64) {
        if let Some(slot) = self.slots.iter_mut().find(|s| s.bind.session == session) {
            slot.in_flight = slot.in_flight.saturating_sub(1);
            slot.bind.counters.delivery_answered();
        }
    }

    async fn answered(&mut self, session: u64, sequence: u32, status: u32) {
        // A late answer (after the timeout) or one to nothing we sent: ignored.
        let Some(delivery) = self.in_flight.remove(&(session, sequence)) else { return };
        self.slot_answered(session);
        let now = Instant::now();
        if status == status::ESME_ROK {
            add(&self.inner.stats.deliveries_ok, 1);
            self.held.remove(&delivery.id);
            self.acks.push(delivery.id);
            self.ack_due.get_or_insert(now + ACK_DELAY);
        } else {
            add(&self.inner.stats.deliveries_failed, 1);
            tracing::debug!(
                customer_id = ?self.customer,
                delivery = delivery.id,
                status = %format_args!("{status:#010x}"),
                "deliver_sm refused"
            );
            self.inner.backend.not_delivered(&self.customer, delivery.id, Some(status)).await;
            let due = later(now, self.inner.config.redeliver_after);
            self.retries.push_back((due, delivery));
        }
    }

    /// deliver_sm not answered in time become retries.
    async fn expire(&mut self, now: Instant) {
        while let Some(&(deadline, session, sequence)) = self.deadlines.front() {
            if deadline > now {
                break;
            }
            self.deadlines.pop_front();
            let Some(delivery) = self.in_flight.remove(&(session, sequence)) else { continue };
            self.slot_answered(session);
            add(&self.inner.stats.deliveries_timed_out, 1);
            self.inner.backend.not_delivered(&self.customer, delivery.id, None).await;
            let due = later(now, self.inner.config.redeliver_after);
            self.retries.push_back((due, delivery));
        }
        // Stale entries (answered in time) are dropped once they outnumber the live ones.
        if self.deadlines.len() > 2 * self.in_flight.len() + 1024 {
            let in_flight = &self.in_flight;
            self.deadlines.retain(|(_, session, sequence)| in_flight.contains_key(&(*session, *sequence)));
        }
    }

    /// Retries whose time has come are ready.
    fn promote(&mut self, now: Instant) {
        while self.retries.front().is_some_and(|(due, _)| *due <= now) {
            if let Some((_, delivery)) = self.retries.pop_front() {
                self.ready.push_back(delivery);
            }
        }
    }

    /// A bind closed: what it had in flight is ready again at once, for the other binds.
    async fn closed(&mut self, session: u64) {
        self.slots.retain(|s| s.bind.session != session);
        self.next = 0;
        let orphans: Vec<(u64, u32)> = self.in_flight.keys().filter(|(s, _)| *s == session).copied().collect();
        let mut again = Vec::with_capacity(orphans.len());
        for key in orphans {
            if let Some(delivery) = self.in_flight.remove(&key) {
                self.inner.backend.not_delivered(&self.customer, delivery.id, None).await;
                again.push(delivery);
            }
        }
        // Oldest first, ahead of the rest.
        again.sort_by_key(|d| d.id);
        for delivery in again.into_iter().rev() {
            self.ready.push_front(delivery);
        }
    }

    async fn flush_acks(&mut self) {
        self.ack_due = None;
        if self.acks.is_empty() {
            return;
        }
        let ids = std::mem::take(&mut self.acks);
        match self.inner.backend.delivered(&self.customer, ids.clone()).await {
            Ok(()) => self.ack_failing = false,
            Err(e) => {
                tracing::warn!(customer_id = ?self.customer, error = %e, count = ids.len(), "acknowledging deliveries failed");
                // Tried again later; past the cap they stay pending and a later pump sends
                // them again.
                let keep = ACK_KEEP.saturating_sub(self.acks.len());
                self.acks.extend(ids.into_iter().take(keep));
                self.ack_failing = true;
                self.ack_due = Some(later(Instant::now(), POLL));
            }
        }
    }

    fn next_timer(&self) -> Option<Instant> {
        let congested =
            if self.ready.is_empty() { None } else { self.slots.iter().filter_map(|s| s.congested_until).min() };
        [
            self.deadlines.front().map(|d| d.0),
            self.retries.front().map(|r| r.0),
            self.ack_due,
            self.idle_until,
            congested,
        ]
        .into_iter()
        .flatten()
        .min()
    }
}
