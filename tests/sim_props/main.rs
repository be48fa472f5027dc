//! Property tests of the election under the deterministic simulator
//! (`duckduckgoose::sim`): random fault plans and seeds on 3, 5 and 7 voters with 0–2
//! learners, every invariant checked after every event, a Goose followed by
//! every node (learners included) required after healing, and garbage from
//! non-members mixed in. Also: the checkers are not vacuous (planted bugs are
//! caught), runs are deterministic, failing seeds stay fixed, and learners
//! follow but never lead.
//!
//! Membership changes: 3 and 5 voters with 0–3 spare nodes that join while
//! the cluster runs, `propose_add`, `propose_remove` (the Goose itself
//! included) and `leave` interleaved with every fault, and the membership
//! invariants checked after every event (see `duckduckgoose::sim`).
//!
//! The soak tests (`soak`: 20,000 seeds without membership changes;
//! `soak_membership`: `SOAK_SEEDS`, default 5,000, with them) are ignored by
//! default; this runs both:
//!
//! ```text
//! cargo test --release --all-features --test sim_props -- --ignored soak --nocapture
//! ```
//!
//! (`SOAK_SEEDS=30000` for a longer membership soak.)
//!
//! The `deadlock_*` and `stranded_*` tests replay, on a lock-step network,
//! the membership liveness bugs the simulator found (classes A to F), all
//! fixed in the core and kept as regression tests, like their seeds.
//!
//! `scripted` drives the simulator by hand (cuts, pauses, crashes at a
//! persist, clock rates, commands) through the scenarios of
//! `duckduckgoose::sim::cookbook`, with negative controls that must fail.
//!
//! One binary, one module per capability; what they share is in `support`.

mod support;

mod custom_invariants;
mod healthy;
#[cfg(feature = "__planted-bugs")]
mod planted_bugs;
#[cfg(feature = "__planted-bugs")]
mod planted_membership_bugs;
mod properties;
mod regressions;
mod reproductions;
mod schedules;
mod scripted;
mod soak;
