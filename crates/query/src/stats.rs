//! `stats`: a summary of an archive from aggregates alone: the table's part
//! statistics and the summaries in the index segments' footers. No row is read.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use trailpack_store::ArchiveRoot;
use trailpack_table::index::summaries;
use trailpack_table::{DELTA_LOG, INDEX_DIR, IndexSummary, KEYS_DIR, PENDING_DIR, Table};

use crate::QueryError;

/// A summary of an archive.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Stats {
    /// Accounts with archived files.
    pub accounts: BTreeSet<String>,
    /// Regions with archived files.
    pub regions: BTreeSet<String>,
    /// Earliest event time, `YYYY-MM-DDTHH:MM:SSZ`.
    pub first_event: Option<String>,
    /// Latest event time.
    pub last_event: Option<String>,
    /// Archived source files.
    pub files: u64,
    /// Records in them.
    pub records: u64,
    /// Stored (compressed) bytes of the archived source files.
    pub source_bytes: u64,
    /// Uncompressed bytes of the archived source files.
    pub source_raw_bytes: u64,
    /// Bytes of all parts.
    pub archive_bytes: u64,
    /// Parts.
    pub parts: u64,
    /// The table's version: commits since it was created.
    pub version: i64,
    /// Records per eventVersion.
    pub event_versions: BTreeMap<String, u64>,
    /// Dotted paths of unknown members seen.
    pub unknown_paths: BTreeSet<String>,
    /// Records stored whole because they did not rebuild from columns.
    pub fallback_records: u64,
    /// Files with such records.
    pub fallback_files: u64,
    /// Quarantined source files.
    pub quarantined_files: u64,
    /// Stored bytes of quarantined files.
    pub quarantined_bytes: u64,
    /// Digest files kept.
    pub digest_files: u64,
    /// Bytes of the file index (`_trailpack/index/`).
    pub index_bytes: u64,
    /// Bytes of the Delta log (`_delta_log/`: commits and checkpoints).
    pub log_bytes: u64,
    /// Bytes of the rest of trailpack's bookkeeping: public keys and pending
    /// intents.
    pub other_bookkeeping_bytes: u64,
}

impl Stats {
    /// Everything in the archive that is not a data part, a stored digest or a
    /// quarantined file's bytes, per archived file.
    pub fn bookkeeping_bytes_per_file(&self) -> f64 {
        let bytes = self.index_bytes + self.log_bytes + self.other_bookkeeping_bytes;
        bytes as f64 / self.files.max(1) as f64
    }
}

/// Summarise the archive at `root`.
pub fn stats(root: &ArchiveRoot) -> Result<Stats, QueryError> {
    let table = Table::open(root)?;
    let snapshot = table.snapshot();
    let mut stats = Stats {
        version: snapshot.version,
        ..Stats::default()
    };
    let mut range: Option<(i64, i64)> = None;
    for part in snapshot.part_infos() {
        stats.parts += 1;
        stats.archive_bytes += part.bytes;
        stats.fallback_records += part.fallback_rows;
        for (version, count) in &part.event_versions {
            *stats.event_versions.entry(version.clone()).or_default() += count;
        }
        stats
            .unknown_paths
            .extend(part.unknown_paths.iter().cloned());
        // A range the table does not know (a part another engine wrote) says nothing.
        if let Some((min, max)) = part.event_time_range.filter(|r| *r != (i64::MIN, i64::MAX)) {
            range = Some(range.map_or((min, max), |(a, b)| (a.min(min), b.max(max))));
        }
    }
    let mut files = IndexSummary::default();
    for (partition, summary) in summaries(root)? {
        if summary.archived_files > 0 {
            stats.accounts.insert(partition.account.clone());
            stats.regions.insert(partition.region.clone());
        }
        files.add(&summary);
    }
    stats.files = files.archived_files;
    stats.records = files.archived_records;
    stats.source_bytes = files.archived_bytes;
    stats.source_raw_bytes = files.archived_raw_bytes;
    stats.fallback_files = files.fallback_files;
    stats.quarantined_files = files.quarantined_files;
    stats.quarantined_bytes = files.quarantined_bytes;
    stats.digest_files = files.digest_files;
    let bytes_under =
        |dir: &str| -> Result<u64, QueryError> { Ok(root.list(dir)?.iter().map(|l| l.size).sum()) };
    stats.index_bytes = bytes_under(INDEX_DIR)?;
    stats.log_bytes = bytes_under(DELTA_LOG)?;
    stats.other_bookkeeping_bytes = bytes_under(KEYS_DIR)? + bytes_under(PENDING_DIR)?;
    let format = |micros: i64| {
        let mut text = String::new();
        trailpack_decode::time::format_event_time(micros, &mut text);
        text
    };
    stats.first_event = range.map(|(min, _)| format(min));
    stats.last_event = range.map(|(_, max)| format(max));
    Ok(stats)
}
