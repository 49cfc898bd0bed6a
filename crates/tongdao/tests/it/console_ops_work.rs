//! Console pages (see `console.rs` for the Visitor).

#[allow(unused_imports)]
use super::console::*;
#[allow(unused_imports)]
use super::harness::*;
