//! In-memory storage, for tests and for nodes that may forget their vote.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use super::{Storage, StorageError};
use crate::core::{HardState, Membership};

/// Keeps the hard state and the membership in memory, shared between
/// clones, so a test can "restart" a node on the same storage. As with
/// [`FileStorage`](crate::storage::FileStorage), saving one leaves the other
/// as it was.
///
/// **Not durable across process restarts**: a process that restarts on an
/// empty `MemStorage` may vote twice in one term. Use
/// [`FileStorage`](crate::storage::FileStorage) in production.
#[derive(Clone, Debug, Default)]
pub struct MemStorage {
    inner: Arc<Mutex<Inner>>,
}

#[derive(Debug, Default)]
struct Inner {
    state: Option<HardState>,
    membership: Option<Membership>,
    fail_saves: bool,
}

impl MemStorage {
    /// Empty storage: a brand-new node.
    pub fn new() -> Self {
        Self::default()
    }

    /// The last saved hard state.
    pub fn state(&self) -> Option<HardState> {
        self.lock().state
    }

    /// The last saved membership.
    pub fn membership(&self) -> Option<Membership> {
        self.lock().membership.clone()
    }

    /// Makes every later [`save`](Storage::save) and
    /// [`save_membership`](Storage::save_membership) fail (or succeed
    /// again), to test how a node reacts to a broken disk. A failed save
    /// changes nothing.
    pub fn set_fail_saves(&self, fail: bool) {
        self.lock().fail_saves = fail;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding this lock can only come from a bug in this
        // file (no user code runs under it); recover the data regardless.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[async_trait]
impl Storage for MemStorage {
    async fn load(&mut self) -> Result<Option<HardState>, StorageError> {
        Ok(self.lock().state)
    }

    async fn save(&mut self, state: &HardState) -> Result<(), StorageError> {
        let mut inner = self.lock();
        if inner.fail_saves {
            return Err(StorageError::Failed("injected save failure".into()));
        }
        inner.state = Some(*state);
        Ok(())
    }

    async fn load_membership(&mut self) -> Result<Option<Membership>, StorageError> {
        Ok(self.lock().membership.clone())
    }

    async fn save_membership(&mut self, membership: &Membership) -> Result<(), StorageError> {
        let mut inner = self.lock();
        if inner.fail_saves {
            return Err(StorageError::Failed("injected save failure".into()));
        }
        inner.membership = Some(membership.clone());
        Ok(())
    }
}
