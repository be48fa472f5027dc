//! Where the Goose is, in one call, and adding a node with its metadata:
//! what a service needs to forward a request to the Goose.

use super::changes::NewMember;
use super::error::HandleError;
use super::handle::{Command, NodeHandle};
use crate::core::{Membership, NodeId, NodeMetadata, Term};

/// The Goose as a node knows it, from [`NodeHandle::goose`]: who it is, the
/// term it leads, and where to reach it.
///
/// To forward a request to the Goose, send it to the address its metadata
/// publishes for the purpose (for example `metadata.get("http")`, set with
/// [`NodeConfig::with_metadata`](crate::runtime::NodeConfig::with_metadata)
/// or the node binary's `--meta http=...`), or derive one from its cluster
/// `address`. The answer is a hint, not a promise: on a Duck it is the Goose
/// it last heard from, which may have been deposed since. The Goose itself
/// checks its lease for each request it serves, so a stale hint costs one
/// refused forward; ask again then.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct GooseInfo {
    /// The Goose.
    pub id: NodeId,
    /// The term it leads (on a Duck: the Duck's current term, in which it
    /// heard from that Goose).
    pub term: Term,
    /// Its cluster address from the membership, if recorded.
    pub address: Option<String>,
    /// Its metadata from the membership (empty if it has none).
    pub metadata: NodeMetadata,
}

impl GooseInfo {
    /// Node `id`, leading `term`, with what `membership` records of it.
    pub(crate) fn from_membership(id: NodeId, term: Term, membership: &Membership) -> Self {
        GooseInfo {
            id,
            term,
            address: membership.address(id).map(str::to_owned),
            metadata: membership.metadata(id).cloned().unwrap_or_default(),
        }
    }
}

impl NodeHandle {
    /// The current Goose as this node knows it, with its cluster address and
    /// metadata: the forwarding address in one call (see [`GooseInfo`]).
    ///
    /// On the Goose this is itself, only while its lease holds (as
    /// [`lease`](Self::lease) answers). On a Duck it is the Goose it follows
    /// ([`NodeStatus::leader`](crate::runtime::NodeStatus::leader)). `None`
    /// when no Goose is known (an election is under way; ask again shortly),
    /// when this node has stopped, and when its core still names itself
    /// without a lease (a stalled Goose is nobody to forward to).
    pub fn goose(&self) -> Option<GooseInfo> {
        if let Some(lease) = self.lease() {
            return Some(GooseInfo::from_membership(
                self.id(),
                lease.term,
                &self.membership(),
            ));
        }
        let status = self.status();
        let leader = status
            .leader
            .filter(|&leader| status.running && leader != status.id)?;
        Some(GooseInfo::from_membership(
            leader,
            status.term,
            &status.full_membership,
        ))
    }

    /// [`add_node`](Self::add_node) of a node that brings `metadata` (what it
    /// says about itself, such as its application URL), recorded in the
    /// membership with its address and replicated to every member, so that
    /// [`goose`](Self::goose) and
    /// [`Membership::metadata`](crate::core::Membership::metadata) show it on
    /// every node.
    ///
    /// A member's address and metadata are fixed while it is a member: adding
    /// it again with the same ones returns the membership in force, with
    /// other metadata fails with
    /// [`MembershipError::MetadataConflict`](crate::core::MembershipError::MetadataConflict)
    /// (remove it and add it again to change them). Fails with
    /// [`MembershipError::Metadata`](crate::core::MembershipError::Metadata)
    /// when all members' metadata together would exceed
    /// [`MAX_MEMBERSHIP_METADATA_LEN`](crate::core::MAX_MEMBERSHIP_METADATA_LEN).
    /// Other errors as for [`add_node`](Self::add_node).
    pub async fn add_node_with_metadata(
        &self,
        id: NodeId,
        addr: impl Into<String>,
        metadata: NodeMetadata,
    ) -> Result<Membership, HandleError> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let addr = NewMember {
            addr: addr.into(),
            metadata,
        };
        self.request(Command::AddNode { id, addr, reply }, answer)
            .await
    }
}
