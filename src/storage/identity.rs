//! Which node of which cluster a data directory belongs to, so that a node
//! pointed at another node's directory is refused instead of starting with
//! that node's term and vote (and possibly voting twice in one term).

use std::fmt;

use thiserror::Error;

use crate::core::NodeId;

/// The longest cluster id, in bytes, for every layer that names a cluster:
/// the state file stores the length in one byte, and the TCP transport's
/// handshake carries it (`transport::tcp::MAX_CLUSTER_ID_LEN` is this).
pub(crate) const MAX_CLUSTER_ID_LEN: usize = 255;

const _: () = assert!(MAX_CLUSTER_ID_LEN <= u8::MAX as usize);

/// The node a data directory belongs to: its cluster id and its node id.
///
/// [`FileStorage::open_as`](super::FileStorage::open_as) records it in the
/// state file on first use and refuses the directory to any other identity
/// ([`StorageError::IdentityMismatch`](super::StorageError::IdentityMismatch)).
/// The cluster id follows the TCP transport's rules
/// (`TcpConfig::cluster_id`): 1 to 255 bytes of UTF-8, any characters; it is
/// compared byte for byte.
///
/// Displays as `node 1 of cluster "a"` (the cluster id quoted and escaped,
/// so an odd character in it cannot garble a log line).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct NodeIdentity {
    cluster_id: String,
    node_id: NodeId,
}

impl NodeIdentity {
    /// The identity of node `node_id` of cluster `cluster_id`, or why
    /// `cluster_id` cannot be one (empty, or longer than 255 bytes).
    pub fn new(
        cluster_id: impl Into<String>,
        node_id: NodeId,
    ) -> Result<NodeIdentity, NodeIdentityError> {
        let cluster_id = cluster_id.into();
        check_cluster_id(&cluster_id)?;
        Ok(NodeIdentity {
            cluster_id,
            node_id,
        })
    }

    /// The cluster's id.
    pub fn cluster_id(&self) -> &str {
        &self.cluster_id
    }

    /// The node's id within its cluster.
    pub fn node_id(&self) -> NodeId {
        self.node_id
    }
}

/// The one rule for a cluster id, wherever one is given: 1 to
/// [`MAX_CLUSTER_ID_LEN`] bytes, any characters.
pub(crate) fn check_cluster_id(cluster_id: &str) -> Result<(), NodeIdentityError> {
    if cluster_id.is_empty() {
        return Err(NodeIdentityError::EmptyClusterId);
    }
    if cluster_id.len() > MAX_CLUSTER_ID_LEN {
        return Err(NodeIdentityError::ClusterIdTooLong {
            len: cluster_id.len(),
            max: MAX_CLUSTER_ID_LEN,
        });
    }
    Ok(())
}

impl fmt::Display for NodeIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "node {} of cluster {:?}", self.node_id, self.cluster_id)
    }
}

/// Why a [`NodeIdentity`] cannot be made: the same bounds, and the same
/// wording, as the TCP transport's checks of its cluster id.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum NodeIdentityError {
    /// The cluster id is empty.
    #[error("cluster_id must not be empty")]
    EmptyClusterId,
    /// The cluster id is longer than the state file (and a TCP handshake)
    /// holds.
    #[error("cluster_id is {len} bytes, more than the maximum of {max}")]
    ClusterIdTooLong {
        /// Its length in bytes.
        len: usize,
        /// The maximum, 255.
        max: usize,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_ids_of_1_to_255_bytes_are_identities() {
        for cluster_id in ["a", "prod-eu", "ü", &"x".repeat(255), "a\nb"] {
            let identity = NodeIdentity::new(cluster_id, NodeId(7)).expect("valid");
            assert_eq!(identity.cluster_id(), cluster_id);
            assert_eq!(identity.node_id(), NodeId(7));
        }
    }

    #[test]
    fn empty_and_overlong_cluster_ids_are_refused() {
        assert_eq!(
            NodeIdentity::new("", NodeId(1)),
            Err(NodeIdentityError::EmptyClusterId)
        );
        // 128 two-byte characters: 256 bytes, though 128 characters.
        assert_eq!(
            NodeIdentity::new("é".repeat(128), NodeId(1)),
            Err(NodeIdentityError::ClusterIdTooLong { len: 256, max: 255 })
        );
        assert_eq!(
            NodeIdentityError::ClusterIdTooLong { len: 256, max: 255 }.to_string(),
            "cluster_id is 256 bytes, more than the maximum of 255"
        );
        assert_eq!(
            NodeIdentityError::EmptyClusterId.to_string(),
            "cluster_id must not be empty"
        );
    }

    #[test]
    fn displays_node_and_quoted_cluster() {
        let identity = NodeIdentity::new("a", NodeId(1)).expect("valid");
        assert_eq!(identity.to_string(), "node 1 of cluster \"a\"");
        let odd = NodeIdentity::new("a\"\nb", NodeId(2)).expect("valid");
        assert_eq!(odd.to_string(), "node 2 of cluster \"a\\\"\\nb\"");
    }
}
