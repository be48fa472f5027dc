//! `FileStorage` basics: round trips of the hard state, opening and
//! reopening, crash leftovers, failed and abandoned saves.

use std::time::Duration;

use super::*;

#[tokio::test]
async fn round_trip_of_several_states() {
    let dir = tempfile::tempdir().unwrap();
    let mut storage = FileStorage::open(dir.path()).unwrap();
    assert_eq!(storage.path(), dir.path().join("hardstate"));
    assert_eq!(
        storage.slot_paths(),
        [slot_path(dir.path(), 0), slot_path(dir.path(), 1)]
    );
    let mut model = SlotModel::default();
    for state in sample_states() {
        storage.save(&state).await.unwrap();
        assert_eq!(storage.load().await.unwrap(), Some(state));
        let (generation, ceiling) = model.save(state.term.0, 1);
        assert_eq!(
            newest_slot(dir.path()).1,
            encode_v5(generation, ceiling, &state, None, None),
            "{state:?}"
        );
        assert_eq!(std::fs::read(storage.path()).unwrap(), marker());
        assert!(
            !dir.path().join("hardstate.tmp").exists(),
            "the marker's rename consumes the temporary file"
        );
    }
    // Terms up to u64::MAX raised the ceiling once, to the largest term.
    assert_eq!((model.generation, model.ceiling), (Some(8), u64::MAX));
}

#[tokio::test]
async fn reopen_after_drop_returns_last_saved_state() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut storage = FileStorage::open(dir.path()).unwrap();
        storage.save(&hs(3, Some(2))).await.unwrap();
        storage.save(&hs(4, None)).await.unwrap();
        storage.save(&hs(4, Some(5))).await.unwrap();
    }
    assert_eq!(load_dir(dir.path()).await.unwrap(), Some(hs(4, Some(5))));
}

#[tokio::test]
async fn missing_file_is_a_fresh_node() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(load_dir(dir.path()).await.unwrap(), None);
}

#[tokio::test]
async fn open_creates_missing_directories() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("a").join("b").join("node-1");
    let mut storage = FileStorage::open(&dir).unwrap();
    assert!(dir.is_dir());
    assert_eq!(storage.load().await.unwrap(), None);
    storage.save(&hs(9, Some(1))).await.unwrap();
    drop(storage);
    assert_eq!(load_dir(&dir).await.unwrap(), Some(hs(9, Some(1))));
}

#[tokio::test]
async fn open_on_a_file_is_an_error_naming_it() {
    let root = tempfile::tempdir().unwrap();
    let not_a_dir = root.path().join("plain-file");
    std::fs::write(&not_a_dir, b"hello").unwrap();
    let error = FileStorage::open(&not_a_dir).unwrap_err();
    assert!(matches!(error, StorageError::Io { .. }), "{error:?}");
    assert_names_path(&error, &not_a_dir);
}

#[tokio::test]
async fn vanished_directory_is_an_error_not_a_fresh_node() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("node");
    let mut storage = FileStorage::open(&dir).unwrap();
    storage.save(&hs(2, Some(1))).await.unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    let error = storage.load().await.unwrap_err();
    assert!(matches!(error, StorageError::Io { .. }), "{error:?}");
    assert_names_path(&error, &dir);
}

#[tokio::test]
async fn torn_temp_file_is_ignored_and_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let temp = dir.path().join("hardstate.tmp");

    // A crash of an older build before its first rename: only a torn temp
    // file exists.
    std::fs::write(&temp, [0xde, 0xad, 0xbe, 0xef, 0x01, 0x02, 0x03]).unwrap();
    assert_eq!(load_dir(dir.path()).await.unwrap(), None);

    let mut storage = FileStorage::open(dir.path()).unwrap();
    storage.save(&hs(5, Some(2))).await.unwrap();
    assert!(!temp.exists(), "the marker's rename consumes it");

    // Saves no longer use it: one left there now is never read.
    std::fs::write(&temp, encode_v1(&hs(6, Some(3)))).unwrap();
    drop(storage);
    let mut reopened = FileStorage::open(dir.path()).unwrap();
    assert_eq!(reopened.load().await.unwrap(), Some(hs(5, Some(2))));
    reopened.save(&hs(7, None)).await.unwrap();
    drop(reopened);
    assert_eq!(load_dir(dir.path()).await.unwrap(), Some(hs(7, None)));
}

#[tokio::test]
async fn failed_save_is_an_error_and_keeps_the_old_state() {
    let dir = tempfile::tempdir().unwrap();
    let mut storage = FileStorage::open(dir.path()).unwrap();
    storage.save(&hs(3, Some(1))).await.unwrap();

    // A directory where the next save's slot is makes its open fail
    // (permission tricks would not work for root).
    let target = slot_path(dir.path(), 1);
    let before = std::fs::read(&target).unwrap();
    std::fs::remove_file(&target).unwrap();
    std::fs::create_dir(&target).unwrap();
    let error = storage.save(&hs(4, Some(2))).await.unwrap_err();
    assert!(matches!(error, StorageError::Io { .. }), "{error:?}");
    assert_names_path(&error, &target);
    let error = storage.load().await.unwrap_err();
    assert!(matches!(error, StorageError::Io { .. }), "{error:?}");
    assert_names_path(&error, &target);

    std::fs::remove_dir(&target).unwrap();
    std::fs::write(&target, before).unwrap();
    assert_eq!(storage.load().await.unwrap(), Some(hs(3, Some(1))));
    storage.save(&hs(4, Some(2))).await.unwrap();
    assert_eq!(storage.load().await.unwrap(), Some(hs(4, Some(2))));
}

#[tokio::test]
async fn unreadable_state_file_is_an_io_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut storage = FileStorage::open(dir.path()).unwrap();
    std::fs::create_dir(storage.path()).unwrap();
    let error = storage.load().await.unwrap_err();
    assert!(matches!(error, StorageError::Io { .. }), "{error:?}");
    let path = storage.path().to_path_buf();
    assert_names_path(&error, &path);
}

/// A save whose future is dropped still finishes on the blocking pool; the
/// next save must still win, and the two must not interleave on the file.
///
/// The scheduler almost always runs the two in order, so this mostly shows
/// that abandoning a save is harmless; the sequence guard in `FileStorage`
/// covers the rare reordering, which no test here can force.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abandoned_save_never_overwrites_a_newer_one() {
    let dir = tempfile::tempdir().unwrap();
    let mut storage = FileStorage::open(dir.path()).unwrap();
    for round in 0..50u64 {
        let stale = hs(2 * round + 1, Some(1));
        let newer = hs(2 * round + 2, Some(2));
        // A zero timeout polls the save once, starting it, then drops it.
        let _ = tokio::time::timeout(Duration::ZERO, storage.save(&stale)).await;
        storage.save(&newer).await.unwrap();
        assert_eq!(storage.load().await.unwrap(), Some(newer), "round {round}");
    }
}
