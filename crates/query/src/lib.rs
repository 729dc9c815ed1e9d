//! The read paths over an archive: pruned queries that return the original
//! records, restore of the original files, verification, and statistics.
//!
//! This crate owns everything that reads an archive without changing it. [`query`]
//! prunes from the cheapest level to the finest (partitions and the table's
//! part statistics, row-group statistics and bloom filters, then pages) and
//! rebuilds only the matching records, byte for byte. [`restore`] writes archived
//! files back under their keys, [`verify`] proves parts, files and CloudTrail's
//! digest chains from the archive alone, and [`stats`] summarises from aggregates.
//! All of them read the Delta table's latest snapshot and one partition's index
//! at a time.
//!
//! Main types: [`QueryFilter`], [`QueryMatch`], [`Explain`], [`FileFilter`],
//! [`VerifyOptions`], [`VerifyReport`], [`Stats`], [`QueryError`].
//!
//! ```no_run
//! use trailpack_query::{QueryFilter, query};
//! use trailpack_store::ArchiveRoot;
//!
//! let root = ArchiveRoot::from(std::path::Path::new("archive"));
//! let filter = QueryFilter {
//!     event_names: vec!["ConsoleLogin".into()],
//!     ..QueryFilter::default()
//! };
//! let (matches, explain) = query(&root, &filter, Some(10)).unwrap();
//! for found in matches {
//!     println!("{}", String::from_utf8_lossy(&found.record));
//! }
//! eprintln!("{} of {} row groups scanned", explain.row_groups_scanned, explain.row_groups);
//! ```

mod query;
mod restore;
mod stats;
mod verify;

use std::path::PathBuf;

pub use query::{
    ColumnTest, Explain, QueryFilter, QueryMatch, TextMatch, column, count, fold_columns, query,
    query_each, scan,
};
pub use restore::{DEFAULT_REMOTE_JOBS, FileFilter, RestoreOptions, RestoreReport, restore};
pub use stats::{Stats, stats};
pub use verify::{VerifyOptions, VerifyReport, verify};

/// Errors of read operations.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// The table (Delta log, index) could not be read.
    #[error(transparent)]
    Table(#[from] trailpack_table::TableError),
    /// Reading the archive's store failed.
    #[error(transparent)]
    Store(#[from] trailpack_store::StoreError),
    /// A part could not be read or rebuilt.
    #[error(transparent)]
    Part(#[from] trailpack_parts::PartError),
    /// A part could not be read.
    #[error("{path}: {error}")]
    Parquet {
        /// The part.
        path: PathBuf,
        /// The underlying error.
        #[source]
        error: parquet::errors::ParquetError,
    },
    /// A part's structure contradicts itself.
    #[error("{path}: damaged: {reason}")]
    Damaged {
        /// The part.
        path: PathBuf,
        /// What is inconsistent.
        reason: String,
    },
    /// Rows could not be rebuilt.
    #[error("{context}: {error}")]
    Schema {
        /// Where.
        context: String,
        /// The underlying error.
        #[source]
        error: trailpack_schema::SchemaError,
    },
    /// An archived file does not rebuild to what the index promises.
    #[error("{key}: {reason}")]
    Integrity {
        /// The source key.
        key: String,
        /// What does not match.
        reason: String,
    },
    /// The scan threads could not start.
    #[error("cannot start the scan threads: {0}")]
    Threads(String),
}
