//! `verify`: prove an archive is intact, from its own content.
//!
//! Three levels: every part against the table (size, CRC-32, Parquet footer, row
//! count) and every index entry against the parts that hold it; `deep`, every
//! archived file rebuilt and compared with the SHA-256 the index recorded;
//! `digests`, CloudTrail's own digest chains validated over the archived digests,
//! and every log file they list checked against the bytes rebuilt from the
//! archive. Partitions are checked a few at a time (`VerifyOptions::jobs`).

use std::collections::{BTreeSet, HashMap};

use rayon::prelude::*;
use serde::Serialize;
use trailpack_digest::{DigestInput, PublicKeyEntry, PublicKeys, ValidationReport};
use trailpack_parts::{
    assemble, check_bytes, hex, read_checked_digest, read_checked_part, records_from,
};
use trailpack_store::ArchiveRoot;
use trailpack_table::index::{indexed_partitions, load_partition};
use trailpack_table::intent::pending_parts;
use trailpack_table::keys::load_keys;
use trailpack_table::{
    EntryStatus, IndexEntry, PENDING_DIR, PartInfo, PartitionKey, Snapshot, Table,
};

use crate::QueryError;

/// What to check.
#[derive(Debug, Clone, Default)]
pub struct VerifyOptions {
    /// Rebuild every archived file and compare its SHA-256 with the index.
    pub deep: bool,
    /// Validate the archived digest chains and the log files they list (implies
    /// rebuilding every file).
    pub digests: bool,
    /// Public keys in addition to those stored in the archive.
    pub public_keys: PublicKeys,
    /// Partitions checked at once, and stored digests read at once within one;
    /// `None`: one per core for a local archive,
    /// [`DEFAULT_REMOTE_JOBS`](crate::DEFAULT_REMOTE_JOBS) on S3.
    pub jobs: Option<usize>,
}

/// What `verify` found. Each problem is one line naming what is wrong.
#[derive(Debug, Clone, Default, Serialize)]
pub struct VerifyReport {
    /// Parts in the table.
    pub parts: u64,
    /// Parts whose size, CRC-32, footer and row count match.
    pub parts_ok: u64,
    /// Archived files rebuilt (deep).
    pub files_rebuilt: u64,
    /// Rebuilt files whose SHA-256 matches the index.
    pub files_ok: u64,
    /// Quarantined files whose kept bytes are present.
    pub quarantined_present: u64,
    /// Digest files in the index.
    pub digest_files: u64,
    /// Stored digests present with the size and SHA-256 the index recorded.
    pub digest_files_ok: u64,
    /// Problems, one line each.
    pub problems: Vec<String>,
    /// Things worth knowing that are not damage (an interrupted commit, a part
    /// file the table does not hold).
    pub warnings: Vec<String>,
    /// Digest chain validation, when asked for.
    pub digests: Option<ValidationReport>,
}

impl VerifyReport {
    /// Add a partition's counts and lines.
    fn merge(&mut self, other: VerifyReport) {
        self.parts += other.parts;
        self.parts_ok += other.parts_ok;
        self.files_rebuilt += other.files_rebuilt;
        self.files_ok += other.files_ok;
        self.quarantined_present += other.quarantined_present;
        self.digest_files += other.digest_files;
        self.digest_files_ok += other.digest_files_ok;
        self.problems.extend(other.problems);
        self.warnings.extend(other.warnings);
    }

    /// Whether nothing is wrong.
    pub fn is_clean(&self) -> bool {
        self.problems.is_empty()
            && self
                .digests
                .as_ref()
                .is_none_or(ValidationReport::all_valid)
    }
}

/// What the checks of the partitions hand to the digest walk.
#[derive(Default)]
struct Found {
    /// The SHA-256 of every file as rebuilt, by key.
    hashes: HashMap<String, String>,
    /// The stored digests that passed their checks.
    digests: Vec<DigestInput>,
}

/// Verify the archive at `root`.
pub fn verify(root: &ArchiveRoot, options: &VerifyOptions) -> Result<VerifyReport, QueryError> {
    let table = Table::open(root)?;
    let snapshot = table.snapshot();
    let mut report = VerifyReport::default();
    for listed in root.list(PENDING_DIR)? {
        report.warnings.push(format!(
            "{}: a commit that did not finish (the next archive or compact run finishes it)",
            listed.path
        ));
    }
    let mut partitions: BTreeSet<PartitionKey> =
        snapshot.part_infos().map(|p| p.partition.clone()).collect();
    partitions.extend(indexed_partitions(root)?);
    let partitions: Vec<PartitionKey> = partitions.into_iter().collect();
    // Partitions are checked `jobs` at a time, each into its own report, merged in
    // partition order so that the output does not depend on the timing.
    let checked: Vec<Result<(VerifyReport, Found), QueryError>> =
        crate::restore::job_pool(root, options.jobs, "verify")?.install(|| {
            partitions
                .par_iter()
                .map(|partition| {
                    let mut report = VerifyReport::default();
                    let mut found = Found::default();
                    verify_partition(root, snapshot, partition, options, &mut report, &mut found)?;
                    Ok((report, found))
                })
                .collect()
        });
    let mut found = Found::default();
    for result in checked {
        let (partition_report, partition_found) = result?;
        report.merge(partition_report);
        found.hashes.extend(partition_found.hashes);
        found.digests.extend(partition_found.digests);
    }
    report.warnings.extend(stray_parts(root, snapshot)?);
    if options.digests {
        report.digests = Some(validate_digests(root, found, options)?);
    }
    Ok(report)
}

/// Check one partition: its parts, then every entry of its index.
fn verify_partition(
    root: &ArchiveRoot,
    snapshot: &Snapshot,
    partition: &PartitionKey,
    options: &VerifyOptions,
    report: &mut VerifyReport,
    found: &mut Found,
) -> Result<(), QueryError> {
    let rebuild = options.deep || options.digests;
    let index = match load_partition(root, partition) {
        Ok(index) => index,
        Err(e) => {
            // The parts are still checked; their files cannot be.
            report.problems.push(format!("index {e}"));
            Default::default()
        }
    };
    let parts: Vec<&PartInfo> = snapshot
        .part_infos()
        .filter(|p| p.partition == *partition)
        .collect();
    let mut held = std::collections::HashSet::new();
    for part in &parts {
        report.parts += 1;
        let members: Vec<&IndexEntry> = index
            .values()
            .filter(|e| e.status == EntryStatus::Archived)
            .filter(|e| e.part.as_ref().is_some_and(|p| part.holds.contains(p)))
            .collect();
        held.extend(members.iter().map(|e| e.key.as_str()));
        let accounted: u64 = members.iter().map(|e| e.records).sum();
        if accounted != part.rows {
            report.warnings.push(format!(
                "part {}: {} rows, the index accounts for {accounted} (a file archived twice, or rows no entry names)",
                part.path, part.rows
            ));
        }
        let bytes = match read_checked_part(root, part) {
            Ok(bytes) => bytes,
            Err(problem) => {
                report
                    .problems
                    .push(format!("part {}: {problem}", part.path));
                for entry in &members {
                    report.files_rebuilt += u64::from(rebuild);
                    report.problems.push(format!(
                        "{}: not rebuilt: its part {} failed verification",
                        entry.key, part.path
                    ));
                }
                continue;
            }
        };
        report.parts_ok += 1;
        if !rebuild {
            continue;
        }
        match records_from(
            bytes,
            &root.locate(&part.path),
            members.iter().map(|e| e.key.as_str()),
        ) {
            Ok(mut records) => {
                for entry in members {
                    let mut rows = records.remove(&entry.key).unwrap_or_default();
                    check_file(entry, &mut rows, report, found);
                }
            }
            Err(e) => report
                .problems
                .push(format!("part {}: rows do not rebuild: {e}", part.path)),
        }
    }
    // Stored digests are read at once (on S3, one GET each), then taken in order.
    let digests: Vec<&IndexEntry> = index
        .values()
        .filter(|e| e.status == EntryStatus::Digest)
        .collect();
    let read: Vec<_> = digests
        .par_iter()
        .map(|entry| read_checked_digest(root, entry))
        .collect();
    for (entry, read) in digests.into_iter().zip(read) {
        report.digest_files += 1;
        match read? {
            Ok(bytes) => {
                report.digest_files_ok += 1;
                found.digests.push(DigestInput {
                    key: entry.key.clone(),
                    bytes,
                    signature: entry.signature.clone(),
                });
            }
            Err(what) => report
                .problems
                .push(format!("digest {}: {what}", entry.key)),
        }
    }
    for entry in index.values() {
        check_entry(root, entry, &held, rebuild, report, found)?;
    }
    Ok(())
}

/// Check an index entry that is not a file of a part that was just checked, nor a
/// digest.
fn check_entry(
    root: &ArchiveRoot,
    entry: &IndexEntry,
    held: &std::collections::HashSet<&str>,
    rebuild: bool,
    report: &mut VerifyReport,
    found: &mut Found,
) -> Result<(), QueryError> {
    match (entry.status, &entry.part) {
        (EntryStatus::Archived, Some(part)) if !held.contains(entry.key.as_str()) => {
            report.files_rebuilt += u64::from(rebuild);
            report.problems.push(format!(
                "{}: its part {part} is not in the table",
                entry.key
            ));
        }
        (EntryStatus::Archived, None) if rebuild => {
            check_file(entry, &mut Vec::new(), report, found);
        }
        (EntryStatus::Quarantined, _) => {
            let path = entry.stored_path().unwrap_or_default();
            if root.size(&path)? == Some(entry.size) {
                report.quarantined_present += 1;
            } else {
                report.problems.push(format!(
                    "{}: quarantined, but its kept bytes are missing or changed ({path})",
                    entry.key
                ));
            }
        }
        _ => {}
    }
    Ok(())
}

/// Rebuild one file from its rows, check it, and remember its hash: the digest
/// checks judge what the archive really holds, not what the index says.
fn check_file(
    entry: &IndexEntry,
    rows: &mut [(u32, Vec<u8>)],
    report: &mut VerifyReport,
    found: &mut Found,
) {
    report.files_rebuilt += 1;
    let checked = assemble(entry, rows).and_then(|bytes| {
        found
            .hashes
            .insert(entry.key.clone(), hex(&trailpack_decode::sha256(&bytes)));
        check_bytes(entry, &bytes)
    });
    match checked {
        Ok(()) => report.files_ok += 1,
        Err(reason) => report.problems.push(format!("{}: {reason}", entry.key)),
    }
}

/// Part files in partition directories that the table does not hold and no
/// intent is about to commit.
fn stray_parts(root: &ArchiveRoot, snapshot: &Snapshot) -> Result<Vec<String>, QueryError> {
    let pending = pending_parts(root)?;
    let stray = snapshot.unheld_parts(root)?.into_iter();
    Ok(stray
        .filter(|listed| !pending.contains(&listed.path))
        .map(|listed| {
            format!(
                "part {}: not in the table (left by a crash: glob readers see it until the next archive run over its partition removes it)",
                listed.path
            )
        })
        .collect())
}

fn validate_digests(
    root: &ArchiveRoot,
    found: Found,
    options: &VerifyOptions,
) -> Result<ValidationReport, QueryError> {
    let mut keys = options.public_keys.clone();
    for stored in load_keys(root)? {
        let integrity = |reason: String| QueryError::Integrity {
            key: format!("public key {}", stored.fingerprint),
            reason,
        };
        let (der, _) = stored.der().map_err(integrity)?;
        keys.add(PublicKeyEntry::from_der(&der).map_err(|e| integrity(e.to_string()))?);
    }
    Ok(trailpack_digest::validate(
        found.digests,
        &keys,
        |key| found.hashes.get(key).cloned(),
        |_| true,
    ))
}
