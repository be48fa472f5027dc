//! [`proptest`](mod@proptest) strategies for fault plans and schedules, so that property
//! tests explore (and shrink) the space of hostile worlds, and for arbitrary messages.

use std::ops::RangeInclusive;

use proptest::array::{uniform4, uniform8};
use proptest::prelude::*;

use super::plan::{CommandPlan, FaultPlan, PartitionPlan, PartitionShapes};
use super::schedule::{Action, LinkFaults, PersistSide, Schedule, Target};
use super::trace::SimCommand;
use crate::core::{Membership, MembershipId, Message, NodeId, NodeMetadata, Term};

/// Any [`FaultPlan`] with every fault kind in ranges that suit the default
/// timing (10 ms ticks, 50 ms heartbeats, 300–600 ms election timeouts):
/// latencies from 0.1 to 25 ms with up to 30 ms of jitter, up to 30% loss
/// and 20% duplication, a crash at up to 0.3% of the points where one can
/// fall (see [`FaultPlan::crash_probability`]), partitions of
/// every shape lasting 0.1–3 s, garbage and operator commands. Shrinks
/// towards a quiet network.
pub fn arb_fault_plan() -> impl Strategy<Value = FaultPlan> {
    let network = (
        arb_range(100..=5_000, 0..=20_000),
        0..=30_000_u64,
        0.0..=0.3_f64,
        0.0..=0.2_f64,
    );
    let crashes = (0.0..=0.003_f64, arb_range(0..=500_000, 0..=1_500_000));
    let scheduled = (
        proptest::option::weighted(0.7, arb_partition_plan()),
        proptest::option::of(arb_range(10_000..=200_000, 0..=200_000)),
        proptest::option::of(arb_command_plan()),
    );
    (network, crashes, scheduled).prop_map(
        |(
            (link_latency_us, jitter_us, loss_probability, duplicate_probability),
            (crash_probability, restart_delay_us),
            (partitions, garbage_every_us, commands),
        )| FaultPlan {
            link_latency_us,
            jitter_us,
            loss_probability,
            duplicate_probability,
            crash_probability,
            restart_delay_us,
            partitions,
            garbage_every_us,
            commands,
            schedule: Schedule::new(),
        },
    )
}

/// Any [`PartitionPlan`]: each partition lasts 0.1–3 s, shapes weighted
/// 0–3 each, with a connected spell always possible.
pub fn arb_partition_plan() -> impl Strategy<Value = PartitionPlan> {
    (
        arb_range(100_000..=1_000_000, 0..=2_000_000),
        0..=3_u32,
        0..=3_u32,
        0..=3_u32,
        1..=3_u32,
    )
        .prop_map(
            |(change_every_us, symmetric, one_way, partial, connected)| PartitionPlan {
                change_every_us,
                shapes: PartitionShapes {
                    symmetric,
                    one_way,
                    partial,
                    connected,
                },
            },
        )
}

/// Any [`CommandPlan`]: a command every 0.1–2 s, weights 0–2 each, with
/// transfers always possible.
pub fn arb_command_plan() -> impl Strategy<Value = CommandPlan> {
    (
        arb_range(100_000..=1_000_000, 0..=1_000_000),
        0..=2_u32,
        0..=2_u32,
        1..=2_u32,
    )
        .prop_map(|(every_us, campaign, step_down, transfer)| CommandPlan {
            every_us,
            campaign,
            step_down,
            transfer,
            add: 0,
            remove: 0,
            leave: 0,
        })
}

/// Any [`FaultPlan`] of [`arb_fault_plan`], always with a command plan that
/// changes the membership ([`arb_membership_command_plan`]).
pub fn arb_membership_fault_plan() -> impl Strategy<Value = FaultPlan> {
    (arb_fault_plan(), arb_membership_command_plan()).prop_map(|(plan, commands)| FaultPlan {
        commands: Some(commands),
        ..plan
    })
}

/// Any [`CommandPlan`] with membership changes: a command every 0.1–1.5 s;
/// `add` weighted 1–3 (always possible), `remove` 0–2, `leave` 0–1, and
/// the leadership commands 0–1 each, so that changes race with transfers.
pub fn arb_membership_command_plan() -> impl Strategy<Value = CommandPlan> {
    (
        arb_range(100_000..=700_000, 0..=800_000),
        (0..=1_u32, 0..=1_u32, 0..=1_u32),
        (1..=3_u32, 0..=2_u32, 0..=1_u32),
    )
        .prop_map(
            |(every_us, (campaign, step_down, transfer), (add, remove, leave))| CommandPlan {
                every_us,
                campaign,
                step_down,
                transfer,
                add,
                remove,
                leave,
            },
        )
}

/// Any [`Schedule`] for a run with `total_ids` ids (see
/// [`SimConfig::total_ids`](super::SimConfig::total_ids)): 0 to 12 actions,
/// every kind equally often, at times in `0..span_us` (all at 0 when
/// `span_us` is 0), always valid for those ids
/// ([`Schedule::validate`]), so that a property test scripts faults as
/// freely as it draws random ones.
///
/// A target is the Goose or any id, equally likely (the Goose alone when
/// there is no id); partitions have one to three groups of up to
/// `total_ids + 1` targets; link faults up to 25 ms of latency and 30 ms of
/// jitter with any loss and duplication; pauses of 1 µs to 2 s; clock rates
/// within ±50 000 ppm, the default election's drift bound (see
/// [`Config::drift_bound_ppm`](crate::core::Config::drift_bound_ppm)), so
/// that a run with default election settings must keep every promise;
/// commands of every kind, naming known ids (without ids, only those that
/// name no node). Shrinks towards fewer and earlier actions, and towards the
/// Goose as target.
pub fn arb_schedule(total_ids: usize, span_us: u64) -> impl Strategy<Value = Schedule> {
    proptest::collection::vec((0..span_us.max(1), arb_action(total_ids)), 0..=12).prop_map(
        |actions| {
            actions
                .into_iter()
                .fold(Schedule::new(), |schedule, (at_us, action)| {
                    schedule.at(at_us, action)
                })
        },
    )
}

/// One action of any kind, as [`arb_schedule`] describes. Every part is
/// drawn for every action (a few numbers and a small vector) and the kind
/// picks the parts it uses: one flat tuple, no union of strategies.
fn arb_action(total_ids: usize) -> impl Strategy<Value = Action> {
    let target = move || arb_target(total_ids);
    let groups = proptest::collection::vec(
        proptest::collection::vec(target(), 0..=total_ids + 1),
        1..=3,
    );
    let link = (0..=25_000_u64, 0..=30_000_u64, 0.0..=1.0_f64, 0.0..=1.0_f64).prop_map(
        |(latency_us, jitter_us, loss_probability, duplicate_probability)| LinkFaults {
            latency_us,
            jitter_us,
            loss_probability,
            duplicate_probability,
        },
    );
    let command = (0..6_u8, 1..=total_ids.max(1) as u64);
    (
        0..13_u8,
        (target(), target()),
        groups,
        link,
        any::<bool>(),
        1..=2_000_000_u64,
        -50_000..=50_000_i64,
        command,
    )
        .prop_map(
            move |(kind, (a, b), mut groups, link, before, pause_us, ppm, command)| match kind {
                0 => Action::Cut(a, b),
                1 => Action::CutOneWay(a, b),
                2 => Action::Repair(a, b),
                3 => Action::Isolate(a),
                4 => Action::HealAll,
                5 => {
                    // A partition must name a node.
                    if groups.iter().all(Vec::is_empty) {
                        groups[0].push(a);
                    }
                    Action::Partition(groups)
                }
                6 => Action::SetLink(a, b, link),
                7 => Action::Crash(a),
                8 => Action::CrashAtPersist(
                    a,
                    if before {
                        PersistSide::Before
                    } else {
                        PersistSide::After
                    },
                ),
                9 => Action::Restart(a),
                10 => Action::Pause(a, pause_us),
                11 => Action::SetClockRatePpm(a, ppm),
                _ => Action::Command(a, sim_command(command, total_ids)),
            },
        )
}

/// The Goose or any of the ids `1..=total_ids`, equally likely.
fn arb_target(total_ids: usize) -> impl Strategy<Value = Target> {
    (0..=total_ids as u64).prop_map(|id| match id {
        0 => Target::Goose,
        id => Target::Node(NodeId(id)),
    })
}

/// A command of kind `kind` (0 to 5), naming `id` if it names a node; with
/// no id to name, the kinds that name one become those that do not.
fn sim_command((kind, id): (u8, u64), total_ids: usize) -> SimCommand {
    let id = NodeId(id);
    match (kind, total_ids > 0) {
        (0, _) | (3, false) => SimCommand::Campaign,
        (1, _) | (4, false) => SimCommand::StepDown,
        (2, true) => SimCommand::Transfer(id),
        (3, true) => SimCommand::AddNode(id),
        (4, true) => SimCommand::RemoveNode(id),
        _ => SimCommand::Leave,
    }
}

/// Any [`Message`]: every variant equally often, with arbitrary fields, for
/// testing that whatever arrives is handled without harm (the simulator
/// injects these from non-members; a codec must round-trip them).
///
/// Terms are small (up to 128, where a running cluster's are) half the time
/// and anywhere in `u64` otherwise; membership ids likewise. A heartbeat
/// carries a membership a third of the time, and `NewerMembership` always
/// does: up to four voters and four learners, mostly among small ids (which
/// name real members); addresses for some of them; a joining learner half
/// the time; issued under an arbitrary term, so its id is often newer than
/// any a cluster holds. Such a membership need not be valid (a node may be
/// both voter and learner, or there may be no voter at all). Shrinks
/// towards small terms and ids, and towards `PreVote`.
///
/// Each draw is one flat tuple of a few dozen numbers (no union of
/// strategies; a membership is assembled only for a message that carries
/// one), cheap enough for the simulator to draw its garbage here.
pub fn arb_message() -> impl Strategy<Value = Message> {
    (
        0..10_u8,
        arb_term(),
        any::<u64>(),
        any::<bool>(),
        arb_membership_id(),
        proptest::bool::weighted(1.0 / 3.0),
        arb_membership_parts(),
    )
        .prop_map(
            |(kind, term, number, flag, membership_id, attach, parts)| match kind {
                0 => Message::PreVote {
                    term,
                    membership: membership_id,
                },
                1 => Message::PreVoteResponse {
                    term,
                    granted: flag,
                },
                2 => Message::Vote {
                    term,
                    transfer: flag,
                    membership: membership_id,
                },
                3 => Message::VoteResponse {
                    term,
                    granted: flag,
                },
                4 => Message::Heartbeat {
                    term,
                    sent_tick: number,
                    membership: attach.then(|| Box::new(parts.assemble())),
                },
                5 => Message::HeartbeatAck {
                    term,
                    sent_tick: number,
                    membership: membership_id,
                },
                6 => Message::Leave { term },
                7 => Message::NewerMembership {
                    term,
                    membership: Box::new(parts.assemble()),
                },
                8 => Message::MembershipProbe {
                    term,
                    membership: membership_id,
                },
                _ => Message::TimeoutNow { term },
            },
        )
}

/// A number from one draw: in `0..=small_max` except one time in
/// `anywhere_one_in`, anywhere in `u64` then. Shrinks towards 0.
fn mostly_small(small_max: u64, anywhere_one_in: u64) -> impl Strategy<Value = u64> {
    any::<u64>().prop_map(move |drawn| {
        if drawn.is_multiple_of(anywhere_one_in) {
            drawn
        } else {
            drawn / anywhere_one_in % (small_max + 1)
        }
    })
}

/// A term: small half the time.
fn arb_term() -> impl Strategy<Value = Term> {
    mostly_small(128, 2).prop_map(Term)
}

/// A membership id: a term as [`arb_term`], and a version small half the
/// time.
fn arb_membership_id() -> impl Strategy<Value = MembershipId> {
    (arb_term(), mostly_small(64, 2)).prop_map(|(term, version)| MembershipId { term, version })
}

/// A node id: four times in five a small one, as real members' are.
fn arb_node_id() -> impl Strategy<Value = NodeId> {
    mostly_small(12, 5).prop_map(NodeId)
}

/// The parts of a membership as [`arb_message`] describes it. They are
/// drawn for every message (a few numbers, no allocation) and assembled
/// only for the messages that carry one.
#[derive(Clone, Debug)]
struct MembershipParts {
    /// Up to four voters, then up to four learners.
    ids: [NodeId; 8],
    /// How many voters and learners there are.
    counts: (usize, usize),
    /// The addresses of the first voters and learners, as many as there
    /// are (see [`address`]).
    addresses: [(u64, u16); 4],
    /// A learner added as joining, at that address, if `.0`.
    joining: (bool, NodeId, (u64, u16)),
    /// The term of the Goose that issued it.
    term: Term,
}

fn arb_membership_parts() -> impl Strategy<Value = MembershipParts> {
    let address = (any::<u64>(), any::<u16>());
    (
        uniform8(arb_node_id()),
        (0..=4_usize, 0..=4_usize),
        uniform4(address),
        (any::<bool>(), arb_node_id(), address),
        arb_term(),
    )
        .prop_map(|(ids, counts, addresses, joining, term)| MembershipParts {
            ids,
            counts,
            addresses,
            joining,
            term,
        })
}

impl MembershipParts {
    fn assemble(self) -> Membership {
        let (voter_count, learner_count) = self.counts;
        let voters = &self.ids[..voter_count];
        let learners = &self.ids[4..4 + learner_count];
        let addressed = voters.iter().chain(learners).zip(self.addresses);
        let membership = Membership::new(voters.iter().copied())
            .with_learners(learners.iter().copied())
            .with_addresses(addressed.map(|(id, (host, port))| (*id, address(host, port))));
        // Adding a member again changes nothing: then there is no joining
        // learner. Half the joiners bring metadata, so that codecs see it.
        let (joins, id, (host, port)) = self.joining;
        let metadata = if port % 2 == 1 {
            NodeMetadata::new()
                .with("http", format!("http://{}", address(host, port)))
                .unwrap_or_default()
        } else {
            NodeMetadata::new()
        };
        let membership = joins
            .then(|| {
                membership.adding_with_metadata(self.term, id, &address(host, port), &metadata)
            })
            .and_then(|added| added.ok().flatten())
            .unwrap_or(membership);
        membership.reissued(self.term)
    }
}

/// A `HOST:PORT` address from two numbers: an IPv4 address (the high half
/// of `host`) when `host` is even, a name otherwise.
fn address(host: u64, port: u16) -> String {
    if host.is_multiple_of(2) {
        let [a, b, c, d, ..] = host.to_be_bytes();
        format!("{a}.{b}.{c}.{d}:{port}")
    } else {
        format!("n{}.example:{port}", host / 2)
    }
}

/// A range `start..=start + width`, `start` and `width` drawn from the given
/// ranges.
fn arb_range(
    start: RangeInclusive<u64>,
    width: RangeInclusive<u64>,
) -> impl Strategy<Value = RangeInclusive<u64>> {
    (start, width).prop_map(|(start, width)| start..=start + width)
}

#[cfg(test)]
mod tests {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;

    use super::*;

    #[test]
    fn generated_plans_are_valid() {
        let mut runner = TestRunner::deterministic();
        for _ in 0..200 {
            let plan = arb_fault_plan()
                .new_tree(&mut runner)
                .expect("the strategy never rejects")
                .current();
            assert_eq!(plan.validate(), Ok(()), "{plan:?}");
            let plan = arb_membership_fault_plan()
                .new_tree(&mut runner)
                .expect("the strategy never rejects")
                .current();
            assert_eq!(plan.validate(), Ok(()), "{plan:?}");
            assert!(plan.commands.is_some_and(|c| c.changes_membership()));
        }
    }

    #[test]
    fn generated_schedules_are_valid_and_cover_every_action() {
        let mut runner = TestRunner::deterministic();
        let mut kinds = std::collections::BTreeSet::new();
        let mut commands = std::collections::BTreeSet::new();
        let mut wider_than_one = 0;
        for (total_ids, span_us) in [(5, 3_000_000), (1, 10), (0, 0)] {
            for _ in 0..200 {
                let schedule = arb_schedule(total_ids, span_us)
                    .new_tree(&mut runner)
                    .expect("the strategy never rejects")
                    .current();
                assert_eq!(schedule.validate(total_ids), Ok(()), "{schedule:?}");
                assert!(schedule.len() <= 12);
                // The check is not vacuous: a draw naming n2..n5 fails for one id.
                wider_than_one += usize::from(schedule.validate(1).is_err());
                for (at_us, action) in schedule.iter() {
                    assert!(at_us < span_us.max(1), "{at_us}");
                    // Exhaustive on purpose: a new action must be drawn too.
                    let kind = match action {
                        Action::Cut(..) => "Cut",
                        Action::CutOneWay(..) => "CutOneWay",
                        Action::Repair(..) => "Repair",
                        Action::Isolate(..) => "Isolate",
                        Action::HealAll => "HealAll",
                        Action::Partition(..) => "Partition",
                        Action::SetLink(..) => "SetLink",
                        Action::Crash(..) => "Crash",
                        Action::CrashAtPersist(..) => "CrashAtPersist",
                        Action::Restart(..) => "Restart",
                        Action::Pause(..) => "Pause",
                        Action::SetClockRatePpm(..) => "SetClockRatePpm",
                        Action::Command(_, command) => {
                            commands.insert(
                                format!("{command:?}").replace(|c: char| !c.is_alphabetic(), ""),
                            );
                            "Command"
                        }
                    };
                    kinds.insert(kind);
                }
            }
        }
        assert_eq!(kinds.len(), 13, "{kinds:?}");
        // Every command, by name (`TransferNodeId`: its id is stripped).
        assert_eq!(
            commands.into_iter().collect::<Vec<_>>(),
            [
                "AddNodeNodeId",
                "Campaign",
                "Leave",
                "RemoveNodeNodeId",
                "StepDown",
                "TransferNodeId"
            ]
        );
        assert!(wider_than_one > 20, "{wider_than_one}");
    }

    #[test]
    fn without_ids_a_schedule_targets_the_goose_alone() {
        let mut runner = TestRunner::deterministic();
        for _ in 0..200 {
            let schedule = arb_schedule(0, 1_000)
                .new_tree(&mut runner)
                .expect("the strategy never rejects")
                .current();
            let printed = format!("{schedule:?}");
            assert!(!printed.contains("NodeId"), "{printed}");
        }
    }

    #[test]
    fn arbitrary_messages_cover_every_variant_and_carry_memberships() {
        let mut runner = TestRunner::deterministic();
        let mut kinds = std::collections::BTreeSet::new();
        let (mut attached, mut joining, mut huge_terms) = (0, 0, 0);
        for _ in 0..1_000 {
            let msg = arb_message()
                .new_tree(&mut runner)
                .expect("the strategy never rejects")
                .current();
            // Exhaustive on purpose: a new variant must be added to
            // `arb_message` too.
            let (kind, term) = match &msg {
                Message::PreVote { term, .. } => ("PreVote", term),
                Message::PreVoteResponse { term, .. } => ("PreVoteResponse", term),
                Message::Vote { term, .. } => ("Vote", term),
                Message::VoteResponse { term, .. } => ("VoteResponse", term),
                Message::Heartbeat { term, .. } => ("Heartbeat", term),
                Message::HeartbeatAck { term, .. } => ("HeartbeatAck", term),
                Message::TimeoutNow { term } => ("TimeoutNow", term),
                Message::Leave { term } => ("Leave", term),
                Message::NewerMembership { term, .. } => ("NewerMembership", term),
                Message::MembershipProbe { term, .. } => ("MembershipProbe", term),
            };
            kinds.insert(kind);
            huge_terms += usize::from(term.0 > 128);
            if let Message::Heartbeat {
                membership: Some(membership),
                ..
            }
            | Message::NewerMembership { membership, .. } = &msg
            {
                attached += 1;
                joining += usize::from(membership.joining().len() > 0);
                assert!(membership.id().version >= 1, "issued, not configured");
            }
        }
        assert_eq!(kinds.len(), 10, "{kinds:?}");
        assert!(attached > 50 && joining > 5, "{attached} {joining}");
        assert!(huge_terms > 200 && huge_terms < 800, "{huge_terms}");
    }
}
