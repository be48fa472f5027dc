//! The sans-IO election core: a pure, deterministic state machine driven by
//! ticks and messages. No clock, no sockets, no files, no tokio.

mod config;
mod election;
mod membership;
mod message;
mod metadata;
mod output;
mod quorum;
mod status;
mod types;

pub use config::{Config, ConfigError};
pub use election::Election;
#[cfg(feature = "__planted-bugs")]
#[doc(hidden)]
pub use election::Mutation;
pub(crate) use election::is_round_tick;
#[cfg(feature = "runtime")]
pub(crate) use membership::{LegacyMembership, MembershipRepr};
pub use membership::{Membership, MembershipError, MembershipId};
pub use message::Message;
pub use metadata::{
    MAX_MEMBERSHIP_METADATA_LEN, MAX_METADATA_ENTRIES, MAX_METADATA_KEY_LEN, MAX_METADATA_LEN,
    MAX_METADATA_VALUE_LEN, MetadataError, NodeMetadata,
};
pub use output::{CommandError, Counters, DropReason, Event, Output, RoleChangeReason};
pub use status::Status;
pub use types::{HardState, NodeId, Role, Term};
