//! The tokio runtime end to end: clusters of real driver tasks talking over
//! the in-process `MemoryTransport`.
//!
//! Most tests run on a single-threaded runtime with paused time
//! (`start_paused = true`): tokio jumps the clock to the next timer whenever
//! every task is idle, so seconds of protocol run in milliseconds and the
//! same code gives the same run. Only the stalled-driver test needs real
//! time and real threads, because it blocks a thread on purpose.
//!
//! Every wait goes through `wait_until`, which also checks at each sample
//! that no two nodes answer `is_goose()` at the same instant (lease safety).
#![cfg(feature = "runtime")]

mod addresses;
mod common;
mod config;
mod election;
mod events;
mod failures;
mod joins;
mod leadership;
mod learners;
#[path = "../tcp_transport/logs.rs"]
mod logs;
mod membership;
mod metadata;
mod observe;
mod round_trip;
#[path = "../support/mod.rs"]
mod support;
mod wakeups;
