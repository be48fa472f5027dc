//! The `duckduckgoose` client subcommands against a running cluster, and
//! what `run` says when a restart's flags disagree with its data directory.

use std::process::{Command, Output};
use std::time::Instant;

use crate::PATIENCE;
use crate::binary::node_binary;
use crate::cluster::Cluster;
use crate::http::get_cluster;
use crate::observer::Observer;
use crate::{FAST, POLL_GAP};

/// Runs `duckduckgoose` with `args` to its end.
fn client(args: &[&str]) -> Output {
    Command::new(node_binary())
        .args(args)
        .output()
        .expect("the binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `status` prints one row per member and names exactly one Goose, the one
/// the nodes agree on; `--json` is the node's `/cluster`; `members list`
/// lists the voters; `health` exits 0; `step-down` hands over.
#[test]
fn client_subcommands_show_and_change_the_cluster() {
    let mut cluster = Cluster::start(3, FAST);
    let mut observer = Observer::default();
    let (goose, term) = cluster.wait_for_agreement(&mut observer);
    let duck = (1..=3).find(|id| *id != goose).expect("a Duck");
    let duck_http = format!("127.0.0.1:{}", cluster.node(duck).http_port);
    let goose_http = format!("127.0.0.1:{}", cluster.node(goose).http_port);

    let output = client(&["status", "--node", &duck_http]);
    let stdout = text(&output.stdout);
    assert!(output.status.success(), "{stdout}{}", text(&output.stderr));
    eprintln!("{stdout}");
    let rows: Vec<&str> = stdout.lines().skip(2).collect();
    assert_eq!(rows.len(), 3, "one row per member:\n{stdout}");
    let geese: Vec<&str> = rows
        .iter()
        .copied()
        .filter(|row| row.contains("Goose"))
        .collect();
    assert_eq!(geese.len(), 1, "exactly one Goose row:\n{stdout}");
    assert!(geese[0].starts_with(&goose.to_string()), "{stdout}");
    assert!(
        stdout.starts_with(&format!("as seen by {duck_http} (node {duck})")),
        "{stdout}"
    );

    let output = client(&[
        "status",
        "--json",
        "--node",
        "127.0.0.1:9",
        "--node",
        &duck_http,
    ]);
    assert!(
        output.status.success(),
        "the second node answers: {}",
        text(&output.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
    assert_eq!(json["leader"], goose);
    assert_eq!(json["members"].as_array().map(Vec::len), Some(3));

    let output = client(&["members", "list", "--node", &goose_http]);
    let stdout = text(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert_eq!(stdout.matches("voter").count(), 3, "{stdout}");

    let output = client(&["health", "--node", &duck_http]);
    assert!(output.status.success(), "{}", text(&output.stderr));

    // Admin changes need the token: none, or a wrong one, is refused.
    let token = cluster.dir.path().join("admin-token").display().to_string();
    let wrong = cluster.dir.path().join("wrong-token");
    std::fs::write(&wrong, "not-the-token\n").expect("write a token");
    let wrong = wrong.display().to_string();
    for extra in [&[][..], &["--token-file", &wrong][..]] {
        let args: Vec<&str> = ["step-down", "--node", &goose_http]
            .iter()
            .chain(extra)
            .copied()
            .collect();
        let output = client(&args);
        assert_eq!(output.status.code(), Some(1), "{extra:?}");
        let stderr = text(&output.stderr);
        assert!(
            stderr.contains("401") && stderr.contains("--token-file"),
            "{stderr}"
        );
    }

    // A Duck refuses a step-down and names the Goose.
    let output = client(&["step-down", "--node", &duck_http, "--token-file", &token]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains(&format!("the Goose is node {goose}")),
        "{stderr}"
    );

    let output = client(&["step-down", "--node", &goose_http, "--token-file", &token]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let deadline = Instant::now() + PATIENCE;
    loop {
        let (new_goose, new_term) = cluster.wait_for_agreement(&mut observer);
        if new_term > term {
            assert_ne!(new_goose, goose, "the Goose handed over");
            break;
        }
        assert!(Instant::now() < deadline, "no new term after step-down");
        std::thread::sleep(POLL_GAP);
    }
}

/// Nobody listening, or a usage error: exit 1 and 2, one line each.
#[test]
fn client_failures_have_exit_codes() {
    let output = client(&["health", "--node", "127.0.0.1:9"]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    assert!(
        stderr.starts_with("fatal: cannot reach 127.0.0.1:9"),
        "{stderr}"
    );

    let output = client(&["status", "--node", "nohost"]);
    assert_eq!(output.status.code(), Some(2));
    let output = client(&["members", "add", "4:127.0.0.1:7004"]);
    assert_eq!(output.status.code(), Some(2));
    let output = client(&["members", "remove", "x"]);
    assert_eq!(output.status.code(), Some(2));
}

/// An admin token file that cannot be read is fatal (exit 1); one that
/// holds no usable token is a usage error (exit 2); both name the file.
#[test]
fn bad_admin_token_files_are_refused_at_start() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let data_dir = dir.path().join("data").display().to_string();
    let empty = dir.path().join("empty");
    std::fs::write(&empty, "\n").expect("write");
    let spaced = dir.path().join("spaced");
    std::fs::write(&spaced, "two words\n").expect("write");
    let missing = dir.path().join("missing");
    let cases = [
        (&missing, 1, "fatal:"),
        (&empty, 2, "error:"),
        (&spaced, 2, "error:"),
    ];
    for (file, code, prefix) in cases {
        let file = file.display().to_string();
        let output = crate::process::run_node_to_exit(&[
            "--id",
            "1",
            "--listen",
            "127.0.0.1:0",
            "--http",
            "127.0.0.1:0",
            "--data-dir",
            &data_dir,
            "--bootstrap",
            "--admin-token-file",
            &file,
        ]);
        assert_eq!(output.code, Some(code), "{file}: {}", output.stderr);
        let line = output.stderr.lines().last().unwrap_or_default();
        assert!(line.starts_with(prefix) && line.contains(&file), "{line}");
    }
}

/// A node restarted with flags that disagree with its saved membership
/// starts from the saved one, and its log lists every difference.
#[test]
fn restart_warns_about_flags_that_disagree_with_the_saved_membership() {
    let mut cluster = Cluster::start(3, FAST);
    let mut observer = Observer::default();
    let (goose, _) = cluster.wait_for_agreement(&mut observer);
    let victim = (1..=3).find(|id| *id != goose).expect("a Duck");
    let other = (1..=3)
        .find(|id| *id != goose && *id != victim)
        .expect("another Duck");

    // The Goose's first membership change (its term's) must be saved by
    // the victim, or the restart would find no saved membership to warn
    // about.
    let port = cluster.node(victim).http_port;
    let deadline = Instant::now() + PATIENCE;
    while get_cluster(port).map_or(true, |c| c["membership"]["version"].as_u64() < Some(1)) {
        assert!(
            Instant::now() < deadline,
            "node {victim} never saved a membership"
        );
        std::thread::sleep(POLL_GAP);
    }
    let node = cluster.node(victim);
    node.sigterm();
    node.wait_exit(PATIENCE);
    // Drop one --peer, add one for a node that is not a member, and move one.
    let mut args: Vec<String> = Vec::new();
    let mut old = node.args.iter();
    while let Some(arg) = old.next() {
        if arg == "--peer" {
            let peer = old.next().expect("--peer has a value");
            if peer.starts_with(&format!("{other}=")) {
                continue;
            }
            if peer.starts_with(&format!("{goose}=")) {
                args.extend(["--peer".to_owned(), format!("{goose}=127.0.0.1:9")]);
                continue;
            }
        }
        args.push(arg.clone());
    }
    args.extend(["--peer".to_owned(), "7=127.0.0.1:9".to_owned()]);
    node.args = args;
    std::fs::write(&node.log, "").expect("truncate the log");
    node.spawn();
    node.wait_until_serving(Instant::now() + PATIENCE)
        .expect("the node starts");
    let log = node.log_text();
    for expected in [
        format!("--peer {goose}=127.0.0.1:9: the saved membership has node {goose} at"),
        "--peer 7=127.0.0.1:9: node 7 is not in the saved membership".to_owned(),
        format!("node {other} (127.0.0.1:"),
    ] {
        assert!(log.contains(&expected), "missing {expected:?} in\n{log}");
    }
    // The saved membership wins: the node is back among three voters.
    cluster.wait_for_agreement(&mut observer);
}
