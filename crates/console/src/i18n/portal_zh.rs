//! Chinese for the customer portal's texts.

pub(super) const TEXTS: &[(&str, &str)] = &[];
