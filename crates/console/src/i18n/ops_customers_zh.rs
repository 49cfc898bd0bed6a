//! Chinese for the operator console's customer pages (customers, agreements, tariffs, money, keys, users).

pub(super) const TEXTS: &[(&str, &str)] = &[];
