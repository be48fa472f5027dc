//! When this node last heard from each member and, while it leads, each
//! member's heartbeat-ack round trip, for status pages; and which
//! non-members it has heard from, for the logs.
//!
//! The driver records a contact for every inbound message; handles read the
//! table on demand. Recording is one atomic store into a table built when
//! the membership changes, under a read lock that only a membership change
//! ever contends for: it never allocates and never wakes status watchers.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{RwLock, RwLockReadGuard};
use std::time::Duration;

use tokio::time::Instant;

use super::round_trip::AckRoundTrip;
use crate::core::{Membership, NodeId};

/// One member of the cluster as this node sees it, from
/// [`NodeHandle::peers`](crate::runtime::NodeHandle::peers).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct PeerStatus {
    /// The member.
    pub id: NodeId,
    /// Its address as the membership records it (from
    /// [`NodeConfig::addresses`](crate::runtime::NodeConfig::addresses), or
    /// given when it was added), if known.
    pub address: Option<String>,
    /// Whether it votes in elections; `false` for a learner
    /// ([`NodeConfig::learners`](crate::runtime::NodeConfig::learners), or a
    /// node added and not yet promoted), which follows the Goose but can
    /// never become it.
    pub voter: bool,
    /// When this node last received a message from it; `None` if never since
    /// this node started. For this node itself, the moment of the call: a
    /// node is always in touch with itself.
    pub last_contact: Option<Instant>,
    /// Its heartbeat-ack round trip, last and smoothed, as this node
    /// measured it in the term it leads (or led, while it is still in that
    /// term: a Goose whose acks come too late loses its lease before they
    /// arrive). `None` for this node itself, for a peer whose ack has not
    /// been measured in that term, and on a node that did not lead its
    /// current term.
    pub ack_round_trip: Option<AckRoundTrip>,
}

/// The members' addresses and last-contact times, shared by the driver
/// (writer) and the handles (readers).
#[derive(Debug)]
pub(crate) struct Peers {
    /// The instant the contact times count from: the node's start.
    epoch: Instant,
    table: RwLock<Table>,
}

/// The members of one membership.
#[derive(Debug)]
struct Table {
    /// The members, voters and learners, in ascending id order; the other
    /// slices line up with it.
    ids: Box<[NodeId]>,
    voters: Box<[bool]>,
    addresses: Box<[Option<String>]>,
    /// Nanoseconds from `epoch` to the last message from each member, plus
    /// one so that zero can mean "never".
    contact_nanos: Box<[AtomicU64]>,
    /// The last and the smoothed ack round trip of each member, in
    /// nanoseconds plus one (zero: none measured).
    rtt_last_nanos: Box<[AtomicU64]>,
    rtt_smoothed_nanos: Box<[AtomicU64]>,
}

impl Table {
    /// A row for every member of `membership`; contact times are taken from
    /// `previous` for the members it already had.
    fn new(membership: &Membership, previous: Option<&Table>) -> Self {
        let ids: Box<[NodeId]> = membership.members().collect();
        debug_assert!(ids.is_sorted(), "members come from an ordered set");
        // A member's value in `previous`, or zero (none) for a new one.
        let kept = |column: fn(&Table) -> &[AtomicU64]| {
            move |id: &NodeId| {
                let nanos = previous
                    .and_then(|table| {
                        let index = table.ids.binary_search(id).ok()?;
                        Some(column(table)[index].load(Ordering::Relaxed))
                    })
                    .unwrap_or(0);
                AtomicU64::new(nanos)
            }
        };
        Table {
            voters: ids.iter().map(|&id| membership.is_voter(id)).collect(),
            addresses: ids
                .iter()
                .map(|&id| membership.address(id).map(str::to_owned))
                .collect(),
            contact_nanos: ids.iter().map(kept(|table| &table.contact_nanos)).collect(),
            rtt_last_nanos: ids
                .iter()
                .map(kept(|table| &table.rtt_last_nanos))
                .collect(),
            rtt_smoothed_nanos: ids
                .iter()
                .map(kept(|table| &table.rtt_smoothed_nanos))
                .collect(),
            ids,
        }
    }
}

impl Peers {
    /// A table for every member of `membership`, voters and learners, with
    /// their recorded addresses and no contact yet.
    pub(crate) fn new(epoch: Instant, membership: &Membership) -> Self {
        Peers {
            epoch,
            table: RwLock::new(Table::new(membership, None)),
        }
    }

    /// Follows a membership change: new members appear without contact,
    /// removed ones go, the others keep their last contact.
    pub(crate) fn replace(&self, membership: &Membership) {
        let next = {
            let current = self.read();
            Table::new(membership, Some(&current))
        };
        // Only the driver writes, so no contact can be recorded between the
        // read above and this swap.
        *self
            .table
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = next;
    }

    /// Records that a message from `from` arrived at `now`. Messages from
    /// non-members are not recorded (the core drops and counts them).
    pub(crate) fn record(&self, from: NodeId, now: Instant) {
        let table = self.read();
        if let Ok(index) = table.ids.binary_search(&from) {
            let nanos = now.saturating_duration_since(self.epoch).as_nanos();
            // 2^64 ns is 584 years of uptime; saturating is a formality.
            let stored = u64::try_from(nanos).unwrap_or(u64::MAX - 1) + 1;
            // A single writer (the driver): no ordering with anything else is
            // needed, readers only want a recent value.
            table.contact_nanos[index].store(stored, Ordering::Relaxed);
        }
    }

    /// Whether `id` is a member.
    pub(crate) fn contains(&self, id: NodeId) -> bool {
        self.read().ids.binary_search(&id).is_ok()
    }

    /// Records member `from`'s ack round trip; a non-member's is ignored.
    pub(crate) fn record_round_trip(&self, from: NodeId, round_trip: AckRoundTrip) {
        let table = self.read();
        if let Ok(index) = table.ids.binary_search(&from) {
            // A single writer, as for contacts.
            table.rtt_last_nanos[index].store(stored_nanos(round_trip.last), Ordering::Relaxed);
            table.rtt_smoothed_nanos[index]
                .store(stored_nanos(round_trip.smoothed), Ordering::Relaxed);
        }
    }

    /// Forgets every round trip: this node no longer leads the term they
    /// were measured in.
    pub(crate) fn clear_round_trips(&self) {
        let table = self.read();
        for nanos in table
            .rtt_last_nanos
            .iter()
            .chain(&*table.rtt_smoothed_nanos)
        {
            nanos.store(0, Ordering::Relaxed);
        }
    }

    /// Every member with its address, last contact and ack round trip, in
    /// ascending id order; `me` is shown as in contact at `now`.
    pub(crate) fn snapshot(&self, me: NodeId, now: Instant) -> Vec<PeerStatus> {
        let table = self.read();
        table
            .ids
            .iter()
            .zip(&table.voters)
            .zip(&table.addresses)
            .zip(&table.contact_nanos)
            .zip(table.rtt_last_nanos.iter().zip(&*table.rtt_smoothed_nanos))
            .map(|((((&id, &voter), address), nanos), (last, smoothed))| {
                let last_contact = if id == me {
                    Some(now)
                } else {
                    match nanos.load(Ordering::Relaxed) {
                        0 => None,
                        stored => Some(self.epoch + Duration::from_nanos(stored - 1)),
                    }
                };
                let ack_round_trip = match (
                    loaded_nanos(last.load(Ordering::Relaxed)),
                    loaded_nanos(smoothed.load(Ordering::Relaxed)),
                ) {
                    (Some(last), Some(smoothed)) => Some(AckRoundTrip { last, smoothed }),
                    _ => None,
                };
                PeerStatus {
                    id,
                    address: address.clone(),
                    voter,
                    last_contact,
                    ack_round_trip,
                }
            })
            .collect()
    }

    fn read(&self) -> RwLockReadGuard<'_, Table> {
        // Nothing that can panic runs under the write lock but building a
        // table beforehand; a poisoned lock still holds a whole table.
        self.table
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// `duration` as stored in a table: nanoseconds plus one, so that zero can
/// mean "none".
fn stored_nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos())
        .unwrap_or(u64::MAX - 1)
        .min(u64::MAX - 1)
        + 1
}

/// What [`stored_nanos`] stored, back.
fn loaded_nanos(stored: u64) -> Option<Duration> {
    stored.checked_sub(1).map(Duration::from_nanos)
}

/// How many non-members [`Outsiders`] remembers: without a cluster key a
/// sender's id is only what it claims, so the set must not grow without
/// bound. Beyond it, drops are logged at debug level only.
pub(crate) const MAX_OUTSIDERS_LOGGED: usize = 64;

/// The nodes whose messages the election dropped for not being members
/// ([`DropReason::NotMember`](crate::core::DropReason::NotMember)), as
/// logged: once per node until it is admitted again. A removed node that
/// missed its removal (it was down, or the change committed before the
/// heartbeat telling it arrived) still holds the old membership and
/// campaigns every election timeout for ever; each member would otherwise
/// log every one of its requests.
#[derive(Debug, Default)]
pub(crate) struct Outsiders {
    logged: BTreeSet<NodeId>,
}

impl Outsiders {
    /// Records a message from `from` dropped for not being a member; true
    /// the first time, when it is worth a line.
    pub(crate) fn dropped(&mut self, from: NodeId) -> bool {
        self.logged.len() < MAX_OUTSIDERS_LOGGED && self.logged.insert(from)
    }

    /// Forgets the nodes in `admitted`: dropped again after a later
    /// removal, they are logged again.
    pub(crate) fn admitted(&mut self, admitted: &BTreeSet<NodeId>) {
        self.logged.retain(|id| !admitted.contains(id));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_outsider_is_logged_once_until_admitted_and_the_memory_is_bounded() {
        let mut outsiders = Outsiders::default();
        assert!(outsiders.dropped(NodeId(3)));
        assert!(!outsiders.dropped(NodeId(3)));
        assert!(outsiders.dropped(NodeId(4)));
        outsiders.admitted(&BTreeSet::from([NodeId(1), NodeId(3)]));
        assert!(outsiders.dropped(NodeId(3)), "admitted, then dropped again");
        assert!(!outsiders.dropped(NodeId(4)));

        let mut outsiders = Outsiders::default();
        let cap = MAX_OUTSIDERS_LOGGED as u64;
        assert!((0..cap).all(|id| outsiders.dropped(NodeId(100 + id))));
        assert!(!outsiders.dropped(NodeId(1)), "full: not logged");
        outsiders.admitted(&BTreeSet::from([NodeId(100)]));
        assert!(outsiders.dropped(NodeId(1)), "room again");
    }

    fn ids(peers: &[PeerStatus]) -> Vec<u64> {
        peers.iter().map(|peer| peer.id.0).collect()
    }

    #[test]
    fn records_contacts_of_members_only() {
        let epoch = Instant::now();
        let membership = Membership::new([NodeId(1), NodeId(2), NodeId(3)])
            .with_addresses([(NodeId(2), "10.0.0.2:7000")]);
        let peers = Peers::new(epoch, &membership);
        let at = epoch + Duration::from_millis(5);
        peers.record(NodeId(2), at);
        peers.record(NodeId(9), at);
        let now = epoch + Duration::from_millis(7);
        let snapshot = peers.snapshot(NodeId(1), now);
        assert_eq!(
            snapshot,
            vec![
                PeerStatus {
                    id: NodeId(1),
                    address: None,
                    voter: true,
                    last_contact: Some(now),
                    ack_round_trip: None,
                },
                PeerStatus {
                    id: NodeId(2),
                    address: Some("10.0.0.2:7000".to_owned()),
                    voter: true,
                    last_contact: Some(at),
                    ack_round_trip: None,
                },
                PeerStatus {
                    id: NodeId(3),
                    address: None,
                    voter: true,
                    last_contact: None,
                    ack_round_trip: None,
                },
            ]
        );
    }

    #[test]
    fn round_trips_are_shown_for_members_kept_across_changes_and_cleared() {
        let epoch = Instant::now();
        let peers = Peers::new(epoch, &Membership::new([NodeId(1), NodeId(2), NodeId(3)]));
        let round_trip = AckRoundTrip {
            last: Duration::from_millis(3),
            smoothed: Duration::ZERO,
        };
        peers.record_round_trip(NodeId(2), round_trip);
        peers.record_round_trip(NodeId(9), round_trip);
        let shown = |peers: &Peers| -> Vec<_> {
            peers
                .snapshot(NodeId(1), epoch)
                .iter()
                .map(|peer| (peer.id.0, peer.ack_round_trip))
                .collect()
        };
        assert_eq!(shown(&peers), [(1, None), (2, Some(round_trip)), (3, None)]);
        peers.replace(&Membership::new([NodeId(1), NodeId(2), NodeId(4)]));
        assert_eq!(shown(&peers), [(1, None), (2, Some(round_trip)), (4, None)]);
        peers.clear_round_trips();
        assert_eq!(shown(&peers), [(1, None), (2, None), (4, None)]);
    }

    #[test]
    fn a_contact_at_the_epoch_is_not_never() {
        let epoch = Instant::now();
        let peers = Peers::new(epoch, &Membership::new([NodeId(1), NodeId(2)]));
        peers.record(NodeId(2), epoch);
        assert_eq!(
            peers.snapshot(NodeId(1), epoch)[1].last_contact,
            Some(epoch)
        );
    }

    #[test]
    fn learners_are_listed_in_id_order_as_non_voters() {
        let epoch = Instant::now();
        let membership = Membership::new([NodeId(1), NodeId(3)])
            .with_learners([NodeId(2)])
            .with_addresses([(NodeId(2), "10.0.0.2:7000")]);
        let peers = Peers::new(epoch, &membership);
        let at = epoch + Duration::from_millis(3);
        peers.record(NodeId(2), at);
        let snapshot = peers.snapshot(NodeId(1), epoch);
        let rows: Vec<_> = snapshot
            .iter()
            .map(|peer| {
                (
                    peer.id,
                    peer.voter,
                    peer.address.as_deref(),
                    peer.last_contact,
                )
            })
            .collect();
        assert_eq!(
            rows,
            [
                (NodeId(1), true, None, Some(epoch)),
                (NodeId(2), false, Some("10.0.0.2:7000"), Some(at)),
                (NodeId(3), true, None, None),
            ]
        );
    }

    #[test]
    fn a_membership_change_adds_and_removes_rows_and_keeps_contacts() {
        let epoch = Instant::now();
        let peers = Peers::new(epoch, &Membership::new([NodeId(1), NodeId(2), NodeId(3)]));
        let at = epoch + Duration::from_millis(4);
        peers.record(NodeId(2), at);
        peers.record(NodeId(3), at);

        let next = Membership::new([NodeId(1), NodeId(2)])
            .with_learners([NodeId(4)])
            .with_addresses([(NodeId(4), "10.0.0.4:7000")]);
        peers.replace(&next);
        let snapshot = peers.snapshot(NodeId(1), epoch);
        assert_eq!(ids(&snapshot), [1, 2, 4]);
        assert_eq!(snapshot[1].last_contact, Some(at), "kept");
        assert_eq!(snapshot[2].last_contact, None, "new");
        assert!(!snapshot[2].voter);
        assert_eq!(snapshot[2].address.as_deref(), Some("10.0.0.4:7000"));

        // A removed member's messages are no longer recorded.
        peers.record(NodeId(3), at);
        assert_eq!(ids(&peers.snapshot(NodeId(1), epoch)), [1, 2, 4]);
    }
}
