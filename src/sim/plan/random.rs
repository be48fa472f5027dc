//! Seeded random fault plans: one number names a whole hostile world, so a
//! soak run replays from its seed alone.

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

use super::{CommandPlan, FaultPlan, PartitionPlan, PartitionShapes};
use crate::sim::schedule::Schedule;

impl FaultPlan {
    /// A random plan derived from `seed` alone, covering every fault kind
    /// with roughly the ranges of
    /// [`strategy::arb_fault_plan`](crate::sim::strategy::arb_fault_plan).
    /// Soak tests use it so that one number replays a run.
    pub fn random(seed: u64) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        let latency_min_us = rng.random_range(100..=5_000);
        let latency_max_us = latency_min_us + rng.random_range(0..=20_000);
        let restart_min_us = rng.random_range(0..=500_000);
        let restart_max_us = restart_min_us + rng.random_range(0..=1_500_000);
        let partitions = rng.random_bool(0.7).then(|| {
            let min_us = rng.random_range(100_000..=1_000_000);
            PartitionPlan {
                change_every_us: min_us..=min_us + rng.random_range(0..=2_000_000),
                shapes: PartitionShapes {
                    symmetric: rng.random_range(0..=3),
                    one_way: rng.random_range(0..=3),
                    partial: rng.random_range(0..=3),
                    // Never all zero: a connected spell is always possible.
                    connected: rng.random_range(1..=3),
                },
            }
        });
        let garbage_every_us = rng.random_bool(0.5).then(|| {
            let min_us = rng.random_range(10_000..=200_000);
            min_us..=min_us + rng.random_range(0..=200_000)
        });
        let commands = rng.random_bool(0.5).then(|| {
            let min_us = rng.random_range(100_000..=1_000_000);
            CommandPlan {
                every_us: min_us..=min_us + rng.random_range(0..=1_000_000),
                campaign: rng.random_range(0..=2),
                step_down: rng.random_range(0..=2),
                // Never all zero.
                transfer: rng.random_range(1..=2),
                add: 0,
                remove: 0,
                leave: 0,
            }
        });
        FaultPlan {
            link_latency_us: latency_min_us..=latency_max_us,
            jitter_us: rng.random_range(0..=30_000),
            loss_probability: rng.random_range(0.0..=0.3),
            duplicate_probability: rng.random_range(0.0..=0.2),
            crash_probability: rng.random_range(0.0..=0.003),
            restart_delay_us: restart_min_us..=restart_max_us,
            partitions,
            garbage_every_us,
            commands,
            // Scripts are written, not drawn: nothing more is drawn, so
            // old seeds replay unchanged.
            schedule: Schedule::new(),
        }
    }

    /// [`FaultPlan::random`] of the same seed, with membership changes among
    /// the commands: the same faults, and a command plan (drawn from a second
    /// stream derived from `seed`, so the faults stay those of
    /// `random(seed)`) whose add, remove and leave weights are drawn too,
    /// adds always possible.
    pub fn random_with_membership(seed: u64) -> Self {
        const STREAM: u64 = 0x6d65_6d62_6572_7321; // "members!"
        let mut plan = FaultPlan::random(seed);
        let mut rng = StdRng::seed_from_u64(seed ^ STREAM);
        let min_us = rng.random_range(100_000..=1_000_000);
        let mut commands = plan.commands.take().unwrap_or(CommandPlan {
            every_us: min_us..=min_us + rng.random_range(0..=1_000_000),
            campaign: rng.random_range(0..=1),
            step_down: rng.random_range(0..=1),
            transfer: rng.random_range(0..=1),
            add: 0,
            remove: 0,
            leave: 0,
        });
        commands.add = rng.random_range(1..=3);
        commands.remove = rng.random_range(0..=2);
        commands.leave = rng.random_range(0..=1);
        plan.commands = Some(commands);
        plan
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_plans_are_valid_and_seeded() {
        for seed in 0..200 {
            let plan = FaultPlan::random(seed);
            assert_eq!(plan.validate(), Ok(()), "seed {seed}: {plan:?}");
            assert_eq!(plan, FaultPlan::random(seed));
            assert!(plan.schedule.is_empty());
        }
        assert_ne!(FaultPlan::random(1), FaultPlan::random(2));
    }

    #[test]
    fn membership_plans_keep_the_faults_of_their_seed() {
        for seed in 0..200 {
            let plain = FaultPlan::random(seed);
            let plan = FaultPlan::random_with_membership(seed);
            assert_eq!(plan.validate(), Ok(()), "seed {seed}: {plan:?}");
            assert_eq!(plan, FaultPlan::random_with_membership(seed));
            let commands = plan.commands.clone().expect("always commands");
            assert!(commands.add > 0 && commands.changes_membership());
            // Everything but the command plan is the plain plan's.
            assert_eq!(
                FaultPlan {
                    commands: plain.commands.clone(),
                    ..plan
                },
                plain
            );
            assert!(
                !plain
                    .commands
                    .is_some_and(|commands| commands.changes_membership())
            );
        }
    }
}
