//! Fatal storage problems, garbage on the ports, bad arguments and a taken
//! port.

use std::fs::{self, File};
use std::io::Write;
use std::net::TcpListener;

use crate::cluster::Cluster;
use crate::http::{http_request, send_garbage};
use crate::observer::Observer;
use crate::process::run_node_to_exit;
use crate::{FAST, PATIENCE};

/// A damaged state file stops the node at start with status 1 and a reason
/// naming the file and the damage; it is never reset silently.
#[test]
fn corrupt_state_file_is_fatal() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let data_dir = dir.path().join("node-1");
    fs::create_dir(&data_dir).expect("create the data directory");
    // Format version 1 (see `FileStorage`): term 5, no vote, a wrong CRC.
    let mut bytes = Vec::new();
    bytes.extend_from_slice(b"DDGS");
    bytes.extend_from_slice(&1u16.to_le_bytes());
    bytes.extend_from_slice(&17u32.to_le_bytes());
    bytes.extend_from_slice(&5u64.to_le_bytes());
    bytes.push(0);
    bytes.extend_from_slice(&0u64.to_le_bytes());
    bytes.extend_from_slice(&0xdead_beef_u32.to_le_bytes());
    let state_file = data_dir.join("hardstate");
    File::create(&state_file)
        .and_then(|mut file| file.write_all(&bytes))
        .expect("write the state file");

    let output = run_node_to_exit(&[
        "--id",
        "1",
        "--listen",
        "127.0.0.1:0",
        "--http",
        "127.0.0.1:0",
        "--data-dir",
        &data_dir.display().to_string(),
    ]);
    assert_eq!(output.code, Some(1), "stderr: {}", output.stderr);
    let reason = output.stderr.lines().last().unwrap_or_default();
    eprintln!("corrupt state file: {reason}");
    assert!(
        reason.starts_with("fatal:")
            && reason.contains("corrupt")
            && reason.contains("checksum mismatch")
            && reason.contains(&state_file.display().to_string()),
        "the last line should say the state file is corrupt: {reason:?}"
    );
    assert_eq!(
        fs::read(&state_file).expect("the state file is still there"),
        bytes,
        "the damaged file is left for a human to inspect"
    );
}

/// A node whose storage fails while it runs stops with status 1 and says
/// why, instead of sending messages that depend on an unsaved term or vote.
#[test]
fn storage_failure_while_running_is_fatal() {
    let mut cluster = Cluster::start(3, FAST);
    let mut observer = Observer::default();
    let (goose, _) = cluster.wait_for_agreement(&mut observer);
    let victim = (1..=3)
        .find(|id| *id != goose)
        .expect("two of three nodes are Ducks");
    // Every save opens a slot file in the data directory by name; without
    // the directory, the next save fails.
    fs::remove_dir_all(&cluster.node(victim).data_dir).expect("remove the data directory");
    cluster.node(victim).stopping = true;
    // The next election needs the victim's vote or candidacy, both of
    // which it must save first.
    cluster.node(goose).kill9();
    let exit = cluster.node(victim).wait_exit(PATIENCE);
    assert_eq!(exit.code(), Some(1), "{}", cluster.node(victim).log_tail());
    let log = cluster.node(victim).log_text();
    let reason = log.lines().last().unwrap_or_default();
    eprintln!("node {victim} stopped: {reason}");
    assert!(
        reason.starts_with("fatal: storage failed:") && reason.contains("/state."),
        "the last line should say the storage failed: {reason:?}"
    );
}

/// Random bytes, a huge length prefix and a truncated handshake on the
/// cluster port, and junk on the HTTP port: every node keeps serving and the
/// cluster keeps one Goose.
#[test]
fn garbage_on_the_ports_is_harmless() {
    let mut cluster = Cluster::start(3, FAST);
    let mut observer = Observer::default();
    cluster.wait_for_agreement(&mut observer);

    let mut noise: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    noise[..4].copy_from_slice(&u32::MAX.to_be_bytes());
    let cluster_garbage: [&[u8]; 4] = [
        &noise,
        &u32::MAX.to_le_bytes(),
        &[0, 0, 0, 40, 1, 2, 3],
        b"GET /status HTTP/1.1\r\n\r\n",
    ];
    let http_garbage: [&[u8]; 4] = [
        &noise,
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
        b"GET /status HTTP/9.9\r\nHost: \xff\xfe\r\n\r\n",
        b"POST /step-down HTTP/1.1\r\nContent-Length: 99999999\r\n\r\nxx",
    ];
    let ports: Vec<(u16, u16)> = cluster
        .nodes
        .iter()
        .map(|node| (node.cluster_port, node.http_port))
        .collect();
    for (cluster_port, http_port) in ports {
        for bytes in cluster_garbage {
            send_garbage(cluster_port, bytes);
        }
        for bytes in http_garbage {
            send_garbage(http_port, bytes);
        }
    }
    for node in &mut cluster.nodes {
        node.assert_alive();
    }
    cluster.wait_for_agreement(&mut observer);
    let (code, body) = http_request(cluster.nodes[0].http_port, "GET", "/health")
        .expect("the node still answers HTTP");
    assert_eq!(code, 200, "{body}");
}

/// Bad arguments exit 2 with a one-line reason; a taken port exits 1.
#[test]
fn bad_arguments_exit_2_and_a_taken_port_exits_1() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let data_dir = dir.path().display().to_string();
    let base = [
        "--id",
        "1",
        "--listen",
        "127.0.0.1:0",
        "--http",
        "127.0.0.1:0",
        "--data-dir",
        &data_dir,
    ];
    let usage_errors: [(&[&str], &str); 15] = [
        // No --peer, --join or --bootstrap, and nothing saved: no cluster
        // is started by accident.
        (&[], "--bootstrap"),
        (&["--peer", "1=127.0.0.1:9"], "only this node"),
        (
            &[
                "--peer",
                "1=127.0.0.1:9",
                "--peer",
                "2=127.0.0.1:9",
                "--advertise",
                "127.0.0.1:8",
            ],
            "disagree",
        ),
        (&["--bootstrap", "--peer", "2=127.0.0.1:9"], "do not mix"),
        (&["--bootstrap", "--join", "127.0.0.1:9"], "do not mix"),
        (
            &["--join", "127.0.0.1:9", "--peer", "2=127.0.0.1:9"],
            "do not mix",
        ),
        (&["--bootstrap", "--advertise", "0.0.0.0:7001"], "wildcard"),
        (&["--join", "127.0.0.1"], "HOST:PORT"),
        (
            &["--peer", "2=127.0.0.1:9", "--peer", "2=127.0.0.1:10"],
            "more than once",
        ),
        (&["--peer", "2:127.0.0.1:9"], "ID=HOST:PORT"),
        (&["--election-timeout-ms", "300"], "MIN..MAX"),
        (&["--heartbeat-ms", "15"], "whole number"),
        (&["--meta", "http"], "expected KEY=VALUE"),
        (&["--meta", "Http=x"], "must start with a lower-case letter"),
        (&["--meta", "http=a", "--meta", "http=b"], "more than once"),
    ];
    for (extra, expected) in usage_errors {
        let args: Vec<&str> = base.iter().chain(extra).copied().collect();
        let output = run_node_to_exit(&args);
        assert_eq!(output.code, Some(2), "{extra:?}: {}", output.stderr);
        let first = output.stderr.lines().next().unwrap_or_default();
        assert!(
            first.starts_with("error:") && first.contains(expected),
            "{extra:?}: expected a line mentioning {expected:?}, got {:?}",
            output.stderr
        );
    }

    let taken = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    let port = taken.local_addr().expect("a bound address").port();
    let listen = format!("127.0.0.1:{port}");
    let mut args = base.to_vec();
    args[3] = &listen;
    args.push("--bootstrap");
    let output = run_node_to_exit(&args);
    assert_eq!(output.code, Some(1), "{}", output.stderr);
    let reason = output.stderr.lines().last().unwrap_or_default();
    assert!(
        reason.starts_with("fatal:") && reason.contains(&listen) && reason.contains("in use"),
        "{reason:?}"
    );
}

/// A copy of node 1's data directory given to node 3, or node 1's directory
/// started under another cluster id, is refused with status 1 and a reason
/// naming both identities; the directory is left byte for byte as it was.
#[test]
fn another_nodes_data_directory_is_refused() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let original = dir.path().join("node-1");
    let copy = dir.path().join("copy");
    let node = |id: &str, data_dir: &std::path::Path, extra: &[&str]| {
        let data_dir = data_dir.display().to_string();
        let mut args = vec![
            "--id",
            id,
            "--listen",
            "127.0.0.1:0",
            "--http",
            "127.0.0.1:0",
            "--data-dir",
        ];
        args.push(&data_dir);
        args.extend(extra);
        run_node_to_exit(&args)
    };
    // Node 1 bootstraps on its directory, which records it, and stops.
    let mut first = crate::process::NodeProcess::new(1, (0, 0), dir.path(), Vec::new());
    first.args = [
        "--id",
        "1",
        "--listen",
        "127.0.0.1:0",
        "--http",
        "127.0.0.1:0",
        "--bootstrap",
        "--data-dir",
    ]
    .iter()
    .map(|arg| (*arg).to_owned())
    .chain([original.display().to_string()])
    .collect();
    first.spawn();
    let deadline = std::time::Instant::now() + PATIENCE;
    while !original.join("hardstate").exists() {
        assert!(std::time::Instant::now() < deadline, "{}", first.log_tail());
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    first.sigterm();
    first.wait_exit(PATIENCE);

    fs::create_dir(&copy).expect("create the copy");
    for name in ["hardstate", "state.0", "state.1"] {
        fs::copy(original.join(name), copy.join(name)).expect("copy the state files");
    }
    let before = fs::read(copy.join("state.0")).expect("read the copy");

    let output = node("3", &copy, &[]);
    assert_eq!(output.code, Some(1), "{}", output.stderr);
    let reason = output.stderr.lines().last().unwrap_or_default();
    eprintln!("copied directory: {reason}");
    assert!(
        reason.starts_with("fatal:")
            && reason.contains(r#"belongs to node 1 of cluster "duckduckgoose", not node 3 of cluster "duckduckgoose""#),
        "{reason:?}"
    );
    let output = node("1", &original, &["--cluster-id", "other"]);
    assert_eq!(output.code, Some(1), "{}", output.stderr);
    let reason = output.stderr.lines().last().unwrap_or_default();
    assert!(
        reason.contains(
            r#"belongs to node 1 of cluster "duckduckgoose", not node 1 of cluster "other""#
        ),
        "{reason:?}"
    );
    assert_eq!(
        fs::read(copy.join("state.0")).expect("read the copy"),
        before
    );
}
