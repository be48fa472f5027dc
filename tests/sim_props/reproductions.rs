//! Bugs the simulator found, replayed by hand on a lock-step network and
//! kept as regression tests: `campaign()` within stickiness, and the
//! membership deadlocks (classes A to F).

use duckduckgoose::core::Message;
use duckduckgoose::sim::{CommandPlan, FaultPlan, PartitionPlan, PartitionShapes};

use crate::support::*;

// ----- campaign() within stickiness (a fixed core bug) -------------------------------------

/// Campaign-heavy plans: partitions of every shape and a `campaign` to a
/// random node every 0.1–0.3 s. Before `campaign()` refused to run while
/// sticky, the simulator found a second Goose within a few seeds.
#[test]
fn campaign_never_elects_a_second_goose() {
    let plan = FaultPlan::none()
        .with_partitions(PartitionPlan {
            change_every_us: 300_000..=1_000_000,
            shapes: PartitionShapes::all(),
        })
        .with_commands(CommandPlan {
            every_us: 100_000..=300_000,
            campaign: 1,
            step_down: 0,
            transfer: 0,
            ..CommandPlan::all(0..=0)
        });
    for seed in 0..100 {
        let nodes = [3, 5, 7][(seed % 3) as usize];
        if let Err(failure) = run(sim_config(nodes, seed, plan.clone())) {
            panic!("seed {seed}, {nodes} nodes:\n{failure}");
        }
    }
}

/// Regression for a bug the simulator found (seed 342 of
/// `FaultPlan::random`, 3 nodes, 60 s fault phase): `campaign()` used to be
/// accepted within stickiness. Driven by hand on a lossless lock-step network of three
/// nodes G, B and C:
///
/// 1. G is the Goose; then the link G–C is cut both ways. C times out and
///    pre-votes, B refuses (it hears G), so C stays a Duck in G's term, and
///    after `election_timeout_min` C is no longer sticky.
/// 2. G's lease keeps being renewed by B. Now G is cut off from B too, and B
///    (which heard G's heartbeat a tick ago) is told to `campaign()`.
/// 3. B used to grant itself the pre-vote and the vote, C granted both, and B
///    became the Goose of the next term while G's lease still ran: two
///    Geese. Now B refuses to campaign while sticky.
#[test]
fn campaign_within_stickiness_is_refused() {
    use duckduckgoose::core::{Config, Election, HardState, NodeId, Role};

    let ids = [NodeId(1), NodeId(2), NodeId(3)];
    let mut net = LockStep::new(
        ids.iter()
            .map(|id| Election::new(Config::new(*id, ids), HardState::default(), id.0).unwrap())
            .collect(),
    );
    let goose = loop {
        net.tick();
        if let Some(goose) = net.nodes().iter().find(|n| n.role() == Role::Goose) {
            break goose.id();
        }
    };
    let others: Vec<NodeId> = ids.into_iter().filter(|id| *id != goose).collect();
    let (b, c) = (others[0], others[1]);

    net.cut_both_ways(goose, c);
    let timeout_max_ticks = net.node(c).config().election_timeout_max_ticks;
    for _ in 0..2 * timeout_max_ticks {
        net.tick();
    }
    assert_eq!(
        net.node(goose).role(),
        Role::Goose,
        "B keeps G's lease alive"
    );
    assert_eq!(net.node(b).leader(), Some(goose));

    net.cut_both_ways(goose, b);
    assert_eq!(
        net.node(b).campaign(),
        Err(duckduckgoose::core::CommandError::Sticky)
    );
    net.settle();
    // One tick lets B's first heartbeat round be acknowledged by C.
    net.tick();

    let geese: Vec<NodeId> = net
        .nodes()
        .iter()
        .filter(|n| n.role() == Role::Goose)
        .map(|n| n.id())
        .collect();
    assert!(geese.len() <= 1, "two Geese at once: {geese:?}");
}

// ----- membership deadlocks the simulator found -----------------------------------
//
// Liveness bugs: no Goose could ever be elected again (or a member followed
// nobody), though every node was up and the network healed. Classes A to F
// are fixed in the core and kept as regression tests.

/// Class A (seeds 38, 45, 728, ... of `FaultPlan::random_with_membership`):
/// a Goose's uncommitted removal left the removed node unable to help.
///
/// Two voters {G, O}. G proposes removing itself; the heartbeat carrying
/// the change never reaches O (cut), so G's lease runs out before the change
/// commits. G now holds a membership without itself: it never campaigns. O
/// holds the previous membership {G, O} and needs G's vote, which G used to
/// refuse (no voter, and O's membership older than its own): nobody could
/// ever be elected. Fixed: a node outside its own membership grants a
/// candidate holding the membership just before it, so O is elected and
/// re-issues {G, O}. (Class C was the same with G crashed: a node whose
/// stored membership excludes it could not start at all; it now starts as
/// a removed node, and the simulator restarts it.)
#[test]
fn deadlock_after_an_uncommitted_self_removal() {
    use duckduckgoose::core::{Config, Election, HardState, NodeId};

    let ids = [NodeId(1), NodeId(2)];
    let mut net = LockStep::new(
        ids.iter()
            .map(|id| Election::new(Config::new(*id, ids), HardState::default(), id.0).unwrap())
            .collect(),
    );
    let timeout_max_ticks = net.nodes()[0].config().election_timeout_max_ticks;
    let goose = net
        .until_settled_goose(20 * timeout_max_ticks)
        .expect("a Goose is elected");
    let other = ids.into_iter().find(|id| *id != goose).expect("two nodes");

    net.cut_both_ways(goose, other);
    net.node(goose)
        .propose_remove(goose)
        .expect("the Goose may remove itself");
    for _ in 0..2 * timeout_max_ticks {
        net.tick();
    }
    assert_eq!(net.goose(), None, "the lease ran out, uncommitted");
    assert!(!net.node(goose).membership().contains(goose));
    assert!(net.node(other).membership().is_voter(goose));

    net.heal();
    for _ in 0..20 * timeout_max_ticks {
        net.tick();
    }
    let held = |net: &mut LockStep, id| net.node(id).membership().clone();
    let (goose_holds, other_holds) = (held(&mut net, goose), held(&mut net, other));
    assert!(
        net.goose().is_some(),
        "no Goose 20 election timeouts after healing: n{goose} holds {goose_holds:?}, \
         n{other} holds {other_holds:?}"
    );
}

/// Class B (seeds 31, 124, 156, ... of `FaultPlan::random_with_membership`):
/// an uncommitted promotion left the promoted learner unable to help.
///
/// One voter G and a joining learner L. G promotes L (membership {G, L}),
/// but the heartbeat carrying it never reaches L, and G's lease, now needing
/// L, runs out. G needs L's vote; L holds the previous membership, where it
/// is a learner, and used to refuse every (pre-)vote: nobody could ever be
/// elected. (Likewise when G handed over with `step_down`: L dropped
/// `TimeoutNow`, not knowing it was a voter yet.) Fixed: a learner grants a
/// candidate holding a newer membership (votes follow the candidate's
/// membership), and `step_down` only picks a voter that knows it is one.
#[test]
fn deadlock_after_an_uncommitted_promotion() {
    use duckduckgoose::core::{Config, Election, HardState, NodeId};

    let (g, l) = (NodeId(1), NodeId(2));
    let mut net = LockStep::new(vec![
        Election::new(Config::new(g, [g]), HardState::default(), 1).unwrap(),
    ]);
    let timeout_max_ticks = net.nodes()[0].config().election_timeout_max_ticks;
    assert_eq!(net.until_settled_goose(20 * timeout_max_ticks), Some(g));
    net.node(g)
        .propose_add(l, "n2.sim:7000")
        .expect("the Goose adds a learner");
    net.settle();
    // One voter: the add commits at once, and L starts from it (as a joiner
    // does with `JoinReply::Accepted`).
    assert_eq!(net.node(g).membership_pending(), Some(false));
    let mut config = Config::new(l, [g]);
    config.membership = net.node(g).membership().clone();
    net.add(Election::new(config, HardState::default(), 2).unwrap());

    // Tick until G promotes L, and cut them apart before the promotion
    // reaches L.
    let promoted = (0..20 * timeout_max_ticks).any(|_| {
        net.tick_only();
        if net.node(g).membership().is_voter(l) {
            net.cut_both_ways(g, l);
            true
        } else {
            net.settle();
            false
        }
    });
    assert!(promoted, "G promotes L once it has kept up");
    net.settle();
    for _ in 0..2 * timeout_max_ticks {
        net.tick();
    }
    assert_eq!(net.goose(), None, "the lease ran out, uncommitted");
    assert!(net.node(l).membership().is_learner(l));

    net.heal();
    for _ in 0..20 * timeout_max_ticks {
        net.tick();
    }
    let held = |net: &mut LockStep, id| net.node(id).membership().clone();
    let (g_holds, l_holds) = (held(&mut net, g), held(&mut net, l));
    assert!(
        net.goose().is_some(),
        "no Goose 20 election timeouts after healing: G holds {g_holds:?}, L holds {l_holds:?}"
    );
}

/// Class D (the 5-voter proptest case of seed 18203257174122284803, and
/// others): every voter asked to leave, so nobody campaigned.
///
/// Two voters {G, O}. O calls `leave()` while its link to G is cut (its
/// request waits for the next heartbeat); then G calls `leave()`: it hands
/// over to O, which used to drop `TimeoutNow` because it was leaving; and a
/// leaving node never campaigned by itself, so no Goose was ever elected
/// again. Fixed: a leaving node campaigns like any voter (and removes itself
/// once it leads): one of them leads.
#[test]
fn deadlock_when_every_voter_leaves() {
    use duckduckgoose::core::{Config, Election, HardState, NodeId};

    let ids = [NodeId(1), NodeId(2)];
    let mut net = LockStep::new(
        ids.iter()
            .map(|id| Election::new(Config::new(*id, ids), HardState::default(), id.0).unwrap())
            .collect(),
    );
    let timeout_max_ticks = net.nodes()[0].config().election_timeout_max_ticks;
    let goose = net
        .until_settled_goose(20 * timeout_max_ticks)
        .expect("a Goose is elected");
    let other = ids.into_iter().find(|id| *id != goose).expect("two nodes");

    net.cut(other, goose);
    net.node(other).leave().expect("a voter may ask to leave");
    net.node(goose).leave().expect("so may the Goose");
    net.settle();
    assert_eq!(net.goose(), None, "the Goose handed over");

    net.heal();
    for _ in 0..20 * timeout_max_ticks {
        net.tick();
    }
    assert!(
        net.goose().is_some(),
        "no Goose 20 election timeouts after both voters asked to leave"
    );
}

/// Class E (the 5-voter proptest case of seed 2613645950135509915, and
/// others): a member that missed the changes which made the current Goose a
/// member never caught up.
///
/// Three voters {G, X, Y}; X is cut off. G adds N, which is promoted, and
/// hands over to N. Once healed, X still holds {G, X, Y}: it used to drop
/// every heartbeat of N as from a non-member (rule 9), so it never learned
/// the newer membership, and stayed a member following nobody. Fixed: a
/// heartbeat from a non-member carrying a newer membership in which the
/// sender is a voter and this node a member is accepted and adopted.
#[test]
fn stranded_member_that_missed_the_goose_joining() {
    use duckduckgoose::core::{Config, Election, HardState, NodeId};

    let ids = [NodeId(1), NodeId(2), NodeId(3)];
    let newcomer = NodeId(4);
    let mut net = LockStep::new(
        ids.iter()
            .map(|id| Election::new(Config::new(*id, ids), HardState::default(), id.0).unwrap())
            .collect(),
    );
    let timeout_max_ticks = net.nodes()[0].config().election_timeout_max_ticks;
    let goose = net
        .until_settled_goose(20 * timeout_max_ticks)
        .expect("a Goose is elected");
    let lagging = ids
        .into_iter()
        .find(|id| *id != goose)
        .expect("three nodes");
    for other in [NodeId(1), NodeId(2), NodeId(3), newcomer] {
        if other != lagging {
            net.cut_both_ways(lagging, other);
        }
    }

    net.node(goose)
        .propose_add(newcomer, "n4.sim:7000")
        .expect("the Goose adds a node");
    assert_eq!(net.until_settled_goose(10 * timeout_max_ticks), Some(goose));
    let mut config = Config::new(newcomer, ids);
    config.membership = net.node(goose).membership().clone();
    net.add(Election::new(config, HardState::default(), 4).unwrap());
    let promoted = (0..20 * timeout_max_ticks).any(|_| {
        net.tick();
        net.node(goose).membership().is_voter(newcomer)
            && net.node(goose).membership_pending() == Some(false)
    });
    assert!(promoted, "the newcomer is promoted");
    net.node(goose)
        .transfer_leadership(newcomer)
        .expect("a voter takes over");
    assert_eq!(
        net.until_settled_goose(10 * timeout_max_ticks),
        Some(newcomer)
    );
    assert!(!net.node(lagging).membership().contains(newcomer));

    net.heal();
    for _ in 0..20 * timeout_max_ticks {
        net.tick();
    }
    assert_eq!(net.goose(), Some(newcomer));
    let dropped = net.node(lagging).counters().dropped_not_member;
    assert_eq!(
        net.node(lagging).leader(),
        Some(newcomer),
        "n{lagging} follows nobody 20 election timeouts after healing; it dropped {dropped} \
         messages as from non-members"
    );
}

/// Class F (soak seeds 1408, 2264, 293, 2471 of
/// `FaultPlan::random_with_membership`, now in [`membership_regressions`]):
/// a node holding a stale uncommitted removal dropped the vote requests of
/// the removed node, which a later Goose kept, as from a non-member.
///
/// Three voters {A, B, C}, A the Goose.
/// 1. A is cut off from B and proposes removing C: {A, B}. Only C hears of
///    it, then A is cut off from C too. The change cannot commit (it needs
///    B), A's lease runs out.
/// 2. B is elected with C's vote (C grants the membership just before its
///    removal: the fix of class A), re-issues {A, B, C}, which C adopts and
///    which commits, then removes itself: {A, C}. C holds it, A hears of
///    nothing, so it cannot commit; B's lease runs out.
/// 3. Healed: C, a voter of {A, C}, needs A's vote, but A holds {A, B} and
///    drops C's (pre-)votes as from a non-member (rule 9). A needs B's vote,
///    but B is no voter of the membership it holds, {A, C}, and A's {A, B}
///    is not the one just before it (another term), so B refuses. B, no
///    voter, never campaigns. Nobody could ever be elected.
///
/// Fixed: a node answers a (pre-)vote request made with an older
/// membership than its own with `Message::NewerMembership` (besides the
/// refusal), and the candidate adopts it. A asks B, B answers with {A, C},
/// A adopts it (and so knows C), and C, or A, is elected in {A, C}.
#[test]
fn deadlock_when_a_stale_removal_hides_the_candidate() {
    use duckduckgoose::core::{Config, Election, HardState, NodeId};

    let ids = [NodeId(1), NodeId(2), NodeId(3)];
    let mut net = LockStep::new(
        ids.iter()
            .map(|id| Election::new(Config::new(*id, ids), HardState::default(), id.0).unwrap())
            .collect(),
    );
    let timeout_max_ticks = net.nodes()[0].config().election_timeout_max_ticks;
    let a = net
        .until_settled_goose(20 * timeout_max_ticks)
        .expect("a Goose is elected");
    let others: Vec<NodeId> = ids.into_iter().filter(|id| *id != a).collect();
    let (b, c) = (others[0], others[1]);

    // 1.
    net.cut_both_ways(a, b);
    net.node(a).propose_remove(c).expect("the Goose removes C");
    let heard = (0..timeout_max_ticks).any(|_| {
        net.tick();
        !net.held(c).contains(c)
    });
    assert!(heard, "C hears of its removal");
    net.cut_both_ways(a, c);
    let stale = net.held(a);

    // 2.
    let b_leads = (0..20 * timeout_max_ticks).any(|_| {
        net.tick();
        net.goose() == Some(b) && net.node(b).membership_pending() == Some(false)
    });
    assert!(b_leads, "B is elected and its re-issue commits");
    net.node(b).propose_remove(b).expect("B removes itself");
    for _ in 0..2 * timeout_max_ticks {
        net.tick();
    }
    assert_eq!(net.goose(), None, "B's lease ran out, uncommitted");
    let newer = net.held(c);
    assert_eq!(net.held(b), newer);
    assert!(newer.is_voter(a) && newer.is_voter(c) && !newer.contains(b));
    assert!(newer.id() > stale.id() && !stale.contains(c));
    assert_eq!(net.held(a), stale);

    // 3.
    net.heal();
    net.clear_delivered();
    let dropped_before = net.node(a).counters().dropped_not_member;
    let goose = net.until_settled_goose(20 * timeout_max_ticks);
    let (a_holds, dropped) = (
        net.held(a),
        net.node(a).counters().dropped_not_member - dropped_before,
    );
    assert!(
        goose.is_some(),
        "no Goose 20 election timeouts after healing: A held {stale:?} and holds {a_holds:?}, \
         and dropped {dropped} messages as from non-members; C held {newer:?}"
    );
    // The path: B told A about {A, C} (A may or may not have dropped a
    // request of C's first, depending on who campaigns first), and the
    // Goose leads {A, C} (re-issued in its term).
    let told = net.delivered().iter().any(|d| {
        matches!(&d.msg, Message::NewerMembership { membership, .. }
            if (d.from, d.to) == (b, a) && **membership == newer)
    });
    assert!(told, "B answered A's request with {newer:?}");
    let goose = goose.expect("checked above");
    assert!(goose == a || goose == c, "n{goose} leads");
    let led = net.held(goose);
    assert!(led.id() > newer.id() && led.voters().eq(newer.voters()));
    assert_eq!(net.held(a), led);
    assert_eq!(net.held(c), led);
}
