//! Migrating a directory of versions 1 to 4 to the slots: a crash at any
//! point of the first save leaves a directory that loads the newest state
//! the node may have acted on (the old file's, until `state.0` exists; after
//! that, never below it), and the finished migration reads the slots only.

use std::fs;

use super::*;

/// Old files of every version, all term 9 voted for 2.
fn old_files() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("v1", encode_v1(&hs(9, Some(2)))),
        ("v2", documented_file(2, SAMPLE_V2_MEMBERSHIP_BYTES)),
        ("v3", documented_file(3, SAMPLE_MEMBERSHIP_BYTES)),
        (
            "v4",
            encode_v4(&hs(9, Some(2)), Some(&sample_membership()), None),
        ),
    ]
}

/// The first save (term 12, no vote) steps in order: `state.1` (generation
/// 0) written and synced, `state.0` (generation 1) written and synced, the
/// marker over `hardstate`. Every prefix of every step is a crash to
/// survive.
#[tokio::test]
async fn a_crash_at_any_point_of_a_migration_loads_a_state_acted_on() {
    let root = tempfile::tempdir().unwrap();
    let new = hs(12, None);
    let ceiling = 12 + CEILING_STEP;
    for (name, old) in old_files() {
        let members = load_from(&root.path().join(format!("{name}-read")), &old)
            .await
            .1;
        let slot = |generation| encode_v5(generation, ceiling, &new, members.as_ref(), None);
        let (first, second) = (slot(0), slot(1));

        // Step 1 cut short (or done): `state.1` alone is never read.
        for written in [0, 1, 10, first.len() - 1, first.len()] {
            let dir = root.path().join(format!("{name}-step1-{written}"));
            fs::create_dir(&dir).unwrap();
            fs::write(dir.join("hardstate"), &old).unwrap();
            fs::write(slot_path(&dir, 1), &first[..written]).unwrap();
            let loaded = load_all(&dir).await;
            assert_eq!(loaded.0, Some(hs(9, Some(2))), "{name}, {written}");
            assert_eq!(loaded.1, members, "{name}, {written}");
        }
        // Step 2 cut short: `state.0` exists, so the slots are read; the
        // torn one is recovered from `state.1`, above the old term.
        for written in [0, 1, 10, second.len() - 1] {
            let dir = root.path().join(format!("{name}-step2-{written}"));
            fs::create_dir(&dir).unwrap();
            fs::write(dir.join("hardstate"), &old).unwrap();
            fs::write(slot_path(&dir, 1), &first).unwrap();
            fs::write(slot_path(&dir, 0), &second[..written]).unwrap();
            let loaded = load_all(&dir).await;
            assert_eq!(loaded.0, Some(hs(ceiling + 1, None)), "{name}, {written}");
            assert_eq!(loaded.1, members, "{name}, {written}");
        }
        // Step 3 not done: the old `hardstate` is still there, and ignored.
        let dir = root.path().join(format!("{name}-step3"));
        fs::create_dir(&dir).unwrap();
        fs::write(dir.join("hardstate"), &old).unwrap();
        fs::write(slot_path(&dir, 1), &first).unwrap();
        fs::write(slot_path(&dir, 0), &second).unwrap();
        assert_eq!(load_all(&dir).await.0, Some(new), "{name}");
        assert_eq!(fs::read(dir.join("hardstate")).unwrap(), old, "{name}");

        // And the real thing writes exactly those files.
        let dir = root.path().join(format!("{name}-done"));
        fs::create_dir(&dir).unwrap();
        fs::write(dir.join("hardstate"), &old).unwrap();
        FileStorage::open(&dir).unwrap().save(&new).await.unwrap();
        assert_eq!(slot_bytes(&dir, 1), first, "{name}");
        assert_eq!(slot_bytes(&dir, 0), second, "{name}");
        assert_eq!(fs::read(dir.join("hardstate")).unwrap(), marker(), "{name}");
    }
}

/// A build that only reads versions 1 to 4, pointed at a migrated
/// directory, reads the marker as a newer version and refuses to start,
/// instead of taking the directory for a fresh node's: shown here with the
/// envelope rules those builds apply (version 5 is not one they know).
#[tokio::test]
async fn the_marker_stops_older_builds() {
    let dir = tempfile::tempdir().unwrap();
    FileStorage::open(dir.path())
        .unwrap()
        .save(&hs(3, Some(1)))
        .await
        .unwrap();
    let bytes = fs::read(dir.path().join("hardstate")).unwrap();
    assert_eq!(&bytes[..4], b"DDGS");
    assert_eq!(u16::from_le_bytes([bytes[4], bytes[5]]), 5);
    let payload_len = u32::from_le_bytes(bytes[6..10].try_into().unwrap()) as usize;
    assert_eq!(bytes.len(), 10 + payload_len + 4);
    let checksum = u32::from_le_bytes(bytes[bytes.len() - 4..].try_into().unwrap());
    assert_eq!(checksum, crc32fast::hash(&bytes[..bytes.len() - 4]));
}

async fn load_from(dir: &Path, file: &[u8]) -> (Option<HardState>, Option<Membership>) {
    fs::create_dir(dir).unwrap();
    fs::write(dir.join("hardstate"), file).unwrap();
    load_all(dir).await
}

async fn load_all(dir: &Path) -> (Option<HardState>, Option<Membership>) {
    let mut storage = FileStorage::open(dir).unwrap();
    (
        storage.load().await.unwrap(),
        storage.load_membership().await.unwrap(),
    )
}
