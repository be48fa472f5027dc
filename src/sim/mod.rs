//! A deterministic cluster simulator with invariant checkers (feature `sim`),
//! public so that you can test the crate's promises (one Goose per term,
//! one Goose at a time, durable votes, liveness after healing) from your own
//! property tests, and replay any failure from its seed.
//!
//! # The model
//!
//! A [`Simulation`] runs `N` [`Election`](crate::core::Election)s in virtual
//! time, counted in microseconds, with one seeded RNG driving every choice
//! and an event queue ordered by (time, sequence number): the same
//! [`SimConfig`] gives the same run, event for event.
//!
//! * **Members.** [`SimConfig::nodes`] voters with ids `1..=nodes`, then
//!   [`SimConfig::learners`] learners (non-voting members, see
//!   [`Membership`](crate::core::Membership)) with the ids after them. A
//!   learner is simulated exactly like a voter, below: it ticks, is
//!   partitioned, crashes and restarts, receives garbage and commands.
//!   [`SimConfig::spare_nodes`] more ids follow: nodes that do not exist yet
//!   and join when a committed membership names them (see *Commands*).
//! * **Clocks.** Each node ticks every `tick_us / rate`, with its rate drawn
//!   in `[1 − ρ, 1 + ρ]` (`ρ` is the election's `drift_bound_ppm`), the
//!   extremes a third of the time each, and a random phase; a script can
//!   set any rate ([`Simulation::set_clock_rate_ppm`]), and the report shows
//!   every node's ([`SimReport::clock_rates_ppm`]).
//! * **Network** ([`FaultPlan`]). Per-link base latency, per-message jitter
//!   (which reorders), loss and duplication; partitions that change during
//!   the run and are symmetric, one-way or partial (A sees B, B sees C, A does
//!   not see C).
//! * **Crashes.** After any input, while the simulated host drains the
//!   node's outputs, the node may crash at any point (before the first
//!   output, between any two, after the last): the rest are lost. The host
//!   makes an [`Output::Persist`](crate::core::Output) (and an
//!   `Output::PersistMembership`) durable when it handles it, so a crash can
//!   fall on either side of every persist. A crashed node restarts as a new
//!   `Election` built from its durable `HardState` and its durable
//!   membership (as `Config::membership`, like the runtime), with a fresh
//!   seed. A node whose durable membership does not contain it (removed, or
//!   its removal pending when it crashed) restarts too, as a removed node.
//! * **Garbage.** Messages with arbitrary content (drawn from
//!   [`strategy::arb_message`]) claiming to come from ids outside the
//!   cluster (1000 and up) are injected; each must be dropped, counted in
//!   `dropped_not_member`, and leave the node's status unchanged. Forged
//!   messages from *members* are out of scope: members are authenticated
//!   by the transport's cluster key.
//! * **Commands.** `campaign`, `step_down` and `transfer_leadership` are
//!   issued at random, so leadership transfers race with everything else.
//!   `campaign` may be issued to a learner and a transfer may target one:
//!   both must be refused, and are counted in
//!   [`SimStats::learner_commands_refused`].
//! * **Membership changes** ([`CommandPlan::add`], [`CommandPlan::remove`],
//!   [`CommandPlan::leave`]). `propose_add` of a spare that has not joined
//!   and `propose_remove` of any member, the Goose itself included, go to the
//!   Goose if there is one (a Duck must refuse); `leave` goes to anyone.
//!   Refusals are counted ([`SimStats::membership_commands_refused`]). A
//!   spare starts (fresh hard state) when a Goose's host handles the
//!   `MembershipCommitted` of a membership that contains it, with that
//!   membership as its starting one, as the runtime's joiner starts from
//!   `JoinReply::Accepted`. Promotion is the core's own business. The
//!   membership is durable state like the hard state: a crash can fall on
//!   either side of every `PersistMembership`, and a restarted node gets its
//!   last durable membership as `Config::membership`, even one that does
//!   not contain it: like the runtime, the core starts it as a removed node
//!   (it never campaigns, votes only to let the others undo an uncommitted
//!   removal, and takes part again if a newer membership names it). Ids are
//!   never reused: the simulator never adds a removed node back.
//!
//! # What is checked
//!
//! After **every** event:
//!
//! 1. one leader per term (a node leads term `T` when its status says it is
//!    its own leader in `T`);
//! 2. never two Geese at the same virtual instant: a node counts by its
//!    `role()`, except one whose process was paused in this life (its ticks
//!    lag real time, so its role alone is stale), which counts only while
//!    its lease's real-time deadline has not passed, as the runtime's
//!    `is_goose` judges;
//! 3. a live node's term never decreases and its vote never changes within a
//!    term; what a host makes durable never goes back either;
//! 4. no state a node's messages have shown is lost: a restarted node loads
//!    a term at least as high, and the same vote in that term, as any message
//!    it sent proves (a vote request, a granted vote, a heartbeat, any answer
//!    carrying its term); and no node ever sends votes for two candidates in
//!    one term, across restarts;
//! 5. a learner never leads: it is never `role() == Goose` (nor announces
//!    it), its status never names itself leader of its term, it never sends
//!    a granted `VoteResponse` or `PreVoteResponse`, it never starts an
//!    election or pre-vote round (no `ElectionStarted` from it), and no node
//!    accepts `campaign` on a learner or a transfer to one. Outputs are
//!    checked as the core produces them, including those a crash then loses;
//! 6. a node's membership never goes back, in memory (in output order) or on
//!    disk, and a restarted node holds at least the membership its messages
//!    (acks, vote requests, heartbeats, `NewerMembership` answers) said it
//!    held;
//! 7. no two different memberships are ever issued under one id (what a
//!    node holds, and what heartbeats and `NewerMembership` answers carry);
//! 8. a membership's voters differ from those of the one its issuer held
//!    before by at most one node (single-server changes), and a change (not a
//!    re-issue) is made only on a committed membership. The issuer is the
//!    first node to hold it; any other holder adopted it, from the Goose's
//!    heartbeat or from a member's `NewerMembership` (the answer to a vote
//!    request made with an older one), and is not checked as an issuer;
//! 9. a membership a Goose commits is durably held by a majority of its
//!    voters, and a `MembershipChanged`/`MembershipCommitted` event reaches
//!    the host only after that membership is durable;
//! 10. a node never campaigns while its membership does not make it a voter
//!     (removed, or a learner waiting for promotion); such a node grants a
//!     vote or pre-vote only to a candidate that asked with a newer
//!     membership (where it may be a voter already) or with the one its own
//!     was made from (whose change, which took its vote, may be
//!     uncommitted: the others may need this vote to undo it); and a node
//!     removed by a committed change is never the Goose again;
//! 11. a Goose is a voter of its own membership, except while the change
//!     removing it is pending (it steps down when it commits); only a Goose
//!     changes the membership.
//!
//! Then the **liveness** phase: after `fault_phase_us` everything heals
//! (partitions removed, crashed nodes restarted, no more loss, duplication,
//! crashes or commands, latency from `healed_latency_us`) and within
//! [`SimConfig::liveness_bound_us`] (by default ten maximum election
//! timeouts, more when the membership changes) a Goose must appear that is
//! a voter of the latest committed membership and that every live member of
//! its membership, learners included, follows; and every node that joined
//! and was not removed must have been promoted to voter. Otherwise the run
//! fails with [`Violation::NoGooseAfterHeal`] (which shows every node's
//! state) or [`Violation::JoinerNotPromoted`]. Without membership changes
//! this is: a Goose that every node follows.
//!
//! **Your own invariants.** Implement [`Invariant`] for a promise of your
//! application (about terms, who may be the Goose, which messages are sent,
//! ...) and add it with [`Simulation::with_invariant`]: it is fed every
//! event the built-in checks see, after them, and fails the run with a
//! [`Violation::Custom`] it builds. The trait docs have a complete example.
//!
//! During the fault phase the report also measures **liveness under
//! faults**: every stretch in which a majority of the voters is up,
//! running and connected both ways ([`FaultStretch`]), how soon it had a
//! Goose holding its lease, and how many terms it used.
//!
//! # Driving a run yourself
//!
//! Beside the random plans, a run can be scripted, in the style of
//! turmoil: [`Simulation::step`] and [`Simulation::run_until`] advance
//! virtual time ([`Simulation::now_us`]); between steps,
//! [`Simulation::goose`] (the Goose as the runtime's `is_goose` judges it:
//! role and real-time lease), [`Simulation::geese_by_role`] (what the cores
//! believe), [`Simulation::node`] (read access to a node's `Election`) and
//! [`Simulation::report`] look at the cluster, and the control methods aim
//! faults at named nodes or at [`Target::Goose`], whoever leads then:
//!
//! * the network: [`cut`](Simulation::cut),
//!   [`cut_one_way`](Simulation::cut_one_way),
//!   [`repair`](Simulation::repair), [`isolate`](Simulation::isolate),
//!   [`heal_all`](Simulation::heal_all),
//!   [`partition`](Simulation::partition) (groups may overlap: a bridge
//!   node), [`set_link`](Simulation::set_link) (one link's latency,
//!   jitter, loss and duplication);
//! * processes: [`crash`](Simulation::crash),
//!   [`crash_at_persist`](Simulation::crash_at_persist) (just before or
//!   just after the host makes an output durable),
//!   [`restart`](Simulation::restart), [`pause`](Simulation::pause) (no
//!   ticks, messages held, resumed believing what it believed);
//! * clocks: [`set_clock_rate_ppm`](Simulation::set_clock_rate_ppm), within
//!   the drift bound or, for negative controls, beyond it;
//! * commands: [`campaign`](Simulation::campaign),
//!   [`step_down`](Simulation::step_down),
//!   [`transfer`](Simulation::transfer),
//!   [`propose_add`](Simulation::propose_add),
//!   [`propose_remove`](Simulation::propose_remove),
//!   [`leave`](Simulation::leave), each returning the core's answer.
//!
//! Every action is recorded in the trace and checked like an event; the
//! first broken promise fails the run, and it stays failed
//! ([`ControlError::Failed`]). The same actions, written down as data with
//! their times, make a schedule that a fault plan carries and a failure
//! prints, so a scripted failure replays like a random one. Scripted faults
//! last until repaired or until the fault phase ends: the heal at
//! [`SimConfig::fault_phase_us`] undoes every fault, scripted or not, and
//! [`Simulation::run`] then judges liveness as usual. The [`cookbook`]
//! has the classic adversarial scenarios as recipes.
//!
//! A failing run returns a [`SimFailure`] whose `Display` shows the
//! violation (virtual time, nodes, terms), the invariant that found it
//! ([`SimFailure::invariant`]), the seed, the fault plan and the last
//! events; running the same config again, with the same invariants added
//! again (the config does not carry them), replays it exactly.
//!
//! # Property tests in your crate
//!
//! With `duckduckgoose = { features = ["sim"] }` and `proptest` as
//! dev-dependencies, this is a complete property test (mark the function
//! `#[test]` in your test file):
//!
//! ```
//! use duckduckgoose::sim::{SimConfig, Simulation, strategy::arb_fault_plan};
//! use proptest::prelude::*;
//!
//! proptest! {
//!     #![proptest_config(ProptestConfig::with_cases(4))]
//!     fn five_ducks_keep_their_promises(seed in any::<u64>(), plan in arb_fault_plan()) {
//!         let mut config = SimConfig::new(5, seed).with_faults(plan);
//!         config.fault_phase_us = 1_000_000;
//!         let outcome = Simulation::new(config).expect("a valid config").run();
//!         // The failure's Display names the seed and plan that replay it.
//!         prop_assert!(outcome.is_ok(), "{}", outcome.unwrap_err());
//!     }
//! }
//! # five_ducks_keep_their_promises();
//! ```
//!
//! A single run is as simple; this one has three voters and a learner (n4).
//! For membership changes, add spare nodes and a plan with membership
//! commands, such as [`FaultPlan::random_with_membership`] or
//! [`strategy::arb_membership_fault_plan`].
//!
//! ```
//! use duckduckgoose::sim::{FaultPlan, SimConfig, Simulation};
//!
//! let config = SimConfig::new(3, 7).with_learners(1).with_faults(FaultPlan::random(7));
//! let report = Simulation::new(config).unwrap().run().unwrap_or_else(|failure| panic!("{failure}"));
//! assert!(report.stats.geese >= 1);
//! ```

mod checker;
mod config;
pub mod cookbook;
mod engine;
pub mod lockstep;
mod network;
mod plan;
#[cfg(feature = "__planted-bugs")]
mod planted;
mod queue;
mod report;
mod schedule;
pub mod strategy;
mod trace;

#[cfg(feature = "__planted-bugs")]
#[doc(hidden)]
pub use crate::core::Mutation;
pub use checker::{CommandOutcome, DisplayMembership, Invariant, NodeView, Violation};
pub use config::{SimConfig, SimConfigError};
pub use engine::{ControlError, Simulation};
pub use lockstep::{LockStep, LockStepError};
pub use plan::{CommandPlan, FaultPlan, PartitionPlan, PartitionShapes, PlanError};
#[cfg(feature = "__planted-bugs")]
#[doc(hidden)]
pub use planted::{HostBug, PlantedMutation};
pub use report::{FaultStretch, SimFailure, SimReport, SimStats};
pub use schedule::{Action, LinkFaults, PersistSide, Schedule, ScheduleError, Target};
pub use trace::{SendFate, SimCommand, TraceEvent, TraceKind};
