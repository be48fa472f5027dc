//! # DuckDuckGoose
//!
//! Leader election for any service: exactly one node of a cluster is the
//! **Goose**, every other node is a **Duck**. It is Raft's leader election
//! without the log, with a lease that makes "am I the Goose?" safe to act on.
//!
//! ## The promises
//!
//! 1. **Election safety**: at most one Goose per term, across crashes and restarts.
//! 2. **Lease safety**: at any instant at most one node says it is the Goose,
//!    as long as clock rates differ by no more than the configured drift
//!    bound. A Goose that cannot hear a majority steps down *by itself* when
//!    its lease runs out, before anyone else can be elected.
//! 3. **Fencing**: a Goose's term only grows; pass it to what you guard so a
//!    stale Goose (a process paused past its lease) is rejected there.
//! 4. **Liveness**: whenever a majority can talk, a Goose exists within a few
//!    election timeouts; a node rejoining after a partition does not depose a
//!    healthy Goose.
//! 5. **Durability**: term and vote are on stable storage before any message
//!    that depends on them leaves the node.
//! 6. **Bad input is harmless**: malformed, unauthenticated or out-of-cluster
//!    messages are dropped and counted.
//!
//! All of them hold while the membership changes: nodes join (as learners,
//! promoted to voters once they keep up) and leave one at a time
//! ([`Election::propose_add`], [`Election::propose_remove`],
//! [`Election::leave`]; `NodeHandle::add_node`, `remove_node` and `leave` in
//! the runtime).
//!
//! ## Layers
//!
//! * [`core`]: [`Election`], a pure, deterministic state machine driven by
//!   ticks and messages. No clock, no I/O, no tokio: it builds with
//!   `--no-default-features`.
//! * `sim` (feature `sim`): a deterministic cluster simulator with fault
//!   injection and invariant checkers, for your own property tests.
//! * `runtime`, `storage`, `transport` (default features): a tokio driver,
//!   durable storage and transports.
//!
//! ## Driving the core
//!
//! The host feeds inputs and drains outputs after each one; a `Persist` (or
//! `PersistMembership`) must be durable before the next output is polled.
//!
//! ```
//! use duckduckgoose::core::{Config, Election, HardState, NodeId, Output, Role};
//!
//! let ids = [NodeId(1), NodeId(2), NodeId(3)];
//! let mut nodes: Vec<Election> = ids
//!     .iter()
//!     .map(|&id| Election::new(Config::new(id, ids), HardState::default(), id.0).unwrap())
//!     .collect();
//! let mut disk = vec![HardState::default(); 3];
//! let mut memberships = vec![None; 3];
//! let mut network = Vec::new();
//! for _tick in 0..200 {
//!     for node in &mut nodes {
//!         node.tick();
//!     }
//!     loop {
//!         for (i, node) in nodes.iter_mut().enumerate() {
//!             while let Some(output) = node.poll_output() {
//!                 match output {
//!                     Output::Persist(state) => disk[i] = state, // write + fsync here
//!                     // Restart a node with this as `Config::membership`.
//!                     Output::PersistMembership(m) => memberships[i] = Some(m),
//!                     Output::Send { to, msg } => network.push((node.id(), to, msg)),
//!                     Output::Event(_event) => {}
//!                 }
//!             }
//!         }
//!         if network.is_empty() {
//!             break;
//!         }
//!         for (from, to, msg) in network.drain(..) {
//!             nodes[(to.0 - 1) as usize].handle_message(from, msg);
//!         }
//!     }
//! }
//! let geese: Vec<_> = nodes.iter().filter(|n| n.role() == Role::Goose).collect();
//! assert_eq!(geese.len(), 1);
//! let fencing_token = geese[0].term();
//! assert!(fencing_token.0 >= 1);
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]
// On docs.rs, each item shows the features it needs.
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod core;
#[cfg(feature = "http")]
#[cfg_attr(docsrs, doc(cfg(feature = "http")))]
pub mod http;
#[cfg(feature = "runtime")]
#[cfg_attr(docsrs, doc(cfg(feature = "runtime")))]
pub mod runtime;
#[cfg(feature = "sim")]
#[cfg_attr(docsrs, doc(cfg(feature = "sim")))]
pub mod sim;
#[cfg(feature = "runtime")]
#[cfg_attr(docsrs, doc(cfg(feature = "runtime")))]
pub mod storage;
#[cfg(any(feature = "runtime", feature = "sim"))]
mod tick_clock;
#[cfg(feature = "runtime")]
#[cfg_attr(docsrs, doc(cfg(feature = "runtime")))]
pub mod transport;

pub use crate::core::{Config, Election, HardState, Message, NodeId, Role, Status, Term};

/// Compiles and runs the code blocks of README.md as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
