//! `restore`: the archived files, rebuilt byte for byte under their original keys.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Component, Path, PathBuf};
use std::sync::Mutex;

use rayon::prelude::*;
use serde::Serialize;
use trailpack_parts::{assemble_checked, rebuild_files};
use trailpack_source::Filter;
use trailpack_store::{ArchiveRoot, sync_written, write_renamed};
use trailpack_table::index::{indexed_partitions, load_partition};
use trailpack_table::{EntryStatus, IndexEntry, PartitionKey, Snapshot, Table};

use crate::QueryError;

/// Which archived files to select: by account, region and delivery time, and by
/// key prefix. Empty lists select all.
#[derive(Debug, Clone, Default)]
pub struct FileFilter {
    /// Accounts, regions and delivery times to keep.
    pub files: Filter,
    /// Keep files whose key starts with one of these.
    pub key_prefixes: Vec<String>,
}

impl FileFilter {
    /// Whether `entry` passes the filter.
    pub fn matches(&self, entry: &IndexEntry) -> bool {
        entry.name().is_some_and(|name| self.files.matches(&name))
            && (self.key_prefixes.is_empty()
                || self
                    .key_prefixes
                    .iter()
                    .any(|p| entry.key.starts_with(p.as_str())))
    }
}

/// What a restore wrote.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RestoreReport {
    /// Files written.
    pub files: u64,
    /// Records in them.
    pub records: u64,
    /// Uncompressed bytes of the files written.
    pub raw_bytes: u64,
}

impl RestoreReport {
    fn add(mut self, other: RestoreReport) -> RestoreReport {
        self.files += other.files;
        self.records += other.records;
        self.raw_bytes += other.raw_bytes;
        self
    }
}

/// Parts (or partitions) that `restore` and `verify` read at once from an archive
/// on S3 by default: their GETs are latency-bound, so more of them than cores are
/// in flight.
pub const DEFAULT_REMOTE_JOBS: usize = 8;

/// How a restore writes.
#[derive(Debug, Clone, Default)]
pub struct RestoreOptions {
    /// Write gzipped `.json.gz` files, also for sources that were plain `.json`;
    /// otherwise plain `.json`.
    pub gzip: bool,
    /// Parts rebuilt and written at once; `None`: one per core for a local
    /// archive, [`DEFAULT_REMOTE_JOBS`] for one on S3. Each holds one part
    /// and its rebuilt files in memory.
    pub jobs: Option<usize>,
}

/// The output path of a key under `to`, refusing keys that would escape it.
fn output_path(to: &Path, key: &str, gzip: bool) -> Result<PathBuf, QueryError> {
    let relative = Path::new(key);
    if relative
        .components()
        .any(|c| !matches!(c, Component::Normal(_)))
    {
        return Err(QueryError::Integrity {
            key: key.to_string(),
            reason: "key is not a plain relative path".into(),
        });
    }
    let name = if gzip && !key.ends_with(".gz") {
        format!("{key}.gz")
    } else if gzip {
        key.to_string()
    } else {
        key.strip_suffix(".gz").unwrap_or(key).to_string()
    };
    Ok(to.join(name))
}

/// Rebuild the archived files selected by `filter` under `to`, each at its original
/// key, checking every file's SHA-256 against the index before it is written.
///
/// Partitions and their parts are rebuilt `options.jobs` at a time; each job loads
/// one partition's index or reads one part. Files are renamed into place as they
/// are written and made durable together at the end (one `syncfs(2)` on Linux and
/// an fsync of each directory), not one fsync each.
pub fn restore(
    root: &ArchiveRoot,
    filter: &FileFilter,
    to: &Path,
    options: &RestoreOptions,
) -> Result<RestoreReport, QueryError> {
    let table = Table::open(root)?;
    let snapshot = table.snapshot();
    let wanted = |list: &[String], value: &String| list.is_empty() || list.contains(value);
    let partitions: Vec<_> = indexed_partitions(root)?
        .into_iter()
        .filter(|p| {
            wanted(&filter.files.accounts, &p.account) && wanted(&filter.files.regions, &p.region)
        })
        .collect();
    let written = Written {
        to,
        gzip: options.gzip,
        dirs: Mutex::new(BTreeSet::new()),
    };
    let report = job_pool(root, options.jobs, "restore")?.install(|| {
        partitions
            .par_iter()
            .map(|partition| restore_partition(root, snapshot, partition, filter, &written))
            .try_reduce(RestoreReport::default, |a, b| Ok(a.add(b)))
    })?;
    let dirs = written.dirs.into_inner().unwrap_or_else(|e| e.into_inner());
    if !dirs.is_empty() {
        sync_written(to, dirs.iter().map(PathBuf::as_path))?;
    }
    Ok(report)
}

/// The pool of a read path's jobs: `jobs` threads, or by default one per core for
/// a local archive and [`DEFAULT_REMOTE_JOBS`] for one on S3.
pub(crate) fn job_pool(
    root: &ArchiveRoot,
    jobs: Option<usize>,
    name: &'static str,
) -> Result<rayon::ThreadPool, QueryError> {
    let jobs = jobs.unwrap_or_else(|| match root.local() {
        Some(_) => std::thread::available_parallelism().map_or(1, |n| n.get()),
        None => DEFAULT_REMOTE_JOBS,
    });
    rayon::ThreadPoolBuilder::new()
        .num_threads(jobs.max(1))
        .thread_name(move |i| format!("trailpack-{name}-{i}"))
        .build()
        .map_err(|e| QueryError::Threads(e.to_string()))
}

/// Where restored files go, and the directories written into, to sync at the end.
struct Written<'a> {
    to: &'a Path,
    gzip: bool,
    dirs: Mutex<BTreeSet<PathBuf>>,
}

fn restore_partition(
    root: &ArchiveRoot,
    snapshot: &Snapshot,
    partition: &PartitionKey,
    filter: &FileFilter,
    written: &Written<'_>,
) -> Result<RestoreReport, QueryError> {
    let index = load_partition(root, partition)?;
    let holders = snapshot.holders_in(partition);
    let mut report = RestoreReport::default();
    let mut by_part: BTreeMap<&str, Vec<&IndexEntry>> = BTreeMap::new();
    for entry in index.values() {
        if entry.status != EntryStatus::Archived || !filter.matches(entry) {
            continue;
        }
        match &entry.part {
            // A file with no records: its frame alone.
            None => {
                let bytes = assemble_checked(entry, &mut Vec::new()).map_err(|reason| {
                    QueryError::Integrity {
                        key: entry.key.clone(),
                        reason,
                    }
                })?;
                report = report.add(written.write(entry, &bytes)?);
            }
            Some(name) => match holders.get(name.as_str()) {
                Some(part) => by_part.entry(part.path.as_str()).or_default().push(entry),
                None => {
                    return Err(QueryError::Integrity {
                        key: entry.key.clone(),
                        reason: format!("its part {name} is not in the table"),
                    });
                }
            },
        }
    }
    let from_parts = by_part
        .into_par_iter()
        .map(|(path, entries)| {
            let part = &snapshot.parts[path].1;
            rebuild_files(root, part, &entries)
                .into_iter()
                .map(|(entry, rebuilt)| {
                    let bytes = rebuilt.map_err(|reason| QueryError::Integrity {
                        key: entry.key.clone(),
                        reason,
                    })?;
                    written.write(entry, &bytes)
                })
                .try_fold(RestoreReport::default(), |a, b| {
                    Ok::<_, QueryError>(a.add(b?))
                })
        })
        .try_reduce(RestoreReport::default, |a, b| Ok(a.add(b)))?;
    Ok(report.add(from_parts))
}

impl Written<'_> {
    /// Write one rebuilt file at its key (gzipped if asked), renamed into place.
    fn write(&self, entry: &IndexEntry, bytes: &[u8]) -> Result<RestoreReport, QueryError> {
        let path = output_path(self.to, &entry.key, self.gzip)?;
        if self.gzip {
            let mut encoder =
                flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            let gz = encoder
                .write_all(bytes)
                .and_then(|()| encoder.finish())
                .map_err(|e| trailpack_store::StoreError::io(&path, e))?;
            write_renamed(&path, &gz)?;
        } else {
            write_renamed(&path, bytes)?;
        }
        if let Some(dir) = path.parent() {
            let mut dirs = self.dirs.lock().unwrap_or_else(|e| e.into_inner());
            if !dirs.contains(dir) {
                dirs.insert(dir.to_path_buf());
            }
        }
        Ok(RestoreReport {
            files: 1,
            records: entry.records,
            raw_bytes: bytes.len() as u64,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_paths_stay_under_the_target() {
        let to = Path::new("/out");
        assert_eq!(
            output_path(to, "AWSLogs/1/a.json.gz", false).unwrap(),
            Path::new("/out/AWSLogs/1/a.json")
        );
        assert_eq!(
            output_path(to, "AWSLogs/1/a.json.gz", true).unwrap(),
            Path::new("/out/AWSLogs/1/a.json.gz")
        );
        assert_eq!(
            output_path(to, "AWSLogs/1/b.json", true).unwrap(),
            Path::new("/out/AWSLogs/1/b.json.gz")
        );
        for bad in ["../x.json", "/etc/x.json", "a/../../x.json"] {
            let err = output_path(to, bad, false).unwrap_err().to_string();
            assert_eq!(err, format!("{bad}: key is not a plain relative path"));
        }
    }
}
