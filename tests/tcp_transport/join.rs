//! Joining: a node outside the membership asks a member to add it.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use duckduckgoose::NodeId;
use duckduckgoose::core::Membership;
use duckduckgoose::transport::tcp::{JoinError, JoinParams, TcpConfig, TcpTransport, request_join};
use duckduckgoose::transport::{JoinReply, JoinRequest, Transport};
use tokio::sync::mpsc;
use tokio::time::timeout;

use crate::common::{
    CLUSTER, KEY, Node, PATIENCE, bind_local, by_name, config, dead_addr, eventually, vote,
};
use crate::proxy::{FIRST_DATA_KEYED, FIRST_DATA_UNKEYED, Plan, Step, message_frame, proxy};

/// The join requests a stub runtime received: (id, addr).
type Seen = Arc<Mutex<Vec<(NodeId, String)>>>;

/// A started node that takes join requests; the test answers them.
pub async fn joinable(config: TcpConfig) -> (Node, mpsc::Receiver<JoinRequest>) {
    let mut transport = TcpTransport::new(config, bind_local().await).expect("valid config");
    let requests = transport.take_join_requests().expect("first take");
    assert!(transport.take_join_requests().is_none(), "taken once only");
    let (tx, rx) = mpsc::channel(1024);
    transport.start(tx).await.expect("first start");
    let stats = transport.stats_handle();
    let node = Node {
        transport,
        rx,
        stats,
    };
    (node, requests)
}

/// Answers every request with `answer(id, addr)`, or holds it unanswered
/// (for ever) when that is `None`. Returns what it received.
fn answering(
    mut requests: mpsc::Receiver<JoinRequest>,
    answer: impl Fn(NodeId, &str) -> Option<JoinReply> + Send + 'static,
) -> Seen {
    let seen = Seen::default();
    let record = Arc::clone(&seen);
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Some(request) = requests.recv().await {
            record
                .lock()
                .expect("seen lock")
                .push((request.id, request.addr.clone()));
            match answer(request.id, &request.addr) {
                Some(reply) => {
                    let _ = request.reply.send(reply);
                }
                None => held.push(request.reply),
            }
        }
    });
    seen
}

/// A joinable node whose stub runtime answers with `answer`.
async fn joinable_answering(
    config: TcpConfig,
    answer: impl Fn(NodeId, &str) -> Option<JoinReply> + Send + 'static,
) -> (Node, Seen) {
    let (node, requests) = joinable(config).await;
    (node, answering(requests, answer))
}

pub fn joiner(id: u64, key: Option<&[u8]>) -> JoinParams {
    let mut params = JoinParams::new(NodeId(id), format!("10.0.0.{id}:7000"), CLUSTER);
    params.cluster_key = key.map(<[u8]>::to_vec);
    params.timeout = PATIENCE;
    params
}

/// The membership a Goose of {1, 2} hands a joiner.
pub fn with_joiner(id: NodeId, addr: &str) -> Membership {
    Membership::new([NodeId(1), NodeId(2)])
        .with_learners([id])
        .with_addresses([
            (NodeId(1), "10.0.0.1:7000".to_owned()),
            (NodeId(2), "10.0.0.2:7000".to_owned()),
            (id, addr.to_owned()),
        ])
}

fn accept_all(id: NodeId, addr: &str) -> Option<JoinReply> {
    Some(JoinReply::Accepted(with_joiner(id, addr)))
}

fn seen(seen: &Seen) -> Vec<(NodeId, String)> {
    seen.lock().expect("seen lock").clone()
}

/// Nothing a join connection carried reached the protocol side.
pub fn assert_no_protocol_traffic(node: &mut Node) {
    node.assert_nothing_received();
    let stats = node.stats();
    assert_eq!(stats.frames_received, 0, "{stats:?}");
    assert_eq!(stats.connections_accepted, 0, "{stats:?}");
}

#[tokio::test]
async fn a_join_request_reaches_the_runtime_and_its_answer_the_joiner() {
    for key in [None, Some(KEY)] {
        let (mut node, seen_by_node) = joinable_answering(config(1, key), accept_all).await;
        let addr = node.transport.local_addr();
        // By address and by name.
        for (target, id) in [(addr.to_string(), 7), (by_name(addr), 8)] {
            let params = joiner(id, key);
            let membership = request_join(&target, &params).await.expect("accepted");
            assert_eq!(membership, with_joiner(NodeId(id), &params.addr));
        }
        assert_eq!(
            seen(&seen_by_node),
            [
                (NodeId(7), "10.0.0.7:7000".to_owned()),
                (NodeId(8), "10.0.0.8:7000".to_owned())
            ]
        );
        let stats = node.stats();
        assert_eq!(stats.join_requests, 2, "{stats:?}");
        assert_eq!(stats.join_accepted, 2, "{stats:?}");
        assert_eq!(stats.join_violations + stats.auth_failures, 0, "{stats:?}");
        node.transport.shutdown().await;
        assert_no_protocol_traffic(&mut node);
        assert_eq!(node.stats().tasks_running, 0);
    }
}

#[tokio::test]
async fn refusals_and_missing_gooses_come_back_typed() {
    let (mut node, _) = joinable_answering(config(1, None), |id, _| {
        Some(match id.0 {
            7 => JoinReply::Refused("node 7 is already a member at 10.0.0.9:7000".to_owned()),
            8 => JoinReply::NotGoose {
                leader: Some(NodeId(2)),
                leader_addr: None,
            },
            _ => JoinReply::NotGoose {
                leader: None,
                leader_addr: None,
            },
        })
    })
    .await;
    let target = node.transport.local_addr().to_string();
    let refused = request_join(&target, &joiner(7, None)).await;
    assert!(
        matches!(&refused, Err(JoinError::Refused(reason)) if reason.contains("already a member")),
        "{refused:?}"
    );
    let known = request_join(&target, &joiner(8, None)).await;
    assert!(
        matches!(
            known,
            Err(JoinError::NoGoose {
                leader: Some(NodeId(2)),
                leader_addr: None
            })
        ),
        "{known:?}"
    );
    let unknown = request_join(&target, &joiner(9, None)).await;
    assert!(
        matches!(
            unknown,
            Err(JoinError::NoGoose {
                leader: None,
                leader_addr: None
            })
        ),
        "{unknown:?}"
    );
    let stats = node.stats();
    assert_eq!(
        (
            stats.join_requests,
            stats.join_refused,
            stats.join_not_goose
        ),
        (3, 1, 2),
        "{stats:?}"
    );
    assert_eq!(stats.join_forwarded, 0, "{stats:?}");
    node.transport.shutdown().await;
    assert_no_protocol_traffic(&mut node);
}

#[tokio::test]
async fn a_duck_forwards_to_the_goose_and_relays_its_answer() {
    let (mut goose, seen_by_goose) = joinable_answering(config(2, Some(KEY)), accept_all).await;
    let goose_addr = by_name(goose.transport.local_addr());
    let leader_addr = goose_addr.clone();
    let (mut duck, seen_by_duck) = joinable_answering(config(1, Some(KEY)), move |_, _| {
        Some(JoinReply::NotGoose {
            leader: Some(NodeId(2)),
            leader_addr: Some(leader_addr.clone()),
        })
    })
    .await;
    let params = joiner(7, Some(KEY));
    let membership = request_join(&duck.transport.local_addr().to_string(), &params)
        .await
        .expect("accepted by the Goose");
    assert_eq!(membership, with_joiner(NodeId(7), &params.addr));
    // Both runtimes saw the joiner's own id and address.
    let expected = [(NodeId(7), params.addr.clone())];
    assert_eq!(seen(&seen_by_duck), expected);
    assert_eq!(seen(&seen_by_goose), expected);
    let (d, g) = (duck.stats(), goose.stats());
    assert_eq!(
        (d.join_requests, d.join_forwarded, d.join_accepted),
        (1, 1, 1),
        "{d:?}"
    );
    assert_eq!(
        (g.join_requests, g.join_forwarded, g.join_accepted),
        (1, 0, 1),
        "{g:?}"
    );
    for node in [&mut duck, &mut goose] {
        node.transport.shutdown().await;
        assert_no_protocol_traffic(node);
    }
}

#[tokio::test]
async fn a_forwarded_request_is_never_forwarded_again() {
    // A and B each believe the other is the Goose.
    let (mut a, a_requests) = joinable(config(1, None)).await;
    let (mut b, b_requests) = joinable(config(2, None)).await;
    let (a_addr, b_addr) = (
        a.transport.local_addr().to_string(),
        b.transport.local_addr().to_string(),
    );
    let points_to = |leader: u64, addr: String| {
        move |_: NodeId, _: &str| {
            Some(JoinReply::NotGoose {
                leader: Some(NodeId(leader)),
                leader_addr: Some(addr.clone()),
            })
        }
    };
    let seen_by_a = answering(a_requests, points_to(2, b_addr.clone()));
    let seen_by_b = answering(b_requests, points_to(1, a_addr.clone()));

    // The joiner asks A; A forwards to B; B names A but does not forward:
    // its answer comes back through A.
    let answer = request_join(&a_addr, &joiner(7, None)).await;
    assert!(
        matches!(
            &answer,
            Err(JoinError::NoGoose { leader: Some(NodeId(1)), leader_addr: Some(addr) })
                if *addr == a_addr
        ),
        "{answer:?}"
    );
    assert_eq!(seen(&seen_by_a).len(), 1);
    assert_eq!(seen(&seen_by_b).len(), 1);
    let (sa, sb) = (a.stats(), b.stats());
    assert_eq!((sa.join_requests, sa.join_forwarded), (1, 1), "{sa:?}");
    assert_eq!((sb.join_requests, sb.join_forwarded), (1, 0), "{sb:?}");
    assert_eq!((sa.join_not_goose, sb.join_not_goose), (1, 1));
    for node in [&mut a, &mut b] {
        node.transport.shutdown().await;
        assert_no_protocol_traffic(node);
    }
}

#[tokio::test]
async fn a_goose_that_cannot_be_reached_is_named_to_the_joiner() {
    let goose = dead_addr().await.to_string();
    let leader_addr = goose.clone();
    let (mut duck, _) = joinable_answering(config(1, None), move |_, _| {
        Some(JoinReply::NotGoose {
            leader: Some(NodeId(2)),
            leader_addr: Some(leader_addr.clone()),
        })
    })
    .await;
    let answer = request_join(&duck.transport.local_addr().to_string(), &joiner(7, None)).await;
    assert!(
        matches!(
            &answer,
            Err(JoinError::NoGoose { leader: Some(NodeId(2)), leader_addr: Some(addr) })
                if *addr == goose
        ),
        "{answer:?}"
    );
    let stats = duck.stats();
    assert_eq!(
        (stats.join_forwarded, stats.join_forward_failures),
        (1, 1),
        "{stats:?}"
    );
    duck.transport.shutdown().await;
}

#[tokio::test]
async fn joins_are_refused_when_nobody_takes_them() {
    let mut untaken = Node::start(
        config(1, None),
        &BTreeMap::<NodeId, String>::new(),
        bind_local().await,
    )
    .await;
    let answer = request_join(
        &untaken.transport.local_addr().to_string(),
        &joiner(7, None),
    )
    .await;
    assert!(
        matches!(&answer, Err(JoinError::Refused(reason)) if reason == "not accepting joins"),
        "{answer:?}"
    );
    let stats = untaken.stats();
    assert_eq!(
        (stats.join_requests, stats.join_refused),
        (1, 1),
        "{stats:?}"
    );
    untaken.transport.shutdown().await;

    // Taken, then dropped (the runtime stopped taking them).
    let (mut dropped, requests) = joinable(config(1, None)).await;
    drop(requests);
    let answer = request_join(
        &dropped.transport.local_addr().to_string(),
        &joiner(7, None),
    )
    .await;
    assert!(
        matches!(&answer, Err(JoinError::Refused(reason)) if reason == "not accepting joins"),
        "{answer:?}"
    );
    dropped.transport.shutdown().await;
}

#[tokio::test]
async fn a_join_the_runtime_never_answers_times_out() {
    let mut cfg = config(1, None);
    cfg.join_timeout = Duration::from_millis(200);
    let (mut node, seen_by_node) = joinable_answering(cfg, |_, _| None).await;
    let answer = request_join(&node.transport.local_addr().to_string(), &joiner(7, None)).await;
    assert!(
        matches!(&answer, Err(JoinError::Refused(reason)) if reason.contains("no answer")),
        "{answer:?}"
    );
    assert_eq!(seen(&seen_by_node).len(), 1);
    assert_eq!(node.stats().join_refused, 1);
    node.transport.shutdown().await;

    // A runtime that drops the request unanswered is a refusal too.
    let (mut node, mut requests) = joinable(config(1, None)).await;
    tokio::spawn(async move {
        while let Some(request) = requests.recv().await {
            drop(request);
        }
    });
    let answer = request_join(&node.transport.local_addr().to_string(), &joiner(7, None)).await;
    assert!(
        matches!(&answer, Err(JoinError::Refused(reason)) if reason.contains("unanswered")),
        "{answer:?}"
    );
    node.transport.shutdown().await;
}

#[tokio::test]
async fn a_silent_target_times_the_joiner_out() {
    // Accepts, reads, never answers.
    let listener = bind_local().await;
    let target = listener.local_addr().expect("bound").to_string();
    tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            open.push(stream);
        }
    });
    let mut params = joiner(7, None);
    params.timeout = Duration::from_millis(200);
    let answer = request_join(&target, &params).await;
    match answer {
        Err(e @ JoinError::Timeout { .. }) => assert!(e.to_string().contains(&target), "{e}"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn network_and_handshake_failures_are_typed_and_name_the_target() {
    let (mut node, _) = joinable_answering(config(1, Some(KEY)), accept_all).await;
    let target = node.transport.local_addr().to_string();

    let unresolvable = "no-such-host.invalid:1";
    let e = request_join(unresolvable, &joiner(7, Some(KEY)))
        .await
        .expect_err("no such host");
    assert!(matches!(e, JoinError::Resolve { .. }), "{e:?}");
    assert!(e.to_string().contains(unresolvable), "{e}");

    let dead = dead_addr().await.to_string();
    let e = request_join(&dead, &joiner(7, Some(KEY)))
        .await
        .expect_err("nothing listens");
    assert!(matches!(e, JoinError::Connect { .. }), "{e:?}");
    assert!(e.to_string().contains(&dead), "{e}");

    // Another key: the node's ack does not verify.
    let e = request_join(&target, &joiner(7, Some(b"another key")))
        .await
        .expect_err("wrong key");
    assert!(matches!(e, JoinError::Auth { .. }), "{e:?}");
    assert!(e.to_string().contains(&target), "{e}");
    // No key, another cluster, or the node's own id: the node closes.
    let mut other_cluster = joiner(7, Some(KEY));
    other_cluster.cluster_id = "another-cluster".to_owned();
    for params in [joiner(7, None), other_cluster, joiner(1, Some(KEY))] {
        let e = request_join(&target, &params)
            .await
            .expect_err("refused hello");
        assert!(matches!(e, JoinError::HandshakeRefused { .. }), "{e:?}");
        assert!(e.to_string().contains(&target), "{e}");
    }
    let mut bad = joiner(7, Some(KEY));
    bad.cluster_id = String::new();
    assert!(matches!(
        request_join(&target, &bad).await,
        Err(JoinError::InvalidParams(_))
    ));

    eventually("refusals counted", || {
        let stats = node.stats();
        stats.handshake_failures + stats.auth_failures >= 4
    })
    .await;
    let stats = node.stats();
    assert_eq!(stats.join_requests, 0, "{stats:?}");
    node.transport.shutdown().await;
    assert_no_protocol_traffic(&mut node);
}

#[tokio::test]
async fn join_requests_beyond_the_limits_are_refused_as_busy() {
    // One at a time: the second, while the first waits, is refused.
    let mut cfg = config(1, None);
    cfg.max_join_connections = 1;
    let (mut node, mut requests) = joinable(cfg).await;
    let target = node.transport.local_addr().to_string();
    let first = tokio::spawn({
        let target = target.clone();
        async move { request_join(&target, &joiner(7, None)).await }
    });
    let waiting = timeout(PATIENCE, requests.recv())
        .await
        .expect("the first request within the patience")
        .expect("the channel is open");
    let second = request_join(&target, &joiner(8, None)).await;
    assert!(
        matches!(&second, Err(JoinError::Refused(reason)) if reason.starts_with("busy")),
        "{second:?}"
    );
    let membership = with_joiner(waiting.id, &waiting.addr);
    waiting
        .reply
        .send(JoinReply::Accepted(membership.clone()))
        .expect("the connection waits");
    assert_eq!(
        first.await.expect("no panic").expect("accepted"),
        membership
    );
    node.transport.shutdown().await;

    // A burst of one, then one an hour: the second is refused.
    let mut cfg = config(1, None);
    cfg.join_rate_burst = 1;
    cfg.join_rate_interval = Duration::from_secs(3600);
    let (mut node, seen_by_node) = joinable_answering(cfg, accept_all).await;
    let target = node.transport.local_addr().to_string();
    request_join(&target, &joiner(7, None))
        .await
        .expect("within the burst");
    let second = request_join(&target, &joiner(8, None)).await;
    assert!(
        matches!(&second, Err(JoinError::Refused(reason)) if reason.starts_with("busy")),
        "{second:?}"
    );
    assert_eq!(
        seen(&seen_by_node).len(),
        1,
        "the busy one never reached it"
    );
    let stats = node.stats();
    assert_eq!(
        (stats.join_requests, stats.join_accepted, stats.join_refused),
        (2, 1, 1),
        "{stats:?}"
    );
    node.transport.shutdown().await;
}

/// A joinable node reached through a proxy running `plan`; its stub
/// runtime holds every request unanswered (so a violation, not an answer,
/// ends the connection).
async fn proxied_joinable(key: Option<&[u8]>, plan: Plan) -> (Node, Seen, String) {
    let (node, seen_by_node) = joinable_answering(config(1, key), |_, _| None).await;
    let via = proxy(node.transport.local_addr(), plan).await;
    (node, seen_by_node, via.to_string())
}

#[tokio::test]
async fn a_join_connection_carries_one_request_and_nothing_else() {
    let garbage = || vec![0, 0, 0, 8, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff];
    let message_frame = message_frame(&vote(1));
    // (name, key, index of the request frame, what replaces it)
    type Tamper = Box<dyn Fn(Vec<u8>) -> Vec<Step> + Send + Sync>;
    let cases: Vec<(&str, Option<&[u8]>, usize, Tamper)> = vec![
        ("a protocol message instead", None, FIRST_DATA_UNKEYED, {
            let msg = message_frame.clone();
            Box::new(move |_| vec![Step::Send(msg.clone())])
        }),
        ("a protocol message after", None, FIRST_DATA_UNKEYED, {
            let msg = message_frame.clone();
            Box::new(move |request| vec![Step::Send(request), Step::Send(msg.clone())])
        }),
        (
            "the request twice",
            Some(KEY),
            FIRST_DATA_KEYED,
            Box::new(|request| vec![Step::Send(request.clone()), Step::Send(request)]),
        ),
        (
            "garbage instead",
            None,
            FIRST_DATA_UNKEYED,
            Box::new(move |_| vec![Step::Send(garbage())]),
        ),
        (
            "a tampered request",
            Some(KEY),
            FIRST_DATA_KEYED,
            Box::new(|mut request| {
                let last = request.len() - 1;
                request[last] ^= 1;
                vec![Step::Send(request)]
            }),
        ),
        (
            "an unauthenticated message",
            Some(KEY),
            FIRST_DATA_KEYED,
            Box::new(move |_| vec![Step::Send(message_frame.clone())]),
        ),
    ];
    for (name, key, request_index, tamper) in cases {
        let plan: Plan = Box::new(move |_, index, frame| {
            if index == request_index {
                tamper(frame)
            } else {
                vec![Step::Send(frame)]
            }
        });
        let (mut node, seen_by_node, via) = proxied_joinable(key, plan).await;
        let answer = request_join(&via, &joiner(7, key)).await;
        assert!(
            matches!(answer, Err(JoinError::Closed { .. } | JoinError::Io { .. })),
            "{name}: {answer:?}"
        );
        eventually("the violation counted", || {
            node.stats().join_violations == 1
        })
        .await;
        let stats = node.stats();
        if name.ends_with("instead") || name.contains("tampered") || name.contains("unauth") {
            assert!(seen(&seen_by_node).is_empty(), "{name}");
            assert_eq!(stats.join_requests, 0, "{name}: {stats:?}");
        }
        if key.is_some() && !name.contains("twice") {
            assert_eq!(stats.auth_failures, 1, "{name}: {stats:?}");
        }
        assert_eq!(
            stats.join_accepted + stats.join_refused,
            0,
            "{name}: {stats:?}"
        );
        node.transport.shutdown().await;
        assert_no_protocol_traffic(&mut node);
    }
}
