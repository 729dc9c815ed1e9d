//! The archive as a table: the Delta Lake log that every engine reads, the file
//! index that accounts for every source file, and the commit protocol that keeps
//! both exact across crashes and concurrent writers.
//!
//! This crate owns the archive's format (`docs/FORMAT.md`):
//! - [`Table`] and [`Snapshot`]: the Delta log at `_delta_log/` (hand-written to
//!   PROTOCOL.md: `add` and `remove` actions with partition values, statistics and
//!   tags, put-if-absent commits retried on conflict, and checkpoints), so that
//!   Spark, Trino, Athena, DuckDB and delta-rs read committed snapshots;
//! - [`PartInfo`]: one committed part, from its `add` action;
//! - [`index`]: the file index, Parquet segments per partition under
//!   `_trailpack/index/`, one row per source file ([`IndexEntry`]);
//! - [`intent`]: prepared commits that any later run finishes, so that a part is
//!   published to the directories globs read only as its commit lands;
//! - [`keys`]: stored CloudTrail public keys; [`legacy`]: the first format's JSON
//!   commits, for `trailpack upgrade`.
//!
//! ```
//! use trailpack_store::ArchiveRoot;
//! use trailpack_table::{Partitioning, Table};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let root = ArchiveRoot::from(dir.path());
//! let table = Table::open_or_create(&root, Some(Partitioning::Month)).unwrap();
//! assert_eq!(table.snapshot().version, 0);
//! assert!(table.snapshot().parts.is_empty());
//! assert!(dir.path().join("_delta_log/00000000000000000000.json").is_file());
//! ```

mod checkpoint;
pub mod delta;
pub mod index;
pub mod intent;
pub mod keys;
mod layout;
pub mod legacy;
mod log;
mod part;

pub use index::{EntryStatus, IndexEntry, IndexSummary};
pub use intent::ABANDON_AFTER as ORPHAN_GRACE;
pub use layout::{
    DELTA_LOG, DIGESTS_DIR, INDEX_DIR, KEYS_DIR, LEGACY_COMMITS_DIR, META_DIR, PENDING_DIR,
    PartitionKey, Partitioning, QUARANTINE_DIR, STAGING_DIR, is_part_file_name, part_file_name,
};
pub use log::{
    Committed, DEFAULT_CHECKPOINT_INTERVAL, FORMAT_PROPERTY, FORMAT_VERSION, Snapshot, Table,
    commit_path, now_ms,
};
pub use part::PartInfo;
pub use trailpack_store::{ArchiveRoot, StoreError};

/// Errors of table operations.
#[derive(Debug, thiserror::Error)]
pub enum TableError {
    /// Reading or writing the store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The location holds no archive.
    #[error("{root}: not a trailpack archive (no _delta_log)")]
    NotAnArchive {
        /// The archive's location.
        root: String,
    },
    /// The archive is in the first format.
    #[error(
        "{root}: this archive was written by an earlier trailpack (JSON commits in \
         _trailpack/commits); run `trailpack upgrade {root}` to convert it to a Delta table"
    )]
    Legacy {
        /// The archive's location.
        root: String,
    },
    /// The table uses Delta features this code does not read or write.
    #[error("{root}: {reason}")]
    Unsupported {
        /// The archive's location.
        root: String,
        /// Which features.
        reason: String,
    },
    /// A file of the table (commit, checkpoint, index segment, intent) is damaged.
    #[error("{path}: {reason}")]
    Corrupt {
        /// The file, relative to the archive root.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// A Parquet file could not be read or written.
    #[error("{path}: {error}")]
    Parquet {
        /// The file.
        path: String,
        /// The underlying error.
        #[source]
        error: parquet::errors::ParquetError,
    },
    /// Another writer's commit makes this one impossible (it removed a part this
    /// one removes).
    #[error("commit conflict: {reason}")]
    Conflict {
        /// What the other commit did.
        reason: String,
    },
    /// An option that does not fit the table.
    #[error("{0}")]
    Options(String),
}
