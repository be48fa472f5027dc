//! Rules 5 and 6: the lease, and the bound that keeps it safe under drift.

use duckduckgoose::core::{
    Config, ConfigError, DropReason, Election, Event, HardState, Message, NodeId, Output, Role,
    RoleChangeReason,
};

use crate::support::*;

// ===== rule 5: the lease ======================================================

#[test]
fn rule5_lease_runs_from_the_newest_send_tick_a_majority_acknowledged() {
    // Goose of 5 elected at `ELECTED_AT` with acks from 2 and 3.
    let mut node = goose(1, 5);
    for _ in 0..HEARTBEAT {
        node.tick();
    }
    drain(&mut node);
    let round = ELECTED_AT + HEARTBEAT;

    // The second round acked by 2: only two of five (with the Goose) have
    // seen it.
    node.handle_message(id(2), ack(1, round, reissued(1)));
    assert_eq!(drain(&mut node), vec![]);
    assert_eq!(node.lease_start_tick(), Some(ELECTED_AT));
    assert_eq!(node.lease_remaining_ticks(), Some(LEASE - HEARTBEAT));

    // Acked by 4 too: a majority.
    node.handle_message(id(4), ack(1, round, reissued(1)));
    assert_eq!(drain(&mut node), vec![]);
    assert_eq!(node.lease_start_tick(), Some(round));
    assert_eq!(node.lease_remaining_ticks(), Some(LEASE));
    assert_eq!(node.status().lease_remaining_ticks, Some(LEASE));
}

#[test]
fn rule5_goose_without_acks_becomes_a_duck_at_exactly_the_tick_its_lease_ends() {
    let mut node = goose(1, 3);
    for _ in 1..LEASE {
        node.tick();
    }
    drain(&mut node);
    assert_eq!(node.now_tick(), ELECTED_AT + LEASE - 1);
    assert_eq!(node.role(), Role::Goose);
    assert_eq!(node.lease_remaining_ticks(), Some(1));

    node.tick();

    let outputs = drain(&mut node);
    assert!(
        !outputs.iter().any(|o| matches!(o, Output::Send { .. })),
        "no heartbeat after the lease: {outputs:?}"
    );
    assert_eq!(node.role(), Role::Duck);
    let status = node.status();
    assert_eq!(status.role, Role::Duck);
    assert_eq!(status.leader, None);
    assert_eq!(status.lease_remaining_ticks, None);
    assert_eq!(node.hard_state(), hard(1, Some(1)));
    // It stays a Duck and stops heartbeating.
    for _ in 0..HEARTBEAT * 2 {
        node.tick();
        assert!(
            !drain(&mut node)
                .iter()
                .any(|o| matches!(o, Output::Send { .. }))
        );
    }
}

// Regression: the lease-expiry step-down was once computed after the clock
// moved, when `role()` already said Duck, and went unreported.
#[test]
fn rule5_lease_expiry_is_reported_as_role_changed_lease_expired() {
    let mut node = goose(1, 3);
    for _ in 1..LEASE {
        node.tick();
    }
    drain(&mut node);
    let role_changes = node.counters().role_changes;

    node.tick();

    assert_eq!(
        drain(&mut node),
        vec![
            leader_changed(None, 1),
            role_changed(Role::Duck, 1, RoleChangeReason::LeaseExpired),
        ]
    );
    assert_eq!(node.counters().role_changes, role_changes + 1);
}

#[test]
fn rule5_acks_keep_the_goose_goose() {
    let mut node = goose(1, 3);
    for _ in 0..40 * HEARTBEAT {
        node.tick();
        for output in drain(&mut node) {
            assert!(
                !matches!(output, Output::Event(Event::RoleChanged { .. })),
                "{output:?}"
            );
            // Node 2 alone acks every round: with the Goose, a majority.
            if let Output::Send {
                to: NodeId(2),
                msg:
                    Message::Heartbeat {
                        term,
                        sent_tick,
                        membership: None,
                    },
            } = output
            {
                let membership = node.membership().id();
                node.handle_message(
                    id(2),
                    Message::HeartbeatAck {
                        term,
                        sent_tick,
                        membership,
                    },
                );
                assert_eq!(drain(&mut node), vec![]);
            }
        }
        assert_eq!(node.role(), Role::Goose);
    }
    assert_eq!(node.lease_start_tick(), Some(ELECTED_AT + 40 * HEARTBEAT));
}

#[test]
fn rule5_a_replayed_old_ack_does_not_extend_the_lease() {
    let mut node = goose(1, 3);
    for _ in 0..20 {
        node.tick();
    }
    drain(&mut node);
    assert_eq!(node.lease_start_tick(), Some(ELECTED_AT));

    // The acks of the first round again, from both peers.
    node.handle_message(id(2), ack(1, ELECTED_AT, reissued(1)));
    node.handle_message(id(3), ack(1, ELECTED_AT, reissued(1)));
    assert_eq!(drain(&mut node), vec![]);
    assert_eq!(node.lease_start_tick(), Some(ELECTED_AT));
    assert_eq!(node.lease_remaining_ticks(), Some(LEASE - 20));

    // An ack echoing a tick after the newest round (a forgery) is dropped.
    node.handle_message(id(2), ack(1, ELECTED_AT + 21, reissued(1)));
    assert_eq!(drain(&mut node), vec![dropped(2, DropReason::Unexpected)]);
    assert_eq!(node.lease_start_tick(), Some(ELECTED_AT));

    // So is one echoing a tick between rounds, when no heartbeat was sent.
    node.handle_message(id(2), ack(1, ELECTED_AT + HEARTBEAT + 1, reissued(1)));
    assert_eq!(drain(&mut node), vec![dropped(2, DropReason::Unexpected)]);
    assert_eq!(node.lease_start_tick(), Some(ELECTED_AT));

    for _ in 20..LEASE {
        node.tick();
    }
    assert_eq!(node.role(), Role::Duck);
}

#[test]
fn rule5_a_stale_ack_cannot_pull_the_lease_back() {
    let mut node = goose(1, 3);
    for _ in 0..10 {
        node.tick();
    }
    drain(&mut node);
    node.handle_message(id(2), ack(1, ELECTED_AT + 10, reissued(1)));
    assert_eq!(node.lease_start_tick(), Some(ELECTED_AT + 10));

    // The previous round's ack arrives late, reordered.
    node.handle_message(id(2), ack(1, ELECTED_AT + 5, reissued(1)));

    assert_eq!(drain(&mut node), vec![]);
    assert_eq!(node.lease_start_tick(), Some(ELECTED_AT + 10));
}

// ===== rule 6: the lease bound ================================================

#[test]
fn rule6_max_lease_follows_the_drift_bound_formula() {
    // lease < min · (1 − ρ) / (1 + ρ), less two ticks of rounding.
    let cases = [
        // (min, ρ in ppm, longest lease)
        (30, 50_000, 25),   // 27.14 → 27 → 25
        (100, 0, 97),       // exactly 100 → strictly below: 99 → 97
        (105, 50_000, 92),  // exactly 95 → 94 → 92
        (300, 50_000, 269), // 271.43 → 271 → 269
        (60, 100_000, 47),  // 49.09 → 49 → 47
        (3, 0, 0),          // no lease possible
    ];
    for (min, ppm, expected) in cases {
        let mut config = config(1, 3);
        config.election_timeout_min_ticks = min;
        config.election_timeout_max_ticks = min * 2;
        config.drift_bound_ppm = ppm;
        assert_eq!(config.max_lease_ticks(), expected, "min {min}, {ppm} ppm");
        assert_eq!(
            config.lease_ticks(),
            expected,
            "the default lease is the longest"
        );
    }
}

#[test]
fn rule6_validate_rejects_a_lease_longer_than_the_bound() {
    let mut config = config(1, 3);
    config.lease_override_ticks = Some(LEASE);
    assert_eq!(config.validate(), Ok(()));

    config.lease_override_ticks = Some(LEASE + 1);
    let expected = ConfigError::LeaseTooLong {
        lease_ticks: LEASE + 1,
        max_lease_ticks: LEASE,
    };
    assert_eq!(config.validate(), Err(expected.clone()));
    assert_eq!(
        Election::new(config, HardState::default(), SEED).map(|_| ()),
        Err(expected)
    );
}

#[test]
fn rule6_validate_rejects_a_lease_not_longer_than_the_heartbeat() {
    let mut config = config(1, 3);
    config.lease_override_ticks = Some(HEARTBEAT);
    assert_eq!(
        config.validate(),
        Err(ConfigError::LeaseNotLongerThanHeartbeat {
            lease_ticks: HEARTBEAT,
            heartbeat_interval_ticks: HEARTBEAT,
        })
    );
    config.lease_override_ticks = Some(HEARTBEAT + 1);
    assert_eq!(config.validate(), Ok(()));

    // The default lease, with a heartbeat as long as it.
    let mut config = self::config(1, 3);
    config.heartbeat_interval_ticks = LEASE;
    assert_eq!(
        config.validate(),
        Err(ConfigError::LeaseNotLongerThanHeartbeat {
            lease_ticks: LEASE,
            heartbeat_interval_ticks: LEASE,
        })
    );
}

#[test]
fn rule6_validate_rejects_impossible_timing_and_membership() {
    let check = |change: &dyn Fn(&mut Config), expected: ConfigError| {
        let mut config = config(1, 3);
        change(&mut config);
        assert_eq!(config.validate(), Err(expected));
    };
    check(
        &|c| c.election_timeout_max_ticks = c.election_timeout_min_ticks,
        ConfigError::EmptyElectionTimeoutRange {
            min_ticks: TIMEOUT_MIN,
            max_ticks: TIMEOUT_MIN,
        },
    );
    check(
        &|c| c.election_timeout_max_ticks = 10,
        ConfigError::EmptyElectionTimeoutRange {
            min_ticks: TIMEOUT_MIN,
            max_ticks: 10,
        },
    );
    check(
        &|c| c.heartbeat_interval_ticks = 0,
        ConfigError::ZeroHeartbeatInterval,
    );
    check(&|c| c.id = id(9), ConfigError::NotAMember { id: id(9) });
    check(
        &|c| c.drift_bound_ppm = 500_000,
        ConfigError::DriftBoundTooLarge {
            drift_bound_ppm: 500_000,
        },
    );
    assert_eq!(
        Config::new(id(1), []).validate(),
        Err(ConfigError::NoVoters)
    );
    assert_eq!(config(1, 3).validate(), Ok(()));
}

#[test]
fn rule6_a_cut_off_goose_loses_its_lease_before_the_others_can_elect() {
    for seed in 0..20 {
        let mut cluster = Cluster::new(3, seed);
        let old = cluster.run_until_goose(1_000);
        // Let it settle into steady heartbeats, then cut it off.
        for _ in 0..3 * HEARTBEAT {
            cluster.tick();
        }
        cluster.net.isolate(old);
        let mut lease_end_tick = None;
        let new = loop {
            cluster.tick(); // checks "never two Geese at once" every step
            if lease_end_tick.is_none() && cluster.get(old).role() == Role::Duck {
                lease_end_tick = Some(cluster.net.now_tick());
            }
            if let [goose] = cluster.geese()[..]
                && goose != old
            {
                break goose;
            }
            assert!(cluster.net.now_tick() < 5_000, "seed {seed}: no new Goose");
        };
        let lease_end_tick = lease_end_tick.expect("the old Goose stepped down first");
        assert!(lease_end_tick < cluster.net.now_tick(), "seed {seed}");
        assert!(cluster.get(new).term() > cluster.get(old).term());
    }
}
