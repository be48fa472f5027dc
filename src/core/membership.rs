//! Who takes part in the cluster: voters, and learners that follow without
//! voting; versioned so that it can change while the cluster runs.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::metadata::{MAX_MEMBERSHIP_METADATA_LEN, MetadataError, NodeMetadata};
use super::types::{NodeId, Term};

mod wire;

#[cfg(feature = "runtime")]
pub(crate) use wire::LegacyMembership;
pub(crate) use wire::MembershipRepr;

/// Which membership a node holds: the term of the Goose that issued it, then
/// a version that grows with every change.
///
/// Ids are ordered by `(term, version)`, the way Raft orders log positions.
/// Every new Goose re-issues its membership under its own term before it
/// changes anything (Raft's "no-op entry"), so a membership that an older
/// Goose proposed but never committed always compares lower than the one in
/// force, and a node holding it cannot win an election.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct MembershipId {
    /// The term of the Goose that issued this membership; `Term(0)` for the
    /// one a cluster was configured with.
    pub term: Term,
    /// Counts changes (re-issues included) since the configured membership,
    /// which is version 0.
    pub version: u64,
}

impl fmt::Display for MembershipId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "v{}@t{}", self.version, self.term)
    }
}

/// The members of a cluster: **voters**, which elect the Goose and count
/// towards its lease, and **learners**, non-voting Ducks that receive
/// heartbeats and know the Goose but never vote, never campaign and never
/// count towards a quorum. A learner added with
/// [`Election::propose_add`](crate::core::Election::propose_add) is
/// *joining*: the Goose promotes it to voter once it has acknowledged
/// heartbeats for a whole election timeout.
///
/// It also carries each member's address, so that a node that learns of a
/// new member knows where to reach it, and its [`NodeMetadata`] (what it
/// says about itself, such as its application URL), so that any node can
/// tell a client where the Goose serves. The core never reads either; they
/// travel with the membership for the transport's and the application's
/// sake. A member's address and metadata are fixed while it is a member:
/// adding it again with others is refused
/// ([`MembershipError::AddressConflict`],
/// [`MembershipError::MetadataConflict`]); remove it and add it again to
/// change them.
///
/// Deserializing checks the metadata (every bound of [`NodeMetadata`], and
/// [`MAX_MEMBERSHIP_METADATA_LEN`] for all members together), so a
/// membership from the wire or from storage holds only valid metadata.
///
/// `BTreeSet`s keep iteration order fixed, so the order of the messages a
/// node sends never depends on hashing: the same seed and
/// inputs give the same outputs.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "MembershipRepr")]
pub struct Membership {
    id: MembershipId,
    voters: BTreeSet<NodeId>,
    learners: BTreeSet<NodeId>,
    /// The learners that are to become voters once caught up; a subset of
    /// `learners`.
    joining: BTreeSet<NodeId>,
    addresses: BTreeMap<NodeId, String>,
    /// Never holds empty metadata, so that each membership has one form.
    metadata: BTreeMap<NodeId, NodeMetadata>,
}

/// Why a membership change was refused. A refused change changes nothing.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum MembershipError {
    /// Changes are made by the Goose; this node is not it.
    #[error("this node is not the Goose (the Goose is {})", leader.map_or_else(|| "unknown".to_owned(), |id| id.to_string()))]
    NotGoose {
        /// The Goose this node knows of, to retry there.
        leader: Option<NodeId>,
    },
    /// Another change is not committed yet; one change at a time.
    #[error("membership change {pending} is not committed yet; one change at a time")]
    ChangeInProgress {
        /// The uncommitted membership.
        pending: MembershipId,
    },
    /// This Goose was just elected: until a majority has acknowledged it in
    /// its own term (holding its re-issued membership), it makes no change.
    /// Usually a matter of milliseconds; retry (the runtime does).
    #[error(
        "this Goose was just elected and has not yet been confirmed by a majority; retry shortly"
    )]
    NotYetConfirmed,
    /// The node is already a member, at another address.
    #[error("node {id} is already a member at {existing}, not {requested}")]
    AddressConflict {
        /// The node.
        id: NodeId,
        /// Its address in the membership.
        existing: String,
        /// The address asked for.
        requested: String,
    },
    /// The node is not a member.
    #[error("node {0} is not a member")]
    NotAMember(NodeId),
    /// Removing this node would leave no voter.
    #[error("node {0} is the last voter; a cluster needs at least one")]
    LastVoter(NodeId),
    /// The address is not `HOST:PORT`.
    #[error("address {0:?} is not HOST:PORT")]
    InvalidAddress(String),
    /// The node is already a member, with other metadata.
    #[error(
        "node {id} is already a member with other metadata; remove it and add it again to change it"
    )]
    MetadataConflict {
        /// The node.
        id: NodeId,
    },
    /// The change would break a bound on metadata: all members' metadata
    /// together would exceed [`MAX_MEMBERSHIP_METADATA_LEN`].
    #[error(transparent)]
    Metadata(#[from] MetadataError),
}

impl Membership {
    /// A membership made of these voters and no learners, at version 0.
    pub fn new(voters: impl IntoIterator<Item = NodeId>) -> Self {
        Membership {
            voters: voters.into_iter().collect(),
            ..Membership::default()
        }
    }

    /// The same membership with these (permanent, never promoted) learners
    /// added.
    #[must_use]
    pub fn with_learners(mut self, learners: impl IntoIterator<Item = NodeId>) -> Self {
        self.learners.extend(learners);
        self
    }

    /// The same membership with these addresses (`"HOST:PORT"`) recorded;
    /// later entries replace earlier ones for the same id.
    #[must_use]
    pub fn with_addresses<S: Into<String>>(
        mut self,
        addresses: impl IntoIterator<Item = (NodeId, S)>,
    ) -> Self {
        self.addresses
            .extend(addresses.into_iter().map(|(id, addr)| (id, addr.into())));
        self
    }

    /// The same membership with `metadata` recorded for `id`, replacing any
    /// it had; empty metadata removes the entry. Nothing is checked here:
    /// each [`NodeMetadata`] is valid by construction, and the bound on all
    /// members together is checked where a membership is admitted
    /// ([`check_metadata_len`](Self::check_metadata_len)).
    #[must_use]
    pub fn with_metadata(mut self, id: NodeId, metadata: NodeMetadata) -> Self {
        self.set_metadata(id, metadata);
        self
    }

    /// Which membership this is.
    pub fn id(&self) -> MembershipId {
        self.id
    }

    /// Whether `id` is a voting member.
    pub fn is_voter(&self, id: NodeId) -> bool {
        self.voters.contains(&id)
    }

    /// Whether `id` is a learner (joining or permanent).
    pub fn is_learner(&self, id: NodeId) -> bool {
        self.learners.contains(&id)
    }

    /// Whether `id` is a learner that will be promoted to voter once it has
    /// kept up with the Goose for an election timeout.
    pub fn is_joining(&self, id: NodeId) -> bool {
        self.joining.contains(&id)
    }

    /// Whether `id` may send messages to this cluster at all: a voter or a
    /// learner.
    pub fn contains(&self, id: NodeId) -> bool {
        self.is_voter(id) || self.is_learner(id)
    }

    /// The voters, in ascending id order.
    pub fn voters(&self) -> impl ExactSizeIterator<Item = NodeId> + '_ {
        self.voters.iter().copied()
    }

    /// The learners, joining ones included, in ascending id order.
    pub fn learners(&self) -> impl ExactSizeIterator<Item = NodeId> + '_ {
        self.learners.iter().copied()
    }

    /// The joining learners, in ascending id order.
    pub fn joining(&self) -> impl ExactSizeIterator<Item = NodeId> + '_ {
        self.joining.iter().copied()
    }

    /// Every member, voters and learners, in ascending id order.
    pub fn members(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.voters.union(&self.learners).copied()
    }

    /// The address recorded for `id`, if any.
    pub fn address(&self, id: NodeId) -> Option<&str> {
        self.addresses.get(&id).map(String::as_str)
    }

    /// Every recorded address, by node id.
    pub fn addresses(&self) -> &BTreeMap<NodeId, String> {
        &self.addresses
    }

    /// The metadata recorded for `id`, if it has any (never empty).
    pub fn metadata(&self, id: NodeId) -> Option<&NodeMetadata> {
        self.metadata.get(&id)
    }

    /// Every node's recorded metadata, by node id (nodes without any are
    /// absent).
    pub fn all_metadata(&self) -> &BTreeMap<NodeId, NodeMetadata> {
        &self.metadata
    }

    /// How many bytes every node's metadata takes encoded, together: the
    /// bound [`MAX_MEMBERSHIP_METADATA_LEN`] applies to this.
    pub fn metadata_len(&self) -> usize {
        self.metadata.values().map(NodeMetadata::encoded_len).sum()
    }

    /// Checks the bound on all members' metadata together
    /// ([`MAX_MEMBERSHIP_METADATA_LEN`]), so that a heartbeat carrying this
    /// membership keeps room for its members' ids and addresses.
    pub fn check_metadata_len(&self) -> Result<(), MetadataError> {
        let len = self.metadata_len();
        if len > MAX_MEMBERSHIP_METADATA_LEN {
            return Err(MetadataError::MembershipTooLarge {
                len,
                max: MAX_MEMBERSHIP_METADATA_LEN,
            });
        }
        Ok(())
    }

    /// Whether `id` is a member recorded at `addr` with `metadata`: adding
    /// it so again changes nothing.
    pub(crate) fn records(&self, id: NodeId, addr: &str, metadata: &NodeMetadata) -> bool {
        self.contains(id)
            && self.address(id) == Some(addr)
            && self.metadata_or_empty(id) == metadata
    }

    fn metadata_or_empty(&self, id: NodeId) -> &NodeMetadata {
        const EMPTY: &NodeMetadata = &NodeMetadata::new();
        self.metadata(id).unwrap_or(EMPTY)
    }

    fn set_metadata(&mut self, id: NodeId, metadata: NodeMetadata) {
        if metadata.is_empty() {
            self.metadata.remove(&id);
        } else {
            self.metadata.insert(id, metadata);
        }
    }

    /// How many voters there are; learners do not count.
    pub fn voter_count(&self) -> usize {
        self.voters.len()
    }

    /// Whether there are no voters at all, learners or not (never true for a
    /// valid config).
    pub fn has_no_voters(&self) -> bool {
        self.voters.is_empty()
    }

    /// How many votes (or acknowledgements) of voters make a majority.
    pub fn quorum(&self) -> usize {
        self.voters.len() / 2 + 1
    }

    /// A node that is both a voter and a learner, if any (never true for a
    /// valid config).
    pub fn voter_and_learner(&self) -> Option<NodeId> {
        self.voters.intersection(&self.learners).next().copied()
    }

    // ----- changes (the Goose's side) ---------------------------------------

    /// The next membership issued by the Goose of `term`: the same members,
    /// a newer id.
    pub(crate) fn reissued(&self, term: Term) -> Membership {
        let mut next = self.clone();
        next.id = MembershipId {
            term,
            version: self.id.version.saturating_add(1),
        };
        next
    }

    /// [`adding_with_metadata`](Self::adding_with_metadata) without
    /// metadata.
    #[cfg(test)]
    pub(crate) fn adding(
        &self,
        term: Term,
        id: NodeId,
        addr: &str,
    ) -> Result<Option<Membership>, MembershipError> {
        self.adding_with_metadata(term, id, addr, &NodeMetadata::new())
    }

    /// The next membership with `id` added as a joining learner at `addr`,
    /// with `metadata`. Adding a member again at the same address with the
    /// same metadata is not an error: `Ok(None)`, nothing to change (a
    /// joining node may ask twice). Another address or other metadata is
    /// refused: a member's record is fixed while it is a member.
    pub(crate) fn adding_with_metadata(
        &self,
        term: Term,
        id: NodeId,
        addr: &str,
        metadata: &NodeMetadata,
    ) -> Result<Option<Membership>, MembershipError> {
        validate_address(addr)?;
        let mut next = if self.contains(id) {
            match self.address(id) {
                Some(existing) if existing != addr => {
                    return Err(MembershipError::AddressConflict {
                        id,
                        existing: existing.to_owned(),
                        requested: addr.to_owned(),
                    });
                }
                Some(_) if self.metadata_or_empty(id) == metadata => return Ok(None),
                Some(_) => return Err(MembershipError::MetadataConflict { id }),
                // A member configured without an address: record it, and
                // the metadata given with it.
                None => self.reissued(term),
            }
        } else {
            let mut next = self.reissued(term);
            next.learners.insert(id);
            next.joining.insert(id);
            next
        };
        next.addresses.insert(id, addr.to_owned());
        next.set_metadata(id, metadata.clone());
        next.check_metadata_len()?;
        Ok(Some(next))
    }

    /// The next membership with `id` removed, whatever its kind.
    pub(crate) fn removing(&self, term: Term, id: NodeId) -> Result<Membership, MembershipError> {
        if !self.contains(id) {
            return Err(MembershipError::NotAMember(id));
        }
        if self.is_voter(id) && self.voters.len() == 1 {
            return Err(MembershipError::LastVoter(id));
        }
        let mut next = self.reissued(term);
        next.voters.remove(&id);
        next.learners.remove(&id);
        next.joining.remove(&id);
        next.addresses.remove(&id);
        next.metadata.remove(&id);
        Ok(next)
    }

    /// The next membership with the joining learner `id` made a voter.
    pub(crate) fn promoting(&self, term: Term, id: NodeId) -> Membership {
        let mut next = self.reissued(term);
        if next.joining.remove(&id) {
            next.learners.remove(&id);
            next.voters.insert(id);
        }
        next
    }
}

/// A light check that `addr` looks like `HOST:PORT`: the core never resolves
/// it, but catching a typo here beats a transport retrying it forever.
fn validate_address(addr: &str) -> Result<(), MembershipError> {
    let invalid = || MembershipError::InvalidAddress(addr.to_owned());
    let (host, port) = addr.rsplit_once(':').ok_or_else(invalid)?;
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if host.is_empty() || host.chars().any(char::is_whitespace) || port.parse::<u16>().is_err() {
        return Err(invalid());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(it: impl Iterator<Item = NodeId>) -> Vec<u64> {
        it.map(|id| id.0).collect()
    }

    #[test]
    fn ids_order_by_term_then_version() {
        let old_term_high_version = MembershipId {
            term: Term(3),
            version: 9,
        };
        let new_term_low_version = MembershipId {
            term: Term(4),
            version: 1,
        };
        assert!(old_term_high_version < new_term_low_version);
    }

    #[test]
    fn adding_makes_a_joining_learner_and_promoting_a_voter() {
        let base = Membership::new([NodeId(1)]).with_addresses([(NodeId(1), "a:1")]);
        let added = base.adding(Term(2), NodeId(4), "b:2").unwrap().unwrap();
        assert_eq!(
            added.id(),
            MembershipId {
                term: Term(2),
                version: 1
            }
        );
        assert!(added.is_learner(NodeId(4)) && added.is_joining(NodeId(4)));
        assert_eq!(added.address(NodeId(4)), Some("b:2"));
        let promoted = added.promoting(Term(2), NodeId(4));
        assert_eq!(ids(promoted.voters()), [1, 4]);
        assert_eq!(promoted.learners().len(), 0);
        assert_eq!(promoted.joining().len(), 0);
    }

    #[test]
    fn adding_again_is_idempotent_but_not_at_another_address() {
        let base = Membership::new([NodeId(1)]).with_addresses([(NodeId(1), "a:1")]);
        assert_eq!(base.adding(Term(1), NodeId(1), "a:1"), Ok(None));
        assert_eq!(
            base.adding(Term(1), NodeId(1), "a:2"),
            Err(MembershipError::AddressConflict {
                id: NodeId(1),
                existing: "a:1".into(),
                requested: "a:2".into()
            })
        );
    }

    fn meta(value: &str) -> NodeMetadata {
        NodeMetadata::new().with("http", value).unwrap()
    }

    #[test]
    fn adding_records_metadata_and_removing_drops_it() {
        let base = Membership::new([NodeId(1)]).with_addresses([(NodeId(1), "a:1")]);
        let added = base
            .adding_with_metadata(Term(2), NodeId(4), "b:2", &meta("http://b:80"))
            .unwrap()
            .unwrap();
        assert_eq!(added.metadata(NodeId(4)), Some(&meta("http://b:80")));
        assert_eq!(added.metadata(NodeId(1)), None);
        let promoted = added.promoting(Term(2), NodeId(4));
        assert_eq!(promoted.metadata(NodeId(4)), Some(&meta("http://b:80")));
        let removed = promoted.removing(Term(2), NodeId(4)).unwrap();
        assert_eq!(removed.metadata(NodeId(4)), None);
        assert!(removed.all_metadata().is_empty());
    }

    #[test]
    fn adding_again_with_other_metadata_is_refused() {
        let base = Membership::new([NodeId(1)])
            .with_addresses([(NodeId(1), "a:1")])
            .with_metadata(NodeId(1), meta("http://a:80"));
        assert_eq!(
            base.adding_with_metadata(Term(1), NodeId(1), "a:1", &meta("http://a:80")),
            Ok(None)
        );
        for other in [meta("http://a:81"), NodeMetadata::new()] {
            assert_eq!(
                base.adding_with_metadata(Term(1), NodeId(1), "a:1", &other),
                Err(MembershipError::MetadataConflict { id: NodeId(1) })
            );
        }
        // The address is compared first.
        assert!(matches!(
            base.adding_with_metadata(Term(1), NodeId(1), "a:2", &meta("http://a:81")),
            Err(MembershipError::AddressConflict { .. })
        ));
    }

    #[test]
    fn a_member_configured_without_an_address_gets_its_address_and_metadata() {
        let base = Membership::new([NodeId(1), NodeId(2)]);
        let next = base
            .adding_with_metadata(Term(3), NodeId(2), "b:2", &meta("http://b:80"))
            .unwrap()
            .unwrap();
        assert_eq!(next.address(NodeId(2)), Some("b:2"));
        assert_eq!(next.metadata(NodeId(2)), Some(&meta("http://b:80")));
        assert!(next.is_voter(NodeId(2)));
    }

    #[test]
    fn empty_metadata_is_never_recorded() {
        let base = Membership::new([NodeId(1)])
            .with_metadata(NodeId(1), meta("x"))
            .with_metadata(NodeId(1), NodeMetadata::new());
        assert_eq!(base, Membership::new([NodeId(1)]));
    }

    #[test]
    fn all_members_metadata_together_is_bounded() {
        use super::super::metadata::MAX_METADATA_LEN;
        // Full metadata per node: four values of 250 bytes (1017 bytes).
        let value = "v".repeat(250);
        let mut full = NodeMetadata::new();
        for key in ["a", "b", "c", "d"] {
            full.insert(key, value.clone()).unwrap();
        }
        assert!(full.encoded_len() <= MAX_METADATA_LEN);
        let fitting = MAX_MEMBERSHIP_METADATA_LEN / full.encoded_len();
        let mut membership = Membership::new([NodeId(0)]);
        for n in 0..fitting as u64 {
            membership = membership.with_metadata(NodeId(n), full.clone());
        }
        assert_eq!(membership.check_metadata_len(), Ok(()));
        let len = membership.metadata_len() + full.encoded_len();
        assert_eq!(
            membership.adding_with_metadata(Term(1), NodeId(999), "z:1", &full),
            Err(MembershipError::Metadata(
                MetadataError::MembershipTooLarge {
                    len,
                    max: MAX_MEMBERSHIP_METADATA_LEN
                }
            ))
        );
    }

    #[test]
    fn removing_refuses_strangers_and_the_last_voter() {
        let base = Membership::new([NodeId(1)]).with_learners([NodeId(2)]);
        assert_eq!(
            base.removing(Term(1), NodeId(9)),
            Err(MembershipError::NotAMember(NodeId(9)))
        );
        assert_eq!(
            base.removing(Term(1), NodeId(1)),
            Err(MembershipError::LastVoter(NodeId(1)))
        );
        let without_learner = base.removing(Term(1), NodeId(2)).unwrap();
        assert!(!without_learner.contains(NodeId(2)));
    }

    #[test]
    fn addresses_must_be_host_and_port() {
        for good in ["10.0.0.7:7000", "[::1]:7000", "db-3.internal:7000"] {
            assert_eq!(validate_address(good), Ok(()), "{good}");
        }
        for bad in ["", "host", ":7000", "host:", "host:99999", "ho st:1"] {
            assert!(validate_address(bad).is_err(), "{bad}");
        }
    }
}
