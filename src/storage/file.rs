//! Crash-safe file storage of the hard state (DESIGN §4, promise 5); the
//! protocol and the file format are documented on [`FileStorage`].

use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;

use super::{Storage, StorageError};
use crate::core::{HardState, NodeId, Term};

/// The name of the state file inside the storage directory.
const STATE_FILE_NAME: &str = "hardstate";
/// The name of the file each save writes before renaming it into place.
const TEMP_FILE_NAME: &str = "hardstate.tmp";
/// The name of the file whose lock claims the directory for one `FileStorage`.
const LOCK_FILE_NAME: &str = "lock";

const MAGIC: [u8; 4] = *b"DDGS";
/// Magic, version, payload length.
const HEADER_LEN: usize = 4 + 2 + 4;
const CHECKSUM_LEN: usize = 4;
/// Term, vote presence byte, voted-for id.
const PAYLOAD_V1_LEN: usize = 8 + 1 + 8;
/// A state file is a few dozen bytes; anything much bigger is not one, and
/// reading it whole could exhaust memory.
const MAX_FILE_LEN: usize = 4096;

const NO_VOTE: u8 = 0;
const VOTE: u8 = 1;

/// Keeps the hard state in `DIR/hardstate`, replaced atomically and fsync'd
/// on every save.
///
/// # Files
///
/// [`open`](FileStorage::open) takes a directory it owns. The state lives in
/// `DIR/hardstate` ([`path`](FileStorage::path)); every save first writes
/// `DIR/hardstate.tmp`; `DIR/lock` ([`lock_path`](FileStorage::lock_path))
/// claims the directory (see below). Nothing else in the directory is
/// touched.
///
/// # How a save stays atomic
///
/// 1. write the new state to `hardstate.tmp` (created or truncated),
/// 2. fsync `hardstate.tmp`, so its bytes are on disk before its name is,
/// 3. rename `hardstate.tmp` over `hardstate` (atomic on POSIX file systems),
/// 4. fsync the directory, so the rename itself survives a power cut.
///
/// A crash at any point leaves `hardstate` holding either the old state or
/// the new one, never a mix. A crash before step 3 may leave a torn
/// `hardstate.tmp` behind; [`load`](Storage::load) never reads it and the
/// next save overwrites it. `save` returns only after step 4.
///
/// Directory fsync exists on Unix only. Elsewhere (Windows) step 4 is
/// skipped and the rename's durability is up to the file system.
///
/// # Format (version 1)
///
/// All integers are little-endian. A version-1 file is 31 bytes:
///
/// | offset | size | field                                              |
/// |-------:|-----:|----------------------------------------------------|
/// |      0 |    4 | magic `b"DDGS"`                                    |
/// |      4 |    2 | format version, `u16` = 1                          |
/// |      6 |    4 | payload length in bytes, `u32` = 17                |
/// |     10 |    8 | payload: term, `u64`                               |
/// |     18 |    1 | payload: vote presence, `0` = no vote, `1` = vote  |
/// |     19 |    8 | payload: voted-for node id, `u64` (`0` if no vote) |
/// |     27 |    4 | CRC-32 (IEEE, `crc32fast`) of bytes `0..27`, `u32` |
///
/// The envelope (magic, version, length, payload, CRC-32 of everything
/// before it) is the same for every version; only the payload changes. That
/// lets a reader tell a damaged file (checksum mismatch) from a file written
/// by a newer build (intact, unknown version), and report each as such.
///
/// The encoding is canonical: each state has exactly one valid encoding
/// (the id bytes must be zero when there is no vote), so a load gives back
/// exactly what was saved, or fails.
///
/// # What fsync costs
///
/// Each save waits for two fsyncs, which means waiting for the device to
/// acknowledge a cache flush. That is slow next to anything else a node does
/// (on spinning disks, on the order of a rotation; on SSDs without
/// power-loss protection, a full write-cache flush), and it varies widely by
/// device and file system, so measure on your own hardware. The core emits a
/// persist only when the term or vote changes, a few times per election and
/// never per heartbeat, so the cost bounds how fast elections run, not how
/// many messages a node handles. Durability is only as good as the storage
/// stack's honesty: a disk or virtual machine that acknowledges a flush it
/// has not done defeats any fsync.
///
/// # One node per directory
///
/// Two nodes sharing a directory would each overwrite the other's vote, so
/// one of them could vote twice in a term. [`open`](FileStorage::open)
/// therefore takes an exclusive lock on `DIR/lock` without waiting, and fails
/// with [`StorageError::Io`] naming that file (its source of kind
/// [`WouldBlock`](io::ErrorKind::WouldBlock)) if another `FileStorage`, in
/// this process or another, holds it. The lock is held until the
/// `FileStorage` is dropped and any save or load it started has finished.
///
/// The lock is advisory ([`File::try_lock`]: `flock` on Unix, `LockFileEx`
/// on Windows): it stops other `FileStorage`s, not other programs. The
/// operating system releases it when the process exits, however it exits,
/// so the directory of a node killed with `kill -9` can be reopened at once;
/// there is no stale lock file to delete, and the file's presence means
/// nothing. Advisory locks on network file systems (NFS, SMB) may not be
/// enforced; keep node directories on local disks.
///
/// # Use
///
/// `save` and `load` run the file operations on tokio's blocking pool, so
/// they must be called from within a tokio runtime.
///
/// ```
/// use duckduckgoose::HardState;
/// use duckduckgoose::storage::{FileStorage, Storage, StorageError};
///
/// async fn restore(dir: &str) -> Result<HardState, StorageError> {
///     let mut storage = FileStorage::open(dir)?;
///     // `None` only for a node that never saved; damage is an error.
///     Ok(storage.load().await?.unwrap_or_default())
/// }
/// ```
#[derive(Debug)]
pub struct FileStorage {
    /// Shared with the blocking tasks, so the directory lock outlives any
    /// save still running after this `FileStorage` is dropped.
    paths: Arc<Directory>,
    /// Held by every file operation. Holds the sequence number of the newest
    /// save written, so that a save whose future was dropped while its
    /// blocking task was queued can never overwrite a newer state.
    written_seq: Arc<Mutex<u64>>,
    /// Sequence number of the latest save started.
    next_seq: u64,
}

/// The storage directory: where its files are, and the lock that makes it
/// this `FileStorage`'s alone.
#[derive(Debug)]
struct Directory {
    dir: PathBuf,
    state: PathBuf,
    temp: PathBuf,
    lock: PathBuf,
    /// Never read: holding the open file holds the lock, and dropping it
    /// (or the process dying) releases it.
    _lock_file: File,
}

impl FileStorage {
    /// The format version this build reads and writes.
    pub const FORMAT_VERSION: u16 = 1;

    /// Opens the storage kept in directory `dir`, creating the directory
    /// (and its missing parents, durably) if needed, and locks it.
    ///
    /// Opening reads nothing; call [`load`](Storage::load) for the state.
    /// If another `FileStorage` has the directory open, in this process or
    /// another, this fails at once with [`StorageError::Io`] naming
    /// `DIR/lock`; see [One node per directory](FileStorage#one-node-per-directory).
    /// A relative `dir` is made absolute against the current directory now,
    /// so error messages name the file unambiguously.
    pub fn open(dir: impl AsRef<Path>) -> Result<FileStorage, StorageError> {
        let dir = dir.as_ref();
        let dir = std::path::absolute(dir).map_err(|source| StorageError::Io {
            path: dir.to_path_buf(),
            operation: "resolve path",
            source,
        })?;
        create_dir_durably(&dir)?;
        let lock = dir.join(LOCK_FILE_NAME);
        // Locked before anything else in the directory is looked at, so an
        // open that is refused has read and changed nothing.
        let lock_file = lock_dir(&lock)?;
        let paths = Directory {
            state: dir.join(STATE_FILE_NAME),
            temp: dir.join(TEMP_FILE_NAME),
            lock,
            dir,
            _lock_file: lock_file,
        };
        if paths.temp.exists() {
            // A save was interrupted before its rename; the state file still
            // holds the state before it, and the next save overwrites this.
            tracing::debug!(path = %paths.temp.display(), "ignoring leftover temporary state file");
        }
        Ok(FileStorage {
            paths: Arc::new(paths),
            written_seq: Arc::new(Mutex::new(0)),
            next_seq: 0,
        })
    }

    /// The state file, `DIR/hardstate`.
    pub fn path(&self) -> &Path {
        &self.paths.state
    }

    /// The lock file, `DIR/lock`, whose lock this `FileStorage` holds.
    pub fn lock_path(&self) -> &Path {
        &self.paths.lock
    }
}

#[async_trait]
impl Storage for FileStorage {
    async fn load(&mut self) -> Result<Option<HardState>, StorageError> {
        let paths = Arc::clone(&self.paths);
        let written_seq = Arc::clone(&self.written_seq);
        run_blocking(&self.paths.state, move || {
            let _guard = lock(&written_seq);
            read_state(&paths)
        })
        .await
    }

    async fn load_membership(&mut self) -> Result<Option<crate::core::Membership>, StorageError> {
        // Placeholder until the v2 record lands (being written now).
        Ok(None)
    }

    async fn save_membership(
        &mut self,
        _membership: &crate::core::Membership,
    ) -> Result<(), StorageError> {
        Err(StorageError::Failed("membership storage not written yet".into()))
    }

    async fn save(&mut self, state: &HardState) -> Result<(), StorageError> {
        self.next_seq += 1;
        let seq = self.next_seq;
        let bytes = encode(state);
        let paths = Arc::clone(&self.paths);
        let written_seq = Arc::clone(&self.written_seq);
        run_blocking(&self.paths.state, move || {
            let mut written = lock(&written_seq);
            if *written >= seq {
                // Only reachable for a save whose caller dropped the future:
                // a newer state is already durable and must not be replaced.
                return Ok(());
            }
            write_state(&paths, &bytes)?;
            *written = seq;
            Ok(())
        })
        .await
    }
}

/// Runs `work` on the blocking pool. The work goes on even if the returned
/// future is dropped; `written_seq` keeps that harmless.
async fn run_blocking<T: Send + 'static>(
    path: &Path,
    work: impl FnOnce() -> Result<T, StorageError> + Send + 'static,
) -> Result<T, StorageError> {
    match tokio::task::spawn_blocking(work).await {
        Ok(result) => result,
        // A panic in `work` is a bug in this file; let it surface as one.
        Err(join_error) if join_error.is_panic() => {
            std::panic::resume_unwind(join_error.into_panic())
        }
        // The runtime is shutting down and dropped the task before it ran.
        Err(join_error) => Err(StorageError::Io {
            path: path.to_path_buf(),
            operation: "run on the blocking pool",
            source: io::Error::other(join_error),
        }),
    }
}

fn lock(written_seq: &Mutex<u64>) -> MutexGuard<'_, u64> {
    // Only this file's code runs under the lock and a panic there is
    // re-raised by `run_blocking`; the counter itself is always valid.
    written_seq
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn io_error(path: &Path, operation: &'static str) -> impl FnOnce(io::Error) -> StorageError {
    let path = path.to_path_buf();
    move |source| StorageError::Io {
        path,
        operation,
        source,
    }
}

// ----- file operations (blocking) -------------------------------------------

fn read_state(paths: &Directory) -> Result<Option<HardState>, StorageError> {
    let file = match File::open(&paths.state) {
        Ok(file) => file,
        Err(error) if error.kind() == io::ErrorKind::NotFound => {
            // No state file is a fresh node, but only if the directory is
            // still there: a vanished directory (deleted, unmounted) must
            // not pass for a node that never voted.
            return match fs::metadata(&paths.dir) {
                Ok(metadata) if metadata.is_dir() => Ok(None),
                Ok(_) => Err(StorageError::Io {
                    path: paths.dir.clone(),
                    operation: "read directory",
                    source: io::Error::other("not a directory"),
                }),
                Err(source) => Err(StorageError::Io {
                    path: paths.dir.clone(),
                    operation: "read directory",
                    source,
                }),
            };
        }
        Err(source) => {
            return Err(StorageError::Io {
                path: paths.state.clone(),
                operation: "open",
                source,
            });
        }
    };
    let mut bytes = Vec::new();
    // One byte past the limit tells "at the limit" from "too big".
    file.take(MAX_FILE_LEN as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(io_error(&paths.state, "read"))?;
    match decode(&bytes) {
        Ok(state) => Ok(Some(state)),
        Err(Problem::Corrupt(problem)) => Err(StorageError::Corrupt {
            path: paths.state.clone(),
            problem,
        }),
        Err(Problem::UnsupportedVersion(found)) => Err(StorageError::UnsupportedVersion {
            path: paths.state.clone(),
            found,
            supported: FileStorage::FORMAT_VERSION,
        }),
    }
}

fn write_state(paths: &Directory, bytes: &[u8]) -> Result<(), StorageError> {
    let mut temp = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&paths.temp)
        .map_err(io_error(&paths.temp, "create"))?;
    temp.write_all(bytes)
        .map_err(io_error(&paths.temp, "write"))?;
    temp.sync_all().map_err(io_error(&paths.temp, "fsync"))?;
    drop(temp);
    fs::rename(&paths.temp, &paths.state).map_err(io_error(&paths.state, "rename"))?;
    sync_dir(&paths.dir)
}

/// Opens (creating if needed) the lock file and takes its exclusive lock
/// without waiting.
fn lock_dir(path: &Path) -> Result<File, StorageError> {
    // Never truncated or written: its contents mean nothing, only the lock.
    let file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(io_error(path, "open lock file"))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(TryLockError::WouldBlock) => Err(StorageError::Io {
            path: path.to_path_buf(),
            operation: "lock",
            source: io::Error::new(
                io::ErrorKind::WouldBlock,
                "already held by another FileStorage, in this or another process; \
                 is another node using this directory?",
            ),
        }),
        Err(TryLockError::Error(source)) => Err(StorageError::Io {
            path: path.to_path_buf(),
            operation: "lock",
            source,
        }),
    }
}

/// Creates `dir` and any missing parents, then fsyncs the parent of each
/// directory it created, so the new directory survives a power cut too.
fn create_dir_durably(dir: &Path) -> Result<(), StorageError> {
    let mut created = Vec::new();
    let mut missing = Some(dir);
    while let Some(candidate) = missing {
        match fs::metadata(candidate) {
            Ok(_) => break,
            Err(error) if error.kind() == io::ErrorKind::NotFound => {
                created.push(candidate);
                missing = candidate.parent();
            }
            Err(source) => {
                return Err(StorageError::Io {
                    path: candidate.to_path_buf(),
                    operation: "inspect directory",
                    source,
                });
            }
        }
    }
    fs::create_dir_all(dir).map_err(io_error(dir, "create directory"))?;
    let metadata = fs::metadata(dir).map_err(io_error(dir, "inspect directory"))?;
    if !metadata.is_dir() {
        return Err(StorageError::Io {
            path: dir.to_path_buf(),
            operation: "open storage directory",
            source: io::Error::other("not a directory"),
        });
    }
    for new_dir in created {
        if let Some(parent) = new_dir.parent() {
            sync_dir(parent)?;
        }
    }
    Ok(())
}

/// Makes the directory's entries (a rename, a new file) durable.
#[cfg(unix)]
fn sync_dir(dir: &Path) -> Result<(), StorageError> {
    File::open(dir)
        .and_then(|handle| handle.sync_all())
        .map_err(io_error(dir, "fsync directory"))
}

/// Directories cannot be opened as files here; see the module docs.
#[cfg(not(unix))]
fn sync_dir(_dir: &Path) -> Result<(), StorageError> {
    Ok(())
}

// ----- encoding ---------------------------------------------------------------

/// Why bytes are not a state this build can use; the caller adds the path.
enum Problem {
    Corrupt(String),
    UnsupportedVersion(u16),
}

fn encode(state: &HardState) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(HEADER_LEN + PAYLOAD_V1_LEN + CHECKSUM_LEN);
    bytes.extend_from_slice(&MAGIC);
    bytes.extend_from_slice(&FileStorage::FORMAT_VERSION.to_le_bytes());
    bytes.extend_from_slice(&(PAYLOAD_V1_LEN as u32).to_le_bytes());
    bytes.extend_from_slice(&state.term.0.to_le_bytes());
    match state.voted_for {
        Some(NodeId(id)) => {
            bytes.push(VOTE);
            bytes.extend_from_slice(&id.to_le_bytes());
        }
        None => {
            bytes.push(NO_VOTE);
            bytes.extend_from_slice(&0u64.to_le_bytes());
        }
    }
    let checksum = crc32fast::hash(&bytes);
    bytes.extend_from_slice(&checksum.to_le_bytes());
    bytes
}

/// Checks run from the outside in (is it ours, is it whole, is it intact,
/// can this build read it), so the error names the first thing wrong.
fn decode(bytes: &[u8]) -> Result<HardState, Problem> {
    let corrupt = |problem: String| Err(Problem::Corrupt(problem));

    let magic_len = bytes.len().min(MAGIC.len());
    if bytes[..magic_len] != MAGIC[..magic_len] {
        return corrupt(format!(
            "bad magic bytes {:02x?}, expected {:02x?} (not a duckduckgoose state file)",
            &bytes[..magic_len],
            MAGIC
        ));
    }
    if bytes.len() > MAX_FILE_LEN {
        return corrupt(format!(
            "larger than {MAX_FILE_LEN} bytes (not a duckduckgoose state file)"
        ));
    }
    let min_len = HEADER_LEN + CHECKSUM_LEN;
    if bytes.len() < min_len {
        return corrupt(format!(
            "truncated: {} bytes, shorter than the {min_len}-byte header and checksum",
            bytes.len()
        ));
    }

    let mut header = Reader(&bytes[MAGIC.len()..HEADER_LEN]);
    let version = u16::from_le_bytes(header.take()?);
    let payload_len = u32::from_le_bytes(header.take()?);
    // In u64: a damaged length near u32::MAX must not overflow a 32-bit usize.
    let expected_len = u64::from(payload_len) + (HEADER_LEN + CHECKSUM_LEN) as u64;
    let actual_len = bytes.len() as u64;
    if actual_len < expected_len {
        return corrupt(format!("truncated: {actual_len} of {expected_len} bytes"));
    }
    if actual_len > expected_len {
        return corrupt(format!(
            "{} trailing bytes after the checksum",
            actual_len - expected_len
        ));
    }

    let (covered, stored) = bytes.split_at(bytes.len() - CHECKSUM_LEN);
    let stored = u32::from_le_bytes(Reader(stored).take()?);
    let computed = crc32fast::hash(covered);
    if stored != computed {
        return corrupt(format!(
            "checksum mismatch: stored {stored:#010x}, computed {computed:#010x}"
        ));
    }

    if version != FileStorage::FORMAT_VERSION {
        return Err(Problem::UnsupportedVersion(version));
    }
    let payload = &covered[HEADER_LEN..];
    if payload.len() != PAYLOAD_V1_LEN {
        return corrupt(format!(
            "payload is {} bytes, format version {} has {PAYLOAD_V1_LEN}",
            payload.len(),
            FileStorage::FORMAT_VERSION
        ));
    }
    let mut payload = Reader(payload);
    let term = Term(u64::from_le_bytes(payload.take()?));
    let [presence] = payload.take()?;
    let id = u64::from_le_bytes(payload.take()?);
    let voted_for = match presence {
        VOTE => Some(NodeId(id)),
        NO_VOTE if id == 0 => None,
        NO_VOTE => {
            return corrupt(format!(
                "vote presence byte says no vote but the node id is {id}"
            ));
        }
        other => return corrupt(format!("bad vote presence byte {other:#04x}")),
    };
    Ok(HardState { term, voted_for })
}

/// Reads fixed-size fields front to back without indexing past the end.
struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> Result<[u8; N], Problem> {
        // The callers check lengths first, so running out here would be a
        // bug in `decode`; it still becomes an error, never a panic.
        let (field, rest) = self
            .0
            .split_first_chunk::<N>()
            .ok_or_else(|| Problem::Corrupt("truncated inside a field".into()))?;
        self.0 = rest;
        Ok(*field)
    }
}
