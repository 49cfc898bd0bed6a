//! The contract of the billing methods.

#[allow(unused_imports)]
use super::*;
