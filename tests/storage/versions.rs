//! The documented bytes of every format version load with every field in
//! place; this build writes exactly the version-5 slot bytes, and the next
//! save to an older file migrates it to the slots. (Migrations by `open_as`,
//! which records the identity at once, are in `identity`; crashes during a
//! migration in `migration`.)

use super::*;

/// The sample membership and identity, byte by byte as documented, read
/// back with every field in place from a version-4 file, and this build
/// writes exactly the documented version-5 slot for them.
#[tokio::test]
async fn documented_version_4_bytes_load_and_version_5_is_what_a_save_writes() {
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

    let owner = identity("prod-eu", 300);
    let file = documented_file_v4(SAMPLE_MEMBERSHIP_BYTES);
    let dir = tempfile::tempdir().unwrap();
    let mut storage = FileStorage::open(dir.path()).unwrap();
    std::fs::write(storage.path(), &file).unwrap();
    assert_eq!(
        storage.load_membership().await.unwrap(),
        Some(sample.clone())
    );
    assert_eq!(storage.load().await.unwrap(), Some(hs(9, Some(2))));
    assert_eq!(storage.load_identity().await.unwrap(), Some(owner.clone()));

    let other = tempfile::tempdir().unwrap();
    let mut fresh = FileStorage::open_as(other.path(), owner).unwrap();
    fresh.save_membership(&sample).await.unwrap();
    fresh.save(&hs(9, Some(2))).await.unwrap();
    // Generations 0 and 1 (open_as), 2 and 3 (the membership), then 4 in
    // the slot not holding the newest, `state.1`.
    assert_eq!(
        slot_bytes(other.path(), 1),
        documented_slot_v5(SAMPLE_MEMBERSHIP_BYTES)
    );
    assert_eq!(std::fs::read(fresh.path()).unwrap(), marker());
}

/// A version-3 file of the sample loads with its metadata and no identity,
/// and the next save writes version 4, still without an identity.
#[tokio::test]
async fn documented_version_3_bytes_load_and_are_upgraded() {
    let file = documented_file(3, SAMPLE_MEMBERSHIP_BYTES);
    assert_eq!(file, encode_v3(&hs(9, Some(2)), Some(&sample_membership())));
    let dir = tempfile::tempdir().unwrap();
    let mut storage = FileStorage::open(dir.path()).unwrap();
    std::fs::write(storage.path(), &file).unwrap();
    assert_eq!(
        storage.load_membership().await.unwrap(),
        Some(sample_membership())
    );
    assert_eq!(storage.load().await.unwrap(), Some(hs(9, Some(2))));
    assert_eq!(storage.load_identity().await.unwrap(), None);

    storage.save(&hs(10, None)).await.unwrap();
    assert_migrated(dir.path(), &hs(10, None), Some(&sample_membership()), None);
}

/// A version-2 file of the sample loads without metadata, and the next save
/// writes version 4.
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
    assert_migrated(
        dir.path(),
        &hs(10, None),
        Some(&sample_membership_v2()),
        None,
    );
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
        assert_migrated(dir.path(), &state, Some(&members), None);

        // A hard state save migrates too, and keeps "no membership".
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hardstate");
        std::fs::write(&path, encode_v1(&state)).unwrap();
        drop(storage);
        let mut storage = FileStorage::open(dir.path()).unwrap();
        let newer = hs(state.term.0.saturating_add(1), None);
        storage.save(&newer).await.unwrap();
        assert_migrated(dir.path(), &newer, None, None);
        assert_eq!(storage.load_membership().await.unwrap(), None);
    }
}

/// What the first save to a directory writes: both slots (generation 1 in
/// `state.0`, 0 in `state.1`) with `state`, ceiling its term + 1024, and the
/// marker in `hardstate`.
fn assert_migrated(
    dir: &Path,
    state: &HardState,
    membership: Option<&Membership>,
    identity: Option<&duckduckgoose::storage::NodeIdentity>,
) {
    let ceiling = state.term.0.saturating_add(CEILING_STEP);
    for (index, generation) in [(0, 1), (1, 0)] {
        assert_eq!(
            slot_bytes(dir, index),
            encode_v5(generation, ceiling, state, membership, identity),
            "{state:?}, slot {index}"
        );
    }
    assert_eq!(std::fs::read(dir.join("hardstate")).unwrap(), marker());
}
