//! Storage: `FileStorage` round trips of the hard state and the membership
//! (one file, each save keeping the other half), crash leftovers, corruption
//! and truncation detection, format versions (versions 1 and 2 still read
//! and upgraded), the directory lock; `MemStorage` basics.
//!
//! The state file layout is re-implemented here from the `FileStorage`
//! docs, so these tests also check that the docs are true; one membership
//! is even spelled out byte by byte, to catch an accidental format change.
#![cfg(feature = "runtime")]

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use duckduckgoose::core::{Membership, NodeMetadata};
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

/// The hard state fields: all of a version-1 payload, the start of a
/// version-2 or -3 one.
fn hard_state_bytes(state: &HardState) -> Vec<u8> {
    match state.voted_for {
        Some(NodeId(id)) => payload_v1(state.term.0, 1, id),
        None => payload_v1(state.term.0, 0, 0),
    }
}

/// The one valid version-1 encoding of `state`.
fn encode_v1(state: &HardState) -> Vec<u8> {
    envelope(1, &hard_state_bytes(state))
}

/// A version-2 or -3 payload: the hard state fields, a membership length
/// field saying `membership_len`, then `membership` (raw, so tests can lie).
fn payload_v2(state: &HardState, membership_len: u32, membership: &[u8]) -> Vec<u8> {
    let mut payload = hard_state_bytes(state);
    payload.extend_from_slice(&membership_len.to_le_bytes());
    payload.extend_from_slice(membership);
    payload
}

/// The postcard encoding of `Option<Membership>` the docs promise.
fn membership_bytes(membership: Option<&Membership>) -> Vec<u8> {
    postcard::to_allocvec(&membership).unwrap()
}

/// The one valid version-3 encoding of `state` and `membership`.
fn encode_v3(state: &HardState, membership: Option<&Membership>) -> Vec<u8> {
    let encoded = membership_bytes(membership);
    envelope(3, &payload_v2(state, encoded.len() as u32, &encoded))
}

/// The one valid version-2 encoding of `state` and `membership`, which has
/// no metadata: version 3's membership without its metadata count (the
/// last byte, `0`, when there is no metadata).
fn encode_v2(state: &HardState, membership: Option<&Membership>) -> Vec<u8> {
    let mut encoded = membership_bytes(membership);
    if let Some(membership) = membership {
        assert!(membership.all_metadata().is_empty(), "version 2 has none");
        assert_eq!(encoded.pop(), Some(0), "the metadata count");
    }
    envelope(2, &payload_v2(state, encoded.len() as u32, &encoded))
}

/// Membership 7@t5 of voters 1, 2 and 300, learner 4 (joining) and two
/// addresses, without metadata, as version 2 holds it: spelled out in
/// postcard by hand from the `FileStorage` docs. Builders cannot make a
/// joining learner or a non-zero id, so the bytes are the way to get one.
const SAMPLE_V2_MEMBERSHIP_BYTES: &[u8] = &[
    0x01, // Some
    0x05, 0x07, // id: term 5, version 7
    0x03, 0x01, 0x02, 0xac, 0x02, // voters: 3 of them, 1, 2, 300 (LEB128)
    0x01, 0x04, // learners: 4
    0x01, 0x04, // joining: 4
    0x02, // addresses: 2 of them
    0x01, 0x0e, b'1', b'2', b'7', b'.', b'0', b'.', b'0', b'.', b'1', b':', b'7', b'0', b'0', b'1',
    0x04, 0x0a, b'[', b':', b':', b'1', b']', b':', b'7', b'0', b'0', b'4',
];

/// The same membership with metadata for nodes 1 and 4, as version 3 holds
/// it: the version-2 bytes, then the metadata.
const SAMPLE_MEMBERSHIP_BYTES: &[u8] = &[
    0x01, // Some
    0x05, 0x07, // id: term 5, version 7
    0x03, 0x01, 0x02, 0xac, 0x02, // voters: 3 of them, 1, 2, 300 (LEB128)
    0x01, 0x04, // learners: 4
    0x01, 0x04, // joining: 4
    0x02, // addresses: 2 of them
    0x01, 0x0e, b'1', b'2', b'7', b'.', b'0', b'.', b'0', b'.', b'1', b':', b'7', b'0', b'0', b'1',
    0x04, 0x0a, b'[', b':', b':', b'1', b']', b':', b'7', b'0', b'0', b'4',
    0x02, // metadata: 2 nodes
    0x01, 0x01, // node 1: 1 entry
    0x04, b'h', b't', b't', b'p', // "http"
    0x14, b'h', b't', b't', b'p', b':', b'/', b'/', b'1', b'0', b'.', b'0', b'.', b'0', b'.', b'1',
    b':', b'8', b'0', b'8', b'0', // "http://10.0.0.1:8080"
    0x04, 0x02, // node 4: 2 entries, in key order
    0x04, b'h', b't', b't', b'p', // "http"
    0x11, b'h', b't', b't', b'p', b':', b'/', b'/', b'[', b':', b':', b'1', b']', b':', b'8', b'0',
    b'8', b'4', // "http://[::1]:8084"
    0x04, b'z', b'o', b'n', b'e', 0x01, b'b', // "zone": "b"
];

fn sample_membership() -> Membership {
    let membership: Option<Membership> = postcard::from_bytes(SAMPLE_MEMBERSHIP_BYTES).unwrap();
    membership.unwrap()
}

/// The sample without its metadata (what a version-2 file of it loads as).
fn sample_membership_v2() -> Membership {
    let sample = sample_membership();
    let ids: Vec<NodeId> = sample.all_metadata().keys().copied().collect();
    ids.into_iter().fold(sample, |membership, id| {
        membership.with_metadata(id, NodeMetadata::new())
    })
}

/// Memberships built the public way, with addresses.
fn membership(voters: &[u64], learners: &[u64]) -> Membership {
    let ids = voters.iter().chain(learners).map(|&id| NodeId(id));
    Membership::new(voters.iter().map(|&id| NodeId(id)))
        .with_learners(learners.iter().map(|&id| NodeId(id)))
        .with_addresses(ids.map(|id| (id, format!("node-{id}.example:{}", 7000 + id.0 % 1000))))
}

/// Valid files of every version, to damage.
fn valid_files() -> Vec<(String, Vec<u8>)> {
    let mut files = Vec::new();
    for state in [hs(42, Some(3)), hs(7, None), hs(u64::MAX, Some(u64::MAX))] {
        files.push((format!("v1 {state:?}"), encode_v1(&state)));
        files.push((
            format!("v2 {state:?}, no membership"),
            encode_v2(&state, None),
        ));
        files.push((
            format!("v3 {state:?}, no membership"),
            encode_v3(&state, None),
        ));
    }
    files.push((
        "v2 with the sample membership".into(),
        encode_v2(&hs(9, Some(2)), Some(&sample_membership_v2())),
    ));
    files.push((
        "v3 with the sample membership".into(),
        encode_v3(&hs(9, Some(2)), Some(&sample_membership())),
    ));
    files
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

/// Both loads of `storage` report the file as corrupt, in both orders.
async fn assert_both_corrupt(storage: &mut FileStorage, what: &str) {
    let path = storage.path().to_path_buf();
    assert_corrupt(storage.load().await, &path, what);
    assert_corrupt(storage.load_membership().await, &path, what);
    assert_corrupt(storage.load().await, &path, what);
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
        assert_eq!(
            std::fs::read(storage.path()).unwrap(),
            encode_v3(&state, None)
        );
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
    std::fs::write(&temp, encode_v1(&hs(6, Some(3)))).unwrap();
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
    for (name, valid) in valid_files() {
        for position in 0..valid.len() {
            for bit in 0..8 {
                let mut damaged = valid.clone();
                damaged[position] ^= 1 << bit;
                std::fs::write(&path, &damaged).unwrap();
                assert_both_corrupt(&mut storage, &format!("{name}, byte {position} bit {bit}"))
                    .await;
            }
        }
    }
}

#[tokio::test]
async fn every_truncation_is_detected() {
    let dir = tempfile::tempdir().unwrap();
    let mut storage = FileStorage::open(dir.path()).unwrap();
    let path = storage.path().to_path_buf();
    for (name, valid) in valid_files() {
        for len in 0..valid.len() {
            std::fs::write(&path, &valid[..len]).unwrap();
            assert_both_corrupt(&mut storage, &format!("{name}, length {len}")).await;
        }
    }
}

#[tokio::test]
async fn corruptions_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let mut storage = FileStorage::open(dir.path()).unwrap();
    let path = storage.path().to_path_buf();
    let valid = encode_v1(&hs(42, Some(3)));

    let mut trailing = valid.clone();
    trailing.push(0);
    let mut bad_magic = valid.clone();
    bad_magic[..4].copy_from_slice(b"RAFT");
    let mut bad_checksum = valid.clone();
    *bad_checksum.last_mut().unwrap() ^= 0xff;
    let truncated = valid[..7].to_vec();
    // Past the limit of 1 MiB of membership plus the fixed fields.
    let huge = [valid.clone(), vec![0; 2 << 20]].concat();
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
        assert_corrupt_because(storage.load().await, &path, name, expected);
        assert_corrupt_because(storage.load_membership().await, &path, name, expected);
    }
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

#[tokio::test]
async fn unknown_version_is_reported_with_the_version_found() {
    let dir = tempfile::tempdir().unwrap();
    let mut storage = FileStorage::open(dir.path()).unwrap();
    let path = storage.path().to_path_buf();
    assert_eq!(FileStorage::FORMAT_VERSION, 3);
    let current = payload_v2(&hs(4, Some(1)), 1, &[0]);
    let cases = [
        // A newer build with the same payload.
        (4, current.clone()),
        // A newer build with a longer payload: the envelope still frames it.
        (5, [current.clone(), vec![0xaa; 8]].concat()),
        (0, payload_v1(4, 1, 1)),
        (u16::MAX, Vec::new()),
    ];
    for (version, payload) in cases {
        std::fs::write(&path, envelope(version, &payload)).unwrap();
        assert!(matches!(
            storage.load_membership().await,
            Err(StorageError::UnsupportedVersion { found, .. }) if found == version
        ));
        match storage.load().await {
            Err(
                ref error @ StorageError::UnsupportedVersion {
                    ref path,
                    found,
                    supported,
                },
            ) => {
                assert_eq!(found, version);
                assert_eq!(supported, 3);
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

// ----- FileStorage: the membership next to the hard state ----------------------

#[tokio::test]
async fn hard_state_and_membership_round_trip_with_addresses() {
    let dir = tempfile::tempdir().unwrap();
    let mut storage = FileStorage::open(dir.path()).unwrap();
    let cases = [
        (hs(1, Some(1)), membership(&[1], &[])),
        (hs(3, None), membership(&[1, 2, 3], &[4, 5])),
        (hs(9, Some(2)), sample_membership()),
        (hs(u64::MAX, Some(u64::MAX)), membership(&[u64::MAX], &[0])),
    ];
    for (state, members) in cases {
        storage.save(&state).await.unwrap();
        storage.save_membership(&members).await.unwrap();
        assert_eq!(storage.load().await.unwrap(), Some(state));
        assert_eq!(
            storage.load_membership().await.unwrap().as_ref(),
            Some(&members)
        );
        assert_eq!(
            std::fs::read(storage.path()).unwrap(),
            encode_v3(&state, Some(&members))
        );
        assert!(!dir.path().join("hardstate.tmp").exists());
    }
    drop(storage);

    let mut reopened = FileStorage::open(dir.path()).unwrap();
    let members = reopened.load_membership().await.unwrap().unwrap();
    assert_eq!(members, membership(&[u64::MAX], &[0]));
    assert_eq!(members.address(NodeId(0)), Some("node-0.example:7000"));
}

/// A file of the documented layout: `version`, state 9 voted for 2, and the
/// membership bytes.
fn documented_file(version: u8, membership: &[u8]) -> Vec<u8> {
    // Offsets from the table: hard state at 10, length at 27, membership at 31.
    let mut file = b"DDGS".to_vec();
    file.extend_from_slice(&[version, 0]);
    let membership_len = membership.len() as u32;
    file.extend_from_slice(&(21 + membership_len).to_le_bytes());
    file.extend_from_slice(&9u64.to_le_bytes());
    file.push(1);
    file.extend_from_slice(&2u64.to_le_bytes());
    file.extend_from_slice(&membership_len.to_le_bytes());
    assert_eq!(file.len(), 31);
    file.extend_from_slice(membership);
    let checksum = crc32fast::hash(&file);
    file.extend_from_slice(&checksum.to_le_bytes());
    file
}

/// The sample membership, byte by byte as documented, reads back with every
/// field in place, and this build writes exactly these bytes for it.
#[tokio::test]
async fn documented_version_3_bytes_load_and_are_what_a_save_writes() {
    let sample = sample_membership();
    assert_eq!((sample.id().term, sample.id().version), (Term(5), 7), "id");
    let ids = |it: &mut dyn Iterator<Item = NodeId>| it.map(|id| id.0).collect::<Vec<_>>();
    assert_eq!(ids(&mut sample.voters()), [1, 2, 300]);
    assert_eq!(ids(&mut sample.learners()), [4]);
    assert_eq!(ids(&mut sample.joining()), [4]);
    assert_eq!(sample.address(NodeId(1)), Some("127.0.0.1:7001"));
    assert_eq!(sample.address(NodeId(4)), Some("[::1]:7004"));
    assert_eq!(sample.address(NodeId(2)), None);
    let meta = |id| {
        sample
            .metadata(NodeId(id))
            .map(|meta| meta.iter().collect::<Vec<_>>())
    };
    assert_eq!(meta(1), Some(vec![("http", "http://10.0.0.1:8080")]));
    assert_eq!(
        meta(4),
        Some(vec![("http", "http://[::1]:8084"), ("zone", "b")])
    );
    assert_eq!(meta(2), None);

    let file = documented_file(3, SAMPLE_MEMBERSHIP_BYTES);
    let dir = tempfile::tempdir().unwrap();
    let mut storage = FileStorage::open(dir.path()).unwrap();
    std::fs::write(storage.path(), &file).unwrap();
    assert_eq!(
        storage.load_membership().await.unwrap(),
        Some(sample.clone())
    );
    assert_eq!(storage.load().await.unwrap(), Some(hs(9, Some(2))));

    let other = tempfile::tempdir().unwrap();
    let mut fresh = FileStorage::open(other.path()).unwrap();
    fresh.save_membership(&sample).await.unwrap();
    fresh.save(&hs(9, Some(2))).await.unwrap();
    assert_eq!(std::fs::read(fresh.path()).unwrap(), file);
}

/// A version-2 file of the sample loads without metadata, and the next save
/// writes version 3.
#[tokio::test]
async fn documented_version_2_bytes_load_without_metadata_and_are_upgraded() {
    let file = documented_file(2, SAMPLE_V2_MEMBERSHIP_BYTES);
    assert_eq!(
        file,
        encode_v2(&hs(9, Some(2)), Some(&sample_membership_v2()))
    );
    let dir = tempfile::tempdir().unwrap();
    let mut storage = FileStorage::open(dir.path()).unwrap();
    std::fs::write(storage.path(), &file).unwrap();
    let loaded = storage.load_membership().await.unwrap().unwrap();
    assert_eq!(loaded, sample_membership_v2());
    assert!(loaded.all_metadata().is_empty());
    assert_eq!(storage.load().await.unwrap(), Some(hs(9, Some(2))));

    storage.save(&hs(10, None)).await.unwrap();
    assert_eq!(
        std::fs::read(storage.path()).unwrap(),
        encode_v3(&hs(10, None), Some(&sample_membership_v2()))
    );
}

#[tokio::test]
async fn saving_one_half_keeps_the_other() {
    let dir = tempfile::tempdir().unwrap();
    let (m1, m2, m3) = (
        membership(&[1, 2, 3], &[]),
        membership(&[1, 2, 3], &[4]),
        sample_membership(),
    );
    {
        let mut storage = FileStorage::open(dir.path()).unwrap();
        // The membership first: the hard state is the fresh one.
        storage.save_membership(&m1).await.unwrap();
        assert_eq!(storage.load().await.unwrap(), Some(hs(0, None)));
        storage.save(&hs(2, Some(1))).await.unwrap();
        assert_eq!(storage.load_membership().await.unwrap(), Some(m1.clone()));
        storage.save_membership(&m2).await.unwrap();
        assert_eq!(storage.load().await.unwrap(), Some(hs(2, Some(1))));
        storage.save(&hs(3, None)).await.unwrap();
        storage.save(&hs(3, Some(3))).await.unwrap();
        assert_eq!(storage.load_membership().await.unwrap(), Some(m2.clone()));
    }
    {
        // Reopened and saved without a load first: the save reads the file
        // for the half it does not replace.
        let mut storage = FileStorage::open(dir.path()).unwrap();
        storage.save(&hs(4, Some(2))).await.unwrap();
    }
    {
        let mut storage = FileStorage::open(dir.path()).unwrap();
        assert_eq!(storage.load_membership().await.unwrap(), Some(m2.clone()));
        drop(storage);
        let mut storage = FileStorage::open(dir.path()).unwrap();
        storage.save_membership(&m3).await.unwrap();
    }
    let mut storage = FileStorage::open(dir.path()).unwrap();
    assert_eq!(storage.load().await.unwrap(), Some(hs(4, Some(2))));
    assert_eq!(storage.load_membership().await.unwrap(), Some(m3.clone()));
    assert_eq!(
        std::fs::read(storage.path()).unwrap(),
        encode_v3(&hs(4, Some(2)), Some(&m3))
    );
}

#[tokio::test]
async fn loads_come_in_any_order_any_number_of_times() {
    let dir = tempfile::tempdir().unwrap();
    let mut storage = FileStorage::open(dir.path()).unwrap();
    for _ in 0..2 {
        assert_eq!(storage.load_membership().await.unwrap(), None);
        assert_eq!(storage.load().await.unwrap(), None);
    }
    storage.save(&hs(5, Some(1))).await.unwrap();
    for _ in 0..2 {
        assert_eq!(storage.load_membership().await.unwrap(), None);
        assert_eq!(storage.load().await.unwrap(), Some(hs(5, Some(1))));
    }
    let members = membership(&[1, 2], &[]);
    storage.save_membership(&members).await.unwrap();
    drop(storage);
    let mut storage = FileStorage::open(dir.path()).unwrap();
    for _ in 0..2 {
        assert_eq!(storage.load().await.unwrap(), Some(hs(5, Some(1))));
        assert_eq!(
            storage.load_membership().await.unwrap().as_ref(),
            Some(&members)
        );
    }
}

#[tokio::test]
async fn version_1_file_loads_and_the_next_save_upgrades_it() {
    let members = membership(&[1, 2, 3], &[]);
    for state in sample_states() {
        // Membership first, on a storage that has read nothing yet.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hardstate");
        std::fs::write(&path, encode_v1(&state)).unwrap();
        let mut storage = FileStorage::open(dir.path()).unwrap();
        assert_eq!(storage.load_membership().await.unwrap(), None);
        assert_eq!(storage.load().await.unwrap(), Some(state));
        assert_eq!(storage.load_membership().await.unwrap(), None);
        storage.save_membership(&members).await.unwrap();
        assert_eq!(
            std::fs::read(&path).unwrap(),
            encode_v3(&state, Some(&members)),
            "{state:?}"
        );

        // A hard state save upgrades too, and keeps "no membership".
        std::fs::write(&path, encode_v1(&state)).unwrap();
        drop(storage);
        let mut storage = FileStorage::open(dir.path()).unwrap();
        let newer = hs(state.term.0.saturating_add(1), None);
        storage.save(&newer).await.unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), encode_v3(&newer, None));
        assert_eq!(storage.load_membership().await.unwrap(), None);
    }
}

#[tokio::test]
async fn bad_membership_fields_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let mut storage = FileStorage::open(dir.path()).unwrap();
    let path = storage.path().to_path_buf();
    let state = hs(4, Some(1));
    let sample = SAMPLE_MEMBERSHIP_BYTES;
    let with_len = |len: u32, membership: &[u8]| envelope(3, &payload_v2(&state, len, membership));
    let len = |bytes: &[u8]| bytes.len() as u32;

    // Voters 2, 1: decodes (to 1, 2) but is not how this build writes it.
    let unsorted = [0x01, 0x00, 0x00, 0x02, 0x02, 0x01, 0x00, 0x00, 0x00, 0x00];
    // Version 7 as a two-byte varint.
    let overlong = [0x01, 0x00, 0x87, 0x00, 0x01, 0x01, 0x00, 0x00, 0x00, 0x00];
    let bad_utf8 = [
        0x01, 0x00, 0x00, 0x01, 0x01, 0x00, 0x00, 0x01, 0x01, 0x02, 0xff, 0xfe, 0x00,
    ];
    // One voter, then metadata for node 1: key "Bad" (upper case), value "v".
    let bad_key = [
        0x01, 0x00, 0x00, 0x01, 0x01, 0x00, 0x00, 0x00, 0x01, 0x01, 0x01, 0x03, b'B', b'a', b'd',
        0x01, b'v',
    ];
    // One voter, then metadata for node 1 with no entry: decodes, but this
    // build never writes an empty entry.
    let empty_entry = [
        0x01, 0x00, 0x00, 0x01, 0x01, 0x00, 0x00, 0x00, 0x01, 0x01, 0x00,
    ];
    // The version-2 sample under version 3: the metadata count is missing.
    let v2_sample = SAMPLE_V2_MEMBERSHIP_BYTES;
    // Claims a billion voters in a few bytes.
    let huge_count = [0x01, 0x00, 0x00, 0x80, 0x94, 0xeb, 0xdc, 0x03, 0x01];
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "length over the maximum",
            with_len((1 << 20) + 1, sample),
            "more than the maximum 1048576",
        ),
        (
            "length u32::MAX",
            with_len(u32::MAX, sample),
            "more than the maximum",
        ),
        (
            "length beyond the payload",
            with_len(len(sample) + 1, sample),
            "but the payload holds",
        ),
        (
            "length short of the payload",
            with_len(len(sample) - 1, sample),
            "but the payload holds",
        ),
        (
            "no length field",
            envelope(2, &hard_state_bytes(&state)),
            "fixed fields",
        ),
        ("empty membership", with_len(0, &[]), "does not decode"),
        ("bad option tag", with_len(1, &[0x02]), "does not decode"),
        (
            "cut inside",
            with_len(len(sample) - 3, &sample[..sample.len() - 3]),
            "does not decode",
        ),
        (
            "bad UTF-8",
            with_len(len(&bad_utf8), &bad_utf8),
            "does not decode",
        ),
        (
            "count beyond the bytes",
            with_len(len(&huge_count), &huge_count),
            "does not decode",
        ),
        (
            "bytes after it",
            with_len(3, &[0x00, 0x00, 0x00]),
            "2 unused bytes",
        ),
        (
            "invalid metadata",
            with_len(len(&bad_key), &bad_key),
            "invalid metadata: metadata key \"Bad\" must start with a lower-case letter or a digit",
        ),
        (
            "empty metadata entry",
            with_len(len(&empty_entry), &empty_entry),
            "canonical",
        ),
        (
            "a version-2 membership in a version-3 file",
            with_len(len(v2_sample), v2_sample),
            "does not decode",
        ),
        (
            "a version-3 membership in a version-2 file",
            envelope(2, &payload_v2(&state, len(sample), sample)),
            "unused bytes",
        ),
        ("unsorted", with_len(len(&unsorted), &unsorted), "canonical"),
        (
            "overlong varint",
            with_len(len(&overlong), &overlong),
            "canonical",
        ),
        (
            "bad vote in a v2 file",
            envelope(2, &[payload_v1(4, 2, 1), vec![1, 0, 0, 0, 0]].concat()),
            "presence byte",
        ),
        (
            "header length u32::MAX",
            {
                let mut bytes = encode_v3(&state, None);
                bytes[6..10].copy_from_slice(&u32::MAX.to_le_bytes());
                bytes
            },
            "truncated",
        ),
    ];
    for (name, bytes, expected) in cases {
        std::fs::write(&path, &bytes).unwrap();
        assert_corrupt_because(storage.load_membership().await, &path, name, expected);
        assert_corrupt_because(storage.load().await, &path, name, expected);
    }
    // The unsorted bytes are a membership; only their form is wrong.
    let decoded: Option<Membership> = postcard::from_bytes(&unsorted).unwrap();
    assert_eq!(decoded, Some(Membership::new([NodeId(1), NodeId(2)])));
}

/// A save on a storage that has not read the file yet reads it for the other
/// half; if the file is damaged, the save fails and leaves it as it was, so
/// the damage is still there to be seen.
#[tokio::test]
async fn damaged_file_makes_a_first_save_fail_without_touching_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hardstate");
    let mut damaged = encode_v3(&hs(6, Some(2)), Some(&sample_membership()));
    damaged[40] ^= 0x10;
    std::fs::write(&path, &damaged).unwrap();
    let mut storage = FileStorage::open(dir.path()).unwrap();
    assert_corrupt(storage.save(&hs(7, Some(1))).await, &path, "save");
    assert_corrupt(
        storage.save_membership(&membership(&[1], &[])).await,
        &path,
        "save_membership",
    );
    assert_eq!(std::fs::read(&path).unwrap(), damaged);
    assert_both_corrupt(&mut storage, "after the saves").await;
}

#[tokio::test]
async fn membership_too_big_for_the_format_is_refused_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut storage = FileStorage::open(dir.path()).unwrap();
    storage.save(&hs(2, Some(1))).await.unwrap();
    let small = membership(&[1], &[]);
    storage.save_membership(&small).await.unwrap();
    let before = std::fs::read(storage.path()).unwrap();

    // Some, id, one voter, no learners or joining, one address, no
    // metadata: 10 bytes, plus 3 for the address length varint, plus the
    // address.
    let with_address_of =
        |len: usize| Membership::new([NodeId(1)]).with_addresses([(NodeId(1), "a".repeat(len))]);
    let largest = with_address_of((1 << 20) - 13);
    assert_eq!(membership_bytes(Some(&largest)).len(), 1 << 20);
    let too_big = with_address_of((1 << 20) - 12);

    let error = storage.save_membership(&too_big).await.unwrap_err();
    match &error {
        StorageError::Io { source, .. } => {
            assert_eq!(source.kind(), std::io::ErrorKind::InvalidInput, "{error}");
        }
        other => panic!("expected an Io error, got {other:?}"),
    }
    assert_names_path(&error, storage.path());
    assert!(error.to_string().contains("1048577 bytes"), "{error}");
    assert_eq!(std::fs::read(storage.path()).unwrap(), before);
    // Nothing of it lingers for the next save to write.
    storage.save(&hs(3, Some(1))).await.unwrap();
    assert_eq!(storage.load_membership().await.unwrap(), Some(small));

    // The largest membership the format holds goes in and comes back.
    storage.save_membership(&largest).await.unwrap();
    drop(storage);
    let mut reopened = FileStorage::open(dir.path()).unwrap();
    assert_eq!(reopened.load_membership().await.unwrap(), Some(largest));
    assert_eq!(reopened.load().await.unwrap(), Some(hs(3, Some(1))));
}

/// Like `abandoned_save_never_overwrites_a_newer_one`, across the two
/// halves: an abandoned save of one half never undoes a later save of the
/// other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abandoned_save_never_loses_the_other_half() {
    let dir = tempfile::tempdir().unwrap();
    let mut storage = FileStorage::open(dir.path()).unwrap();
    storage.save(&hs(1, None)).await.unwrap();
    for round in 0..20u64 {
        let before = storage.load().await.unwrap().unwrap();
        let stale = hs(before.term.0 + 1, Some(1));
        let members = membership(&[1, 2, round + 3], &[]);
        let _ = tokio::time::timeout(Duration::ZERO, storage.save(&stale)).await;
        storage.save_membership(&members).await.unwrap();
        assert_eq!(
            storage.load_membership().await.unwrap().as_ref(),
            Some(&members),
            "round {round}"
        );
        let state = storage.load().await.unwrap().unwrap();
        assert!(
            state == before || state == stale,
            "round {round}: {state:?}"
        );

        let newer = hs(before.term.0 + 2, Some(2));
        let _ = tokio::time::timeout(
            Duration::ZERO,
            storage.save_membership(&membership(&[9], &[])),
        )
        .await;
        storage.save(&newer).await.unwrap();
        assert_eq!(storage.load().await.unwrap(), Some(newer), "round {round}");
        let kept = storage.load_membership().await.unwrap().unwrap();
        assert!(
            kept == members || kept == membership(&[9], &[]),
            "round {round}: {kept:?}"
        );
        storage.save_membership(&members).await.unwrap();
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
        encode_v3(&hs(3, Some(1)), None)
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

#[tokio::test]
async fn mem_storage_membership_round_trip_keeps_the_hard_state() {
    let mut storage = MemStorage::new();
    assert_eq!(storage.load_membership().await.unwrap(), None);
    let observer = storage.clone();
    storage.save(&hs(3, Some(1))).await.unwrap();
    for members in [membership(&[1, 2, 3], &[4]), sample_membership()] {
        storage.save_membership(&members).await.unwrap();
        assert_eq!(
            storage.load_membership().await.unwrap().as_ref(),
            Some(&members)
        );
        assert_eq!(observer.membership().as_ref(), Some(&members));
        assert_eq!(storage.load().await.unwrap(), Some(hs(3, Some(1))));
    }
    storage.save(&hs(4, None)).await.unwrap();
    assert_eq!(observer.membership(), Some(sample_membership()));

    storage.set_fail_saves(true);
    let error = storage
        .save_membership(&membership(&[9], &[]))
        .await
        .unwrap_err();
    assert!(matches!(error, StorageError::Failed(_)), "{error:?}");
    assert_eq!(
        storage.load_membership().await.unwrap(),
        Some(sample_membership())
    );
}

// ----- property: arbitrary file contents -----------------------------------------

/// File contents to try: pure noise, noise behind the magic, and valid
/// encodings with a few bytes changed, cut short or extended.
fn file_contents() -> impl Strategy<Value = Vec<u8>> {
    let memberships = proptest::option::of((
        proptest::collection::vec(any::<u64>(), 1..4),
        proptest::collection::vec(any::<u64>(), 0..3),
    ));
    let valid = (
        any::<u64>(),
        any::<Option<u64>>(),
        any::<bool>(),
        memberships,
    )
        .prop_map(|(term, vote, version_1, members)| {
            let state = hs(term, vote);
            if version_1 {
                return encode_v1(&state);
            }
            let members = members.map(|(voters, learners)| membership(&voters, &learners));
            encode_v3(&state, members.as_ref())
        });
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
            Ok(Some(state)) => {
                let mut storage = FileStorage::open(dir.path()).unwrap();
                let members = runtime.block_on(storage.load_membership()).unwrap();
                let reencoded = match bytes[4] {
                    1 => encode_v1(&state),
                    2 => encode_v2(&state, members.as_ref()),
                    _ => encode_v3(&state, members.as_ref()),
                };
                prop_assert_eq!(reencoded, bytes);
            }
            Ok(None) => prop_assert!(false, "an existing file read as a fresh node"),
            Err(StorageError::Corrupt { .. } | StorageError::UnsupportedVersion { .. }) => {}
            Err(other) => prop_assert!(false, "unexpected error kind {:?}", other),
        }
    });
}
