//! No amplification: a node running the runtime answers every request that
//! travels over UDP (pre-vote, vote, heartbeat) with a datagram no longer
//! than the request.
//!
//! The requests come from a `UdpTransport` that is never started, on a
//! socket the test also reads through a clone: the replies land there.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use duckduckgoose::core::MembershipId;
use duckduckgoose::runtime::{Node as RuntimeNode, NodeConfig};
use duckduckgoose::storage::MemStorage;
use duckduckgoose::transport::Transport;
use duckduckgoose::transport::udp::UdpTransport;
use duckduckgoose::{Message, NodeId, Term};
use tokio::net::{TcpListener, UdpSocket};
use tokio::time::{Instant, timeout};

use crate::common::{CLUSTER, PATIENCE, capture, config_in, transport};

/// Offset of the message in a datagram (the header's length).
const MESSAGE_AT: usize = 45;

/// The message kind a datagram carries (header and padding skipped).
fn kind(datagram: &[u8]) -> Option<&'static str> {
    let region = datagram.get(MESSAGE_AT..)?;
    let (msg, _) = postcard::take_from_bytes::<Message>(region).ok()?;
    Some(msg.kind())
}

/// Node 1: a transport on a socket the test reads too.
async fn requester() -> (UdpTransport, UdpSocket) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("bound").port();
    let socket = std::net::UdpSocket::bind(("127.0.0.1", port)).expect("bind the same port");
    socket.set_nonblocking(true).expect("non-blocking");
    let reader = socket.try_clone().expect("clone the socket");
    let socket = UdpSocket::from_std(socket).expect("a tokio socket");
    let reader = UdpSocket::from_std(reader).expect("a tokio socket");
    let transport =
        UdpTransport::new(config_in(CLUSTER, 1, None), listener, socket).expect("created");
    (transport, reader)
}

/// The next datagram of kind `want` that arrives at `reader`.
async fn reply_of_kind(reader: &UdpSocket, want: &str) -> Vec<u8> {
    let deadline = Instant::now() + PATIENCE;
    let mut buf = vec![0; 2048];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let (len, _) = timeout(left, reader.recv_from(&mut buf))
            .await
            .unwrap_or_else(|_| panic!("no {want} within the patience"))
            .expect("received");
        if kind(&buf[..len]) == Some(want) {
            return buf[..len].to_vec();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_reply_is_at_most_as_long_as_its_request() {
    let (mut one, reader) = requester().await;
    let two = transport(2, None).await;
    let two_addr = two.local_addr();
    let nobody: SocketAddr = "127.0.0.1:9".parse().expect("an address");
    let addresses = BTreeMap::from([
        (NodeId(1), one.local_addr().to_string()),
        (NodeId(2), two_addr.to_string()),
        (NodeId(3), nobody.to_string()),
    ]);
    let config = NodeConfig::new(NodeId(2), [NodeId(1), NodeId(2), NodeId(3)])
        .with_addresses(addresses)
        .with_election_timeout(Duration::from_secs(2)..Duration::from_secs(3));
    let node = RuntimeNode::start(config, two, MemStorage::new())
        .await
        .expect("node 2 starts");
    let id = MembershipId::default();
    let requests = [
        (
            Message::PreVote {
                term: Term(1),
                membership: id,
            },
            "pre_vote_response",
        ),
        (
            Message::Vote {
                term: Term(5),
                transfer: true,
                membership: id,
            },
            "vote_response",
        ),
        (
            Message::Heartbeat {
                term: Term(5),
                sent_tick: u64::MAX,
                membership: None,
            },
            "heartbeat_ack",
        ),
    ];
    for (request, reply_kind) in requests {
        let request_len = capture(&mut one, 2, request.clone()).await.len();
        one.set_peer_addrs([(NodeId(2), two_addr)]);
        one.send(NodeId(2), request.clone());
        let reply_len = reply_of_kind(&reader, reply_kind).await.len();
        println!(
            "{}: request {request_len} bytes, {reply_kind} {reply_len} bytes",
            request.kind()
        );
        assert!(
            reply_len <= request_len,
            "{reply_kind} ({reply_len} bytes) is longer than the {} ({request_len} bytes)",
            request.kind()
        );
    }
    node.shutdown().await;
}
