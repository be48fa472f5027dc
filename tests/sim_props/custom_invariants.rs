//! Invariants a user adds with `Simulation::with_invariant`: they see every
//! kind of event, deterministically; one that fails ends the run with a
//! failure naming it; one that holds changes nothing.

use std::sync::{Arc, Mutex};

use duckduckgoose::core::{HardState, Membership, MembershipId, Message, NodeId, Output, Role};
use duckduckgoose::sim::{
    CommandOutcome, CommandPlan, FaultPlan, Invariant, NodeView, SimConfig, SimReport, Simulation,
    Violation,
};

use crate::support::*;

/// How many times each hook was called, and how many views the sweep showed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct HookCounts {
    hard_state: u64,
    output: u64,
    membership: u64,
    command: u64,
    persist: u64,
    persist_membership: u64,
    send: u64,
    membership_event: u64,
    membership_committed: u64,
    crash: u64,
    restart: u64,
    join: u64,
    sweep: u64,
    status: u64,
    /// Views in `on_status` that count as the Goose.
    status_goose: u64,
    goose: u64,
    /// `on_goose` calls for a view that does not count as the Goose: none.
    goose_not_goose: u64,
    /// Views whose `role` and `is_goose` disagree.
    role_not_is_goose: u64,
}

/// Counts every hook into counts shared with the test, which keeps a handle
/// while the simulation owns the invariant.
struct CountHooks(Arc<Mutex<HookCounts>>);

impl CountHooks {
    fn bump(&self, field: impl FnOnce(&mut HookCounts)) {
        field(&mut self.0.lock().expect("not poisoned"));
    }
}

impl Invariant for CountHooks {
    fn name(&self) -> &str {
        "count_hooks"
    }

    fn on_hard_state(&mut self, _: u64, _: NodeId, _: HardState) -> Result<(), Violation> {
        self.bump(|c| c.hard_state += 1);
        Ok(())
    }

    fn on_output(&mut self, _: u64, _: NodeId, _: &Output) -> Result<(), Violation> {
        self.bump(|c| c.output += 1);
        Ok(())
    }

    fn on_membership(&mut self, _: u64, _: NodeId, _: MembershipId) -> Result<(), Violation> {
        self.bump(|c| c.membership += 1);
        Ok(())
    }

    fn on_command(&mut self, _: u64, _: NodeId, _: &CommandOutcome) -> Result<(), Violation> {
        self.bump(|c| c.command += 1);
        Ok(())
    }

    fn on_persist(
        &mut self,
        _: u64,
        _: NodeId,
        _: HardState,
        _: HardState,
    ) -> Result<(), Violation> {
        self.bump(|c| c.persist += 1);
        Ok(())
    }

    fn on_persist_membership(
        &mut self,
        _: u64,
        _: NodeId,
        _: MembershipId,
    ) -> Result<(), Violation> {
        self.bump(|c| c.persist_membership += 1);
        Ok(())
    }

    fn on_send(&mut self, _: u64, _: NodeId, _: NodeId, _: &Message) -> Result<(), Violation> {
        self.bump(|c| c.send += 1);
        Ok(())
    }

    fn on_membership_event(
        &mut self,
        _: u64,
        _: NodeId,
        _: MembershipId,
        committed: bool,
    ) -> Result<(), Violation> {
        self.bump(|c| {
            c.membership_event += 1;
            c.membership_committed += u64::from(committed);
        });
        Ok(())
    }

    fn on_crash(&mut self, _: u64, _: NodeId) {
        self.bump(|c| c.crash += 1);
    }

    fn on_restart(
        &mut self,
        _: u64,
        _: NodeId,
        _: HardState,
        _: &Membership,
    ) -> Result<(), Violation> {
        self.bump(|c| c.restart += 1);
        Ok(())
    }

    fn on_join(&mut self, _: u64, _: NodeId, _: &Membership) {
        self.bump(|c| c.join += 1);
    }

    fn on_sweep(&mut self, _: u64) {
        self.bump(|c| c.sweep += 1);
    }

    fn on_status(&mut self, _: u64, node: &NodeView<'_>) -> Result<(), Violation> {
        self.bump(|c| {
            c.status += 1;
            c.status_goose += u64::from(node.is_goose);
            c.role_not_is_goose += u64::from(node.is_goose != (node.role == Role::Goose));
        });
        Ok(())
    }

    fn on_goose(&mut self, _: u64, node: &NodeView<'_>) -> Result<(), Violation> {
        self.bump(|c| {
            c.goose += 1;
            c.goose_not_goose += u64::from(!node.is_goose);
        });
        Ok(())
    }
}

/// Every fault and every command, membership changes included, with spares
/// to join: a run that calls every hook.
fn eventful_config(seed: u64) -> SimConfig {
    let plan =
        stormy_plan().with_commands(CommandPlan::all(200_000..=600_000).with_membership_changes());
    let mut config = sim_config(3, seed, plan)
        .with_learners(1)
        .with_spare_nodes(2);
    config.fault_phase_us = 10_000_000;
    config
}

fn count_hooks(config: SimConfig) -> (SimReport, HookCounts) {
    let counts = Arc::new(Mutex::new(HookCounts::default()));
    let report = Simulation::new(config)
        .expect("a valid config")
        .with_invariant(CountHooks(Arc::clone(&counts)))
        .run()
        .unwrap_or_else(|failure| panic!("{failure}"));
    let counts = counts.lock().expect("not poisoned").clone();
    (report, counts)
}

/// A user's invariant is fed every kind of event a run with crashes,
/// partitions, commands and joins produces, as many as the run's figures
/// say, and the same ones again when the seed is run again.
#[test]
fn a_user_invariant_sees_every_kind_of_event() {
    let (report, counts) = count_hooks(eventful_config(11));
    let stats = report.stats;
    assert!(stats.crashes > 0 && stats.partitions > 0, "{stats:?}");
    // One sweep per event, one hook per crash, restart, join and command.
    assert_eq!(counts.sweep, stats.events);
    assert_eq!(counts.crash, stats.crashes);
    assert_eq!(counts.restart, stats.restarts);
    assert_eq!(counts.join, stats.nodes_joined);
    assert_eq!(counts.command, stats.commands);
    assert_eq!(counts.send, stats.messages_sent);
    assert_eq!(counts.membership_committed, stats.memberships_committed);
    // `on_goose` comes exactly for the views that count as the Goose.
    assert_eq!(counts.goose, counts.status_goose);
    assert_eq!(counts.goose_not_goose, 0);
    assert_eq!(counts.role_not_is_goose, 0);
    // Every hook was called.
    let every = [
        ("on_hard_state", counts.hard_state),
        ("on_output", counts.output),
        ("on_membership", counts.membership),
        ("on_command", counts.command),
        ("on_persist", counts.persist),
        ("on_persist_membership", counts.persist_membership),
        ("on_send", counts.send),
        ("on_membership_event", counts.membership_event),
        ("on_crash", counts.crash),
        ("on_restart", counts.restart),
        ("on_join", counts.join),
        ("on_sweep", counts.sweep),
        ("on_status", counts.status),
        ("on_goose", counts.goose),
    ];
    for (hook, count) in every {
        assert!(count > 0, "{hook} never called: {counts:?}");
    }
    // Deterministic: the same seed feeds the same events again.
    let (again, counts_again) = count_hooks(eventful_config(11));
    assert_eq!(counts_again, counts);
    assert_eq!(again, report);
}

/// Fails at the first sweep after `after_us` that shows a Goose.
struct NoGooseAfter {
    after_us: u64,
}

impl Invariant for NoGooseAfter {
    fn name(&self) -> &str {
        "no_goose_after_500ms"
    }

    fn on_goose(&mut self, at_us: u64, node: &NodeView<'_>) -> Result<(), Violation> {
        if at_us >= self.after_us {
            return Err(Violation::custom(
                at_us,
                format!("n{} is the Goose in term {}", node.id, node.term),
            ));
        }
        Ok(())
    }
}

fn healthy_config() -> SimConfig {
    let mut config = SimConfig::new(3, 5).with_faults(FaultPlan::none());
    config.fault_phase_us = 2_000_000;
    config
}

/// A healthy cluster keeps its Goose, so "no Goose after 500 ms" breaks at
/// the first sweep from then on: the run fails with a failure that names
/// the invariant, carries its `Violation::Custom`, and shows both.
#[test]
fn a_failing_user_invariant_fails_the_run_and_is_named() {
    let failure = Simulation::new(healthy_config())
        .expect("a valid config")
        .with_invariant(NoGooseAfter { after_us: 500_000 })
        .run()
        .expect_err("the Goose outlives 500 ms");
    assert_eq!(&*failure.invariant, "no_goose_after_500ms");
    assert_eq!(
        failure.violation,
        Violation::Custom {
            at_us: 501_819,
            detail: "n2 is the Goose in term 1".to_owned(),
        }
    );
    let shown = failure.to_string();
    assert!(
        shown.starts_with(
            "simulation failed: at 501819us: n2 is the Goose in term 1\n  invariant: no_goose_after_500ms\n"
        ),
        "{shown}"
    );
    // The same config without the invariant passes: the failure is the
    // invariant's, and replaying needs it added again.
    assert!(Simulation::new(healthy_config()).unwrap().run().is_ok());
    let again = Simulation::new(healthy_config())
        .unwrap()
        .with_invariant(NoGooseAfter { after_us: 500_000 })
        .run()
        .expect_err("replays");
    assert_eq!(again, failure);
}

/// A user invariant that holds leaves the run exactly as it was without it:
/// same figures, same trace.
#[test]
fn a_passing_user_invariant_changes_nothing() {
    for seed in [3, 11] {
        let mut config = eventful_config(seed);
        config.record_trace = true;
        let without = run(config.clone()).unwrap_or_else(|failure| panic!("{failure}"));
        let with = Simulation::new(config)
            .expect("a valid config")
            .with_invariant(NoGooseAfter { after_us: u64::MAX })
            .run()
            .unwrap_or_else(|failure| panic!("{failure}"));
        assert_eq!(with.stats, without.stats, "seed {seed}");
        assert_eq!(with, without, "seed {seed}");
    }
}
