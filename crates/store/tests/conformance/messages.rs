//! The contract of the messages methods.

#[allow(unused_imports)]
use super::*;
