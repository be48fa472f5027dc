//! Whose directory: `open_as` records the node's identity in a new
//! directory or an older file, opens its own directory, and refuses one
//! that belongs to another node or cluster without changing a byte.

use std::fs;

use duckduckgoose::storage::NodeIdentity;

use super::*;

/// The files in `dir` and their bytes, to show that a refused open changed
/// nothing (no temporary file left either).
fn snapshot(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|entry| {
            let entry = entry.unwrap();
            let name = entry.file_name().into_string().unwrap();
            (name, fs::read(entry.path()).unwrap())
        })
        .collect();
    files.sort();
    files
}

/// Asserts `result` is the refusal of `dir` (whose newest slot, or legacy
/// `hardstate` if it has no slots, records `found`) to `expected`, with the
/// exact message naming that file.
fn assert_mismatch<T: std::fmt::Debug>(
    result: Result<T, StorageError>,
    dir: &Path,
    expected: &NodeIdentity,
    found: &NodeIdentity,
    message: &str,
) {
    let state_file = if slot_path(dir, 0).exists() {
        slot_path(dir, newest_slot(dir).0)
    } else {
        dir.join("hardstate")
    };
    match result {
        Err(
            ref error @ StorageError::IdentityMismatch {
                ref path,
                expected: ref wanted,
                found: ref recorded,
            },
        ) => {
            assert_eq!(path, &state_file);
            assert_eq!((wanted, recorded), (expected, found));
            assert_eq!(
                error.to_string(),
                format!("{}: {message}", state_file.display())
            );
        }
        other => panic!("expected IdentityMismatch, got {other:?}"),
    }
}

#[tokio::test]
async fn a_fresh_directory_adopts_the_identity() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("node-1");
    let me = identity("a", 1);
    let mut storage = FileStorage::open_as(&dir, me.clone()).unwrap();
    // Recorded before `open_as` returns, with the state of a fresh node,
    // in both slots.
    for (index, generation) in [(0, 1), (1, 0)] {
        assert_eq!(
            slot_bytes(&dir, index),
            encode_v5(generation, CEILING_STEP, &hs(0, None), None, Some(&me))
        );
    }
    assert_eq!(fs::read(dir.join("hardstate")).unwrap(), marker());
    assert_eq!(storage.load_identity().await.unwrap(), Some(me.clone()));
    assert_eq!(storage.load().await.unwrap(), Some(hs(0, None)));
    assert_eq!(storage.load_membership().await.unwrap(), None);
    storage.save(&hs(3, Some(1))).await.unwrap();
    assert_eq!(
        slot_bytes(&dir, 1),
        encode_v5(2, CEILING_STEP, &hs(3, Some(1)), None, Some(&me))
    );
}

#[tokio::test]
async fn reopening_as_the_same_identity_opens_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let me = identity("a", 1);
    let members = membership(&[1, 2, 3], &[]);
    {
        let mut storage = FileStorage::open_as(dir.path(), me.clone()).unwrap();
        storage.save(&hs(4, Some(2))).await.unwrap();
        storage.save_membership(&members).await.unwrap();
    }
    let before = snapshot(dir.path());
    let mut storage = FileStorage::open_as(dir.path(), me.clone()).unwrap();
    assert_eq!(snapshot(dir.path()), before);
    assert_eq!(storage.load().await.unwrap(), Some(hs(4, Some(2))));
    assert_eq!(storage.load_membership().await.unwrap(), Some(members));
    assert_eq!(storage.load_identity().await.unwrap(), Some(me));
}

#[tokio::test]
async fn another_node_id_is_refused_naming_both() {
    let dir = tempfile::tempdir().unwrap();
    let (node_1, node_3) = (identity("a", 1), identity("a", 3));
    let mut storage = FileStorage::open_as(dir.path(), node_1.clone()).unwrap();
    storage.save(&hs(5, Some(1))).await.unwrap();
    drop(storage);
    let before = snapshot(dir.path());
    assert_mismatch(
        FileStorage::open_as(dir.path(), node_3.clone()),
        dir.path(),
        &node_3,
        &node_1,
        "the data directory belongs to node 1 of cluster \"a\", not node 3 of cluster \"a\"",
    );
    assert_eq!(snapshot(dir.path()), before);
    // The refusal released the lock: the owner opens it as before.
    let mut owner = FileStorage::open_as(dir.path(), node_1).unwrap();
    assert_eq!(owner.load().await.unwrap(), Some(hs(5, Some(1))));
}

#[tokio::test]
async fn another_cluster_id_is_refused_naming_both() {
    let dir = tempfile::tempdir().unwrap();
    let (ours, theirs) = (identity("prod", 2), identity("staging", 2));
    drop(FileStorage::open_as(dir.path(), ours.clone()).unwrap());
    let before = snapshot(dir.path());
    assert_mismatch(
        FileStorage::open_as(dir.path(), theirs.clone()),
        dir.path(),
        &theirs,
        &ours,
        "the data directory belongs to node 2 of cluster \"prod\", not node 2 of cluster \"staging\"",
    );
    // Compared byte for byte: a prefix, or another case, is another cluster.
    for other in ["pro", "prod ", "Prod"] {
        let other = identity(other, 2);
        let error = FileStorage::open_as(dir.path(), other).unwrap_err();
        assert!(
            matches!(error, StorageError::IdentityMismatch { .. }),
            "{error:?}"
        );
    }
    assert_eq!(snapshot(dir.path()), before);
}

/// The case: node 3 started on a copy of node 1's directory would
/// have started with node 1's term and vote.
#[tokio::test]
async fn a_copy_of_node_1s_directory_opened_as_node_3_is_refused_and_left_unchanged() {
    let root = tempfile::tempdir().unwrap();
    let (node_1, node_3) = (identity("a", 1), identity("a", 3));
    let original = root.path().join("node-1");
    {
        let mut storage = FileStorage::open_as(&original, node_1.clone()).unwrap();
        storage
            .save_membership(&membership(&[1, 2, 3], &[]))
            .await
            .unwrap();
        storage.save(&hs(7, Some(1))).await.unwrap();
    }
    let copy = root.path().join("node-3");
    fs::create_dir(&copy).unwrap();
    for name in ["hardstate", "state.0", "state.1", "lock"] {
        fs::copy(original.join(name), copy.join(name)).unwrap();
    }
    let before = snapshot(&copy);
    assert_mismatch(
        FileStorage::open_as(&copy, node_3),
        &copy,
        &identity("a", 3),
        &node_1,
        "the data directory belongs to node 1 of cluster \"a\", not node 3 of cluster \"a\"",
    );
    assert_eq!(snapshot(&copy), before, "byte-identical");
    assert_eq!(
        newest_slot(&copy).1,
        encode_v5(
            4,
            CEILING_STEP,
            &hs(7, Some(1)),
            Some(&membership(&[1, 2, 3], &[])),
            Some(&node_1)
        )
    );
}

/// Files of versions 1 to 3 (and version-4 files written without an
/// identity) are migrated to the slots by `open_as`, keeping term, vote and
/// membership.
#[tokio::test]
async fn older_files_load_intact_and_are_migrated_by_open_as() {
    let me = identity("a", 2);
    let sample = sample_membership();
    let cases = [
        ("v1", encode_v1(&hs(9, Some(2))), None),
        (
            "v2",
            documented_file(2, SAMPLE_V2_MEMBERSHIP_BYTES),
            Some(sample_membership_v2()),
        ),
        (
            "v3",
            documented_file(3, SAMPLE_MEMBERSHIP_BYTES),
            Some(sample.clone()),
        ),
        (
            "v4 without identity",
            encode_v4(&hs(9, Some(2)), Some(&sample), None),
            Some(sample.clone()),
        ),
    ];
    for (name, file, members) in cases {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hardstate");
        fs::write(&path, &file).unwrap();
        let mut storage = FileStorage::open_as(dir.path(), me.clone()).unwrap();
        // Written by `open_as` itself, before any load or save.
        for (index, generation) in [(0, 1), (1, 0)] {
            let slot = |generation| {
                encode_v5(
                    generation,
                    9 + CEILING_STEP,
                    &hs(9, Some(2)),
                    members.as_ref(),
                    Some(&me),
                )
            };
            assert_eq!(slot_bytes(dir.path(), index), slot(generation), "{name}");
        }
        assert_eq!(fs::read(&path).unwrap(), marker(), "{name}");
        assert!(!dir.path().join("hardstate.tmp").exists(), "{name}");
        assert_eq!(
            storage.load().await.unwrap(),
            Some(hs(9, Some(2))),
            "{name}"
        );
        assert_eq!(storage.load_membership().await.unwrap(), members, "{name}");
        drop(storage);

        let mut reopened = FileStorage::open(dir.path()).unwrap();
        assert_eq!(
            reopened.load_identity().await.unwrap(),
            Some(me.clone()),
            "{name}"
        );
        drop(reopened);
        // Once recorded, the identity is enforced like any other.
        let error = FileStorage::open_as(dir.path(), identity("a", 3)).unwrap_err();
        assert!(
            matches!(error, StorageError::IdentityMismatch { .. }),
            "{name}: {error:?}"
        );
    }
}

#[tokio::test]
async fn plain_open_checks_nothing_and_keeps_the_recorded_identity() {
    let dir = tempfile::tempdir().unwrap();
    let node_1 = identity("a", 1);
    drop(FileStorage::open_as(dir.path(), node_1.clone()).unwrap());
    {
        // A tool: sees the identity, and its saves keep it.
        let mut tool = FileStorage::open(dir.path()).unwrap();
        assert_eq!(tool.load_identity().await.unwrap(), Some(node_1.clone()));
        tool.save(&hs(2, None)).await.unwrap();
    }
    assert_eq!(
        newest_slot(dir.path()).1,
        encode_v5(2, CEILING_STEP, &hs(2, None), None, Some(&node_1))
    );

    // A directory only ever opened plainly records no identity, and the
    // first `open_as` adopts its own.
    let other = tempfile::tempdir().unwrap();
    let mut plain = FileStorage::open(other.path()).unwrap();
    assert_eq!(plain.load_identity().await.unwrap(), None);
    plain.save(&hs(6, Some(3))).await.unwrap();
    assert_eq!(plain.load_identity().await.unwrap(), None);
    drop(plain);
    let node_3 = identity("a", 3);
    let mut storage = FileStorage::open_as(other.path(), node_3.clone()).unwrap();
    assert_eq!(storage.load().await.unwrap(), Some(hs(6, Some(3))));
    assert_eq!(storage.load_identity().await.unwrap(), Some(node_3));
}

/// The lock keeps other `FileStorage`s out, not a person restoring another
/// node's files by hand: every read checks the identity of the newest slot
/// again, and writes nothing (no repair) into a directory it refuses.
#[tokio::test]
async fn a_slot_of_another_node_put_in_place_later_is_refused_on_load() {
    let dir = tempfile::tempdir().unwrap();
    let (node_1, node_3) = (identity("a", 1), identity("a", 3));
    let mut storage = FileStorage::open_as(dir.path(), node_3.clone()).unwrap();
    // Newer than both of node 3's slots; the other one is damaged, which a
    // read would otherwise repair.
    let foreign = encode_v5(7, 2000, &hs(8, Some(1)), None, Some(&node_1));
    fs::write(slot_path(dir.path(), 1), &foreign).unwrap();
    fs::write(slot_path(dir.path(), 0), b"DDGS torn").unwrap();
    let before = snapshot(dir.path());
    let expected_path = slot_path(dir.path(), 1);
    match storage.load().await {
        Err(StorageError::IdentityMismatch { path, .. }) => assert_eq!(path, expected_path),
        other => panic!("expected IdentityMismatch, got {other:?}"),
    }
    assert_eq!(snapshot(dir.path()), before);
    // Both slots valid, the newer one foreign.
    fs::write(
        slot_path(dir.path(), 0),
        encode_v5(6, 2000, &hs(8, Some(3)), None, Some(&node_3)),
    )
    .unwrap();
    let message =
        "the data directory belongs to node 1 of cluster \"a\", not node 3 of cluster \"a\"";
    assert_mismatch(storage.load().await, dir.path(), &node_3, &node_1, message);
    assert_mismatch(
        storage.load_membership().await,
        dir.path(),
        &node_3,
        &node_1,
        message,
    );
    assert_mismatch(
        storage.load_identity().await,
        dir.path(),
        &node_3,
        &node_1,
        message,
    );
}

/// `open_as` reads the file, so it reports damage as any load does, and
/// writes nothing over it: not even to adopt an identity.
#[tokio::test]
async fn a_damaged_file_is_refused_by_open_as_and_left_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hardstate");
    let me = identity("a", 1);
    for (name, valid) in valid_files() {
        let flips = (0..valid.len()).flat_map(|position| {
            (0..8).map(move |bit| (format!("byte {position} bit {bit}"), position, bit))
        });
        for (what, position, bit) in flips {
            let mut damaged = valid.clone();
            damaged[position] ^= 1 << bit;
            fs::write(&path, &damaged).unwrap();
            let what = format!("{name}, {what}");
            assert_corrupt(FileStorage::open_as(dir.path(), me.clone()), &path, &what);
            assert_eq!(fs::read(&path).unwrap(), damaged, "{what}");
        }
        for len in 0..valid.len() {
            fs::write(&path, &valid[..len]).unwrap();
            let what = format!("{name}, length {len}");
            assert_corrupt(FileStorage::open_as(dir.path(), me.clone()), &path, &what);
            assert_eq!(fs::read(&path).unwrap(), &valid[..len], "{what}");
        }
    }
}

#[tokio::test]
async fn a_cluster_id_that_is_not_utf8_is_a_corrupt_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hardstate");
    // Node 1 of cluster "a\xff": a valid checksum over an invalid field.
    let mut payload = hard_state_bytes(&hs(3, Some(1)));
    payload.extend_from_slice(&1u64.to_le_bytes());
    payload.extend_from_slice(&[2, b'a', 0xff]);
    payload.extend_from_slice(&1u32.to_le_bytes());
    payload.push(0);
    let file = envelope(4, &payload);
    fs::write(&path, &file).unwrap();
    assert_corrupt_because(
        FileStorage::open_as(dir.path(), identity("a", 1)),
        &path,
        "open_as",
        "cluster id is not UTF-8",
    );
    assert_eq!(fs::read(&path).unwrap(), file);
    let mut storage = FileStorage::open(dir.path()).unwrap();
    assert_corrupt_because(
        storage.load_identity().await,
        &path,
        "load_identity",
        "cluster id is not UTF-8",
    );
    assert_corrupt_because(
        storage.load().await,
        &path,
        "load",
        "cluster id is not UTF-8",
    );
}

#[tokio::test]
async fn a_torn_temporary_file_does_not_stop_an_adoption() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hardstate");
    fs::write(&path, encode_v3(&hs(5, Some(2)), None)).unwrap();
    // A crash mid-save left half of another node's file behind.
    let foreign = encode_v4(&hs(6, Some(3)), None, Some(&identity("a", 3)));
    fs::write(dir.path().join("hardstate.tmp"), &foreign[..20]).unwrap();
    let me = identity("a", 2);
    let mut storage = FileStorage::open_as(dir.path(), me.clone()).unwrap();
    assert!(!dir.path().join("hardstate.tmp").exists());
    assert_eq!(fs::read(&path).unwrap(), marker());
    assert_eq!(
        newest_slot(dir.path()).1,
        encode_v5(1, 5 + CEILING_STEP, &hs(5, Some(2)), None, Some(&me))
    );
    assert_eq!(storage.load().await.unwrap(), Some(hs(5, Some(2))));
}

#[tokio::test]
async fn an_unknown_version_is_refused_by_open_as_and_left_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hardstate");
    let file = envelope(6, &[0; 40]);
    fs::write(&path, &file).unwrap();
    let error = FileStorage::open_as(dir.path(), identity("a", 1)).unwrap_err();
    assert!(
        matches!(
            error,
            StorageError::UnsupportedVersion {
                found: 6,
                supported: 5,
                ..
            }
        ),
        "{error:?}"
    );
    assert_eq!(fs::read(&path).unwrap(), file);
}

#[test]
fn cluster_ids_have_the_tcp_transports_bounds() {
    use duckduckgoose::storage::NodeIdentityError;
    assert_eq!(
        NodeIdentity::new("", NodeId(1)),
        Err(NodeIdentityError::EmptyClusterId)
    );
    assert_eq!(
        NodeIdentity::new("x".repeat(256), NodeId(1)),
        Err(NodeIdentityError::ClusterIdTooLong { len: 256, max: 255 })
    );
    let longest = NodeIdentity::new("x".repeat(255), NodeId(1)).unwrap();
    assert_eq!(longest.cluster_id().len(), 255);
    #[cfg(feature = "tcp")]
    assert_eq!(duckduckgoose::transport::tcp::MAX_CLUSTER_ID_LEN, 255);
}
