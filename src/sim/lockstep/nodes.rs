//! The nodes of a [`LockStep`]: adding them, reaching them, crashing and
//! restarting them.

use crate::core::{Election, NodeId};

use super::{Down, Durable, LockStep, LockStepError};

impl LockStep {
    /// Adds `node` (a joiner, say, started from the membership that added
    /// it), taking its current hard state and membership as durable, as its
    /// host would have stored them before starting it.
    pub fn add(&mut self, node: Election) -> Result<(), LockStepError> {
        let id = node.id();
        if self.down.contains_key(&id) {
            return Err(LockStepError::DuplicateNode(id));
        }
        let Err(at) = self.nodes.binary_search_by_key(&id, Election::id) else {
            return Err(LockStepError::DuplicateNode(id));
        };
        let durable = Durable::new(node.hard_state(), node.membership().clone());
        self.nodes.insert(at, node);
        self.durable.insert(at, durable);
        Ok(())
    }

    /// Node `id`, if it is up.
    pub fn node(&self, id: NodeId) -> Option<&Election> {
        self.index(id).map(|index| &self.nodes[index])
    }

    /// Node `id`, if it is up, to give it commands. What the commands
    /// produce is handled at the next [`LockStep::settle`].
    pub fn node_mut(&mut self, id: NodeId) -> Option<&mut Election> {
        self.index(id).map(|index| &mut self.nodes[index])
    }

    /// Every node that is up, in id order.
    pub fn nodes(&self) -> &[Election] {
        &self.nodes
    }

    /// Every node that is up, in id order, to give them commands.
    pub fn nodes_mut(&mut self) -> impl Iterator<Item = &mut Election> {
        self.nodes.iter_mut()
    }

    /// The ids of the nodes that are down.
    pub fn down(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.down.keys().copied()
    }

    /// What node `id` (up or down) has made durable.
    pub fn durable(&self, id: NodeId) -> Option<&Durable> {
        match self.index(id) {
            Some(index) => Some(&self.durable[index]),
            None => self.down.get(&id).map(|down| &down.durable),
        }
    }

    /// Crashes node `id`: the outputs it produced that the driver has not
    /// drained are lost (its host died before handling them). Messages
    /// already in flight to it are dropped when they fall due while it is
    /// down.
    pub fn crash(&mut self, id: NodeId) -> Result<(), LockStepError> {
        let index = self.index_up(id)?;
        let node = self.nodes.remove(index);
        let durable = self.durable.remove(index);
        let config = node.config().clone();
        self.down.insert(id, Down { config, durable });
        Ok(())
    }

    /// Restarts crashed node `id` as a new `Election` seeded with `seed`,
    /// from its durable hard state, with its durable membership as
    /// `Config::membership` (the rest of its config unchanged), as a real
    /// host does.
    pub fn restart(&mut self, id: NodeId, seed: u64) -> Result<(), LockStepError> {
        let Some(down) = self.down.remove(&id) else {
            return Err(if self.index(id).is_some() {
                LockStepError::NodeUp(id)
            } else {
                LockStepError::UnknownNode(id)
            });
        };
        let mut config = down.config.clone();
        config.membership = down.durable.membership().clone();
        match Election::new(config, down.durable.hard_state(), seed) {
            Ok(node) => {
                let at = self
                    .nodes
                    .binary_search_by_key(&id, Election::id)
                    .unwrap_or_else(|at| at);
                self.nodes.insert(at, node);
                self.durable.insert(at, down.durable);
                Ok(())
            }
            Err(source) => {
                self.down.insert(id, down);
                Err(LockStepError::Restart { node: id, source })
            }
        }
    }

    /// The index of node `id` among the nodes that are up.
    pub(super) fn index(&self, id: NodeId) -> Option<usize> {
        // Ids 1..=n, the usual layout, sit at index id − 1: look there first.
        let guess = usize::try_from(id.0)
            .ok()
            .and_then(|n| n.checked_sub(1))
            .filter(|&at| self.nodes.get(at).is_some_and(|node| node.id() == id));
        guess.or_else(|| self.nodes.binary_search_by_key(&id, Election::id).ok())
    }

    /// The index of node `id`, which must be up.
    pub(super) fn index_up(&self, id: NodeId) -> Result<usize, LockStepError> {
        match self.index(id) {
            Some(index) => Ok(index),
            None if self.down.contains_key(&id) => Err(LockStepError::NodeDown(id)),
            None => Err(LockStepError::UnknownNode(id)),
        }
    }
}
