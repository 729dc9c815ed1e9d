//! [`ArchiveRoot`]: a local directory or an S3 prefix, with paths relative to it.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::{Instant, SystemTime};

use bytes::Bytes;
use tempfile::NamedTempFile;

use crate::durable::{sync_dir, synced_temp_file, unique_name, write_atomic};
use crate::{S3Bucket, S3Options, StoreError};

/// Objects read at once when many small ones are needed.
const READ_WAVE: usize = 256;
/// Where the probes of an S3 store's clock and conditional writes are written (and
/// deleted at once): trailpack's own directory, which readers skip.
const PROBE_DIR: &str = "_trailpack/probe";

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
        /// Whether the store honours conditional writes: probed once.
        conditional: Arc<OnceLock<Result<(), String>>>,
    },
}

/// One object or file found under the root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    /// Its path relative to the root.
    pub path: String,
    /// Its size in bytes.
    pub size: u64,
    /// When it was last written.
    pub modified: Option<SystemTime>,
}

impl Listed {
    /// The last component of its path.
    pub fn name(&self) -> &str {
        self.path.rsplit('/').next().unwrap_or_default()
    }
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
    pub fn open(location: &str, s3: &S3Options) -> Result<ArchiveRoot, StoreError> {
        if !location.starts_with("s3://") {
            return Ok(ArchiveRoot::Local(PathBuf::from(location)));
        }
        let (bucket, prefix) = crate::parse_url(location)?;
        Ok(ArchiveRoot::S3 {
            bucket: S3Bucket::open(&bucket, s3)?,
            prefix,
            clock: Arc::default(),
            conditional: Arc::default(),
        })
    }

    /// The local directory, when the archive is local.
    pub fn local(&self) -> Option<&Path> {
        match self {
            ArchiveRoot::Local(path) => Some(path),
            ArchiveRoot::S3 { .. } => None,
        }
    }

    /// The bucket and key of `relative`, when the archive is on S3.
    pub fn object(&self, relative: &str) -> Option<(&Arc<S3Bucket>, String)> {
        match self {
            ArchiveRoot::Local(_) => None,
            ArchiveRoot::S3 { bucket, .. } => Some((bucket, self.key(relative))),
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

    /// The path relative to the root of an object `key` listed on S3.
    fn relative<'k>(&self, key: &'k str) -> Option<&'k str> {
        match self {
            ArchiveRoot::S3 { prefix, .. } if !prefix.is_empty() => {
                key.strip_prefix(prefix.as_str())?.strip_prefix('/')
            }
            _ => Some(key),
        }
    }

    fn error(&self, relative: &str, error: std::io::Error) -> StoreError {
        StoreError::io(self.locate(relative), error)
    }

    /// The bytes at `relative`, or `None` when there is nothing there.
    pub fn read(&self, relative: &str) -> Result<Option<Bytes>, StoreError> {
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

    /// The last `length` bytes of each of `relatives` (all of a shorter file),
    /// which must exist, read [`READ_WAVE`] at a time and handed to `each` in
    /// order: Parquet footers without the rest of the files.
    pub fn read_tails<E: From<StoreError>>(
        &self,
        relatives: &[String],
        length: u64,
        each: impl FnMut(&str, Bytes) -> Result<(), E>,
    ) -> Result<(), E> {
        self.read_waves(relatives, Some(length), each)
    }

    /// The bytes of each of `relatives`, which must exist, read [`READ_WAVE`] at a
    /// time (in parallel) and handed to `each` in order.
    pub fn read_each<E: From<StoreError>>(
        &self,
        relatives: &[String],
        each: impl FnMut(&str, Bytes) -> Result<(), E>,
    ) -> Result<(), E> {
        self.read_waves(relatives, None, each)
    }

    /// Each of `relatives` whole, or its last `tail` bytes, a wave at a time.
    fn read_waves<E: From<StoreError>>(
        &self,
        relatives: &[String],
        tail: Option<u64>,
        mut each: impl FnMut(&str, Bytes) -> Result<(), E>,
    ) -> Result<(), E> {
        use rayon::prelude::*;
        for wave in relatives.chunks(READ_WAVE) {
            let read: Vec<std::io::Result<Bytes>> = match self {
                ArchiveRoot::Local(path) => wave
                    .par_iter()
                    .map(|relative| {
                        let path = path.join(relative);
                        match tail {
                            Some(length) => read_local_tail(&path, length),
                            None => std::fs::read(path).map(Bytes::from),
                        }
                    })
                    .collect(),
                ArchiveRoot::S3 { bucket, .. } => {
                    let keys: Vec<String> = wave.iter().map(|r| self.key(r)).collect();
                    match tail {
                        Some(length) => bucket.get_tails(&keys, length),
                        None => bucket.get_all(&keys),
                    }
                }
            };
            for (relative, bytes) in wave.iter().zip(read) {
                each(relative, bytes.map_err(|e| self.error(relative, e))?)?;
            }
        }
        Ok(())
    }

    /// The size of the file at `relative`, or `None` when there is none.
    pub fn size(&self, relative: &str) -> Result<Option<u64>, StoreError> {
        match self {
            ArchiveRoot::Local(root) => match std::fs::metadata(root.join(relative)) {
                Ok(meta) => Ok(Some(meta.len())),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(self.error(relative, e)),
            },
            ArchiveRoot::S3 { bucket, .. } => bucket
                .size(&self.key(relative))
                .map_err(|e| self.error(relative, e)),
        }
    }

    /// Whether the directory `relative` holds anything (on S3: any object under it).
    pub fn has_dir(&self, relative: &str) -> Result<bool, StoreError> {
        match self {
            ArchiveRoot::Local(root) => match std::fs::read_dir(root.join(relative)) {
                Ok(mut entries) => Ok(entries.next().is_some()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
                Err(e) if e.kind() == std::io::ErrorKind::NotADirectory => Ok(false),
                Err(e) => Err(self.error(relative, e)),
            },
            ArchiveRoot::S3 { bucket, .. } => bucket
                .any_under(&self.key(relative))
                .map_err(|e| self.error(relative, e)),
        }
    }

    /// The names of the directories directly under `relative` (on S3: the common
    /// prefixes of a delimited listing), sorted.
    pub fn list_dirs(&self, relative: &str) -> Result<Vec<String>, StoreError> {
        let mut names: Vec<String> = match self {
            ArchiveRoot::Local(root) => match std::fs::read_dir(root.join(relative)) {
                Ok(entries) => entries
                    .flatten()
                    .filter(|entry| entry.file_type().is_ok_and(|t| t.is_dir()))
                    .map(|entry| entry.file_name().to_string_lossy().into_owned())
                    .collect(),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
                Err(e) => return Err(self.error(relative, e)),
            },
            ArchiveRoot::S3 { bucket, .. } => bucket
                .list_dirs(&self.key(relative))
                .map_err(|e| self.error(relative, e))?
                .into_iter()
                .filter_map(|dir| dir.rsplit('/').next().map(str::to_string))
                .collect(),
        };
        names.sort();
        Ok(names)
    }

    /// Every file under the directory `relative` (recursively), sorted by path.
    /// A missing directory lists as empty.
    pub fn list(&self, relative: &str) -> Result<Vec<Listed>, StoreError> {
        match self {
            ArchiveRoot::Local(root) => {
                let mut listed = Vec::new();
                let mut stack = vec![root.join(relative)];
                while let Some(dir) = stack.pop() {
                    let entries = match std::fs::read_dir(&dir) {
                        Ok(entries) => entries,
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                        Err(e) => return Err(StoreError::io(&dir, e)),
                    };
                    for entry in entries {
                        let entry = entry.map_err(|e| StoreError::io(&dir, e))?;
                        let Ok(file_type) = entry.file_type() else {
                            continue;
                        };
                        if file_type.is_dir() {
                            stack.push(entry.path());
                        } else {
                            listed.extend(local_listed(root, &entry));
                        }
                    }
                }
                listed.sort_by(|a, b| a.path.cmp(&b.path));
                Ok(listed)
            }
            ArchiveRoot::S3 { bucket, .. } => {
                let key = self.key(relative.trim_end_matches('/'));
                let objects = bucket.list_all(&key).map_err(|e| self.error(relative, e))?;
                Ok(objects
                    .into_iter()
                    .filter_map(|object| {
                        Some(Listed {
                            path: self.relative(&object.key)?.to_string(),
                            size: object.size,
                            modified: Some(object.last_modified),
                        })
                    })
                    .collect())
            }
        }
    }

    /// The files directly in the flat directory `dir` whose names sort after
    /// `after`, sorted: one request on S3 however long the directory is (the
    /// Delta log, read from its last checkpoint on).
    pub fn list_after(&self, dir: &str, after: &str) -> Result<Vec<Listed>, StoreError> {
        match self {
            ArchiveRoot::Local(root) => {
                let path = root.join(dir);
                let entries = match std::fs::read_dir(&path) {
                    Ok(entries) => entries,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
                    Err(e) => return Err(StoreError::io(&path, e)),
                };
                let mut listed = Vec::new();
                for entry in entries {
                    let entry = entry.map_err(|e| StoreError::io(&path, e))?;
                    let is_file = entry.file_type().is_ok_and(|t| t.is_file());
                    if is_file && entry.file_name().to_string_lossy().as_ref() > after {
                        listed.extend(local_listed(root, &entry));
                    }
                }
                listed.sort_by(|a, b| a.path.cmp(&b.path));
                Ok(listed)
            }
            ArchiveRoot::S3 { bucket, .. } => {
                let prefix = self.key(dir);
                let objects = bucket
                    .list_after(&prefix, &format!("{prefix}/{after}"))
                    .map_err(|e| self.error(dir, e))?;
                Ok(objects
                    .into_iter()
                    .filter_map(|object| {
                        let path = self.relative(&object.key)?;
                        // Only the directory's own files, as on disk.
                        let name = path.strip_prefix(dir)?.strip_prefix('/')?;
                        (!name.contains('/')).then(|| Listed {
                            path: path.to_string(),
                            size: object.size,
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
    pub fn now(&self) -> Result<SystemTime, StoreError> {
        let ArchiveRoot::S3 { bucket, clock, .. } = self else {
            return Ok(SystemTime::now());
        };
        if let Some((then, at)) = clock.get() {
            return Ok(*then + at.elapsed());
        }
        let probe = format!("{PROBE_DIR}/clock-{}", unique_name());
        let then = bucket
            .server_time(&self.key(&probe))
            .map_err(|e| self.error(&probe, e))?;
        let (then, at) = clock.get_or_init(|| (then, Instant::now()));
        Ok(*then + at.elapsed())
    }

    /// Fail unless the store honours put-if-absent, which [`ArchiveRoot::create`]
    /// relies on: always on a local disk; on S3 a probe object is created twice
    /// (the second must be refused) and deleted, once per root.
    pub fn check_conditional_writes(&self) -> Result<(), StoreError> {
        let ArchiveRoot::S3 {
            bucket,
            conditional,
            ..
        } = self
        else {
            return Ok(());
        };
        let outcome = conditional.get_or_init(|| {
            let probe = self.key(&format!("{PROBE_DIR}/conditional-{}", unique_name()));
            let first = bucket.put_if_absent(&probe, Bytes::from_static(b"1"));
            let second = first
                .as_ref()
                .ok()
                .map(|()| bucket.put_if_absent(&probe, Bytes::from_static(b"2")));
            let _ = bucket.delete_object(&probe);
            match (first, second) {
                (Err(e), _) => Err(format!("a conditional PUT failed: {e}")),
                (Ok(()), Some(Ok(()))) => {
                    Err("a second conditional PUT of the same key succeeded".into())
                }
                (Ok(()), Some(Err(e))) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
                (Ok(()), Some(Err(e))) => Err(format!("a second conditional PUT failed: {e}")),
                (Ok(()), None) => Ok(()),
            }
        });
        outcome
            .clone()
            .map_err(|detail| StoreError::NoConditionalWrites {
                url: self.to_string(),
                detail,
            })
    }

    /// Store `bytes` at `relative` durably, whole or not at all.
    pub fn write(&self, relative: &str, bytes: &[u8]) -> Result<(), StoreError> {
        match self {
            ArchiveRoot::Local(root) => write_atomic(&root.join(relative), bytes),
            ArchiveRoot::S3 { bucket, .. } => bucket
                .put(&self.key(relative), Bytes::copy_from_slice(bytes))
                .map_err(|e| self.error(relative, e)),
        }
    }

    /// Store `bytes` at `relative` only if nothing is there yet; `false` when
    /// something is. On a local disk the file appears whole (a hard link of a
    /// synced temporary file); on S3 this is a conditional PUT (`If-None-Match: *`).
    pub fn create(&self, relative: &str, bytes: &[u8]) -> Result<bool, StoreError> {
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
    /// [`ArchiveRoot::persist`]: in `relative_dir` on a local disk (which must be on
    /// the same filesystem as the final place); in the system's temporary directory
    /// (`TMPDIR`) for S3.
    pub fn temp_file(&self, relative_dir: &str) -> Result<NamedTempFile, StoreError> {
        let dir = match self {
            ArchiveRoot::Local(root) => {
                let dir = root.join(relative_dir);
                std::fs::create_dir_all(&dir).map_err(|e| StoreError::io(&dir, e))?;
                dir
            }
            ArchiveRoot::S3 { .. } => std::env::temp_dir(),
        };
        tempfile::Builder::new()
            .prefix(".tmp-")
            .tempfile_in(&dir)
            .map_err(|e| StoreError::io(&dir, e))
    }

    /// Store a finished temporary file at `relative`: fsync, rename and directory
    /// fsync on a local disk; an upload on S3 (one PUT, or a multipart upload above
    /// the bucket's threshold).
    pub fn persist(&self, temp: NamedTempFile, relative: &str) -> Result<(), StoreError> {
        match self {
            ArchiveRoot::Local(root) => {
                let path = root.join(relative);
                let dir = path.parent().unwrap_or(root);
                std::fs::create_dir_all(dir).map_err(|e| StoreError::io(dir, e))?;
                temp.as_file()
                    .sync_all()
                    .map_err(|e| StoreError::io(temp.path(), e))?;
                temp.persist(&path)
                    .map_err(|e| StoreError::io(&path, e.error))?;
                sync_dir(dir)
            }
            ArchiveRoot::S3 { bucket, .. } => bucket
                .upload(&self.key(relative), temp.path())
                .map_err(|e| self.error(relative, e)),
        }
    }

    /// Move the file at `from` to `to`, replacing anything there; `false` when
    /// there is nothing at `from`. A rename and two directory fsyncs on a local
    /// disk; a server-side copy and a delete on S3 (for small files).
    pub fn rename(&self, from: &str, to: &str) -> Result<bool, StoreError> {
        match self {
            ArchiveRoot::Local(root) => {
                let (source, target) = (root.join(from), root.join(to));
                let dir = target.parent().unwrap_or(root);
                std::fs::create_dir_all(dir).map_err(|e| StoreError::io(dir, e))?;
                match std::fs::rename(&source, &target) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
                    Err(e) => return Err(StoreError::io(&source, e)),
                }
                sync_dir(dir)?;
                sync_dir(source.parent().unwrap_or(root))?;
                Ok(true)
            }
            ArchiveRoot::S3 { bucket, .. } => {
                match bucket.copy(&self.key(from), &self.key(to)) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
                    Err(e) => return Err(self.error(from, e)),
                }
                self.delete(from)?;
                Ok(true)
            }
        }
    }

    /// Delete the file at `relative`; a missing file is not an error.
    pub fn delete(&self, relative: &str) -> Result<(), StoreError> {
        let deleted = match self {
            ArchiveRoot::Local(root) => match std::fs::remove_file(root.join(relative)) {
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                other => other,
            },
            ArchiveRoot::S3 { bucket, .. } => bucket.delete_object(&self.key(relative)),
        };
        deleted.map_err(|e| self.error(relative, e))
    }
}

fn read_local_tail(path: &Path, length: u64) -> std::io::Result<Bytes> {
    use std::io::{Read, Seek, SeekFrom};
    let mut file = std::fs::File::open(path)?;
    let size = file.metadata()?.len();
    file.seek(SeekFrom::Start(size.saturating_sub(length)))?;
    let mut bytes = Vec::with_capacity(length.min(size) as usize);
    file.read_to_end(&mut bytes)?;
    Ok(Bytes::from(bytes))
}

/// A local directory entry as listed, with its path relative to `root`.
fn local_listed(root: &Path, entry: &std::fs::DirEntry) -> Option<Listed> {
    let path = entry.path();
    let relative = path.strip_prefix(root).ok()?;
    let components: Vec<_> = relative
        .components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect();
    let metadata = entry.metadata().ok();
    Some(Listed {
        path: components.join("/"),
        size: metadata.as_ref().map_or(0, std::fs::Metadata::len),
        modified: metadata.and_then(|m| m.modified().ok()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paths(listed: Vec<Listed>) -> Vec<String> {
        listed.into_iter().map(|l| l.path).collect()
    }

    #[test]
    fn local_roots_list_write_read_rename_and_delete_relative_paths() {
        let dir = tempfile::tempdir().unwrap();
        let root = ArchiveRoot::from(dir.path());
        assert!(root.list("a").unwrap().is_empty());
        root.write("a/b/one.json", b"1").unwrap();
        root.write("a/two.json", b"22").unwrap();
        let listed = root.list("a").unwrap();
        assert_eq!(listed[1].size, 2);
        let listed = paths(listed);
        assert_eq!(listed, ["a/b/one.json", "a/two.json"]);
        assert_eq!(root.read("a/two.json").unwrap().unwrap(), &b"22"[..]);
        assert_eq!(root.read("a/none.json").unwrap(), None);
        assert_eq!(root.size("a/two.json").unwrap(), Some(2));
        assert_eq!(root.size("a/none.json").unwrap(), None);
        let mut tails = Vec::new();
        let names = ["a/two.json".to_string(), "a/b/one.json".to_string()];
        root.read_tails::<StoreError>(&names, 1, |_, bytes| {
            tails.push(bytes);
            Ok(())
        })
        .unwrap();
        assert_eq!(tails, [&b"2"[..], &b"1"[..]]);
        let mut seen = Vec::new();
        root.read_each::<StoreError>(&listed, |path, bytes| {
            seen.push((path.to_string(), bytes.len()));
            Ok(())
        })
        .unwrap();
        assert_eq!(seen, [("a/b/one.json".into(), 1), ("a/two.json".into(), 2)]);
        assert!(root.rename("a/two.json", "c/d/two.json").unwrap());
        assert!(!root.rename("a/two.json", "c/d/two.json").unwrap());
        assert_eq!(root.read("c/d/two.json").unwrap().unwrap(), &b"22"[..]);
        root.delete("c/d/two.json").unwrap();
        root.delete("c/d/two.json").unwrap();
        assert!(root.create("a/lock", b"first").unwrap());
        assert!(!root.create("a/lock", b"second").unwrap());
        assert_eq!(root.read("a/lock").unwrap().unwrap(), &b"first"[..]);
        let missing = root.read_each::<StoreError>(&["a/two.json".to_string()], |_, _| Ok(()));
        assert!(missing.unwrap_err().to_string().contains("two.json"));
        root.check_conditional_writes().unwrap();
    }

    #[test]
    fn flat_listings_start_after_a_name_and_directories_list_alone() {
        let dir = tempfile::tempdir().unwrap();
        let root = ArchiveRoot::from(dir.path());
        for name in ["01.json", "02.json", "03.checkpoint.parquet", "sub/04.json"] {
            root.write(&format!("_delta_log/{name}"), b"{}").unwrap();
        }
        root.write("account=1/region=r/part-a.parquet", b"a")
            .unwrap();
        assert_eq!(
            paths(root.list_after("_delta_log", "01.json").unwrap()),
            ["_delta_log/02.json", "_delta_log/03.checkpoint.parquet"]
        );
        assert!(root.list_after("missing", "").unwrap().is_empty());
        assert_eq!(root.list_dirs("").unwrap(), ["_delta_log", "account=1"]);
        assert!(root.has_dir("_delta_log").unwrap());
        assert!(!root.has_dir("_trailpack").unwrap());
    }

    #[test]
    fn s3_locations_name_bucket_and_prefix() {
        let options = S3Options {
            endpoint: Some("http://127.0.0.1:9".into()),
            unsigned: true,
            ..S3Options::default()
        };
        let root = ArchiveRoot::open("s3://bucket/archive/", &options).unwrap();
        assert_eq!(root.to_string(), "s3://bucket/archive");
        assert_eq!(root.key("_trailpack/x"), "archive/_trailpack/x");
        assert_eq!(root.relative("archive/_trailpack/x"), Some("_trailpack/x"));
        assert_eq!(root.relative("other/x"), None);
        assert_eq!(
            root.locate("_trailpack/x"),
            PathBuf::from("s3://bucket/archive/_trailpack/x")
        );
        assert!(root.local().is_none());
        assert_eq!(root.object("x").unwrap().1, "archive/x");
        let bare = ArchiveRoot::open("s3://bucket", &options).unwrap();
        assert_eq!(bare.key("x"), "x");
        assert!(ArchiveRoot::open("s3:///x", &options).is_err());
        let local = ArchiveRoot::open("some/dir", &options).unwrap();
        assert_eq!(local.local(), Some(Path::new("some/dir")));
    }
}
