//! The admission rule, "who may talk to this node", as the core states it:
//! `Election::admitted_peers` is the set the runtime hands to the transport,
//! and it agrees with what `handle_message` accepts. The one sender outside
//! the set that the core accepts is a newer Goose whose heartbeat carries a
//! newer membership naming this node.

use std::collections::BTreeSet;

use duckduckgoose::core::{
    Config, DropReason, Election, Event, HardState, Membership, MembershipId, Message, NodeId,
    Output, Role, Term,
};

use super::support::{drain, id};

// ===== harness ===============================================================

fn ids(ns: &[u64]) -> BTreeSet<NodeId> {
    ns.iter().copied().map(NodeId).collect()
}

/// Voters `1..=voters`, each at an address (a Goose adds members by address).
fn addressed_config(me: u64, voters: u64) -> Config {
    let mut config = Config::new(id(me), (1..=voters).map(NodeId));
    config.membership = Membership::new((1..=voters).map(NodeId))
        .with_addresses((1..=voters).map(|n| (id(n), format!("127.0.0.1:{}", 7000 + n))));
    config
}

fn fresh(me: u64, voters: u64) -> Election {
    Election::new(addressed_config(me, voters), HardState::default(), 7).expect("a valid config")
}

fn heartbeat(term: u64, sent_tick: u64, membership: Option<&Membership>) -> Message {
    Message::Heartbeat {
        term: Term(term),
        sent_tick,
        membership: membership.map(|m| Box::new(m.clone())),
    }
}

fn dropped_not_member(from: u64) -> Output {
    Output::Event(Event::MessageDropped {
        from: id(from),
        reason: DropReason::NotMember,
    })
}

/// Whether `outputs` acknowledge a heartbeat to `to`: the message was
/// admitted and handled.
fn acks_to(outputs: &[Output], to: u64) -> bool {
    outputs.iter().any(|output| {
        matches!(output, Output::Send { to: dest, msg: Message::HeartbeatAck { .. } } if *dest == id(to))
    })
}

/// Acknowledges, from every peer in `ackers`, each heartbeat in `outputs`,
/// holding the membership it carried or else `held`.
fn ack_heartbeats(node: &mut Election, outputs: &[Output], ackers: &[u64], held: MembershipId) {
    for output in outputs {
        if let Output::Send {
            to,
            msg:
                Message::Heartbeat {
                    term,
                    sent_tick,
                    membership,
                },
        } = output
            && ackers.contains(&to.0)
        {
            let membership = membership.as_ref().map_or(held, |m| m.id());
            node.handle_message(
                *to,
                Message::HeartbeatAck {
                    term: *term,
                    sent_tick: *sent_tick,
                    membership,
                },
            );
        }
    }
}

/// Ticks Goose `node` once; the peers in `ackers` acknowledge what it sent.
fn tick_with_acks(node: &mut Election, ackers: &[u64]) {
    let held = node.membership().id();
    node.tick();
    let outputs = drain(node);
    ack_heartbeats(node, &outputs, ackers, held);
    drain(node);
}

/// Node 1 of voters `1..=voters`, Goose of term 1, its re-issued membership
/// committed: it times out on its own, and the other voters grant and
/// acknowledge everything.
fn goose(voters: u64) -> Election {
    let mut node = fresh(1, voters);
    let peers: Vec<u64> = (2..=voters).collect();
    while !drain(&mut node)
        .iter()
        .any(|output| matches!(output, Output::Event(Event::ElectionStarted { .. })))
    {
        node.tick();
    }
    for peer in &peers {
        node.handle_message(
            id(*peer),
            Message::PreVoteResponse {
                term: Term(1),
                granted: true,
            },
        );
    }
    for peer in &peers {
        node.handle_message(
            id(*peer),
            Message::VoteResponse {
                term: Term(1),
                granted: true,
            },
        );
    }
    // The bare first round, then the re-issue attached to it sent again.
    let outputs = drain(&mut node);
    ack_heartbeats(&mut node, &outputs, &peers, MembershipId::default());
    let outputs = drain(&mut node);
    ack_heartbeats(&mut node, &outputs, &peers, MembershipId::default());
    drain(&mut node);
    assert_eq!(node.role(), Role::Goose);
    assert_eq!(node.membership_pending(), Some(false));
    node
}

// ===== rules =================================================================

// A Duck admits the other members, and nobody else, whether or not it
// follows a Goose.
#[test]
fn a_follower_admits_the_other_members() {
    let mut duck = fresh(2, 3);
    assert_eq!(duck.admitted_peers(), ids(&[1, 3]));
    duck.handle_message(id(1), heartbeat(1, 0, None));
    assert!(acks_to(&drain(&mut duck), 1));
    assert_eq!(duck.leader(), Some(id(1)));
    assert_eq!(duck.admitted_peers(), ids(&[1, 3]));
    // A stranger outside the set is dropped, whatever it sends.
    assert!(!duck.admitted_peers().contains(&id(9)));
    duck.handle_message(id(9), heartbeat(1, 5, None));
    assert_eq!(drain(&mut duck), vec![dropped_not_member(9)]);
}

// A Goose whose pending change removes a member still admits it (its acks
// count towards the old majority) until the change commits.
#[test]
fn a_goose_admits_the_member_its_pending_change_removes() {
    let mut node = goose(3);
    assert_eq!(node.admitted_peers(), ids(&[2, 3]));
    node.propose_remove(id(3))
        .expect("a settled Goose may change");
    assert!(!node.membership().contains(id(3)));
    assert_eq!(node.membership_pending(), Some(true));
    assert_eq!(node.admitted_peers(), ids(&[2, 3]));
    drain(&mut node);
    // 3's acks are admitted while the removal is pending: they still count
    // towards the old voters' majority (only 2 can commit the change).
    let removed = node.membership().id();
    for _ in 0..5 {
        node.tick();
    }
    let round = drain(&mut node);
    ack_heartbeats(&mut node, &round, &[3], removed);
    assert!(
        !drain(&mut node).contains(&dropped_not_member(3)),
        "a departing member is admitted"
    );
    assert_eq!(node.membership_pending(), Some(true));
    // 2 holding the change commits it: 3 is a stranger from then on.
    ack_heartbeats(&mut node, &round, &[2], removed);
    drain(&mut node);
    assert_eq!(node.membership_pending(), Some(false));
    assert_eq!(node.admitted_peers(), ids(&[2]));
    node.handle_message(
        id(3),
        Message::PreVote {
            term: Term(2),
            membership: removed,
        },
    );
    assert_eq!(drain(&mut node), vec![dropped_not_member(3)]);
}

// A Duck following a Goose that removed itself keeps admitting that Goose
// (its acks commit the removal) until it follows another.
#[test]
fn a_duck_admits_the_goose_it_follows_after_that_goose_removed_itself() {
    let mut node = goose(3);
    node.propose_remove(id(1))
        .expect("a settled Goose may remove itself");
    let without_goose = node.membership().clone();
    assert!(!without_goose.contains(id(1)));
    assert_eq!(node.admitted_peers(), ids(&[2, 3]));

    let mut duck = fresh(2, 3);
    duck.handle_message(id(1), heartbeat(1, 0, Some(&without_goose)));
    assert!(acks_to(&drain(&mut duck), 1));
    assert_eq!(duck.membership().id(), without_goose.id());
    assert_eq!(duck.admitted_peers(), ids(&[1, 3]));
    duck.handle_message(id(1), heartbeat(1, 5, None));
    assert!(acks_to(&drain(&mut duck), 1));

    // The Goose of a later term replaces it; the old one is a stranger now.
    duck.handle_message(id(3), heartbeat(2, 0, None));
    drain(&mut duck);
    assert_eq!(duck.admitted_peers(), ids(&[3]));
    duck.handle_message(id(1), heartbeat(1, 10, None));
    assert_eq!(drain(&mut duck), vec![dropped_not_member(1)]);
}

// The one exception the set cannot list: a Goose this node has never heard
// of, bringing a newer membership in which it is a voter and this node a
// member, is admitted (the catch-up path of a member that missed changes).
#[test]
fn a_newer_goose_outside_the_set_is_admitted_only_with_a_membership_naming_this_node() {
    // Goose 1 adds 4 and promotes it once it has kept up for an election
    // timeout; the membership making 4 a voter is the one 4 would bring.
    let mut node = goose(3);
    node.propose_add(id(4), "127.0.0.1:7004")
        .expect("a settled Goose may change");
    let mut rounds = 0;
    while !node.membership().is_voter(id(4)) {
        tick_with_acks(&mut node, &[2, 4]);
        rounds += 1;
        assert!(rounds < 1_000, "4 is never promoted");
    }
    let with_four = node.membership().clone();
    assert!(with_four.contains(id(3)));

    // Node 3 missed every change: 4 is not in its set.
    let mut lagging = fresh(3, 3);
    assert_eq!(lagging.admitted_peers(), ids(&[1, 2]));
    lagging.handle_message(id(4), heartbeat(2, 0, None));
    assert_eq!(drain(&mut lagging), vec![dropped_not_member(4)]);
    // The same Goose bringing the membership naming 3 is admitted, and 3
    // admits it from then on as a member.
    lagging.handle_message(id(4), heartbeat(2, 0, Some(&with_four)));
    assert!(acks_to(&drain(&mut lagging), 4));
    assert_eq!(lagging.leader(), Some(id(4)));
    assert_eq!(lagging.admitted_peers(), ids(&[1, 2, 4]));
}
