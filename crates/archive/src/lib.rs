//! The Parquet archive: parts, partitions, the manifest and its commit protocol, and
//! the read paths that restore original files and summarise the archive.
//!
//! An archive lives in an [`ArchiveRoot`], a local directory or an S3 prefix. It
//! holds Hive-partitioned Parquet parts (`account=/region=/year=/month=/part-*.parquet`)
//! plus `_trailpack/`, which holds the append-only manifest ([`manifest`]) and the
//! original bytes of quarantined files. [`archive`] decodes source files in
//! parallel, sorts each partition's records by event time, proves every row group
//! rebuilds to the original bytes, stores the part durably (a temporary file,
//! fsync and rename on disk; one upload on S3), and only then commits it. Digest
//! files are kept whole with their signatures. [`restore`] turns parts back into
//! the original files, checking each file's SHA-256; [`verify`] checks parts,
//! rebuilt files and CloudTrail's digest chains; [`stats`] summarises.
//!
//! Main types: [`ArchiveRoot`], [`WriteOptions`], [`RunReport`], [`FileFilter`],
//! [`manifest::Manifest`], [`ArchiveError`].
//!
//! ```no_run
//! use std::path::Path;
//! use trailpack_archive::{
//!     ArchiveRoot, FileFilter, IntegrityInputs, NoProgress, WriteOptions, archive, restore,
//! };
//! use trailpack_source::S3Options;
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
//! restore(&root, &FileFilter::default(), Path::new("restored"), false).unwrap();
//! ```

mod compact;
mod lifecycle;
pub mod manifest;
mod query;
mod read;
mod store;
mod verify;
mod write;

use std::path::{Path, PathBuf};

pub use compact::{COMPACT_LOCK, CompactReport, compact};
pub use lifecycle::{DeleteReport, delete_sources, verified_sources};
pub use query::{Explain, QueryFilter, QueryMatch, count, query};
pub use read::{FileFilter, RecordsByKey, RestoreReport, Stats, read_records, restore, stats};
pub use store::{ArchiveRoot, Listed};
pub use verify::{VerifyOptions, VerifyReport, verify};
pub use write::{
    BLOOM_FILTER_COLUMNS, DEFAULT_PART_BYTES, DEFAULT_ROW_GROUP_ROWS, DEFAULT_WAVE_BYTES,
    DEFAULT_ZSTD_LEVEL, FileBatches, IntegrityInputs, ORPHAN_GRACE, PartitionKey, Partitioning,
    Plan, QuarantinedFile, RunReport, Shard, WriteOptions, archive, archive_batches, plan,
};

/// Errors of archive operations. Input problems in source files are not errors:
/// those files are quarantined and reported in [`RunReport`].
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// A filesystem operation failed.
    #[error("{path}: {error}")]
    Io {
        /// The path involved.
        path: PathBuf,
        /// The underlying error.
        error: std::io::Error,
    },
    /// A commit file is unreadable or invalid.
    #[error("{path}: invalid commit: {reason}")]
    Manifest {
        /// The commit file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// Writing or reading a part failed.
    #[error("{path}: {error}")]
    Parquet {
        /// The part.
        path: PathBuf,
        /// The underlying error.
        error: parquet::errors::ParquetError,
    },
    /// Normalising or rebuilding records failed.
    #[error("{context}: {error}")]
    Schema {
        /// Where it happened.
        context: String,
        /// The underlying error.
        error: trailpack_schema::SchemaError,
    },
    /// Archived content does not match what the manifest promises.
    #[error("{key}: {reason}")]
    Integrity {
        /// The source key.
        key: String,
        /// What does not match.
        reason: String,
    },
    /// Invalid options.
    #[error("{0}")]
    Options(String),
    /// Listing the sources failed (files of batches listed before are archived).
    #[error(transparent)]
    Listing(#[from] trailpack_source::SourceError),
}

impl ArchiveError {
    fn io(path: &Path, source: std::io::Error) -> Self {
        ArchiveError::Io {
            path: path.to_path_buf(),
            error: source,
        }
    }
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

/// Lowercase hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}
