//! Special configurations: a single-node cluster, and check-quorum off.

use duckduckgoose::core::{HardState, Role, RoleChangeReason, Term};

use crate::support::*;

// ===== single node ============================================================

#[test]
fn single_node_cluster_elects_itself_and_stays_goose() {
    let mut node = fresh(1, 1);
    let (ticks, _) = ticks_until_election(&mut node);
    assert!((TIMEOUT_MIN..TIMEOUT_MAX).contains(&ticks), "{ticks}");
    assert_eq!(node.role(), Role::Goose);
    assert_eq!(node.hard_state(), hard(1, Some(1)));
    assert_eq!(node.status().leader, Some(id(1)));

    for _ in 0..10_000 {
        node.tick();
        assert_eq!(drain(&mut node), vec![]);
        assert_eq!(node.role(), Role::Goose);
    }
    assert_eq!(node.term(), Term(1));
}

// In a one-node cluster the pre-vote, the election and the win happen in one
// input; the term must be durable before the node announces itself as its
// Goose, or a crash in between would let it be elected in term 1 twice, with
// one fencing token for two incarnations (one Goose per term; fencing tokens).
#[test]
fn persist_barrier_a_single_node_goose_is_announced_after_its_term_is_durable() {
    let mut node = unsticky_voter(1, 1, HardState::default());

    node.campaign().unwrap();

    let outputs = drain(&mut node);
    let persist_at = outputs
        .iter()
        .position(|o| *o == persist(1, Some(1)))
        .expect("term 1 is persisted");
    let goose_at = outputs
        .iter()
        .position(|o| *o == role_changed(Role::Goose, 1, RoleChangeReason::Elected))
        .expect("the node announces itself");
    assert!(persist_at < goose_at, "{outputs:?}");
}

// ===== check-quorum off =======================================================

// Regression: with `check_quorum` off the election was once unreported.
#[test]
fn check_quorum_off_election_is_still_reported() {
    let mut config = config(1, 3);
    config.check_quorum = false;
    let mut node = unsticky(config, HardState::default());
    node.campaign().unwrap();
    node.handle_message(id(2), pre_vote_response(1, true));
    drain(&mut node);

    node.handle_message(id(2), vote_response(1, true));

    let outputs = drain(&mut node);
    let elected = role_changed(Role::Goose, 1, RoleChangeReason::Elected);
    assert_eq!(
        outputs.iter().filter(|o| **o == elected).count(),
        1,
        "{outputs:?}"
    );
    assert_eq!(node.role(), Role::Goose);
    assert_eq!(node.counters().role_changes, 1);
}

#[test]
fn check_quorum_off_goose_keeps_its_role_without_acks() {
    let mut config = config(1, 3);
    config.check_quorum = false;
    let mut node = unsticky(config, HardState::default());
    elect(&mut node);

    for _ in 0..10 * LEASE {
        node.tick();
        drain(&mut node);
    }

    assert_eq!(node.role(), Role::Goose);
}
