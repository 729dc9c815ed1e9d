//! Where an archive lives: a local directory, or a prefix in an S3 bucket.
//!
//! Every read and write of the archive goes through [`ArchiveRoot`] with paths
//! relative to the root (`/`-separated). On a local disk a write is a temporary
//! file, fsync, rename and directory fsync; on S3 a write is one PUT (or one
//! multipart upload), which lands whole or not at all, so the commit protocol is the
//! same on both: parts first, then the commit that names them.

use std::fs::File;
use std::io::Read;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Instant, SystemTime};

use bytes::{Buf, Bytes};
use parquet::file::reader::{ChunkReader, Length};
use tempfile::NamedTempFile;
use trailpack_source::{S3Bucket, S3Options};

use crate::ArchiveError;
use crate::manifest::{META_DIR, sync_dir, synced_temp_file, write_atomic};

/// Objects read at once when many small ones (commits) are needed.
const READ_WAVE: usize = 256;

/// The root of an archive.
#[derive(Debug, Clone)]
pub enum ArchiveRoot {
    /// A local directory.
    Local(PathBuf),
    /// A prefix (without a trailing `/`, maybe empty) in an S3 bucket.
    S3 {
        /// The bucket, opened.
        bucket: Arc<S3Bucket>,
        /// The archive's prefix.
        prefix: String,
        /// The bucket's time when it was first asked, and when that was here.
        clock: Arc<OnceLock<(SystemTime, Instant)>>,
    },
}

/// One object or file found under the root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    /// Its path relative to the root.
    pub path: String,
    /// When it was last written.
    pub modified: Option<SystemTime>,
}

impl From<&Path> for ArchiveRoot {
    fn from(path: &Path) -> Self {
        ArchiveRoot::Local(path.to_path_buf())
    }
}

impl From<&PathBuf> for ArchiveRoot {
    fn from(path: &PathBuf) -> Self {
        ArchiveRoot::Local(path.clone())
    }
}

impl std::fmt::Display for ArchiveRoot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ArchiveRoot::Local(path) => write!(f, "{}", path.display()),
            ArchiveRoot::S3 { bucket, prefix, .. } if prefix.is_empty() => {
                write!(f, "s3://{}", bucket.name())
            }
            ArchiveRoot::S3 { bucket, prefix, .. } => {
                write!(f, "s3://{}/{prefix}", bucket.name())
            }
        }
    }
}

impl ArchiveRoot {
    /// Open an archive location: an `s3://bucket/prefix` URL, or a local path.
    pub fn open(location: &str, s3: &S3Options) -> Result<ArchiveRoot, ArchiveError> {
        if !location.starts_with("s3://") {
            return Ok(ArchiveRoot::Local(PathBuf::from(location)));
        }
        let invalid = |e: trailpack_source::SourceError| ArchiveError::Options(e.to_string());
        let (bucket, prefix) = trailpack_source::parse_url(location).map_err(invalid)?;
        Ok(ArchiveRoot::S3 {
            bucket: S3Bucket::open(&bucket, s3).map_err(invalid)?,
            prefix,
            clock: Arc::default(),
        })
    }

    /// The local directory, when the archive is local.
    pub fn local(&self) -> Option<&Path> {
        match self {
            ArchiveRoot::Local(path) => Some(path),
            ArchiveRoot::S3 { .. } => None,
        }
    }

    /// Where `relative` is, for messages: a local path or an `s3://` URL.
    pub fn locate(&self, relative: &str) -> PathBuf {
        match self {
            ArchiveRoot::Local(path) => path.join(relative),
            ArchiveRoot::S3 { .. } => PathBuf::from(format!("{self}/{relative}")),
        }
    }

    fn key(&self, relative: &str) -> String {
        match self {
            ArchiveRoot::S3 { prefix, .. } if !prefix.is_empty() && !relative.is_empty() => {
                format!("{prefix}/{relative}")
            }
            ArchiveRoot::S3 { prefix, .. } if relative.is_empty() => prefix.clone(),
            _ => relative.to_string(),
        }
    }

    fn error(&self, relative: &str, error: std::io::Error) -> ArchiveError {
        ArchiveError::io(&self.locate(relative), error)
    }

    /// The bytes at `relative`, or `None` when there is nothing there.
    pub fn read(&self, relative: &str) -> Result<Option<Bytes>, ArchiveError> {
        let read = match self {
            ArchiveRoot::Local(path) => std::fs::read(path.join(relative)).map(Bytes::from),
            ArchiveRoot::S3 { bucket, .. } => bucket.get(&self.key(relative)),
        };
        match read {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(self.error(relative, e)),
        }
    }

    /// The bytes of each of `relatives`, which must exist, read [`READ_WAVE`] at a
    /// time and handed to `each` in order.
    pub fn read_each(
        &self,
        relatives: &[String],
        mut each: impl FnMut(&str, Bytes) -> Result<(), ArchiveError>,
    ) -> Result<(), ArchiveError> {
        use rayon::prelude::*;
        for wave in relatives.chunks(READ_WAVE) {
            let read: Vec<std::io::Result<Bytes>> = match self {
                ArchiveRoot::Local(path) => wave
                    .par_iter()
                    .map(|relative| std::fs::read(path.join(relative)).map(Bytes::from))
                    .collect(),
                ArchiveRoot::S3 { bucket, .. } => {
                    let keys: Vec<String> = wave.iter().map(|r| self.key(r)).collect();
                    bucket.get_all(&keys)
                }
            };
            for (relative, bytes) in wave.iter().zip(read) {
                each(relative, bytes.map_err(|e| self.error(relative, e))?)?;
            }
        }
        Ok(())
    }

    /// Whether the directory `relative` exists (on S3: holds any object).
    pub fn has_dir(&self, relative: &str) -> Result<bool, ArchiveError> {
        match self {
            ArchiveRoot::Local(root) => Ok(root.join(relative).is_dir()),
            ArchiveRoot::S3 { bucket, .. } => bucket
                .any_under(&self.key(relative))
                .map_err(|e| self.error(relative, e)),
        }
    }

    /// Every file outside [`META_DIR`]: the partitions and their parts, and
    /// whatever else was put there.
    pub fn list_outside_meta(&self) -> Result<Vec<Listed>, ArchiveError> {
        let dirs: Vec<String> = match self {
            ArchiveRoot::Local(root) => match std::fs::read_dir(root) {
                Ok(entries) => entries
                    .flatten()
                    .filter(|entry| entry.file_type().is_ok_and(|t| t.is_dir()))
                    .map(|entry| entry.file_name().to_string_lossy().into_owned())
                    .collect(),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
                Err(e) => return Err(ArchiveError::io(root, e)),
            },
            ArchiveRoot::S3 { bucket, prefix, .. } => {
                let strip = if prefix.is_empty() {
                    0
                } else {
                    prefix.len() + 1
                };
                bucket
                    .list_dirs(prefix)
                    .map_err(|e| self.error("", e))?
                    .into_iter()
                    .filter_map(|dir| dir.get(strip..).map(str::to_string))
                    .collect()
            }
        };
        let mut listed = Vec::new();
        for dir in dirs.iter().filter(|dir| dir.as_str() != META_DIR) {
            listed.extend(self.list(dir)?);
        }
        listed.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(listed)
    }

    /// Every file under the directory `relative` (recursively), sorted by path.
    /// A missing directory lists as empty.
    pub fn list(&self, relative: &str) -> Result<Vec<Listed>, ArchiveError> {
        match self {
            ArchiveRoot::Local(root) => {
                let dir = root.join(relative);
                if !dir.is_dir() {
                    return Ok(Vec::new());
                }
                let mut listed = Vec::new();
                let mut stack = vec![dir];
                while let Some(dir) = stack.pop() {
                    let entries = std::fs::read_dir(&dir).map_err(|e| ArchiveError::io(&dir, e))?;
                    for entry in entries {
                        let entry = entry.map_err(|e| ArchiveError::io(&dir, e))?;
                        let path = entry.path();
                        let Ok(file_type) = entry.file_type() else {
                            continue;
                        };
                        if file_type.is_dir() {
                            stack.push(path);
                        } else if let Ok(relative) = path.strip_prefix(root) {
                            let components: Vec<_> = relative
                                .components()
                                .map(|c| c.as_os_str().to_string_lossy())
                                .collect();
                            listed.push(Listed {
                                path: components.join("/"),
                                modified: entry.metadata().and_then(|m| m.modified()).ok(),
                            });
                        }
                    }
                }
                listed.sort_by(|a, b| a.path.cmp(&b.path));
                Ok(listed)
            }
            ArchiveRoot::S3 { bucket, prefix, .. } => {
                let key = self.key(relative.trim_end_matches('/'));
                let strip = if prefix.is_empty() {
                    0
                } else {
                    prefix.len() + 1
                };
                let objects = bucket.list_all(&key).map_err(|e| self.error(relative, e))?;
                Ok(objects
                    .into_iter()
                    .filter_map(|object| {
                        Some(Listed {
                            path: object.key.get(strip..)?.to_string(),
                            modified: Some(object.last_modified),
                        })
                    })
                    .collect())
            }
        }
    }

    /// The time of the store's clock, which dates what [`ArchiveRoot::list`] finds:
    /// the local clock for a directory; for S3, the bucket's (S3 stamps objects with
    /// its own time), measured once with a probe object and advanced by the local
    /// monotonic clock, so that a local clock that is off never ages an object.
    pub fn now(&self) -> Result<SystemTime, ArchiveError> {
        let ArchiveRoot::S3 { bucket, clock, .. } = self else {
            return Ok(SystemTime::now());
        };
        if let Some((then, at)) = clock.get() {
            return Ok(*then + at.elapsed());
        }
        let probe = format!("{META_DIR}/clock-{}", unique_name());
        let then = bucket
            .server_time(&self.key(&probe))
            .map_err(|e| self.error(&probe, e))?;
        let (then, at) = clock.get_or_init(|| (then, Instant::now()));
        Ok(*then + at.elapsed())
    }

    /// Store `bytes` at `relative` durably, whole or not at all.
    pub fn write(&self, relative: &str, bytes: &[u8]) -> Result<(), ArchiveError> {
        match self {
            ArchiveRoot::Local(root) => write_atomic(&root.join(relative), bytes),
            ArchiveRoot::S3 { bucket, .. } => bucket
                .put(&self.key(relative), Bytes::copy_from_slice(bytes))
                .map_err(|e| self.error(relative, e)),
        }
    }

    /// Store `bytes` at `relative` only if nothing is there yet; `false` when
    /// something is. On S3 this is a conditional PUT (`If-None-Match: *`).
    pub fn create(&self, relative: &str, bytes: &[u8]) -> Result<bool, ArchiveError> {
        let created = match self {
            ArchiveRoot::Local(root) => {
                let path = root.join(relative);
                let dir = path.parent().unwrap_or(root);
                let temp = synced_temp_file(dir, bytes)?;
                // A hard link fails if the name exists, and the file appears whole.
                let linked = std::fs::hard_link(temp.path(), &path);
                if linked.is_ok() {
                    sync_dir(dir)?;
                }
                linked
            }
            ArchiveRoot::S3 { bucket, .. } => {
                bucket.put_if_absent(&self.key(relative), Bytes::copy_from_slice(bytes))
            }
        };
        match created {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
            Err(e) => Err(self.error(relative, e)),
        }
    }

    /// A temporary file to write a new file into, to be stored with
    /// [`ArchiveRoot::persist`]: beside its final place on a local disk, so that the
    /// rename stays on one filesystem; in the system's temporary directory (`TMPDIR`)
    /// for S3.
    pub(crate) fn temp_file(&self, relative_dir: &str) -> Result<NamedTempFile, ArchiveError> {
        let dir = match self {
            ArchiveRoot::Local(root) => {
                let dir = root.join(relative_dir);
                std::fs::create_dir_all(&dir).map_err(|e| ArchiveError::io(&dir, e))?;
                dir
            }
            ArchiveRoot::S3 { .. } => std::env::temp_dir(),
        };
        tempfile::Builder::new()
            .prefix(".tmp-part-")
            .tempfile_in(&dir)
            .map_err(|e| ArchiveError::io(&dir, e))
    }

    /// Store a finished temporary file at `relative`: fsync, rename and directory
    /// fsync on a local disk; an upload to S3.
    pub(crate) fn persist(&self, temp: NamedTempFile, relative: &str) -> Result<(), ArchiveError> {
        match self {
            ArchiveRoot::Local(root) => {
                let path = root.join(relative);
                temp.as_file()
                    .sync_all()
                    .map_err(|e| ArchiveError::io(temp.path(), e))?;
                temp.persist(&path)
                    .map_err(|e| ArchiveError::io(&path, e.error))?;
                sync_dir(path.parent().unwrap_or(root))
            }
            ArchiveRoot::S3 { bucket, .. } => bucket
                .upload(&self.key(relative), temp.path())
                .map_err(|e| self.error(relative, e)),
        }
    }

    /// Delete the file at `relative`; a missing file is not an error.
    pub fn delete(&self, relative: &str) -> Result<(), ArchiveError> {
        let deleted = match self {
            ArchiveRoot::Local(root) => match std::fs::remove_file(root.join(relative)) {
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                other => other,
            },
            ArchiveRoot::S3 { bucket, .. } => bucket.delete_object(&self.key(relative)),
        };
        deleted.map_err(|e| self.error(relative, e))
    }

    /// Open a part of `len` bytes for a query: the file itself, or on S3 a reader by
    /// byte ranges, with the footer (the last [`FOOTER_PREFETCH`] bytes) fetched.
    pub(crate) fn open_part_ranged(
        &self,
        relative: &str,
        len: u64,
    ) -> Result<PartReader, ArchiveError> {
        match self {
            ArchiveRoot::Local(_) => self.open_part(relative),
            ArchiveRoot::S3 { bucket, .. } => {
                let part = PartReader::Remote(Arc::new(RemotePart {
                    bucket: Arc::clone(bucket),
                    key: self.key(relative),
                    len,
                    fetched: Mutex::new(Vec::new()),
                    bytes_fetched: AtomicU64::new(0),
                }));
                part.prefetch(std::iter::once(len.saturating_sub(FOOTER_PREFETCH)..len))
                    .map_err(|e| ArchiveError::Parquet {
                        path: self.locate(relative),
                        error: e,
                    })?;
                Ok(part)
            }
        }
    }

    /// Open a part for reading whole: the file itself, or on S3 the whole object,
    /// fetched once.
    pub(crate) fn open_part(&self, relative: &str) -> Result<PartReader, ArchiveError> {
        match self {
            ArchiveRoot::Local(root) => {
                let path = root.join(relative);
                File::open(&path)
                    .map(PartReader::File)
                    .map_err(|e| ArchiveError::io(&path, e))
            }
            ArchiveRoot::S3 { .. } => match self.read(relative)? {
                Some(bytes) => Ok(PartReader::Fetched(bytes)),
                None => Err(self.error(
                    relative,
                    std::io::Error::new(std::io::ErrorKind::NotFound, "no such object"),
                )),
            },
        }
    }
}

/// A name no other call returns, on this machine or another: the time in
/// nanoseconds, the process and a counter.
pub(crate) fn unique_name() -> String {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let count = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("{nanos}-{}-{count}", std::process::id())
}

/// Bytes at the end of a part on S3 fetched when it is opened: its footer, in one
/// request, for the parts this project writes.
const FOOTER_PREFETCH: u64 = 256 << 10;
/// The least a read that missed the fetched ranges fetches.
const MIN_FETCH: u64 = 64 << 10;

/// A part open for reading.
#[derive(Debug)]
pub(crate) enum PartReader {
    /// A local file.
    File(File),
    /// An object's bytes.
    Fetched(Bytes),
    /// An object on S3, read by byte ranges.
    Remote(Arc<RemotePart>),
}

/// A part on S3 read by byte ranges. A query fetches the ranges it is about to read
/// together ([`PartReader::prefetch`]: the footer, bloom filters, filter columns,
/// then the pages of matching rows), concurrently and coalesced; anything else the
/// Parquet reader asks for is fetched on demand, at least [`MIN_FETCH`] at a time.
#[derive(Debug)]
pub(crate) struct RemotePart {
    bucket: Arc<S3Bucket>,
    key: String,
    len: u64,
    /// Fetched ranges: start, bytes, and whether they hold whole Parquet structures
    /// (chunks, pages, bloom filters, the page index, the file's end) rather than
    /// a window that a page header may cross the end of.
    fetched: Mutex<Vec<(u64, Bytes, bool)>>,
    bytes_fetched: AtomicU64,
}

impl RemotePart {
    /// The fetched bytes that hold `start..start + length`, if any.
    fn cached(&self, start: u64, length: u64) -> Option<Bytes> {
        let fetched = self.fetched.lock().expect("fetched ranges");
        fetched.iter().find_map(|(from, bytes, _)| {
            let end = from + bytes.len() as u64;
            (*from <= start && start + length <= end)
                .then(|| bytes.slice((start - from) as usize..(start - from + length) as usize))
        })
    }

    /// The fetched bytes from `start` on that a reader of unknown length (a page
    /// header) may use: the rest of a whole structure, of the file, or at least
    /// half of [`MIN_FETCH`] of a window.
    fn readable_from(&self, start: u64) -> Option<Bytes> {
        let fetched = self.fetched.lock().expect("fetched ranges");
        fetched.iter().find_map(|(from, bytes, whole)| {
            let end = from + bytes.len() as u64;
            let usable = *whole || end == self.len || end.saturating_sub(start) >= MIN_FETCH / 2;
            (*from <= start && start < end && usable)
                .then(|| bytes.slice((start - from) as usize..))
        })
    }

    /// Fetch `ranges` that are not fetched yet; `whole` says what they hold (see
    /// [`RemotePart::fetched`]).
    fn fetch(
        &self,
        ranges: impl IntoIterator<Item = Range<u64>>,
        whole: bool,
    ) -> parquet::errors::Result<()> {
        let missing: Vec<Range<u64>> = ranges
            .into_iter()
            .map(|r| r.start.min(self.len)..r.end.min(self.len))
            .filter(|r| !r.is_empty() && self.cached(r.start, r.end - r.start).is_none())
            .collect();
        let bytes = self
            .bucket
            .get_ranges(&self.key, &missing)
            .map_err(|e| parquet::errors::ParquetError::External(Box::new(e)))?;
        let mut fetched = self.fetched.lock().expect("fetched ranges");
        for (range, bytes) in missing.into_iter().zip(bytes) {
            self.bytes_fetched
                .fetch_add(bytes.len() as u64, Ordering::Relaxed);
            fetched.push((range.start, bytes, whole));
        }
        Ok(())
    }

    fn get_bytes(&self, start: u64, length: usize) -> parquet::errors::Result<Bytes> {
        let length = length as u64;
        if start + length > self.len {
            return Err(parquet::errors::ParquetError::EOF(format!(
                "{}: {length} bytes at {start} are past the end ({} bytes)",
                self.key, self.len
            )));
        }
        if let Some(bytes) = self.cached(start, length) {
            return Ok(bytes);
        }
        self.fetch(std::iter::once(start..start + length.max(MIN_FETCH)), false)?;
        self.cached(start, length).ok_or_else(|| {
            parquet::errors::ParquetError::General(format!("{}: short range read", self.key))
        })
    }
}

impl PartReader {
    /// Another reader of the same part.
    pub(crate) fn try_clone(&self) -> std::io::Result<PartReader> {
        Ok(match self {
            PartReader::File(file) => PartReader::File(file.try_clone()?),
            PartReader::Fetched(bytes) => PartReader::Fetched(bytes.clone()),
            PartReader::Remote(part) => PartReader::Remote(Arc::clone(part)),
        })
    }

    /// Fetch `ranges` ahead of reading them, together: only a part on S3 needs it.
    pub(crate) fn prefetch(
        &self,
        ranges: impl IntoIterator<Item = Range<u64>>,
    ) -> parquet::errors::Result<()> {
        match self {
            PartReader::Remote(part) => part.fetch(ranges, true),
            PartReader::File(_) | PartReader::Fetched(_) => Ok(()),
        }
    }

    /// Bytes fetched from S3 so far (0 for other parts).
    pub(crate) fn bytes_fetched(&self) -> u64 {
        match self {
            PartReader::Remote(part) => part.bytes_fetched.load(Ordering::Relaxed),
            PartReader::File(_) | PartReader::Fetched(_) => 0,
        }
    }
}

impl Length for PartReader {
    fn len(&self) -> u64 {
        match self {
            PartReader::File(file) => Length::len(file),
            PartReader::Fetched(bytes) => bytes.len() as u64,
            PartReader::Remote(part) => part.len,
        }
    }
}

impl ChunkReader for PartReader {
    type T = Box<dyn Read + Send>;

    fn get_read(&self, start: u64) -> parquet::errors::Result<Self::T> {
        Ok(match self {
            PartReader::File(file) => Box::new(file.get_read(start)?),
            PartReader::Fetched(bytes) => Box::new(bytes.get_read(start)?),
            // Page headers and the footer's length are read this way; a reader over
            // the rest of the file is never needed whole.
            PartReader::Remote(part) => {
                if part.readable_from(start).is_none() {
                    let end = part.len.min(start + MIN_FETCH);
                    part.fetch(std::iter::once(start..end), false)?;
                }
                let bytes = part.readable_from(start).ok_or_else(|| {
                    parquet::errors::ParquetError::EOF(format!(
                        "{}: nothing to read at {start} of {} bytes",
                        part.key, part.len
                    ))
                })?;
                Box::new(bytes.reader())
            }
        })
    }

    fn get_bytes(&self, start: u64, length: usize) -> parquet::errors::Result<Bytes> {
        match self {
            PartReader::File(file) => file.get_bytes(start, length),
            PartReader::Fetched(bytes) => bytes.get_bytes(start, length),
            PartReader::Remote(part) => part.get_bytes(start, length),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_roots_list_write_read_and_delete_relative_paths() {
        let dir = tempfile::tempdir().unwrap();
        let root = ArchiveRoot::from(dir.path());
        assert!(root.list("a").unwrap().is_empty());
        root.write("a/b/one.json", b"1").unwrap();
        root.write("a/two.json", b"22").unwrap();
        let listed: Vec<String> = root
            .list("a")
            .unwrap()
            .into_iter()
            .map(|l| l.path)
            .collect();
        assert_eq!(listed, ["a/b/one.json", "a/two.json"]);
        assert_eq!(root.read("a/two.json").unwrap().unwrap(), &b"22"[..]);
        assert_eq!(root.read("a/none.json").unwrap(), None);
        let mut seen = Vec::new();
        root.read_each(&listed, |path, bytes| {
            seen.push((path.to_string(), bytes.len()));
            Ok(())
        })
        .unwrap();
        assert_eq!(seen, [("a/b/one.json".into(), 1), ("a/two.json".into(), 2)]);
        root.delete("a/two.json").unwrap();
        root.delete("a/two.json").unwrap();
        assert!(root.create("a/lock", b"first").unwrap());
        assert!(!root.create("a/lock", b"second").unwrap());
        assert_eq!(root.read("a/lock").unwrap().unwrap(), &b"first"[..]);
        assert_eq!(root.read("a/two.json").unwrap(), None);
        let missing = root.read_each(&["a/two.json".to_string()], |_, _| Ok(()));
        assert!(missing.unwrap_err().to_string().contains("two.json"));
    }

    #[test]
    fn partitions_are_listed_apart_from_trailpacks_own_files() {
        let dir = tempfile::tempdir().unwrap();
        let root = ArchiveRoot::from(dir.path());
        assert!(root.list_outside_meta().unwrap().is_empty());
        assert!(!root.has_dir("_trailpack/commits").unwrap());
        root.write("_trailpack/commits/1.json", b"{}").unwrap();
        root.write("account=1/region=r/part-a.parquet", b"a")
            .unwrap();
        root.write("stray/part-b.parquet", b"b").unwrap();
        let listed: Vec<String> = root
            .list_outside_meta()
            .unwrap()
            .into_iter()
            .map(|l| l.path)
            .collect();
        assert_eq!(
            listed,
            ["account=1/region=r/part-a.parquet", "stray/part-b.parquet"]
        );
        assert!(root.has_dir("_trailpack/commits").unwrap());
    }

    #[test]
    fn remote_parts_serve_reads_from_fetched_ranges() {
        let options = S3Options {
            endpoint: Some("http://127.0.0.1:9".into()),
            ..S3Options::default()
        };
        let ArchiveRoot::S3 { bucket, .. } = ArchiveRoot::open("s3://b/p", &options).unwrap()
        else {
            unreachable!()
        };
        let bytes =
            |from: u64, to: u64| Bytes::from((from..to).map(|i| i as u8).collect::<Vec<_>>());
        let part = RemotePart {
            bucket,
            key: "p/part.parquet".into(),
            len: 100_000,
            fetched: Mutex::new(vec![
                // A whole column chunk, a short window, and the file's end.
                (100, bytes(100, 300), true),
                (500, bytes(500, 540), false),
                (99_960, bytes(99_960, 100_000), false),
            ]),
            bytes_fetched: AtomicU64::new(0),
        };
        assert_eq!(part.cached(150, 50).unwrap(), bytes(150, 200));
        assert!(part.cached(250, 100).is_none());
        // A page header may be read from anywhere in a whole structure, or at the
        // end of the file, but not near the end of a window.
        assert_eq!(part.readable_from(250).unwrap(), bytes(250, 300));
        assert!(part.readable_from(510).is_none());
        assert_eq!(part.readable_from(99_990).unwrap(), bytes(99_990, 100_000));
        assert!(part.readable_from(300).is_none());
        // Past the end is an error without a request.
        assert!(part.get_bytes(99_990, 20).is_err());
        assert_eq!(part.get_bytes(120, 10).unwrap(), bytes(120, 130));
        assert_eq!(part.bytes_fetched.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn part_readers_read_the_same_bytes_from_files_and_memory() {
        let dir = tempfile::tempdir().unwrap();
        let root = ArchiveRoot::from(dir.path());
        root.write("p/part.parquet", b"0123456789").unwrap();
        let file = root.open_part("p/part.parquet").unwrap();
        let fetched = PartReader::Fetched(Bytes::from_static(b"0123456789"));
        for reader in [file.try_clone().unwrap(), fetched] {
            assert_eq!(Length::len(&reader), 10);
            assert_eq!(reader.get_bytes(2, 3).unwrap(), &b"234"[..]);
            let mut rest = String::new();
            reader
                .get_read(7)
                .unwrap()
                .read_to_string(&mut rest)
                .unwrap();
            assert_eq!(rest, "789");
        }
        let missing = root.open_part("p/none.parquet").unwrap_err().to_string();
        assert!(missing.contains("none.parquet"), "{missing}");
    }

    #[test]
    fn s3_locations_name_bucket_and_prefix() {
        let options = S3Options {
            endpoint: Some("http://127.0.0.1:9".into()),
            ..S3Options::default()
        };
        let root = ArchiveRoot::open("s3://bucket/archive/", &options).unwrap();
        assert_eq!(root.to_string(), "s3://bucket/archive");
        assert_eq!(root.key("_trailpack/x"), "archive/_trailpack/x");
        assert_eq!(
            root.locate("_trailpack/x"),
            PathBuf::from("s3://bucket/archive/_trailpack/x")
        );
        assert!(root.local().is_none());
        let bare = ArchiveRoot::open("s3://bucket", &options).unwrap();
        assert_eq!(bare.key("x"), "x");
        assert!(ArchiveRoot::open("s3:///x", &options).is_err());
        let local = ArchiveRoot::open("some/dir", &options).unwrap();
        assert_eq!(local.local(), Some(Path::new("some/dir")));
    }
}
