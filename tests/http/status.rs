//! `/status`, `/cluster` and `/step-down`, on Geese, Ducks, learners and
//! stopped nodes.

use std::time::Duration;

use axum::http::{Method, StatusCode};
use duckduckgoose::NodeId;
use duckduckgoose::runtime::Node;
use duckduckgoose::storage::MemStorage;
use duckduckgoose::transport::MemoryTransport;
use serde_json::{Value, json};
use tokio::time::{Instant, sleep};

use crate::common::{
    ATTEMPTS, ELECTION_WAIT, addr_json, app, config, get_json, ids, keys, lone_goose, meta_json,
    send_json, set, start_cluster, start_cluster_with_learner,
};

#[tokio::test]
async fn status_reports_the_goose_and_the_ducks_with_exact_keys() {
    let cluster = start_cluster(1).await;
    let status_keys = set(&["id", "role", "term", "leader", "lease_ms", "goose"]);

    // The Goose: retried if its lease lapses between finding and asking.
    let mut goose_seen = None;
    for _ in 0..ATTEMPTS {
        let goose = cluster.goose().await;
        let (code, body) = get_json(&cluster.router(goose), "/status").await;
        assert_eq!(code, StatusCode::OK);
        assert_eq!(keys(&body), status_keys);
        assert_eq!(body["id"], json!(goose.0));
        if body["role"] == "Goose" {
            assert_eq!(body["leader"], json!(goose.0));
            let term = body["term"].as_u64().expect("term is a number");
            assert!(term >= 1);
            let lease_ms = body["lease_ms"].as_u64().expect("a Goose has a lease");
            assert!(lease_ms <= 125, "the lease is 25 ticks of 5 ms: {lease_ms}");
            // Where to forward to: itself, with its address and metadata.
            assert_eq!(
                body["goose"],
                json!({
                    "id": goose.0,
                    "term": term,
                    "addr": addr_json(goose),
                    "meta": meta_json(goose),
                })
            );
            goose_seen = Some((goose, term));
            break;
        }
        assert_eq!(body["role"], "Duck", "the only other role");
    }
    let (goose, term) = goose_seen.expect("the Goose answered as the Goose");

    // A Duck, once it follows the Goose, names it.
    let duck = ids().into_iter().find(|&id| id != goose).expect("3 nodes");
    let app = cluster.router(duck);
    let deadline = Instant::now() + ELECTION_WAIT;
    loop {
        let (code, body) = get_json(&app, "/status").await;
        assert_eq!(code, StatusCode::OK);
        assert_eq!(keys(&body), status_keys);
        assert_eq!(body["id"], json!(duck.0));
        assert_eq!(body["role"], "Duck");
        assert_eq!(body["lease_ms"], Value::Null);
        let follows = body["leader"].as_u64().map(NodeId);
        // The Goose it names, with what the membership records of it.
        let goose_body = match follows {
            Some(leader) => json!({
                "id": leader.0,
                "term": body["term"],
                "addr": addr_json(leader),
                "meta": meta_json(leader),
            }),
            None => Value::Null,
        };
        assert_eq!(body["goose"], goose_body);
        if follows.is_some() && follows == cluster.node(duck).status().leader {
            assert!(body["term"].as_u64() >= Some(term));
            break;
        }
        assert!(Instant::now() < deadline, "the Duck never named a leader");
        sleep(Duration::from_millis(5)).await;
    }
    cluster.shutdown().await;

    // A stopped node is a Duck that names nobody.
    let (code, body) = get_json(&cluster.router(goose), "/status").await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(body["role"], "Duck");
    assert_eq!(body["leader"], Value::Null);
    assert_eq!(body["lease_ms"], Value::Null);
    assert_eq!(body["goose"], Value::Null);
}

#[tokio::test]
async fn cluster_lists_every_member_with_its_address_and_last_contact() {
    let cluster = start_cluster(2).await;
    let goose = cluster.goose().await;
    let duck = ids().into_iter().find(|&id| id != goose).expect("3 nodes");

    // Heartbeats keep every Duck in touch with the Goose.
    let app = cluster.router(duck);
    let deadline = Instant::now() + ELECTION_WAIT;
    let body = loop {
        let (code, body) = get_json(&app, "/cluster").await;
        assert_eq!(code, StatusCode::OK);
        let leader = body["leader"].as_u64();
        if leader.is_some() && body["members"][(goose.0 - 1) as usize]["last_contact_ms"].is_u64() {
            break body;
        }
        assert!(
            Instant::now() < deadline,
            "no contact with a leader: {body}"
        );
        sleep(Duration::from_millis(5)).await;
    };
    assert_eq!(
        keys(&body),
        set(&[
            "leader",
            "term",
            "member",
            "membership",
            "pending",
            "members"
        ])
    );
    assert_eq!(body["member"], json!(true));
    assert!(body["term"].as_u64() >= Some(1));
    assert_eq!(keys(&body["membership"]), set(&["term", "version"]));
    if body["leader"] == json!(duck.0) {
        assert!(body["pending"].is_boolean(), "the Goose knows: {body}");
    } else {
        assert_eq!(body["pending"], Value::Null, "a Duck does not know: {body}");
    }
    let members = body["members"].as_array().expect("an array");
    assert_eq!(members.len(), 3);
    for (member, id) in members.iter().zip(ids()) {
        assert_eq!(
            keys(member),
            set(&[
                "id",
                "addr",
                "voter",
                "joining",
                "last_contact_ms",
                "ack_rtt_ms",
                "meta"
            ])
        );
        assert_eq!(member["id"], json!(id.0));
        assert_eq!(member["meta"], meta_json(id), "member {id}");
        assert_eq!(member["voter"], json!(true));
        assert_eq!(member["joining"], json!(false));
        let address = if id.0 == 3 {
            Value::Null
        } else {
            json!(format!("127.0.0.1:{}", 7000 + id.0))
        };
        assert_eq!(member["addr"], address, "member {id}");
        if id == duck {
            assert_eq!(member["last_contact_ms"], json!(0), "itself");
        }
    }
    cluster.shutdown().await;
}

#[tokio::test]
async fn a_node_that_never_heard_from_a_peer_shows_a_null_contact() {
    let members = ids();
    let network = MemoryTransport::network(3);
    // Node 1 is cut off before it starts: it never hears from anyone.
    network.isolate(NodeId(1));
    let node = Node::start(
        config(NodeId(1), &members),
        network.transport(NodeId(1)),
        MemStorage::new(),
    )
    .await
    .expect("start");
    let (code, body) = get_json(&app(node.clone()), "/cluster").await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(body["leader"], Value::Null);
    let contacts: Vec<&Value> = body["members"]
        .as_array()
        .expect("an array")
        .iter()
        .map(|member| &member["last_contact_ms"])
        .collect();
    assert_eq!(contacts, [&json!(0), &Value::Null, &Value::Null]);
    node.shutdown().await;
}

#[tokio::test]
async fn step_down_hands_over_and_a_duck_answers_409() {
    let cluster = start_cluster(4).await;

    let mut handed_over = None;
    for _ in 0..ATTEMPTS {
        let goose = cluster.goose().await;
        let term = cluster.node(goose).status().term;
        let (code, body) = send_json(&cluster.router(goose), Method::POST, "/step-down", "").await;
        if code == StatusCode::ACCEPTED {
            assert_eq!(keys(&body), set(&["stepped_down", "term"]));
            assert_eq!(body["stepped_down"], json!(true));
            assert_eq!(body["term"], json!(term.0));
            assert!(!cluster.node(goose).is_goose());
            handed_over = Some((goose, term));
            break;
        }
        // The lease lapsed between finding the Goose and asking it.
        assert_eq!(code, StatusCode::CONFLICT, "{body}");
    }
    let (old, old_term) = handed_over.expect("a Goose stepped down");
    let new = cluster.goose_other_than(old).await;
    assert!(cluster.node(new).status().term > old_term);

    // A Duck refuses and points at the leader it knows, if any.
    for _ in 0..ATTEMPTS {
        let goose = cluster.goose().await;
        let duck = ids().into_iter().find(|&id| id != goose).expect("3 nodes");
        let (code, body) = send_json(&cluster.router(duck), Method::POST, "/step-down", "").await;
        if code == StatusCode::ACCEPTED {
            // It became the Goose meanwhile and handed over; try again.
            continue;
        }
        assert_eq!(code, StatusCode::CONFLICT);
        assert_eq!(keys(&body), set(&["error", "leader"]));
        assert_eq!(body["error"], "not the Goose");
        let leader = &body["leader"];
        assert!(
            leader.is_null() || (leader.is_u64() && *leader != json!(duck.0)),
            "{body}"
        );
        cluster.shutdown().await;
        return;
    }
    panic!("no Duck stayed a Duck long enough to refuse");
}

#[tokio::test]
async fn step_down_in_a_cluster_of_one_is_refused() {
    let network = MemoryTransport::network(5);
    let node = lone_goose(&network, MemStorage::new()).await;
    let (code, body) = send_json(&app(node.clone()), Method::POST, "/step-down", "").await;
    assert_eq!(code, StatusCode::CONFLICT);
    assert_eq!(body["error"], "no other voter to hand over to");
    assert_eq!(body["leader"], json!(1));
    node.shutdown().await;
}

#[tokio::test]
async fn a_learner_is_a_non_voter_on_cluster_and_a_duck_naming_the_goose_on_status() {
    let cluster = start_cluster_with_learner(11).await;
    let learner = NodeId(4);
    let app = cluster.router(learner);

    // `/status` on the learner: a Duck, without a lease, naming the Goose
    // once it follows it. `goose()` samples all four nodes, the learner
    // included, so it also checks that the learner never answers Goose.
    let deadline = Instant::now() + ELECTION_WAIT;
    let goose = loop {
        let goose = cluster.goose().await;
        assert_ne!(goose, learner, "a learner never leads");
        let (code, body) = get_json(&app, "/status").await;
        assert_eq!(code, StatusCode::OK);
        assert_eq!(
            keys(&body),
            set(&["id", "role", "term", "leader", "lease_ms", "goose"])
        );
        assert_eq!(body["id"], json!(learner.0));
        assert_eq!(body["role"], "Duck");
        assert_eq!(body["lease_ms"], Value::Null);
        if body["leader"] == json!(goose.0) {
            assert!(body["term"].as_u64() >= Some(1));
            assert_eq!(body["goose"]["id"], json!(goose.0));
            assert_eq!(body["goose"]["meta"], meta_json(goose));
            break goose;
        }
        assert!(
            Instant::now() < deadline,
            "the learner never named the Goose: {body}"
        );
        sleep(Duration::from_millis(5)).await;
    };

    // `/cluster` on a voter: four members, the learner with `"voter": false`.
    // On the Goose, which hears the learner's acks, its contact is known.
    let deadline = Instant::now() + ELECTION_WAIT;
    let mut goose = goose;
    let body = loop {
        let (code, body) = get_json(&cluster.router(goose), "/cluster").await;
        assert_eq!(code, StatusCode::OK);
        if body["leader"] == json!(goose.0) && body["members"][3]["last_contact_ms"].is_u64() {
            break body;
        }
        assert!(
            Instant::now() < deadline,
            "the Goose never heard the learner: {body}"
        );
        sleep(Duration::from_millis(5)).await;
        goose = cluster.goose().await;
    };
    let members = body["members"].as_array().expect("an array");
    let rows: Vec<(Value, Value, Value)> = members
        .iter()
        .map(|member| {
            assert_eq!(
                keys(member),
                set(&[
                    "id",
                    "addr",
                    "voter",
                    "joining",
                    "last_contact_ms",
                    "ack_rtt_ms",
                    "meta"
                ])
            );
            assert_eq!(
                member["joining"],
                json!(false),
                "a configured learner stays one"
            );
            (
                member["id"].clone(),
                member["voter"].clone(),
                member["addr"].clone(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            (json!(1), json!(true), json!("127.0.0.1:7001")),
            (json!(2), json!(true), json!("127.0.0.1:7002")),
            (json!(3), json!(true), Value::Null),
            (json!(4), json!(false), json!("127.0.0.1:7004")),
        ]
    );

    // The learner's own `/cluster` agrees on who votes.
    let (code, body) = get_json(&app, "/cluster").await;
    assert_eq!(code, StatusCode::OK);
    let voters: Vec<&Value> = body["members"]
        .as_array()
        .expect("an array")
        .iter()
        .map(|member| &member["voter"])
        .collect();
    assert_eq!(
        voters,
        [&json!(true), &json!(true), &json!(true), &json!(false)]
    );
    assert_eq!(body["members"][3]["last_contact_ms"], json!(0), "itself");
    assert_eq!(body["member"], json!(true), "a learner is a member");

    // A learner has nothing to step down from; it points at the Goose.
    let (code, body) = send_json(&app, Method::POST, "/step-down", "").await;
    assert_eq!(code, StatusCode::CONFLICT);
    assert_eq!(body["error"], "not the Goose");
    let leader = &body["leader"];
    assert!(
        leader.is_null() || (leader.is_u64() && *leader != json!(learner.0)),
        "{body}"
    );
    cluster.shutdown().await;
}
