//! The data behind Figure 16: crash the Goose of a settled five-node
//! simulated cluster and time how long the others take to replace it, for
//! one election timeout range, many times over.
//!
//! Everything here is deterministic: the simulator is seeded, and the crash
//! instants come from a small counter-based generator ([`splitmix64`]), so a
//! range's seed gives the same trials on every run. No plotting here, so
//! that the tests build without the plotting crate.

use std::ops::RangeInclusive;

use duckduckgoose::core::{Config, NodeId};
use duckduckgoose::sim::{FaultPlan, SimConfig, SimFailure, Simulation};

/// Five voters, as in the paper.
pub const NODES: u64 = 5;

/// How the simulated world is set up, the same for every range.
#[derive(Clone, Debug)]
pub struct Setup {
    /// Nominal tick length: the resolution of every timeout.
    pub tick_us: u64,
    /// One-way delay of every message, drawn per message (uniform).
    pub one_way_us: RangeInclusive<u64>,
    /// The clocks' drift bound; the lease is derived from it.
    pub drift_bound_ppm: u32,
    /// A trial that has no Goose holding a lease this long after the crash
    /// is cut short and counted as capped.
    pub cap_us: u64,
    /// Pre-votes on (the core's default) or off, to see what they cost.
    pub pre_vote: bool,
}

impl Setup {
    /// The setup of the published figure: 1 ms ticks, one-way delays
    /// uniform in 7–8 ms (a round trip of 14–16 ms: the paper's 15 ms
    /// broadcast time, with the followers' timers started within a
    /// millisecond of each other, as the paper's LAN did), quartz-like
    /// clocks (100 ppm), pre-votes on, a 20 s cap.
    pub fn paper() -> Self {
        Setup {
            tick_us: 1_000,
            one_way_us: 7_000..=8_000,
            drift_bound_ppm: 100,
            cap_us: 20_000_000,
            pre_vote: true,
        }
    }
}

/// One of the paper's election timeout ranges, in whole milliseconds, both
/// ends included: "150–155 ms" draws each timeout uniformly from 150, 151,
/// …, 155 ms (with 1 ms ticks; the core's own range is `[min, max)` in
/// ticks, so its upper end is one tick past `max_ms`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimeoutRange {
    /// Shortest election timeout, in milliseconds.
    pub min_ms: u64,
    /// Longest election timeout, in milliseconds (included).
    pub max_ms: u64,
}

impl TimeoutRange {
    /// The range `min_ms`–`max_ms`, both included.
    pub const fn new(min_ms: u64, max_ms: u64) -> Self {
        TimeoutRange { min_ms, max_ms }
    }

    /// "150–155 ms".
    pub fn label(&self) -> String {
        format!("{}–{} ms", self.min_ms, self.max_ms)
    }

    /// The election settings of every node: this timeout range, a heartbeat
    /// every half minimum timeout (as in the paper), the longest lease the
    /// drift bound allows, pre-votes as the setup says, check-quorum on (the
    /// default).
    pub fn election(&self, setup: &Setup) -> Config {
        let ticks = |ms: u64| ms.saturating_mul(1_000) / setup.tick_us.max(1);
        let min_ticks = ticks(self.min_ms);
        Config::new(NodeId(1), (1..=NODES).map(NodeId))
            .with_election_timeout_min_ticks(min_ticks)
            .with_election_timeout_max_ticks(ticks(self.max_ms) + 1)
            .with_heartbeat_interval_ticks((min_ticks / 2).max(1))
            .with_drift_bound_ppm(setup.drift_bound_ppm)
            .with_pre_vote(setup.pre_vote)
    }

    /// Whether a new Goose can ever hold a lease: its first heartbeat must
    /// be acknowledged within the lease, so the lease must outlast the
    /// fastest round trip. Where it cannot, every Goose steps down
    /// unacknowledged and no trial could ever end. (Turning check-quorum off
    /// instead would let a deposed Goose go on believing it leads, which the
    /// simulator rightly fails as two Geese at once.)
    pub fn lease_possible(&self, setup: &Setup) -> bool {
        let lease_us = self
            .election(setup)
            .lease_ticks()
            .saturating_mul(setup.tick_us);
        lease_us > 2 * setup.one_way_us.start()
    }
}

/// What one trial measured, in microseconds after the crash.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Trial {
    /// When another node won the votes (became leader, before any lease).
    pub won_us: Option<u64>,
    /// When another node held a lease (`Simulation::goose`; without
    /// check-quorum, when it won); `None` when the trial hit the cap.
    pub lease_us: Option<u64>,
}

/// Every trial of one range.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RangeRun {
    /// The range.
    pub range: TimeoutRange,
    /// The seed of the range's simulation.
    pub seed: u64,
    /// Whether a lease is possible at all (see
    /// [`TimeoutRange::lease_possible`]); when it is not, no trial is run.
    pub lease_possible: bool,
    /// The trials, in order.
    pub trials: Vec<Trial>,
    /// Trials asked for but not run: no lease is possible, or the cluster
    /// had no settled Goose within [`SETTLE_PATIENCE_CAPS`] caps (after a
    /// capped trial, or at the start), so the run stopped.
    pub not_run: usize,
}

/// How long the cluster may take to settle before a trial (after a capped
/// trial, it is still electing), in caps.
pub const SETTLE_PATIENCE_CAPS: u64 = 6;

/// Why a range could not be measured.
#[derive(Debug, thiserror::Error)]
pub enum TrialError {
    /// The configuration was refused.
    #[error("invalid simulation config: {0}")]
    Config(#[from] duckduckgoose::sim::SimConfigError),
    /// The simulation broke one of its promises: a bug in the core.
    #[error("the simulation failed: {0}")]
    Failed(Box<SimFailure>),
    /// A scripted crash or restart was refused.
    #[error("a scripted action was refused: {0}")]
    Control(#[from] duckduckgoose::sim::ControlError),
}

impl From<SimFailure> for TrialError {
    fn from(failure: SimFailure) -> Self {
        TrialError::Failed(Box::new(failure))
    }
}

/// A 64-bit mix of `x` (splitmix64's finaliser): the crash instants'
/// randomness, the same on every platform and build.
pub fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Runs `trials` trials of `range` in one simulation seeded with `seed`.
///
/// The cluster first settles (a Goose holding a lease, followed by every
/// node, and two maximum timeouts of quiet). Each trial then crashes the
/// Goose at an instant drawn uniformly within one heartbeat interval, so
/// uniformly within its heartbeat cycle, and steps the simulation event by
/// event until another node holds a lease or the cap passes. The crashed
/// node is then restarted from its disk and the cluster settles again
/// before the next trial.
pub fn run_range(
    range: TimeoutRange,
    trials: usize,
    seed: u64,
    setup: &Setup,
) -> Result<RangeRun, TrialError> {
    let election = range.election(setup);
    let heartbeat_us = election.heartbeat_interval_ticks * setup.tick_us;
    let quiet_us = 2 * election.election_timeout_max_ticks * setup.tick_us;
    let lease_possible = range.lease_possible(setup);
    let plan = FaultPlan::none()
        .with_link_latency_us(*setup.one_way_us.start()..=*setup.one_way_us.start())
        .with_jitter_us(setup.one_way_us.end() - setup.one_way_us.start());
    // The fault phase (where the plan's latency applies, and where nothing
    // heals or restarts by itself) outlasts any run.
    let config = SimConfig::new(NODES as usize, seed)
        .with_election(election)
        .with_tick_us(setup.tick_us)
        .with_faults(plan)
        .with_fault_phase_us(u64::MAX / 4);
    let mut sim = Simulation::new(config)?;
    let mut run = RangeRun {
        range,
        seed,
        lease_possible,
        trials: Vec::with_capacity(trials),
        not_run: 0,
    };
    if !lease_possible {
        run.not_run = trials;
        return Ok(run);
    }
    let patience_us = setup.cap_us.saturating_mul(SETTLE_PATIENCE_CAPS);
    for index in 0..trials {
        let Some(goose) = settle(&mut sim, quiet_us, patience_us)? else {
            run.not_run = trials - index;
            break;
        };
        let draw = splitmix64(seed ^ (index as u64).rotate_left(32));
        let crash_at_us = sim.now_us() + draw % heartbeat_us.max(1);
        sim.run_until(crash_at_us)?;
        // Still the Goose: nothing fails by itself in these runs, and
        // `settle` left two timeouts of quiet.
        let old = sim.goose().unwrap_or(goose);
        sim.crash(old)?;
        run.trials.push(measure(&mut sim, old, setup.cap_us)?);
        sim.restart(old)?;
    }
    Ok(run)
}

/// Steps `sim` from the crash of `old` until another node holds a lease, or
/// `cap_us` passes.
fn measure(sim: &mut Simulation, old: NodeId, cap_us: u64) -> Result<Trial, TrialError> {
    let crashed_at_us = sim.now_us();
    let mut trial = Trial::default();
    loop {
        sim.step()?;
        let since_us = sim.now_us() - crashed_at_us;
        if since_us > cap_us {
            return Ok(trial);
        }
        if trial.won_us.is_none() && won(sim, old) {
            trial.won_us = Some(since_us);
        }
        if sim.goose().is_some() {
            trial.lease_us = Some(since_us);
            return Ok(trial);
        }
    }
}

/// Whether a node other than `old` leads now (lease or not).
fn won(sim: &Simulation, old: NodeId) -> bool {
    (1..=NODES)
        .map(NodeId)
        .filter(|id| *id != old)
        .filter_map(|id| sim.node(id))
        .any(|node| node.leader() == Some(node.id()))
}

/// Runs `sim` for `quiet_us`, then until one node holds a lease and every
/// node follows it. Returns that node, or `None` if it takes longer than
/// `patience_us`.
fn settle(
    sim: &mut Simulation,
    quiet_us: u64,
    patience_us: u64,
) -> Result<Option<NodeId>, SimFailure> {
    sim.run_until(sim.now_us() + quiet_us)?;
    let deadline_us = sim.now_us() + patience_us;
    while sim.now_us() <= deadline_us {
        if let Some(leader) = sim.goose()
            && (1..=NODES).all(|id| {
                sim.node(NodeId(id))
                    .is_some_and(|node| node.leader() == Some(leader))
            })
        {
            return Ok(Some(leader));
        }
        sim.step()?;
    }
    Ok(None)
}
