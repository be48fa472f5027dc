//! A restarted node starts from the membership its data directory saved,
//! whatever its flags say. Where the two disagree the operator is told
//! exactly how, since the flags are likely what they will edit next.

use duckduckgoose::NodeId;
use duckduckgoose::core::{Membership, NodeMetadata};

use crate::plan::Plan;

/// Every way the flags disagree with `saved`, one line each; empty when
/// they agree or say nothing about it. `advertise` is this node's address
/// by the flags.
pub fn differences(plan: &Plan, advertise: &str, saved: &Membership) -> Vec<String> {
    let mut lines = Vec::new();
    let me = plan.id;
    if !saved.contains(me) {
        // The runtime explains a removed node at length; nothing to add.
        return lines;
    }
    if saved.address(me).is_some_and(|saved| saved != advertise) {
        lines.push(format!(
            "this node's address: the flags say {advertise}, the saved membership {} (the \
             others dial that one)",
            saved.address(me).unwrap_or_default()
        ));
    }
    let saved_metadata = saved.metadata(me).cloned().unwrap_or_default();
    if !plan.metadata.is_empty() && plan.metadata != saved_metadata {
        lines.push(format!(
            "--meta: the flags say {}, the saved membership {}",
            show(&plan.metadata),
            show(&saved_metadata)
        ));
    }
    // `--peer` names every member; without it there is nothing to compare.
    if plan.peers.is_empty() {
        return lines;
    }
    for (&id, address) in &plan.peers {
        match saved.address(id) {
            _ if !saved.contains(id) => lines.push(format!(
                "--peer {id}={address}: node {id} is not in the saved membership"
            )),
            Some(saved) if saved != address => lines.push(format!(
                "--peer {id}={address}: the saved membership has node {id} at {saved}"
            )),
            _ => {}
        }
    }
    let unnamed: Vec<NodeId> = saved
        .members()
        .filter(|&id| id != me && !plan.peers.contains_key(&id))
        .collect();
    for id in unnamed {
        lines.push(format!(
            "node {id} ({}) is in the saved membership but not in --peer",
            saved.address(id).unwrap_or("no address")
        ));
    }
    lines
}

/// Metadata as `k=v,k=v` (`{}` when empty).
fn show(metadata: &NodeMetadata) -> String {
    if metadata.is_empty() {
        return "{}".to_owned();
    }
    metadata
        .as_map()
        .iter()
        .map(|(key, value)| format!("{key}={value}"))
        .collect::<Vec<_>>()
        .join(",")
}
