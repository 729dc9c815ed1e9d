//! The read paths over the manifest and parts: restore and stats.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Write;
use std::path::{Component, Path, PathBuf};

use arrow_array::Array;
use arrow_array::cast::AsArray;
use arrow_array::types::UInt32Type;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::file::reader::ChunkReader;
use serde::Serialize;
use trailpack_decode::{Frame, sha256};
use trailpack_schema::Rebuilder;
use trailpack_schema::fields::{RECORD_INDEX, SOURCE_KEY};
use trailpack_source::{Filter, UtcTime};

use crate::manifest::{FileEntry, FileStatus, Manifest, write_atomic};
use crate::{ArchiveError, ArchiveRoot, hex};

/// Rows per batch when reading parts.
const READ_BATCH_ROWS: usize = 64 * 1024;

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
    pub fn matches(&self, entry: &FileEntry) -> bool {
        let delivery: Option<UtcTime> = entry.delivery.parse().ok();
        delivery.is_some_and(|d| self.files.accepts(&entry.account, &entry.region, d))
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

/// The output path of a key under `to`, refusing keys that would escape it.
fn output_path(to: &Path, key: &str, gzip: bool) -> Result<PathBuf, ArchiveError> {
    let relative = Path::new(key);
    if relative
        .components()
        .any(|c| !matches!(c, Component::Normal(_)))
    {
        return Err(ArchiveError::Integrity {
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
/// key, checking every file's SHA-256 against the manifest before it is written.
/// With `gzip`, files are written gzipped as `.json.gz`; otherwise as plain `.json`.
pub fn restore(
    root: &ArchiveRoot,
    filter: &FileFilter,
    to: &Path,
    gzip: bool,
) -> Result<RestoreReport, ArchiveError> {
    let manifest = Manifest::load(root)?;
    let mut report = RestoreReport::default();
    let mut by_part: BTreeMap<&str, Vec<&FileEntry>> = BTreeMap::new();
    for entry in manifest.current_files() {
        if entry.status != FileStatus::Archived || !filter.matches(entry) {
            continue;
        }
        match &entry.part {
            Some(part) => by_part.entry(part.as_str()).or_default().push(entry),
            None => write_restored(to, entry, Vec::new(), gzip, &mut report)?,
        }
    }
    for (part, entries) in by_part {
        let mut records = read_records(root, part, entries.iter().map(|e| e.key.as_str()))?;
        for entry in entries {
            let rows = records.remove(entry.key.as_str()).unwrap_or_default();
            write_restored(to, entry, rows, gzip, &mut report)?;
        }
    }
    Ok(report)
}

/// Rebuilt records by source key: (index in the file, exact bytes), unordered.
pub type RecordsByKey = HashMap<String, Vec<(u32, Vec<u8>)>>;

/// Rebuild the records of the given keys from one part.
pub fn read_records<'k>(
    root: &ArchiveRoot,
    part: &str,
    keys: impl Iterator<Item = &'k str>,
) -> Result<RecordsByKey, ArchiveError> {
    records_from(root.open_part(part)?, &root.locate(part), keys)
}

/// Rebuild the records of the given keys from a part's bytes (`path` names it in
/// errors).
pub(crate) fn records_from<'k, R: ChunkReader + 'static>(
    part: R,
    path: &Path,
    keys: impl Iterator<Item = &'k str>,
) -> Result<RecordsByKey, ArchiveError> {
    let path = path.to_path_buf();
    let parquet_error = |source| ArchiveError::Parquet {
        path: path.clone(),
        error: source,
    };
    let mut wanted: RecordsByKey = keys.map(|k| (k.to_string(), Vec::new())).collect();
    let reader = ParquetRecordBatchReaderBuilder::try_new(part)
        .map_err(parquet_error)?
        .with_batch_size(READ_BATCH_ROWS)
        .build()
        .map_err(parquet_error)?;
    let schema_error = |source| ArchiveError::Schema {
        context: path.display().to_string(),
        error: source,
    };
    for batch in reader {
        let batch = batch.map_err(|e| ArchiveError::Parquet {
            path: path.clone(),
            error: e.into(),
        })?;
        let (keys, indexes) = record_origin(&batch, &path)?;
        let mut rebuilder = Rebuilder::try_new(&batch).map_err(schema_error)?;
        for row in 0..batch.num_rows() {
            if keys.is_null(row) {
                continue;
            }
            let Some(records) = wanted.get_mut(keys.value(row)) else {
                continue;
            };
            let mut bytes = Vec::new();
            rebuilder.rebuild(row, &mut bytes).map_err(schema_error)?;
            records.push((indexes.value(row), bytes));
        }
    }
    Ok(wanted)
}

/// A batch's `_source_key` and `_record_index` columns: where each row came from.
pub(crate) fn record_origin<'b>(
    batch: &'b arrow_array::RecordBatch,
    path: &Path,
) -> Result<(&'b arrow_array::StringArray, &'b arrow_array::UInt32Array), ArchiveError> {
    let missing = |name: &str| ArchiveError::Schema {
        context: path.display().to_string(),
        error: trailpack_schema::SchemaError::Column {
            column: name.to_string(),
            reason: "missing or of an unexpected type",
        },
    };
    let keys = batch
        .column_by_name(SOURCE_KEY)
        .and_then(|c| c.as_string_opt::<i32>())
        .ok_or_else(|| missing(SOURCE_KEY))?;
    let indexes = batch
        .column_by_name(RECORD_INDEX)
        .and_then(|c| c.as_primitive_opt::<UInt32Type>())
        .ok_or_else(|| missing(RECORD_INDEX))?;
    Ok((keys, indexes))
}

/// Assemble one archived file from its rebuilt records (any order) and check it
/// against the manifest: every record present once, and the SHA-256.
pub(crate) fn assemble_checked(
    entry: &FileEntry,
    records: &mut [(u32, Vec<u8>)],
) -> Result<Vec<u8>, ArchiveError> {
    let bytes = assemble(entry, records)?;
    check_sha256(entry, &bytes)?;
    Ok(bytes)
}

/// Whether `bytes` have the SHA-256 the manifest recorded for `entry`.
pub(crate) fn check_sha256(entry: &FileEntry, bytes: &[u8]) -> Result<(), ArchiveError> {
    let actual = hex(&sha256(bytes));
    if entry.sha256.as_deref() != Some(actual.as_str()) {
        return Err(ArchiveError::Integrity {
            key: entry.key.clone(),
            reason: format!(
                "rebuilt SHA-256 {actual} does not match the manifest's {}",
                entry.sha256.as_deref().unwrap_or("(none)")
            ),
        });
    }
    Ok(())
}

/// Assemble one archived file from its rebuilt records (any order), checking that
/// every record is there once.
pub(crate) fn assemble(
    entry: &FileEntry,
    records: &mut [(u32, Vec<u8>)],
) -> Result<Vec<u8>, ArchiveError> {
    let integrity = |reason: String| ArchiveError::Integrity {
        key: entry.key.clone(),
        reason,
    };
    records.sort_by_key(|(index, _)| *index);
    let in_order = records
        .iter()
        .enumerate()
        .all(|(i, (index, _))| *index as usize == i);
    if records.len() as u64 != entry.records || !in_order {
        return Err(integrity(format!(
            "the archive holds {} of its {} records",
            records.len(),
            entry.records
        )));
    }
    let frame = entry
        .frame
        .as_ref()
        .ok_or_else(|| integrity("no frame in the manifest".into()))?;
    let mut bytes = Vec::new();
    Frame::from(frame).assemble(records.iter().map(|(_, r)| r.as_slice()), &mut bytes);
    Ok(bytes)
}

/// Assemble one file from its records, check it, and write it.
fn write_restored(
    to: &Path,
    entry: &FileEntry,
    mut records: Vec<(u32, Vec<u8>)>,
    gzip: bool,
    report: &mut RestoreReport,
) -> Result<(), ArchiveError> {
    let bytes = assemble_checked(entry, &mut records)?;
    let path = output_path(to, &entry.key, gzip)?;
    if gzip {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        encoder
            .write_all(&bytes)
            .map_err(|e| ArchiveError::io(&path, e))?;
        let gz = encoder.finish().map_err(|e| ArchiveError::io(&path, e))?;
        write_atomic(&path, &gz)?;
    } else {
        write_atomic(&path, &bytes)?;
    }
    report.files += 1;
    report.records += entry.records;
    report.raw_bytes += bytes.len() as u64;
    Ok(())
}

/// A summary of an archive, from its manifest.
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
    /// Commits.
    pub commits: u64,
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
}

/// Summarise the archive at `root`.
pub fn stats(root: &ArchiveRoot) -> Result<Stats, ArchiveError> {
    let manifest = Manifest::load(root)?;
    let mut stats = Stats {
        commits: manifest.commits as u64,
        ..Stats::default()
    };
    for file in manifest.current_files() {
        match file.status {
            FileStatus::Archived => {
                stats.files += 1;
                stats.records += file.records;
                stats.source_bytes += file.size;
                stats.source_raw_bytes += file.raw_size.unwrap_or(0);
                stats.accounts.insert(file.account.clone());
                stats.regions.insert(file.region.clone());
                stats.fallback_files += u64::from(file.fallback_records > 0);
            }
            FileStatus::Quarantined => {
                stats.quarantined_files += 1;
                stats.quarantined_bytes += file.size;
            }
        }
    }
    let mut first = None::<i64>;
    let mut last = None::<i64>;
    for part in &manifest.parts {
        stats.parts += 1;
        stats.archive_bytes += part.bytes;
        stats.fallback_records += part.fallback_rows;
        for (version, count) in &part.event_versions {
            *stats.event_versions.entry(version.clone()).or_default() += count;
        }
        stats
            .unknown_paths
            .extend(part.unknown_paths.iter().cloned());
        first = first
            .min(part.min_event_time_us)
            .or(part.min_event_time_us.or(first));
        last = last.max(part.max_event_time_us);
    }
    let format = |micros: i64| {
        let mut text = String::new();
        trailpack_decode::time::format_event_time(micros, &mut text);
        text
    };
    stats.first_event = first.map(format);
    stats.last_event = last.map(format);
    Ok(stats)
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
