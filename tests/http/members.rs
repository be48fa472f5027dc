//! `/members`: adding and removing members through the Goose, and the
//! requests refused.

use std::time::Duration;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use duckduckgoose::core::Membership;
use duckduckgoose::runtime::NodeConfig;
use duckduckgoose::storage::{MemStorage, Storage, StorageError};
use duckduckgoose::transport::MemoryTransport;
use duckduckgoose::{HardState, NodeId};
use serde_json::{Value, json};
use tokio::time::{Instant, sleep};

use crate::common::{
    ADMIN_TOKEN, ATTEMPTS, Cluster, ELECTION_WAIT, app, call_json, call_request, fast, get_json,
    ids, keys, lone_goose, send_json, set, start_cluster,
};

/// Whether an answer says to ask again, maybe elsewhere: the node was not
/// the Goose (or stopped being it), or a new Goose has not yet committed
/// its re-issue of the membership.
fn try_again(code: StatusCode, body: &Value) -> bool {
    matches!(
        (code, body["reason"].as_str()),
        (
            StatusCode::CONFLICT,
            Some("not_goose" | "change_in_progress")
        ) | (StatusCode::SERVICE_UNAVAILABLE, Some("leadership_lost"))
    )
}

/// Sends a membership request to the Goose, found again (after a pause)
/// as long as the answer says to try again; returns the Goose that
/// answered and its answer.
pub async fn on_the_goose(
    cluster: &Cluster,
    method: Method,
    path: &str,
    body: &str,
) -> (NodeId, StatusCode, Value) {
    let deadline = Instant::now() + ELECTION_WAIT;
    loop {
        let goose = cluster.goose().await;
        let (code, answer) = send_json(&cluster.router(goose), method.clone(), path, body).await;
        if !try_again(code, &answer) {
            return (goose, code, answer);
        }
        assert!(
            Instant::now() < deadline,
            "{method} {path} never got past {code} {answer}"
        );
        sleep(Duration::from_millis(10)).await;
    }
}

/// The members of a membership body (`GET /members`, or a change's answer):
/// `(id, voter, joining, addr)`.
fn member_rows(body: &Value) -> Vec<(u64, bool, bool, Value)> {
    body["members"]
        .as_array()
        .expect("an array of members")
        .iter()
        .map(|member| {
            assert_eq!(
                keys(member),
                set(&["id", "addr", "voter", "joining", "meta"])
            );
            (
                member["id"].as_u64().expect("an id"),
                member["voter"].as_bool().expect("a bool"),
                member["joining"].as_bool().expect("a bool"),
                member["addr"].clone(),
            )
        })
        .collect()
}

fn membership_version(body: &Value) -> u64 {
    assert_eq!(
        keys(&body["membership"]),
        set(&["term", "version"]),
        "{body}"
    );
    body["membership"]["version"]
        .as_u64()
        .expect("a version number")
}

pub const ADD_4: &str = r#"{"id": 4, "addr": "127.0.0.1:7004"}"#;

/// Node 1 as it is configured: adding it changes nothing, and answers `200`
/// once the Goose may make changes.
pub const READD_1: &str =
    r#"{"id": 1, "addr": "127.0.0.1:7001", "meta": {"http": "http://127.0.0.1:8001"}}"#;

#[tokio::test]
async fn adding_a_member_answers_the_committed_membership_and_it_becomes_a_voter() {
    let mut cluster = start_cluster(21).await;
    let (goose, code, body) = on_the_goose(&cluster, Method::POST, "/members", ADD_4).await;
    assert_eq!(code, StatusCode::OK, "{body}");
    assert_eq!(keys(&body), set(&["membership", "members"]));
    let added = membership_version(&body);
    assert!(added >= 1, "a change makes a new version: {body}");
    let addr = |id: u64| json!(format!("127.0.0.1:{}", 7000 + id));
    assert_eq!(
        member_rows(&body),
        [
            (1, true, false, addr(1)),
            (2, true, false, addr(2)),
            (3, true, false, Value::Null),
            (4, false, true, addr(4)),
        ],
        "node 4 is a joining learner"
    );
    // The committed membership is the one the Goose holds.
    let (code, held) = get_json(&cluster.router(goose), "/members").await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(held["members"], body["members"]);

    // Again at the same address: nothing to change, and `200`.
    let (_, code, again) = on_the_goose(&cluster, Method::POST, "/members", ADD_4).await;
    assert_eq!(code, StatusCode::OK, "{again}");
    assert_eq!(again["members"], body["members"]);
    // At another address: refused, nothing changed.
    let (goose, code, refused) = on_the_goose(
        &cluster,
        Method::POST,
        "/members",
        r#"{"id": 4, "addr": "127.0.0.1:9999"}"#,
    )
    .await;
    assert_eq!(code, StatusCode::CONFLICT, "{refused}");
    assert_eq!(keys(&refused), set(&["error", "reason"]));
    assert_eq!(refused["reason"], "address_conflict");
    let message = refused["error"].as_str().expect("a message");
    assert!(message.contains("127.0.0.1:7004") && message.contains("127.0.0.1:9999"));
    let (_, held) = get_json(&cluster.router(goose), "/members").await;
    assert_eq!(held["members"], body["members"]);

    // Node 4 starts from the membership it was given and keeps up with the
    // Goose, which promotes it.
    let mut config = NodeConfig::from_membership(NodeId(4), cluster.node(goose).membership());
    fast(&mut config);
    cluster
        .start_node(config)
        .await
        .expect("the new node starts");
    let deadline = Instant::now() + ELECTION_WAIT;
    loop {
        let goose = cluster.goose().await;
        let (code, body) = get_json(&cluster.router(goose), "/cluster").await;
        assert_eq!(code, StatusCode::OK);
        let four = &body["members"][3];
        if four["voter"] == json!(true) && body["pending"] == json!(false) {
            assert_eq!(four["id"], json!(4));
            assert_eq!(four["joining"], json!(false));
            assert_eq!(four["addr"], addr(4));
            assert!(four["last_contact_ms"].is_u64(), "{body}");
            assert!(
                membership_version(&body) > added,
                "the promotion is a change"
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "node 4 was never promoted: {body}"
        );
        sleep(Duration::from_millis(10)).await;
    }
    // Node 4 sees itself as a voter too.
    let deadline = Instant::now() + ELECTION_WAIT;
    loop {
        let (_, body) = get_json(&cluster.router(NodeId(4)), "/cluster").await;
        let voters: Vec<&Value> = body["members"]
            .as_array()
            .expect("an array")
            .iter()
            .map(|member| &member["voter"])
            .collect();
        if voters == [&json!(true); 4] {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "node 4 never saw itself promoted: {body}"
        );
        sleep(Duration::from_millis(10)).await;
    }
    cluster.shutdown().await;
}

#[tokio::test]
async fn membership_changes_on_a_duck_answer_409_naming_the_goose() {
    let cluster = start_cluster(22).await;
    // Requests that change nothing even if the Duck has become the Goose
    // meanwhile: re-adding a member at its address, removing a non-member.
    let requests = [
        (Method::POST, "/members", READD_1),
        (Method::DELETE, "/members/99", ""),
    ];
    for (method, path, body) in requests {
        let mut refused = false;
        for _ in 0..ATTEMPTS {
            let goose = cluster.goose().await;
            let duck = ids().into_iter().find(|&id| id != goose).expect("3 nodes");
            let (code, answer) = send_json(&cluster.router(duck), method.clone(), path, body).await;
            if code != StatusCode::CONFLICT {
                // It was the Goose after all.
                continue;
            }
            assert_eq!(
                keys(&answer),
                set(&["error", "reason", "goose"]),
                "{answer}"
            );
            assert_eq!(answer["error"], "not the Goose");
            assert_eq!(answer["reason"], "not_goose");
            let named = &answer["goose"];
            assert!(
                named.is_null() || (named.is_u64() && *named != json!(duck.0)),
                "{answer}"
            );
            refused = true;
            break;
        }
        assert!(
            refused,
            "{method} {path}: no Duck stayed a Duck long enough"
        );
    }
    cluster.shutdown().await;
}

#[tokio::test]
async fn bad_membership_requests_answer_400_404_415_and_change_nothing() {
    let cluster = start_cluster(23).await;
    // Wait until the new Goose can make changes (its re-issue committed).
    let (goose, code, _) = on_the_goose(&cluster, Method::POST, "/members", READD_1).await;
    assert_eq!(code, StatusCode::OK);
    let before = cluster.node(goose).membership();

    // Bodies that are not `{"id": <integer>, "addr": "<string>"}`.
    for (body, mention) in [
        ("", "EOF"),
        ("not json", "expected"),
        (r#"{"id": 4}"#, "missing field `addr`"),
        (r#"{"addr": "127.0.0.1:7004"}"#, "missing field `id`"),
        (r#"{"id": -4, "addr": "127.0.0.1:7004"}"#, "-4"),
        (r#"{"id": "4", "addr": "127.0.0.1:7004"}"#, "invalid type"),
        (r#"{"id": 4.5, "addr": "127.0.0.1:7004"}"#, "invalid type"),
        (r#"{"id": 4, "addr": 7004}"#, "invalid type"),
        (
            r#"{"id": 4, "address": "127.0.0.1:7004"}"#,
            "unknown field `address`",
        ),
        (r#"[4, "127.0.0.1:7004"]"#, "not a JSON object"),
        (
            r#"{"id": 4, "addr": "127.0.0.1:7004", "meta": ["http"]}"#,
            "invalid type",
        ),
        (
            r#"{"id": 4, "addr": "127.0.0.1:7004", "meta": {"http": 80}}"#,
            "invalid type",
        ),
    ] {
        let (code, answer) =
            send_json(&cluster.router(goose), Method::POST, "/members", body).await;
        assert_eq!(code, StatusCode::BAD_REQUEST, "{body}: {answer}");
        assert_eq!(keys(&answer), set(&["error", "reason"]));
        assert_eq!(answer["reason"], "bad_request", "{body}");
        let message = answer["error"].as_str().expect("a message");
        assert!(message.contains(mention), "{body}: {message}");
    }
    // Addresses the other members could not dial.
    for addr in [
        "127.0.0.1",
        "127.0.0.1:0",
        "127.0.0.1:65536",
        "0.0.0.0:7004",
        "[::]:7004",
        ":7004",
        "bad host:7004",
    ] {
        let body = json!({ "id": 4, "addr": addr }).to_string();
        let (code, answer) =
            send_json(&cluster.router(goose), Method::POST, "/members", &body).await;
        assert_eq!(code, StatusCode::BAD_REQUEST, "{addr}: {answer}");
        assert_eq!(answer["reason"], "invalid_address", "{addr}");
    }
    // Not declared as JSON.
    for content_type in [
        None,
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
    ] {
        let mut request = Request::post("/members")
            .header(header::AUTHORIZATION, format!("Bearer {ADMIN_TOKEN}"));
        if let Some(content_type) = content_type {
            request = request.header(header::CONTENT_TYPE, content_type);
        }
        let request = request.body(Body::from(ADD_4)).expect("a valid request");
        let (code, _, body) = call_request(&cluster.router(goose), request).await;
        assert_eq!(code, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{content_type:?}");
        let body: Value = serde_json::from_slice(&body).expect("JSON");
        assert_eq!(body["reason"], "unsupported_media_type");
    }
    // Ids in the path that are not ids.
    for path in [
        "/members/abc",
        "/members/-1",
        "/members/1.0",
        "/members/%ff",
        "/members/99999999999999999999",
    ] {
        let (code, answer) = send_json(&cluster.router(goose), Method::DELETE, path, "").await;
        assert_eq!(code, StatusCode::BAD_REQUEST, "{path}: {answer}");
        assert_eq!(answer["reason"], "bad_request", "{path}");
    }
    // Methods the paths do not take.
    for (method, path) in [
        (Method::PUT, "/members"),
        (Method::DELETE, "/members"),
        (Method::GET, "/members/1"),
        (Method::POST, "/members/1"),
    ] {
        let (code, _) = call_json(&cluster.router(goose), method.clone(), path).await;
        assert_eq!(code, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
    }
    // A node that is not a member.
    let (_, code, answer) = on_the_goose(&cluster, Method::DELETE, "/members/99", "").await;
    assert_eq!(code, StatusCode::NOT_FOUND, "{answer}");
    assert_eq!(keys(&answer), set(&["error", "reason"]));
    assert_eq!(answer["reason"], "not_a_member");
    assert_eq!(answer["error"], "node 99 is not a member");

    let goose = cluster.goose().await;
    assert_eq!(
        cluster
            .node(goose)
            .membership()
            .members()
            .collect::<Vec<_>>(),
        before.members().collect::<Vec<_>>(),
        "nothing changed"
    );
    cluster.shutdown().await;
}

#[tokio::test]
async fn removing_the_last_voter_answers_400() {
    let network = MemoryTransport::network(24);
    let node = lone_goose(&network, MemStorage::new()).await;
    let app = app(node.clone());
    let deadline = Instant::now() + ELECTION_WAIT;
    let answer = loop {
        let (code, answer) = send_json(&app, Method::DELETE, "/members/1", "").await;
        if !try_again(code, &answer) {
            assert_eq!(code, StatusCode::BAD_REQUEST, "{answer}");
            break answer;
        }
        assert!(Instant::now() < deadline, "{answer}");
        sleep(Duration::from_millis(10)).await;
    };
    assert_eq!(answer["reason"], "last_voter");
    assert!(node.membership().is_voter(NodeId(1)));
    node.shutdown().await;
}

#[tokio::test]
async fn one_change_at_a_time_answers_409_change_in_progress() {
    let cluster = start_cluster(25).await;
    // Two additions sent together: the second reaches the Goose while the
    // first waits for a majority, unless the first commits in between.
    for round in 0..u64::try_from(ATTEMPTS).expect("small") {
        let goose = cluster.goose().await;
        let app = cluster.router(goose);
        let first =
            json!({ "id": 10 + 2 * round, "addr": format!("127.0.0.1:{}", 8000 + 2 * round) })
                .to_string();
        let second =
            json!({ "id": 11 + 2 * round, "addr": format!("127.0.0.1:{}", 8001 + 2 * round) })
                .to_string();
        let ((code_1, answer_1), (code_2, answer_2)) = tokio::join!(
            send_json(&app, Method::POST, "/members", &first),
            send_json(&app, Method::POST, "/members", &second),
        );
        if code_1 == StatusCode::OK
            && code_2 == StatusCode::CONFLICT
            && answer_2["reason"] == "change_in_progress"
        {
            assert_eq!(keys(&answer_2), set(&["error", "reason", "pending"]));
            assert_eq!(keys(&answer_2["pending"]), set(&["term", "version"]));
            assert_eq!(
                answer_2["pending"], answer_1["membership"],
                "the change in progress was the first one"
            );
            let added = member_rows(&answer_1)
                .iter()
                .any(|row| row.0 == 10 + 2 * round);
            assert!(added, "{answer_1}");
            let held = cluster.node(goose).membership();
            assert!(
                !held.contains(NodeId(11 + 2 * round)),
                "the refused one changed nothing"
            );
            cluster.shutdown().await;
            return;
        }
        eprintln!("round {round}: {code_1} {answer_1} / {code_2} {answer_2}");
    }
    panic!("never saw a change refused while another was in progress");
}

#[tokio::test]
async fn removing_members_and_the_goose_itself() {
    let cluster = start_cluster(26).await;
    let goose = cluster.goose().await;
    let duck = ids().into_iter().find(|&id| id != goose).expect("3 nodes");
    let path = format!("/members/{}", duck.0);
    let (goose, code, body) = on_the_goose(&cluster, Method::DELETE, &path, "").await;
    assert_eq!(code, StatusCode::OK, "{body}");
    let remaining: Vec<u64> = member_rows(&body).iter().map(|row| row.0).collect();
    assert!(
        !remaining.contains(&duck.0) && remaining.len() == 2,
        "{body}"
    );
    assert!(
        member_rows(&body).iter().all(|row| row.1),
        "both left are voters"
    );
    // Removing it again: it is no member.
    let (_, code, _) = on_the_goose(&cluster, Method::DELETE, &path, "").await;
    assert_eq!(code, StatusCode::NOT_FOUND);

    // The Goose removes itself; the last voter takes over.
    let old = goose;
    let path = format!("/members/{}", old.0);
    let (answered, code, body) = on_the_goose(&cluster, Method::DELETE, &path, "").await;
    assert_eq!(code, StatusCode::OK, "{body}");
    assert_eq!(answered, old, "the Goose did not change meanwhile");
    let last = ids()
        .into_iter()
        .find(|&id| id != old && id != duck)
        .expect("3 nodes");
    let rows = member_rows(&body);
    assert_eq!(rows.len(), 1, "{body}");
    assert_eq!((rows[0].0, rows[0].1), (last.0, true));
    let deadline = Instant::now() + ELECTION_WAIT;
    loop {
        let (_, status) = get_json(&cluster.router(last), "/status").await;
        if status["role"] == "Goose" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "node {last} never took over: {status}"
        );
        sleep(Duration::from_millis(10)).await;
    }
    let (_, body) = get_json(&cluster.router(last), "/cluster").await;
    let members: Vec<&Value> = body["members"]
        .as_array()
        .expect("an array")
        .iter()
        .map(|member| &member["id"])
        .collect();
    assert_eq!(members, [&json!(last.0)]);
    assert_eq!(body["member"], json!(true));
    assert!(!cluster.node(old).is_goose());
    // The removed nodes say so on their own `/cluster`, once the removal
    // has reached them: `"member": false`, their id absent from `members`.
    for removed in [duck, old] {
        let deadline = Instant::now() + ELECTION_WAIT;
        let body = loop {
            let (_, body) = get_json(&cluster.router(removed), "/cluster").await;
            if body["member"] == json!(false) {
                break body;
            }
            assert!(
                Instant::now() < deadline,
                "node {removed} never heard of its removal: {body}"
            );
            sleep(Duration::from_millis(10)).await;
        };
        let ids: Vec<&Value> = body["members"]
            .as_array()
            .expect("an array")
            .iter()
            .map(|member| &member["id"])
            .collect();
        assert!(!ids.contains(&&json!(removed.0)), "{body}");
        assert!(!cluster.node(removed).status().member);
    }
    cluster.shutdown().await;
}

#[tokio::test]
async fn a_goose_cut_off_before_its_change_commits_answers_503() {
    let cluster = start_cluster(27).await;
    for round in 0..u64::try_from(ATTEMPTS).expect("small") {
        // A Goose whose re-issue is committed, so that it may change things.
        let (goose, code, _) = on_the_goose(&cluster, Method::POST, "/members", READD_1).await;
        assert_eq!(code, StatusCode::OK);
        // Cut off, it cannot commit, and its lease runs out.
        cluster.network().isolate(goose);
        let body =
            json!({ "id": 10 + round, "addr": format!("127.0.0.1:{}", 8000 + round) }).to_string();
        let (code, answer) =
            send_json(&cluster.router(goose), Method::POST, "/members", &body).await;
        cluster.network().reconnect(goose);
        if code == StatusCode::SERVICE_UNAVAILABLE {
            assert_eq!(keys(&answer), set(&["error", "reason"]));
            assert_eq!(answer["reason"], "leadership_lost", "{answer}");
            assert!(
                answer["error"]
                    .as_str()
                    .is_some_and(|error| error.contains("may still"))
            );
            cluster.shutdown().await;
            return;
        }
        // Its lease ran out before the request reached it.
        assert_eq!(code, StatusCode::CONFLICT, "{answer}");
        assert_eq!(answer["reason"], "not_goose");
        eprintln!("round {round}: the Goose was gone before the request");
    }
    panic!("never saw a change outlive its Goose");
}

/// A storage that never finishes saving a membership once told to hang: a
/// stuck disk.
#[derive(Clone)]
struct HangingStorage {
    inner: MemStorage,
    hang: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

#[async_trait::async_trait]
impl Storage for HangingStorage {
    async fn load(&mut self) -> Result<Option<HardState>, StorageError> {
        self.inner.load().await
    }

    async fn save(&mut self, state: &HardState) -> Result<(), StorageError> {
        self.inner.save(state).await
    }

    async fn load_membership(&mut self) -> Result<Option<Membership>, StorageError> {
        self.inner.load_membership().await
    }

    async fn save_membership(&mut self, membership: &Membership) -> Result<(), StorageError> {
        if self.hang.load(std::sync::atomic::Ordering::SeqCst) {
            std::future::pending::<()>().await;
        }
        self.inner.save_membership(membership).await
    }
}

#[tokio::test(start_paused = true)]
async fn a_change_that_does_not_commit_in_time_answers_504() {
    let network = MemoryTransport::network(28);
    let storage = HangingStorage {
        inner: MemStorage::new(),
        hang: Default::default(),
    };
    let node = lone_goose(&network, storage.clone()).await;
    let app = app(node.clone());
    // Past the re-issue: a change that commits at once in a cluster of one.
    let deadline = Instant::now() + ELECTION_WAIT;
    loop {
        let (code, answer) = send_json(&app, Method::POST, "/members", ADD_4).await;
        if code == StatusCode::OK {
            break;
        }
        assert!(
            try_again(code, &answer) && Instant::now() < deadline,
            "{answer}"
        );
        sleep(Duration::from_millis(10)).await;
    }
    storage
        .hang
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let asked = Instant::now();
    let (code, answer) = send_json(
        &app,
        Method::POST,
        "/members",
        r#"{"id": 5, "addr": "127.0.0.1:7005"}"#,
    )
    .await;
    assert_eq!(code, StatusCode::GATEWAY_TIMEOUT, "{answer}");
    assert_eq!(answer["reason"], "timeout");
    assert!(asked.elapsed() >= duckduckgoose::http::MEMBERSHIP_TIMEOUT);
    // The driver is stuck in the save: a graceful shutdown would wait for it.
    node.abort();
}
