//! End-to-end tests of `dealflow lsp`: each starts the built binary as a child
//! process and drives a real JSON-RPC session over its stdin/stdout.

#![allow(
    clippy::expect_used,
    clippy::panic,
    reason = "test helpers fail loudly on a broken environment"
)]

mod client;
mod properties;
mod session;
mod snapshots;

pub use client::*;
