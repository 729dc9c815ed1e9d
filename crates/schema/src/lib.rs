//! The archive's versioned Arrow schema, and the two directions between exact record
//! bytes and its columns.
//!
//! This crate owns the mapping of CloudTrail records to columns named as in Athena's
//! CloudTrail table ([`fields`]), the normaliser that turns each record's exact text
//! into typed columns plus a layout and residual ([`BatchBuilder`]), and the
//! [`Rebuilder`] that turns a row back into exactly the original bytes. Every batch
//! is proven at build time: [`BatchBuilder::finish_verified`] rebuilds each row from
//! the finished columns and keeps the whole text of any row that does not match.
//!
//! ```
//! use trailpack_schema::{BatchBuilder, Rebuilder};
//!
//! let record = r#"{"eventVersion":"1.08","eventTime":"2021-01-01T00:00:00Z","userAgent":"aws-cli\/2.0","newKey":{"a":1}}"#;
//! let mut builder = BatchBuilder::new();
//! builder.append(record, "AWSLogs/example.json.gz", 0).unwrap();
//! let (batch, fallbacks) = builder.finish_verified(&[record]).unwrap();
//! assert!(fallbacks.is_empty());
//! let mut rebuilt = Vec::new();
//! Rebuilder::try_new(&batch).unwrap().rebuild(0, &mut rebuilt).unwrap();
//! assert_eq!(rebuilt, record.as_bytes());
//! ```

pub mod ddl;
pub mod encode;
pub mod fields;
mod normalise;
mod rebuild;

pub use fields::{SCHEMA_VERSION, SCHEMA_VERSION_PROPERTY, schema};
pub use normalise::{BatchBuilder, DEFAULT_BATCH_ROWS};
pub use rebuild::Rebuilder;

/// Deepest nesting the normaliser and rebuilder follow; decoding enforces a lower one.
pub const MAX_DEPTH: usize = 1024;

/// The marker bytes that stand for values in a layout.
pub mod marker {
    /// A value stored in its typed column, written back in canonical spelling.
    pub const VALUE: u8 = 0x01;
    /// The next value of the row's `additionalfields` object.
    pub const ADDITIONAL: u8 = 0x02;
    /// The next value of the row's residual array.
    pub const RESIDUAL: u8 = 0x03;
}

/// Errors while normalising or rebuilding.
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    /// A record that is not valid JSON (records should come from the decoder).
    #[error("invalid record JSON: {0}")]
    Syntax(#[from] trailpack_decode::json::SyntaxError),
    /// A record that is not a JSON object.
    #[error("record is not a JSON object")]
    NotAnObject,
    /// [`BatchBuilder::finish_verified`] got a different number of originals.
    #[error("batch has {expected} rows but {found} originals were given")]
    RowCount {
        /// Rows in the batch.
        expected: usize,
        /// Originals given.
        found: usize,
    },
    /// A column is missing or has an unexpected type.
    #[error("column {column}: {reason}")]
    Column {
        /// The column's dotted name.
        column: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A row that cannot be rebuilt: its layout or values are inconsistent.
    #[error("row {row}: {reason}")]
    Rebuild {
        /// The row in its batch.
        row: usize,
        /// What is inconsistent.
        reason: String,
    },
    /// Arrow rejected the assembled batch.
    #[error("arrow: {0}")]
    Arrow(#[from] arrow_schema::ArrowError),
}
