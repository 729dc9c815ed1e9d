//! `verify`: prove an archive is intact, from its own content.
//!
//! Three levels: every part against its manifest entry (size, CRC-32, Parquet
//! footer, row count); `deep`, every archived file rebuilt and compared with the
//! SHA-256 the manifest recorded; `digests`, CloudTrail's own digest chains
//! validated over the archived digests, and every log file they list checked
//! against the bytes rebuilt from the archive.

use std::collections::{BTreeMap, HashMap, HashSet};

use base64::Engine;
use bytes::Bytes;
use parquet::file::reader::{FileReader, SerializedFileReader};
use serde::Serialize;
use trailpack_decode::{DEFAULT_MAX_FILE_BYTES, gunzip, sha256};
use trailpack_digest::{DigestInput, PublicKeyEntry, PublicKeys, ValidationReport};

use crate::manifest::{DigestEntry, FileEntry, FileStatus, Manifest, PartEntry, QUARANTINE_DIR};
use crate::read::{assemble, check_sha256, records_from};
use crate::{ArchiveError, ArchiveRoot, hex};

/// What to check.
#[derive(Debug, Clone, Default)]
pub struct VerifyOptions {
    /// Rebuild every archived file and compare its SHA-256 with the manifest.
    pub deep: bool,
    /// Validate the archived digest chains and the log files they list (implies
    /// rebuilding every file).
    pub digests: bool,
    /// Public keys in addition to those stored in the archive.
    pub public_keys: PublicKeys,
}

/// What `verify` found. Each problem is one line naming what is wrong.
#[derive(Debug, Clone, Default, Serialize)]
pub struct VerifyReport {
    /// Parts named by the manifest.
    pub parts: u64,
    /// Parts whose size, CRC-32, footer and row count match.
    pub parts_ok: u64,
    /// Archived files rebuilt (deep).
    pub files_rebuilt: u64,
    /// Rebuilt files whose SHA-256 matches the manifest.
    pub files_ok: u64,
    /// Quarantined files whose kept bytes are present.
    pub quarantined_present: u64,
    /// Digest files in the manifest.
    pub digest_files: u64,
    /// Stored digests present with the size and SHA-256 the manifest recorded.
    pub digest_files_ok: u64,
    /// Problems, one line each.
    pub problems: Vec<String>,
    /// Things worth knowing that are not damage (orphan parts from a crash).
    pub warnings: Vec<String>,
    /// Digest chain validation, when asked for.
    pub digests: Option<ValidationReport>,
}

impl VerifyReport {
    /// Whether nothing is wrong.
    pub fn is_clean(&self) -> bool {
        self.problems.is_empty()
            && self
                .digests
                .as_ref()
                .is_none_or(ValidationReport::all_valid)
    }
}

/// Verify the archive at `root`.
pub fn verify(root: &ArchiveRoot, options: &VerifyOptions) -> Result<VerifyReport, ArchiveError> {
    let manifest = Manifest::load(root)?;
    let mut report = VerifyReport::default();
    let rebuild = options.deep || options.digests;
    let mut files_by_part: BTreeMap<&str, Vec<&FileEntry>> = BTreeMap::new();
    let mut hashes: HashMap<String, String> = HashMap::new();
    let quarantined: HashSet<String> = root
        .list(QUARANTINE_DIR)?
        .into_iter()
        .map(|listed| listed.path)
        .collect();
    for entry in manifest.current_files() {
        match (entry.status, &entry.part) {
            (FileStatus::Archived, Some(part)) => {
                files_by_part.entry(part).or_default().push(entry)
            }
            (FileStatus::Archived, None) if rebuild => {
                check_file(entry, &mut Vec::new(), &mut report, &mut hashes);
            }
            (FileStatus::Quarantined, _) => {
                let kept = entry
                    .quarantine_path
                    .as_ref()
                    .is_some_and(|p| quarantined.contains(p));
                if kept {
                    report.quarantined_present += 1;
                } else {
                    report.problems.push(format!(
                        "{}: quarantined, but its kept bytes are missing",
                        entry.key
                    ));
                }
            }
            _ => {}
        }
    }
    for part in &manifest.parts {
        report.parts += 1;
        let path = root.locate(&part.path);
        let bytes = match read_checked_part(root, part) {
            Ok(bytes) => bytes,
            Err(problem) => {
                report
                    .problems
                    .push(format!("part {}: {problem}", part.path));
                continue;
            }
        };
        report.parts_ok += 1;
        let Some(entries) = files_by_part.remove(part.path.as_str()).filter(|_| rebuild) else {
            continue;
        };
        match records_from(bytes, &path, entries.iter().map(|e| e.key.as_str())) {
            Ok(mut records) => {
                for entry in entries {
                    let mut rows = records.remove(entry.key.as_str()).unwrap_or_default();
                    check_file(entry, &mut rows, &mut report, &mut hashes);
                }
            }
            Err(e) => report
                .problems
                .push(format!("part {}: rows do not rebuild: {e}", part.path)),
        }
    }
    if rebuild {
        for (part, entries) in files_by_part {
            for entry in entries {
                report.files_rebuilt += 1;
                report.problems.push(format!(
                    "{}: not rebuilt: its part {part} failed verification or is not in the manifest",
                    entry.key
                ));
            }
        }
    }
    report.warnings = orphan_parts(root, &manifest)?;
    report
        .problems
        .extend(crate::manifest::check_parts_summaries(root)?);
    let digests = check_stored_digests(root, &manifest, &mut report)?;
    if options.digests {
        report.digests = Some(validate_digests(digests, &manifest, options, &hashes)?);
    }
    Ok(report)
}

/// Read a part and check it against its manifest entry: size, CRC-32, Parquet
/// footer and row count. The error is one line saying what is wrong.
pub(crate) fn read_checked_part(root: &ArchiveRoot, part: &PartEntry) -> Result<Bytes, String> {
    let bytes = match root.read(&part.path) {
        Ok(Some(bytes)) => bytes,
        Ok(None) => return Err("missing (named by the manifest)".into()),
        Err(e) => return Err(format!("cannot read: {e}")),
    };
    if bytes.len() as u64 != part.bytes {
        return Err(format!(
            "{} bytes, the manifest says {}",
            bytes.len(),
            part.bytes
        ));
    }
    let crc = crc32fast::hash(&bytes);
    if crc != part.crc32 {
        return Err(format!(
            "CRC-32 {crc:08x}, the manifest says {:08x}",
            part.crc32
        ));
    }
    let rows = SerializedFileReader::new(bytes.clone())
        .map_err(|e| format!("not readable as Parquet: {e}"))?
        .metadata()
        .file_metadata()
        .num_rows() as u64;
    if rows != part.rows {
        return Err(format!("{rows} rows, the manifest says {}", part.rows));
    }
    Ok(bytes)
}

/// Rebuild one file from its rows, check it, and remember its hash.
fn check_file(
    entry: &FileEntry,
    rows: &mut [(u32, Vec<u8>)],
    report: &mut VerifyReport,
    hashes: &mut HashMap<String, String>,
) {
    report.files_rebuilt += 1;
    let bytes = match assemble(entry, rows) {
        Ok(bytes) => bytes,
        Err(e) => return report.problems.push(e.to_string()),
    };
    // Remember what the archive really holds, so that digest checks judge it and
    // not the manifest.
    hashes.insert(entry.key.clone(), hex(&sha256(&bytes)));
    match check_sha256(entry, &bytes) {
        Ok(()) => report.files_ok += 1,
        Err(e) => report.problems.push(e.to_string()),
    }
}

/// Part files in the archive that no commit names.
fn orphan_parts(root: &ArchiveRoot, manifest: &Manifest) -> Result<Vec<String>, ArchiveError> {
    let named: HashSet<&str> = manifest.parts.iter().map(|p| p.path.as_str()).collect();
    Ok(root
        .list_outside_meta()?
        .into_iter()
        .filter(|listed| {
            let name = listed.path.rsplit('/').next().unwrap_or_default();
            name.starts_with("part-")
                && name.ends_with(".parquet")
                && !named.contains(listed.path.as_str())
        })
        .map(|listed| {
            format!(
                "part {}: not in any commit (left by a crash; the next archive run over its partition removes it)",
                listed.path
            )
        })
        .collect())
}

/// Check every stored digest against its manifest entry (present, size, SHA-256
/// of the uncompressed bytes) and return them for chain validation.
fn check_stored_digests(
    root: &ArchiveRoot,
    manifest: &Manifest,
    report: &mut VerifyReport,
) -> Result<Vec<DigestInput>, ArchiveError> {
    let mut digests = Vec::new();
    for entry in &manifest.digests {
        report.digest_files += 1;
        let bytes = match read_checked_digest(root, entry)? {
            Ok(bytes) => bytes,
            Err(what) => {
                report
                    .problems
                    .push(format!("digest {}: {what}", entry.key));
                continue;
            }
        };
        report.digest_files_ok += 1;
        digests.push(DigestInput {
            key: entry.key.clone(),
            bytes,
            signature: entry.signature.clone(),
        });
    }
    Ok(digests)
}

/// A stored digest's uncompressed bytes, checked against its manifest entry
/// (present, size, SHA-256); the inner error says what is wrong.
pub(crate) fn read_checked_digest(
    root: &ArchiveRoot,
    entry: &DigestEntry,
) -> Result<Result<Vec<u8>, String>, ArchiveError> {
    let Some(stored) = root.read(&entry.stored_path)? else {
        return Ok(Err("stored bytes missing".into()));
    };
    if stored.len() as u64 != entry.size {
        return Ok(Err(format!(
            "{} bytes stored, the manifest says {}",
            stored.len(),
            entry.size
        )));
    }
    let bytes = if entry.key.ends_with(".gz") {
        gunzip(&stored, DEFAULT_MAX_FILE_BYTES).ok()
    } else {
        Some(stored.to_vec())
    };
    let actual = bytes.as_deref().map(|b| hex(&sha256(b)));
    if actual != entry.sha256 {
        return Ok(Err("SHA-256 does not match the manifest".into()));
    }
    // A digest that does not gunzip is kept as it came; its chain check says so.
    Ok(Ok(bytes.unwrap_or_default()))
}

fn validate_digests(
    digests: Vec<DigestInput>,
    manifest: &Manifest,
    options: &VerifyOptions,
    hashes: &HashMap<String, String>,
) -> Result<ValidationReport, ArchiveError> {
    let mut keys = options.public_keys.clone();
    for stored in &manifest.public_keys {
        let der = base64::engine::general_purpose::STANDARD
            .decode(&stored.value)
            .map_err(|e| ArchiveError::Integrity {
                key: format!("public key {}", stored.fingerprint),
                reason: format!("stored value is not base64: {e}"),
            })?;
        let key = PublicKeyEntry::from_der(&der).map_err(|e| ArchiveError::Integrity {
            key: format!("public key {}", stored.fingerprint),
            reason: e.to_string(),
        })?;
        keys.add(key);
    }
    Ok(trailpack_digest::validate(
        digests,
        &keys,
        |key| hashes.get(key).cloned(),
        |_| true,
    ))
}
