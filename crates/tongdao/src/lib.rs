//! The composition root: configuration, the gateway that wires store, platform and HTTP
//! together, the `--demo` setup, and the HTTP load generator. Business rules live in the
//! crates below; this crate only assembles and starts them.
//!
//! # Layout
//! - [`config`]: layered configuration;
//! - [`gateway`]: open the data dir and store, start the HTTP edge and the sweeper, shut down gracefully;
//! - [`demo`]: the idempotent demo customer;
//! - [`files`]: secret files written with mode 0600;
//! - [`bench`]: `tongdao bench http`; [`bench_accept`]: `tongdao bench accept`.

pub mod bench;
pub mod bench_accept;
pub mod bench_e2e;
pub mod bench_smpp;
pub mod config;
pub mod demo;
pub mod files;
pub mod gateway;
pub mod webhook_sink;
