//! Properties: arbitrary file contents never panic and never decode to
//! anything but the state they are the one encoding of; every state,
//! membership and identity round-trips through a save.

use duckduckgoose::storage::NodeIdentity;
use proptest::prelude::*;

use super::*;

/// Memberships built the public way: voters and learners.
fn memberships() -> BoxedStrategy<Option<Membership>> {
    proptest::option::of(
        (
            proptest::collection::vec(any::<u64>(), 1..4),
            proptest::collection::vec(any::<u64>(), 0..3),
        )
            .prop_map(|(voters, learners)| membership(&voters, &learners)),
    )
    .boxed()
}

/// Identities with short, non-ASCII and longest (up to 255-byte) cluster
/// ids.
fn identities() -> BoxedStrategy<Option<NodeIdentity>> {
    let cluster_ids = prop_oneof!["[a-z0-9-]{1,12}", "\\PC{1,40}", "[a-z]{250,255}"];
    proptest::option::of(
        (cluster_ids, any::<u64>()).prop_map(|(cluster_id, node_id)| {
            NodeIdentity::new(cluster_id, NodeId(node_id)).expect("1 to 255 bytes")
        }),
    )
    .boxed()
}

/// File contents to try: pure noise, noise behind the magic, and valid
/// encodings of every version with a few bytes changed, cut short or
/// extended.
fn file_contents() -> impl Strategy<Value = Vec<u8>> {
    let valid = (
        any::<u64>(),
        any::<Option<u64>>(),
        1..=4u16,
        memberships(),
        identities(),
    )
        .prop_map(|(term, vote, version, members, identity)| {
            let state = hs(term, vote);
            match version {
                1 => encode_v1(&state),
                2 => encode_v2(&state, members.as_ref()),
                3 => encode_v3(&state, members.as_ref()),
                _ => encode_v4(&state, members.as_ref(), identity.as_ref()),
            }
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
                let identity = runtime.block_on(storage.load_identity()).unwrap();
                let reencoded = match bytes[4] {
                    1 => encode_v1(&state),
                    2 => encode_v2(&state, members.as_ref()),
                    3 => encode_v3(&state, members.as_ref()),
                    _ => encode_v4(&state, members.as_ref(), identity.as_ref()),
                };
                if bytes[4] < 4 {
                    prop_assert_eq!(identity, None);
                }
                prop_assert_eq!(reencoded, bytes);
            }
            Ok(None) => prop_assert!(false, "an existing file read as a fresh node"),
            Err(StorageError::Corrupt { .. } | StorageError::UnsupportedVersion { .. }) => {}
            Err(other) => prop_assert!(false, "unexpected error kind {:?}", other),
        }
    });
}

/// Whatever a node saves under whatever identity is the one documented
/// version-4 encoding, and reads back as saved.
#[test]
fn every_state_membership_and_identity_round_trips_through_a_save() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a current-thread runtime builds");
    let strategy = (
        any::<u64>(),
        any::<Option<u64>>(),
        memberships(),
        identities(),
    );
    // Each case fsyncs up to six times; a few dozen cases cover the shapes.
    proptest!(ProptestConfig::with_cases(48), |((term, vote, members, identity) in strategy)| {
        let state = hs(term, vote);
        let dir = tempfile::tempdir().unwrap();
        runtime.block_on(async {
            let mut storage = match &identity {
                Some(identity) => FileStorage::open_as(dir.path(), identity.clone()).unwrap(),
                None => FileStorage::open(dir.path()).unwrap(),
            };
            if let Some(members) = &members {
                storage.save_membership(members).await.unwrap();
            }
            storage.save(&state).await.unwrap();
        });
        // Created (by open_as or the first save) at generations 0 and 1,
        // then a membership (two more) and the state (one, or two if its
        // term passed the ceiling).
        let mut model = SlotModel::default();
        model.save(if identity.is_some() || members.is_some() { 0 } else { term }, 1);
        if members.is_some() && identity.is_some() {
            model.save(0, 2);
        }
        let (generation, ceiling) = if identity.is_some() || members.is_some() {
            model.save(term, 1)
        } else {
            (1, term.saturating_add(CEILING_STEP))
        };
        prop_assert_eq!(
            newest_slot(dir.path()).1,
            encode_v5(generation, ceiling, &state, members.as_ref(), identity.as_ref())
        );
        let mut reopened = FileStorage::open(dir.path()).unwrap();
        let loaded = runtime.block_on(async {
            (
                reopened.load().await.unwrap(),
                reopened.load_membership().await.unwrap(),
                reopened.load_identity().await.unwrap(),
            )
        });
        prop_assert_eq!(loaded, (Some(state), members, identity));
    });
}

/// Whatever saves came before and however one slot is damaged (bits
/// changed, cut short), a load gives the last saved state, or a higher term
/// with no vote: never an older term or vote.
#[test]
fn damage_to_one_slot_never_brings_back_an_older_term_or_vote() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a current-thread runtime builds");
    let saves = proptest::collection::vec((0..1500u64, any::<Option<u64>>()), 1..6);
    let damage = prop_oneof![
        proptest::collection::vec((any::<usize>(), 1..=255u8), 1..4).prop_map(Err),
        any::<usize>().prop_map(Ok),
    ];
    let strategy = (saves, 0..2usize, damage);
    // Each case fsyncs a handful of times.
    proptest!(ProptestConfig::with_cases(48), |((saves, damaged, damage) in strategy)| {
        let dir = tempfile::tempdir().unwrap();
        let mut term = 0;
        let mut last = hs(0, None);
        runtime.block_on(async {
            let mut storage = FileStorage::open(dir.path()).unwrap();
            for (step, vote) in &saves {
                term += step;
                last = hs(term, *vote);
                storage.save(&last).await.unwrap();
            }
        });
        let path = slot_path(dir.path(), damaged);
        let mut bytes = std::fs::read(&path).unwrap();
        match damage {
            Err(edits) => {
                for (position, mask) in edits {
                    let len = bytes.len();
                    bytes[position % len] ^= mask;
                }
            }
            Ok(len) => bytes.truncate(len % bytes.len()),
        }
        std::fs::write(&path, &bytes).unwrap();
        let loaded = runtime.block_on(load_dir(dir.path())).unwrap().unwrap();
        prop_assert!(
            loaded == last || (loaded.term > last.term && loaded.voted_for.is_none()),
            "loaded {:?} after {:?}", loaded, last
        );
    });
}
