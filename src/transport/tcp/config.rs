//! Configuration of the TCP transport.

use std::fmt;
use std::time::Duration;

use thiserror::Error;

use crate::core::NodeId;
use crate::storage::NodeIdentityError;
use crate::storage::identity::check_cluster_id;

/// The longest cluster id, in bytes; it travels in every handshake, and the
/// state file records it.
pub const MAX_CLUSTER_ID_LEN: usize = crate::storage::identity::MAX_CLUSTER_ID_LEN;

/// How the TCP transport talks to its peers and what it accepts from them.
///
/// Who the peers are and where they listen is not part of it: the runtime
/// hands the transport the members' addresses from the membership
/// ([`NodeConfig::addresses`](crate::runtime::NodeConfig::addresses), then
/// every change) with [`Transport::set_peers`](crate::transport::Transport::set_peers),
/// and a bare transport gets them with
/// [`TcpTransport::set_peer_addrs`](super::TcpTransport::set_peer_addrs).
///
/// Build it with [`TcpConfig::new`], adjust it with the `with_*` setters,
/// and let [`TcpTransport::new`](super::TcpTransport::new) check it with
/// [`validate`](TcpConfig::validate); the setters check nothing themselves.
#[derive(Clone)]
#[non_exhaustive]
pub struct TcpConfig {
    /// This node's id: the `from` of every hello it sends and the `to` it
    /// requires in every hello it accepts.
    pub id: NodeId,
    /// Names the cluster; a hello naming another cluster is refused, so two
    /// clusters sharing hosts cannot talk to each other by mistake.
    pub cluster_id: String,
    /// Optional pre-shared key. With it, handshakes and every frame are
    /// authenticated with HMAC-SHA256, join requests and their answers
    /// included; without it, a node's identity is what its hello claims:
    /// anyone who can reach the port and knows the cluster id can send
    /// messages under any id (the election drops those from ids it does not
    /// admit, and believes a member's), hold one of the
    /// [`MAX_STRANGER_CONNECTIONS`](super::MAX_STRANGER_CONNECTIONS), and
    /// ask to join.
    pub cluster_key: Option<Vec<u8>>,
    /// Outbound messages queued per peer while its connection is down or
    /// slow; beyond it the oldest heartbeat is dropped.
    pub queue_capacity: usize,
    /// First delay before redialling a peer; it doubles up to the maximum.
    pub reconnect_backoff_min: Duration,
    /// Longest delay between two dials to a peer.
    pub reconnect_backoff_max: Duration,
    /// Longest wait for a TCP connection to a peer to open.
    pub connect_timeout: Duration,
    /// Longest time a handshake may take, on either side; an inbound
    /// connection that has not completed it by then is closed.
    pub handshake_timeout: Duration,
    /// At shutdown, longest wait for queued messages to leave.
    pub flush_timeout: Duration,
    /// Most inbound connections open at once; more are closed at once. Bounds
    /// what unauthenticated clients can make the node hold.
    pub max_inbound_connections: usize,
    /// Longest wait, on a join connection, for this node's runtime to answer
    /// the request, and, when this node forwards it to the Goose, for the
    /// Goose's answer. Past it the joiner is refused ("no answer").
    pub join_timeout: Duration,
    /// Most join requests being answered at once (they count towards
    /// [`max_inbound_connections`](Self::max_inbound_connections) too); more
    /// are refused as busy. Also the capacity of the channel that
    /// [`Transport::take_join_requests`](crate::transport::Transport::take_join_requests)
    /// returns.
    pub max_join_connections: usize,
    /// Join requests accepted in a burst; beyond it, one more per
    /// [`join_rate_interval`](Self::join_rate_interval). The others are
    /// refused as busy, so a flood of requests cannot keep the Goose busy.
    pub join_rate_burst: u32,
    /// The sustained rate of join requests: one per this interval.
    pub join_rate_interval: Duration,
}

impl fmt::Debug for TcpConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpConfig")
            .field("id", &self.id)
            .field("cluster_id", &self.cluster_id)
            .field(
                "cluster_key",
                &self.cluster_key.as_ref().map(|_| "<redacted>"),
            )
            .field("queue_capacity", &self.queue_capacity)
            .field("reconnect_backoff_min", &self.reconnect_backoff_min)
            .field("reconnect_backoff_max", &self.reconnect_backoff_max)
            .field("connect_timeout", &self.connect_timeout)
            .field("handshake_timeout", &self.handshake_timeout)
            .field("flush_timeout", &self.flush_timeout)
            .field("max_inbound_connections", &self.max_inbound_connections)
            .field("join_timeout", &self.join_timeout)
            .field("max_join_connections", &self.max_join_connections)
            .field("join_rate_burst", &self.join_rate_burst)
            .field("join_rate_interval", &self.join_rate_interval)
            .finish()
    }
}

impl TcpConfig {
    /// Default per-peer queue length.
    pub const DEFAULT_QUEUE_CAPACITY: usize = 64;
    /// Default first reconnect delay.
    pub const DEFAULT_RECONNECT_BACKOFF_MIN: Duration = Duration::from_millis(10);
    /// Default longest reconnect delay.
    pub const DEFAULT_RECONNECT_BACKOFF_MAX: Duration = Duration::from_secs(1);
    /// Default connect timeout.
    pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
    /// Default handshake timeout.
    pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(1);
    /// Default flush time at shutdown: enough for a handing-over Goose's
    /// `TimeoutNow` on a LAN, short enough not to hold up a shutdown.
    pub const DEFAULT_FLUSH_TIMEOUT: Duration = Duration::from_millis(100);
    /// Default cap on simultaneous inbound connections.
    pub const DEFAULT_MAX_INBOUND_CONNECTIONS: usize = 64;
    /// Default wait for the answer to a join request: a membership change
    /// commits within a few heartbeats, unless an election is under way.
    pub const DEFAULT_JOIN_TIMEOUT: Duration = Duration::from_secs(10);
    /// Default cap on join requests being answered at once.
    pub const DEFAULT_MAX_JOIN_CONNECTIONS: usize = 4;
    /// Default burst of join requests.
    pub const DEFAULT_JOIN_RATE_BURST: u32 = 8;
    /// Default sustained rate of join requests: ten a second.
    pub const DEFAULT_JOIN_RATE_INTERVAL: Duration = Duration::from_millis(100);

    /// A configuration with the defaults: no cluster key, 64 queued messages
    /// per peer, reconnect backoff 10 ms to 1 s, 1 s connect and handshake
    /// timeouts, 100 ms flush at shutdown, at most 64 inbound connections;
    /// join requests answered within 10 s, at most 4 at once, in bursts of
    /// 8 and 10 a second.
    pub fn new(id: NodeId, cluster_id: impl Into<String>) -> Self {
        TcpConfig {
            id,
            cluster_id: cluster_id.into(),
            cluster_key: None,
            queue_capacity: Self::DEFAULT_QUEUE_CAPACITY,
            reconnect_backoff_min: Self::DEFAULT_RECONNECT_BACKOFF_MIN,
            reconnect_backoff_max: Self::DEFAULT_RECONNECT_BACKOFF_MAX,
            connect_timeout: Self::DEFAULT_CONNECT_TIMEOUT,
            handshake_timeout: Self::DEFAULT_HANDSHAKE_TIMEOUT,
            flush_timeout: Self::DEFAULT_FLUSH_TIMEOUT,
            max_inbound_connections: Self::DEFAULT_MAX_INBOUND_CONNECTIONS,
            join_timeout: Self::DEFAULT_JOIN_TIMEOUT,
            max_join_connections: Self::DEFAULT_MAX_JOIN_CONNECTIONS,
            join_rate_burst: Self::DEFAULT_JOIN_RATE_BURST,
            join_rate_interval: Self::DEFAULT_JOIN_RATE_INTERVAL,
        }
    }

    /// The same configuration with `key` as the pre-shared cluster key
    /// (see [`cluster_key`](Self::cluster_key)): handshakes and every frame
    /// are then authenticated with HMAC-SHA256. None by default.
    ///
    /// Checked by [`validate`](Self::validate): not empty
    /// ([`TcpConfigError::EmptyClusterKey`]).
    #[must_use]
    pub fn with_cluster_key(mut self, key: impl Into<Vec<u8>>) -> Self {
        self.cluster_key = Some(key.into());
        self
    }

    /// The same configuration queueing up to `queue_capacity` outbound
    /// messages per peer while its connection is down or slow; beyond it the
    /// oldest heartbeat is dropped. Default
    /// [`DEFAULT_QUEUE_CAPACITY`](Self::DEFAULT_QUEUE_CAPACITY) (64).
    ///
    /// Checked by [`validate`](Self::validate): at least 1
    /// ([`TcpConfigError::ZeroQueueCapacity`]).
    #[must_use]
    pub fn with_queue_capacity(mut self, queue_capacity: usize) -> Self {
        self.queue_capacity = queue_capacity;
        self
    }

    /// The same configuration waiting `reconnect_backoff_min` before
    /// redialling a peer the first time; the delay doubles on every failure
    /// up to [`reconnect_backoff_max`](Self::reconnect_backoff_max). Default
    /// [`DEFAULT_RECONNECT_BACKOFF_MIN`](Self::DEFAULT_RECONNECT_BACKOFF_MIN)
    /// (10 ms).
    ///
    /// Checked by [`validate`](Self::validate): above zero and at most the
    /// maximum ([`TcpConfigError::ReconnectBackoff`]).
    #[must_use]
    pub fn with_reconnect_backoff_min(mut self, reconnect_backoff_min: Duration) -> Self {
        self.reconnect_backoff_min = reconnect_backoff_min;
        self
    }

    /// The same configuration waiting at most `reconnect_backoff_max` between
    /// two dials to a peer. Default
    /// [`DEFAULT_RECONNECT_BACKOFF_MAX`](Self::DEFAULT_RECONNECT_BACKOFF_MAX)
    /// (1 s).
    ///
    /// Checked by [`validate`](Self::validate): at least the minimum
    /// ([`TcpConfigError::ReconnectBackoff`]).
    #[must_use]
    pub fn with_reconnect_backoff_max(mut self, reconnect_backoff_max: Duration) -> Self {
        self.reconnect_backoff_max = reconnect_backoff_max;
        self
    }

    /// The same configuration waiting at most `connect_timeout` for a TCP
    /// connection to a peer to open. Default
    /// [`DEFAULT_CONNECT_TIMEOUT`](Self::DEFAULT_CONNECT_TIMEOUT) (1 s).
    ///
    /// Checked by [`validate`](Self::validate): above zero
    /// ([`TcpConfigError::ZeroTimeout`]).
    #[must_use]
    pub fn with_connect_timeout(mut self, connect_timeout: Duration) -> Self {
        self.connect_timeout = connect_timeout;
        self
    }

    /// The same configuration allowing a handshake `handshake_timeout`, on
    /// either side; an inbound connection that has not completed it by then
    /// is closed. Default
    /// [`DEFAULT_HANDSHAKE_TIMEOUT`](Self::DEFAULT_HANDSHAKE_TIMEOUT) (1 s).
    ///
    /// Checked by [`validate`](Self::validate): above zero
    /// ([`TcpConfigError::ZeroTimeout`]).
    #[must_use]
    pub fn with_handshake_timeout(mut self, handshake_timeout: Duration) -> Self {
        self.handshake_timeout = handshake_timeout;
        self
    }

    /// The same configuration waiting at most `flush_timeout`, at shutdown,
    /// for queued messages to leave. Default
    /// [`DEFAULT_FLUSH_TIMEOUT`](Self::DEFAULT_FLUSH_TIMEOUT) (100 ms). Any
    /// value is valid; zero leaves without waiting.
    #[must_use]
    pub fn with_flush_timeout(mut self, flush_timeout: Duration) -> Self {
        self.flush_timeout = flush_timeout;
        self
    }

    /// The same configuration holding at most `max_inbound_connections`
    /// inbound connections at once; more are closed at once. Default
    /// [`DEFAULT_MAX_INBOUND_CONNECTIONS`](Self::DEFAULT_MAX_INBOUND_CONNECTIONS)
    /// (64).
    ///
    /// Checked by [`validate`](Self::validate): at least 1
    /// ([`TcpConfigError::ZeroMaxInboundConnections`]).
    #[must_use]
    pub fn with_max_inbound_connections(mut self, max_inbound_connections: usize) -> Self {
        self.max_inbound_connections = max_inbound_connections;
        self
    }

    /// The same configuration waiting at most `join_timeout`, on a join
    /// connection, for the answer to the request (this node's, or the
    /// Goose's when this node forwards it); past it the joiner is refused.
    /// Default [`DEFAULT_JOIN_TIMEOUT`](Self::DEFAULT_JOIN_TIMEOUT) (10 s).
    ///
    /// Checked by [`validate`](Self::validate): above zero
    /// ([`TcpConfigError::ZeroTimeout`]).
    #[must_use]
    pub fn with_join_timeout(mut self, join_timeout: Duration) -> Self {
        self.join_timeout = join_timeout;
        self
    }

    /// The same configuration answering at most `max_join_connections` join
    /// requests at once (see
    /// [`max_join_connections`](Self::max_join_connections)); more are
    /// refused as busy. Default
    /// [`DEFAULT_MAX_JOIN_CONNECTIONS`](Self::DEFAULT_MAX_JOIN_CONNECTIONS)
    /// (4).
    ///
    /// Checked by [`validate`](Self::validate): at least 1
    /// ([`TcpConfigError::ZeroMaxJoinConnections`]).
    #[must_use]
    pub fn with_max_join_connections(mut self, max_join_connections: usize) -> Self {
        self.max_join_connections = max_join_connections;
        self
    }

    /// The same configuration accepting `join_rate_burst` join requests in a
    /// burst, then one per [`join_rate_interval`](Self::join_rate_interval);
    /// the others are refused as busy. Default
    /// [`DEFAULT_JOIN_RATE_BURST`](Self::DEFAULT_JOIN_RATE_BURST) (8).
    ///
    /// Checked by [`validate`](Self::validate): at least 1
    /// ([`TcpConfigError::JoinRate`]).
    #[must_use]
    pub fn with_join_rate_burst(mut self, join_rate_burst: u32) -> Self {
        self.join_rate_burst = join_rate_burst;
        self
    }

    /// The same configuration accepting, after the burst, one join request
    /// per `join_rate_interval`. Default
    /// [`DEFAULT_JOIN_RATE_INTERVAL`](Self::DEFAULT_JOIN_RATE_INTERVAL)
    /// (100 ms: ten a second).
    ///
    /// Checked by [`validate`](Self::validate): above zero
    /// ([`TcpConfigError::JoinRate`]).
    #[must_use]
    pub fn with_join_rate_interval(mut self, join_rate_interval: Duration) -> Self {
        self.join_rate_interval = join_rate_interval;
        self
    }

    /// Checks the configuration.
    pub fn validate(&self) -> Result<(), TcpConfigError> {
        check_cluster_id(&self.cluster_id).map_err(|error| match error {
            NodeIdentityError::EmptyClusterId => TcpConfigError::EmptyClusterId,
            NodeIdentityError::ClusterIdTooLong { len, max } => {
                TcpConfigError::ClusterIdTooLong { len, max }
            }
        })?;
        if self.cluster_key.as_ref().is_some_and(Vec::is_empty) {
            return Err(TcpConfigError::EmptyClusterKey);
        }
        if self.queue_capacity == 0 {
            return Err(TcpConfigError::ZeroQueueCapacity);
        }
        if self.max_inbound_connections == 0 {
            return Err(TcpConfigError::ZeroMaxInboundConnections);
        }
        if self.max_join_connections == 0 {
            return Err(TcpConfigError::ZeroMaxJoinConnections);
        }
        if self.join_rate_burst == 0 || self.join_rate_interval.is_zero() {
            return Err(TcpConfigError::JoinRate {
                burst: self.join_rate_burst,
                interval: self.join_rate_interval,
            });
        }
        if self.reconnect_backoff_min.is_zero()
            || self.reconnect_backoff_min > self.reconnect_backoff_max
        {
            return Err(TcpConfigError::ReconnectBackoff {
                min: self.reconnect_backoff_min,
                max: self.reconnect_backoff_max,
            });
        }
        for (name, value) in [
            ("connect_timeout", self.connect_timeout),
            ("handshake_timeout", self.handshake_timeout),
            ("join_timeout", self.join_timeout),
        ] {
            if value.is_zero() {
                return Err(TcpConfigError::ZeroTimeout(name));
            }
        }
        Ok(())
    }
}

/// Why a [`TcpConfig`] is invalid.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum TcpConfigError {
    /// `cluster_id` is empty.
    #[error("cluster_id must not be empty")]
    EmptyClusterId,
    /// `cluster_id` is too long to travel in a handshake.
    #[error("cluster_id is {len} bytes, more than the maximum of {max}")]
    ClusterIdTooLong {
        /// Its length in bytes.
        len: usize,
        /// [`MAX_CLUSTER_ID_LEN`].
        max: usize,
    },
    /// `cluster_key` is set but empty, which would authenticate nothing.
    #[error("cluster_key must not be empty when set")]
    EmptyClusterKey,
    /// `queue_capacity` is zero.
    #[error("queue_capacity must be at least 1")]
    ZeroQueueCapacity,
    /// `max_inbound_connections` is zero.
    #[error("max_inbound_connections must be at least 1")]
    ZeroMaxInboundConnections,
    /// `max_join_connections` is zero.
    #[error("max_join_connections must be at least 1")]
    ZeroMaxJoinConnections,
    /// The join rate allows nothing: a zero burst or interval.
    #[error(
        "join rate must have a burst of at least 1 and a non-zero interval, got burst {burst}, interval {interval:?}"
    )]
    JoinRate {
        /// `join_rate_burst`.
        burst: u32,
        /// `join_rate_interval`.
        interval: Duration,
    },
    /// The reconnect backoff range is empty or starts at zero.
    #[error("reconnect backoff must satisfy 0 < min <= max, got min {min:?}, max {max:?}")]
    ReconnectBackoff {
        /// `reconnect_backoff_min`.
        min: Duration,
        /// `reconnect_backoff_max`.
        max: Duration,
    },
    /// A timeout is zero.
    #[error("{0} must be greater than zero")]
    ZeroTimeout(&'static str),
    /// HMAC-SHA256 refused `cluster_key`. HMAC takes keys of any length, so
    /// this does not happen; it is reported rather than unwrapped all the
    /// same.
    #[error("cluster_key is not usable as an HMAC-SHA256 key")]
    UnusableClusterKey,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_setter_sets_its_own_field() {
        let ms = Duration::from_millis;
        let built = TcpConfig::new(NodeId(1), "c")
            .with_cluster_key(*b"key")
            .with_queue_capacity(1)
            .with_reconnect_backoff_min(ms(2))
            .with_reconnect_backoff_max(ms(3))
            .with_connect_timeout(ms(4))
            .with_handshake_timeout(ms(5))
            .with_flush_timeout(ms(6))
            .with_max_inbound_connections(7)
            .with_join_timeout(ms(8))
            .with_max_join_connections(9)
            .with_join_rate_burst(10)
            .with_join_rate_interval(ms(11));
        let mut expected = TcpConfig::new(NodeId(1), "c");
        expected.cluster_key = Some(b"key".to_vec());
        expected.queue_capacity = 1;
        expected.reconnect_backoff_min = ms(2);
        expected.reconnect_backoff_max = ms(3);
        expected.connect_timeout = ms(4);
        expected.handshake_timeout = ms(5);
        expected.flush_timeout = ms(6);
        expected.max_inbound_connections = 7;
        expected.join_timeout = ms(8);
        expected.max_join_connections = 9;
        expected.join_rate_burst = 10;
        expected.join_rate_interval = ms(11);
        // `TcpConfig` has no `PartialEq` (it holds a key); its `Debug`
        // redacts only the key, which the last line compares.
        assert_eq!(format!("{built:?}"), format!("{expected:?}"));
        assert_eq!(built.cluster_key, expected.cluster_key);
    }
}
