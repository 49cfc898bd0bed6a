//! Chinese for the operator console's texts.

pub(super) const TEXTS: &[(&str, &str)] = &[];
