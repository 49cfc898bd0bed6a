//! The contract of the lifecycle methods.

#[allow(unused_imports)]
use super::*;
