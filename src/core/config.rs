//! Election configuration, all in ticks of the local clock, and its checks.

use thiserror::Error;

use super::membership::{Membership, MembershipId};
use super::types::NodeId;

/// One million: drift bounds are given in parts per million so that the
/// lease bound can be computed in exact integer arithmetic.
const PPM: u64 = 1_000_000;

/// Ticks taken off the lease bound for rounding: a tick boundary can be up to
/// one tick late on the Goose and one tick early on the voter.
const LEASE_ROUNDING_TICKS: u64 = 2;

/// Configuration of one [`Election`](crate::core::Election), with every time
/// counted in ticks of the node's local clock.
///
/// Build one with [`Config::new`], adjust it with the `with_*` setters, and
/// let [`Election::new`](crate::core::Election::new) check it (it calls
/// [`Config::validate`]). The setters check nothing themselves: a value that
/// only makes sense beside another (the lease and the timeouts) is judged
/// once the whole configuration is known.
///
/// ```
/// use duckduckgoose::core::{Config, NodeId};
///
/// let config = Config::new(NodeId(1), [NodeId(1), NodeId(2), NodeId(3)])
///     .with_heartbeat_interval_ticks(3);
/// assert!(config.validate().is_ok());
/// // With a 5% drift bound and a 30-tick minimum timeout, the longest safe lease is 25 ticks.
/// assert_eq!(config.lease_ticks(), 25);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Config {
    /// This node's id; must be a voter or a learner of `membership` when that
    /// is the configured (version 0) one.
    pub id: NodeId,
    /// The cluster's members, this node included.
    pub membership: Membership,
    /// A Goose sends heartbeats every this many ticks. Default 5.
    pub heartbeat_interval_ticks: u64,
    /// Lower end (inclusive) of the randomized election timeout, and how long
    /// a node refuses votes after hearing from a live Goose. Default 30.
    pub election_timeout_min_ticks: u64,
    /// Upper end (exclusive) of the randomized election timeout. Default 60.
    ///
    /// The runtime's `NodeConfig` (feature `runtime`) defaults to
    /// 300..450 ms, 30..45 of its 10 ms ticks, which fails over sooner; this
    /// default stays the simulator's reference timing, so that recorded
    /// seeds replay the runs they were recorded from.
    pub election_timeout_max_ticks: u64,
    /// Largest relative difference between any node's clock rate and real
    /// time, in parts per million. Default 50 000 (5%), far above real quartz
    /// drift so that scheduling jitter is covered too.
    pub drift_bound_ppm: u32,
    /// The lease length; `None` (the default) takes the longest lease the
    /// drift bound allows, [`Config::max_lease_ticks`].
    pub lease_override_ticks: Option<u64>,
    /// Ask for pre-votes before starting a real election, so that a node
    /// rejoining after a partition does not inflate terms (Raft thesis §9.6).
    /// Default on.
    pub pre_vote: bool,
    /// A Goose that has not been acknowledged by a majority within its lease
    /// steps down by itself (the check-quorum lease). Default on; turning it
    /// off gives plain Raft election behaviour and **voids lease safety**.
    pub check_quorum: bool,
}

impl Config {
    /// A configuration with the default timing for node `id` in a cluster of
    /// `voters`.
    pub fn new(id: NodeId, voters: impl IntoIterator<Item = NodeId>) -> Self {
        Config {
            id,
            membership: Membership::new(voters),
            heartbeat_interval_ticks: 5,
            election_timeout_min_ticks: 30,
            election_timeout_max_ticks: 60,
            drift_bound_ppm: 50_000,
            lease_override_ticks: None,
            pre_vote: true,
            check_quorum: true,
        }
    }

    /// The same configuration with `membership` as the cluster's members:
    /// voters, learners and their addresses, replacing the voters given to
    /// [`Config::new`]. Use it for learners, or to start from a membership
    /// changed at run time (then this node may be missing from it, and
    /// starts as a removed node).
    ///
    /// Checked by [`validate`](Self::validate): at least one voter
    /// ([`ConfigError::NoVoters`]), no node both voter and learner
    /// ([`ConfigError::VoterAndLearner`]), and a configured (version 0)
    /// membership must name this node ([`ConfigError::NotAMember`]).
    #[must_use]
    pub fn with_membership(mut self, membership: Membership) -> Self {
        self.membership = membership;
        self
    }

    /// The same configuration with a Goose heartbeating every
    /// `heartbeat_interval_ticks` ticks. Default 5.
    ///
    /// Checked by [`validate`](Self::validate): at least one tick
    /// ([`ConfigError::ZeroHeartbeatInterval`]) and shorter than the lease
    /// ([`ConfigError::LeaseNotLongerThanHeartbeat`]), so that a heartbeat
    /// can renew the lease before it runs out.
    #[must_use]
    pub fn with_heartbeat_interval_ticks(mut self, heartbeat_interval_ticks: u64) -> Self {
        self.heartbeat_interval_ticks = heartbeat_interval_ticks;
        self
    }

    /// The same configuration with `election_timeout_min_ticks` as the
    /// inclusive lower end of the randomized election timeout, in ticks; it
    /// is also how long a node refuses votes after hearing from a live Goose,
    /// so the lease is derived from it. Default 30.
    ///
    /// Checked by [`validate`](Self::validate): below the upper end
    /// ([`ConfigError::EmptyElectionTimeoutRange`]), and long enough that
    /// the lease it allows outlasts a heartbeat interval
    /// ([`ConfigError::LeaseNotLongerThanHeartbeat`]).
    #[must_use]
    pub fn with_election_timeout_min_ticks(mut self, election_timeout_min_ticks: u64) -> Self {
        self.election_timeout_min_ticks = election_timeout_min_ticks;
        self
    }

    /// The same configuration with `election_timeout_max_ticks` as the
    /// exclusive upper end of the randomized election timeout, in ticks.
    /// Default 60.
    ///
    /// Checked by [`validate`](Self::validate): above the lower end
    /// ([`ConfigError::EmptyElectionTimeoutRange`]).
    #[must_use]
    pub fn with_election_timeout_max_ticks(mut self, election_timeout_max_ticks: u64) -> Self {
        self.election_timeout_max_ticks = election_timeout_max_ticks;
        self
    }

    /// The same configuration with `drift_bound_ppm` as the largest relative
    /// difference between any node's clock rate and real time, in parts per
    /// million. Default 50 000 (5%). A larger bound shortens the lease
    /// ([`max_lease_ticks`](Self::max_lease_ticks)).
    ///
    /// Checked by [`validate`](Self::validate): below 500 000 (50%), which
    /// would leave no safe lease ([`ConfigError::DriftBoundTooLarge`]).
    #[must_use]
    pub fn with_drift_bound_ppm(mut self, drift_bound_ppm: u32) -> Self {
        self.drift_bound_ppm = drift_bound_ppm;
        self
    }

    /// The same configuration with a lease of `lease_ticks` ticks instead of
    /// the longest the drift bound allows (the default,
    /// [`max_lease_ticks`](Self::max_lease_ticks)). A shorter lease only
    /// makes the Goose step down sooner after losing its majority.
    ///
    /// Checked by [`validate`](Self::validate): at most
    /// [`max_lease_ticks`](Self::max_lease_ticks)
    /// ([`ConfigError::LeaseTooLong`]), and longer than the heartbeat
    /// interval ([`ConfigError::LeaseNotLongerThanHeartbeat`]).
    #[must_use]
    pub fn with_lease_override_ticks(mut self, lease_ticks: u64) -> Self {
        self.lease_override_ticks = Some(lease_ticks);
        self
    }

    /// The same configuration with pre-votes on or off. With them (the
    /// default), a node asks whether it could win before starting a real
    /// election, so that one rejoining after a partition does not inflate
    /// terms. Any value is valid.
    #[must_use]
    pub fn with_pre_vote(mut self, pre_vote: bool) -> Self {
        self.pre_vote = pre_vote;
        self
    }

    /// The same configuration with the check-quorum lease on or off. With it
    /// (the default), a Goose no longer acknowledged by a majority within its
    /// lease steps down by itself. Any value is valid, but turning it off
    /// gives plain Raft election behaviour and **voids lease safety**.
    #[must_use]
    pub fn with_check_quorum(mut self, check_quorum: bool) -> Self {
        self.check_quorum = check_quorum;
        self
    }

    /// The longest lease that stays safe under the drift bound:
    /// the largest whole number of ticks strictly below
    /// `election_timeout_min · (1 − ρ) / (1 + ρ)`, less two ticks of rounding.
    ///
    /// Zero when no lease is possible (a timeout too short for the drift bound).
    pub fn max_lease_ticks(&self) -> u64 {
        let ppm = u64::from(self.drift_bound_ppm).min(PPM);
        let numerator = u128::from(self.election_timeout_min_ticks) * u128::from(PPM - ppm);
        let denominator = u128::from(PPM + ppm);
        // Largest integer strictly below numerator / denominator.
        let strictly_below = numerator.div_ceil(denominator).saturating_sub(1);
        u64::try_from(strictly_below)
            .unwrap_or(u64::MAX)
            .saturating_sub(LEASE_ROUNDING_TICKS)
    }

    /// The lease this configuration runs with.
    pub fn lease_ticks(&self) -> u64 {
        self.lease_override_ticks
            .unwrap_or_else(|| self.max_lease_ticks())
    }

    /// Checks every constraint, returning the first one broken.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.membership.has_no_voters() {
            return Err(ConfigError::NoVoters);
        }
        if let Some(id) = self.membership.voter_and_learner() {
            return Err(ConfigError::VoterAndLearner { id });
        }
        // A membership changed at run time may leave this node out: it was
        // removed, or its removal was pending when it stopped. It then starts
        // as a removed node (never campaigning, voting only to let the others
        // undo an uncommitted removal) and takes part again if a Goose adds
        // it back. A configured membership must name it: anything else is a
        // typo.
        if !self.membership.contains(self.id) && self.membership.id() == MembershipId::default() {
            return Err(ConfigError::NotAMember { id: self.id });
        }
        if self.heartbeat_interval_ticks == 0 {
            return Err(ConfigError::ZeroHeartbeatInterval);
        }
        if self.election_timeout_min_ticks >= self.election_timeout_max_ticks {
            return Err(ConfigError::EmptyElectionTimeoutRange {
                min_ticks: self.election_timeout_min_ticks,
                max_ticks: self.election_timeout_max_ticks,
            });
        }
        if u64::from(self.drift_bound_ppm) >= PPM / 2 {
            return Err(ConfigError::DriftBoundTooLarge {
                drift_bound_ppm: self.drift_bound_ppm,
            });
        }
        let lease_ticks = self.lease_ticks();
        let max_lease_ticks = self.max_lease_ticks();
        if lease_ticks > max_lease_ticks {
            return Err(ConfigError::LeaseTooLong {
                lease_ticks,
                max_lease_ticks,
            });
        }
        if lease_ticks <= self.heartbeat_interval_ticks {
            return Err(ConfigError::LeaseNotLongerThanHeartbeat {
                lease_ticks,
                heartbeat_interval_ticks: self.heartbeat_interval_ticks,
            });
        }
        Ok(())
    }
}

/// Why a [`Config`] was rejected.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The membership has no voters.
    #[error("the membership has no voters")]
    NoVoters,
    /// This node's id is neither a voter nor a learner of the configured
    /// (version 0) membership.
    #[error("node {id} is not a member (neither a voter nor a learner)")]
    NotAMember {
        /// This node's id.
        id: NodeId,
    },
    /// A node is listed both as a voter and as a learner.
    #[error("node {id} is listed both as a voter and as a learner")]
    VoterAndLearner {
        /// The node listed twice.
        id: NodeId,
    },
    /// `heartbeat_interval_ticks` is zero.
    #[error("heartbeat interval must be at least one tick")]
    ZeroHeartbeatInterval,
    /// The election timeout range `[min, max)` is empty.
    #[error("election timeout range [{min_ticks}, {max_ticks}) is empty: min must be below max")]
    EmptyElectionTimeoutRange {
        /// The configured minimum.
        min_ticks: u64,
        /// The configured maximum.
        max_ticks: u64,
    },
    /// The drift bound is 50% or more, which leaves no safe lease.
    #[error("drift bound {drift_bound_ppm} ppm is too large (must be below 500000)")]
    DriftBoundTooLarge {
        /// The configured bound.
        drift_bound_ppm: u32,
    },
    /// The lease could outlast a voter's refusal to vote for someone else.
    #[error(
        "lease of {lease_ticks} ticks is longer than the {max_lease_ticks} ticks the drift bound allows \
         (raise election_timeout_min_ticks or lower the drift bound)"
    )]
    LeaseTooLong {
        /// The lease asked for.
        lease_ticks: u64,
        /// The longest lease that is safe.
        max_lease_ticks: u64,
    },
    /// The lease would expire before the next heartbeat could renew it.
    #[error(
        "lease of {lease_ticks} ticks must be longer than the heartbeat interval of \
         {heartbeat_interval_ticks} ticks (raise election_timeout_min_ticks or heartbeat more often)"
    )]
    LeaseNotLongerThanHeartbeat {
        /// The lease.
        lease_ticks: u64,
        /// The heartbeat interval.
        heartbeat_interval_ticks: u64,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_setter_sets_its_own_field() {
        let voters = [NodeId(1), NodeId(2), NodeId(3)];
        let membership = Membership::new(voters).with_learners([NodeId(4)]);
        let built = Config::new(NodeId(1), voters)
            .with_membership(membership.clone())
            .with_heartbeat_interval_ticks(3)
            .with_election_timeout_min_ticks(40)
            .with_election_timeout_max_ticks(80)
            .with_drift_bound_ppm(1_000)
            .with_lease_override_ticks(20)
            .with_pre_vote(false)
            .with_check_quorum(false);
        let mut expected = Config::new(NodeId(1), voters);
        expected.membership = membership;
        expected.heartbeat_interval_ticks = 3;
        expected.election_timeout_min_ticks = 40;
        expected.election_timeout_max_ticks = 80;
        expected.drift_bound_ppm = 1_000;
        expected.lease_override_ticks = Some(20);
        expected.pre_vote = false;
        expected.check_quorum = false;
        assert_eq!(built, expected);
    }
}
