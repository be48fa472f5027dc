//! Storage: `FileStorage` round trips of the hard state and the membership
//! (one file, each save keeping the other half), crash leftovers, corruption
//! and truncation detection, format versions (versions 1 to 3 still read
//! and upgraded), the identity of the node a directory belongs to, the
//! directory lock; `MemStorage` basics. One module per topic; `layout`
//! writes the documented format independently of the crate.
#![cfg(feature = "runtime")]

use std::path::Path;

use duckduckgoose::core::Membership;
use duckduckgoose::storage::{FileStorage, Storage, StorageError};
use duckduckgoose::{HardState, NodeId, Term};

mod layout;
use layout::*;

mod basics;
mod damage;
mod identity;
mod lock;
mod mem;
mod membership;
mod migration;
// proptest comes with the `sim` feature, not as a dev-dependency, so that
// building an example never compiles it.
#[cfg(feature = "sim")]
mod props;
mod slots;
mod versions;

/// Memberships built the public way, with addresses.
fn membership(voters: &[u64], learners: &[u64]) -> Membership {
    let ids = voters.iter().chain(learners).map(|&id| NodeId(id));
    Membership::new(voters.iter().map(|&id| NodeId(id)))
        .with_learners(learners.iter().map(|&id| NodeId(id)))
        .with_addresses(ids.map(|id| (id, format!("node-{id}.example:{}", 7000 + id.0 % 1000))))
}

fn hs(term: u64, voted_for: Option<u64>) -> HardState {
    HardState {
        term: Term(term),
        voted_for: voted_for.map(NodeId),
    }
}

fn sample_states() -> Vec<HardState> {
    vec![
        hs(0, None),
        hs(1, Some(1)),
        hs(7, None),
        hs(42, Some(3)),
        hs(u64::MAX, Some(u64::MAX)),
        hs(u64::MAX, None),
        hs(1 << 40, Some(0)),
    ]
}

/// Loads whatever is in `dir` through a fresh `FileStorage`.
async fn load_dir(dir: &Path) -> Result<Option<HardState>, StorageError> {
    FileStorage::open(dir).expect("open temp dir").load().await
}

fn assert_names_path(error: &StorageError, path: &Path) {
    let message = error.to_string();
    assert!(
        message.contains(&path.display().to_string()),
        "error {message:?} does not name {}",
        path.display()
    );
}

fn assert_corrupt<T: std::fmt::Debug>(result: Result<T, StorageError>, path: &Path, what: &str) {
    match result {
        Err(error @ StorageError::Corrupt { .. }) => assert_names_path(&error, path),
        other => panic!("{what}: expected Corrupt, got {other:?}"),
    }
}

/// Every load of `storage` reports the file as corrupt, in any order.
async fn assert_both_corrupt(storage: &mut FileStorage, what: &str) {
    let path = storage.path().to_path_buf();
    assert_corrupt(storage.load().await, &path, what);
    assert_corrupt(storage.load_membership().await, &path, what);
    assert_corrupt(storage.load_identity().await, &path, what);
    assert_corrupt(storage.load().await, &path, what);
}

fn assert_corrupt_because<T: std::fmt::Debug>(
    result: Result<T, StorageError>,
    path: &Path,
    name: &str,
    expected: &str,
) {
    match result {
        Err(StorageError::Corrupt {
            path: named,
            problem,
        }) => {
            assert_eq!(named, path, "{name}");
            assert!(problem.contains(expected), "{name}: problem {problem:?}");
        }
        other => panic!("{name}: expected Corrupt, got {other:?}"),
    }
}
