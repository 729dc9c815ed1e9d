//! Find CloudTrail files: the S3 key grammar, directory listing and filters.
//!
//! This crate owns everything before a file's bytes are read. [`parse_file_name`]
//! understands CloudTrail's object names (log, Insights and digest files, with
//! account, region and delivery time); [`list`] walks a local tree at any level of an
//! `AWSLogs/` layout (organisation trails included) and returns every CloudTrail
//! file as a [`SourceFile`] keyed from `AWSLogs/` on, so the key is the same
//! whichever directory the user points at. Other files are returned as
//! [`Skipped`], never silently dropped. [`Filter`] selects by account, region and
//! delivery time.
//!
//! ```
//! use trailpack_source::{parse_file_name, FileKind};
//!
//! let name = "111122223333_CloudTrail_us-east-1_20210102T0305Z_AbCdEfGhIjKlMnOp.json.gz";
//! let parsed = parse_file_name(name).unwrap();
//! assert_eq!(parsed.kind, FileKind::Log);
//! assert_eq!(parsed.account, "111122223333");
//! assert_eq!(parsed.region, "us-east-1");
//! assert_eq!(parsed.delivery.to_string(), "2021-01-02T03:05:00Z");
//! ```

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

mod s3;

pub use s3::{Fetched, ObjectMetadata};
pub use trailpack_store::{S3Bucket, S3Options};

/// What a CloudTrail file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FileKind {
    /// Management and data events (`CloudTrail/`).
    Log,
    /// Insights events (`CloudTrail-Insight/`).
    Insight,
    /// Hourly digest files (`CloudTrail-Digest/`).
    Digest,
}

/// How the file's bytes are stored, from its extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Compression {
    /// `.json.gz`
    Gzip,
    /// `.json`
    None,
}

/// A UTC time with second precision, ordered, as in CloudTrail file names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UtcTime {
    /// Four-digit year.
    pub year: u16,
    /// 1 to 12.
    pub month: u8,
    /// 1 to 31.
    pub day: u8,
    /// 0 to 23.
    pub hour: u8,
    /// 0 to 59.
    pub minute: u8,
    /// 0 to 59.
    pub second: u8,
}

impl fmt::Display for UtcTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        )
    }
}

/// A time argument that is not `YYYY-MM-DD`, `YYYY-MM-DDTHH:MM[:SS]Z` or similar.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid time {0:?}: expected YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS][Z]")]
pub struct InvalidTime(String);

impl FromStr for UtcTime {
    type Err = InvalidTime;

    /// Parse `YYYY-MM-DD`, `YYYY-MM-DDTHH:MM`, `YYYY-MM-DDTHH:MM:SS`, optionally
    /// followed by `Z`.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let invalid = || InvalidTime(text.to_string());
        let trimmed = text.strip_suffix('Z').unwrap_or(text);
        let (date, time) = trimmed.split_once('T').unwrap_or((trimmed, "00:00:00"));
        let number = |s: &str, digits: usize| -> Result<u16, InvalidTime> {
            if s.len() != digits || !s.bytes().all(|b| b.is_ascii_digit()) {
                return Err(invalid());
            }
            s.parse().map_err(|_| invalid())
        };
        let mut date_parts = date.split('-');
        let mut time_parts = time.split(':');
        let next = |parts: &mut std::str::Split<'_, char>, digits| {
            parts.next().map_or(Ok(0), |s| number(s, digits))
        };
        let value = UtcTime {
            year: next(&mut date_parts, 4)?,
            month: next(&mut date_parts, 2)? as u8,
            day: next(&mut date_parts, 2)? as u8,
            hour: next(&mut time_parts, 2)? as u8,
            minute: next(&mut time_parts, 2)? as u8,
            second: next(&mut time_parts, 2)? as u8,
        };
        if date_parts.next().is_some() || time_parts.next().is_some() || !value.is_valid() {
            return Err(invalid());
        }
        Ok(value)
    }
}

impl UtcTime {
    /// The time `seconds` after the Unix epoch (clamped to years 0 to 9999).
    pub fn from_unix_seconds(seconds: i64) -> UtcTime {
        // Howard Hinnant's civil_from_days.
        let seconds = seconds.clamp(-62_167_219_200, 253_402_300_799);
        let days = seconds.div_euclid(86_400);
        let of_day = seconds.rem_euclid(86_400);
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u8;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
        let year = (yoe + era * 400 + i64::from(month <= 2)) as u16;
        UtcTime {
            year,
            month,
            day,
            hour: (of_day / 3600) as u8,
            minute: (of_day % 3600 / 60) as u8,
            second: (of_day % 60) as u8,
        }
    }

    /// The time `age` before now.
    pub fn before_now(age: std::time::Duration) -> UtcTime {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        UtcTime::from_unix_seconds(now.saturating_sub(age.as_secs() as i64))
    }

    /// The compact form of file names, `YYYYMMDDTHHmmssZ`, which sorts like the time.
    pub fn compact(&self) -> String {
        format!(
            "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        )
    }

    fn is_valid(&self) -> bool {
        (1..=12).contains(&self.month)
            && (1..=31).contains(&self.day)
            && self.hour < 24
            && self.minute < 60
            && self.second < 60
    }

    /// Parse the compact form of file names: `YYYYMMDDTHHmmZ` or `YYYYMMDDTHHmmssZ`.
    fn from_compact(text: &str) -> Option<UtcTime> {
        let b = text.as_bytes();
        if !(b.len() == 14 || b.len() == 16) || b[8] != b'T' || b[b.len() - 1] != b'Z' {
            return None;
        }
        let digits = |r: std::ops::Range<usize>| -> Option<u16> {
            let s = text.get(r)?;
            s.bytes()
                .all(|c| c.is_ascii_digit())
                .then(|| s.parse().ok())?
        };
        let value = UtcTime {
            year: digits(0..4)?,
            month: digits(4..6)? as u8,
            day: digits(6..8)? as u8,
            hour: digits(9..11)? as u8,
            minute: digits(11..13)? as u8,
            second: if b.len() == 16 {
                digits(13..15)? as u8
            } else {
                0
            },
        };
        value.is_valid().then_some(value)
    }
}

/// What a CloudTrail file name says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileName {
    /// Log, Insight or digest.
    pub kind: FileKind,
    /// The 12-digit account that owns the events.
    pub account: String,
    /// The region the events happened in.
    pub region: String,
    /// When CloudTrail delivered the file (digests: the end of the hour covered).
    pub delivery: UtcTime,
    /// `.json.gz` or `.json`.
    pub compression: Compression,
}

/// Parse a CloudTrail object name (the last component of its key).
///
/// Logs and Insights: `<account>_CloudTrail[-Insight]_<region>_<YYYYMMDDTHHmmZ>_<id>.json.gz`;
/// digests: `<account>_CloudTrail-Digest_<region>_<trail>_<home region>_<YYYYMMDDTHHmmssZ>.json.gz`.
pub fn parse_file_name(name: &str) -> Option<FileName> {
    let (stem, compression) = if let Some(stem) = name.strip_suffix(".json.gz") {
        (stem, Compression::Gzip)
    } else {
        (name.strip_suffix(".json")?, Compression::None)
    };
    let mut parts = stem.splitn(3, '_');
    let account = parts.next()?;
    let kind = match parts.next()? {
        "CloudTrail" => FileKind::Log,
        "CloudTrail-Insight" => FileKind::Insight,
        "CloudTrail-Digest" => FileKind::Digest,
        _ => return None,
    };
    let rest = parts.next()?;
    if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (region, time) = match kind {
        FileKind::Digest => {
            // Backfill digests (a second chain) end in `_backfill`.
            let rest = rest.strip_suffix("_backfill").unwrap_or(rest);
            let (region, rest) = rest.split_once('_')?;
            let (_trail_and_home, time) = rest.rsplit_once('_')?;
            (region, time)
        }
        FileKind::Log | FileKind::Insight => {
            let (region, rest) = rest.split_once('_')?;
            let (time, id) = rest.split_once('_')?;
            if id.is_empty() || !id.bytes().all(|b| b.is_ascii_alphanumeric()) {
                return None;
            }
            (region, time)
        }
    };
    let region_ok = !region.is_empty()
        && region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !region_ok {
        return None;
    }
    Some(FileName {
        kind,
        account: account.to_string(),
        region: region.to_string(),
        delivery: UtcTime::from_compact(time)?,
        compression,
    })
}

/// Where a source file is.
#[derive(Debug, Clone)]
pub enum Location {
    /// A local file.
    Local(PathBuf),
    /// An S3 object.
    S3 {
        /// The bucket it is in.
        bucket: Arc<S3Bucket>,
        /// Its key in the bucket.
        key: String,
    },
}

impl PartialEq for Location {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Location::Local(a), Location::Local(b)) => a == b,
            (Location::S3 { bucket, key }, Location::S3 { bucket: b, key: k }) => {
                bucket.name() == b.name() && key == k
            }
            _ => false,
        }
    }
}

impl Eq for Location {}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Local(path) => write!(f, "{}", path.display()),
            Location::S3 { bucket, key } => write!(f, "s3://{}/{key}", bucket.name()),
        }
    }
}

/// A CloudTrail file found under a source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceFile {
    /// Where to read it.
    pub location: Location,
    /// Its key: the path from `AWSLogs/` on (or from the source root when there is
    /// no `AWSLogs/` component), with `/` separators.
    pub key: String,
    /// Stored size in bytes.
    pub size: u64,
    /// What its name says.
    pub name: FileName,
}

impl SourceFile {
    /// Read the stored bytes, with the object's metadata.
    pub fn fetch(&self) -> std::io::Result<Fetched> {
        fetch_all(std::slice::from_ref(self))
            .pop()
            .unwrap_or_else(|| Err(std::io::Error::other("nothing fetched")))
    }
}

/// The S3 objects among `files`, in order.
fn s3_objects(files: &[SourceFile]) -> Vec<(&Arc<S3Bucket>, &str)> {
    files
        .iter()
        .filter_map(|file| match &file.location {
            Location::S3 { bucket, key } => Some((bucket, key.as_str())),
            Location::Local(_) => None,
        })
        .collect()
}

/// Read the stored bytes of `files`, in order: local files in parallel on the
/// rayon pool, S3 objects with bounded concurrent GETs.
pub fn fetch_all(files: &[SourceFile]) -> Vec<std::io::Result<Fetched>> {
    use rayon::prelude::*;
    let objects = s3_objects(files);
    let mut from_s3 = s3::fetch(&objects).into_iter();
    let mut local = files
        .par_iter()
        .map(|file| match &file.location {
            Location::Local(path) => Some(std::fs::read(path).map(|bytes| Fetched {
                bytes,
                metadata: ObjectMetadata::default(),
            })),
            Location::S3 { .. } => None,
        })
        .collect::<Vec<_>>()
        .into_iter();
    files
        .iter()
        .map(|_| {
            local
                .next()
                .flatten()
                .unwrap_or_else(|| from_s3.next().expect("one result per object"))
        })
        .collect()
}

/// Delete `files` from their source, in order; the results say which failed.
pub fn delete_all(files: &[SourceFile]) -> Vec<std::io::Result<()>> {
    let objects = s3_objects(files);
    let mut from_s3 = s3::delete(&objects).into_iter();
    files
        .iter()
        .map(|file| match &file.location {
            Location::Local(path) => std::fs::remove_file(path),
            Location::S3 { .. } => from_s3.next().expect("one result per object"),
        })
        .collect()
}

/// A file under a source that is not a CloudTrail file, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// Where it is.
    pub location: Location,
    /// Why it was not taken.
    pub reason: String,
}

/// Why a source could not be listed.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The source path does not exist or cannot be read.
    #[error("{path}: {error}")]
    Io {
        /// The path that failed.
        path: PathBuf,
        /// The underlying error.
        #[source]
        error: std::io::Error,
    },
    /// An S3 source could not be opened or listed.
    #[error("{url}: {error}")]
    S3 {
        /// The source URL.
        url: String,
        /// The underlying error.
        #[source]
        error: object_store::Error,
    },
    /// A source URL is malformed.
    #[error("{0}")]
    Url(String),
    /// The S3 bucket could not be opened.
    #[error(transparent)]
    Store(#[from] trailpack_store::StoreError),
}

/// The result of listing a source.
#[derive(Debug, Default)]
pub struct Listing {
    /// CloudTrail files, sorted by key.
    pub files: Vec<SourceFile>,
    /// Digest signature sidecars ([`SIGNATURES_FILE`]) found in the tree.
    pub signatures: Vec<PathBuf>,
    /// Everything else.
    pub skipped: Vec<Skipped>,
}

/// The name of the sidecar that holds digest signatures for a local tree: S3 keeps
/// them in object metadata, which a local copy loses. See `docs/FORMAT.md`.
pub const SIGNATURES_FILE: &str = "signatures.json";

/// The key of `path`, a file found under `root`.
fn key_of(root: &Path, path: &Path) -> String {
    let components: Vec<String> = path
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    let components: Vec<&str> = components.iter().map(String::as_str).collect();
    let root_len = root
        .components()
        .count()
        .min(components.len().saturating_sub(1));
    key_from_components(&components, root_len)
}

/// The key of a file whose path has `components`, the first `root_len` of them
/// naming the source root: from the last `AWSLogs` component on, else relative to
/// the root.
fn key_from_components(components: &[&str], root_len: usize) -> String {
    if let Some(at) = components.iter().rposition(|c| *c == "AWSLogs") {
        return components[at..].join("/");
    }
    components[root_len..].join("/")
}

/// List a source: a local path, or an `s3://bucket/prefix` URL.
pub fn list_source(source: &str, s3_options: &S3Options) -> Result<Listing, SourceError> {
    if source.starts_with("s3://") {
        s3::list(source, s3_options)
    } else {
        list(Path::new(source))
    }
}

/// Listings of a source, in batches as they are found: one per directory of a
/// local tree; one per listing request (a month prefix) for an `s3://` URL. The
/// caller starts on the first batches while later ones are listed, and never holds
/// the whole listing.
pub type ListingBatches = Box<dyn Iterator<Item = Result<Listing, SourceError>> + Send>;

/// List a source like [`list_source`], in batches as they are found.
pub fn list_source_batches(
    source: &str,
    s3_options: &S3Options,
) -> Result<ListingBatches, SourceError> {
    if source.starts_with("s3://") {
        Ok(Box::new(s3::list_batches(source, s3_options)?))
    } else {
        Ok(Box::new(list_batches(Path::new(source))?))
    }
}

/// List a local source whole: a directory at any level of an `AWSLogs/` tree, or a
/// file. The files are sorted by key.
pub fn list(root: &Path) -> Result<Listing, SourceError> {
    let mut listing = Listing::default();
    for batch in list_batches(root)? {
        let batch = batch?;
        listing.files.extend(batch.files);
        listing.signatures.extend(batch.signatures);
        listing.skipped.extend(batch.skipped);
    }
    listing.files.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(listing)
}

/// List a local source one directory at a time, in a depth-first walk that takes a
/// directory's files (sorted by name) before its subdirectories: each batch holds
/// the files of one directory, so a tree of a million files is never held whole,
/// and a `signatures.json` comes before the digests below its directory.
pub fn list_batches(
    root: &Path,
) -> Result<impl Iterator<Item = Result<Listing, SourceError>> + Send + use<>, SourceError> {
    // Keys come from the canonical path, which has no `..` or `.` components, so no
    // key can climb out of the tree; paths are shown as the user gave the root.
    let given = root.to_path_buf();
    let canonical = std::fs::canonicalize(root).map_err(|error| SourceError::Io {
        path: given.clone(),
        error,
    })?;
    let walk = walkdir::WalkDir::new(&canonical)
        .sort_by(|a, b| {
            let is_dir = |e: &walkdir::DirEntry| e.file_type().is_dir();
            (is_dir(a), a.file_name()).cmp(&(is_dir(b), b.file_name()))
        })
        .into_iter()
        .peekable();
    Ok(LocalBatches {
        walk,
        root: canonical,
        given,
        done: false,
    })
}

/// The batches of [`list_batches`].
struct LocalBatches {
    walk: std::iter::Peekable<walkdir::IntoIter>,
    root: PathBuf,
    given: PathBuf,
    /// Set after an error: nothing follows it.
    done: bool,
}

impl LocalBatches {
    /// `path` as the user would write it: under the root they gave.
    fn shown(&self, path: &Path) -> PathBuf {
        match path.strip_prefix(&self.root) {
            Ok(relative) if relative.as_os_str().is_empty() => self.given.clone(),
            Ok(relative) => self.given.join(relative),
            Err(_) => path.to_path_buf(),
        }
    }

    /// Take one walked entry into `listing`.
    fn take_entry(
        &self,
        entry: &walkdir::DirEntry,
        listing: &mut Listing,
    ) -> Result<(), SourceError> {
        let path = entry.path();
        if entry.file_type().is_symlink() {
            listing.skipped.push(Skipped {
                location: Location::Local(self.shown(path)),
                reason: "symbolic link (not followed)".into(),
            });
            return Ok(());
        }
        if !entry.file_type().is_file() {
            return Ok(());
        }
        let name = entry.file_name().to_string_lossy();
        if name == SIGNATURES_FILE {
            listing.signatures.push(self.shown(path));
            return Ok(());
        }
        let Some(parsed) = parse_file_name(&name) else {
            listing.skipped.push(Skipped {
                location: Location::Local(self.shown(path)),
                reason: "not a CloudTrail file name".into(),
            });
            return Ok(());
        };
        let size = entry
            .metadata()
            .map_err(|e| SourceError::Io {
                path: self.shown(path),
                error: e.into(),
            })?
            .len();
        listing.files.push(SourceFile {
            location: Location::Local(self.shown(path)),
            key: key_of(&self.root, path),
            size,
            name: parsed,
        });
        Ok(())
    }
}

impl Iterator for LocalBatches {
    type Item = Result<Listing, SourceError>;

    fn next(&mut self) -> Option<Self::Item> {
        let mut listing = Listing::default();
        let mut parent: Option<PathBuf> = None;
        while let Some(peeked) = self.walk.peek() {
            match peeked {
                // A batch ends where the walk enters a directory or leaves this one.
                Ok(entry) if entry.file_type().is_dir() => {
                    if parent.is_some() {
                        break;
                    }
                    self.walk.next();
                }
                Ok(entry) => {
                    let entry_parent = entry.path().parent().map(Path::to_path_buf);
                    if parent.is_some() && parent != entry_parent {
                        break;
                    }
                    parent = entry_parent;
                    let Some(Ok(entry)) = self.walk.next() else {
                        unreachable!("the peeked entry")
                    };
                    if let Err(error) = self.take_entry(&entry, &mut listing) {
                        self.done = true;
                        return Some(Err(error));
                    }
                }
                Err(_) => {
                    let Some(Err(error)) = self.walk.next() else {
                        unreachable!("the peeked error")
                    };
                    let path = self.shown(error.path().unwrap_or(&self.root));
                    let error = error
                        .into_io_error()
                        .unwrap_or_else(|| std::io::Error::other("filesystem loop"));
                    // A listing cut short is an error, never a smaller tree: stop.
                    self.done = true;
                    return Some(Err(SourceError::Io { path, error }));
                }
            }
        }
        if self.done || parent.is_none() {
            return None;
        }
        listing.files.sort_by(|a, b| a.key.cmp(&b.key));
        Some(Ok(listing))
    }
}

/// Select files by account, region and delivery time. Empty lists select all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// Accounts to keep.
    pub accounts: Vec<String>,
    /// Regions to keep.
    pub regions: Vec<String>,
    /// Keep files delivered at or after this time.
    pub from: Option<UtcTime>,
    /// Keep files delivered before this time.
    pub until: Option<UtcTime>,
}

impl Filter {
    /// Whether `name` passes the filter.
    pub fn matches(&self, name: &FileName) -> bool {
        self.accepts(&name.account, &name.region, name.delivery)
    }

    /// Whether a file of `account` and `region` delivered at `delivery` passes.
    pub fn accepts(&self, account: &str, region: &str, delivery: UtcTime) -> bool {
        (self.accounts.is_empty() || self.accounts.iter().any(|a| a == account))
            && (self.regions.is_empty() || self.regions.iter().any(|r| r == region))
            && self.from.is_none_or(|from| delivery >= from)
            && self.until.is_none_or(|until| delivery < until)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_unix_seconds() {
        assert_eq!(
            UtcTime::from_unix_seconds(0).to_string(),
            "1970-01-01T00:00:00Z"
        );
        assert_eq!(
            UtcTime::from_unix_seconds(951_782_400).to_string(),
            "2000-02-29T00:00:00Z"
        );
        assert_eq!(
            UtcTime::from_unix_seconds(1_609_556_705).to_string(),
            "2021-01-02T03:05:05Z"
        );
        assert_eq!(
            UtcTime::from_unix_seconds(-1).to_string(),
            "1969-12-31T23:59:59Z"
        );
    }

    #[test]
    fn parses_every_kind_of_name() {
        let digest = parse_file_name(
            "111122223333_CloudTrail-Digest_eu-west-1_my_trail.v2_us-east-1_20210102T030405Z.json.gz",
        )
        .unwrap();
        assert_eq!(digest.kind, FileKind::Digest);
        assert_eq!(digest.region, "eu-west-1");
        assert_eq!(digest.delivery.to_string(), "2021-01-02T03:04:05Z");
        let backfill = parse_file_name(
            "111122223333_CloudTrail-Digest_eu-west-1_trail_us-east-1_20210102T030405Z_backfill.json.gz",
        )
        .unwrap();
        assert_eq!(backfill.kind, FileKind::Digest);
        assert_eq!(backfill.delivery.to_string(), "2021-01-02T03:04:05Z");
        let insight = parse_file_name(
            "111122223333_CloudTrail-Insight_us-east-1_20210102T0305Z_abcDEF0123456789.json",
        )
        .unwrap();
        assert_eq!(insight.kind, FileKind::Insight);
        assert_eq!(insight.compression, Compression::None);
    }

    #[test]
    fn rejects_names_outside_the_grammar() {
        for name in [
            "README.txt",
            ".DS_Store",
            "111122223333_CloudTrail_us-east-1_20210102T0305Z_abc.json.zip",
            "11112222333_CloudTrail_us-east-1_20210102T0305Z_abc.json.gz",
            "111122223333_Other_us-east-1_20210102T0305Z_abc.json.gz",
            "111122223333_CloudTrail_us-east-1_20211302T0305Z_abc.json.gz",
            "111122223333_CloudTrail_US_EAST_20210102T0305Z_abc.json.gz",
            "111122223333_CloudTrail_us-east-1_20210102T0305Z_.json.gz",
        ] {
            assert_eq!(parse_file_name(name), None, "{name}");
        }
    }

    #[test]
    fn parses_time_arguments() {
        let t: UtcTime = "2021-02-03".parse().unwrap();
        assert_eq!(t.to_string(), "2021-02-03T00:00:00Z");
        let t: UtcTime = "2021-02-03T04:05Z".parse().unwrap();
        assert_eq!(t.to_string(), "2021-02-03T04:05:00Z");
        assert_eq!(t.compact(), "20210203T040500Z");
        for bad in [
            "2021-2-03",
            "2021-02-30T25:00",
            "yesterday",
            "2021-02-03T04:05:06:07",
        ] {
            assert!(bad.parse::<UtcTime>().is_err(), "{bad}");
        }
    }

    #[test]
    fn keys_start_at_awslogs_whatever_the_root() {
        let root = Path::new("/data/trail/AWSLogs/o-abc/111122223333");
        let path = root.join("CloudTrail/us-east-1/2021/01/02/f.json.gz");
        assert_eq!(
            key_of(root, &path),
            "AWSLogs/o-abc/111122223333/CloudTrail/us-east-1/2021/01/02/f.json.gz"
        );
        assert_eq!(
            key_of(Path::new("/x"), Path::new("/x/a/b.json")),
            "a/b.json"
        );
        assert_eq!(
            key_of(Path::new("/x/b.json"), Path::new("/x/b.json")),
            "b.json"
        );
    }

    #[test]
    fn listing_reports_what_it_does_not_take() {
        let dir = tempfile::tempdir().unwrap();
        let day = dir
            .path()
            .join("AWSLogs/111122223333/CloudTrail/us-east-1/2021/01/02");
        std::fs::create_dir_all(&day).unwrap();
        let name = "111122223333_CloudTrail_us-east-1_20210102T0305Z_AbCdEfGhIjKlMnOp.json.gz";
        std::fs::write(day.join(name), b"x").unwrap();
        std::fs::write(day.join("notes.txt"), b"x").unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink(day.join(name), day.join("link.json.gz")).unwrap();
        let listing = list(dir.path()).unwrap();
        assert_eq!(listing.files.len(), 1);
        assert_eq!(
            listing.files[0].key,
            format!("AWSLogs/111122223333/CloudTrail/us-east-1/2021/01/02/{name}")
        );
        let mut reasons: Vec<_> = listing
            .skipped
            .iter()
            .map(|s| {
                (
                    s.location
                        .to_string()
                        .rsplit('/')
                        .next()
                        .unwrap()
                        .to_string(),
                    s.reason.as_str(),
                )
            })
            .collect();
        reasons.sort();
        let mut expected = vec![("notes.txt".to_string(), "not a CloudTrail file name")];
        if cfg!(unix) {
            expected.insert(
                0,
                ("link.json.gz".to_string(), "symbolic link (not followed)"),
            );
        }
        assert_eq!(reasons, expected);
        let missing = list(&dir.path().join("nope")).unwrap_err().to_string();
        assert!(
            missing.contains("nope") && missing.contains("No such file"),
            "{missing}"
        );
    }

    #[test]
    fn local_listings_come_one_directory_at_a_time_files_first() {
        let dir = tempfile::tempdir().unwrap();
        let logs = dir
            .path()
            .join("AWSLogs/111122223333/CloudTrail/us-east-1/2021/01");
        let name = |day: u8, id: &str| {
            format!("111122223333_CloudTrail_us-east-1_202101{day:02}T0305Z_{id}.json.gz")
        };
        for (day, id) in [(1, "A"), (1, "B"), (2, "C")] {
            let day_dir = logs.join(format!("{day:02}"));
            std::fs::create_dir_all(&day_dir).unwrap();
            std::fs::write(day_dir.join(name(day, id)), b"x").unwrap();
        }
        std::fs::write(dir.path().join(SIGNATURES_FILE), b"{}").unwrap();
        let batches: Vec<Listing> = list_batches(dir.path())
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let shape: Vec<(usize, usize)> = batches
            .iter()
            .map(|b| (b.signatures.len(), b.files.len()))
            .collect();
        // The sidecar at the root comes before every digest and log file.
        assert_eq!(shape, [(1, 0), (0, 2), (0, 1)]);
        assert!(batches[1].files[0].key.ends_with(&name(1, "A")));
        assert_eq!(list(dir.path()).unwrap().files.len(), 3);
        let empty = tempfile::tempdir().unwrap();
        assert_eq!(list_batches(empty.path()).unwrap().count(), 0);
    }

    #[test]
    fn filter_selects_by_every_field() {
        let name = parse_file_name(
            "111122223333_CloudTrail_us-east-1_20210102T0305Z_AbCdEfGhIjKlMnOp.json.gz",
        )
        .unwrap();
        let mut filter = Filter::default();
        assert!(filter.matches(&name));
        filter.accounts = vec!["444455556666".into()];
        assert!(!filter.matches(&name));
        filter.accounts.push("111122223333".into());
        filter.regions = vec!["us-east-1".into()];
        filter.from = Some("2021-01-02T03:05".parse().unwrap());
        filter.until = Some("2021-01-03".parse().unwrap());
        assert!(filter.matches(&name));
        filter.until = Some("2021-01-02T03:05".parse().unwrap());
        assert!(!filter.matches(&name));
    }
}
