//! Storage: `FileStorage` round trips, crash leftovers, corruption and
//! truncation detection, format versions, the directory lock; `MemStorage`
//! basics.
//!
//! The state file layout is re-implemented here from the `FileStorage`
//! docs, so these tests also check that the docs are true.
#![cfg(feature = "runtime")]

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use duckduckgoose::storage::{FileStorage, MemStorage, Storage, StorageError};
use duckduckgoose::{HardState, NodeId, Term};
use proptest::prelude::*;

// ----- the documented format, written independently ---------------------------

/// An envelope: magic, version, payload length, payload, CRC-32 of it all.
fn envelope(version: u16, payload: &[u8]) -> Vec<u8> {
    let mut bytes = b"DDGS".to_vec();
    bytes.extend_from_slice(&version.to_le_bytes());
    bytes.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    bytes.extend_from_slice(payload);
    let checksum = crc32fast::hash(&bytes);
    bytes.extend_from_slice(&checksum.to_le_bytes());
    bytes
}

fn payload_v1(term: u64, presence: u8, id: u64) -> Vec<u8> {
    let mut payload = term.to_le_bytes().to_vec();
    payload.push(presence);
    payload.extend_from_slice(&id.to_le_bytes());
    payload
}

/// The one valid version-1 encoding of `state`.
fn encode(state: &HardState) -> Vec<u8> {
    let payload = match state.voted_for {
        Some(NodeId(id)) => payload_v1(state.term.0, 1, id),
        None => payload_v1(state.term.0, 0, 0),
    };
    envelope(1, &payload)
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

fn assert_corrupt(result: Result<Option<HardState>, StorageError>, path: &Path, what: &str) {
    match result {
        Err(error @ StorageError::Corrupt { .. }) => assert_names_path(&error, path),
        other => panic!("{what}: expected Corrupt, got {other:?}"),
    }
}

// ----- FileStorage ----------------------------------------------------------------

#[tokio::test]
async fn round_trip_of_several_states() {
    let dir = tempfile::tempdir().unwrap();
    let mut storage = FileStorage::open(dir.path()).unwrap();
    assert_eq!(storage.path(), dir.path().join("hardstate"));
    for state in sample_states() {
        storage.save(&state).await.unwrap();
        assert_eq!(storage.load().await.unwrap(), Some(state));
        assert_eq!(std::fs::read(storage.path()).unwrap(), encode(&state));
        assert!(
            !dir.path().join("hardstate.tmp").exists(),
            "the rename consumes the temporary file"
        );
    }
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

    // A crash before the first rename: only a torn temp file exists.
    std::fs::write(&temp, [0xde, 0xad, 0xbe, 0xef, 0x01, 0x02, 0x03]).unwrap();
    assert_eq!(load_dir(dir.path()).await.unwrap(), None);

    let mut storage = FileStorage::open(dir.path()).unwrap();
    storage.save(&hs(5, Some(2))).await.unwrap();
    assert!(!temp.exists());

    // A crash mid-write of a later save: the old state still loads.
    let torn: Vec<u8> = (0..200u32)
        .map(|i| (i.wrapping_mul(97) % 251) as u8)
        .collect();
    std::fs::write(&temp, &torn).unwrap();
    drop(storage);
    let mut reopened = FileStorage::open(dir.path()).unwrap();
    assert_eq!(reopened.load().await.unwrap(), Some(hs(5, Some(2))));

    // A valid-looking but newer state in the temp file is not trusted either:
    // its save never returned, so nothing depended on it.
    std::fs::write(&temp, encode(&hs(6, Some(3)))).unwrap();
    assert_eq!(reopened.load().await.unwrap(), Some(hs(5, Some(2))));

    // The next save overwrites the leftover.
    reopened.save(&hs(7, None)).await.unwrap();
    assert!(!temp.exists());
    drop(reopened);
    assert_eq!(load_dir(dir.path()).await.unwrap(), Some(hs(7, None)));
}

#[tokio::test]
async fn every_flipped_bit_is_detected() {
    let dir = tempfile::tempdir().unwrap();
    let mut storage = FileStorage::open(dir.path()).unwrap();
    let path = storage.path().to_path_buf();
    for state in [hs(42, Some(3)), hs(7, None), hs(u64::MAX, Some(u64::MAX))] {
        let valid = encode(&state);
        for position in 0..valid.len() {
            for bit in 0..8 {
                let mut damaged = valid.clone();
                damaged[position] ^= 1 << bit;
                std::fs::write(&path, &damaged).unwrap();
                assert_corrupt(
                    storage.load().await,
                    &path,
                    &format!("{state:?}, byte {position} bit {bit}"),
                );
            }
        }
    }
}

#[tokio::test]
async fn every_truncation_is_detected() {
    let dir = tempfile::tempdir().unwrap();
    let mut storage = FileStorage::open(dir.path()).unwrap();
    let path = storage.path().to_path_buf();
    for state in [hs(42, Some(3)), hs(0, None)] {
        let valid = encode(&state);
        for len in 0..valid.len() {
            std::fs::write(&path, &valid[..len]).unwrap();
            assert_corrupt(storage.load().await, &path, &format!("length {len}"));
        }
    }
}

#[tokio::test]
async fn corruptions_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let mut storage = FileStorage::open(dir.path()).unwrap();
    let path = storage.path().to_path_buf();
    let valid = encode(&hs(42, Some(3)));

    let mut trailing = valid.clone();
    trailing.push(0);
    let mut bad_magic = valid.clone();
    bad_magic[..4].copy_from_slice(b"RAFT");
    let mut bad_checksum = valid.clone();
    *bad_checksum.last_mut().unwrap() ^= 0xff;
    let truncated = valid[..7].to_vec();
    let huge = [valid.clone(), vec![0; 1 << 20]].concat();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("empty", Vec::new(), "truncated"),
        ("truncated", truncated, "truncated"),
        ("trailing byte", trailing, "1 trailing bytes"),
        ("bad magic", bad_magic, "magic"),
        ("bad checksum", bad_checksum, "checksum mismatch"),
        // Intact checksums, so only the payload check can catch these.
        (
            "presence byte 2",
            envelope(1, &payload_v1(4, 2, 1)),
            "presence byte",
        ),
        (
            "id without vote",
            envelope(1, &payload_v1(4, 0, 1)),
            "no vote",
        ),
        (
            "short payload",
            envelope(1, &payload_v1(4, 1, 1)[..9]),
            "payload is 9 bytes",
        ),
        ("huge file", huge, "larger than"),
    ];
    for (name, bytes, expected) in cases {
        std::fs::write(&path, &bytes).unwrap();
        match storage.load().await {
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
}

#[tokio::test]
async fn unknown_version_is_reported_with_the_version_found() {
    let dir = tempfile::tempdir().unwrap();
    let mut storage = FileStorage::open(dir.path()).unwrap();
    let path = storage.path().to_path_buf();
    assert_eq!(FileStorage::FORMAT_VERSION, 1);
    let cases = [
        // A newer build with the same payload.
        (2, payload_v1(4, 1, 1)),
        // A newer build with a longer payload: the envelope still frames it.
        (3, [payload_v1(4, 1, 1), vec![0xaa; 8]].concat()),
        (0, payload_v1(4, 1, 1)),
        (u16::MAX, Vec::new()),
    ];
    for (version, payload) in cases {
        std::fs::write(&path, envelope(version, &payload)).unwrap();
        match storage.load().await {
            Err(
                ref error @ StorageError::UnsupportedVersion {
                    ref path,
                    found,
                    supported,
                },
            ) => {
                assert_eq!(found, version);
                assert_eq!(supported, 1);
                assert_names_path(error, path);
                assert!(error.to_string().contains(&version.to_string()));
            }
            other => panic!("version {version}: expected UnsupportedVersion, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn failed_save_is_an_error_and_keeps_the_old_state() {
    let dir = tempfile::tempdir().unwrap();
    let mut storage = FileStorage::open(dir.path()).unwrap();
    storage.save(&hs(3, Some(1))).await.unwrap();

    // A directory where the temporary file goes makes the create fail
    // (permission tricks would not work for root).
    let temp = dir.path().join("hardstate.tmp");
    std::fs::create_dir(&temp).unwrap();
    let error = storage.save(&hs(4, Some(2))).await.unwrap_err();
    assert!(matches!(error, StorageError::Io { .. }), "{error:?}");
    assert_names_path(&error, &temp);
    assert_eq!(storage.load().await.unwrap(), Some(hs(3, Some(1))));

    std::fs::remove_dir(&temp).unwrap();
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

// ----- the directory lock -------------------------------------------------------

/// Asserts `result` is the error for a directory another `FileStorage` has
/// locked, naming `dir`'s lock file.
fn assert_locked(result: Result<FileStorage, StorageError>, dir: &Path) {
    let lock = dir.join("lock");
    match result {
        Err(error @ StorageError::Io { .. }) => {
            assert_names_path(&error, &lock);
            assert!(
                error.to_string().contains("another node"),
                "error {error} does not say why"
            );
            let StorageError::Io { path, source, .. } = error else {
                unreachable!("matched above")
            };
            assert_eq!(path, lock);
            assert_eq!(source.kind(), std::io::ErrorKind::WouldBlock);
        }
        Err(other) => panic!("expected an Io error on the lock, got {other:?}"),
        Ok(_) => panic!("a second FileStorage opened a locked directory"),
    }
}

#[tokio::test]
async fn second_open_fails_while_the_first_lives_and_succeeds_after_drop() {
    let dir = tempfile::tempdir().unwrap();
    let mut first = FileStorage::open(dir.path()).unwrap();
    assert_eq!(first.lock_path(), dir.path().join("lock"));
    first.save(&hs(3, Some(1))).await.unwrap();

    assert_locked(FileStorage::open(dir.path()), dir.path());
    // Another spelling of the same directory is still the same lock file.
    assert_locked(FileStorage::open(dir.path().join(".")), dir.path());
    // The refused open changed nothing, and the holder carries on.
    assert_eq!(
        std::fs::read(first.path()).unwrap(),
        encode(&hs(3, Some(1)))
    );
    first.save(&hs(4, Some(2))).await.unwrap();
    assert_eq!(first.load().await.unwrap(), Some(hs(4, Some(2))));

    drop(first);
    let mut second = FileStorage::open(dir.path()).unwrap();
    assert_eq!(second.load().await.unwrap(), Some(hs(4, Some(2))));
    // And the lock passes on again.
    assert_locked(FileStorage::open(dir.path()), dir.path());
    drop(second);
    assert_eq!(load_dir(dir.path()).await.unwrap(), Some(hs(4, Some(2))));
}

#[tokio::test]
async fn lock_file_left_behind_is_not_a_lock() {
    // The file stays after its holder is gone; only a live holder counts.
    let dir = tempfile::tempdir().unwrap();
    drop(FileStorage::open(dir.path()).unwrap());
    assert!(dir.path().join("lock").exists());
    std::fs::write(dir.path().join("lock"), b"left by an older build").unwrap();
    let mut storage = FileStorage::open(dir.path()).unwrap();
    assert_eq!(storage.load().await.unwrap(), None);
}

#[tokio::test]
async fn unopenable_lock_file_is_an_io_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let lock = dir.path().join("lock");
    std::fs::create_dir(&lock).unwrap();
    let error = FileStorage::open(dir.path()).unwrap_err();
    assert!(matches!(error, StorageError::Io { .. }), "{error:?}");
    assert_names_path(&error, &lock);
}

/// Set in the child process that `lock_holder_child` runs in.
const LOCK_HOLDER_DIR_VAR: &str = "DUCKDUCKGOOSE_TEST_LOCK_HOLDER_DIR";
/// What the child prints once it holds the lock. libtest prints
/// `test lock_holder_child ... ` before it on the same line, so the parent
/// looks for it anywhere in a line.
const LOCK_HOLDER_READY: &str = "lock-holder-ready";

/// The child half of `lock_is_held_across_processes_and_freed_by_kill`:
/// holds the lock until killed. Does nothing when run by hand.
#[test]
#[ignore = "run as a child process by lock_is_held_across_processes_and_freed_by_kill"]
fn lock_holder_child() {
    let Some(dir) = std::env::var_os(LOCK_HOLDER_DIR_VAR) else {
        return;
    };
    let _storage = FileStorage::open(&dir).unwrap();
    // Flushed at once: the parent waits for this line.
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{LOCK_HOLDER_READY}").unwrap();
    stdout.flush().unwrap();
    drop(stdout);
    // Blocks until the parent kills this process (or closes stdin).
    let _ = std::io::stdin().read_line(&mut String::new());
}

#[test]
fn lock_is_held_across_processes_and_freed_by_kill() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "lock_holder_child", "--ignored", "--nocapture"])
        .args(["--test-threads", "1"])
        .env(LOCK_HOLDER_DIR_VAR, dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    // Ends at the marker, or at end of file if the child exits without it
    // (then stdin closes too, so neither side can wait forever).
    let mut locked = false;
    for line in stdout.lines() {
        if line.unwrap().contains(LOCK_HOLDER_READY) {
            locked = true;
            break;
        }
    }
    assert!(locked, "the child exited before taking the lock");

    assert_locked(FileStorage::open(dir.path()), dir.path());

    // SIGKILL on Unix: no destructor runs, the kernel drops the lock.
    child.kill().unwrap();
    child.wait().unwrap();
    FileStorage::open(dir.path()).unwrap();
}

// ----- MemStorage ---------------------------------------------------------------

#[tokio::test]
async fn mem_storage_round_trip_and_shared_clones() {
    let mut storage = MemStorage::new();
    assert_eq!(storage.load().await.unwrap(), None);
    let observer = storage.clone();
    for state in sample_states() {
        storage.save(&state).await.unwrap();
        assert_eq!(storage.load().await.unwrap(), Some(state));
        assert_eq!(observer.state(), Some(state));
    }
}

#[tokio::test]
async fn mem_storage_injected_save_failure() {
    let mut storage = MemStorage::new();
    storage.save(&hs(1, Some(1))).await.unwrap();
    storage.set_fail_saves(true);
    let error = storage.save(&hs(2, Some(2))).await.unwrap_err();
    assert!(matches!(error, StorageError::Failed(_)), "{error:?}");
    assert_eq!(storage.load().await.unwrap(), Some(hs(1, Some(1))));
    storage.set_fail_saves(false);
    storage.save(&hs(2, Some(2))).await.unwrap();
    assert_eq!(storage.state(), Some(hs(2, Some(2))));
}

// ----- property: arbitrary file contents -----------------------------------------

/// File contents to try: pure noise, noise behind the magic, and valid
/// encodings with a few bytes changed, cut short or extended.
fn file_contents() -> impl Strategy<Value = Vec<u8>> {
    let valid =
        (any::<u64>(), any::<Option<u64>>()).prop_map(|(term, vote)| encode(&hs(term, vote)));
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..64),
        proptest::collection::vec(any::<u8>(), 0..40)
            .prop_map(|tail| [b"DDGS".to_vec(), tail].concat()),
        valid.clone(),
        (
            valid.clone(),
            proptest::collection::vec((any::<usize>(), 1..=255u8), 1..4)
        )
            .prop_map(|(mut bytes, edits)| {
                for (position, mask) in edits {
                    let len = bytes.len();
                    bytes[position % len] ^= mask;
                }
                bytes
            }),
        (valid.clone(), any::<usize>())
            .prop_map(|(bytes, len)| bytes[..len % bytes.len()].to_vec()),
        (valid, proptest::collection::vec(any::<u8>(), 1..8))
            .prop_map(|(bytes, tail)| [bytes, tail].concat()),
    ]
}

#[test]
fn arbitrary_file_contents_never_panic_or_decode_wrongly() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a current-thread runtime builds");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hardstate");
    proptest!(ProptestConfig::with_cases(512), |(bytes in file_contents())| {
        std::fs::write(&path, &bytes).unwrap();
        match runtime.block_on(load_dir(dir.path())) {
            // Only the one valid encoding of a state reads back as it.
            Ok(Some(state)) => prop_assert_eq!(encode(&state), bytes),
            Ok(None) => prop_assert!(false, "an existing file read as a fresh node"),
            Err(StorageError::Corrupt { .. } | StorageError::UnsupportedVersion { .. }) => {}
            Err(other) => prop_assert!(false, "unexpected error kind {:?}", other),
        }
    });
}
