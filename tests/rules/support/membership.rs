//! Helpers for the membership-change tests.
//!
//! One change at a time, after Raft's single-server changes: each new Goose
//! re-issues its membership under its own term before any change; a change is
//! in force on the Goose at once, travels with the heartbeats until each peer
//! acknowledges holding it, and commits once a majority of the new voters
//! hold it; until then the lease needs a majority of the old voters and of
//! the new.

use duckduckgoose::core::{
    Config, Election, Event, HardState, Membership, Message, NodeId, Output,
};

use super::*;

/// The address the tests give node `n`.
pub fn addr(n: u64) -> String {
    format!("10.0.0.{n}:7000")
}

/// Node `me` of voters `1..=voters`, every address recorded.
pub fn addressed(me: u64, voters: u64) -> Config {
    let mut config = config(me, voters);
    config.membership = Membership::new((1..=voters).map(NodeId))
        .with_addresses((1..=voters).map(|n| (id(n), addr(n))));
    config
}

/// The Goose of term 1 built from `config`, elected at `ELECTED_AT`, whose
/// re-issued membership (`reissued(1)`) every peer acknowledged in the first
/// round: committed, and no heartbeat carries a membership any more.
pub fn settled_goose(config: Config) -> Election {
    let mut node = unsticky(config, HardState::default());
    elect(&mut node);
    let me = node.id();
    let held = node.membership().id();
    let peers: Vec<NodeId> = node.membership().members().filter(|p| *p != me).collect();
    for peer in peers {
        node.handle_message(peer, ack(1, ELECTED_AT, held));
    }
    assert_eq!(drain(&mut node), vec![]);
    node
}

/// Ticks Goose `node` once; the peers in `ackers` acknowledge every
/// heartbeat at once, holding the membership it carried or, when it carried
/// none, the one the Goose had in force when it sent it. Returns the tick's
/// outputs followed by those of the acks.
pub fn tick_with_acks(node: &mut Election, ackers: &[u64]) -> Vec<Output> {
    let in_force = node.membership().id();
    node.tick();
    let mut outputs = drain(node);
    let acks: Vec<(NodeId, Message)> = outputs
        .iter()
        .filter_map(|output| match output {
            Output::Send {
                to,
                msg:
                    Message::Heartbeat {
                        term,
                        sent_tick,
                        membership,
                    },
            } if ackers.contains(&to.0) => Some((
                *to,
                Message::HeartbeatAck {
                    term: *term,
                    sent_tick: *sent_tick,
                    membership: membership.as_ref().map_or(in_force, |m| m.id()),
                },
            )),
            _ => None,
        })
        .collect();
    for (from, ack) in acks {
        node.handle_message(from, ack);
        outputs.extend(drain(node));
    }
    outputs
}

/// The outputs about the membership: persisting it, and its events.
pub fn membership_outputs(outputs: &[Output]) -> Vec<Output> {
    outputs
        .iter()
        .filter(|output| {
            matches!(
                output,
                Output::PersistMembership(_)
                    | Output::Event(
                        Event::MembershipChanged { .. } | Event::MembershipCommitted { .. }
                    )
            )
        })
        .cloned()
        .collect()
}

pub fn ids(members: impl Iterator<Item = NodeId>) -> Vec<u64> {
    members.map(|member| member.0).collect()
}

/// A node built from `config` that has followed Goose 1 of term 1 since
/// tick 0 (adopting `membership` from its first heartbeat) and is at tick
/// `election_timeout_min`: no longer sticky, so it may grant votes.
pub fn unsticky_holding(config: Config, membership: &Membership) -> Election {
    let first_heartbeat = heartbeat_carrying(1, 0, membership);
    let setup = |node: &mut Election| node.handle_message(id(1), first_heartbeat.clone());
    let seed = quiet_seed(&config, HardState::default(), CAMPAIGN_AT, setup);
    let mut node = build(config, HardState::default(), seed);
    setup(&mut node);
    drain(&mut node);
    for _ in 0..CAMPAIGN_AT {
        node.tick();
    }
    assert_eq!(drain(&mut node), vec![]);
    assert_eq!(node.membership(), membership);
    node
}

/// The first round the learner added at `ELECTED_AT` acknowledges.
pub const FIRST_ACKED_ROUND: u64 = ELECTED_AT + HEARTBEAT;

/// A settled Goose of 1..=3 that added learner 4 at `ELECTED_AT`; then
/// ticked with 2 and 3 acking every round and 4 acking the rounds
/// `learner_acks` lets through, until it proposes a change. Returns the tick
/// it did so at and that tick's outputs.
pub fn promotion(learner_acks: impl Fn(u64) -> bool) -> (Election, u64, Vec<Output>) {
    let mut node = settled_goose(addressed(1, 3));
    node.propose_add(id(4), &addr(4)).unwrap();
    drain(&mut node);
    let mut committed = false;
    for _ in 0..20 * TIMEOUT_MAX {
        let round = node.now_tick() + 1;
        let ackers: &[u64] = if learner_acks(round) {
            &[2, 3, 4]
        } else {
            &[2, 3]
        };
        let outputs = tick_with_acks(&mut node, ackers);
        for output in membership_outputs(&outputs) {
            if output == membership_committed(membership_id(1, 2)) && !committed {
                // The add commits with the first round that carries it.
                assert_eq!(node.now_tick(), FIRST_ACKED_ROUND);
                committed = true;
            } else {
                return (node, round, outputs);
            }
        }
    }
    panic!("no promotion");
}
