//! Who takes part in the cluster: voters, and learners that follow without
//! voting; versioned so that it can change while the cluster runs.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::types::{NodeId, Term};

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
/// new member knows where to reach it. The core never reads addresses; they
/// travel with the membership for the transport's sake.
///
/// `BTreeSet`s keep iteration order fixed, so the order of the messages a
/// node sends never depends on hashing: the same seed and
/// inputs give the same outputs.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Membership {
    id: MembershipId,
    voters: BTreeSet<NodeId>,
    learners: BTreeSet<NodeId>,
    /// The learners that are to become voters once caught up; a subset of
    /// `learners`.
    joining: BTreeSet<NodeId>,
    addresses: BTreeMap<NodeId, String>,
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

    /// The next membership with `id` added as a joining learner at `addr`.
    /// Adding a member again at the same address is not an error: `Ok(None)`,
    /// nothing to change (a joining node may ask twice).
    pub(crate) fn adding(
        &self,
        term: Term,
        id: NodeId,
        addr: &str,
    ) -> Result<Option<Membership>, MembershipError> {
        validate_address(addr)?;
        if self.contains(id) {
            return match self.address(id) {
                Some(existing) if existing == addr => Ok(None),
                Some(existing) => Err(MembershipError::AddressConflict {
                    id,
                    existing: existing.to_owned(),
                    requested: addr.to_owned(),
                }),
                None => {
                    // A member configured without an address: record it.
                    let mut next = self.reissued(term);
                    next.addresses.insert(id, addr.to_owned());
                    Ok(Some(next))
                }
            };
        }
        let mut next = self.reissued(term);
        next.learners.insert(id);
        next.joining.insert(id);
        next.addresses.insert(id, addr.to_owned());
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
