//! The directory lock: one `FileStorage` per directory, across threads and
//! processes, released when its holder is dropped or killed.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

use super::*;

/// Asserts `result` is the error for a directory another `FileStorage` has
/// locked, naming `dir`'s lock file.
fn assert_locked(result: Result<FileStorage, StorageError>, dir: &Path) {
    let lock = dir.join("lock");
    match result {
        Err(error @ StorageError::Io { .. }) => {
            assert_names_path(&error, &lock);
            assert!(
                error.to_string().contains("another node"),
                "error {error} does not say why"
            );
            let StorageError::Io { path, source, .. } = error else {
                unreachable!("matched above")
            };
            assert_eq!(path, lock);
            assert_eq!(source.kind(), std::io::ErrorKind::WouldBlock);
        }
        Err(other) => panic!("expected an Io error on the lock, got {other:?}"),
        Ok(_) => panic!("a second FileStorage opened a locked directory"),
    }
}

#[tokio::test]
async fn second_open_fails_while_the_first_lives_and_succeeds_after_drop() {
    let dir = tempfile::tempdir().unwrap();
    let mut first = FileStorage::open(dir.path()).unwrap();
    assert_eq!(first.lock_path(), dir.path().join("lock"));
    first.save(&hs(3, Some(1))).await.unwrap();

    assert_locked(FileStorage::open(dir.path()), dir.path());
    // Another spelling of the same directory is still the same lock file.
    assert_locked(FileStorage::open(dir.path().join(".")), dir.path());
    // The refused open changed nothing, and the holder carries on.
    assert_eq!(
        newest_slot(dir.path()).1,
        encode_v5(1, 3 + CEILING_STEP, &hs(3, Some(1)), None, None)
    );
    first.save(&hs(4, Some(2))).await.unwrap();
    assert_eq!(first.load().await.unwrap(), Some(hs(4, Some(2))));

    drop(first);
    let mut second = FileStorage::open(dir.path()).unwrap();
    assert_eq!(second.load().await.unwrap(), Some(hs(4, Some(2))));
    // And the lock passes on again.
    assert_locked(FileStorage::open(dir.path()), dir.path());
    drop(second);
    assert_eq!(load_dir(dir.path()).await.unwrap(), Some(hs(4, Some(2))));
}

#[tokio::test]
async fn lock_file_left_behind_is_not_a_lock() {
    // The file stays after its holder is gone; only a live holder counts.
    let dir = tempfile::tempdir().unwrap();
    drop(FileStorage::open(dir.path()).unwrap());
    assert!(dir.path().join("lock").exists());
    std::fs::write(dir.path().join("lock"), b"left by an older build").unwrap();
    let mut storage = FileStorage::open(dir.path()).unwrap();
    assert_eq!(storage.load().await.unwrap(), None);
}

#[tokio::test]
async fn unopenable_lock_file_is_an_io_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let lock = dir.path().join("lock");
    std::fs::create_dir(&lock).unwrap();
    let error = FileStorage::open(dir.path()).unwrap_err();
    assert!(matches!(error, StorageError::Io { .. }), "{error:?}");
    assert_names_path(&error, &lock);
}

/// The full name of `lock_holder_child`, which the child process runs.
const LOCK_HOLDER_TEST: &str = "lock::lock_holder_child";
/// Set in the child process that `lock_holder_child` runs in.
const LOCK_HOLDER_DIR_VAR: &str = "DUCKDUCKGOOSE_TEST_LOCK_HOLDER_DIR";
/// What the child prints once it holds the lock. libtest prints
/// `test lock::lock_holder_child ... ` before it on the same line, so the parent
/// looks for it anywhere in a line.
const LOCK_HOLDER_READY: &str = "lock-holder-ready";

/// The child half of `lock_is_held_across_processes_and_freed_by_kill`:
/// holds the lock until killed. Does nothing when run by hand.
#[test]
#[ignore = "run as a child process by lock_is_held_across_processes_and_freed_by_kill"]
fn lock_holder_child() {
    let Some(dir) = std::env::var_os(LOCK_HOLDER_DIR_VAR) else {
        return;
    };
    let _storage = FileStorage::open(&dir).unwrap();
    // Flushed at once: the parent waits for this line.
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{LOCK_HOLDER_READY}").unwrap();
    stdout.flush().unwrap();
    drop(stdout);
    // Blocks until the parent kills this process (or closes stdin).
    let _ = std::io::stdin().read_line(&mut String::new());
}

#[test]
fn lock_is_held_across_processes_and_freed_by_kill() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", LOCK_HOLDER_TEST, "--ignored", "--nocapture"])
        .args(["--test-threads", "1"])
        .env(LOCK_HOLDER_DIR_VAR, dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    // Ends at the marker, or at end of file if the child exits without it
    // (then stdin closes too, so neither side can wait forever).
    let mut locked = false;
    for line in stdout.lines() {
        if line.unwrap().contains(LOCK_HOLDER_READY) {
            locked = true;
            break;
        }
    }
    assert!(locked, "the child exited before taking the lock");

    assert_locked(FileStorage::open(dir.path()), dir.path());

    // SIGKILL on Unix: no destructor runs, the kernel drops the lock.
    child.kill().unwrap();
    child.wait().unwrap();
    FileStorage::open(dir.path()).unwrap();
}
