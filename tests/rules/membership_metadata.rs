//! Membership changes: node metadata carried by an add, replicated to the
//! Ducks with the heartbeats, kept by a promotion, dropped by a removal; a
//! conflicting add and one that breaks the bound refused.

use duckduckgoose::core::{
    MAX_MEMBERSHIP_METADATA_LEN, MembershipError, MetadataError, NodeMetadata,
};

use crate::support::*;

/// Where node `n`'s application serves.
fn app(n: u64) -> NodeMetadata {
    NodeMetadata::new()
        .with("http", format!("http://10.0.0.{n}:8080"))
        .expect("valid metadata")
}

#[test]
fn membership_propose_add_with_metadata_carries_it_to_every_duck() {
    let mut node = settled_goose(addressed(1, 3));

    assert_eq!(
        node.propose_add_with_metadata(id(4), &addr(4), &app(4)),
        Ok(membership_id(1, 2))
    );
    let added = node.membership().clone();
    assert_eq!(added.metadata(id(4)), Some(&app(4)));
    assert_eq!(added.metadata(id(1)), None, "configured without");
    assert_eq!(ids(added.joining()), [4]);
    // Durable with the rest of the membership, then sent with the round.
    assert_eq!(
        drain(&mut node),
        vec![
            persist_membership(&added),
            membership_changed(membership_id(1, 2)),
        ]
    );
    for _ in 0..HEARTBEAT {
        node.tick();
    }
    let round = ELECTED_AT + HEARTBEAT;
    assert_eq!(
        drain(&mut node),
        vec![
            send(2, heartbeat_carrying(1, round, &added)),
            send(3, heartbeat_carrying(1, round, &added)),
            send(4, heartbeat_carrying(1, round, &added)),
        ]
    );

    // A Duck adopts it whole: metadata persisted before the ack.
    let mut duck = follower(2, 3, 1, 1);
    duck.handle_message(id(1), heartbeat_carrying(1, round, &added));
    assert_eq!(
        drain(&mut duck),
        vec![
            persist_membership(&added),
            membership_changed(membership_id(1, 2)),
            send(1, ack(1, round, membership_id(1, 2))),
        ]
    );
    assert_eq!(duck.membership().metadata(id(4)), Some(&app(4)));
}

#[test]
fn membership_adding_again_with_other_metadata_is_refused_and_changes_nothing() {
    let mut node = settled_goose(addressed(1, 3));
    node.propose_add_with_metadata(id(4), &addr(4), &app(4))
        .unwrap();
    drain(&mut node);
    let pending = node.membership().clone();

    // The same record: the pending change (a joiner asking twice).
    assert_eq!(
        node.propose_add_with_metadata(id(4), &addr(4), &app(4)),
        Ok(membership_id(1, 2))
    );
    // Other metadata, or none: refused, whether or not a change is pending.
    for other in [app(5), NodeMetadata::new()] {
        assert_eq!(
            node.propose_add_with_metadata(id(4), &addr(4), &other),
            Err(MembershipError::ChangeInProgress {
                pending: membership_id(1, 2)
            })
        );
    }
    assert_eq!(drain(&mut node), vec![]);
    while node.membership_pending() == Some(true) {
        tick_with_acks(&mut node, &[2, 3, 4]);
    }
    assert_eq!(node.membership().id(), membership_id(1, 2));
    for other in [app(5), NodeMetadata::new()] {
        assert_eq!(
            node.propose_add_with_metadata(id(4), &addr(4), &other),
            Err(MembershipError::MetadataConflict { id: id(4) })
        );
    }
    assert_eq!(
        node.propose_add(id(4), &addr(4)),
        Err(MembershipError::MetadataConflict { id: id(4) })
    );
    assert_eq!(drain(&mut node), vec![]);
    assert_eq!(node.membership(), &pending);
}

#[test]
fn membership_promotion_keeps_the_metadata_and_removal_drops_it() {
    let mut node = settled_goose(addressed(1, 3));
    node.propose_add_with_metadata(id(4), &addr(4), &app(4))
        .unwrap();
    drain(&mut node);
    // Everyone acks until the learner is promoted and that commits.
    while node.membership().is_learner(id(4)) || node.membership_pending() == Some(true) {
        tick_with_acks(&mut node, &[2, 3, 4]);
    }
    let promoted = node.membership().clone();
    assert_eq!(ids(promoted.voters()), [1, 2, 3, 4]);
    assert_eq!(promoted.metadata(id(4)), Some(&app(4)));

    let next = membership_id(promoted.id().term.0, promoted.id().version + 1);
    assert_eq!(node.propose_remove(id(4)), Ok(next));
    let removed = node.membership().clone();
    assert_eq!(removed.metadata(id(4)), None);
    assert_eq!(removed.address(id(4)), None);
    assert!(removed.all_metadata().is_empty());
    assert_eq!(
        drain(&mut node),
        vec![persist_membership(&removed), membership_changed(next)]
    );
}

#[test]
fn membership_an_add_past_the_metadata_bound_is_refused_and_changes_nothing() {
    // Metadata of about 1 KiB per node: 16 of them fill the bound.
    let value = "v".repeat(250);
    let full = ["a", "b", "c", "d"]
        .iter()
        .fold(NodeMetadata::new(), |meta, key| {
            meta.with(*key, &value).expect("valid metadata")
        });
    let mut config = addressed(1, 3);
    for n in 1..=3 {
        config.membership = config.membership.with_metadata(id(n), full.clone());
    }
    let mut node = settled_goose(config);
    let fitting = (MAX_MEMBERSHIP_METADATA_LEN / full.encoded_len()) as u64;
    for n in 4..=fitting {
        assert!(
            node.propose_add_with_metadata(id(n), &addr(n), &full)
                .is_ok()
        );
        while node.membership_pending() == Some(true) {
            let acks: Vec<u64> = (2..=n).collect();
            tick_with_acks(&mut node, &acks);
        }
    }
    assert_eq!(node.membership().all_metadata().len() as u64, fitting);
    let before = node.membership().clone();
    drain(&mut node);

    let over = fitting + 1;
    assert_eq!(
        node.propose_add_with_metadata(id(over), &addr(over), &full),
        Err(MembershipError::Metadata(
            MetadataError::MembershipTooLarge {
                len: (fitting as usize + 1) * full.encoded_len(),
                max: MAX_MEMBERSHIP_METADATA_LEN,
            }
        ))
    );
    // Without metadata it fits.
    assert_eq!(drain(&mut node), vec![]);
    assert_eq!(node.membership(), &before);
    assert!(node.propose_add(id(over), &addr(over)).is_ok());
}
