//! Entering and leaving a running cluster: `--join` and
//! `--leave-on-shutdown`.

use std::time::Duration;

use duckduckgoose::core::Membership;
use duckduckgoose::runtime::NodeHandle;
use duckduckgoose::transport::tcp::{JoinError, JoinParams, request_join};
use tokio::time::Instant;

use crate::Failure;
use crate::common::list;

/// How long a joining node keeps trying before it gives up.
const JOIN_PATIENCE: Duration = Duration::from_secs(60);

/// The pause after the first failed join attempt; it doubles up to
/// [`JOIN_BACKOFF_MAX`].
const JOIN_BACKOFF_MIN: Duration = Duration::from_millis(200);
const JOIN_BACKOFF_MAX: Duration = Duration::from_secs(5);

/// How long `--leave-on-shutdown` waits for the cluster to remove this node.
const LEAVE_PATIENCE: Duration = Duration::from_secs(10);

/// Asks the cluster, through any member, to add this node (as `base` says:
/// its id, address and metadata), until it does or [`JOIN_PATIENCE`] runs
/// out; returns the committed membership holding it.
pub async fn join(
    base: JoinParams,
    target: &str,
    key: Option<Vec<u8>>,
) -> Result<Membership, Failure> {
    let id = base.id;
    let deadline = Instant::now() + JOIN_PATIENCE;
    let mut backoff = JOIN_BACKOFF_MIN;
    for attempt in 1.. {
        let mut params = base.clone();
        params.cluster_key = key.clone();
        // The default leaves room for a forward to the Goose; a change
        // commits within a heartbeat round or two, so it is rarely used up.
        params.timeout = JoinParams::DEFAULT_TIMEOUT
            .min(deadline.saturating_duration_since(Instant::now()))
            .max(Duration::from_secs(1));
        let error = match request_join(target, &params).await {
            Ok(membership) if membership.contains(id) => {
                tracing::info!(
                    membership = %membership.id(),
                    "joined the cluster through {target} as a learner; voters [{}]",
                    list(membership.voters())
                );
                return Ok(membership);
            }
            Ok(membership) => format!(
                "the cluster answered with membership {}, which does not hold node {id}",
                membership.id()
            ),
            // Settings that cannot work: trying again will not help.
            Err(error @ (JoinError::InvalidParams(_) | JoinError::Auth { .. })) => {
                return Err(Failure::Fatal(format!(
                    "cannot join the cluster through {target}: {error}"
                )));
            }
            Err(error) => error.to_string(),
        };
        if Instant::now() + backoff >= deadline {
            return Err(Failure::Fatal(format!(
                "cannot join the cluster through {target} (tried {attempt} times in {}s): {error}",
                JOIN_PATIENCE.as_secs()
            )));
        }
        tracing::warn!(
            "join attempt {attempt} through {target} failed: {error}; retrying in {backoff:?}"
        );
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(JOIN_BACKOFF_MAX);
    }
    unreachable!("the loop returns")
}

/// `--leave-on-shutdown`: waits until the cluster has removed this node.
pub async fn leave(handle: &NodeHandle) -> Result<(), Failure> {
    match tokio::time::timeout(LEAVE_PATIENCE, handle.leave()).await {
        Ok(Ok(())) => {
            tracing::info!("left the cluster");
            Ok(())
        }
        Ok(Err(error)) => Err(Failure::Fatal(format!(
            "could not leave the cluster: {error}"
        ))),
        Err(_) => Err(Failure::Fatal(format!(
            "could not leave the cluster within {}s (is there a Goose?)",
            LEAVE_PATIENCE.as_secs()
        ))),
    }
}
