//! Customer-service tickets (clause 3.6: the provider accepts inquiries and complaints about
//! the service; clause 3.8: billing disputes): their kinds, the statuses a ticket moves
//! through, who may move it where, and the answer deadline of a complaint.
//!
//! `open → answered → resolved | closed`: an operator's reply answers a ticket, a customer's
//! reply to an answered ticket opens it again, and the operator resolves, closes or reopens
//! it. A resolved ticket stays open to its customer for [`CUSTOMER_REOPEN_DAYS`] (a reply
//! reopens it: "this did not fix it"); a closed one only the operator can reopen.

use crate::{ErrorCode, Rejection};

const DAY_MS: i64 = 24 * 3600 * 1000;

/// Days the provider allows itself to answer a complaint, from its opening. The agreement's
/// clause 3.6 only says complaints are accepted; this is the platform's service level,
/// shown on every complaint as its `answer_due_at`.
pub const COMPLAINT_ANSWER_DAYS: i64 = 15;

/// Days after a resolution during which the customer's reply reopens the ticket; later the
/// customer opens a new ticket.
pub const CUSTOMER_REOPEN_DAYS: i64 = 7;

/// Characters of a subject.
pub const MAX_SUBJECT_CHARS: usize = 200;
/// Characters of a ticket's body or of one reply.
pub const MAX_BODY_CHARS: usize = 10_000;
/// Message ids and statement lines one billing dispute may name, together.
pub const MAX_REFERENCES: usize = 100;
/// Characters of one statement line reference (`2026-10:charges:2026-10-03`).
pub const MAX_STATEMENT_LINE_CHARS: usize = 100;
/// Replies one ticket may take: a thread is read whole, so it must stay readable.
pub const MAX_REPLIES: usize = 200;

macro_rules! words {
    ($(#[$meta:meta])* $name:ident { $($variant:ident => $text:literal),* $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($variant),* }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),*];
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),* }
            }
            pub fn parse(s: &str) -> Option<$name> {
                match s { $($text => Some($name::$variant),)* _ => None }
            }
        }
    };
}

words! {
    /// What the customer writes about.
    TicketKind { Inquiry => "inquiry", Complaint => "complaint", BillingDispute => "billing_dispute" }
}

words! {
    /// Where a ticket stands.
    TicketStatus { Open => "open", Answered => "answered", Resolved => "resolved", Closed => "closed" }
}

words! {
    /// Who wrote a reply.
    TicketParty { Customer => "customer", Operator => "operator" }
}

/// When a ticket of `kind` opened at `opened_at` must be answered by, if ever.
pub fn answer_due(kind: TicketKind, opened_at: i64) -> Option<i64> {
    (kind == TicketKind::Complaint).then(|| opened_at + COMPLAINT_ANSWER_DAYS * DAY_MS)
}

/// Whether a ticket is past its answer deadline unanswered: a complaint still open that no
/// operator has answered by `answer_due_at`.
pub fn is_overdue(status: TicketStatus, answer_due_at: Option<i64>, answered_at: Option<i64>, now_ms: i64) -> bool {
    status == TicketStatus::Open && answered_at.is_none() && answer_due_at.is_some_and(|due| now_ms > due)
}

fn conflict(message: impl Into<String>) -> Rejection {
    Rejection::new(ErrorCode::Conflict, message)
}

impl TicketStatus {
    /// The status after a reply by `party` at `now_ms`, or why the reply is refused.
    /// `resolved_at` is when the ticket was last resolved.
    pub fn after_reply(self, party: TicketParty, resolved_at: Option<i64>, now_ms: i64) -> Result<Self, Rejection> {
        match (party, self) {
            (TicketParty::Operator, TicketStatus::Open | TicketStatus::Answered) => Ok(TicketStatus::Answered),
            (TicketParty::Customer, TicketStatus::Open | TicketStatus::Answered) => Ok(TicketStatus::Open),
            (TicketParty::Customer, TicketStatus::Resolved)
                if resolved_at.is_some_and(|at| now_ms <= at + CUSTOMER_REOPEN_DAYS * DAY_MS) =>
            {
                Ok(TicketStatus::Open)
            }
            (TicketParty::Customer, TicketStatus::Resolved) => Err(conflict(format!(
                "the ticket was resolved more than {CUSTOMER_REOPEN_DAYS} days ago; open a new ticket"
            ))),
            (TicketParty::Customer, TicketStatus::Closed) => Err(conflict("the ticket is closed; open a new ticket")),
            (TicketParty::Operator, TicketStatus::Resolved | TicketStatus::Closed) => {
                Err(conflict(format!("the ticket is {}; reopen it before replying", self.as_str())))
            }
        }
    }

    /// Whether the operator may move a ticket from this status to `to`. `answered` comes
    /// only with an answer (a reply); a closed ticket is reopened before it is resolved.
    pub fn operator_may_set(self, to: TicketStatus) -> Result<(), Rejection> {
        let allowed = match to {
            TicketStatus::Answered => false,
            TicketStatus::Open => self != TicketStatus::Open,
            TicketStatus::Resolved => matches!(self, TicketStatus::Open | TicketStatus::Answered),
            TicketStatus::Closed => self != TicketStatus::Closed,
        };
        if allowed {
            Ok(())
        } else if to == TicketStatus::Answered {
            Err(Rejection::field(
                ErrorCode::InvalidRequest,
                "status",
                "a ticket becomes answered by a reply; set open, resolved or closed",
            ))
        } else {
            Err(conflict(format!("a ticket that is {} cannot become {}", self.as_str(), to.as_str())))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000_000;

    #[test]
    fn replies_move_a_ticket_between_open_and_answered() {
        use TicketParty::*;
        use TicketStatus::*;
        assert_eq!(Open.after_reply(Operator, None, NOW), Ok(Answered));
        assert_eq!(Answered.after_reply(Operator, None, NOW), Ok(Answered));
        assert_eq!(Answered.after_reply(Customer, None, NOW), Ok(Open));
        assert_eq!(Open.after_reply(Customer, None, NOW), Ok(Open));
        assert_eq!(Closed.after_reply(Customer, None, NOW).map_err(|r| r.code), Err(ErrorCode::Conflict));
        assert_eq!(Resolved.after_reply(Operator, Some(NOW), NOW).map_err(|r| r.code), Err(ErrorCode::Conflict));
        assert_eq!(Closed.after_reply(Operator, None, NOW).map_err(|r| r.code), Err(ErrorCode::Conflict));
    }

    #[test]
    fn the_customer_reopens_a_resolved_ticket_only_within_the_window() {
        let resolved = NOW - CUSTOMER_REOPEN_DAYS * DAY_MS;
        assert_eq!(
            TicketStatus::Resolved.after_reply(TicketParty::Customer, Some(resolved), NOW),
            Ok(TicketStatus::Open)
        );
        let refused = TicketStatus::Resolved.after_reply(TicketParty::Customer, Some(resolved - 1), NOW);
        assert_eq!(refused.map_err(|r| r.code), Err(ErrorCode::Conflict));
    }

    #[test]
    fn the_operator_resolves_closes_and_reopens_but_never_sets_answered() {
        use TicketStatus::*;
        assert!(Open.operator_may_set(Resolved).is_ok());
        assert!(Answered.operator_may_set(Closed).is_ok());
        assert!(Resolved.operator_may_set(Closed).is_ok());
        assert!(Resolved.operator_may_set(Open).is_ok());
        assert!(Closed.operator_may_set(Open).is_ok());
        assert_eq!(Closed.operator_may_set(Resolved).map_err(|r| r.code), Err(ErrorCode::Conflict));
        assert_eq!(Open.operator_may_set(Open).map_err(|r| r.code), Err(ErrorCode::Conflict));
        assert_eq!(Open.operator_may_set(Answered).map_err(|r| r.code), Err(ErrorCode::InvalidRequest));
    }

    #[test]
    fn only_complaints_have_a_deadline_and_go_overdue_unanswered_after_it() {
        assert_eq!(answer_due(TicketKind::Inquiry, NOW), None);
        let due = answer_due(TicketKind::Complaint, NOW);
        assert_eq!(due, Some(NOW + 15 * DAY_MS));
        assert!(!is_overdue(TicketStatus::Open, due, None, NOW + 15 * DAY_MS));
        assert!(is_overdue(TicketStatus::Open, due, None, NOW + 15 * DAY_MS + 1));
        assert!(!is_overdue(TicketStatus::Open, due, Some(NOW + 1), NOW + 16 * DAY_MS), "answered once");
        assert!(!is_overdue(TicketStatus::Closed, due, None, NOW + 16 * DAY_MS), "dealt with");
    }

    #[test]
    fn words_round_trip() {
        for kind in TicketKind::ALL {
            assert_eq!(TicketKind::parse(kind.as_str()), Some(*kind));
        }
        for status in TicketStatus::ALL {
            assert_eq!(TicketStatus::parse(status.as_str()), Some(*status));
        }
        assert_eq!(TicketKind::parse("billing_dispute"), Some(TicketKind::BillingDispute));
    }
}
