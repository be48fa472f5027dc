//! A man in the middle: forwards frames from dialer to acceptor and lets a
//! plan flip, repeat, hold back or inject frames, per connection.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use duckduckgoose::transport::{Inbound, Transport};
use duckduckgoose::{Message, NodeId};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common::{Node, bind_local, config, eventually, vote};

/// Bytes in a frame's length prefix: every frame on the wire is a `u32`
/// big-endian body length, then the body.
const LEN_PREFIX_LEN: usize = 4;

/// `msg` as one unkeyed message frame, as a transport writes it: the length
/// prefix, then the postcard body.
pub fn message_frame(msg: &Message) -> Vec<u8> {
    let body = postcard::to_stdvec(msg).expect("a message encodes");
    let len = u32::try_from(body.len()).expect("a small message");
    let mut frame = len.to_be_bytes().to_vec();
    frame.extend(body);
    frame
}

/// What the proxy does with a frame.
pub enum Step {
    /// Forward these bytes to the acceptor.
    Send(Vec<u8>),
    /// Drop both sockets.
    Close,
}

/// `(connection index, frame index on it, the whole frame) -> what to do`.
pub type Plan = Box<dyn FnMut(usize, usize, Vec<u8>) -> Vec<Step> + Send>;

/// Starts a proxy to `target`; returns its address.
pub async fn proxy(target: SocketAddr, plan: Plan) -> SocketAddr {
    let listener = bind_local().await;
    let addr = listener.local_addr().expect("bound");
    let plan = Arc::new(Mutex::new(plan));
    tokio::spawn(async move {
        for conn in 0.. {
            let Ok((client, _)) = listener.accept().await else {
                return;
            };
            let Ok(server) = TcpStream::connect(target).await else {
                continue;
            };
            tokio::spawn(relay(conn, client, server, Arc::clone(&plan)));
        }
    });
    addr
}

pub async fn relay(conn: usize, client: TcpStream, server: TcpStream, plan: Arc<Mutex<Plan>>) {
    let (mut client_rd, mut client_wr) = client.into_split();
    let (mut server_rd, mut server_wr) = server.into_split();
    let upstream = async {
        for index in 0.. {
            let mut prefix = [0u8; LEN_PREFIX_LEN];
            client_rd.read_exact(&mut prefix).await?;
            let len = u32::from_be_bytes(prefix) as usize;
            let mut frame = prefix.to_vec();
            frame.resize(LEN_PREFIX_LEN + len, 0);
            client_rd.read_exact(&mut frame[LEN_PREFIX_LEN..]).await?;
            let steps = (plan.lock().expect("plan lock"))(conn, index, frame);
            for step in steps {
                match step {
                    Step::Send(bytes) => server_wr.write_all(&bytes).await?,
                    Step::Close => return Ok(()),
                }
            }
        }
        Ok::<(), std::io::Error>(())
    };
    let downstream = tokio::io::copy(&mut server_rd, &mut client_wr);
    tokio::select! {
        _ = upstream => {}
        _ = downstream => {}
    }
}

/// Node 1 reaches node 2 only through a proxy running `plan`.
pub async fn proxied_pair(key: Option<&[u8]>, plan: Plan) -> (Node, Node) {
    let (l1, l2) = (bind_local().await, bind_local().await);
    let a1 = l1.local_addr().expect("bound");
    let a2 = l2.local_addr().expect("bound");
    let via = proxy(a2, plan).await;
    let a = Node::start(config(1, key), &BTreeMap::from([(NodeId(2), via)]), l1).await;
    let b = Node::start(config(2, key), &BTreeMap::from([(NodeId(1), a1)]), l2).await;
    (a, b)
}

/// Index of the first message frame on a connection: after the hello, and
/// after the auth frame when keyed.
pub const FIRST_DATA_KEYED: usize = 2;
pub const FIRST_DATA_UNKEYED: usize = 1;

/// Waits until node 1 has redialled `n` times, then checks a fresh message
/// arrives first and alone.
pub async fn after_reconnects_fresh_message_arrives(a: &mut Node, b: &mut Node, n: u64) {
    eventually("redial", || a.stats().reconnects >= n).await;
    a.transport.send(NodeId(2), vote(77));
    assert_eq!(
        b.recv().await,
        Inbound {
            from: NodeId(1),
            msg: vote(77)
        }
    );
    a.transport.shutdown().await;
    b.transport.shutdown().await;
    b.assert_nothing_received();
}
