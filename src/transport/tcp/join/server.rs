//! The member's side of a join connection: once the gate has let a request
//! through, ask the runtime (or, as a Duck that knows the Goose's address,
//! the Goose) and write the answer back.

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::oneshot;
use tokio::time::timeout;
use tracing::{debug, info, warn};

use super::super::Shared;
use super::super::auth::FrameAuth;
use super::super::frame::{FrameReader, ReadError};
use super::super::handshake::Local;
use super::super::sealed;
use super::super::stats::bump;
use super::Request;
use super::client::Ask;
use super::gate::{self, Violation};
use crate::core::{NodeId, NodeMetadata};
use crate::transport::{JoinReply, JoinRequest};

/// Reasons the transport gives when it refuses a request itself.
const NOT_ACCEPTING: &str = "not accepting joins";
const BUSY_QUEUE: &str = "busy: too many join requests waiting for an answer; retry later";

/// Serves one join connection after its handshake: reads the request
/// through the gate, answers it (see the `join` module docs), writes the
/// reply and returns, which closes the connection.
pub(crate) async fn serve(
    shared: &Shared,
    stream: &mut TcpStream,
    reader: &mut FrameReader,
    from: NodeId,
    mut auth: Option<FrameAuth>,
) {
    let counters = &shared.counters;
    let request = gate::receive_request(
        stream,
        reader,
        from,
        auth.as_mut(),
        shared.config.handshake_timeout,
    )
    .await;
    let request = match request {
        Ok(request) => request,
        Err(e) => {
            e.count(counters);
            warn!(joiner = %from, reason = %e, "join connection closed");
            return;
        }
    };
    bump(&counters.join_requests);
    // Debug only: a flood of requests must not flood the log; the answers
    // to admitted ones are logged at info.
    debug!(joiner = %request.id, addr = %request.addr, forwarded = request.forwarded, "join request");

    let admitted = shared.join.admit();
    let metadata = NodeMetadata::try_from(request.metadata.clone());
    let reply = match (&admitted, metadata) {
        (Err(busy), _) => {
            debug!(joiner = %request.id, reason = busy, "join request refused");
            JoinReply::Refused((*busy).to_owned())
        }
        (Ok(_slot), Err(invalid)) => JoinReply::Refused(format!("invalid metadata: {invalid}")),
        (Ok(_slot), Ok(metadata)) => {
            tokio::select! {
                reply = answer(shared, &request, metadata) => reply,
                // Nothing may follow the request; the joiner hanging up
                // ends the wait too.
                read = reader.next_frame(stream) => {
                    match read {
                        Err(ReadError::Closed) => {
                            debug!(joiner = %request.id, "joiner hung up before the answer");
                        }
                        _ => {
                            let e = Violation::SecondFrame;
                            e.count(counters);
                            warn!(joiner = %request.id, reason = %e, "join connection closed");
                        }
                    }
                    return;
                }
            }
        }
    };
    if admitted.is_ok() {
        info!(joiner = %request.id, addr = %request.addr, ?reply, "join request answered");
    }
    drop(admitted);
    write_reply(shared, stream, &request, reply, auth.as_mut()).await;
}

/// The answer: the runtime's, or, when it names the Goose's address for a
/// request not forwarded yet, the Goose's.
async fn answer(shared: &Shared, request: &Request, metadata: NodeMetadata) -> JoinReply {
    let reply = ask_runtime(shared, request, metadata.clone()).await;
    match reply {
        JoinReply::NotGoose {
            leader,
            leader_addr: Some(goose),
        } if !request.forwarded => forward(shared, request, &metadata, leader, goose).await,
        other => other,
    }
}

async fn ask_runtime(shared: &Shared, request: &Request, metadata: NodeMetadata) -> JoinReply {
    let Some(requests) = shared.join_requests.get() else {
        return JoinReply::Refused(NOT_ACCEPTING.to_owned());
    };
    let (reply, answer) = oneshot::channel();
    let sent = requests.try_send(JoinRequest {
        id: request.id,
        addr: request.addr.clone(),
        metadata,
        reply,
    });
    match sent {
        Ok(()) => {}
        Err(TrySendError::Full(_)) => return JoinReply::Refused(BUSY_QUEUE.to_owned()),
        Err(TrySendError::Closed(_)) => return JoinReply::Refused(NOT_ACCEPTING.to_owned()),
    }
    match timeout(shared.config.join_timeout, answer).await {
        Ok(Ok(reply)) => reply,
        Ok(Err(_)) => JoinReply::Refused("the node dropped the request unanswered".to_owned()),
        Err(_) => {
            warn!(joiner = %request.id, timeout = ?shared.config.join_timeout, "join request unanswered");
            JoinReply::Refused(format!(
                "no answer within {:?}; retry",
                shared.config.join_timeout
            ))
        }
    }
}

/// Makes the request at the Goose, as forwarded, and returns its answer;
/// when the Goose cannot be asked, "not the Goose" with its address.
async fn forward(
    shared: &Shared,
    request: &Request,
    metadata: &NodeMetadata,
    leader: Option<NodeId>,
    goose: String,
) -> JoinReply {
    bump(&shared.counters.join_forwarded);
    info!(joiner = %request.id, goose = ?leader, addr = %goose, "forwarding join request to the Goose");
    let ask = Ask {
        local: Local {
            id: request.id,
            cluster_id: &shared.config.cluster_id,
            key: shared.key.as_ref(),
        },
        addr: &request.addr,
        metadata,
        forwarded: true,
        timeout: shared.config.join_timeout,
    };
    match ask.send(&goose).await {
        Ok(reply) => reply,
        Err(e) => {
            bump(&shared.counters.join_forward_failures);
            warn!(joiner = %request.id, error = %e, "cannot forward join request to the Goose");
            JoinReply::NotGoose {
                leader,
                leader_addr: Some(goose),
            }
        }
    }
}

async fn write_reply(
    shared: &Shared,
    stream: &mut TcpStream,
    request: &Request,
    mut reply: JoinReply,
    mut auth: Option<&mut FrameAuth>,
) {
    let mut out = Vec::with_capacity(256);
    if let Err(e) = sealed::encode(&reply, &mut out, auth.as_deref_mut()) {
        // Only a membership too large for a frame; the sequence number was
        // not used, so a refusal can go in its place.
        warn!(joiner = %request.id, error = %e, "join reply too large to send");
        reply = JoinReply::Refused("the membership is too large to send".to_owned());
        if let Err(e) = sealed::encode(&reply, &mut out, auth) {
            warn!(joiner = %request.id, error = %e, "cannot encode a join refusal");
            return;
        }
    }
    let counters = &shared.counters;
    match &reply {
        JoinReply::Accepted(_) => bump(&counters.join_accepted),
        JoinReply::NotGoose { .. } => bump(&counters.join_not_goose),
        JoinReply::Refused(_) => bump(&counters.join_refused),
    }
    let written = timeout(shared.config.handshake_timeout, async {
        stream.write_all(&out).await?;
        stream.shutdown().await
    })
    .await;
    match written {
        Ok(Ok(())) => {}
        Ok(Err(e)) => debug!(joiner = %request.id, error = %e, "cannot write the join reply"),
        Err(_) => debug!(joiner = %request.id, "join reply not read in time"),
    }
}
