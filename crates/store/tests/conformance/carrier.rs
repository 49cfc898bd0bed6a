//! The contract of the carrier methods.

#[allow(unused_imports)]
use super::*;
