//! Recipes for driving the simulator by hand: the scenarios that break
//! leader elections in the field, each scripted against named nodes (or
//! whoever is the Goose) and checked.
//!
//! Every recipe builds a [`Simulation`](super::Simulation) without random
//! faults, waits for a Goose, aims a fault at it, and asserts what the
//! cluster does. Every event and every control action is followed by every
//! invariant check of the [`sim`](super) module, so `?` on
//! [`step`](super::Simulation::step), [`run_until`](super::Simulation::run_until)
//! or a control method fails the recipe at the first broken promise (two
//! Geese, a lost vote, ...), with a [`SimFailure`](super::SimFailure) that
//! shows the violation, the seed and the last events. Each recipe ends with
//! [`run`](super::Simulation::run), which heals everything at the end of the
//! fault phase (kept short here) and requires a settled Goose. A seed
//! replays a run exactly, so the node ids the recipes meet are always the
//! same.
//!
//! # A bridge between two halves
//!
//! Nodes 1, 2, 3 and 3, 4, 5 see each other, joined only through node 3
//! (openraft #2080): a Goose at one end is unheard by 4 and 5, whose
//! campaigns must not depose it. Pre-votes and stickiness (node 3 hears the
//! Goose and refuses) keep exactly one Goose in place.
//!
//! ```
//! use duckduckgoose::core::NodeId;
//! use duckduckgoose::sim::{SimConfig, Simulation};
//!
//! let mut sim = Simulation::new(SimConfig::new(5, 3).with_fault_phase_us(2_000_000))?;
//! while sim.goose().is_none() { sim.step()?; }
//! let goose = sim.goose();
//! let [n1, n2, n3, n4, n5] = [1, 2, 3, 4, 5].map(NodeId);
//! assert_eq!(goose, Some(n1)); // at one end of the bridge, unheard by n4 and n5
//! sim.partition(&[&[n1, n2, n3], &[n3, n4, n5]])?;
//! sim.run_until(sim.now_us() + 1_500_000)?; // never two Geese, at any event
//! assert_eq!(sim.goose(), goose);
//! assert_eq!(sim.geese_by_role(), [n1]);
//! sim.run()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # A Goose that cannot hear, or cannot speak
//!
//! A one-way cut is the failure symmetric timeouts miss: a deaf Goose
//! (nothing reaches it) still heartbeats, so the Ducks keep following it;
//! a mute one (nothing leaves it) still hears the Ducks campaign. Either way
//! it must step down when its lease runs out unacknowledged, and another
//! node take over.
//!
//! ```
//! use duckduckgoose::core::{NodeId, Role};
//! use duckduckgoose::sim::{SimConfig, Simulation};
//!
//! for deaf in [true, false] {
//!     let mut sim = Simulation::new(SimConfig::new(5, 3).with_fault_phase_us(2_000_000))?;
//!     while sim.goose().is_none() { sim.step()?; }
//!     let old = sim.goose().expect("a Goose");
//!     for other in (1..=5).map(NodeId).filter(|id| *id != old) {
//!         let (from, to) = if deaf { (other, old) } else { (old, other) };
//!         sim.cut_one_way(from, to)?;
//!     }
//!     sim.run_until(sim.now_us() + 1_500_000)?;
//!     assert!(sim.goose().is_some_and(|new| new != old));
//!     assert_eq!(sim.node(old).map(|node| node.role()), Some(Role::Duck));
//!     sim.run()?;
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Clocks at the drift bound
//!
//! The lease is safe only while clocks drift within `drift_bound_ppm`. The
//! risky direction is a slow Goose (its lease lasts longest in real time)
//! among fast Ducks (their refusal to vote ends soonest); cut the Goose off
//! and the next Goose must still appear only after the old lease ran out.
//!
//! ```
//! use duckduckgoose::core::{NodeId, Role};
//! use duckduckgoose::sim::{SimConfig, Simulation};
//!
//! let config = SimConfig::new(5, 1).with_fault_phase_us(2_000_000);
//! let rho = i64::from(config.election.drift_bound_ppm);
//! let mut sim = Simulation::new(config)?;
//! while sim.goose().is_none() { sim.step()?; }
//! let old = sim.goose().expect("a Goose");
//! for id in (1..=5).map(NodeId) {
//!     sim.set_clock_rate_ppm(id, if id == old { -rho } else { rho })?;
//! }
//! sim.run_until(sim.now_us() + 500_000)?;
//! sim.isolate(old)?;
//! while sim.goose() == Some(old) { sim.step()?; }
//! let lease_ended_us = sim.now_us(); // in real time: the old Goose stepped down
//! assert_eq!(sim.node(old).map(|node| node.role()), Some(Role::Duck));
//! while sim.goose().is_none() { sim.step()?; }
//! assert!(sim.goose() != Some(old) && sim.now_us() > lease_ended_us);
//! sim.run()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # A crash just after a persist
//!
//! A vote is a promise only if it survives a crash: the host makes the
//! `Persist` durable before the answer leaves, so a voter that crashes just
//! after the write (its answer lost) must restart with that term and vote
//! (the checks also make sure it never votes for another in that term).
//!
//! ```
//! use duckduckgoose::core::{HardState, NodeId, Term};
//! use duckduckgoose::sim::{PersistSide, SimConfig, Simulation};
//!
//! let mut sim = Simulation::new(SimConfig::new(3, 1).with_fault_phase_us(1_000_000))?;
//! let [n1, n2] = [NodeId(1), NodeId(2)];
//! // A node refuses to campaign within the minimum election timeout of starting.
//! sim.run_until(290_000)?;
//! sim.crash_at_persist(n2, PersistSide::After)?;
//! sim.campaign(n1)??;
//! while sim.node(n2).is_some() {
//!     sim.step()?; // n2 grants its vote, persists it, and crashes
//! }
//! sim.restart(n2)?; // checked: at least what its messages had shown
//! let held = sim.node(n2).map(|node| node.hard_state());
//! assert_eq!(held, Some(HardState { term: Term(1), voted_for: Some(n1) }));
//! sim.run()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # A pause past the lease
//!
//! A process frozen by a long GC or a suspended VM resumes believing what it
//! believed: still the Goose, by its role, though its lease ran out in real
//! time and a new Goose was elected. What the runtime's `is_goose` reports
//! ([`goose`](super::Simulation::goose), judged by the real-time lease) must
//! never name two nodes.
//!
//! ```
//! use duckduckgoose::core::Role;
//! use duckduckgoose::sim::{SimConfig, Simulation};
//!
//! let config = SimConfig::new(5, 3).with_fault_phase_us(3_000_000);
//! let timeout_us = config.election.election_timeout_max_ticks * config.tick_us;
//! let mut sim = Simulation::new(config)?;
//! while sim.goose().is_none() { sim.step()?; }
//! let old = sim.goose().expect("a Goose");
//! sim.pause(old, 3 * timeout_us)?;
//! sim.isolate(old)?; // on a dead link too: nothing from the new term waits for it
//! sim.run_until(sim.now_us() + 3 * timeout_us)?;
//! assert!(!sim.is_paused(old));
//! assert!(sim.goose().is_some_and(|new| new != old));
//! assert_eq!(sim.node(old).map(|node| node.role()), Some(Role::Goose));
//! assert_eq!(sim.geese_by_role().len(), 2); // believed, not held
//! sim.heal_all()?;
//! sim.run()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # A long isolation, then a rejoin
//!
//! A node cut off for seconds keeps timing out. With pre-votes (the
//! default) it asks before it campaigns, is never answered, and so never
//! raises its term: when it rejoins, it follows the Goose instead of
//! deposing it with a higher term.
//!
//! ```
//! use duckduckgoose::core::NodeId;
//! use duckduckgoose::sim::{SimConfig, Simulation};
//!
//! let mut sim = Simulation::new(SimConfig::new(5, 1).with_fault_phase_us(5_000_000))?;
//! while sim.goose().is_none() { sim.step()?; }
//! let goose = sim.goose().expect("a Goose");
//! let term = sim.node(goose).map(|node| node.term());
//! let duck = (1..=5).map(NodeId).find(|id| *id != goose).expect("five nodes");
//! sim.isolate(duck)?;
//! sim.run_until(sim.now_us() + 3_000_000)?;
//! assert_eq!(sim.node(duck).map(|node| node.term()), term);
//! sim.heal_all()?;
//! sim.run_until(sim.now_us() + 1_000_000)?;
//! assert_eq!(sim.goose(), Some(goose));
//! assert_eq!(sim.node(goose).map(|node| node.term()), term);
//! sim.run()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
