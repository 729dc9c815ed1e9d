//! `restore`: the archived files, rebuilt byte for byte under their original keys.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Component, Path, PathBuf};

use serde::Serialize;
use trailpack_parts::{assemble_checked, rebuild_files};
use trailpack_source::Filter;
use trailpack_store::{ArchiveRoot, write_atomic};
use trailpack_table::index::{indexed_partitions, load_partition};
use trailpack_table::{EntryStatus, IndexEntry, PartInfo, Table};

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
/// With `gzip`, files are written gzipped as `.json.gz`; otherwise as plain `.json`.
/// Partitions are read one at a time.
pub fn restore(
    root: &ArchiveRoot,
    filter: &FileFilter,
    to: &Path,
    gzip: bool,
) -> Result<RestoreReport, QueryError> {
    let table = Table::open(root)?;
    let snapshot = table.snapshot();
    let mut report = RestoreReport::default();
    for partition in indexed_partitions(root)? {
        let wanted = |list: &[String], value: &String| list.is_empty() || list.contains(value);
        if !wanted(&filter.files.accounts, &partition.account)
            || !wanted(&filter.files.regions, &partition.region)
        {
            continue;
        }
        let index = load_partition(root, &partition)?;
        let holders: HashMap<&str, &PartInfo> = snapshot
            .part_infos()
            .filter(|p| p.partition == partition)
            .flat_map(|p| p.holds.iter().map(move |name| (name.as_str(), p)))
            .collect();
        let mut by_part: BTreeMap<&str, Vec<&IndexEntry>> = BTreeMap::new();
        for entry in index.values() {
            if entry.status != EntryStatus::Archived || !filter.matches(entry) {
                continue;
            }
            match &entry.part {
                None => write_restored(to, entry, &[], gzip, &mut report)?,
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
        for (path, entries) in by_part {
            let part = &snapshot.parts[path].1;
            for (entry, rebuilt) in rebuild_files(root, part, &entries) {
                let bytes = rebuilt.map_err(|reason| QueryError::Integrity {
                    key: entry.key.clone(),
                    reason,
                })?;
                write_file(to, entry, &bytes, gzip, &mut report)?;
            }
        }
    }
    Ok(report)
}

/// Assemble a file with no records from its frame, check it, and write it.
fn write_restored(
    to: &Path,
    entry: &IndexEntry,
    records: &[(u32, Vec<u8>)],
    gzip: bool,
    report: &mut RestoreReport,
) -> Result<(), QueryError> {
    let bytes =
        assemble_checked(entry, &mut records.to_vec()).map_err(|reason| QueryError::Integrity {
            key: entry.key.clone(),
            reason,
        })?;
    write_file(to, entry, &bytes, gzip, report)
}

fn write_file(
    to: &Path,
    entry: &IndexEntry,
    bytes: &[u8],
    gzip: bool,
    report: &mut RestoreReport,
) -> Result<(), QueryError> {
    let path = output_path(to, &entry.key, gzip)?;
    if gzip {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        let gz = encoder
            .write_all(bytes)
            .and_then(|()| encoder.finish())
            .map_err(|e| trailpack_store::StoreError::io(&path, e))?;
        write_atomic(&path, &gz)?;
    } else {
        write_atomic(&path, bytes)?;
    }
    report.files += 1;
    report.records += entry.records;
    report.raw_bytes += bytes.len() as u64;
    Ok(())
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
