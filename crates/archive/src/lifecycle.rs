//! Delete-after-verify: remove source files only once the archive provably holds
//! them.
//!
//! A source file is deleted when its index entry is committed, has the source's
//! size, and the archive rebuilds it with the SHA-256 recorded at archive time (for
//! digest files: the stored copy has that size and SHA-256). The check runs after
//! the commit, partition by partition, against the parts the table holds, so a
//! crash at any point leaves sources in place and the next run deletes them
//! without archiving them again.

use std::collections::{BTreeMap, HashMap};

use rayon::prelude::*;
use serde::Serialize;
use trailpack_parts::{assemble_checked, read_checked_digest, rebuild_files};
use trailpack_source::{FileKind, SourceFile, delete_all};
use trailpack_store::ArchiveRoot;
use trailpack_table::index::load_partition;
use trailpack_table::{EntryStatus, IndexEntry, PartInfo, PartitionKey, Snapshot, Table};

use crate::{ArchiveError, Progress, WriteOptions};

/// Why a source file is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeepReason {
    /// The archive does not account for it.
    NotArchived,
    /// The archive keeps its bytes as quarantined, not as records.
    Quarantined,
    /// The source's size is not the size archived: it changed since.
    SizeMismatch {
        /// The source's size now.
        source: u64,
        /// The size archived.
        archived: u64,
    },
    /// Its archived copy failed verification.
    Failed(String),
    /// It could not be deleted.
    CannotDelete(String),
}

impl KeepReason {
    /// Whether keeping it means something is wrong (not merely not archived).
    pub fn is_problem(&self) -> bool {
        matches!(self, KeepReason::Failed(_) | KeepReason::CannotDelete(_))
    }
}

impl std::fmt::Display for KeepReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeepReason::NotArchived => write!(f, "not archived"),
            KeepReason::Quarantined => write!(f, "quarantined"),
            KeepReason::SizeMismatch { source, archived } => {
                write!(f, "{source} bytes, the archived copy has {archived}")
            }
            KeepReason::Failed(why) => write!(f, "archived copy failed verification: {why}"),
            KeepReason::CannotDelete(why) => write!(f, "cannot delete: {why}"),
        }
    }
}

/// A source file kept, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeptFile {
    /// Its key.
    pub key: String,
    /// Why.
    pub reason: KeepReason,
}

impl Serialize for KeptFile {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut kept = serializer.serialize_struct("KeptFile", 2)?;
        kept.serialize_field("key", &self.key)?;
        kept.serialize_field("reason", &self.reason.to_string())?;
        kept.end()
    }
}

/// What a delete-after-verify pass did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DeleteReport {
    /// Source files whose archived copy was verified.
    pub verified: u64,
    /// Verified source files deleted.
    pub deleted: u64,
    /// Source bytes deleted.
    pub bytes_deleted: u64,
    /// Source files kept, with the reason.
    pub kept: Vec<KeptFile>,
    /// Of those, files kept because something is wrong: their archived copy failed
    /// verification, or they could not be deleted.
    pub problems: u64,
}

/// Which of `files` the archive at `root` holds verifiably, and which it does
/// not (with why). Files of other shards are left out.
pub fn verified_sources(
    root: &ArchiveRoot,
    files: &[SourceFile],
    options: &WriteOptions,
) -> Result<(Vec<SourceFile>, Vec<KeptFile>), ArchiveError> {
    let Some(table) = Table::open_if_any(root)? else {
        let kept = files
            .iter()
            .map(|f| kept(f, KeepReason::NotArchived))
            .collect();
        return Ok((Vec::new(), kept));
    };
    let snapshot = table.snapshot();
    let mut by_partition: BTreeMap<PartitionKey, Vec<&SourceFile>> = BTreeMap::new();
    for file in files {
        let partition = PartitionKey::of_file(&file.name, snapshot.partitioning);
        if options.shard.is_none_or(|shard| shard.owns(&partition)) {
            by_partition.entry(partition).or_default().push(file);
        }
    }
    // Partitions, and the parts within one, are verified a few at a time: on S3
    // each part is a GET.
    let jobs = match root.local() {
        Some(_) => rayon::current_num_threads(),
        None => REMOTE_VERIFY_JOBS,
    };
    let checked: Vec<Result<Checked, ArchiveError>> = rayon::ThreadPoolBuilder::new()
        .num_threads(jobs)
        .thread_name(|i| format!("trailpack-verify-sources-{i}"))
        .build()
        .map_err(|e| ArchiveError::Threads(e.to_string()))?
        .install(|| {
            by_partition
                .into_par_iter()
                .map(|(partition, files)| verify_partition(root, snapshot, &partition, files))
                .collect()
        });
    let mut verified = Vec::new();
    let mut kept_files = Vec::new();
    for result in checked {
        let (partition_verified, partition_kept) = result?;
        verified.extend(partition_verified);
        kept_files.extend(partition_kept);
    }
    Ok((verified, kept_files))
}

/// Parts verified at once by delete-after-verify on an archive on S3.
const REMOTE_VERIFY_JOBS: usize = 8;

/// Source files verified, and kept with the reason.
type Checked = (Vec<SourceFile>, Vec<KeptFile>);

fn verify_partition(
    root: &ArchiveRoot,
    snapshot: &Snapshot,
    partition: &PartitionKey,
    files: Vec<&SourceFile>,
) -> Result<Checked, ArchiveError> {
    let index = load_partition(root, partition)?;
    let holders = snapshot.holders_in(partition);
    let mut verified = Vec::new();
    let mut kept_files = Vec::new();
    let mut by_part: BTreeMap<&str, Vec<(&SourceFile, &IndexEntry)>> = BTreeMap::new();
    for file in files {
        let verdict = match index.get(&file.key) {
            None => Err(KeepReason::NotArchived),
            Some(entry) if entry.size != file.size => Err(KeepReason::SizeMismatch {
                source: file.size,
                archived: entry.size,
            }),
            Some(entry) => check_entry(root, file, entry, &holders, &mut by_part),
        };
        match verdict {
            Ok(true) => verified.push(file.clone()),
            Ok(false) => {}
            Err(reason) => kept_files.push(kept(file, reason)),
        }
    }
    let rebuilt: Vec<Checked> = by_part
        .into_par_iter()
        .filter_map(|(path, members)| {
            let part = snapshot.parts.get(path).map(|(_, info)| info)?;
            let entries: Vec<&IndexEntry> = members.iter().map(|(_, e)| *e).collect();
            let sources: HashMap<&str, &SourceFile> =
                members.iter().map(|(f, e)| (e.key.as_str(), *f)).collect();
            let mut checked = Checked::default();
            for (entry, rebuilt) in rebuild_files(root, part, &entries) {
                let file = sources[entry.key.as_str()];
                match rebuilt {
                    Ok(_) => checked.0.push(file.clone()),
                    Err(why) => checked.1.push(kept(file, KeepReason::Failed(why))),
                }
            }
            Some(checked)
        })
        .collect();
    for (part_verified, part_kept) in rebuilt {
        verified.extend(part_verified);
        kept_files.extend(part_kept);
    }
    Ok((verified, kept_files))
}

/// One source file's entry: verified at once (`Ok(true)`), left for its part's
/// rebuild (`Ok(false)`, added to `by_part`), or kept.
fn check_entry<'f, 'p>(
    root: &ArchiveRoot,
    file: &'f SourceFile,
    entry: &'f IndexEntry,
    holders: &HashMap<&str, &'p PartInfo>,
    by_part: &mut BTreeMap<&'p str, Vec<(&'f SourceFile, &'f IndexEntry)>>,
) -> Result<bool, KeepReason> {
    match (entry.status, file.name.kind, &entry.part) {
        (EntryStatus::Digest, FileKind::Digest, _) => match read_checked_digest(root, entry) {
            Ok(Ok(_)) => Ok(true),
            Ok(Err(why)) => Err(KeepReason::Failed(why)),
            Err(e) => Err(KeepReason::Failed(e.to_string())),
        },
        (EntryStatus::Quarantined, ..) => Err(KeepReason::Quarantined),
        (EntryStatus::Archived, _, None) => assemble_checked(entry, &mut [])
            .map(|_| true)
            .map_err(KeepReason::Failed),
        (EntryStatus::Archived, _, Some(name)) => match holders.get(name.as_str()) {
            Some(part) => {
                by_part
                    .entry(part.path.as_str())
                    .or_default()
                    .push((file, entry));
                Ok(false)
            }
            None => Err(KeepReason::Failed(format!(
                "its part {name} is not in the table"
            ))),
        },
        _ => Err(KeepReason::NotArchived),
    }
}

fn kept(file: &SourceFile, reason: KeepReason) -> KeptFile {
    KeptFile {
        key: file.key.clone(),
        reason,
    }
}

/// Delete the source files among `files` that the archive at `root` holds
/// verifiably (see [`verified_sources`]); keep the rest and say why.
pub fn delete_sources(
    root: &ArchiveRoot,
    files: &[SourceFile],
    options: &WriteOptions,
    progress: &dyn Progress,
) -> Result<DeleteReport, ArchiveError> {
    let (verified, kept_files) = verified_sources(root, files, options)?;
    for problem in kept_files.iter().filter(|k| k.reason.is_problem()) {
        progress.warn(&format!("{}: kept: {}", problem.key, problem.reason));
    }
    let mut report = DeleteReport {
        verified: verified.len() as u64,
        problems: kept_files.iter().filter(|k| k.reason.is_problem()).count() as u64,
        kept: kept_files,
        ..DeleteReport::default()
    };
    for (file, result) in verified.iter().zip(delete_all(&verified)) {
        match result {
            Ok(()) => {
                report.deleted += 1;
                report.bytes_deleted += file.size;
            }
            Err(e) => {
                progress.warn(&format!("{}: cannot delete: {e}", file.location));
                report.problems += 1;
                report
                    .kept
                    .push(kept(file, KeepReason::CannotDelete(e.to_string())));
            }
        }
    }
    Ok(report)
}
