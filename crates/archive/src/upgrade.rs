//! `upgrade`: convert an archive of the first format (JSON commits in
//! `_trailpack/commits/`) into a Delta table, in place.
//!
//! Each part of the old manifest is rebuilt into its original files (every
//! SHA-256 checked) and written again as a part of the new schema, committed with
//! its index segment; the old part file is deleted as that commit's intent
//! completes. Quarantined files, files without records and digests get index
//! segments of their own; their stored bytes stay where they are. Public keys are
//! stored as files. Last, a marker is written and the old commits are deleted.
//! Every step is skipped when a run before it did it (a part whose files are all
//! in the new index), so an interrupted upgrade is run again to finish it.

use std::collections::{BTreeMap, HashSet};
use std::time::Instant;

use serde::Serialize;
use trailpack_store::ArchiveRoot;
use trailpack_table::index::load_partition_keys;
use trailpack_table::intent::recover;
use trailpack_table::keys::store_keys;
use trailpack_table::legacy::{LegacyManifest, LegacyPart};
use trailpack_table::{
    EntryStatus, IndexEntry, LEGACY_COMMITS_DIR, META_DIR, PartInfo, PartitionKey, Partitioning,
    Table, TableError,
};

use crate::compact::rebuild_part;
use crate::writer::{PartCommit, Writer};
use crate::{ArchiveError, Progress, RunReport, WriteOptions};

/// Written once every part is converted; while it exists the old commits are
/// being deleted, and a rerun only finishes that.
const UPGRADE_MARKER: &str = "_trailpack/upgrade.json";

/// What `upgrade` did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct UpgradeReport {
    /// Old parts converted in this run.
    pub parts_converted: u64,
    /// Old parts an earlier run had converted.
    pub parts_already_converted: u64,
    /// Archived files whose records moved to new parts.
    pub files: u64,
    /// Records in them.
    pub records: u64,
    /// Index entries written without a part (quarantined files, files without
    /// records, digests).
    pub entries_without_part: u64,
    /// Public keys stored.
    pub public_keys: u64,
    /// Part files that no old commit named (left by crashes), removed.
    pub orphans_removed: u64,
    /// Old commit files removed.
    pub commits_removed: u64,
    /// Wall time in seconds.
    pub seconds: f64,
}

/// Upgrade the archive at `root` to a Delta table. An archive that is a table
/// already is left as it is.
pub fn upgrade(
    root: &ArchiveRoot,
    options: &WriteOptions,
    progress: &dyn Progress,
) -> Result<UpgradeReport, ArchiveError> {
    let started = Instant::now();
    let mut report = UpgradeReport::default();
    if !root.has_dir(LEGACY_COMMITS_DIR)? {
        Table::open(root)?;
        return Ok(report);
    }
    if root.read(UPGRADE_MARKER)?.is_none() {
        convert(root, options, progress, &mut report)?;
        root.write(
            UPGRADE_MARKER,
            b"{\"state\":\"removing the first format's commits\"}\n",
        )?;
    }
    for listed in root.list(LEGACY_COMMITS_DIR)? {
        root.delete(&listed.path)?;
        report.commits_removed += 1;
    }
    if let Some(dir) = root.local() {
        // An empty directory would still look like the first format.
        let _ = std::fs::remove_dir(dir.join(LEGACY_COMMITS_DIR));
    }
    root.delete(UPGRADE_MARKER)?;
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

/// Convert everything the old manifest holds into the table and its index.
fn convert(
    root: &ArchiveRoot,
    options: &WriteOptions,
    progress: &dyn Progress,
    report: &mut UpgradeReport,
) -> Result<(), ArchiveError> {
    let legacy = LegacyManifest::load(root)?;
    let partitioning = legacy_partitioning(&legacy, options)?;
    let mut table = Table::open_or_create_for_upgrade(root, partitioning)?;
    recover(&mut table)?;
    let mut jobs: BTreeMap<PartitionKey, (Vec<&LegacyPart>, Vec<IndexEntry>)> = BTreeMap::new();
    for part in &legacy.parts {
        let partition = partition_of(&part.path)?;
        jobs.entry(partition).or_default().0.push(part);
    }
    for entry in legacy.entries.values() {
        let Some(name) = entry.name() else { continue };
        if entry.status != EntryStatus::Archived || entry.part.is_none() {
            let partition = PartitionKey::of_file(&name, partitioning);
            jobs.entry(partition).or_default().1.push(entry.clone());
        }
    }
    progress.start(
        legacy.parts.len() as u64,
        legacy.parts.iter().map(|p| p.bytes).sum(),
    );
    let mut run = RunReport::default();
    let mut writer = Writer::try_new(root, Some(table), partitioning, options, &mut run, progress)?;
    for (partition, (parts, loose)) in jobs {
        let known = load_partition_keys(root, &partition)?;
        for part in parts {
            let members: Vec<&IndexEntry> = legacy
                .entries
                .values()
                .filter(|e| e.part.as_deref() == Some(part.path.as_str()))
                .collect();
            convert_part(&mut writer, &partition, part, &members, &known, report)?;
            progress.advance(1, part.bytes, part.rows);
        }
        let loose: Vec<IndexEntry> = loose
            .into_iter()
            .filter(|e| !known.contains(&e.key))
            .collect();
        report.entries_without_part += loose.len() as u64;
        if !loose.is_empty() {
            writer.write_segment(&partition, loose)?;
        }
    }
    report.public_keys = store_keys(root, &legacy.public_keys)?;
    let table = writer.table()?;
    table.refresh()?;
    report.orphans_removed = remove_stray_parts(root, table)?;
    Ok(())
}

/// Convert one old part, unless an earlier run did: then only its file goes.
fn convert_part(
    writer: &mut Writer<'_>,
    partition: &PartitionKey,
    part: &LegacyPart,
    members: &[&IndexEntry],
    known: &HashSet<String>,
    report: &mut UpgradeReport,
) -> Result<(), ArchiveError> {
    if members.iter().all(|e| known.contains(&e.key)) {
        writer.root.delete(&part.path)?;
        report.parts_already_converted += 1;
        return Ok(());
    }
    let old = PartInfo {
        path: part.path.clone(),
        partition: partition.clone(),
        bytes: part.bytes,
        crc32: Some(part.crc32),
        rows: part.rows,
        ..empty_part()
    };
    let pending = rebuild_part(writer.root, &old, members, &writer.options.decode)?;
    report.files += pending.len() as u64;
    report.records += members.iter().map(|e| e.records).sum::<u64>();
    let mut built = writer.build_part(partition, &pending)?;
    let entries = std::mem::take(&mut built.entries);
    writer.commit_part(PartCommit {
        index: Some(entries),
        retire: vec![part.path.clone()],
        ..PartCommit::new(built, "UPGRADE")
    })?;
    report.parts_converted += 1;
    Ok(())
}

/// Delete `part-*.parquet` files in partition directories that the table does not
/// hold: the first format's orphans and retired parts.
fn remove_stray_parts(root: &ArchiveRoot, table: &Table) -> Result<u64, ArchiveError> {
    let stray = table.snapshot().unheld_parts(root)?;
    for listed in &stray {
        root.delete(&listed.path)?;
    }
    Ok(stray.len() as u64)
}

/// The partitioning of the old archive's parts (all at one level), else the
/// options' (month by default).
fn legacy_partitioning(
    legacy: &LegacyManifest,
    options: &WriteOptions,
) -> Result<Partitioning, ArchiveError> {
    let levels: HashSet<Partitioning> = legacy
        .parts
        .iter()
        .map(|p| partition_of(&p.path).map(|k| k.partitioning()))
        .collect::<Result<_, _>>()?;
    match levels.len() {
        0 => Ok(options.partitioning.unwrap_or_default()),
        1 => Ok(levels.into_iter().next().unwrap_or_default()),
        _ => Err(ArchiveError::Table(TableError::Corrupt {
            path: format!("{META_DIR}/commits"),
            reason: "the archive's parts are at more than one partition level; a Delta \
                     table has one"
                .into(),
        })),
    }
}

fn partition_of(path: &str) -> Result<PartitionKey, ArchiveError> {
    path.rsplit_once('/')
        .and_then(|(dir, _)| PartitionKey::from_dir(dir))
        .ok_or_else(|| {
            ArchiveError::Table(TableError::Corrupt {
                path: format!("{META_DIR}/commits"),
                reason: format!("part {path} is not in a partition directory"),
            })
        })
}

fn empty_part() -> PartInfo {
    PartInfo {
        path: String::new(),
        partition: PartitionKey {
            account: String::new(),
            region: String::new(),
            period: (0, 0, 0),
        },
        bytes: 0,
        modification_time: 0,
        crc32: None,
        rows: 0,
        row_groups: 0,
        event_time_range: None,
        rows_without_event_time: 0,
        event_versions: BTreeMap::new(),
        unknown_paths: Vec::new(),
        fallback_rows: 0,
        files: 0,
        raw_bytes: 0,
        holds: Vec::new(),
        limits: Default::default(),
    }
}
