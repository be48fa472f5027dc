//! Joining with metadata: a joiner's metadata, near its bound, travels in
//! its request and through a forward to the Goose.

use duckduckgoose::NodeId;
use duckduckgoose::core::NodeMetadata;
use duckduckgoose::transport::tcp::request_join;
use duckduckgoose::transport::{JoinReply, Transport};
use tokio::time::timeout;

use crate::common::{KEY, PATIENCE, by_name, config};
use crate::join::{assert_no_protocol_traffic, joinable, joiner, with_joiner};

/// Metadata within a few bytes of its 1 KiB bound.
fn large_metadata() -> NodeMetadata {
    let value = "v".repeat(250);
    let metadata = ["a", "b", "c", "d"]
        .iter()
        .fold(NodeMetadata::new(), |meta, key| {
            meta.with(*key, &value).expect("valid metadata")
        })
        .with("http", "")
        .expect("valid metadata");
    assert!(metadata.encoded_len() > 1000);
    metadata
}

#[tokio::test]
async fn a_joiners_metadata_reaches_the_goose_through_a_forward() {
    let (mut goose, mut goose_requests) = joinable(config(2, Some(KEY))).await;
    let goose_addr = by_name(goose.transport.local_addr());
    let (mut duck, mut duck_requests) = joinable(config(1, Some(KEY))).await;
    let params = joiner(7, Some(KEY)).with_metadata(large_metadata());
    let target = duck.transport.local_addr().to_string();
    let joining = tokio::spawn(async move { request_join(&target, &params).await });

    // The Duck's runtime sees the metadata, and names the Goose.
    let request = timeout(PATIENCE, duck_requests.recv())
        .await
        .expect("in time")
        .expect("a request");
    assert_eq!(request.metadata, large_metadata());
    let _ = request.reply.send(JoinReply::NotGoose {
        leader: Some(NodeId(2)),
        leader_addr: Some(goose_addr),
    });
    // The forward carries it to the Goose's runtime, which accepts it.
    let request = timeout(PATIENCE, goose_requests.recv())
        .await
        .expect("in time")
        .expect("a forwarded request");
    assert_eq!(
        (request.id, request.metadata.clone()),
        (NodeId(7), large_metadata())
    );
    let membership =
        with_joiner(NodeId(7), &request.addr).with_metadata(NodeId(7), large_metadata());
    let _ = request.reply.send(JoinReply::Accepted(membership.clone()));
    let answer = joining.await.expect("no panic").expect("accepted");
    assert_eq!(answer, membership);
    for node in [&mut duck, &mut goose] {
        let stats = node.stats();
        assert_eq!(stats.join_violations, 0, "{stats:?}");
        node.transport.shutdown().await;
        assert_no_protocol_traffic(node);
    }
}
