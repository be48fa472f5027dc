//! The membership next to the hard state, in one file: round trips, each
//! save keeping the other half, loads in any order, a membership too big
//! for the format.

use std::time::Duration;

use super::*;

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
    let mut model = SlotModel::default();
    for (state, members) in cases {
        storage.save(&state).await.unwrap();
        model.save(state.term.0, 1);
        storage.save_membership(&members).await.unwrap();
        let (generation, ceiling) = model.save(state.term.0, 2);
        assert_eq!(storage.load().await.unwrap(), Some(state));
        assert_eq!(
            storage.load_membership().await.unwrap().as_ref(),
            Some(&members)
        );
        // Both slots hold it: the newest, and the one before it.
        let (newest, bytes) = newest_slot(dir.path());
        assert_eq!(
            bytes,
            encode_v5(generation, ceiling, &state, Some(&members), None)
        );
        assert_eq!(
            slot_bytes(dir.path(), 1 - newest),
            encode_v5(generation - 1, ceiling, &state, Some(&members), None)
        );
    }
    drop(storage);

    let mut reopened = FileStorage::open(dir.path()).unwrap();
    let members = reopened.load_membership().await.unwrap().unwrap();
    assert_eq!(members, membership(&[u64::MAX], &[0]));
    assert_eq!(members.address(NodeId(0)), Some("node-0.example:7000"));
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
    // Ten generations: 0 and 1 created, then 1, 2, 1, 1, 1, 2 per save.
    let state = hs(4, Some(2));
    let (newest, bytes) = newest_slot(dir.path());
    assert_eq!(bytes, encode_v5(9, 1024, &state, Some(&m3), None));
    assert_eq!(
        slot_bytes(dir.path(), 1 - newest),
        encode_v5(8, 1024, &state, Some(&m3), None)
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
async fn membership_too_big_for_the_format_is_refused_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut storage = FileStorage::open(dir.path()).unwrap();
    storage.save(&hs(2, Some(1))).await.unwrap();
    let small = membership(&[1], &[]);
    storage.save_membership(&small).await.unwrap();
    let before = [slot_bytes(dir.path(), 0), slot_bytes(dir.path(), 1)];

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
    assert_names_path(&error, dir.path());
    assert!(error.to_string().contains("1048577 bytes"), "{error}");
    assert_eq!(
        [slot_bytes(dir.path(), 0), slot_bytes(dir.path(), 1)],
        before
    );
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
