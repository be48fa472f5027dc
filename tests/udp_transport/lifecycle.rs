//! Creating, starting and stopping: the ports must match, `start` runs
//! once, `Debug` never shows the key, `shutdown` ends every task.

use duckduckgoose::transport::udp::UdpTransport;
use duckduckgoose::transport::{Transport, TransportError};
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::mpsc;

use crate::common::{CLUSTER, KEY, config_in, transport};

#[tokio::test]
async fn the_socket_and_the_listener_must_share_a_port() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    let (tcp, udp) = (
        listener.local_addr().expect("bound"),
        socket.local_addr().expect("bound"),
    );
    // The OS may hand both the same port by chance; then there is nothing
    // to refuse.
    if tcp.port() == udp.port() {
        return;
    }
    let refused = UdpTransport::new(config_in(CLUSTER, 1, None), listener, socket);
    let Err(error) = refused else {
        panic!("different ports were accepted");
    };
    assert!(matches!(error, TransportError::PortMismatch { .. }));
    assert_eq!(
        error.to_string(),
        format!("the UDP socket ({udp}) and the TCP listener ({tcp}) must share a port")
    );
}

#[tokio::test]
async fn bind_shares_the_port_start_runs_once_and_debug_hides_the_key() {
    let mut node = transport(1, Some(KEY)).await;
    assert_eq!(node.config().cluster_key.as_deref(), Some(KEY));
    let shown = format!("{node:?}");
    assert!(!shown.contains("horse"), "{shown}");
    assert!(
        shown.starts_with("UdpTransport { id: NodeId(1), local_addr: 127.0.0.1:"),
        "{shown}"
    );
    let (tx, _rx) = mpsc::channel(8);
    node.start(tx.clone()).await.expect("starts");
    assert!(matches!(
        node.start(tx).await,
        Err(TransportError::AlreadyStarted)
    ));
    let stats = node.stats_handle();
    node.shutdown().await;
    assert_eq!(stats.snapshot().tcp.tasks_running, 0);
}
