//! Where a trailpack archive lives, and how its files are written durably.
//!
//! This crate owns storage: [`ArchiveRoot`], a local directory or a prefix in an S3
//! bucket, through which every read, write, listing, rename and delete of an archive
//! goes, with paths relative to the root (`/`-separated); the durability helpers
//! ([`write_atomic`]: a temporary file, fsync, rename, fsync of the directory); and
//! the S3 client ([`S3Bucket`]) that S3 sources use too. A write on either store
//! appears whole or not at all, and [`ArchiveRoot::create`] is a put-if-absent (a
//! hard link on disk, a conditional PUT on S3), which is what Delta commits need.
//!
//! Main types: [`ArchiveRoot`], [`Listed`], [`S3Bucket`], [`S3Options`],
//! [`StoreError`].
//!
//! ```
//! use trailpack_store::{ArchiveRoot, S3Options};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let root = ArchiveRoot::open(dir.path().to_str().unwrap(), &S3Options::default()).unwrap();
//! assert!(root.create("_delta_log/00000000000000000000.json", b"{}").unwrap());
//! // A second writer of the same commit loses.
//! assert!(!root.create("_delta_log/00000000000000000000.json", b"{}").unwrap());
//! assert_eq!(root.read("_delta_log/00000000000000000000.json").unwrap().unwrap(), &b"{}"[..]);
//! ```

mod aws;
mod durable;
mod root;
mod s3;

use std::path::PathBuf;

pub use durable::{
    sync_dir, sync_written, synced_temp_file, unique_name, write_atomic, write_renamed,
};
pub use root::{ArchiveRoot, Listed};
pub use s3::{
    DEFAULT_MULTIPART_THRESHOLD, DEFAULT_S3_BACKOFF, DEFAULT_S3_CONCURRENCY, DEFAULT_S3_RETRIES,
    ListedObject, S3Bucket, S3Options, block_on, in_order, io_error, parse_url,
};

/// Errors of storage operations.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A file or object operation failed.
    #[error("{path}: {error}")]
    Io {
        /// The file or object (an `s3://` URL for objects).
        path: PathBuf,
        /// The underlying error.
        #[source]
        error: std::io::Error,
    },
    /// An S3 bucket could not be opened.
    #[error("{url}: {error}")]
    S3 {
        /// The bucket's URL.
        url: String,
        /// The underlying error.
        #[source]
        error: object_store::Error,
    },
    /// The AWS credential chain produced no credentials: no source had any, or
    /// one that is configured failed (a failing `credential_process`, an expired
    /// SSO session, a profile that does not exist, instance metadata refused).
    #[error("{url}: no AWS credentials found (tried: {tried})")]
    NoCredentials {
        /// The bucket's URL.
        url: String,
        /// The sources looked at, in order.
        tried: String,
        /// The failure of a configured source, if one failed.
        #[source]
        error: Option<aws_credential_types::provider::error::CredentialsError>,
    },
    /// A malformed `s3://` URL.
    #[error("{0}")]
    Url(String),
    /// The S3 store accepts a PUT with `If-None-Match: *` over an existing object, so
    /// two writers could both believe they wrote the same commit.
    #[error(
        "{url}: this store does not honour conditional writes (PUT with If-None-Match: *), \
         which the archive's commits need so that concurrent writers never overwrite \
         each other ({detail})"
    )]
    NoConditionalWrites {
        /// The archive's URL.
        url: String,
        /// What the probe saw.
        detail: String,
    },
}

impl StoreError {
    /// An I/O error at `path`.
    pub fn io(path: impl Into<PathBuf>, error: std::io::Error) -> Self {
        StoreError::Io {
            path: path.into(),
            error,
        }
    }

    /// Whether this is "not found" (a missing file or object).
    pub fn is_not_found(&self) -> bool {
        matches!(self, StoreError::Io { error, .. } if error.kind() == std::io::ErrorKind::NotFound)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_underlying_error_is_the_source() {
        let error = StoreError::io(
            "archive/_delta_log/00000000000000000001.json",
            std::io::Error::new(std::io::ErrorKind::PermissionDenied, "denied"),
        );
        let source = std::error::Error::source(&error).expect("a source");
        assert_eq!(source.to_string(), "denied");
        assert_eq!(
            error.to_string(),
            "archive/_delta_log/00000000000000000001.json: denied"
        );
    }
}
