//! One test per protocol rule (timeouts, pre-vote, votes and stickiness,
//! heartbeats, the lease, terms, transfer, admission, the persist barrier,
//! determinism) and the sentences of Raft §5.2, thesis §9.6 (pre-vote),
//! §4.2.3 (disruptive servers), §3.10 (leadership transfer) and §6.2/§6.4
//! (check-quorum, leases) that apply to an election without a log.
//!
//! Every test has the shape of openraft's engine tests: **init** (build one or
//! more `Election`s in a known state), **act** (one input), **check** (the
//! exact sequence of outputs that input produced, drained until `None`, and
//! the resulting status).
//!
//! One binary, one module per capability; the shared harness is `support`.
//! Clusters run on `duckduckgoose::sim::LockStep`, hence the `sim` feature.

mod support;

mod admission;
mod barrier_and_determinism;
mod configurations;
mod deadlines;
mod heartbeats;
mod learners;
mod lease;
mod membership_adoption;
mod membership_leave;
mod membership_liveness;
mod membership_metadata;
mod membership_promotion;
mod membership_proposals;
mod membership_removal;
mod non_members;
mod split_votes;
mod terms;
mod timeouts_and_pre_votes;
mod transfer;
mod votes_and_stickiness;
