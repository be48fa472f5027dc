//! Boot epochs: a restarted sender is heard at once, an older boot is not.

use duckduckgoose::NodeId;
use duckduckgoose::transport::Transport;

use crate::common::{KEY, Node, hb, peers, refused, transport};

#[tokio::test]
async fn a_restarted_sender_is_heard_at_once_and_its_old_boot_is_stale() {
    let mut b = Node::start(transport(2, Some(KEY)).await).await;
    let mut old = transport(1, Some(KEY)).await;
    old.set_peer_addrs([(NodeId(2), b.addr)]);
    // Many datagrams, so the old boot's counter is far above the new one's.
    for tick in 0..100 {
        old.send(NodeId(2), hb(tick));
        assert_eq!(b.recv().await.msg, hb(tick));
    }
    // Node 1 restarts: a new transport, the same id, a newer epoch, its
    // counter back at zero.
    let mut new = transport(1, Some(KEY)).await;
    assert!(new.boot_epoch() > old.boot_epoch());
    b.transport.set_peers(&peers(&[(1, new.local_addr())]));
    new.set_peer_addrs([(NodeId(2), b.addr)]);
    new.send(NodeId(2), hb(1000));
    assert_eq!(b.recv().await.msg, hb(1000), "heard at once");
    // The old boot (a delayed datagram, or a zombie process) is refused.
    old.send(NodeId(2), hb(101));
    let stats = b.stats_until(|s| s.stale_epochs == 1).await;
    assert_eq!((stats.datagrams_received, refused(&stats)), (101, 1));
    new.send(NodeId(2), hb(1001));
    assert_eq!(b.recv().await.msg, hb(1001));
    b.transport.shutdown().await;
}
