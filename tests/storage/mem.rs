//! `MemStorage`: round trips, shared clones, injected failures.

use duckduckgoose::storage::MemStorage;

use super::*;

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
