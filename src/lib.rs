//! # DuckDuckGoose
//!
//! Leader election for any service: exactly one node of a cluster is the
//! **Goose**, every other node is a **Duck**.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod core;
#[cfg(feature = "runtime")]
pub mod runtime;
#[cfg(feature = "sim")]
pub mod sim;
#[cfg(feature = "runtime")]
pub mod storage;
#[cfg(feature = "runtime")]
pub mod transport;

pub use crate::core::{Config, Election, HardState, Message, NodeId, Role, Status, Term};
