//! The write path of an archive: source files in, committed parts out.
//!
//! This crate owns what changes an archive. [`archive_batches`] takes source files
//! as a listing finds them, plans them per partition against that partition's
//! file index (files already there are skipped), reads and decodes them in
//! parallel waves, sorts each partition's records by event time, proves every row
//! group rebuilds to the original bytes, and commits each part through the table's
//! intent protocol (`trailpack_table::intent`): staged, written down, published,
//! committed to the Delta log, indexed. Digest files are kept whole with their
//! signatures. [`compact`] merges small parts, [`upgrade`] converts an archive of
//! the first format, and [`delete_sources`] deletes sources once the archive
//! provably holds them.
//!
//! Main types: [`WriteOptions`], [`RunReport`], [`Progress`], [`ArchiveError`].
//!
//! ```no_run
//! use std::path::Path;
//! use trailpack_archive::{IntegrityInputs, NoProgress, WriteOptions, archive};
//! use trailpack_store::{ArchiveRoot, S3Options};
//!
//! let listing = trailpack_source::list(Path::new("trail/AWSLogs")).unwrap();
//! // A local directory, or `s3://bucket/prefix`.
//! let root = ArchiveRoot::open("archive", &S3Options::default()).unwrap();
//! let report = archive(
//!     &root,
//!     listing.files,
//!     &WriteOptions::default(),
//!     &IntegrityInputs::default(),
//!     &NoProgress,
//! )
//! .unwrap();
//! println!("{} records archived", report.records_out);
//! ```

mod column_writer;
mod compact;
mod lifecycle;
mod options;
mod part;
mod pipeline;
mod plan;
mod report;
mod upgrade;
mod writer;

use std::path::PathBuf;

pub use compact::{COMPACT_LOCK, CompactReport, compact};
pub use lifecycle::{DeleteReport, KeepReason, KeptFile, delete_sources, verified_sources};
pub use options::{
    BLOOM_FILTER_COLUMNS, DEFAULT_PART_BYTES, DEFAULT_ROW_GROUP_ROWS, DEFAULT_WAVE_BYTES,
    DEFAULT_ZSTD_LEVEL, Shard, WriteOptions,
};
pub use pipeline::{IntegrityInputs, SourceBatch, SourceBatches, archive, archive_batches};
pub use plan::{PartitionPlan, Plan, plan};
pub use report::{DuplicateEvent, QuarantinedFile, RunReport, StageSeconds};
pub use trailpack_table::{ORPHAN_GRACE, PartitionKey, Partitioning};
pub use upgrade::{UpgradeReport, upgrade};

/// Errors of archive operations. Input problems in source files are not errors:
/// those files are quarantined and reported in [`RunReport`].
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// The table (Delta log, index, intents) failed.
    #[error(transparent)]
    Table(#[from] trailpack_table::TableError),
    /// Reading or writing the archive's store failed.
    #[error(transparent)]
    Store(#[from] trailpack_store::StoreError),
    /// A part could not be read or rebuilt.
    #[error(transparent)]
    Part(#[from] trailpack_parts::PartError),
    /// Writing a part failed.
    #[error("{path}: {error}")]
    Parquet {
        /// The part.
        path: String,
        /// The underlying error.
        #[source]
        error: parquet::errors::ParquetError,
    },
    /// Normalising records failed.
    #[error("{context}: {error}")]
    Schema {
        /// Where it happened.
        context: String,
        /// The underlying error.
        #[source]
        error: trailpack_schema::SchemaError,
    },
    /// Archived content does not match what the index promises.
    #[error("{key}: {reason}")]
    Integrity {
        /// The source key (or part).
        key: String,
        /// What does not match.
        reason: String,
    },
    /// Invalid options.
    #[error("{0}")]
    Options(String),
    /// A signatures sidecar found in a source tree does not load.
    #[error("{path}: {error}")]
    Signatures {
        /// The sidecar.
        path: PathBuf,
        /// Why.
        error: String,
    },
    /// Another compaction of the archive holds its lock.
    #[error("{lock}: another compaction of this archive is running{detail}")]
    Locked {
        /// The lock file or object.
        lock: String,
        /// What to do about it.
        detail: &'static str,
    },
    /// A thread pool could not be started.
    #[error("cannot start threads: {0}")]
    Threads(String),
    /// A thread of the pipeline died.
    #[error("the {0} thread stopped unexpectedly")]
    Stopped(&'static str),
    /// Listing the sources failed (files of batches listed before are archived).
    #[error(transparent)]
    Listing(#[from] trailpack_source::SourceError),
}

/// Receives progress from long operations; the CLI draws it.
pub trait Progress: Sync {
    /// The work ahead: files and stored bytes. Called again with larger totals when
    /// a listing that runs alongside finds more.
    fn start(&self, files: u64, bytes: u64);
    /// Files, stored bytes and records just done.
    fn advance(&self, files: u64, bytes: u64, records: u64);
    /// A one-line message about one file (a quarantine, a fallback).
    fn warn(&self, line: &str);
}

/// A [`Progress`] that ignores everything.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn start(&self, _: u64, _: u64) {}
    fn advance(&self, _: u64, _: u64, _: u64) {}
    fn warn(&self, _: &str) {}
}
