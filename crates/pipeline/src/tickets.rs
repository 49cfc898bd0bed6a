//! Customer service (clause 3.6: the provider accepts inquiries and complaints) and billing
//! disputes (clause 3.8: the provider's records decide, disputes are settled by the annex's
//! procedure). A customer opens tickets and replies; the operator lists them, answers,
//! resolves, closes or reopens them, and settles a dispute with an adjustment that names
//! the ticket (see [`Platform::adjust`]). Each operator action is in the audit trail, written
//! with the change. The rules of who moves a ticket where are `tongdao_domain::ticket`'s.

use tongdao_domain::ticket::{
    MAX_BODY_CHARS, MAX_REFERENCES, MAX_STATEMENT_LINE_CHARS, MAX_SUBJECT_CHARS, TicketKind, TicketParty, TicketStatus,
    answer_due,
};
use tongdao_domain::{ErrorCode, Rejection};
use tongdao_store::{NewTicket, StoreError, Ticket, TicketFilter, TicketReply, TicketThread};

use crate::{Platform, rejection_from_store};

/// A ticket as the customer writes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketRequest {
    pub kind: TicketKind,
    pub subject: String,
    pub body: String,
    /// Billing disputes only: the customer's own messages the dispute is about.
    pub message_ids: Vec<String>,
    /// Billing disputes only: statement lines, `YYYY-MM:…` (`2026-10:charges:2026-10-03`).
    pub statement_lines: Vec<String>,
}

/// Which tickets to list, as the caller names them (a customer by id or name).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TicketQuery {
    pub customer: Option<String>,
    pub status: Option<TicketStatus>,
    pub kind: Option<TicketKind>,
    /// Only complaints unanswered past their deadline.
    pub overdue: bool,
    /// The last ticket id of the previous page.
    pub before: Option<String>,
    pub limit: u32,
}

/// A subject: one line of 1-200 printable characters, trimmed.
fn subject(value: &str) -> Result<String, Rejection> {
    let value = value.trim();
    let chars = value.chars().count();
    if chars == 0 || chars > MAX_SUBJECT_CHARS || value.chars().any(char::is_control) {
        return Err(Rejection::invalid(
            "subject",
            format!("subject must be 1-{MAX_SUBJECT_CHARS} printable characters"),
        ));
    }
    Ok(value.to_owned())
}

/// A body or reply: 1-10,000 characters, not blank; line breaks and tabs allowed, other
/// control characters not.
pub(crate) fn body(field: &str, value: &str) -> Result<String, Rejection> {
    let value = value.trim();
    let chars = value.chars().count();
    let stray_control = value.chars().any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'));
    if chars == 0 || chars > MAX_BODY_CHARS || stray_control {
        return Err(Rejection::invalid(
            field,
            format!("{field} must be 1-{MAX_BODY_CHARS} characters, not blank; no control characters but line breaks"),
        ));
    }
    Ok(value.to_owned())
}

/// A statement line as the customer names it: the statement's month, a colon, then the line
/// (`2026-10:charges:2026-10-03`), without spaces.
fn statement_line(field: &str, line: &str) -> Result<(), Rejection> {
    let bytes = line.as_bytes();
    let month = bytes.len() > 8
        && bytes[..4].iter().all(u8::is_ascii_digit)
        && bytes[4] == b'-'
        && matches!(&bytes[5..7], [b'0', b'1'..=b'9'] | [b'1', b'0'..=b'2'])
        && bytes[7] == b':';
    let clean = !line.chars().any(|c| c.is_whitespace() || c.is_control());
    if !month || !clean || line.chars().count() > MAX_STATEMENT_LINE_CHARS {
        return Err(Rejection::invalid(
            field,
            format!(
                "a statement line is YYYY-MM: then the line, e.g. 2026-10:charges:2026-10-03, at most \
                 {MAX_STATEMENT_LINE_CHARS} characters without spaces"
            ),
        ));
    }
    Ok(())
}

/// Refuses a list that names the same thing twice, pointing at the second.
fn no_repeats(field: &str, items: &[String]) -> Result<(), Rejection> {
    for (i, item) in items.iter().enumerate() {
        if items[..i].contains(item) {
            return Err(Rejection::invalid(format!("{field}[{i}]"), format!("{item} is named twice")));
        }
    }
    Ok(())
}

/// What a dispute names, checked for shape; whether the messages are the customer's is the
/// store's to check, in the transaction that opens the ticket.
fn references(request: &TicketRequest) -> Result<(), Rejection> {
    let (messages, lines) = (&request.message_ids, &request.statement_lines);
    if request.kind != TicketKind::BillingDispute && !(messages.is_empty() && lines.is_empty()) {
        let field = if messages.is_empty() { "statement_lines" } else { "message_ids" };
        return Err(Rejection::invalid(field, "only a billing_dispute names messages and statement lines"));
    }
    if messages.len() + lines.len() > MAX_REFERENCES {
        let field = if messages.len() > MAX_REFERENCES { "message_ids" } else { "statement_lines" };
        return Err(Rejection::invalid(
            field,
            format!("a dispute names at most {MAX_REFERENCES} messages and statement lines together"),
        ));
    }
    for (i, id) in messages.iter().enumerate() {
        if !tongdao_domain::id::is_id("msg", id) {
            return Err(Rejection::field(
                ErrorCode::InvalidReference,
                format!("message_ids[{i}]"),
                "not a message id (msg_…) of yours",
            ));
        }
    }
    for (i, line) in lines.iter().enumerate() {
        statement_line(&format!("statement_lines[{i}]"), line)?;
    }
    no_repeats("message_ids", messages)?;
    no_repeats("statement_lines", lines)
}

fn ticket_not_found(e: StoreError) -> Rejection {
    match e {
        StoreError::NotFound => Rejection::new(ErrorCode::NotFound, "no such ticket"),
        other => rejection_from_store(other),
    }
}

fn ticket_id(id: &str) -> Result<(), Rejection> {
    if tongdao_domain::id::is_id("tkt", id) {
        Ok(())
    } else {
        Err(Rejection::new(ErrorCode::NotFound, "no such ticket"))
    }
}

impl Platform {
    /// The customer opens a ticket; a complaint gets its answer deadline.
    pub async fn open_ticket(&self, customer_id: &str, request: TicketRequest) -> Result<Ticket, Rejection> {
        let subject = subject(&request.subject)?;
        let body = body("body", &request.body)?;
        references(&request)?;
        let now = self.now_ms();
        let ticket = NewTicket {
            id: tongdao_domain::id::new_id("tkt"),
            customer_id: customer_id.to_owned(),
            kind: request.kind,
            subject,
            body,
            message_ids: request.message_ids,
            statement_lines: request.statement_lines,
            opened_at: now,
            answer_due_at: answer_due(request.kind, now),
        };
        self.store().open_ticket(ticket).await.map_err(rejection_from_store)
    }

    /// A ticket with its replies and settling adjustments: the customer's own (`Some`), or
    /// any for the operator (`None`).
    pub async fn ticket(&self, customer_id: Option<&str>, id: &str) -> Result<TicketThread, Rejection> {
        ticket_id(id)?;
        self.store().find_ticket(customer_id, id).await.map_err(ticket_not_found)
    }

    /// Tickets newest first; `query.customer` by id or name (an unknown one is `not_found`).
    pub async fn tickets(&self, query: TicketQuery) -> Result<Vec<Ticket>, Rejection> {
        if let Some(before) = &query.before
            && !tongdao_domain::id::is_id("tkt", before)
        {
            return Err(Rejection::invalid("before", "before must be a ticket id"));
        }
        let customer_id = match &query.customer {
            Some(c) => Some(self.customer(c).await?.id),
            None => None,
        };
        let filter = TicketFilter {
            customer_id,
            status: query.status,
            kind: query.kind,
            overdue_at: query.overdue.then(|| self.now_ms()),
            before: query.before,
            limit: query.limit.clamp(1, 1000),
        };
        self.store().list_tickets(filter).await.map_err(rejection_from_store)
    }

    /// The customer replies to its ticket: an answered (or recently resolved) one opens again.
    pub async fn customer_reply(&self, customer_id: &str, id: &str, text: &str) -> Result<TicketThread, Rejection> {
        let reply = self.new_reply(id, TicketParty::Customer, text)?;
        self.store().reply_ticket(Some(customer_id), reply, None).await.map_err(ticket_not_found)
    }

    /// The operator answers a ticket: it becomes `answered`, and a complaint leaves the
    /// overdue list for good.
    pub async fn answer_ticket(&self, id: &str, text: &str) -> Result<TicketThread, Rejection> {
        let reply = self.new_reply(id, TicketParty::Operator, text)?;
        let audit = self.audit_entry("operator", "ticket.answer", id, None);
        self.store().reply_ticket(None, reply, Some(audit)).await.map_err(ticket_not_found)
    }

    fn new_reply(&self, id: &str, author: TicketParty, text: &str) -> Result<TicketReply, Rejection> {
        ticket_id(id)?;
        Ok(TicketReply {
            id: tongdao_domain::id::new_id("trp"),
            ticket_id: id.to_owned(),
            author,
            body: body("body", text)?,
            created_at: self.now_ms(),
        })
    }

    /// The operator resolves, closes or reopens a ticket, with an optional reason.
    pub async fn set_ticket_status(
        &self,
        id: &str,
        status: TicketStatus,
        reason: Option<String>,
    ) -> Result<TicketThread, Rejection> {
        ticket_id(id)?;
        let reason = reason.map(|r| crate::operations::text_field("reason", &r, true)).transpose()?;
        let action = match status {
            TicketStatus::Open => "ticket.reopen",
            TicketStatus::Answered => "ticket.answer",
            TicketStatus::Resolved => "ticket.resolve",
            TicketStatus::Closed => "ticket.close",
        };
        let audit = self.audit_entry("operator", action, id, reason);
        self.store().set_ticket_status(id, status, audit).await.map_err(ticket_not_found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dispute(message_ids: &[&str], statement_lines: &[&str]) -> TicketRequest {
        TicketRequest {
            kind: TicketKind::BillingDispute,
            subject: "October".into(),
            body: "Charged twice".into(),
            message_ids: message_ids.iter().map(|s| (*s).to_owned()).collect(),
            statement_lines: statement_lines.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    fn field(result: Result<(), Rejection>) -> Option<String> {
        result.err().and_then(|r| r.field)
    }

    #[test]
    fn statement_lines_start_with_their_month() {
        assert!(references(&dispute(&[], &["2026-10:charges:2026-10-03", "2026-10:topups"])).is_ok());
        for bad in [
            "2026-13:charges",
            "2026-00:x",
            "2026-10",
            "2026-10:",
            "202610:charges",
            "2026-10:two words",
            "x",
            "2026-中:x",
        ] {
            assert_eq!(field(references(&dispute(&[], &[bad]))).as_deref(), Some("statement_lines[0]"), "{bad}");
        }
    }

    #[test]
    fn only_a_dispute_names_references_and_never_twice() {
        let inquiry = TicketRequest { kind: TicketKind::Inquiry, ..dispute(&[], &["2026-10:charges"]) };
        assert_eq!(field(references(&inquiry)).as_deref(), Some("statement_lines"));
        let twice = dispute(&[], &["2026-10:charges", "2026-10:charges"]);
        assert_eq!(field(references(&twice)).as_deref(), Some("statement_lines[1]"));
        let not_an_id = references(&dispute(&["12345"], &[]));
        assert_eq!(not_an_id.map_err(|r| r.code), Err(ErrorCode::InvalidReference));
        let many: Vec<String> = (0..=MAX_REFERENCES).map(|d| format!("2026-10:charges:{d}")).collect();
        let too_many = TicketRequest { statement_lines: many, ..dispute(&[], &[]) };
        assert_eq!(field(references(&too_many)).as_deref(), Some("statement_lines"));
    }

    #[test]
    fn bodies_keep_line_breaks_and_refuse_blank_or_long_text() {
        assert_eq!(body("body", "  line one\nline two\t \n").ok().as_deref(), Some("line one\nline two"));
        assert!(body("body", " \n ").is_err());
        assert!(body("body", "bell\u{7}").is_err());
        assert!(body("body", &"字".repeat(MAX_BODY_CHARS)).is_ok());
        assert!(body("body", &"字".repeat(MAX_BODY_CHARS + 1)).is_err());
        assert!(subject("two\nlines").is_err());
    }
}
