//! Durable storage of the term, the vote and the membership: what must survive a
//! crash so that a node never votes twice in one term.
//!
//! The driver calls [`Storage::save`] for every
//! [`Output::Persist`](crate::core::Output::Persist), and
//! [`Storage::save_membership`] for every
//! [`Output::PersistMembership`](crate::core::Output::PersistMembership), and
//! sends nothing until it returns: that is the persist barrier.
//!
//! A [`FileStorage`] also records which node of which cluster its directory
//! belongs to ([`NodeIdentity`]); a node opens it with
//! [`FileStorage::open_as`], which refuses another node's directory.

use std::path::PathBuf;

use async_trait::async_trait;
use thiserror::Error;

use crate::core::{HardState, Membership};

pub(crate) mod identity;
mod mem;
pub use identity::{NodeIdentity, NodeIdentityError};
pub use mem::MemStorage;

/// Where a node keeps its [`HardState`] and its [`Membership`].
///
/// Both live side by side (a [`FileStorage`] keeps them together in each
/// of its two slots); each save leaves the other one as it was.
#[async_trait]
pub trait Storage: Send + 'static {
    /// The saved state, or `None` for a node that has never saved one.
    ///
    /// An unreadable or corrupt state is an error, never `None`: resetting a
    /// term or vote silently could let the node vote twice in one term.
    async fn load(&mut self) -> Result<Option<HardState>, StorageError>;

    /// Saves `state`; it is durable when this returns `Ok`.
    async fn save(&mut self, state: &HardState) -> Result<(), StorageError>;

    /// The saved membership, or `None` for a node that has never saved one
    /// (it then starts from the membership it was configured with).
    ///
    /// As with [`load`](Self::load), damage is an error, never `None`.
    async fn load_membership(&mut self) -> Result<Option<Membership>, StorageError>;

    /// Saves `membership`; it is durable when this returns `Ok`.
    async fn save_membership(&mut self, membership: &Membership) -> Result<(), StorageError>;
}

/// Why storage failed. Every variant names the file it concerns.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum StorageError {
    /// The operating system refused an operation.
    #[error("{path}: {operation} failed: {source}")]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// What was being done ("read", "write", "fsync", "rename", ...).
        operation: &'static str,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The file exists but its contents are damaged.
    #[error("{path}: state file is corrupt: {problem}")]
    Corrupt {
        /// The state file.
        path: PathBuf,
        /// What is wrong ("checksum mismatch", "truncated: 7 of 29 bytes", ...).
        problem: String,
    },
    /// The file was written by a format this version does not know.
    #[error("{path}: state file has format version {found}, this build reads version {supported}")]
    UnsupportedVersion {
        /// The state file.
        path: PathBuf,
        /// The version in the file.
        found: u16,
        /// The version this build writes (it also reads the older ones).
        supported: u16,
    },
    /// The data directory belongs to another node or cluster than the one
    /// opening it with [`FileStorage::open_as`]: using it could make this
    /// node vote again in a term the other node already voted in. Nothing
    /// in the directory was changed.
    #[error("{path}: the data directory belongs to {found}, not {expected}")]
    IdentityMismatch {
        /// The state file that records the identity.
        path: PathBuf,
        /// The identity the directory was opened as.
        expected: NodeIdentity,
        /// The identity the state file records.
        found: NodeIdentity,
    },
    /// A simulated or injected failure (used by [`MemStorage`] in tests).
    #[error("storage failure: {0}")]
    Failed(String),
}

mod file;
pub use file::FileStorage;
