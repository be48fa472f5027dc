//! The two slots under damage: a torn write or a flipped bit in either slot
//! never brings back an older term or vote (the node resumes one term above
//! the surviving slot's ceiling, with no vote, and repairs the slot at
//! once); a membership survives damage to either slot; both damaged is
//! `Corrupt` and writes nothing; the ceiling is raised by a save that passes
//! it.

use std::fs;

use duckduckgoose::storage::NodeIdentity;

use super::*;

/// A directory whose newest slot (`state.0`, generation 5) holds term 40
/// voted for 3 after a membership save, the older (`state.1`, generation 4)
/// term 40 with no vote; ceiling 1024. Returns the slots' bytes.
async fn two_saves(dir: &Path) -> [Vec<u8>; 2] {
    let me = identity("a", 1);
    let mut storage = FileStorage::open_as(dir, me).unwrap();
    storage.save_membership(&sample_membership()).await.unwrap();
    storage.save(&hs(40, None)).await.unwrap();
    storage.save(&hs(40, Some(3))).await.unwrap();
    drop(storage);
    let slots = [slot_bytes(dir, 0), slot_bytes(dir, 1)];
    assert_eq!(generation_of(&slots[0]), 5);
    assert_eq!(generation_of(&slots[1]), 4);
    slots
}

/// What `dir` loads as, with its membership and identity, through a fresh
/// `FileStorage`.
async fn load_all(
    dir: &Path,
) -> Result<(Option<HardState>, Option<Membership>, Option<NodeIdentity>), StorageError> {
    let mut storage = FileStorage::open(dir)?;
    Ok((
        storage.load().await?,
        storage.load_membership().await?,
        storage.load_identity().await?,
    ))
}

/// One term above the surviving slot's ceiling, no vote, the membership
/// and identity intact; loading again gives the same (the repair made it
/// durable as generation `generation`, and both slots are valid again).
async fn assert_recovered(dir: &Path, ceiling: u64, generation: u64, what: &str) {
    let expected = (
        Some(hs(ceiling + 1, None)),
        Some(sample_membership()),
        Some(identity("a", 1)),
    );
    assert_eq!(load_all(dir).await.unwrap(), expected, "{what}");
    assert_eq!(load_all(dir).await.unwrap(), expected, "{what}, again");
    let (_, newest) = newest_slot(dir);
    assert_eq!(
        newest,
        encode_v5(
            generation,
            ceiling + 1 + CEILING_STEP,
            &hs(ceiling + 1, None),
            Some(&sample_membership()),
            Some(&identity("a", 1))
        ),
        "{what}: the repaired slot"
    );
}

/// A crash in the middle of the next save (generation 6, into `state.1`):
/// any prefix of its bytes over the old ones. Unless nothing new landed, the
/// slot is invalid, and the node resumes above the ceiling: never with the
/// older vote of generation 5's term, never with the torn save's.
#[tokio::test]
async fn a_torn_write_of_the_slot_being_written_never_brings_back_a_vote() {
    let root = tempfile::tempdir().unwrap();
    let [newest, older] = two_saves(&root.path().join("model")).await;
    let next = encode_v5(
        6,
        1024,
        &hs(41, Some(2)),
        Some(&sample_membership()),
        Some(&identity("a", 1)),
    );
    for written in 1..next.len() {
        let dir = root.path().join(format!("torn-{written}"));
        fs::create_dir(&dir).unwrap();
        fs::write(slot_path(&dir, 0), &newest).unwrap();
        let mut torn = older.clone();
        torn[..written].copy_from_slice(&next[..written]);
        fs::write(slot_path(&dir, 1), &torn).unwrap();
        if next[..written] == older[..written] {
            // Nothing new landed: the older slot, whole; the newest wins.
            let loaded = load_all(&dir).await.unwrap().0;
            assert_eq!(loaded, Some(hs(40, Some(3))), "{written} bytes");
        } else {
            assert_recovered(&dir, 1024, 6, &format!("{written} bytes")).await;
        }
    }
}

/// Rot after the saves returned: a flipped bit anywhere in either slot.
/// The loader cannot tell which slot was the newer from a damaged one, so
/// both cases resume above the ceiling; neither loads generation 4's state
/// (term 40, no vote) or the flipped slot's.
#[tokio::test]
async fn a_flipped_bit_in_either_slot_resumes_above_the_ceiling() {
    let root = tempfile::tempdir().unwrap();
    let slots = two_saves(&root.path().join("model")).await;
    for damaged in [0, 1] {
        for position in 0..slots[damaged].len() {
            let bit = position % 8;
            let dir = root.path().join(format!("flip-{damaged}-{position}"));
            fs::create_dir(&dir).unwrap();
            let mut files = slots.clone();
            files[damaged][position] ^= 1 << bit;
            fs::write(slot_path(&dir, 0), &files[0]).unwrap();
            fs::write(slot_path(&dir, 1), &files[1]).unwrap();
            let what = format!("slot {damaged}, byte {position} bit {bit}");
            // One above the surviving slot's generation.
            let generation = if damaged == 0 { 5 } else { 6 };
            assert_recovered(&dir, 1024, generation, &what).await;
        }
    }
}

#[tokio::test]
async fn both_slots_damaged_is_corrupt_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let [mut newest, mut older] = two_saves(dir.path()).await;
    newest[30] ^= 1;
    older.truncate(20);
    fs::write(slot_path(dir.path(), 0), &newest).unwrap();
    fs::write(slot_path(dir.path(), 1), &older).unwrap();
    let mut storage = FileStorage::open(dir.path()).unwrap();
    for (name, result) in [
        ("load", storage.load().await.map(drop)),
        ("load_membership", storage.load_membership().await.map(drop)),
        ("save", storage.save(&hs(50, None)).await),
    ] {
        assert_corrupt_because(result, dir.path(), name, "both slots are damaged");
    }
    drop(storage);
    assert_corrupt(
        FileStorage::open_as(dir.path(), identity("a", 1)),
        dir.path(),
        "open_as",
    );
    assert_eq!(fs::read(slot_path(dir.path(), 0)).unwrap(), newest);
    assert_eq!(fs::read(slot_path(dir.path(), 1)).unwrap(), older);
}

/// A membership save writes both slots, so whichever is damaged later, the
/// membership is still there.
#[tokio::test]
async fn a_membership_survives_damage_to_either_slot() {
    let root = tempfile::tempdir().unwrap();
    let model = root.path().join("model");
    let slots = {
        let mut storage = FileStorage::open_as(&model, identity("a", 1)).unwrap();
        storage.save(&hs(7, Some(1))).await.unwrap();
        storage.save_membership(&sample_membership()).await.unwrap();
        [slot_bytes(&model, 0), slot_bytes(&model, 1)]
    };
    for damaged in [0, 1] {
        let dir = root.path().join(format!("damaged-{damaged}"));
        fs::create_dir(&dir).unwrap();
        let mut files = slots.clone();
        files[damaged][40] ^= 0x08;
        fs::write(slot_path(&dir, 0), &files[0]).unwrap();
        fs::write(slot_path(&dir, 1), &files[1]).unwrap();
        let (state, membership, _) = load_all(&dir).await.unwrap();
        assert_eq!(membership, Some(sample_membership()), "slot {damaged}");
        // The ceiling was set when `open_as` created the slots at term 0.
        assert_eq!(state, Some(hs(CEILING_STEP + 1, None)), "slot {damaged}");
    }
}

/// A membership save interrupted between its two writes leaves the slots
/// disagreeing; the next read finishes it, so that damage to the slot that
/// holds it cannot take it back once the node has acted on it.
#[tokio::test]
async fn an_interrupted_membership_save_is_finished_by_the_next_read() {
    let dir = tempfile::tempdir().unwrap();
    let me = identity("a", 1);
    let old = membership(&[1, 2, 3], &[]);
    fs::write(
        slot_path(dir.path(), 1),
        encode_v5(8, 1030, &hs(6, Some(1)), Some(&old), Some(&me)),
    )
    .unwrap();
    fs::write(
        slot_path(dir.path(), 0),
        encode_v5(
            9,
            1030,
            &hs(6, Some(1)),
            Some(&sample_membership()),
            Some(&me),
        ),
    )
    .unwrap();
    let loaded = load_all(dir.path()).await.unwrap();
    assert_eq!(loaded.1, Some(sample_membership()));
    assert_eq!(
        slot_bytes(dir.path(), 1),
        encode_v5(
            10,
            1030,
            &hs(6, Some(1)),
            Some(&sample_membership()),
            Some(&me)
        )
    );
}

/// A term above the ceiling costs one more write: the current state again
/// with the raised ceiling, then the new state. A crash between the two,
/// or damage to the new state later, resumes above the raised ceiling.
#[tokio::test]
async fn a_term_past_the_ceiling_raises_it_first() {
    let dir = tempfile::tempdir().unwrap();
    let mut storage = FileStorage::open(dir.path()).unwrap();
    storage.save(&hs(10, Some(1))).await.unwrap();
    // Up to the ceiling, one write.
    storage.save(&hs(1034, Some(2))).await.unwrap();
    assert_eq!(
        slot_bytes(dir.path(), 1),
        encode_v5(2, 1034, &hs(1034, Some(2)), None, None)
    );
    storage.save(&hs(1035, Some(2))).await.unwrap();
    let raised = 1035 + CEILING_STEP;
    assert_eq!(
        slot_bytes(dir.path(), 0),
        encode_v5(3, raised, &hs(1034, Some(2)), None, None),
        "the old state, raised"
    );
    assert_eq!(
        slot_bytes(dir.path(), 1),
        encode_v5(4, raised, &hs(1035, Some(2)), None, None),
        "the new state"
    );
    drop(storage);
    let mut damaged = slot_bytes(dir.path(), 1);
    damaged[20] ^= 0x40;
    fs::write(slot_path(dir.path(), 1), &damaged).unwrap();
    assert_eq!(
        load_dir(dir.path()).await.unwrap(),
        Some(hs(raised + 1, None))
    );
}

/// With the ceiling at the largest term, there is no term above it to
/// resume at: a damaged slot is then `Corrupt`, and nothing is written.
#[tokio::test]
async fn no_term_above_the_largest_ceiling_is_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    let full = encode_v5(3, u64::MAX, &hs(u64::MAX, Some(1)), None, None);
    fs::write(slot_path(dir.path(), 0), &full).unwrap();
    fs::write(slot_path(dir.path(), 1), b"DDGS").unwrap();
    let slot_1 = slot_path(dir.path(), 1);
    assert_corrupt_because(load_dir(dir.path()).await, &slot_1, "load", "no term above");
    assert_eq!(fs::read(&slot_1).unwrap(), b"DDGS");
}

/// The slots take precedence over `hardstate`, whatever it holds: a
/// leftover state file of an older build is never read once `state.0`
/// exists, and `state.1` alone (a first save that never finished) is never
/// read in place of `hardstate`.
#[tokio::test]
async fn which_files_are_read() {
    let dir = tempfile::tempdir().unwrap();
    let legacy = encode_v4(&hs(900, Some(9)), None, None);
    fs::write(dir.path().join("hardstate"), &legacy).unwrap();
    fs::write(
        slot_path(dir.path(), 1),
        encode_v5(0, 1030, &hs(6, Some(1)), None, None),
    )
    .unwrap();
    assert_eq!(load_dir(dir.path()).await.unwrap(), Some(hs(900, Some(9))));
    fs::write(
        slot_path(dir.path(), 0),
        encode_v5(1, 1030, &hs(6, Some(2)), None, None),
    )
    .unwrap();
    assert_eq!(load_dir(dir.path()).await.unwrap(), Some(hs(6, Some(2))));
    assert_eq!(fs::read(dir.path().join("hardstate")).unwrap(), legacy);

    // `state.0` without `state.1`: `state.1` was durable before `state.0`
    // was created, so it is damage, recovered from `state.0`.
    fs::remove_file(slot_path(dir.path(), 1)).unwrap();
    assert_eq!(load_dir(dir.path()).await.unwrap(), Some(hs(1031, None)));

    // The marker without the slots: they were deleted.
    let empty = tempfile::tempdir().unwrap();
    let marker_path = empty.path().join("hardstate");
    fs::write(&marker_path, marker()).unwrap();
    assert_corrupt_because(
        load_dir(empty.path()).await,
        &marker_path,
        "marker alone",
        "but state.0 is missing",
    );
}

/// A slot of a newer version is refused by name, even next to a valid one;
/// an older single-file version in a slot is damage like any other.
#[tokio::test]
async fn slot_versions() {
    let dir = tempfile::tempdir().unwrap();
    let valid = encode_v5(4, 1030, &hs(6, Some(1)), None, None);
    fs::write(slot_path(dir.path(), 0), &valid).unwrap();
    fs::write(slot_path(dir.path(), 1), envelope(6, &[0; 30])).unwrap();
    match load_dir(dir.path()).await {
        Err(StorageError::UnsupportedVersion {
            path,
            found: 6,
            supported: 5,
        }) => assert_eq!(path, slot_path(dir.path(), 1)),
        other => panic!("expected UnsupportedVersion, got {other:?}"),
    }
    fs::write(
        slot_path(dir.path(), 1),
        encode_v4(&hs(7, None), None, None),
    )
    .unwrap();
    assert_eq!(load_dir(dir.path()).await.unwrap(), Some(hs(1031, None)));
}
