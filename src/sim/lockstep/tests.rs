//! The driver's own tests: the persist-barrier check on hand-made outputs,
//! then the driver on small clusters.

use crate::core::{
    Config, Election, Event, HardState, Membership, MembershipId, Message, NodeId, Output, Role,
    Term,
};

use super::barrier::{Durable, PersistBarrierViolation, check};
use super::{Link, LockStep, LockStepError};

const N1: NodeId = NodeId(1);
const N2: NodeId = NodeId(2);
const N3: NodeId = NodeId(3);

fn hard(term: u64, voted_for: Option<NodeId>) -> HardState {
    HardState {
        term: Term(term),
        voted_for,
    }
}

fn membership_id(term: u64, version: u64) -> MembershipId {
    MembershipId {
        term: Term(term),
        version,
    }
}

/// Durable state of n1 of {1, 2, 3}: `hard`, the configured membership.
fn durable(hard_state: HardState) -> Durable {
    Durable::new(hard_state, Membership::new([N1, N2, N3]))
}

fn send(to: NodeId, msg: Message) -> Output {
    Output::Send { to, msg }
}

fn cluster(voters: u64) -> LockStep {
    let ids: Vec<NodeId> = (1..=voters).map(NodeId).collect();
    LockStep::new(ids.iter().map(|&id| {
        Election::new(
            Config::new(id, ids.iter().copied()),
            HardState::default(),
            id.0,
        )
        .expect("the default config is valid")
    }))
    .expect("distinct ids")
}

// ----- the persist barrier -----

#[test]
fn durable_state_never_goes_back() {
    let voted = durable(hard(3, Some(N2)));
    assert_eq!(check(N1, &voted, &Output::Persist(hard(4, None))), Ok(()));
    assert_eq!(
        check(N1, &voted, &Output::Persist(hard(3, Some(N2)))),
        Ok(())
    );
    assert_eq!(
        check(N1, &voted, &Output::Persist(hard(2, None))),
        Err(PersistBarrierViolation::TermWentBack {
            node: N1,
            durable: Term(3),
            persisted: Term(2),
        })
    );
    assert_eq!(
        check(N1, &voted, &Output::Persist(hard(3, Some(N3)))),
        Err(PersistBarrierViolation::VoteChanged {
            node: N1,
            term: Term(3),
            durable: N2,
            persisted: Some(N3),
        })
    );
    // The configured membership again: persisted twice.
    let again = Output::PersistMembership(Box::new(Membership::new([N1, N2, N3])));
    assert!(matches!(
        check(N1, &voted, &again),
        Err(PersistBarrierViolation::MembershipNotNewer { .. })
    ));
}

#[test]
fn a_message_may_show_only_durable_terms_and_votes() {
    let term_2 = durable(hard(2, None));
    let vote = |term| Message::Vote {
        term: Term(term),
        transfer: false,
        membership: MembershipId::default(),
    };
    assert!(matches!(
        check(N1, &term_2, &send(N2, vote(2))),
        Err(PersistBarrierViolation::VoteNotDurable { candidate: N1, .. })
    ));
    assert_eq!(
        check(N1, &durable(hard(2, Some(N1))), &send(N2, vote(2))),
        Ok(())
    );
    let grant = Message::VoteResponse {
        term: Term(2),
        granted: true,
    };
    assert!(matches!(
        check(N1, &term_2, &send(N2, grant.clone())),
        Err(PersistBarrierViolation::VoteNotDurable { candidate: N2, .. })
    ));
    assert_eq!(
        check(N1, &durable(hard(2, Some(N2))), &send(N2, grant)),
        Ok(())
    );
    // A Goose's heartbeat shows its vote for itself.
    let heartbeat = Message::Heartbeat {
        term: Term(2),
        sent_tick: 0,
        membership: None,
    };
    assert!(check(N1, &term_2, &send(N2, heartbeat.clone())).is_err());
    assert_eq!(
        check(N1, &durable(hard(2, Some(N1))), &send(N2, heartbeat)),
        Ok(())
    );
    let refusal = |term| Message::VoteResponse {
        term: Term(term),
        granted: false,
    };
    assert_eq!(check(N1, &term_2, &send(N2, refusal(2))), Ok(()));
    assert_eq!(
        check(N1, &term_2, &send(N2, refusal(3))),
        Err(PersistBarrierViolation::TermNotDurable {
            node: N1,
            to: N2,
            kind: "vote_response",
            term: Term(3),
            durable: Term(2),
        })
    );
}

#[test]
fn pre_votes_show_no_term_but_do_show_a_membership() {
    let term_2 = durable(hard(2, None));
    let pre_vote = |membership| Message::PreVote {
        term: Term(3),
        membership,
    };
    assert_eq!(
        check(N1, &term_2, &send(N2, pre_vote(MembershipId::default()))),
        Ok(())
    );
    let granted = Message::PreVoteResponse {
        term: Term(9),
        granted: true,
    };
    assert_eq!(check(N1, &term_2, &send(N2, granted)), Ok(()));
    assert_eq!(
        check(N1, &term_2, &send(N2, pre_vote(membership_id(2, 1)))),
        Err(PersistBarrierViolation::MembershipNotDurable {
            node: N1,
            to: N2,
            kind: "pre_vote",
            membership: membership_id(2, 1),
            durable: MembershipId::default(),
        })
    );
}

#[test]
fn an_ack_or_a_membership_event_needs_its_membership_durable() {
    let term_2 = durable(hard(2, None));
    let ack = Message::HeartbeatAck {
        term: Term(2),
        sent_tick: 0,
        membership: membership_id(2, 1),
    };
    assert!(matches!(
        check(N1, &term_2, &send(N2, ack)),
        Err(PersistBarrierViolation::MembershipNotDurable { .. })
    ));
    let changed = Output::Event(Event::MembershipChanged {
        id: membership_id(2, 1),
    });
    assert!(matches!(
        check(N1, &term_2, &changed),
        Err(PersistBarrierViolation::EventNotDurable {
            event: "MembershipChanged",
            ..
        })
    ));
    let committed = Output::Event(Event::MembershipCommitted {
        id: MembershipId::default(),
    });
    assert_eq!(check(N1, &term_2, &committed), Ok(()));
}

// ----- the driver -----

#[test]
fn a_cluster_elects_at_once_and_its_hosts_hold_what_it_persisted() {
    let mut net = cluster(3);
    let goose = net.elect(1_000).expect("elects");
    net.run_until(100, |net| {
        net.nodes().iter().all(|n| n.leader() == Some(goose))
    })
    .expect("everyone follows");
    assert_eq!(net.geese().collect::<Vec<_>>(), vec![goose]);
    for node in net.nodes() {
        let durable = net.durable(node.id()).expect("up");
        assert_eq!(durable.hard_state(), node.hard_state());
        assert_eq!(durable.membership(), node.membership());
    }
    let counts = net.counts();
    assert_eq!(counts.delivered, net.deliveries().len() as u64);
    assert_eq!((counts.dropped, counts.dropped_no_receiver), (0, 0));
    // Instant delivery: every message arrives in the tick it was sent.
    let sent = net
        .outputs()
        .iter()
        .filter(|o| matches!(o.output, Output::Send { .. }))
        .count();
    assert_eq!(sent, net.deliveries().len());
}

#[test]
fn with_a_delay_messages_arrive_that_many_ticks_later() {
    let mut net = cluster(3).with_delay_ticks(2);
    net.elect(1_000).expect("elects with slower messages too");
    let first_send = net
        .outputs()
        .iter()
        .find(|o| matches!(o.output, Output::Send { .. }))
        .expect("a send")
        .tick;
    assert_eq!(net.deliveries()[0].tick, first_send + 2);
    for delivery in net.deliveries() {
        let sent = Output::Send {
            to: delivery.to,
            msg: delivery.msg.clone(),
        };
        assert!(
            net.outputs().iter().any(|o| o.tick + 2 == delivery.tick
                && o.node == delivery.from
                && o.output == sent),
            "{delivery:?} was sent two ticks earlier"
        );
    }
}

#[test]
fn a_link_cut_one_way_drops_only_that_way() {
    let mut net = cluster(3);
    let goose = net.elect(1_000).expect("elects");
    let duck = if goose == N1 { N2 } else { N1 };
    net.cut(goose, duck);
    assert_eq!(net.link(goose, duck), Link::Cut);
    assert_eq!(net.link(duck, goose), Link::Open);
    net.clear_records();
    for _ in 0..20 {
        net.tick().expect("no breach");
    }
    assert!(net.counts().dropped > 0);
    assert!(
        !net.deliveries()
            .iter()
            .any(|d| (d.from, d.to) == (goose, duck))
    );
    net.open(goose, duck);
    net.tick().expect("no breach");
    assert_eq!(net.goose(), Some(goose));
}

#[test]
fn held_messages_wait_and_are_released_in_send_order() {
    let mut net = cluster(3);
    let goose = net.elect(1_000).expect("elects");
    let duck = if goose == N1 { N2 } else { N1 };
    net.hold(goose, duck);
    for _ in 0..12 {
        net.tick().expect("no breach");
    }
    let held: Vec<u64> = net
        .held()
        .map(|(from, to, msg)| {
            assert_eq!((from, to), (goose, duck));
            match msg {
                Message::Heartbeat { sent_tick, .. } => *sent_tick,
                other => panic!("only heartbeats: {other:?}"),
            }
        })
        .collect();
    assert!(held.len() >= 2 && held.is_sorted(), "{held:?}");
    net.clear_records();
    assert_eq!(net.release(goose, duck), held.len());
    let released: Vec<u64> = net
        .deliveries()
        .iter()
        .map(|d| match d.msg {
            Message::Heartbeat { sent_tick, .. } => sent_tick,
            _ => unreachable!("only heartbeats were held"),
        })
        .collect();
    assert_eq!(released, held);
    // Still held: the next heartbeats wait again, and opening delivers them.
    for _ in 0..6 {
        net.tick().expect("no breach");
    }
    assert!(net.held().count() >= 1);
    net.open(goose, duck);
    net.settle().expect("no breach");
    assert_eq!(net.held().count(), 0);
    net.hold(goose, duck);
    for _ in 0..6 {
        net.tick().expect("no breach");
    }
    let dropped_before = net.counts().dropped;
    let held = net.held().count();
    assert!(held >= 1);
    assert_eq!(net.drop_held(goose, duck), held);
    assert_eq!(net.counts().dropped, dropped_before + held as u64);
    assert_eq!(net.held().count(), 0);
}

#[test]
fn an_isolated_goose_loses_its_lease_and_the_healed_cluster_has_one_goose() {
    let mut net = cluster(5);
    let old = net.elect(1_000).expect("elects");
    net.isolate(old);
    net.run_until(1_000, |net| net.geese().any(|goose| goose != old))
        .expect("the others elect");
    assert_eq!(net.node(old).map(Election::role), Some(Role::Duck));
    net.heal();
    net.run_until(1_000, |net| {
        net.nodes()
            .iter()
            .all(|n| n.leader().is_some() && n.leader() == net.goose())
    })
    .expect("the old Goose follows the new one");
    assert_eq!(net.geese().count(), 1);
}

#[test]
fn a_crash_loses_what_was_not_drained_and_a_restart_loads_what_was() {
    let mut config = Config::new(N1, [N1, N2, N3]);
    config.pre_vote = false;
    let mut net = LockStep::new([Election::new(config, HardState::default(), 1).expect("valid")])
        .expect("one node");
    // Tick without draining until n1 campaigns: its vote is not durable yet.
    while net.node(N1).map(Election::term) == Some(Term(0)) {
        net.tick_only();
    }
    assert_eq!(
        net.node(N1).map(Election::hard_state),
        Some(hard(1, Some(N1)))
    );
    net.crash(N1).expect("up");
    assert_eq!(
        net.durable(N1).map(Durable::hard_state),
        Some(HardState::default())
    );
    assert!(net.node(N1).is_none());
    assert_eq!(net.down().collect::<Vec<_>>(), vec![N1]);
    assert_eq!(net.tick_one(N1), Err(LockStepError::NodeDown(N1)));
    assert_eq!(net.crash(N1), Err(LockStepError::NodeDown(N1)));
    net.restart(N1, 2).expect("down");
    assert_eq!(
        net.node(N1).map(Election::hard_state),
        Some(HardState::default())
    );
    assert_eq!(net.restart(N1, 3), Err(LockStepError::NodeUp(N1)));
    // Now drain: the vote becomes durable, and survives a crash.
    while net.node(N1).map(Election::term) == Some(Term(0)) {
        net.tick().expect("no breach");
    }
    net.crash(N1).expect("up");
    net.restart(N1, 4).expect("down");
    assert_eq!(
        net.node(N1).map(Election::hard_state),
        Some(hard(1, Some(N1)))
    );
    // Its vote requests went to nodes that are not in the network.
    assert!(net.counts().dropped_no_receiver >= 2);
}

#[test]
fn requests_about_unknown_or_duplicate_nodes_are_refused() {
    let mut net = cluster(2);
    let again = Election::new(Config::new(N2, [N1, N2]), HardState::default(), 9).expect("valid");
    assert_eq!(net.add(again), Err(LockStepError::DuplicateNode(N2)));
    assert_eq!(net.tick_one(N3), Err(LockStepError::UnknownNode(N3)));
    assert_eq!(net.crash(N3), Err(LockStepError::UnknownNode(N3)));
    assert_eq!(net.restart(N3, 1), Err(LockStepError::UnknownNode(N3)));
    assert!(net.node(N3).is_none() && net.durable(N3).is_none());
    assert_eq!(
        cluster(2).run_until(3, |_| false),
        Err(LockStepError::Deadline { max_ticks: 3 })
    );
}

#[test]
fn tick_one_moves_only_that_node() {
    let mut net = cluster(3);
    net.tick_one(N2).expect("up");
    let ticks: Vec<u64> = net.nodes().iter().map(Election::now_tick).collect();
    assert_eq!(ticks, vec![0, 1, 0]);
    assert_eq!(net.now_tick(), 1);
}

#[test]
fn without_recording_only_counts_are_kept() {
    let mut net = cluster(3).with_recording(false);
    net.elect(1_000).expect("elects");
    assert!(net.outputs().is_empty() && net.deliveries().is_empty());
    assert!(net.counts().delivered > 0);
}

#[test]
fn a_breach_stops_the_driver() {
    // A one-node Goose proposes a change; handed to the driver before its
    // `PersistMembership` is handled, the driver takes the new membership as
    // durable already, so persisting it again is a breach.
    let mut goose = Election::new(Config::new(N1, [N1]), HardState::default(), 1).expect("valid");
    while goose.membership_pending() != Some(false) {
        goose.tick();
        while goose.poll_output().is_some() {}
    }
    goose.propose_add(N2, "n2:7000").expect("a Goose adds");
    let mut net = LockStep::new([goose]).expect("one node");
    assert!(matches!(
        net.settle(),
        Err(LockStepError::PersistBarrier(
            PersistBarrierViolation::MembershipNotNewer { .. }
        ))
    ));
    // The breaching output is in the log.
    assert!(matches!(
        net.outputs().last().map(|o| &o.output),
        Some(Output::PersistMembership(_))
    ));
}

// ----- shuffled delivery -----

/// The first delivery round of a fresh 5-node cluster (one node's four
/// pre-vote requests), as (from, to), with delivery shuffled by `seed` or not.
fn first_round(shuffle: Option<u64>) -> Vec<(u64, u64)> {
    let mut net = cluster(5);
    if let Some(seed) = shuffle {
        net = net.with_shuffled_delivery(seed);
    }
    net.run_until(1_000, |net| !net.deliveries().is_empty())
        .expect("someone times out");
    net.deliveries()
        .iter()
        .take(4)
        .map(|d| (d.from.0, d.to.0))
        .collect()
}

#[test]
fn shuffled_delivery_reorders_a_round_the_same_way_for_a_seed() {
    let in_send_order = first_round(None);
    let shuffled = first_round(Some(1));

    assert_eq!(in_send_order, vec![(3, 1), (3, 2), (3, 4), (3, 5)]);
    assert_eq!(shuffled, vec![(3, 1), (3, 5), (3, 4), (3, 2)]);
    assert_eq!(first_round(Some(1)), shuffled);
}
