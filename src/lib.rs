//! # DuckDuckGoose
//!
//! Leader election for any service: exactly one node of a cluster is the
//! **Goose**, every other node is a **Duck**.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod core;
#[cfg(feature = "sim")]
pub mod sim;

pub use crate::core::{Config, Election, HardState, Message, NodeId, Role, Status, Term};
