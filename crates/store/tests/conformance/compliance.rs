//! The contract of the compliance methods.

#[allow(unused_imports)]
use super::*;
