//! Chinese for the customer portal's sending pages (send, messages, contacts, signatures and templates).

pub(super) const TEXTS: &[(&str, &str)] = &[];
