//! Chinese for the operator console's daily work (dashboard, carriers, moderation, tickets, maintenance, breaches, audit).

pub(super) const TEXTS: &[(&str, &str)] = &[];
