//! Configuration for humans: times in `Duration`s, converted to the core's
//! ticks with validation.

use std::collections::BTreeMap;
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hash, Hasher};
use std::ops::Range;
use std::time::{Duration, SystemTime};

use thiserror::Error;

use super::error::MissingAddresses;
use crate::core::{Config, ConfigError, Membership, MetadataError, NodeId, NodeMetadata};

/// How one node of a cluster runs, with every time given as a [`Duration`].
///
/// The defaults suit a LAN: tick 10 ms, heartbeat 50 ms, election timeout
/// 300–450 ms, drift bound 5%. With them the Goose's lease is 25 ticks
/// (250 ms); see [`drift_bound_ppm`](Self::drift_bound_ppm) for how it is
/// derived.
///
/// Build one with [`NodeConfig::new`] (or
/// [`from_membership`](NodeConfig::from_membership)) and the `with_*`
/// setters. The setters check nothing themselves;
/// [`validate`](NodeConfig::validate) judges the whole configuration (the
/// runtime calls it at start).
///
/// ```
/// use std::time::Duration;
/// use duckduckgoose::NodeId;
/// use duckduckgoose::runtime::NodeConfig;
///
/// let config = NodeConfig::new(NodeId(1), [NodeId(1), NodeId(2), NodeId(3)])
///     .with_heartbeat(Duration::from_millis(30));
/// config.validate().unwrap();
/// let core = config.to_core_config().unwrap();
/// assert_eq!(core.heartbeat_interval_ticks, 3);
/// assert_eq!(core.lease_ticks(), 25);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct NodeConfig {
    /// This node's id; must be one of `members` or one of `learners`.
    pub id: NodeId,
    /// The voters of the cluster: the nodes that elect the Goose, count
    /// towards its lease and can become it. Includes this node unless it is
    /// a learner.
    pub members: Vec<NodeId>,
    /// The learners: non-voting members. Empty by default.
    ///
    /// A learner receives the Goose's heartbeats and acknowledges them, so
    /// it follows the Goose and can be read from (its
    /// [`NodeStatus::leader`](crate::runtime::NodeStatus::leader), the `http`
    /// feature's `/status`), but it never campaigns, never votes, never
    /// counts towards a quorum or the lease, and **never becomes the Goose**;
    /// leadership cannot be transferred to it. Every node of the cluster must
    /// be given the same `members` and `learners`. A node may be a learner
    /// itself (its `id` in `learners`, not in `members`). A node listed in
    /// both is refused with [`ConfigError::VoterAndLearner`].
    ///
    /// ```
    /// use duckduckgoose::NodeId;
    /// use duckduckgoose::runtime::NodeConfig;
    ///
    /// // Node 4 follows a cluster of three voters.
    /// let config = NodeConfig::new(NodeId(4), [NodeId(1), NodeId(2), NodeId(3)])
    ///     .with_learners([NodeId(4)]);
    /// config.validate().unwrap();
    /// let core = config.to_core_config().unwrap();
    /// assert!(core.membership.is_learner(NodeId(4)));
    /// assert_eq!(core.membership.quorum(), 2, "learners do not count");
    /// ```
    pub learners: Vec<NodeId>,
    /// The length of one tick of the core's clock: the resolution of every
    /// timer (the driver wakes when the core's next deadline is due, or for
    /// a message or command, not every tick). Every other time must be a
    /// whole number of ticks.
    /// Default 10 ms.
    pub tick: Duration,
    /// How often a Goose sends heartbeats. Default 50 ms.
    pub heartbeat: Duration,
    /// The randomized election timeout `[start, end)`. A Duck that hears no
    /// Goose for a timeout drawn from this range campaigns; `start` is also
    /// how long a Duck refuses to vote after hearing from a live Goose.
    /// Default 300..450 ms.
    ///
    /// A crashed Goose is replaced after the earliest of the Ducks' draws,
    /// so the width of the range is most of a failover's spread. It keeps
    /// the Ducks from timing out together; Ducks that still do are sorted
    /// out by the core's split-vote rules (a pre-candidate yields to a
    /// lower-id rival, and the lowest-id candidate of a split vote asks
    /// again a heartbeat later), so half the minimum is wide enough: on
    /// loopback, 300..450 ms replaced a crashed Goose in p50 0.99× / p99
    /// 1.28× the minimum, against 1.08× / 1.62× with 300..600 ms (the
    /// `failover` bench, both ranges in one run). Widen it where a round
    /// trip is a sizeable part of the width.
    pub election_timeout: Range<Duration>,
    /// The largest difference between any node's clock rate and real time,
    /// in parts per million. Default 50 000 (5%).
    ///
    /// Quartz drifts by tens of ppm, so 5% looks generous; it is sized to
    /// cover timer scheduling jitter as well (a tick that fires a few
    /// milliseconds late on a busy machine is, for the lease arithmetic, a
    /// clock running slow). The Goose's lease is derived from it: the longest
    /// whole number of ticks strictly below
    /// `election_timeout.start · (1 − ρ) / (1 + ρ)`, less two ticks of
    /// rounding ([`Config::max_lease_ticks`]). With the defaults that is
    /// `30 · 0.95 / 1.05 = 27.1 → 27 − 2 = 25` ticks, i.e. 250 ms: the
    /// Goose stops answering "I am the Goose" 250 ms after the newest
    /// heartbeat round a majority acknowledged, well before any voter of that
    /// majority would vote for someone else (300 ms on its own clock).
    pub drift_bound_ppm: u32,
    /// Ask for pre-votes before campaigning, so that a node rejoining after
    /// a partition does not depose a healthy Goose. Default on.
    pub pre_vote: bool,
    /// The check-quorum lease: a Goose no longer acknowledged by a majority
    /// steps down by itself. Default on; turning it off **voids lease
    /// safety** (then [`NodeHandle::is_goose`](crate::runtime::NodeHandle::is_goose)
    /// trusts the role alone).
    pub check_quorum: bool,
    /// Seed of the node's randomness (its election timeouts). `None`, the
    /// default, derives one per start; see [`NodeConfig::seed`].
    pub rng_seed: Option<u64>,
    /// The members' cluster addresses (`"HOST:PORT"`, an IP address or a
    /// DNS name), voters and learners alike, this node included: the one
    /// place a node learns where the others are. Empty by default; entries
    /// for non-members are ignored.
    ///
    /// They become part of the starting membership, travel with every
    /// membership change (a node added with
    /// [`NodeHandle::add_node`](crate::runtime::NodeHandle::add_node) brings
    /// its own) and are shown on status pages such as the `http` feature's
    /// `/cluster`. The runtime hands them to the transport
    /// ([`Transport::set_peers`](crate::transport::Transport::set_peers)) at
    /// start and after every change; a transport that dials its peers (TCP)
    /// resolves them at every dial and has no list of its own.
    ///
    /// Such a transport
    /// ([`Transport::needs_peer_addresses`](crate::transport::Transport::needs_peer_addresses))
    /// needs every member's address, this node's own included (the others
    /// read it from the membership to reach this node: to answer it, or to
    /// forward a joiner to it when it is the Goose).
    /// [`Node::start`](crate::runtime::Node::start) refuses a membership
    /// that lacks one with [`NodeConfigError::MissingAddresses`]. A
    /// membership saved in the node's storage replaces the configured one,
    /// but takes from here the addresses it lacks (a state file written
    /// before addresses were recorded). In-process transports ignore
    /// addresses.
    pub addresses: BTreeMap<NodeId, String>,
    /// The members' metadata: what each says about itself, such as the URL
    /// its application serves at (`http=http://10.0.0.5:8080`), so that any
    /// node can tell a client where the Goose serves
    /// ([`NodeHandle::goose`](crate::runtime::NodeHandle::goose)). Empty by
    /// default; entries for non-members are ignored.
    ///
    /// Like [`addresses`](Self::addresses), it becomes part of the starting
    /// membership (give every node the same), and a node added while the
    /// cluster runs brings its own
    /// ([`NodeHandle::add_node_with_metadata`](crate::runtime::NodeHandle::add_node_with_metadata),
    /// a join request). Each [`NodeMetadata`] is valid by construction;
    /// [`validate`](Self::validate) checks the bound on all members together
    /// ([`MAX_MEMBERSHIP_METADATA_LEN`](crate::core::MAX_MEMBERSHIP_METADATA_LEN)).
    pub metadata: BTreeMap<NodeId, NodeMetadata>,
}

impl NodeConfig {
    /// The default timing for node `id` in a cluster of `members` (voters)
    /// and no learners.
    pub fn new(id: NodeId, members: impl IntoIterator<Item = NodeId>) -> Self {
        NodeConfig {
            id,
            members: members.into_iter().collect(),
            learners: Vec::new(),
            tick: Duration::from_millis(10),
            heartbeat: Duration::from_millis(50),
            election_timeout: Duration::from_millis(300)..Duration::from_millis(450),
            drift_bound_ppm: 50_000,
            pre_vote: true,
            check_quorum: true,
            rng_seed: None,
            addresses: BTreeMap::new(),
            metadata: BTreeMap::new(),
        }
    }

    /// The default timing for node `id` of a running cluster whose
    /// membership is `membership`: its voters become
    /// [`members`](Self::members), its learners (joining ones included)
    /// [`learners`](Self::learners), its addresses
    /// [`addresses`](Self::addresses) and its metadata
    /// [`metadata`](Self::metadata).
    ///
    /// For a node that joined with a
    /// [`JoinReply::Accepted`](crate::transport::JoinReply::Accepted)
    /// membership. The node starts from these members as if they were the
    /// configured cluster and adopts the Goose's membership (its version,
    /// who is joining) with the first heartbeat.
    ///
    /// ```
    /// use duckduckgoose::NodeId;
    /// use duckduckgoose::core::Membership;
    /// use duckduckgoose::runtime::NodeConfig;
    ///
    /// let membership = Membership::new([NodeId(1), NodeId(2)])
    ///     .with_learners([NodeId(3)])
    ///     .with_addresses([(NodeId(1), "10.0.0.1:7000"), (NodeId(3), "10.0.0.3:7000")]);
    /// let config = NodeConfig::from_membership(NodeId(3), membership);
    /// assert_eq!(config.members, [NodeId(1), NodeId(2)]);
    /// assert_eq!(config.learners, [NodeId(3)]);
    /// assert_eq!(config.addresses.get(&NodeId(3)).map(String::as_str), Some("10.0.0.3:7000"));
    /// config.validate().unwrap();
    /// ```
    pub fn from_membership(id: NodeId, membership: Membership) -> Self {
        let mut config = NodeConfig::new(id, membership.voters());
        config.learners = membership.learners().collect();
        config.addresses = membership.addresses().clone();
        config.metadata = membership.all_metadata().clone();
        config
    }

    /// The same configuration with `learners` added to the learners
    /// (non-voting members; see [`learners`](Self::learners)). None by
    /// default.
    ///
    /// Checked by [`validate`](Self::validate): a node listed both here and
    /// among the members is refused ([`ConfigError::VoterAndLearner`]).
    #[must_use]
    pub fn with_learners(mut self, learners: impl IntoIterator<Item = NodeId>) -> Self {
        self.learners.extend(learners);
        self
    }

    /// The same configuration with `tick` as the length of one tick of the
    /// core's clock: how often the driver wakes up. Default 10 ms.
    ///
    /// Checked by [`validate`](Self::validate): longer than zero
    /// ([`NodeConfigError::ZeroTick`]), and every other time must be a whole
    /// number of ticks ([`NodeConfigError::NotWholeTicks`]).
    #[must_use]
    pub fn with_tick(mut self, tick: Duration) -> Self {
        self.tick = tick;
        self
    }

    /// The same configuration with a Goose heartbeating every `heartbeat`.
    /// Default 50 ms.
    ///
    /// Checked by [`validate`](Self::validate): a whole, non-zero number of
    /// ticks ([`NodeConfigError::NotWholeTicks`],
    /// [`NodeConfigError::ZeroTicks`]), and shorter than the lease the
    /// election timeout allows
    /// ([`ConfigError::LeaseNotLongerThanHeartbeat`]).
    #[must_use]
    pub fn with_heartbeat(mut self, heartbeat: Duration) -> Self {
        self.heartbeat = heartbeat;
        self
    }

    /// The same configuration with `election_timeout` as the randomized
    /// election timeout `[start, end)`: a Duck hearing no Goose for a
    /// timeout drawn from it campaigns, and `start` is how long a Duck
    /// refuses to vote after hearing from a live Goose (the lease is derived
    /// from it). Default 300..450 ms.
    ///
    /// Checked by [`validate`](Self::validate): both ends whole, non-zero
    /// numbers of ticks ([`NodeConfigError::NotWholeTicks`],
    /// [`NodeConfigError::ZeroTicks`]), a non-empty range
    /// ([`ConfigError::EmptyElectionTimeoutRange`]), and a `start` long
    /// enough that the lease outlasts a heartbeat
    /// ([`ConfigError::LeaseNotLongerThanHeartbeat`]).
    #[must_use]
    pub fn with_election_timeout(mut self, election_timeout: Range<Duration>) -> Self {
        self.election_timeout = election_timeout;
        self
    }

    /// The same configuration with `drift_bound_ppm` as the largest
    /// difference between any node's clock rate and real time, in parts per
    /// million. Default 50 000 (5%); see
    /// [`drift_bound_ppm`](Self::drift_bound_ppm) for how the lease follows
    /// from it.
    ///
    /// Checked by [`validate`](Self::validate): below 500 000 (50%)
    /// ([`ConfigError::DriftBoundTooLarge`]).
    #[must_use]
    pub fn with_drift_bound_ppm(mut self, drift_bound_ppm: u32) -> Self {
        self.drift_bound_ppm = drift_bound_ppm;
        self
    }

    /// The same configuration with pre-votes on or off. With them (the
    /// default), a node rejoining after a partition does not depose a
    /// healthy Goose. Any value is valid.
    #[must_use]
    pub fn with_pre_vote(mut self, pre_vote: bool) -> Self {
        self.pre_vote = pre_vote;
        self
    }

    /// The same configuration with the check-quorum lease on or off. With it
    /// (the default), a Goose no longer acknowledged by a majority steps down
    /// by itself. Any value is valid, but turning it off **voids lease
    /// safety** (then [`NodeHandle::is_goose`](crate::runtime::NodeHandle::is_goose)
    /// trusts the role alone).
    #[must_use]
    pub fn with_check_quorum(mut self, check_quorum: bool) -> Self {
        self.check_quorum = check_quorum;
        self
    }

    /// The same configuration with `rng_seed` seeding the node's randomness
    /// (its election timeouts) on every start, for reproducible runs. By
    /// default a fresh seed is derived per start (see [`seed`](Self::seed)).
    /// Any value is valid.
    #[must_use]
    pub fn with_rng_seed(mut self, rng_seed: u64) -> Self {
        self.rng_seed = Some(rng_seed);
        self
    }

    /// The same configuration with these members' cluster addresses
    /// (`"HOST:PORT"`) recorded; later entries replace earlier ones for the
    /// same id. None by default; see [`addresses`](Self::addresses) for what
    /// they are for. The setter checks nothing: entries for non-members are
    /// ignored, the addresses go to the transport as they are, and
    /// [`Node::start`](crate::runtime::Node::start) refuses a transport that
    /// dials its peers a membership without every member's address
    /// ([`NodeConfigError::MissingAddresses`]).
    #[must_use]
    pub fn with_addresses<S: Into<String>>(
        mut self,
        addresses: impl IntoIterator<Item = (NodeId, S)>,
    ) -> Self {
        self.addresses
            .extend(addresses.into_iter().map(|(id, addr)| (id, addr.into())));
        self
    }

    /// The same configuration with `metadata` recorded for node `id` (this
    /// node or another member), replacing any it had; see
    /// [`metadata`](Self::metadata) for what it is for. Checked by
    /// [`validate`](Self::validate): all members' metadata together within
    /// [`MAX_MEMBERSHIP_METADATA_LEN`](crate::core::MAX_MEMBERSHIP_METADATA_LEN)
    /// ([`NodeConfigError::Metadata`]).
    ///
    /// ```
    /// use duckduckgoose::NodeId;
    /// use duckduckgoose::core::NodeMetadata;
    /// use duckduckgoose::runtime::NodeConfig;
    ///
    /// let http = NodeMetadata::new().with("http", "http://10.0.0.1:8080").unwrap();
    /// let config = NodeConfig::new(NodeId(1), [NodeId(1), NodeId(2)])
    ///     .with_metadata(NodeId(1), http.clone());
    /// let core = config.to_core_config().unwrap();
    /// assert_eq!(core.membership.metadata(NodeId(1)), Some(&http));
    /// ```
    #[must_use]
    pub fn with_metadata(mut self, id: NodeId, metadata: NodeMetadata) -> Self {
        self.metadata.insert(id, metadata);
        self
    }

    /// Checks the whole configuration: the conversion to ticks, then every
    /// constraint of the core's [`Config::validate`].
    pub fn validate(&self) -> Result<(), NodeConfigError> {
        self.to_core_config()?.validate()?;
        Ok(())
    }

    /// The core's configuration, every `Duration` converted to ticks. Its
    /// membership is the configured one (version 0): `members`, `learners`
    /// and the `addresses` and `metadata` of members.
    ///
    /// Fails if the tick is zero, a time is not a whole, non-zero number of
    /// ticks, or the members' metadata together is too large; it does not
    /// run the core's own checks (see [`validate`](Self::validate)).
    pub fn to_core_config(&self) -> Result<Config, NodeConfigError> {
        if self.tick.is_zero() {
            return Err(NodeConfigError::ZeroTick);
        }
        let mut config = Config::new(self.id, self.members.iter().copied());
        let membership = config
            .membership
            .with_learners(self.learners.iter().copied());
        let addresses: Vec<(NodeId, &str)> = self
            .addresses
            .iter()
            .filter(|(id, _)| membership.contains(**id))
            .map(|(id, addr)| (*id, addr.as_str()))
            .collect();
        let mut membership = membership.with_addresses(addresses);
        for (id, metadata) in &self.metadata {
            if membership.contains(*id) {
                membership = membership.with_metadata(*id, metadata.clone());
            }
        }
        membership.check_metadata_len()?;
        config.membership = membership;
        config.heartbeat_interval_ticks = self.ticks("heartbeat", self.heartbeat)?;
        config.election_timeout_min_ticks =
            self.ticks("election_timeout.start", self.election_timeout.start)?;
        config.election_timeout_max_ticks =
            self.ticks("election_timeout.end", self.election_timeout.end)?;
        config.drift_bound_ppm = self.drift_bound_ppm;
        config.pre_vote = self.pre_vote;
        config.check_quorum = self.check_quorum;
        Ok(config)
    }

    /// The seed this start uses: `rng_seed` if set, otherwise a fresh one.
    ///
    /// The crate's `rand` has no OS entropy source enabled, so the fresh seed
    /// hashes the node id and the wall-clock time with a
    /// [`RandomState`], whose keys the standard library draws from the
    /// operating system once per process. Nodes started at the same instant
    /// on different machines (or restarted in the same process) still get
    /// different election timeouts, which is all the randomness is for:
    /// safety never depends on it.
    pub fn seed(&self) -> u64 {
        if let Some(seed) = self.rng_seed {
            return seed;
        }
        let mut hasher = RandomState::new().build_hasher();
        self.id.hash(&mut hasher);
        // A clock before 1970 only loses the time component of the seed.
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .hash(&mut hasher);
        hasher.finish()
    }

    /// `duration` as a whole, non-zero number of ticks.
    fn ticks(&self, field: &'static str, duration: Duration) -> Result<u64, NodeConfigError> {
        let tick_ns = self.tick.as_nanos();
        let duration_ns = duration.as_nanos();
        let whole_ticks = duration_ns / tick_ns;
        if whole_ticks * tick_ns != duration_ns {
            return Err(NodeConfigError::NotWholeTicks {
                field,
                duration,
                tick: self.tick,
            });
        }
        match u64::try_from(whole_ticks) {
            Ok(0) => Err(NodeConfigError::ZeroTicks { field }),
            Ok(ticks) => Ok(ticks),
            Err(_) => Err(NodeConfigError::TooManyTicks { field }),
        }
    }
}

/// Why a [`NodeConfig`] was rejected.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum NodeConfigError {
    /// `tick` is zero.
    #[error("tick must be longer than zero")]
    ZeroTick,
    /// A time is not a whole number of ticks.
    #[error("{field} of {duration:?} is not a whole number of {tick:?} ticks")]
    NotWholeTicks {
        /// Which field.
        field: &'static str,
        /// Its value.
        duration: Duration,
        /// The tick length.
        tick: Duration,
    },
    /// A time is zero ticks long.
    #[error("{field} must be at least one tick")]
    ZeroTicks {
        /// Which field.
        field: &'static str,
    },
    /// A time does not fit in a 64-bit tick count.
    #[error("{field} is too long: more than 2^64 ticks")]
    TooManyTicks {
        /// Which field.
        field: &'static str,
    },
    /// The converted configuration breaks one of the core's constraints.
    #[error(transparent)]
    Core(#[from] ConfigError),
    /// The transport dials its peers at their addresses
    /// ([`Transport::needs_peer_addresses`](crate::transport::Transport::needs_peer_addresses)),
    /// and the membership the node would start with (the configured one, or
    /// the one saved in its storage) lacks some member's: see
    /// [`NodeConfig::addresses`]. Reported by
    /// [`Node::start`](crate::runtime::Node::start), which alone knows the
    /// transport.
    #[error("{0}; list every member, this node included, in NodeConfig::addresses")]
    MissingAddresses(MissingAddresses),
    /// The members' metadata together breaks its bound.
    #[error("metadata: {0}")]
    Metadata(#[from] MetadataError),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_setter_sets_its_own_field() {
        let ms = Duration::from_millis;
        let built = NodeConfig::new(NodeId(4), [NodeId(1), NodeId(2)])
            .with_learners([NodeId(4)])
            .with_tick(ms(5))
            .with_heartbeat(ms(20))
            .with_election_timeout(ms(200)..ms(400))
            .with_drift_bound_ppm(1_000)
            .with_pre_vote(false)
            .with_check_quorum(false)
            .with_rng_seed(7)
            .with_addresses([(NodeId(1), "a:1"), (NodeId(4), "b:2")])
            .with_metadata(NodeId(4), meta("http://b:80"));
        let mut expected = NodeConfig::new(NodeId(4), [NodeId(1), NodeId(2)]);
        expected.learners = vec![NodeId(4)];
        expected.tick = ms(5);
        expected.heartbeat = ms(20);
        expected.election_timeout = ms(200)..ms(400);
        expected.drift_bound_ppm = 1_000;
        expected.pre_vote = false;
        expected.check_quorum = false;
        expected.rng_seed = Some(7);
        expected.addresses = BTreeMap::from([(NodeId(1), "a:1".into()), (NodeId(4), "b:2".into())]);
        expected.metadata = BTreeMap::from([(NodeId(4), meta("http://b:80"))]);
        assert_eq!(built, expected);
    }

    fn meta(http: &str) -> NodeMetadata {
        NodeMetadata::new().with("http", http).unwrap()
    }

    #[test]
    fn metadata_of_members_joins_the_starting_membership() {
        let config = NodeConfig::new(NodeId(1), [NodeId(1), NodeId(2)])
            .with_metadata(NodeId(2), meta("http://b:80"))
            .with_metadata(NodeId(9), meta("http://stranger:80"));
        let membership = config.to_core_config().unwrap().membership;
        assert_eq!(membership.metadata(NodeId(2)), Some(&meta("http://b:80")));
        assert_eq!(membership.metadata(NodeId(9)), None, "not a member");
        let back = NodeConfig::from_membership(NodeId(1), membership);
        assert_eq!(
            back.metadata,
            BTreeMap::from([(NodeId(2), meta("http://b:80"))])
        );
    }

    #[test]
    fn all_members_metadata_together_is_bounded() {
        use crate::core::MAX_MEMBERSHIP_METADATA_LEN;
        let value = "v".repeat(250);
        let full = ["a", "b", "c", "d"]
            .iter()
            .fold(NodeMetadata::new(), |meta, key| {
                meta.with(*key, &value).unwrap()
            });
        let members: Vec<NodeId> = (1..=17).map(NodeId).collect();
        let mut config = NodeConfig::new(NodeId(1), members.clone());
        for id in &members {
            config = config.with_metadata(*id, full.clone());
        }
        assert_eq!(
            config.validate(),
            Err(NodeConfigError::Metadata(
                MetadataError::MembershipTooLarge {
                    len: 17 * full.encoded_len(),
                    max: MAX_MEMBERSHIP_METADATA_LEN,
                }
            ))
        );
        config.metadata.remove(&NodeId(17));
        assert_eq!(config.validate(), Ok(()));
    }
}
