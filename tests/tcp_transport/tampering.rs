//! Frames tampered with, replayed, reordered or replaced in flight are
//! refused, and the connection recovers.

use duckduckgoose::NodeId;
use duckduckgoose::transport::Transport;

use crate::common::{KEY, eventually, vote};
use crate::proxy::{
    FIRST_DATA_KEYED, FIRST_DATA_UNKEYED, Plan, Step, after_reconnects_fresh_message_arrives,
    proxied_pair,
};

#[tokio::test]
async fn tampered_frame_is_refused_and_the_connection_closed() {
    let plan: Plan = Box::new(|conn, index, mut frame| {
        if conn == 0 && index == FIRST_DATA_KEYED {
            let last = frame.len() - 1;
            frame[last] ^= 0x01;
        }
        vec![Step::Send(frame)]
    });
    let (mut a, mut b) = proxied_pair(Some(KEY), plan).await;
    a.transport.send(NodeId(2), vote(1));
    eventually("tag refusal", || b.stats().auth_failures >= 1).await;
    assert_eq!(b.stats().frames_received, 0);
    after_reconnects_fresh_message_arrives(&mut a, &mut b, 1).await;
}

#[tokio::test]
async fn replayed_frame_is_refused() {
    let plan: Plan = Box::new(|conn, index, frame| {
        if conn == 0 && index == FIRST_DATA_KEYED {
            vec![Step::Send(frame.clone()), Step::Send(frame)]
        } else {
            vec![Step::Send(frame)]
        }
    });
    let (mut a, mut b) = proxied_pair(Some(KEY), plan).await;
    a.transport.send(NodeId(2), vote(1));
    assert_eq!(b.recv().await.msg, vote(1));
    eventually("replay refusal", || b.stats().auth_failures >= 1).await;
    after_reconnects_fresh_message_arrives(&mut a, &mut b, 1).await;
}

#[tokio::test]
async fn reordered_frames_are_refused() {
    let mut held = None;
    let plan: Plan = Box::new(move |conn, index, frame| match (conn, index) {
        (0, FIRST_DATA_KEYED) => {
            held = Some(frame);
            vec![]
        }
        (0, i) if i == FIRST_DATA_KEYED + 1 => {
            let mut steps = vec![Step::Send(frame)];
            steps.extend(held.take().map(Step::Send));
            steps
        }
        _ => vec![Step::Send(frame)],
    });
    let (mut a, mut b) = proxied_pair(Some(KEY), plan).await;
    a.transport.send(NodeId(2), vote(1));
    a.transport.send(NodeId(2), vote(2));
    eventually("reorder refusal", || b.stats().auth_failures >= 1).await;
    assert_eq!(b.stats().frames_received, 0);
    after_reconnects_fresh_message_arrives(&mut a, &mut b, 1).await;
}

#[tokio::test]
async fn frame_replayed_on_another_connection_is_refused() {
    let mut recorded = None;
    let plan: Plan = Box::new(move |conn, index, frame| match (conn, index) {
        // Deliver the first message, remember it, and cut the connection.
        (0, FIRST_DATA_KEYED) => {
            recorded = Some(frame.clone());
            vec![Step::Send(frame), Step::Close]
        }
        // On the next connection, replay it right after the handshake.
        (1, i) if i == FIRST_DATA_KEYED - 1 => {
            let mut steps = vec![Step::Send(frame)];
            steps.extend(recorded.take().map(Step::Send));
            steps
        }
        _ => vec![Step::Send(frame)],
    });
    let (mut a, mut b) = proxied_pair(Some(KEY), plan).await;
    a.transport.send(NodeId(2), vote(1));
    assert_eq!(b.recv().await.msg, vote(1));
    eventually("cross-connection replay refusal", || {
        b.stats().auth_failures >= 1
    })
    .await;
    after_reconnects_fresh_message_arrives(&mut a, &mut b, 2).await;
}

#[tokio::test]
async fn garbage_after_a_valid_hello_closes_the_connection() {
    let plan: Plan = Box::new(|conn, index, frame| {
        if conn == 0 && index == 0 {
            // A well-formed frame whose body is no message.
            let garbage = vec![0, 0, 0, 8, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff];
            vec![Step::Send(frame), Step::Send(garbage)]
        } else {
            vec![Step::Send(frame)]
        }
    });
    let (mut a, mut b) = proxied_pair(None, plan).await;
    eventually("decode error", || b.stats().decode_errors >= 1).await;
    assert_eq!(b.stats().frames_received, 0);
    after_reconnects_fresh_message_arrives(&mut a, &mut b, 1).await;
}

#[tokio::test]
async fn oversized_length_after_a_valid_hello_closes_the_connection() {
    let plan: Plan = Box::new(|conn, index, frame| {
        if conn == 0 && index == FIRST_DATA_UNKEYED - 1 {
            vec![Step::Send(frame), Step::Send(vec![0xff; 64])]
        } else {
            vec![Step::Send(frame)]
        }
    });
    let (mut a, mut b) = proxied_pair(None, plan).await;
    eventually("oversized frame", || b.stats().oversized_frames >= 1).await;
    after_reconnects_fresh_message_arrives(&mut a, &mut b, 1).await;
}
