//! Schedules: scripted faults written down as data, carried by the plan,
//! replayed from the seed, printed as the Rust that rebuilds them, and
//! keeping every promise whatever they script within the drift bound.

use duckduckgoose::core::NodeId;
use duckduckgoose::sim::strategy::{arb_fault_plan, arb_schedule};
use duckduckgoose::sim::{
    Action, CommandPlan, FaultPlan, PersistSide, Schedule, SimCommand, SimConfig, Simulation,
    Target, TraceKind, Violation,
};
use proptest::prelude::*;

use crate::support::run;

const N1: Target = Target::Node(NodeId(1));
const N3: Target = Target::Node(NodeId(3));
const N5: Target = Target::Node(NodeId(5));

/// A bridge, the Goose deaf, a crash at a persist, a pause past the lease,
/// drift at the bound: one script touching every kind of action.
fn busy_schedule() -> Schedule {
    let bridge = vec![
        vec![N1, Target::Node(NodeId(2)), N3],
        vec![N3, Target::Node(NodeId(4)), N5],
    ];
    Schedule::new()
        .at(800_000, Action::Partition(bridge))
        .at(1_500_000, Action::HealAll)
        .at(1_600_000, Action::CutOneWay(N1, Target::Goose))
        .at(1_600_000, Action::CrashAtPersist(N5, PersistSide::After))
        .at(2_000_000, Action::Pause(Target::Goose, 900_000))
        .at(2_100_000, Action::SetClockRatePpm(N3, -50_000))
        .at(
            2_500_000,
            Action::Command(Target::Goose, SimCommand::Transfer(NodeId(4))),
        )
        .at(3_200_000, Action::Restart(N5))
        .at(3_300_000, Action::Repair(N1, Target::Goose))
}

fn scheduled(seed: u64) -> SimConfig {
    SimConfig::new(5, seed)
        .with_fault_phase_us(4_000_000)
        .with_record_trace(true)
        .with_faults(FaultPlan::none().with_schedule(busy_schedule()))
}

#[test]
fn a_scheduled_run_replays_exactly_from_its_seed() {
    for seed in 0..5 {
        let first = run(scheduled(seed)).unwrap_or_else(|failure| panic!("{failure}"));
        let second = run(scheduled(seed)).unwrap_or_else(|failure| panic!("{failure}"));
        assert_eq!(first, second, "seed {seed}");
        let scripted = first
            .trace
            .iter()
            .filter(|event| matches!(event.kind, TraceKind::Scripted { .. }))
            .count();
        assert_eq!(scripted, 9, "every action is in the trace, run or skipped");
        assert_eq!(
            first.stats.scripted_actions + first.stats.scripted_actions_skipped,
            9
        );
    }
}

#[test]
fn a_schedule_performs_what_the_same_calls_perform() {
    // The schedule's first action, made by hand at the same instant, gives
    // the same trace.
    let plan = FaultPlan::none().with_schedule(Schedule::new().at(500_000, Action::Isolate(N3)));
    let by_schedule = SimConfig::new(5, 9)
        .with_record_trace(true)
        .with_faults(plan);
    let mut simulation = Simulation::new(by_schedule).expect("valid");
    simulation.run_until(1_000_000).expect("safe");
    let mut by_hand = Simulation::new(SimConfig::new(5, 9).with_record_trace(true)).expect("valid");
    // Events due at 500 ms run before an action made "at" 500 ms, as they do
    // before a scheduled action queued after them.
    by_hand.run_until(500_000).expect("safe");
    by_hand.isolate(NodeId(3)).expect("a known node");
    by_hand.run_until(1_000_000).expect("safe");
    assert_eq!(simulation.report().trace, by_hand.report().trace);
}

#[test]
fn a_scheduled_failure_prints_the_schedule_that_replays_it() {
    // Check-quorum off: an isolated Goose never steps down, the rest elect
    // another.
    let mut config = SimConfig::new(3, 4)
        .with_fault_phase_us(5_000_000)
        .with_faults(
            FaultPlan::none()
                .with_schedule(Schedule::new().at(1_000_000, Action::Isolate(Target::Goose))),
        );
    config.election.check_quorum = false;
    let failure = Simulation::new(config.clone())
        .expect("valid")
        .run()
        .unwrap_err();
    assert!(
        matches!(failure.violation, Violation::TwoGeese { .. }),
        "{failure}"
    );
    let shown = failure.to_string();
    assert!(
        shown.contains(
            ".with_schedule(Schedule::new().at(1000000, Action::Isolate(Target::Goose)))"
        ),
        "{shown}"
    );
    // The same config fails again, the same way.
    let again = Simulation::new(config).expect("valid").run().unwrap_err();
    assert_eq!(again.violation, failure.violation);
}

#[test]
fn a_skipped_action_is_recorded_with_its_reason() {
    let plan = FaultPlan::none().with_schedule(
        Schedule::new()
            .at(1, Action::Crash(Target::Goose))
            .at(2, Action::Restart(N1)),
    );
    let config = SimConfig::new(3, 1)
        .with_record_trace(true)
        .with_faults(plan);
    let report = run(config).unwrap_or_else(|failure| panic!("{failure}"));
    assert_eq!(report.stats.scripted_actions_skipped, 2);
    let reasons: Vec<String> = report
        .trace
        .iter()
        .filter_map(|event| match &event.kind {
            TraceKind::Scripted {
                skipped: Some(reason),
                ..
            } => Some(reason.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(reasons, ["no node is the Goose now", "n1 is already up"]);
}

/// Found by `random_schedules_keep_every_promise`: a crash armed for a
/// persist shortly before the heal fired after it, and nothing restarted
/// the node, so the healed cluster never settled. The heal now disarms it.
#[test]
fn regression_a_crash_armed_before_the_heal_does_not_fire_after_it() {
    let schedule = Schedule::new()
        .at(111171, Action::Pause(Target::Node(NodeId(1)), 87899))
        .at(412864, Action::Isolate(Target::Node(NodeId(1))))
        .at(
            805004,
            Action::Repair(Target::Goose, Target::Node(NodeId(1))),
        )
        .at(1626136, Action::Isolate(Target::Node(NodeId(2))))
        .at(2774985, Action::Isolate(Target::Node(NodeId(1))))
        .at(
            3476340,
            Action::CrashAtPersist(Target::Node(NodeId(3)), PersistSide::Before),
        );
    let plan = FaultPlan::none()
        .with_link_latency_us(1438..=7646)
        .with_jitter_us(6907)
        .with_duplicate_probability(0.026975244983557953)
        .with_garbage_every_us(189015..=210849)
        .with_commands(CommandPlan {
            every_us: 146342..=564584,
            campaign: 0,
            step_down: 1,
            transfer: 2,
            add: 0,
            remove: 0,
            leave: 0,
        })
        .with_schedule(schedule);
    let config = SimConfig::new(5, 9571541803059577007)
        .with_fault_phase_us(4_000_000)
        .with_faults(plan);
    let report = run(config).unwrap_or_else(|failure| panic!("{failure}"));
    assert_eq!(report.stats.crashes, 0, "the armed crash never fired");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Whatever a schedule scripts (within the drift bound), on top of any
    /// random plan, every promise holds and the healed cluster settles.
    #[test]
    fn random_schedules_keep_every_promise(
        seed in any::<u64>(),
        plan in arb_fault_plan(),
        schedule in arb_schedule(5, 4_000_000),
    ) {
        let config = SimConfig::new(5, seed)
            .with_fault_phase_us(4_000_000)
            .with_faults(plan.with_schedule(schedule));
        let outcome = Simulation::new(config).expect("valid").run();
        prop_assert!(outcome.is_ok(), "{}", outcome.unwrap_err());
    }
}
