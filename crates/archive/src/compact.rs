//! `compact`: merge the small parts that incremental runs leave into parts of the
//! size a single run writes, atomically.
//!
//! In each partition, parts holding less than half of [`WriteOptions::part_bytes`]
//! of records are grouped (oldest events first) into bins of at most
//! `part_bytes`. Each bin's files are rebuilt from their parts and checked
//! against their SHA-256, written as one new part through the same proven write
//! path as `archive`, and committed in one commit that also retires the old
//! parts: readers see the old parts or the new one, never both or neither. The
//! retired files are deleted after the commit; a crash before that leaves them
//! as orphans that the next run removes.

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use serde::Serialize;
use trailpack_decode::{DecodeOptions, Encoding, decode_file};
use trailpack_source::{Location, SourceFile, parse_file_name};

use crate::manifest::{
    FileEntry, FileStatus, META_DIR, Manifest, PartEntry, RETIRING_COMMIT_VERSION,
};
use crate::read::{assemble_checked, records_from};
use crate::store::unique_name;
use crate::verify::read_checked_part;
use crate::write::{PartitionKey, Pending, WriteOptions, Writer};
use crate::{ArchiveError, ArchiveRoot, Progress, RunReport};

/// The lock file that keeps two compactions of one archive apart.
pub const COMPACT_LOCK: &str = "_trailpack/compact.lock";

/// Held while a compaction runs; released when dropped.
enum CompactLock<'r> {
    /// An OS lock on the lock file: the OS drops it if this process dies, so a crash
    /// never blocks the next run.
    Local { _held: std::fs::File },
    /// A lock object created with a conditional PUT, deleted when the compaction
    /// ends if it is still this one's (it holds a unique owner). A process killed
    /// mid-compaction leaves it behind, and the error names it so that an operator
    /// who knows no compaction runs can delete it.
    S3 {
        root: &'r ArchiveRoot,
        owner: String,
    },
}

impl<'r> CompactLock<'r> {
    fn take(root: &'r ArchiveRoot) -> Result<CompactLock<'r>, ArchiveError> {
        let held = |detail: &str| {
            ArchiveError::Options(format!(
                "{}: another compaction of this archive is running{detail}",
                root.locate(COMPACT_LOCK).display()
            ))
        };
        match root.local() {
            Some(dir) => {
                let meta = dir.join(META_DIR);
                std::fs::create_dir_all(&meta).map_err(|e| ArchiveError::io(&meta, e))?;
                let path = dir.join(COMPACT_LOCK);
                let lock = std::fs::File::create(&path).map_err(|e| ArchiveError::io(&path, e))?;
                lock.try_lock().map_err(|_| held(""))?;
                Ok(CompactLock::Local { _held: lock })
            }
            None => {
                let owner = format!("{{\"owner\":\"{}\"}}\n", unique_name());
                // A conditional PUT retried after its response was lost finds its own
                // lock: that is taking it too.
                if root.create(COMPACT_LOCK, owner.as_bytes())?
                    || root.read(COMPACT_LOCK)?.as_deref() == Some(owner.as_bytes())
                {
                    Ok(CompactLock::S3 { root, owner })
                } else {
                    Err(held(
                        " (or one was killed: delete this lock object if none is running)",
                    ))
                }
            }
        }
    }
}

impl Drop for CompactLock<'_> {
    fn drop(&mut self) {
        if let CompactLock::S3 { root, owner } = self {
            // Only its own lock: one deleted by an operator may have been taken since.
            // A lock left behind only blocks compactions, with a message naming it.
            if let Ok(Some(held)) = root.read(COMPACT_LOCK)
                && held == owner.as_bytes()
            {
                let _ = root.delete(COMPACT_LOCK);
            }
        }
    }
}

/// What `compact` did (or, in a dry run, would do).
#[derive(Debug, Clone, Default, Serialize)]
pub struct CompactReport {
    /// Parts in the archive before.
    pub parts_before: u64,
    /// Small parts merged and retired.
    pub parts_retired: u64,
    /// Parts written in their place.
    pub parts_written: u64,
    /// Bytes of the retired parts.
    pub bytes_retired: u64,
    /// Bytes of the parts written.
    pub bytes_written: u64,
    /// Files moved to new parts.
    pub files_moved: u64,
    /// Rows moved to new parts.
    pub rows_moved: u64,
    /// Wall time in seconds.
    pub seconds: f64,
}

/// One bin: small parts of one partition to merge into one part.
struct Bin<'m> {
    partition: PartitionKey,
    parts: Vec<&'m PartEntry>,
}

/// Compact the archive at `root`; with `dry_run`, only plan.
pub fn compact(
    root: &ArchiveRoot,
    options: &WriteOptions,
    dry_run: bool,
    progress: &dyn Progress,
) -> Result<CompactReport, ArchiveError> {
    let started = Instant::now();
    let _lock = CompactLock::take(root)?;
    let manifest = Manifest::load(root)?;
    let mut files_by_part: HashMap<&str, Vec<&FileEntry>> = HashMap::new();
    for entry in manifest.current_files() {
        if let (FileStatus::Archived, Some(part)) = (entry.status, &entry.part) {
            files_by_part.entry(part).or_default().push(entry);
        }
    }
    let record_bytes = |part: &PartEntry| -> u64 {
        files_by_part
            .get(part.path.as_str())
            .map_or(0, |files| files.iter().filter_map(|f| f.raw_size).sum())
    };
    let bins = plan_bins(&manifest, options, record_bytes)?;
    let mut report = CompactReport {
        parts_before: manifest.parts.len() as u64,
        ..CompactReport::default()
    };
    for bin in &bins {
        report.parts_retired += bin.parts.len() as u64;
        report.bytes_retired += bin.parts.iter().map(|p| p.bytes).sum::<u64>();
        report.rows_moved += bin.parts.iter().map(|p| p.rows).sum::<u64>();
    }
    report.parts_written = bins.len() as u64;
    if dry_run {
        report.seconds = started.elapsed().as_secs_f64();
        return Ok(report);
    }
    progress.start(
        report.parts_retired,
        bins.iter().flat_map(|b| &b.parts).map(|p| p.bytes).sum(),
    );
    let mut run = RunReport::default();
    let mut writer = Writer::try_new(root, &manifest, options, &mut run, progress)?;
    for bin in bins {
        writer.remove_orphans(&bin.partition)?;
        let mut pending = Vec::new();
        for part in &bin.parts {
            let members = files_by_part.remove(part.path.as_str()).unwrap_or_default();
            pending.extend(rebuild_part(root, part, &members, &options.decode)?);
            progress.advance(1, part.bytes, part.rows);
        }
        let (new_part, entries) = writer.build_part(&bin.partition, &pending)?;
        report.bytes_written += new_part.bytes;
        report.files_moved += entries.len() as u64;
        let retired: Vec<String> = bin.parts.iter().map(|p| p.path.clone()).collect();
        let commit = crate::manifest::Commit {
            version: RETIRING_COMMIT_VERSION,
            parts: vec![new_part],
            files: entries,
            retired_parts: retired.clone(),
            ..writer.new_commit()
        };
        writer.write_commit(commit)?;
        for path in retired {
            if let Err(e) = root.delete(&path) {
                progress.warn(&format!(
                    "retired, but cannot delete it (the next run removes it): {e}"
                ));
            }
        }
    }
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

/// Group each partition's small parts into bins worth merging.
fn plan_bins<'m>(
    manifest: &'m Manifest,
    options: &WriteOptions,
    record_bytes: impl Fn(&PartEntry) -> u64,
) -> Result<Vec<Bin<'m>>, ArchiveError> {
    let limit = options.part_bytes as u64;
    let mut small: BTreeMap<&str, Vec<&PartEntry>> = BTreeMap::new();
    for part in &manifest.parts {
        if record_bytes(part) < limit / 2 {
            let dir = part.path.rsplit_once('/').map_or("", |(dir, _)| dir);
            small.entry(dir).or_default().push(part);
        }
    }
    let mut bins = Vec::new();
    for (dir, mut parts) in small {
        if parts.len() < 2 {
            continue;
        }
        let partition = PartitionKey::from_dir(dir)
            .ok_or_else(|| ArchiveError::Options(format!("{dir}: not a partition directory")))?;
        parts.sort_by_key(|p| (p.min_event_time_us, p.path.clone()));
        let mut bin: Vec<&PartEntry> = Vec::new();
        let mut bin_bytes = 0;
        for part in parts {
            let bytes = record_bytes(part);
            if !bin.is_empty() && bin_bytes + bytes > limit {
                push_bin(&mut bins, &partition, std::mem::take(&mut bin));
                bin_bytes = 0;
            }
            bin_bytes += bytes;
            bin.push(part);
        }
        push_bin(&mut bins, &partition, bin);
    }
    Ok(bins)
}

fn push_bin<'m>(bins: &mut Vec<Bin<'m>>, partition: &PartitionKey, parts: Vec<&'m PartEntry>) {
    // A bin of one part would only rewrite it.
    if parts.len() >= 2 {
        bins.push(Bin {
            partition: partition.clone(),
            parts,
        });
    }
}

/// Rebuild every file of one part, checked against its SHA-256, ready to write again.
fn rebuild_part(
    root: &ArchiveRoot,
    part: &PartEntry,
    members: &[&FileEntry],
    limits: &DecodeOptions,
) -> Result<Vec<Pending>, ArchiveError> {
    let path = root.locate(&part.path);
    let bytes = read_checked_part(root, part).map_err(|reason| ArchiveError::Integrity {
        key: part.path.clone(),
        reason,
    })?;
    let mut records = records_from(bytes, &path, members.iter().map(|f| f.key.as_str()))?;
    let mut pending = Vec::with_capacity(members.len());
    for entry in members {
        let mut rows = records.remove(entry.key.as_str()).unwrap_or_default();
        let original = assemble_checked(entry, &mut rows)?;
        let integrity = |reason: String| ArchiveError::Integrity {
            key: entry.key.clone(),
            reason,
        };
        let file_name = entry.key.rsplit('/').next().unwrap_or(&entry.key);
        let name = parse_file_name(file_name)
            .ok_or_else(|| integrity("the key is not a CloudTrail file name".into()))?;
        let decoded = decode_file(&original, Encoding::Plain, limits)
            .map_err(|e| integrity(format!("does not decode again: {e}")))?;
        pending.push(Pending {
            source: SourceFile {
                location: Location::Local(path.clone()),
                key: entry.key.clone(),
                size: entry.size,
                name,
            },
            decoded,
        });
    }
    Ok(pending)
}
