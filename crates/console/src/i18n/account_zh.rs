//! Chinese for the customer portal's account pages (API and SMPP, webhooks, statements, tickets, notices, agreement, users).

pub(super) const TEXTS: &[(&str, &str)] = &[];
