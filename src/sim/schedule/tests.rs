// As a user writes them: the printed form is checked against these imports.
use crate::core::NodeId;
use crate::sim::*;

use super::check_clock_rate_ppm;

fn node(id: u64) -> Target {
    Target::Node(NodeId(id))
}

/// Every kind of action, added out of time order, with ties.
fn every_action() -> Schedule {
    Schedule::new()
        .at(3_000_000, Action::HealAll)
        .at(1_000_000, Action::Cut(node(1), node(2)))
        .at(1_000_000, Action::CutOneWay(Target::Goose, node(3)))
        .at(1_500_000, Action::Repair(node(1), node(2)))
        .at(1_500_000, Action::Isolate(Target::Goose))
        .at(
            2_000_000,
            Action::Partition(vec![
                vec![node(1), node(2), Target::Goose],
                vec![node(3), node(4)],
                vec![],
            ]),
        )
        .at(
            2_000_000,
            Action::SetLink(
                node(1),
                node(2),
                LinkFaults {
                    latency_us: 5_000,
                    jitter_us: 100,
                    loss_probability: 0.25,
                    duplicate_probability: 0.0,
                },
            ),
        )
        .at(2_100_000, Action::Crash(Target::Goose))
        .at(
            2_200_000,
            Action::CrashAtPersist(node(2), PersistSide::Before),
        )
        .at(
            2_200_000,
            Action::CrashAtPersist(node(3), PersistSide::After),
        )
        .at(2_300_000, Action::Restart(node(2)))
        .at(2_400_000, Action::Pause(node(4), 250_000))
        .at(2_500_000, Action::SetClockRatePpm(node(1), -50_000))
        .at(2_500_000, Action::SetClockRatePpm(Target::Goose, 100_000))
        .at(
            2_600_000,
            Action::Command(Target::Goose, SimCommand::Transfer(NodeId(3))),
        )
        .at(2_600_000, Action::Command(node(4), SimCommand::Campaign))
        .at(0, Action::Command(Target::Goose, SimCommand::StepDown))
}

const EVERY_ACTION_PRINTED: &str = "Schedule::new()\
    .at(0, Action::Command(Target::Goose, SimCommand::StepDown))\
    .at(1000000, Action::Cut(Target::Node(NodeId(1)), Target::Node(NodeId(2))))\
    .at(1000000, Action::CutOneWay(Target::Goose, Target::Node(NodeId(3))))\
    .at(1500000, Action::Repair(Target::Node(NodeId(1)), Target::Node(NodeId(2))))\
    .at(1500000, Action::Isolate(Target::Goose))\
    .at(2000000, Action::Partition(vec![vec![Target::Node(NodeId(1)), Target::Node(NodeId(2)), \
    Target::Goose], vec![Target::Node(NodeId(3)), Target::Node(NodeId(4))], vec![]]))\
    .at(2000000, Action::SetLink(Target::Node(NodeId(1)), Target::Node(NodeId(2)), \
    LinkFaults { latency_us: 5000, jitter_us: 100, loss_probability: 0.25, \
    duplicate_probability: 0.0 }))\
    .at(2100000, Action::Crash(Target::Goose))\
    .at(2200000, Action::CrashAtPersist(Target::Node(NodeId(2)), PersistSide::Before))\
    .at(2200000, Action::CrashAtPersist(Target::Node(NodeId(3)), PersistSide::After))\
    .at(2300000, Action::Restart(Target::Node(NodeId(2))))\
    .at(2400000, Action::Pause(Target::Node(NodeId(4)), 250000))\
    .at(2500000, Action::SetClockRatePpm(Target::Node(NodeId(1)), -50000))\
    .at(2500000, Action::SetClockRatePpm(Target::Goose, 100000))\
    .at(2600000, Action::Command(Target::Goose, SimCommand::Transfer(NodeId(3))))\
    .at(2600000, Action::Command(Target::Node(NodeId(4)), SimCommand::Campaign))\
    .at(3000000, Action::HealAll)";

#[test]
fn actions_run_in_time_order_and_ties_in_the_order_they_were_added() {
    let schedule = Schedule::new()
        .at(20, Action::HealAll)
        .at(10, Action::Crash(node(1)))
        .at(20, Action::Restart(node(1)))
        .at(10, Action::Crash(node(2)))
        .at(0, Action::Isolate(node(3)));
    let order: Vec<(u64, Action)> = schedule
        .iter()
        .map(|(at_us, action)| (at_us, action.clone()))
        .collect();
    assert_eq!(
        order,
        [
            (0, Action::Isolate(node(3))),
            (10, Action::Crash(node(1))),
            (10, Action::Crash(node(2))),
            (20, Action::HealAll),
            (20, Action::Restart(node(1))),
        ]
    );
    assert_eq!(schedule.len(), 5);
    assert!(!schedule.is_empty());
    // The order of ties is part of the schedule.
    assert_ne!(
        schedule,
        Schedule::new()
            .at(20, Action::Restart(node(1)))
            .at(20, Action::HealAll)
            .at(10, Action::Crash(node(1)))
            .at(10, Action::Crash(node(2)))
            .at(0, Action::Isolate(node(3)))
    );
}

#[test]
fn an_empty_schedule_is_the_default_and_prints_as_new() {
    let schedule = Schedule::new();
    assert_eq!(schedule, Schedule::default());
    assert_eq!(schedule.len(), 0);
    assert!(schedule.is_empty());
    assert_eq!(schedule.iter().next(), None);
    assert_eq!(format!("{schedule:?}"), "Schedule::new()");
}

#[test]
fn every_action_prints_as_the_expression_that_builds_it() {
    assert_eq!(format!("{:?}", every_action()), EVERY_ACTION_PRINTED);
}

/// The body is [`EVERY_ACTION_PRINTED`] pasted as code (then formatted):
/// the printed form builds the schedule it was printed from.
#[test]
fn the_printed_schedule_builds_an_equal_schedule() {
    let pasted = Schedule::new()
        .at(0, Action::Command(Target::Goose, SimCommand::StepDown))
        .at(
            1000000,
            Action::Cut(Target::Node(NodeId(1)), Target::Node(NodeId(2))),
        )
        .at(
            1000000,
            Action::CutOneWay(Target::Goose, Target::Node(NodeId(3))),
        )
        .at(
            1500000,
            Action::Repair(Target::Node(NodeId(1)), Target::Node(NodeId(2))),
        )
        .at(1500000, Action::Isolate(Target::Goose))
        .at(
            2000000,
            Action::Partition(vec![
                vec![
                    Target::Node(NodeId(1)),
                    Target::Node(NodeId(2)),
                    Target::Goose,
                ],
                vec![Target::Node(NodeId(3)), Target::Node(NodeId(4))],
                vec![],
            ]),
        )
        .at(
            2000000,
            Action::SetLink(
                Target::Node(NodeId(1)),
                Target::Node(NodeId(2)),
                LinkFaults {
                    latency_us: 5000,
                    jitter_us: 100,
                    loss_probability: 0.25,
                    duplicate_probability: 0.0,
                },
            ),
        )
        .at(2100000, Action::Crash(Target::Goose))
        .at(
            2200000,
            Action::CrashAtPersist(Target::Node(NodeId(2)), PersistSide::Before),
        )
        .at(
            2200000,
            Action::CrashAtPersist(Target::Node(NodeId(3)), PersistSide::After),
        )
        .at(2300000, Action::Restart(Target::Node(NodeId(2))))
        .at(2400000, Action::Pause(Target::Node(NodeId(4)), 250000))
        .at(
            2500000,
            Action::SetClockRatePpm(Target::Node(NodeId(1)), -50000),
        )
        .at(2500000, Action::SetClockRatePpm(Target::Goose, 100000))
        .at(
            2600000,
            Action::Command(Target::Goose, SimCommand::Transfer(NodeId(3))),
        )
        .at(
            2600000,
            Action::Command(Target::Node(NodeId(4)), SimCommand::Campaign),
        )
        .at(3000000, Action::HealAll);
    assert_eq!(pasted, every_action());
    assert_eq!(format!("{pasted:?}"), EVERY_ACTION_PRINTED);
}

#[test]
fn link_faults_print_every_probability_as_an_expression() {
    let faults = LinkFaults {
        latency_us: 1,
        jitter_us: 2,
        loss_probability: 1.0,
        duplicate_probability: 1e-7,
    };
    assert_eq!(
        format!("{faults:?}"),
        "LinkFaults { latency_us: 1, jitter_us: 2, loss_probability: 1.0, \
         duplicate_probability: 1e-7 }"
    );
    let faults = LinkFaults {
        loss_probability: f64::NAN,
        duplicate_probability: f64::INFINITY,
        ..faults
    };
    assert_eq!(
        format!("{faults:?}"),
        "LinkFaults { latency_us: 1, jitter_us: 2, loss_probability: f64::NAN, \
         duplicate_probability: f64::INFINITY }"
    );
    let faults = LinkFaults {
        loss_probability: f64::NEG_INFINITY,
        ..faults
    };
    assert!(format!("{faults:?}").contains("loss_probability: f64::NEG_INFINITY,"));
}

#[test]
fn a_valid_schedule_validates() {
    assert_eq!(every_action().validate(4), Ok(()));
    assert_eq!(Schedule::new().validate(0), Ok(()));
    // The Goose needs no id.
    let goose_only = Schedule::new().at(5, Action::Crash(Target::Goose));
    assert_eq!(goose_only.validate(0), Ok(()));
}

#[test]
fn a_node_outside_the_ids_is_rejected_wherever_it_is_named() {
    // n5 in a run of 4 ids, in every place an action names a node.
    let faults = LinkFaults {
        latency_us: 0,
        jitter_us: 0,
        loss_probability: 0.0,
        duplicate_probability: 0.0,
    };
    let actions = [
        Action::Cut(node(1), node(5)),
        Action::CutOneWay(node(5), node(1)),
        Action::Repair(node(5), node(1)),
        Action::Isolate(node(5)),
        Action::Partition(vec![vec![node(1)], vec![node(2), node(5)]]),
        Action::SetLink(node(1), node(5), faults),
        Action::Crash(node(5)),
        Action::CrashAtPersist(node(5), PersistSide::After),
        Action::Restart(node(5)),
        Action::Pause(node(5), 1),
        Action::SetClockRatePpm(node(5), 0),
        Action::Command(node(5), SimCommand::Leave),
        Action::Command(node(1), SimCommand::Transfer(NodeId(5))),
        Action::Command(node(1), SimCommand::AddNode(NodeId(5))),
        Action::Command(node(1), SimCommand::RemoveNode(NodeId(5))),
    ];
    for action in actions {
        let schedule = Schedule::new().at(7, action.clone());
        assert_eq!(
            schedule.validate(4),
            Err(ScheduleError::UnknownNode {
                at_us: 7,
                node: NodeId(5)
            }),
            "{action:?}"
        );
        assert_eq!(schedule.validate(5), Ok(()), "{action:?}");
    }
    // Ids start at 1.
    assert_eq!(
        Schedule::new().at(3, Action::Crash(node(0))).validate(4),
        Err(ScheduleError::UnknownNode {
            at_us: 3,
            node: NodeId(0)
        })
    );
}

#[test]
fn invalid_link_faults_are_rejected() {
    let faults = LinkFaults {
        latency_us: 1_000,
        jitter_us: 0,
        loss_probability: 0.5,
        duplicate_probability: 1.5,
    };
    assert_eq!(
        faults.validate(),
        Err(PlanError::NotAProbability {
            name: "duplicate_probability",
            value: 1.5
        })
    );
    let schedule = Schedule::new().at(9, Action::SetLink(node(1), node(2), faults));
    assert_eq!(
        schedule.validate(2),
        Err(ScheduleError::LinkFaults {
            at_us: 9,
            error: PlanError::NotAProbability {
                name: "duplicate_probability",
                value: 1.5
            }
        })
    );
    let lossy = LinkFaults {
        loss_probability: -0.1,
        duplicate_probability: 0.0,
        ..faults
    };
    assert_eq!(
        lossy.validate(),
        Err(PlanError::NotAProbability {
            name: "loss_probability",
            value: -0.1
        })
    );
    let nan = LinkFaults {
        loss_probability: f64::NAN,
        ..lossy
    };
    assert!(matches!(
        nan.validate(),
        Err(PlanError::NotAProbability {
            name: "loss_probability",
            ..
        })
    ));
    let bounds = LinkFaults {
        loss_probability: 1.0,
        duplicate_probability: 0.0,
        ..faults
    };
    assert_eq!(bounds.validate(), Ok(()));
}

#[test]
fn clock_rates_must_run_forward_and_not_absurdly_fast() {
    assert_eq!(check_clock_rate_ppm(-999_999), Ok(()));
    assert_eq!(check_clock_rate_ppm(0), Ok(()));
    assert_eq!(check_clock_rate_ppm(1_000_000_000), Ok(()));
    for ppm in [-1_000_000, i64::MIN, 1_000_000_001, i64::MAX] {
        assert_eq!(
            check_clock_rate_ppm(ppm),
            Err(ScheduleError::ClockRate { at_us: 0, ppm })
        );
    }
    let schedule = Schedule::new()
        .at(1, Action::SetClockRatePpm(node(1), 1_000_000_000))
        .at(4, Action::SetClockRatePpm(Target::Goose, -1_000_000));
    assert_eq!(
        schedule.validate(1),
        Err(ScheduleError::ClockRate {
            at_us: 4,
            ppm: -1_000_000
        })
    );
}

#[test]
fn a_pause_lasts_at_least_a_microsecond() {
    let schedule = Schedule::new().at(11, Action::Pause(Target::Goose, 0));
    assert_eq!(
        schedule.validate(3),
        Err(ScheduleError::ZeroPause { at_us: 11 })
    );
    let schedule = Schedule::new().at(11, Action::Pause(Target::Goose, 1));
    assert_eq!(schedule.validate(3), Ok(()));
}

#[test]
fn a_partition_names_at_least_one_node() {
    for groups in [vec![], vec![vec![]], vec![vec![], vec![]]] {
        let schedule = Schedule::new().at(12, Action::Partition(groups.clone()));
        assert_eq!(
            schedule.validate(3),
            Err(ScheduleError::EmptyPartition { at_us: 12 }),
            "{groups:?}"
        );
    }
    // One node alone in a group is a partition: it isolates everyone else.
    let schedule = Schedule::new().at(12, Action::Partition(vec![vec![], vec![node(2)]]));
    assert_eq!(schedule.validate(3), Ok(()));
}

#[test]
fn the_first_problem_in_time_order_is_reported() {
    let schedule = Schedule::new()
        .at(20, Action::Pause(node(1), 0))
        .at(10, Action::Crash(node(9)))
        .at(10, Action::Partition(vec![]));
    assert_eq!(
        schedule.validate(3),
        Err(ScheduleError::UnknownNode {
            at_us: 10,
            node: NodeId(9)
        })
    );
}

#[test]
fn errors_say_when_and_what() {
    assert_eq!(
        ScheduleError::UnknownNode {
            at_us: 10,
            node: NodeId(9)
        }
        .to_string(),
        "the action at 10 µs names node 9, which is not one of the run's ids"
    );
    assert_eq!(
        ScheduleError::ZeroPause { at_us: 3 }.at(8).to_string(),
        "the action at 8 µs pauses for 0 µs: a pause lasts at least 1 µs"
    );
    assert_eq!(
        check_clock_rate_ppm(-1_000_000).map_err(|error| error.at(5)),
        Err(ScheduleError::ClockRate {
            at_us: 5,
            ppm: -1_000_000
        })
    );
}
