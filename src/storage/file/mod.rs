//! Crash-safe file storage of the hard state and the membership: a save
//! returns once it is durable, and a crash leaves the old state or the new
//! one, never a mix. The protocol and the file format are documented on
//! [`FileStorage`]; this module does the filesystem part (atomic replace,
//! fsync, the directory lock), `format` the bytes.

use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;

use self::format::{DecodeError, MAX_FILE_LEN, Record};
use super::{Storage, StorageError};
use crate::core::{HardState, Membership};

mod format;

/// The name of the state file inside the storage directory.
const STATE_FILE_NAME: &str = "hardstate";
/// The name of the file each save writes before renaming it into place.
const TEMP_FILE_NAME: &str = "hardstate.tmp";
/// The name of the file whose lock claims the directory for one `FileStorage`.
const LOCK_FILE_NAME: &str = "lock";

/// Keeps the hard state and the membership in `DIR/hardstate`, replaced
/// atomically and fsync'd on every save.
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
/// next save overwrites it. A save returns only after step 4.
///
/// Directory fsync exists on Unix only. Elsewhere (Windows) step 4 is
/// skipped and the rename's durability is up to the file system.
///
/// # Hard state and membership, one file
///
/// The file holds both the [`HardState`] and the [`Membership`], so that
/// one rename replaces them together and no crash can pair a term with a
/// membership it was never saved with. Every save writes both halves:
/// [`save`](Storage::save) writes the new hard state next to the membership
/// the file already holds, and [`save_membership`](Storage::save_membership)
/// the other way round. The `FileStorage` remembers the file's contents from
/// its first load or save on (a save that comes first reads the file before
/// it writes), so each later save is a single write. Because a save that
/// comes first reads the file, a damaged file makes it fail too: the half
/// it would have had to guess is never reset.
///
/// [`load`](Storage::load) and [`load_membership`](Storage::load_membership)
/// each read the file anew, in any order, as often as called, and each
/// reports damage as an error. A file written by `save_membership` before
/// any `save` holds term 0 and no vote, which `load` returns as such (the
/// state a node that never saved starts from anyway).
///
/// # Format
///
/// Every version shares one envelope: magic, version, payload length,
/// payload, CRC-32 of everything before it. That lets a reader tell a
/// damaged file (checksum mismatch) from a file written by a newer build
/// (intact, unknown version), and report each as such. All integers are
/// little-endian.
///
/// ## Version 3 (written by this build)
///
/// `M` is the length of the encoded membership, at most 1 MiB (1 048 576):
///
/// | offset | size | field                                                   |
/// |-------:|-----:|---------------------------------------------------------|
/// |      0 |    4 | magic `b"DDGS"`                                         |
/// |      4 |    2 | format version, `u16` = 3                               |
/// |      6 |    4 | payload length in bytes, `u32` = 21 + `M`               |
/// |     10 |    8 | payload: term, `u64`                                    |
/// |     18 |    1 | payload: vote presence, `0` = no vote, `1` = vote       |
/// |     19 |    8 | payload: voted-for node id, `u64` (`0` if no vote)      |
/// |     27 |    4 | payload: membership length `M`, `u32`                   |
/// |     31 |  `M` | payload: the membership, postcard `Option<Membership>`  |
/// | 31+`M` |    4 | CRC-32 (IEEE, `crc32fast`) of bytes `0..31+M`, `u32`    |
///
/// The membership is [postcard](https://postcard.jamesmunns.com/wire-format)
/// (wire format 1): a tag byte, `0` = none (never saved), `1` = some, then
/// the membership id's term and version, the voters, the learners, the
/// joining learners (each set a varint count, then its ids as varints in
/// ascending order), the addresses (a varint count, then id and address
/// pairs in ascending id order, an address being a varint byte length and
/// UTF-8) and the metadata (a varint count, then, in ascending id order, an
/// id and its [`NodeMetadata`](crate::core::NodeMetadata): a varint count,
/// then key and value strings in ascending key order; a node without
/// metadata has no entry). Varints are LEB128, least significant group
/// first. Metadata that breaks a bound of `NodeMetadata` is refused as
/// damage ([`StorageError::Corrupt`]).
///
/// ## Version 2 (read only)
///
/// Version 3 without the metadata: the same layout with version 2, the
/// membership ending after the addresses. It loads with no metadata; the
/// next save writes version 3.
///
/// ## Version 1 (read only)
///
/// A version-1 file is 31 bytes: the first 27 bytes of version 3 (with
/// version 1 and payload length 17), then the CRC-32 of them. It holds no
/// membership: [`load_membership`](Storage::load_membership) returns `None`.
/// Data directories of older builds therefore load as they were; the next
/// save writes version 3.
///
/// ## Canonical encoding
///
/// Each state has exactly one valid encoding (the id bytes are zero when
/// there is no vote; the membership must re-encode to the same bytes, which
/// rules out unsorted or repeated ids and overlong varints), so a load gives
/// back exactly what was saved, or fails. Lengths are checked against the
/// file and the maxima before anything is decoded.
///
/// # What fsync costs
///
/// Each save waits for two fsyncs, which means waiting for the device to
/// acknowledge a cache flush. That is slow next to anything else a node does
/// (on spinning disks, on the order of a rotation; on SSDs without
/// power-loss protection, a full write-cache flush), and it varies widely by
/// device and file system, so measure on your own hardware. The core emits a
/// persist only when the term, the vote or the membership changes, a few
/// times per election or membership change and never per heartbeat, so the
/// cost bounds how fast elections run, not how many messages a node handles.
/// Durability is only as good as the storage stack's honesty: a disk or
/// virtual machine that acknowledges a flush it has not done defeats any
/// fsync.
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
/// Loads and saves run the file operations on tokio's blocking pool, so
/// they must be called from within a tokio runtime.
///
/// ```
/// use duckduckgoose::HardState;
/// use duckduckgoose::core::Membership;
/// use duckduckgoose::storage::{FileStorage, Storage, StorageError};
///
/// async fn restore(
///     dir: &str,
///     configured: Membership,
/// ) -> Result<(HardState, Membership), StorageError> {
///     let mut storage = FileStorage::open(dir)?;
///     // `None` only for a node that never saved; damage is an error.
///     let state = storage.load().await?.unwrap_or_default();
///     let membership = storage.load_membership().await?.unwrap_or(configured);
///     Ok((state, membership))
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
    /// What the file holds once every save started so far has landed: both
    /// halves, so that a save of one can write the other unchanged. `None`
    /// until the first load or save reads the file.
    known: Option<Record>,
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
    /// The format version this build writes. It also reads version 1.
    pub const FORMAT_VERSION: u16 = format::VERSION_3;

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
            known: None,
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

    /// Reads the state file. The first read also tells this `FileStorage`
    /// what the file holds.
    async fn read(&mut self) -> Result<Record, StorageError> {
        let paths = Arc::clone(&self.paths);
        let written_seq = Arc::clone(&self.written_seq);
        let record = run_blocking(&self.paths.state, move || {
            let _guard = lock(&written_seq);
            read_record(&paths)
        })
        .await?;
        // Later reads never replace it: by then it holds every save started
        // since, including any that has not reached the file (one that
        // failed, or one abandoned while still queued on the blocking pool).
        if self.known.is_none() {
            self.known = Some(record.clone());
        }
        Ok(record)
    }

    /// Both halves as the file holds them after the saves started so far;
    /// read from the file if this `FileStorage` has not yet seen it.
    async fn known(&mut self) -> Result<Record, StorageError> {
        match &self.known {
            Some(record) => Ok(record.clone()),
            None => self.read().await,
        }
    }

    /// Replaces the state file with `record`.
    async fn write(&mut self, record: Record) -> Result<(), StorageError> {
        let bytes = format::encode(&record).map_err(|problem| StorageError::Io {
            path: self.paths.state.clone(),
            operation: "encode",
            source: io::Error::new(io::ErrorKind::InvalidInput, problem),
        })?;
        // Remembered before the write: even if it fails or is abandoned,
        // the caller's state has moved on, and the next save must carry it.
        self.known = Some(record);
        self.next_seq += 1;
        let seq = self.next_seq;
        let paths = Arc::clone(&self.paths);
        let written_seq = Arc::clone(&self.written_seq);
        run_blocking(&self.paths.state, move || {
            let mut written = lock(&written_seq);
            if *written >= seq {
                // Only reachable for a save whose caller dropped the future:
                // a newer record, which includes everything in this one that
                // was not superseded, is already durable.
                return Ok(());
            }
            write_state(&paths, &bytes)?;
            *written = seq;
            Ok(())
        })
        .await
    }
}

#[async_trait]
impl Storage for FileStorage {
    async fn load(&mut self) -> Result<Option<HardState>, StorageError> {
        Ok(self.read().await?.state)
    }

    async fn save(&mut self, state: &HardState) -> Result<(), StorageError> {
        let mut record = self.known().await?;
        record.state = Some(*state);
        self.write(record).await
    }

    async fn load_membership(&mut self) -> Result<Option<Membership>, StorageError> {
        Ok(self.read().await?.membership)
    }

    async fn save_membership(&mut self, membership: &Membership) -> Result<(), StorageError> {
        let mut record = self.known().await?;
        record.membership = Some(membership.clone());
        self.write(record).await
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

fn read_record(paths: &Directory) -> Result<Record, StorageError> {
    let file = match File::open(&paths.state) {
        Ok(file) => file,
        Err(error) if error.kind() == io::ErrorKind::NotFound => {
            // No state file is a fresh node, but only if the directory is
            // still there: a vanished directory (deleted, unmounted) must
            // not pass for a node that never voted.
            return match fs::metadata(&paths.dir) {
                Ok(metadata) if metadata.is_dir() => Ok(Record::default()),
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
    format::decode(&bytes).map_err(|error| match error {
        DecodeError::UnsupportedVersion(found) => StorageError::UnsupportedVersion {
            path: paths.state.clone(),
            found,
            supported: FileStorage::FORMAT_VERSION,
        },
        damage => StorageError::Corrupt {
            path: paths.state.clone(),
            problem: damage.to_string(),
        },
    })
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
