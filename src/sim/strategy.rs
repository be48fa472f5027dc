//! [`proptest`](mod@proptest) strategies for fault plans, so that property tests explore
//! (and shrink) the space of hostile worlds.

use std::ops::RangeInclusive;

use proptest::prelude::*;

use super::plan::{CommandPlan, FaultPlan, PartitionPlan, PartitionShapes};

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
}
