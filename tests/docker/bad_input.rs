//! Bad input in a container: a copied data directory, no cluster to start,
//! a missing or unreadable admin token file. Each ends the container with
//! the documented exit status and a message saying why, and leaves the data
//! directory as it was.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::time::Duration;

use crate::docker::{container_ip, docker_ok, logs, wait_exit};
use crate::http::get_status;
use crate::project::Sandbox;
use crate::{PATIENCE, serial};

/// `-v DIR:/data` as the test's own user, so that the test can read, copy
/// and remove what the node writes there.
fn data_volume(dir: &Path) -> [String; 4] {
    let meta = fs::metadata(dir).expect("the data directory exists");
    [
        "-v".to_owned(),
        format!("{}:/data", dir.display()),
        "--user".to_owned(),
        format!("{}:{}", meta.uid(), meta.gid()),
    ]
}

/// Every file under `dir` with its bytes, by relative path.
fn snapshot(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = fs::read_dir(dir)
        .expect("read the data directory")
        .map(|entry| {
            let entry = entry.expect("a directory entry");
            assert!(
                entry.file_type().expect("a file type").is_file(),
                "{entry:?}"
            );
            let name = entry.file_name().to_string_lossy().into_owned();
            (name, fs::read(entry.path()).expect("read a state file"))
        })
        .collect();
    files.sort();
    files
}

/// Node 1 runs on a directory; a node 3 started on a copy of it, and a node
/// of another cluster started on it, refuse with exit status 1 and a message
/// naming both identities, and leave the directory byte for byte as it was.
#[test]
fn a_copied_data_directory_is_refused_with_exit_1() {
    let _serial = serial();
    let sandbox = Sandbox::new("copy");
    let dirs = tempfile::tempdir().expect("a temporary directory");
    let (one, three) = (dirs.path().join("one"), dirs.path().join("three"));
    fs::create_dir(&one).expect("mkdir");
    fs::create_dir(&three).expect("mkdir");

    let volume = data_volume(&one);
    let options: Vec<&str> = volume.iter().map(String::as_str).collect();
    let first = sandbox.start(
        "one",
        &options,
        &["run", "--id", "1", "--bootstrap", "--advertise", "one:7000"],
    );
    let deadline = std::time::Instant::now() + PATIENCE;
    loop {
        let status = container_ip(&first).and_then(|ip| get_status(ip).ok());
        if status.is_some_and(|status| status.is_goose()) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "node 1 did not lead alone\n{}",
            logs(&first)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    docker_ok(&["stop", &first]);

    let saved = snapshot(&one);
    assert!(!saved.is_empty(), "node 1 saved its state");
    for (name, bytes) in &saved {
        fs::write(three.join(name), bytes).expect("copy a state file");
    }
    let volume = data_volume(&three);
    let options: Vec<&str> = volume.iter().map(String::as_str).collect();
    let copy = sandbox.start(
        "three",
        &options,
        &[
            "run",
            "--id",
            "3",
            "--bootstrap",
            "--advertise",
            "three:7000",
        ],
    );
    let state = wait_exit(&copy, PATIENCE);
    let log = logs(&copy);
    eprintln!(
        "node 3 on node 1's copied directory: exit {}: {log}",
        state.exit_code
    );
    assert_eq!(state.exit_code, 1, "{log}");
    assert!(
        log.contains("node 1") && log.contains("node 3"),
        "names both nodes: {log}"
    );
    assert_eq!(snapshot(&three), saved, "the copy is left as it was");

    // Node 1's own directory, given to a node of another cluster.
    let volume = data_volume(&one);
    let options: Vec<&str> = volume.iter().map(String::as_str).collect();
    let foreign = sandbox.start(
        "foreign",
        &options,
        &[
            "run",
            "--id",
            "1",
            "--bootstrap",
            "--advertise",
            "foreign:7000",
            "--cluster-id",
            "another",
        ],
    );
    let state = wait_exit(&foreign, PATIENCE);
    let log = logs(&foreign);
    eprintln!(
        "node 1 of cluster \"another\" on its directory: exit {}: {log}",
        state.exit_code
    );
    assert_eq!(state.exit_code, 1, "{log}");
    assert!(
        log.contains("another") && log.contains("duckduckgoose"),
        "names both clusters: {log}"
    );
    assert_eq!(snapshot(&one), saved, "the directory is left as it was");
}

/// No `--peer`, no `--join`, no saved membership: exit status 2 and a
/// message naming `--bootstrap`, instead of a one-node cluster made by
/// accident.
#[test]
fn a_node_with_no_cluster_to_start_exits_2_naming_bootstrap() {
    let _serial = serial();
    let sandbox = Sandbox::new("boot");
    let lonely = sandbox.start(
        "lonely",
        &[],
        &["run", "--id", "1", "--advertise", "lonely:7000"],
    );
    let state = wait_exit(&lonely, PATIENCE);
    let log = logs(&lonely);
    eprintln!("no peers, no --bootstrap: exit {}: {log}", state.exit_code);
    assert_eq!(state.exit_code, 2, "{log}");
    assert!(log.contains("--bootstrap"), "{log}");
}

/// `--admin-token-file` naming a file that is not there, or one the
/// container's user (uid 65534) cannot read: exit status 1, naming the
/// file, before the node serves anything.
#[test]
fn a_missing_or_unreadable_admin_token_file_exits_1() {
    let _serial = serial();
    let sandbox = Sandbox::new("token");
    let base = [
        "run",
        "--id",
        "1",
        "--bootstrap",
        "--advertise",
        "node:7000",
    ];
    let missing = sandbox.start(
        "missing",
        &[],
        &[
            &base[..],
            &["--admin-token-file", "/run/secrets/admin-token"],
        ]
        .concat(),
    );
    let state = wait_exit(&missing, PATIENCE);
    let log = logs(&missing);
    eprintln!(
        "a missing admin token file: exit {}: {log}",
        state.exit_code
    );
    assert_eq!(state.exit_code, 1, "{log}");
    assert!(log.contains("/run/secrets/admin-token"), "{log}");

    let dir = tempfile::tempdir().expect("a temporary directory");
    let token = dir.path().join("admin-token");
    fs::write(&token, "secret\n").expect("write the token");
    fs::set_permissions(&token, fs::Permissions::from_mode(0o600)).expect("chmod");
    let mount = format!("{}:/run/secrets/admin-token:ro", token.display());
    let unreadable = sandbox.start(
        "unreadable",
        &["-v", &mount],
        &[
            &base[..],
            &["--admin-token-file", "/run/secrets/admin-token"],
        ]
        .concat(),
    );
    let state = wait_exit(&unreadable, PATIENCE);
    let log = logs(&unreadable);
    eprintln!(
        "an unreadable admin token file: exit {}: {log}",
        state.exit_code
    );
    assert_eq!(state.exit_code, 1, "{log}");
    assert!(log.contains("/run/secrets/admin-token"), "{log}");
}
