//! The UDP transport over real sockets on 127.0.0.1 (ports chosen by the
//! OS): delivery, what goes over TCP, the refusals (replays, reflections,
//! keys, clusters, epochs, foreign sources, garbage), no amplification,
//! and a runtime cluster electing and failing over on it. (The wire format
//! and the replay window have rule tests and a fuzz loop in the crate.)
//!
//! Waits are bounded by a generous patience; no assertion is about speed.
#![cfg(feature = "udp")]

mod amplification;
mod cluster;
mod common;
mod delivery;
mod epochs;
mod lifecycle;
mod refusals;
