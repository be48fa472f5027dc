//! The membership checkers are not vacuous: planted bugs in membership
//! changes (in the core or in the host) are caught.

use duckduckgoose::core::{Message, Mutation, NodeId, Role};
use duckduckgoose::sim::{
    FaultPlan, HostBug, PartitionShapes, PlantedMutation, SimConfig, SimFailure, Violation,
};

use crate::support::*;

// ----- the membership checkers are not vacuous ------------------------------------

/// Runs seeds with `mutation` planted in every node (or `host_bug` in every
/// host) on membership-heavy runs until one fails with a violation `caught`
/// accepts (the checker meant to catch that bug); returns the seed and the
/// failure. See [`first_caught`].
fn first_membership_failure(
    mutation: Option<Mutation>,
    host_bug: Option<HostBug>,
    plan: impl Fn(u64) -> FaultPlan,
    spares: usize,
    caught: impl Fn(&Violation) -> bool,
) -> Option<(u64, Box<SimFailure>)> {
    let planted = match (mutation, host_bug) {
        (Some(mutation), _) => format!("{mutation:?}"),
        (None, Some(host_bug)) => format!("{host_bug:?}"),
        (None, None) => "no planted bug".to_owned(),
    };
    let setup = |seed| {
        let nodes = [3, 5][(seed % 2) as usize];
        let mut config = sim_config(nodes, seed, plan(seed)).with_spare_nodes(spares);
        config.fault_phase_us = 20_000_000;
        config.mutation = mutation.map(PlantedMutation::everywhere);
        config.host_bug = host_bug;
        config
    };
    first_caught(&planted, setup, caught)
}

/// Runs `setup(seed)` for seeds `0..MUTATION_SEED_BUDGET * 5` until one
/// fails with a violation `caught` accepts; returns the seed and the
/// failure. Runs failing otherwise first (a planted bug may break other
/// promises, or liveness, before the one under test) are skipped, and
/// counted in the message.
fn first_caught(
    planted: &str,
    setup: impl Fn(u64) -> SimConfig,
    caught: impl Fn(&Violation) -> bool,
) -> Option<(u64, Box<SimFailure>)> {
    let mut failed_otherwise = 0;
    let found = (0..MUTATION_SEED_BUDGET * 5).find_map(|seed| match run(setup(seed)) {
        Err(failure) if caught(&failure.violation) => Some((seed, failure)),
        Err(_) => {
            failed_otherwise += 1;
            None
        }
        Ok(_) => None,
    });
    if let Some((seed, failure)) = &found {
        println!(
            "{planted} caught with seed {seed} ({failed_otherwise} runs failed otherwise before): {}",
            failure.violation
        );
    }
    found
}

/// Invariant: a node's membership never goes back, across restarts. A host
/// that loses what it was told to make durable (no fsync) restarts nodes
/// with an older membership than their acknowledgements claimed.
#[test]
fn a_membership_that_is_not_made_durable_is_caught() {
    first_membership_failure(
        None,
        Some(HostBug::ForgetMembership),
        FaultPlan::random_with_membership,
        2,
        |violation| {
            matches!(
                violation,
                Violation::ExposedMembershipLost { .. }
                    | Violation::MembershipWentBack { durable: true, .. }
            )
        },
    )
    .expect("a forgotten membership must be caught within the seed budget");
}

/// Invariant: a change is made only on a committed membership. A new Goose
/// that does not re-issue the membership (and so does not wait for a
/// majority-acknowledged round in its term) changes an uncommitted one.
#[test]
fn a_change_on_an_uncommitted_membership_is_caught() {
    first_membership_failure(
        Some(Mutation::NoReissue),
        None,
        membership_storm,
        2,
        |violation| matches!(violation, Violation::ChangeOnUncommittedBase { .. }),
    )
    .expect("NoReissue must be caught within the seed budget");
}

/// Membership growth: spares are added and promoted while symmetric
/// partitions come and go; nothing is removed and nobody hands over.
fn membership_growth(seed: u64) -> FaultPlan {
    let mut plan = membership_storm(seed);
    if let Some(partitions) = &mut plan.partitions {
        partitions.shapes = PartitionShapes {
            symmetric: 1,
            one_way: 0,
            partial: 0,
            connected: 0,
        };
    }
    if let Some(commands) = &mut plan.commands {
        (commands.transfer, commands.remove) = (0, 0);
    }
    plan
}

/// Invariants: one Goose per term, one at a time, and a removed node never
/// leads again, across changes. A voter that grants votes to candidates
/// holding an older membership lets a node that missed two changes (the
/// fewest that make the majorities of the two memberships disjoint) be
/// elected by the old voters while the Goose of the new ones still holds
/// its lease: two Geese. (A stale candidate that is *refused* learns the
/// newer membership from the refusal, `NewerMembership`, and gives up; the
/// planted bug grants instead: see
/// [`a_voter_that_grants_a_candidate_two_changes_behind_makes_a_second_goose`]
/// for the mechanism on a lock-step network.)
///
/// Two kinds of runs alternate: `membership_storm` with the bug in every
/// node, and `membership_growth` (six spares join and are promoted, nobody
/// is removed) with the bug in the first voters only, which stay voters:
/// there nothing but its consequences can catch it (non-voters that grant
/// older candidates are caught first by the vote check of
/// [`votes_by_non_voters_for_older_memberships_are_caught`]).
#[test]
fn votes_for_candidates_with_an_older_membership_are_caught() {
    let setup = |seed: u64| {
        let nodes = [3, 5][(seed % 2) as usize];
        let grow = seed % 4 >= 2;
        let (plan, spares) = if grow {
            (membership_growth(seed), 6)
        } else {
            (membership_storm(seed), 4)
        };
        let mut config = sim_config(nodes, seed, plan).with_spare_nodes(spares);
        config.fault_phase_us = 20_000_000;
        config.mutation = Some(PlantedMutation {
            mutation: Mutation::SkipMembershipVoteCheck,
            nodes: grow.then(|| (1..=nodes as u64).map(NodeId).collect()),
        });
        config
    };
    first_caught("SkipMembershipVoteCheck", setup, |violation| {
        matches!(
            violation,
            Violation::RemovedNodeIsGoose { .. }
                | Violation::TwoGeese { .. }
                | Violation::TwoLeadersInTerm { .. }
        )
    })
    .expect("SkipMembershipVoteCheck must be caught within the seed budget");
}

/// The mechanism behind [`votes_for_candidates_with_an_older_membership_are_caught`],
/// replayed on a lock-step network: three voters {G, S, W}, G the Goose.
/// S is cut off while G adds and promotes n4, then n5: S still holds the
/// first membership, W holds {G, S, W, n4, n5}. Then {S, W} are cut off
/// from {G, n4, n5}, which keep G's lease (3 of 5). Once W no longer hears
/// G, S asks W for its vote on the old membership, where {S, W} is a
/// majority.
///
/// With the vote check, W refuses and answers with its membership
/// (`NewerMembership`): S adopts it and gives up, G stays the only Goose.
/// With the check skipped in W alone, W grants, S is elected and gets a
/// lease from W while G's runs: two Geese at once.
#[test]
fn a_voter_that_grants_a_candidate_two_changes_behind_makes_a_second_goose() {
    for skip_check in [false, true] {
        let (mut net, g, s, w) = two_changes_behind();
        if skip_check {
            net.node(w).set_mutation(Mutation::SkipMembershipVoteCheck);
        }
        let timeout_max_ticks = net.nodes()[0].config().election_timeout_max_ticks;
        let two_geese = (0..10 * timeout_max_ticks).any(|_| {
            net.tick();
            net.nodes()
                .iter()
                .filter(|n| n.role() == Role::Goose)
                .count()
                > 1
        });
        if skip_check {
            assert!(two_geese, "S is elected by W while G leads");
            assert_eq!(net.node(s).role(), Role::Goose);
            assert_eq!(net.node(g).role(), Role::Goose);
            continue;
        }
        assert!(!two_geese, "W refuses S");
        assert_eq!(net.goose(), Some(g));
        let newer = net.held(w);
        let told = net.delivered().iter().any(|d| {
            matches!(&d.msg, Message::NewerMembership { membership, .. }
                if (d.from, d.to) == (w, s) && **membership == newer)
        });
        assert!(told, "W answered S's request with {newer:?}");
        assert_eq!(net.held(s), newer, "S caught up");
    }
}

/// The setting of
/// [`a_voter_that_grants_a_candidate_two_changes_behind_makes_a_second_goose`]:
/// the network and (G, S, W), with {S, W} just reconnected to each other
/// and W no longer sticky.
fn two_changes_behind() -> (LockStep, NodeId, NodeId, NodeId) {
    use duckduckgoose::core::{Config, Election, HardState};

    let ids = [NodeId(1), NodeId(2), NodeId(3)];
    let mut net = LockStep::new(
        ids.iter()
            .map(|id| Election::new(Config::new(*id, ids), HardState::default(), id.0).unwrap())
            .collect(),
    );
    let config = net.nodes()[0].config().clone();
    let (timeout_min_ticks, timeout_max_ticks) = (
        config.election_timeout_min_ticks,
        config.election_timeout_max_ticks,
    );
    let g = net
        .until_settled_goose(20 * timeout_max_ticks)
        .expect("a Goose is elected");
    let others: Vec<NodeId> = ids.into_iter().filter(|id| *id != g).collect();
    let (s, w) = (others[0], others[1]);
    let first = net.held(s);

    net.cut_both_ways(s, g);
    net.cut_both_ways(s, w);
    for joiner in [NodeId(4), NodeId(5)] {
        net.cut_both_ways(s, joiner);
        net.node(g)
            .propose_add(joiner, &format!("n{joiner}.sim:7000"))
            .expect("the Goose adds a node");
        assert_eq!(net.until_settled_goose(10 * timeout_max_ticks), Some(g));
        let mut config = Config::new(joiner, ids);
        config.membership = net.held(g);
        net.add(Election::new(config, HardState::default(), joiner.0).unwrap());
        let promoted = (0..20 * timeout_max_ticks).any(|_| {
            net.tick();
            net.held(g).is_voter(joiner) && net.node(g).membership_pending() == Some(false)
        });
        assert!(promoted, "n{joiner} is promoted");
    }
    assert_eq!(net.held(s), first, "S missed both changes");
    assert_eq!(net.held(w), net.held(g));
    assert_eq!(net.held(w).voters().count(), 5);

    net.heal();
    for a in [s, w] {
        for b in [g, NodeId(4), NodeId(5)] {
            net.cut_both_ways(a, b);
        }
    }
    net.cut_both_ways(s, w);
    for _ in 0..=timeout_min_ticks {
        net.tick();
    }
    assert_eq!(net.goose(), Some(g), "n4 and n5 keep G's lease");
    net.open_both_ways(s, w);
    net.clear_delivered();
    (net, g, s, w)
}

/// Invariant: a node that is not a voter of its membership grants a vote
/// only to a candidate holding a newer membership or the one its own was
/// made from. Skipping the membership check makes removed nodes and waiting
/// learners vote for candidates holding anything.
#[test]
fn votes_by_non_voters_for_older_memberships_are_caught() {
    first_membership_failure(
        Some(Mutation::SkipMembershipVoteCheck),
        None,
        membership_storm,
        4,
        |violation| matches!(violation, Violation::NonVoterGrantedVote { .. }),
    )
    .expect("SkipMembershipVoteCheck must be caught by the vote check within the seed budget");
}

/// Invariant: a membership a Goose commits is durably held by a majority of
/// its voters. Counting the holders among the voters before the change
/// commits a promotion that only the old majority holds: {G, L} promoting L
/// commits as soon as G alone holds it.
#[test]
fn a_commit_counted_on_the_old_voters_is_caught() {
    first_membership_failure(
        Some(Mutation::CommitOnOldVoters),
        None,
        membership_storm,
        2,
        |violation| matches!(violation, Violation::CommittedWithoutMajority { .. }),
    )
    .expect("CommitOnOldVoters must be caught within the seed budget");
}

/// Invariant: a node never campaigns while its membership does not contain
/// it. A removed node that keeps campaigning is caught at its first pre-vote
/// round (before it can disrupt or win anything).
#[test]
fn a_removed_node_that_campaigns_is_caught() {
    first_membership_failure(
        Some(Mutation::RemovedStillCampaigns),
        None,
        membership_storm,
        2,
        |violation| matches!(violation, Violation::RemovedNodeCampaigned { .. }),
    )
    .expect("RemovedStillCampaigns must be caught within the seed budget");
}

/// Invariants: a Goose is a voter of its own membership except while its
/// removal is pending, and a node removed by a committed change is never the
/// Goose. A Goose that keeps leading once its own removal committed breaks
/// both.
#[test]
fn a_removed_goose_that_keeps_leading_is_caught() {
    first_membership_failure(
        Some(Mutation::NoStepDownOnRemoval),
        None,
        membership_storm,
        2,
        |violation| {
            matches!(
                violation,
                Violation::RemovedNodeIsGoose { .. } | Violation::GooseNotAVoter { .. }
            )
        },
    )
    .expect("NoStepDownOnRemoval must be caught within the seed budget");
}

// `Mutation::LeaseOverNewVotersOnly` (while a change is pending, the lease
// counts only the new voters) has no test: with single-server changes every
// majority of the new voters meets every majority of the old ones, so a
// lease acknowledged by a majority of the new voters alone already excludes
// any other Goose, from either configuration, and no checker can catch it.
// The core requires both majorities as a margin, not for safety.
