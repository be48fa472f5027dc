//! The `http` feature's router, end to end: real 3-node clusters on the
//! in-process `MemoryTransport`, driven through `tower::ServiceExt::oneshot`
//! (no sockets), and once served by `axum::serve` on a loopback port and
//! spoken to in raw HTTP/1.1 over a `TcpStream`.
//!
//! The clusters run in real time (axum and paused time do not mix well) with
//! timings scaled down to a 5 ms tick. Nothing asserts how fast anything
//! is; where a role may change under a request (a lease can lapse on a busy
//! machine), the test finds the Goose again and retries.
#![cfg(feature = "http")]

mod admin;
mod common;
mod members;
mod metadata;
mod metrics;
mod round_trip;
mod serving;
mod status;
#[path = "../support/mod.rs"]
mod support;
