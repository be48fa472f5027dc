//! Who may talk to this node: the one home of the admission rule.
//!
//! The core decides; the runtime hands [`Election::admitted_peers`] to the
//! transport, which authenticates identities and bounds resources but does
//! not re-implement the rule.

use std::collections::BTreeSet;

use super::super::message::Message;
use super::super::types::NodeId;
use super::{Election, State};

impl Election {
    /// Every node other than this one whose messages this node accepts,
    /// whatever they carry: the members of the membership in force, and the
    /// departing peers that still take part until a change commits. On a
    /// Goose those are the members its pending change removes (their acks
    /// count towards the old majority); on a Duck, the Goose it follows even
    /// when that Goose is no longer a member (it removed itself: the Duck's
    /// acks commit the removal, and the Goose steps down then).
    ///
    /// The runtime hands exactly this set to the transport, again after every
    /// change of membership or of the Goose followed. The one sender it
    /// cannot list in advance is a newer Goose whose heartbeat carries a
    /// newer membership naming this node (a member that missed changes, the
    /// Goose itself added after them, catches up that way), which
    /// [`handle_message`](Self::handle_message) accepts. So the transport
    /// must also deliver authenticated messages from nodes outside this set
    /// (within a bound of its own) and let the core decide.
    pub fn admitted_peers(&self) -> BTreeSet<NodeId> {
        let me = self.config.id;
        let mut peers: BTreeSet<NodeId> =
            self.membership.members().filter(|id| *id != me).collect();
        match &self.state {
            State::Leader(leader) => peers.extend(leader.progress.iter().map(|peer| peer.id)),
            _ => peers.extend(self.leader().filter(|id| *id != me)),
        }
        peers
    }

    /// Whether this node accepts `msg` from `from`, another node: a member,
    /// a departing peer (see [`admitted_peers`](Self::admitted_peers)), or a
    /// Goose bringing a newer membership that names this node.
    pub(super) fn admits(&self, from: NodeId, msg: &Message) -> bool {
        self.membership.contains(from)
            || self.is_departing_peer(from)
            || self.brings_membership_naming_us(from, msg)
    }

    /// Whether `id` is no longer a member but still takes part until a
    /// change commits: on a Goose, a member its pending change removes; on a
    /// Duck, the Goose it follows when that Goose removed itself.
    fn is_departing_peer(&self, id: NodeId) -> bool {
        match &self.state {
            State::Leader(leader) => leader
                .progress
                .binary_search_by_key(&id, |peer| peer.id)
                .is_ok(),
            _ => self.leader() == Some(id),
        }
    }

    /// Whether `msg` is a heartbeat from a Goose this node has not heard of
    /// yet, carrying a newer membership in which the sender is a voter and
    /// this node a member: a member that missed changes (the Goose itself
    /// joined after them) catches up this way instead of being stranded.
    fn brings_membership_naming_us(&self, from: NodeId, msg: &Message) -> bool {
        match msg {
            Message::Heartbeat {
                membership: Some(membership),
                ..
            } => {
                membership.id() > self.membership.id()
                    && membership.is_voter(from)
                    && membership.contains(self.config.id)
            }
            _ => false,
        }
    }
}
