//! The TCP transport: delivery, reconnection, peers added, moved and removed
//! at run time, the handshake's and the key's refusals, tampering, garbage,
//! bounded queues, shutdown and joining; a removed node's quiet, and
//! failures logged once per run. (The codec and the queue's drop
//! rule are unit-tested beside them, in the crate.)
//!
//! Everything runs on 127.0.0.1 with ports chosen by the OS. Waits are
//! bounded by a generous patience so a bug fails the test instead of hanging
//! it; no assertion is about speed.
#![cfg(feature = "tcp")]

mod common;
mod delivery;
#[cfg(feature = "sim")]
mod garbage;
mod join;
mod join_metadata;
mod lifecycle;
mod logs;
mod peers;
mod proxy;
mod quiet;
mod redial;
mod refusals;
mod removed;
mod strangers;
#[path = "../support/mod.rs"]
mod support;
mod tampering;
