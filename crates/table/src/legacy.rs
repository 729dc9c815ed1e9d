//! The first on-disk format: JSON commits in `_trailpack/commits/`, read by
//! `trailpack upgrade` only. The merge rules are those the first release used:
//! commits in name order, retired parts dropped, the last entry of a key wins.

use std::collections::{BTreeMap, HashSet};

use serde::Deserialize;
use trailpack_decode::{Frame, Separators};
use trailpack_store::ArchiveRoot;

use crate::TableError;
use crate::index::{EntryStatus, IndexEntry};
use crate::keys::StoredPublicKey;
use crate::layout::LEGACY_COMMITS_DIR;

/// A part of the first format.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct LegacyPart {
    /// Path relative to the archive root.
    pub path: String,
    /// Size in bytes.
    pub bytes: u64,
    /// CRC-32 of the file.
    pub crc32: u32,
    /// Rows.
    pub rows: u64,
}

#[derive(Deserialize)]
struct LegacyFrame {
    prefix: String,
    #[serde(default)]
    separator: Option<String>,
    #[serde(default)]
    separators: Option<Vec<String>>,
    suffix: String,
}

#[derive(Deserialize)]
struct LegacyFile {
    key: String,
    status: String,
    size: u64,
    #[serde(default)]
    raw_size: Option<u64>,
    #[serde(default)]
    sha256: Option<String>,
    #[serde(default)]
    records: u64,
    #[serde(default)]
    fallback_records: u64,
    #[serde(default)]
    part: Option<String>,
    #[serde(default)]
    frame: Option<LegacyFrame>,
    #[serde(default)]
    reason: Option<String>,
}

#[derive(Deserialize)]
struct LegacyDigest {
    key: String,
    size: u64,
    sha256: Option<String>,
    signature: Option<String>,
    #[serde(default)]
    signature_algorithm: Option<String>,
    #[serde(default)]
    backfill_generation_timestamp: Option<String>,
}

#[derive(Deserialize)]
struct LegacyCommit {
    format: String,
    version: u32,
    #[serde(default)]
    parts: Vec<LegacyPart>,
    #[serde(default)]
    files: Vec<LegacyFile>,
    #[serde(default)]
    digests: Vec<LegacyDigest>,
    #[serde(default)]
    public_keys: Vec<StoredPublicKey>,
    #[serde(default)]
    retired_parts: Vec<String>,
}

/// Every commit of a first-format archive, merged.
#[derive(Debug, Default)]
pub struct LegacyManifest {
    /// The parts not retired, in commit order.
    pub parts: Vec<LegacyPart>,
    /// The current entry of every key: files and digests, as index entries whose
    /// `part` is the part's path (not its name).
    pub entries: BTreeMap<String, IndexEntry>,
    /// The public keys stored.
    pub public_keys: Vec<StoredPublicKey>,
    /// The commit files, relative paths.
    pub commit_files: Vec<String>,
}

impl LegacyManifest {
    /// Read every commit under `root`.
    pub fn load(root: &ArchiveRoot) -> Result<LegacyManifest, TableError> {
        let mut manifest = LegacyManifest::default();
        for listed in root.list(LEGACY_COMMITS_DIR)? {
            let name = listed.name();
            let direct = listed.path.len() == LEGACY_COMMITS_DIR.len() + 1 + name.len();
            if direct && !name.starts_with('.') && name.ends_with(".json") {
                manifest.commit_files.push(listed.path);
            }
        }
        manifest.commit_files.sort();
        let commits: Vec<String> = manifest
            .commit_files
            .iter()
            .filter(|p| !p.ends_with(".parts.json"))
            .cloned()
            .collect();
        root.read_each(&commits, |path, bytes| {
            let corrupt = |reason: String| TableError::Corrupt {
                path: path.to_string(),
                reason,
            };
            let commit: LegacyCommit =
                serde_json::from_slice(&bytes).map_err(|e| corrupt(e.to_string()))?;
            if commit.format != "trailpack.commit" || !(1..=2).contains(&commit.version) {
                return Err(corrupt(format!(
                    "format {:?} version {} is not a first-format commit",
                    commit.format, commit.version
                )));
            }
            manifest.merge(commit).map_err(corrupt)
        })?;
        Ok(manifest)
    }

    fn merge(&mut self, commit: LegacyCommit) -> Result<(), String> {
        let retired: HashSet<&String> = commit.retired_parts.iter().collect();
        self.parts.retain(|part| !retired.contains(&part.path));
        self.parts.extend(commit.parts);
        for file in commit.files {
            let entry = file_entry(file)?;
            self.entries.insert(entry.key.clone(), entry);
        }
        for digest in commit.digests {
            let entry = IndexEntry {
                key: digest.key,
                status: EntryStatus::Digest,
                size: digest.size,
                raw_size: None,
                sha256: digest.sha256.as_deref().map(parse_hash).transpose()?,
                records: 0,
                fallback_records: 0,
                part: None,
                frame: None,
                reason: None,
                signature: digest.signature,
                signature_algorithm: digest.signature_algorithm,
                backfill_generation_timestamp: digest.backfill_generation_timestamp,
            };
            self.entries.insert(entry.key.clone(), entry);
        }
        self.public_keys.extend(commit.public_keys);
        Ok(())
    }
}

fn file_entry(file: LegacyFile) -> Result<IndexEntry, String> {
    let status = match file.status.as_str() {
        "archived" => EntryStatus::Archived,
        "quarantined" => EntryStatus::Quarantined,
        other => return Err(format!("{}: unknown status {other:?}", file.key)),
    };
    let frame = file.frame.map(|frame| Frame {
        prefix: frame.prefix,
        separators: match (frame.separators, frame.separator) {
            (Some(each), _) => Separators::Each(each),
            (None, one) => Separators::Uniform(one.unwrap_or_default()),
        },
        suffix: frame.suffix,
    });
    Ok(IndexEntry {
        sha256: file.sha256.as_deref().map(parse_hash).transpose()?,
        key: file.key,
        status,
        size: file.size,
        raw_size: file.raw_size,
        records: file.records,
        fallback_records: file.fallback_records,
        part: file.part,
        frame,
        reason: file.reason,
        signature: None,
        signature_algorithm: None,
        backfill_generation_timestamp: None,
    })
}

fn parse_hash(text: &str) -> Result<[u8; 32], String> {
    let bytes: Option<Vec<u8>> = (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect();
    bytes
        .and_then(|b| <[u8; 32]>::try_from(b).ok())
        .ok_or_else(|| format!("{text:?} is not a SHA-256 in hex"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bundled_first_format_archive_merges_as_it_did() {
        let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/data/legacy-v1/archive");
        let manifest = LegacyManifest::load(&ArchiveRoot::from(fixture.as_path())).unwrap();
        // The compaction retired four parts and added two.
        assert_eq!(manifest.parts.len(), 2);
        let count = |status| {
            manifest
                .entries
                .values()
                .filter(|e| e.status == status)
                .count()
        };
        assert_eq!(count(EntryStatus::Archived), 19);
        assert_eq!(count(EntryStatus::Quarantined), 1);
        assert_eq!(count(EntryStatus::Digest), 39);
        assert_eq!(manifest.public_keys.len(), 1);
        // Every archived file with records names a part that is still there.
        let parts: HashSet<&str> = manifest.parts.iter().map(|p| p.path.as_str()).collect();
        assert!(
            manifest
                .entries
                .values()
                .all(|e| e.part.as_deref().is_none_or(|p| parts.contains(p)))
        );
    }

    #[test]
    fn hashes_parse_from_hex() {
        assert_eq!(parse_hash(&"ab".repeat(32)).unwrap(), [0xab; 32]);
        assert!(parse_hash("abc").is_err());
        assert!(parse_hash(&"zz".repeat(32)).is_err());
    }
}
