//! `compact`: merge the small parts that incremental runs leave into parts of the
//! size a single run writes, atomically.
//!
//! In each partition, parts holding less than half of [`WriteOptions::part_bytes`]
//! of records are grouped (oldest events first) into bins of at most
//! `part_bytes`. Each bin's files are rebuilt from their parts and checked
//! against their SHA-256, written as one new part through the same proven write
//! path as `archive`, and committed in one Delta commit that removes the old
//! parts (`dataChange: false`): readers see the old parts or the new one, never
//! both or neither. The file index is not rewritten: the new part's `holds` tag
//! names the parts whose files it now holds. The old files are deleted as the
//! commit's intent completes.

use std::collections::{BTreeMap, HashSet};
use std::time::Instant;

use serde::Serialize;
use trailpack_decode::{DecodeOptions, Encoding, decode_file};
use trailpack_parts::rebuild_files;
use trailpack_source::{Location, SourceFile, parse_file_name};
use trailpack_store::{ArchiveRoot, unique_name};
use trailpack_table::delta::Remove;
use trailpack_table::index::load_partition;
use trailpack_table::intent::recover;
use trailpack_table::{EntryStatus, IndexEntry, META_DIR, PartInfo, PartitionKey, Table, now_ms};

use crate::part::Pending;
use crate::writer::{PartCommit, Writer};
use crate::{ArchiveError, Progress, RunReport, WriteOptions};

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
        let held = |detail| ArchiveError::Locked {
            lock: root.locate(COMPACT_LOCK).display().to_string(),
            detail,
        };
        match root.local() {
            Some(dir) => {
                let meta = dir.join(META_DIR);
                std::fs::create_dir_all(&meta)
                    .map_err(|e| trailpack_store::StoreError::io(&meta, e))?;
                let path = dir.join(COMPACT_LOCK);
                let lock = std::fs::File::create(&path)
                    .map_err(|e| trailpack_store::StoreError::io(&path, e))?;
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
    /// Bins left alone because the index does not account for every row of their
    /// parts (one line each).
    pub skipped: Vec<String>,
    /// Wall time in seconds.
    pub seconds: f64,
}

/// One bin: small parts of one partition to merge into one part.
struct Bin {
    partition: PartitionKey,
    parts: Vec<PartInfo>,
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
    let mut table = Table::open(root)?;
    if !dry_run {
        recover(&mut table)?;
    }
    let bins = plan_bins(table.snapshot().part_infos(), options);
    let mut report = CompactReport {
        parts_before: table.snapshot().parts.len() as u64,
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
    progress.start(report.parts_retired, report.bytes_retired);
    let partitioning = table.snapshot().partitioning;
    let adds: BTreeMap<String, _> = table
        .snapshot()
        .parts
        .iter()
        .map(|(path, (add, _))| (path.clone(), add.clone()))
        .collect();
    let mut run = RunReport::default();
    let mut writer = Writer::try_new(root, Some(table), partitioning, options, &mut run, progress)?;
    for bin in bins {
        match merge_bin(&mut writer, &bin, &adds)? {
            Some((bytes, files)) => {
                report.bytes_written += bytes;
                report.files_moved += files;
            }
            None => {
                report.parts_retired -= bin.parts.len() as u64;
                report.parts_written -= 1;
                report.rows_moved -= bin.parts.iter().map(|p| p.rows).sum::<u64>();
                report.skipped.push(format!(
                    "{}: {} parts not merged: the index does not account for every row of them",
                    bin.partition.dir(),
                    bin.parts.len()
                ));
            }
        }
        progress.advance(
            bin.parts.len() as u64,
            bin.parts.iter().map(|p| p.bytes).sum(),
            0,
        );
    }
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

/// Merge one bin into one part and commit it; `None` (nothing done) when the
/// index does not account for every row of the bin's parts, which merging would
/// lose. Returns the new part's bytes and the files moved.
fn merge_bin(
    writer: &mut Writer<'_>,
    bin: &Bin,
    adds: &BTreeMap<String, trailpack_table::delta::Add>,
) -> Result<Option<(u64, u64)>, ArchiveError> {
    let root = writer.root;
    let index = load_partition(root, &bin.partition)?;
    let mut pending = Vec::new();
    let mut limits = DecodeOptions::default();
    for part in &bin.parts {
        let holds: HashSet<&str> = part.holds.iter().map(String::as_str).collect();
        let members: Vec<&IndexEntry> = index
            .values()
            .filter(|e| e.status == EntryStatus::Archived)
            .filter(|e| e.part.as_deref().is_some_and(|p| holds.contains(p)))
            .collect();
        if members.iter().map(|e| e.records).sum::<u64>() != part.rows {
            return Ok(None);
        }
        limits.max_file_bytes = limits.max_file_bytes.max(part.limits.max_file_bytes);
        limits.max_record_bytes = limits.max_record_bytes.max(part.limits.max_record_bytes);
        limits.max_depth = limits.max_depth.max(part.limits.max_depth);
        pending.extend(rebuild_part(root, part, &members, &part.limits)?);
    }
    let mut built = writer.build_part(&bin.partition, &pending)?;
    built.info.holds = bin.parts.iter().flat_map(|p| p.holds.clone()).collect();
    built.info.limits = limits;
    let moved = (built.info.bytes, pending.len() as u64);
    let now = now_ms();
    let removes: Vec<Remove> = bin
        .parts
        .iter()
        .filter_map(|p| adds.get(&p.path))
        .map(|add| Remove::of(add, now, false))
        .collect();
    let retire = bin.parts.iter().map(|p| p.path.clone()).collect();
    writer.commit_part(PartCommit {
        removes,
        retire,
        ..PartCommit::new(built, "OPTIMIZE")
    })?;
    Ok(Some(moved))
}

/// Group each partition's small parts into bins worth merging. Parts trailpack
/// did not write (no CRC-32 in their tags) are left alone: the index does not map
/// their files.
fn plan_bins<'p>(parts: impl Iterator<Item = &'p PartInfo>, options: &WriteOptions) -> Vec<Bin> {
    let limit = options.part_bytes as u64;
    let mut small: BTreeMap<PartitionKey, Vec<&PartInfo>> = BTreeMap::new();
    for part in parts.filter(|p| p.crc32.is_some() && p.raw_bytes < limit / 2) {
        small.entry(part.partition.clone()).or_default().push(part);
    }
    let mut bins = Vec::new();
    for (partition, mut parts) in small {
        parts.sort_by_key(|p| (p.event_time_range, p.path.clone()));
        let mut bin: Vec<PartInfo> = Vec::new();
        let mut bin_bytes = 0;
        for part in parts {
            if !bin.is_empty() && bin_bytes + part.raw_bytes > limit {
                push_bin(&mut bins, &partition, std::mem::take(&mut bin));
                bin_bytes = 0;
            }
            bin_bytes += part.raw_bytes;
            bin.push(part.clone());
        }
        push_bin(&mut bins, &partition, bin);
    }
    bins
}

fn push_bin(bins: &mut Vec<Bin>, partition: &PartitionKey, parts: Vec<PartInfo>) {
    // A bin of one part would only rewrite it.
    if parts.len() >= 2 {
        bins.push(Bin {
            partition: partition.clone(),
            parts,
        });
    }
}

/// Rebuild every file of one part, checked against its SHA-256, and decode it
/// again under `limits` (those it was first accepted under), ready to write again.
pub(crate) fn rebuild_part(
    root: &ArchiveRoot,
    part: &PartInfo,
    members: &[&IndexEntry],
    limits: &DecodeOptions,
) -> Result<Vec<Pending>, ArchiveError> {
    let location = Location::Local(root.locate(&part.path));
    let mut pending = Vec::with_capacity(members.len());
    for (entry, rebuilt) in rebuild_files(root, part, members) {
        let integrity = |reason: String| ArchiveError::Integrity {
            key: entry.key.clone(),
            reason,
        };
        let original = rebuilt.map_err(integrity)?;
        let name = entry
            .name()
            .or_else(|| parse_file_name(&entry.key))
            .ok_or_else(|| integrity("the key is not a CloudTrail file name".into()))?;
        let decoded = decode_file(&original, Encoding::Plain, limits)
            .map_err(|e| integrity(format!("does not decode again: {e}")))?;
        pending.push(Pending {
            source: SourceFile {
                location: location.clone(),
                key: entry.key.clone(),
                size: entry.size,
                name,
            },
            decoded,
        });
    }
    Ok(pending)
}
