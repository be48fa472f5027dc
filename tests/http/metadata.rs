//! Node metadata over HTTP: `POST /members` with `meta`, shown by
//! `/members` and `/cluster` on every voter; conflicting and invalid
//! metadata refused. (`/status`'s `goose` object is checked with the rest
//! of `/status`.)

use std::time::Duration;

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::time::{Instant, sleep};

use crate::common::{ELECTION_WAIT, get_json, ids, send_json, start_cluster};
use crate::members::{ADD_4, READD_1, on_the_goose};

#[tokio::test]
async fn a_member_added_with_metadata_shows_it_and_other_metadata_conflicts() {
    let cluster = start_cluster(25).await;
    let add = r#"{"id": 4, "addr": "127.0.0.1:7004", "meta": {"http": "http://127.0.0.1:8004", "zone": "b"}}"#;
    let (goose, code, body) = on_the_goose(&cluster, Method::POST, "/members", add).await;
    assert_eq!(code, StatusCode::OK, "{body}");
    let meta = |body: &Value| -> Vec<Value> {
        body["members"]
            .as_array()
            .expect("an array of members")
            .iter()
            .map(|member| member["meta"].clone())
            .collect()
    };
    let expected = vec![
        json!({ "http": "http://127.0.0.1:8001" }),
        json!({ "http": "http://127.0.0.1:8002" }),
        json!({}),
        json!({ "http": "http://127.0.0.1:8004", "zone": "b" }),
    ];
    assert_eq!(meta(&body), expected);

    // Every voter holds it once the change is committed: `/cluster` shows it.
    for id in ids() {
        let deadline = Instant::now() + ELECTION_WAIT;
        loop {
            let (code, cluster_body) = get_json(&cluster.router(id), "/cluster").await;
            assert_eq!(code, StatusCode::OK);
            if meta(&cluster_body) == expected {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "node {id} never held the metadata: {cluster_body}"
            );
            sleep(Duration::from_millis(10)).await;
        }
    }

    // The same record again: `200`, nothing changed. Other metadata, or
    // none: `409`, nothing changed.
    let (_, code, again) = on_the_goose(&cluster, Method::POST, "/members", add).await;
    assert_eq!(code, StatusCode::OK, "{again}");
    assert_eq!(again["members"], body["members"]);
    for other in [
        r#"{"id": 4, "addr": "127.0.0.1:7004", "meta": {"http": "http://127.0.0.1:9999"}}"#,
        ADD_4,
    ] {
        let (_, code, refused) = on_the_goose(&cluster, Method::POST, "/members", other).await;
        assert_eq!(code, StatusCode::CONFLICT, "{refused}");
        assert_eq!(
            refused,
            json!({
                "error": "node 4 is already a member with other metadata; remove it and add it \
                          again to change it",
                "reason": "metadata_conflict",
            })
        );
    }
    let (_, held) = get_json(&cluster.router(goose), "/members").await;
    assert_eq!(held["members"], body["members"]);
    cluster.shutdown().await;
}

#[tokio::test]
async fn invalid_metadata_answers_400_naming_the_bound_and_changes_nothing() {
    let cluster = start_cluster(26).await;
    // Wait until the new Goose can make changes (its re-issue committed).
    let (goose, code, _) = on_the_goose(&cluster, Method::POST, "/members", READD_1).await;
    assert_eq!(code, StatusCode::OK);
    let before = cluster.node(goose).membership();

    // Metadata that breaks a bound: `400` with the bound named.
    let long_value = "v".repeat(257);
    for (meta, message) in [
        (
            json!({ "Http": "x" }),
            r#"metadata key "Http" must start with a lower-case letter or a digit"#.to_owned(),
        ),
        (
            json!({ "http": "a\nb" }),
            r#"metadata value of "http" holds the control character '\n'"#.to_owned(),
        ),
        (
            json!({ "http": long_value }),
            r#"metadata value of "http" is 257 bytes, more than the maximum of 256"#.to_owned(),
        ),
        (json!({ "": "x" }), "metadata key is empty".to_owned()),
    ] {
        let body = json!({ "id": 4, "addr": "127.0.0.1:7004", "meta": meta }).to_string();
        let (code, answer) =
            send_json(&cluster.router(goose), Method::POST, "/members", &body).await;
        assert_eq!(code, StatusCode::BAD_REQUEST, "{meta}: {answer}");
        assert_eq!(
            answer,
            json!({ "error": message, "reason": "invalid_metadata" })
        );
    }
    // Too many entries.
    let many: serde_json::Map<String, Value> =
        (0..17).map(|i| (format!("k{i}"), json!("v"))).collect();
    let body = json!({ "id": 4, "addr": "127.0.0.1:7004", "meta": many }).to_string();
    let (code, answer) = send_json(&cluster.router(goose), Method::POST, "/members", &body).await;
    assert_eq!(code, StatusCode::BAD_REQUEST, "{answer}");
    assert_eq!(answer["reason"], "invalid_metadata");
    assert_eq!(
        answer["error"],
        "metadata has 17 entries, more than the maximum of 16"
    );
    // A new Goose may have re-issued it meanwhile; its members are the same.
    let after = cluster.node(goose).membership();
    assert_eq!(
        after.members().collect::<Vec<_>>(),
        before.members().collect::<Vec<_>>()
    );
    assert_eq!(after.all_metadata(), before.all_metadata());
    cluster.shutdown().await;
}
