//! Rule 9: messages from non-members (and from the node itself) are
//! dropped and counted.

use duckduckgoose::core::{Config, DropReason, Membership, Message};

use crate::support::*;

/// A membership in which node 9 is the only voter, issued in term 6: newer
/// than anything the rule 9 tests' nodes hold.
fn stranger_membership() -> Membership {
    let mut stranger = unsticky(Config::new(id(9), [id(9)]), hard(5, None));
    stranger.campaign().expect("unsticky");
    drain(&mut stranger);
    assert_eq!(stranger.membership().id(), reissued(6));
    stranger.membership().clone()
}

fn every_kind_of_message(term: u64) -> Vec<Message> {
    vec![
        pre_vote(term + 1),
        pre_vote_response(term + 1, true),
        vote(term + 1, true),
        vote_response(term + 1, true),
        heartbeat(term + 1, 0),
        // A stranger cannot slip in a membership that makes it a voter.
        heartbeat_carrying(term + 1, 0, &stranger_membership()),
        ack(term, 0, CONFIGURED),
        timeout_now(term),
        leave(term),
    ]
}

#[test]
fn rule9_a_message_from_a_non_member_is_dropped_and_counted() {
    for mut node in [goose(1, 3), follower(1, 3, 2, 1), candidate(3)] {
        let before = node.status();
        let hard_before = node.hard_state();
        for msg in every_kind_of_message(1) {
            node.handle_message(id(9), msg.clone());
            assert_eq!(
                drain(&mut node),
                vec![dropped(9, DropReason::NotMember)],
                "{msg:?}"
            );
        }
        assert_eq!(node.counters().dropped_not_member, 9);
        assert_eq!(node.status(), before);
        assert_eq!(node.hard_state(), hard_before);
    }
}

#[test]
fn rule9_a_message_claiming_to_come_from_the_node_itself_is_dropped_and_counted() {
    for mut node in [goose(1, 3), follower(1, 3, 2, 1), candidate(3)] {
        let before = node.status();
        for msg in every_kind_of_message(1) {
            node.handle_message(id(1), msg.clone());
            assert_eq!(
                drain(&mut node),
                vec![dropped(1, DropReason::FromSelf)],
                "{msg:?}"
            );
        }
        assert_eq!(node.counters().dropped_from_self, 9);
        assert_eq!(node.status(), before);
    }
}
