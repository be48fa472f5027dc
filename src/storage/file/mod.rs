//! Crash-safe file storage of the hard state and the membership: a save
//! returns once it is durable, and a crash leaves the old state or the new
//! one, never a mix. The protocol and the file format are documented on
//! [`FileStorage`]; this module orders the saves and checks whose directory
//! it is, `fs` does the filesystem part (atomic replace, fsync, the
//! directory lock), `format` the bytes.

use std::io;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;

use self::format::Record;
use self::fs::{Directory, read_record, write_state};
use super::{NodeIdentity, Storage, StorageError};
use crate::core::{HardState, Membership};

mod format;
mod fs;

/// Keeps the hard state and the membership in `DIR/hardstate`, replaced
/// atomically and fsync'd on every save.
///
/// # Files
///
/// [`open_as`](FileStorage::open_as) (or [`open`](FileStorage::open)) takes
/// a directory it owns. The state lives in `DIR/hardstate`
/// ([`path`](FileStorage::path)); every save first writes
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
/// membership it was never saved with. Every save writes both halves (and
/// the identity the file records, see [Whose directory](#whose-directory)):
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
/// # Whose directory
///
/// The state file also records the [`NodeIdentity`] (cluster id and node
/// id) of the node the directory belongs to, so that a node pointed at a
/// copy of another node's directory does not start with that node's term
/// and vote, and vote a second time in a term. A node opens its directory
/// with [`open_as`](FileStorage::open_as):
///
/// | the state file                                | `open_as(dir, identity)`                             |
/// |-----------------------------------------------|------------------------------------------------------|
/// | missing (a new directory)                     | records `identity` (with term 0 and no vote)         |
/// | version 1 to 3, or version 4 without identity | records `identity`, keeping state and membership     |
/// | records `identity`                            | opens, writes nothing                                |
/// | records another cluster id or node id         | [`StorageError::IdentityMismatch`], writes nothing   |
/// | damaged, or of an unknown version             | [`StorageError::Corrupt`] or [`StorageError::UnsupportedVersion`], writes nothing |
///
/// Recording is a save like any other (same atomic replace and fsyncs), and
/// done before `open_as` returns, so the claim is durable before the node
/// can vote. Every later read checks the identity again, in case the file
/// is replaced behind the node's back. [`open`](FileStorage::open) checks
/// nothing and records nothing: its saves keep whatever identity the file
/// holds (none in a file it creates). It is for tools and tests, which can
/// show the identity with [`load_identity`](FileStorage::load_identity).
///
/// # Format
///
/// Every version shares one envelope: magic, version, payload length,
/// payload, CRC-32 of everything before it. That lets a reader tell a
/// damaged file (checksum mismatch) from a file written by a newer build
/// (intact, unknown version), and report each as such. All integers are
/// little-endian.
///
/// ## Version 4 (written by this build)
///
/// `C` is the length of the cluster id, at most 255 (0 when no identity is
/// recorded); `M` is the length of the encoded membership, at most 1 MiB
/// (1 048 576). `X` = 36 + `C`:
///
/// | offset | size | field                                                   |
/// |-------:|-----:|---------------------------------------------------------|
/// |      0 |    4 | magic `b"DDGS"`                                         |
/// |      4 |    2 | format version, `u16` = 4                               |
/// |      6 |    4 | payload length in bytes, `u32` = 30 + `C` + `M`         |
/// |     10 |    8 | payload: term, `u64`                                    |
/// |     18 |    1 | payload: vote presence, `0` = no vote, `1` = vote       |
/// |     19 |    8 | payload: voted-for node id, `u64` (`0` if no vote)      |
/// |     27 |    8 | payload: the directory's node id, `u64` (`0` if none)   |
/// |     35 |    1 | payload: cluster id length `C`, `u8` (`0` = no identity)|
/// |     36 |  `C` | payload: the directory's cluster id, UTF-8              |
/// |    `X` |    4 | payload: membership length `M`, `u32`                   |
/// |  `X`+4 |  `M` | payload: the membership, postcard `Option<Membership>`  |
/// | `X`+4+`M` |  4 | CRC-32 (IEEE, `crc32fast`) of bytes `0..X+4+M`, `u32`   |
///
/// The identity is the node id and the cluster id together; a cluster id
/// follows [`NodeIdentity`]'s bounds (1 to 255 bytes, those of the TCP
/// transport's `TcpConfig::cluster_id`), so a length of 0 means no identity
/// is recorded, and then the node id must be 0. A cluster id that is not
/// UTF-8, or a length that runs past the membership length field, is
/// damage ([`StorageError::Corrupt`]), like any other bad field.
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
/// ## Version 3 (read only)
///
/// Version 4 without the identity: the same layout with version 3 and
/// payload length 21 + `M`, the membership length field at offset 27 and
/// the membership at 31. It loads with no identity; the next save, or
/// [`open_as`](FileStorage::open_as) at once, writes version 4.
///
/// ## Version 2 (read only)
///
/// Version 3 without the metadata: the same layout with version 2, the
/// membership ending after the addresses. It loads with no metadata and no
/// identity; the next save writes version 4.
///
/// ## Version 1 (read only)
///
/// A version-1 file is 31 bytes: the first 27 bytes of version 3 (with
/// version 1 and payload length 17), then the CRC-32 of them. It holds no
/// membership: [`load_membership`](Storage::load_membership) returns `None`.
/// Data directories of older builds therefore load as they were; the next
/// save writes version 4.
///
/// ## Canonical encoding
///
/// Each state has exactly one valid encoding (the id bytes are zero when
/// there is no vote, the node id is zero when there is no identity; the
/// membership must re-encode to the same bytes, which
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
/// one of them could vote twice in a term. [`open`](FileStorage::open) and
/// [`open_as`](FileStorage::open_as) therefore take an exclusive lock on
/// `DIR/lock` without waiting, and fail with [`StorageError::Io`] naming
/// that file (its source of kind [`WouldBlock`](io::ErrorKind::WouldBlock))
/// if another `FileStorage`, in this process or another, holds it. The lock is held until the
/// `FileStorage` is dropped and any save or load it started has finished.
///
/// The lock is advisory ([`File::try_lock`](std::fs::File::try_lock):
/// `flock` on Unix, `LockFileEx` on Windows): it stops other
/// `FileStorage`s, not other programs. The
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
/// use duckduckgoose::core::Membership;
/// use duckduckgoose::storage::{FileStorage, NodeIdentity, Storage, StorageError};
/// use duckduckgoose::{HardState, NodeId};
///
/// async fn restore(
///     dir: &str,
///     configured: Membership,
/// ) -> Result<(HardState, Membership), StorageError> {
///     let me = NodeIdentity::new("prod-eu", NodeId(3)).expect("a valid cluster id");
///     // Refused if `dir` belongs to another node or cluster.
///     let mut storage = FileStorage::open_as(dir, me)?;
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
    /// halves and the identity, so that a save of one half writes the rest
    /// unchanged. `None` until the first load or save reads the file.
    known: Option<Record>,
    /// The identity given to [`open_as`](FileStorage::open_as): every read
    /// refuses a file that records another one.
    claimed: Option<NodeIdentity>,
}

impl FileStorage {
    /// The format version this build writes. It also reads versions 1 to 3.
    pub const FORMAT_VERSION: u16 = format::VERSION_4;

    /// Opens the storage kept in directory `dir` as the node `identity`:
    /// what a node should call. Refuses a directory that belongs to another
    /// node or cluster with [`StorageError::IdentityMismatch`], changing
    /// nothing; see [Whose directory](FileStorage#whose-directory).
    ///
    /// A directory without a state file, or whose file records no identity
    /// (versions 1 to 3, or a file written after [`open`](Self::open)),
    /// adopts `identity`: it is written into the state file before this
    /// returns, with the state and membership the file held, atomically and
    /// durably like any save (so for a new directory [`load`](Storage::load)
    /// then gives term 0 and no vote, not `None`). A damaged file is
    /// [`StorageError::Corrupt`].
    ///
    /// Opens and locks the directory like [`open`](Self::open), then reads
    /// the state file (and writes it, to adopt) on the calling thread, as
    /// `open` creates directories there: call it once at startup.
    pub fn open_as(
        dir: impl AsRef<Path>,
        identity: NodeIdentity,
    ) -> Result<FileStorage, StorageError> {
        let mut storage = FileStorage::open(dir)?;
        let mut record = read_record(&storage.paths)?;
        match &record.identity {
            Some(found) => check_identity(&storage.paths.state, &identity, found)?,
            None => {
                record.identity = Some(identity.clone());
                let bytes = encode(&storage.paths.state, &record)?;
                write_state(&storage.paths, &bytes)?;
            }
        }
        storage.known = Some(record);
        storage.claimed = Some(identity);
        Ok(storage)
    }

    /// Opens the storage kept in directory `dir`, creating the directory
    /// (and its missing parents, durably) if needed, and locks it, without
    /// checking whose directory it is: for tools and tests. A node should
    /// use [`open_as`](Self::open_as). Saves keep whatever identity the
    /// file records, and record none in a new file.
    ///
    /// Opening reads nothing; call [`load`](Storage::load) for the state.
    /// If another `FileStorage` has the directory open, in this process or
    /// another, this fails at once with [`StorageError::Io`] naming
    /// `DIR/lock`; see [One node per directory](FileStorage#one-node-per-directory).
    /// A relative `dir` is made absolute against the current directory now,
    /// so error messages name the file unambiguously.
    pub fn open(dir: impl AsRef<Path>) -> Result<FileStorage, StorageError> {
        Ok(FileStorage {
            paths: Arc::new(Directory::open(dir.as_ref())?),
            written_seq: Arc::new(Mutex::new(0)),
            next_seq: 0,
            known: None,
            claimed: None,
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

    /// The identity the state file records, read anew: `None` if there is
    /// no file or it records none. [`open_as`](Self::open_as) leaves its
    /// identity recorded; this lets tools show it.
    ///
    /// As with [`load`](Storage::load), damage is an error, never `None`.
    pub async fn load_identity(&mut self) -> Result<Option<NodeIdentity>, StorageError> {
        Ok(self.read().await?.identity)
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
        // The directory is locked, but the file could still be replaced
        // from outside (a restored backup of another node).
        if let (Some(claimed), Some(found)) = (&self.claimed, &record.identity) {
            check_identity(&self.paths.state, claimed, found)?;
        }
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
        let bytes = encode(&self.paths.state, &record)?;
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

/// Refuses a directory whose state file records `found` to a node opening
/// it as `claimed`.
fn check_identity(
    path: &Path,
    claimed: &NodeIdentity,
    found: &NodeIdentity,
) -> Result<(), StorageError> {
    if claimed == found {
        return Ok(());
    }
    Err(StorageError::IdentityMismatch {
        path: path.to_path_buf(),
        expected: claimed.clone(),
        found: found.clone(),
    })
}

/// The bytes of `record`, or why it has none (a membership too big for the
/// format), as an error naming the state file it was meant for.
fn encode(path: &Path, record: &Record) -> Result<Vec<u8>, StorageError> {
    format::encode(record).map_err(|problem| StorageError::Io {
        path: path.to_path_buf(),
        operation: "encode",
        source: io::Error::new(io::ErrorKind::InvalidInput, problem),
    })
}

fn lock(written_seq: &Mutex<u64>) -> MutexGuard<'_, u64> {
    // Only this file's code runs under the lock and a panic there is
    // re-raised by `run_blocking`; the counter itself is always valid.
    written_seq
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
