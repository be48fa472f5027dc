//! The serialized shapes of a [`Membership`]: the one this build reads
//! (checked on the way in) and the one without metadata that version-2
//! state files hold.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::{Membership, MembershipId};
use crate::core::metadata::{MetadataError, NodeMetadata};
use crate::core::types::NodeId;

/// A membership as it arrives, its metadata not checked yet: the fields of
/// [`Membership`] in its order, metadata as plain maps. Deserializing a
/// `Membership` goes through it, so no unchecked metadata gets in; storage
/// decodes it itself to report a broken bound as a typed error.
#[derive(Deserialize)]
pub(crate) struct MembershipRepr {
    id: MembershipId,
    voters: BTreeSet<NodeId>,
    learners: BTreeSet<NodeId>,
    joining: BTreeSet<NodeId>,
    addresses: BTreeMap<NodeId, String>,
    metadata: BTreeMap<NodeId, BTreeMap<String, String>>,
}

impl TryFrom<MembershipRepr> for Membership {
    type Error = MetadataError;

    /// Checks each node's metadata and all of it together. Empty entries
    /// are dropped (a membership never holds one), so a peer's needless
    /// entry costs nothing; storage, which wants one encoding per
    /// membership, sees the difference when it re-encodes.
    fn try_from(repr: MembershipRepr) -> Result<Self, MetadataError> {
        let mut metadata = BTreeMap::new();
        for (id, map) in repr.metadata {
            let checked = NodeMetadata::try_from(map)?;
            if !checked.is_empty() {
                metadata.insert(id, checked);
            }
        }
        let membership = Membership {
            id: repr.id,
            voters: repr.voters,
            learners: repr.learners,
            joining: repr.joining,
            addresses: repr.addresses,
            metadata,
        };
        membership.check_metadata_len()?;
        Ok(membership)
    }
}

/// A membership as version-2 state files hold it: without metadata.
#[cfg_attr(not(feature = "runtime"), allow(dead_code))]
#[derive(Serialize, Deserialize)]
pub(crate) struct LegacyMembership {
    id: MembershipId,
    voters: BTreeSet<NodeId>,
    learners: BTreeSet<NodeId>,
    joining: BTreeSet<NodeId>,
    addresses: BTreeMap<NodeId, String>,
}

impl From<LegacyMembership> for Membership {
    /// The same members and addresses, no metadata.
    fn from(legacy: LegacyMembership) -> Self {
        Membership {
            id: legacy.id,
            voters: legacy.voters,
            learners: legacy.learners,
            joining: legacy.joining,
            addresses: legacy.addresses,
            metadata: BTreeMap::new(),
        }
    }
}

impl From<&Membership> for LegacyMembership {
    /// The membership without its metadata (to write old files in tests).
    fn from(membership: &Membership) -> Self {
        LegacyMembership {
            id: membership.id,
            voters: membership.voters.clone(),
            learners: membership.learners.clone(),
            joining: membership.joining.clone(),
            addresses: membership.addresses.clone(),
        }
    }
}
