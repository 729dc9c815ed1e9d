//! The manifest: an append-only log of commits, one JSON file per commit.
//!
//! A commit names the parts it adds and every source file it accounts for (archived
//! with where its rows are, or quarantined with why). Commit files live in
//! `_trailpack/commits/` and sort by name in commit order; writers never rewrite
//! one, so concurrent writers (shards) commit side by side. `docs/FORMAT.md`
//! documents every field.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::{ArchiveError, ArchiveRoot};

/// Directory of trailpack's own files under the archive root.
pub const META_DIR: &str = "_trailpack";
/// Commit files, under [`META_DIR`].
pub const COMMITS_DIR: &str = "_trailpack/commits";
/// Original bytes of digest files, by key, under [`META_DIR`].
pub const DIGESTS_DIR: &str = "_trailpack/digests";
/// Original bytes of quarantined files, by key, under [`META_DIR`].
pub const QUARANTINE_DIR: &str = "_trailpack/quarantine";
/// The `format` value of every commit file.
pub const COMMIT_FORMAT: &str = "trailpack.commit";
/// The commit format version this code writes, except for commits that retire parts.
pub const COMMIT_VERSION: u32 = 1;
/// The version of commits that retire parts (`compact`): a reader of version 1
/// alone would show the retired parts' rows twice, so it must refuse them.
pub const RETIRING_COMMIT_VERSION: u32 = 2;

/// One commit file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Commit {
    /// Always [`COMMIT_FORMAT`].
    pub format: String,
    /// [`COMMIT_VERSION`] when written by this code.
    pub version: u32,
    /// Unique, and sorts in commit order; also the file's stem.
    pub id: String,
    /// The writer, e.g. `trailpack 0.1.0`.
    pub writer: String,
    /// Parts this commit adds.
    pub parts: Vec<PartEntry>,
    /// Source files this commit accounts for.
    pub files: Vec<FileEntry>,
    /// Digest files this commit stores.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub digests: Vec<DigestEntry>,
    /// CloudTrail public keys this commit stores.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub public_keys: Vec<StoredPublicKey>,
    /// Parts this commit retires (paths): their files are re-recorded in `files`
    /// with the parts this commit adds. Only in [`RETIRING_COMMIT_VERSION`] commits.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub retired_parts: Vec<String>,
}

/// A digest file kept in the archive, exactly as delivered, with its signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DigestEntry {
    /// The digest's key (from `AWSLogs/` on).
    pub key: String,
    /// Account from the file name.
    pub account: String,
    /// Region from the file name.
    pub region: String,
    /// End of the hour covered, from the file name, `YYYY-MM-DDTHH:MM:SSZ`.
    pub delivery: String,
    /// Stored size in bytes (compressed, as read).
    pub size: u64,
    /// Hex SHA-256 of the uncompressed bytes (null when they do not gunzip).
    pub sha256: Option<String>,
    /// The hex signature from the object's metadata or the signatures sidecar.
    pub signature: Option<String>,
    /// The signature algorithm from the object's metadata (`SHA256withRSA`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature_algorithm: Option<String>,
    /// When a backfill digest was made, from the object's metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backfill_generation_timestamp: Option<String>,
    /// Where the bytes are, relative to the archive root.
    pub stored_path: String,
}

impl From<&trailpack_digest::PublicKeyEntry> for StoredPublicKey {
    fn from(key: &trailpack_digest::PublicKeyEntry) -> Self {
        use base64::Engine;
        StoredPublicKey {
            fingerprint: key.fingerprint.clone(),
            value: base64::engine::general_purpose::STANDARD.encode(&key.der),
            valid_from: key.valid_from.clone(),
            valid_until: key.valid_until.clone(),
        }
    }
}

/// A CloudTrail public key kept in the archive (from `--public-keys`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredPublicKey {
    /// Lowercase hex MD5 of the DER bytes.
    pub fingerprint: String,
    /// Base64 of the DER bytes, as in `list-public-keys`.
    pub value: String,
    /// Start of validity, as given.
    pub valid_from: Option<String>,
    /// End of validity, as given.
    pub valid_until: Option<String>,
}

/// A Parquet part file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PartEntry {
    /// Path relative to the archive root, `/`-separated.
    pub path: String,
    /// Size in bytes.
    pub bytes: u64,
    /// CRC-32 (IEEE) of the whole file.
    pub crc32: u32,
    /// Rows (records).
    pub rows: u64,
    /// Row groups.
    pub row_groups: u64,
    /// The partition's account.
    pub account: String,
    /// The partition's region.
    pub region: String,
    /// Earliest `eventtime`, microseconds since the epoch (null if no row has one).
    pub min_event_time_us: Option<i64>,
    /// Latest `eventtime`, microseconds since the epoch.
    pub max_event_time_us: Option<i64>,
    /// Rows per `eventVersion`.
    pub event_versions: BTreeMap<String, u64>,
    /// Dotted paths of members that no schema version knows, kept in `additionalfields`.
    pub unknown_paths: Vec<String>,
    /// Rows stored whole in `_raw` because they did not rebuild from their columns.
    pub fallback_rows: u64,
}

/// What happened to a source file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FileStatus {
    /// Its records are in `part`.
    Archived,
    /// It could not be decoded; see `reason`.
    Quarantined,
}

/// The text around a file's records (see `trailpack_decode::Frame`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FrameEntry {
    /// Everything before the first record.
    pub prefix: String,
    /// The text between every pair of records, when it is always the same.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub separator: Option<String>,
    /// The text between record `i` and `i + 1`, when they differ.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub separators: Option<Vec<String>>,
    /// Everything after the last record.
    pub suffix: String,
}

impl From<trailpack_decode::Frame> for FrameEntry {
    fn from(frame: trailpack_decode::Frame) -> Self {
        let (separator, separators) = match frame.separators {
            trailpack_decode::Separators::Uniform(text) => (Some(text), None),
            trailpack_decode::Separators::Each(texts) => (None, Some(texts)),
        };
        FrameEntry {
            prefix: frame.prefix,
            separator,
            separators,
            suffix: frame.suffix,
        }
    }
}

impl From<&FrameEntry> for trailpack_decode::Frame {
    fn from(entry: &FrameEntry) -> Self {
        let separators = match (&entry.separator, &entry.separators) {
            (_, Some(texts)) => trailpack_decode::Separators::Each(texts.clone()),
            (Some(text), None) => trailpack_decode::Separators::Uniform(text.clone()),
            (None, None) => trailpack_decode::Separators::Uniform(String::new()),
        };
        trailpack_decode::Frame {
            prefix: entry.prefix.clone(),
            separators,
            suffix: entry.suffix.clone(),
        }
    }
}

/// A source file the archive accounts for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileEntry {
    /// The source key (from `AWSLogs/` on).
    pub key: String,
    /// Archived or quarantined.
    pub status: FileStatus,
    /// Account from the file name.
    pub account: String,
    /// Region from the file name.
    pub region: String,
    /// Delivery time from the file name, `YYYY-MM-DDTHH:MM:SSZ`.
    pub delivery: String,
    /// Stored size in bytes (compressed, as read).
    pub size: u64,
    /// Uncompressed size in bytes (archived files).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw_size: Option<u64>,
    /// Hex SHA-256 of the uncompressed bytes (archived files).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// Records in the file (archived files).
    #[serde(default)]
    pub records: u64,
    /// Records stored whole in `_raw` because they did not rebuild from columns.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub fallback_records: u64,
    /// The part holding its rows (archived files with at least one record).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub part: Option<String>,
    /// The text around the records (archived files).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frame: Option<FrameEntry>,
    /// Why it was quarantined.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Where its original bytes are kept, relative to the archive root (quarantined).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quarantine_path: Option<String>,
}

fn is_zero(value: &u64) -> bool {
    *value == 0
}

/// Every commit of an archive, merged.
#[derive(Debug, Default)]
pub struct Manifest {
    /// Parts in commit order.
    pub parts: Vec<PartEntry>,
    /// Files in commit order.
    pub files: Vec<FileEntry>,
    /// Digest files in commit order.
    pub digests: Vec<DigestEntry>,
    /// Public keys in commit order.
    pub public_keys: Vec<StoredPublicKey>,
    /// Commit files read.
    pub commits: usize,
    by_key: HashMap<String, usize>,
    digest_keys: HashMap<String, usize>,
}

impl Manifest {
    /// Read every commit under `root`. A missing archive reads as empty.
    pub fn load(root: &ArchiveRoot) -> Result<Manifest, ArchiveError> {
        let mut manifest = Manifest::default();
        root.read_each(&CommitFiles::list(root)?.commits, |path, text| {
            let commit = parse_commit(&text).map_err(|reason| ArchiveError::Manifest {
                path: root.locate(path),
                reason,
            })?;
            manifest.add(commit);
            Ok(())
        })?;
        Ok(manifest)
    }

    /// Merge one commit.
    pub fn add(&mut self, commit: Commit) {
        self.commits += 1;
        retire(&mut self.parts, &commit.retired_parts);
        self.parts.extend(commit.parts);
        for file in commit.files {
            self.by_key.insert(file.key.clone(), self.files.len());
            self.files.push(file);
        }
        for digest in commit.digests {
            self.digest_keys
                .insert(digest.key.clone(), self.digests.len());
            self.digests.push(digest);
        }
        self.public_keys.extend(commit.public_keys);
    }

    /// The entry for a digest key.
    pub fn digest(&self, key: &str) -> Option<&DigestEntry> {
        self.digest_keys.get(key).map(|&i| &self.digests[i])
    }

    /// The current entry of every source key, in commit order: where a key was
    /// recorded more than once (by concurrent writers), the last record wins.
    pub fn current_files(&self) -> impl Iterator<Item = &FileEntry> {
        self.files
            .iter()
            .enumerate()
            .filter(|(index, file)| self.by_key.get(&file.key) == Some(index))
            .map(|(_, file)| file)
    }

    /// The entry for a source key.
    pub fn file(&self, key: &str) -> Option<&FileEntry> {
        self.by_key.get(key).map(|&i| &self.files[i])
    }
}

/// The commit files under `root` and their parts summaries.
struct CommitFiles {
    /// Commit files (relative paths), in commit order.
    commits: Vec<String>,
    /// Parts summaries that exist.
    summaries: HashSet<String>,
}

impl CommitFiles {
    /// List them. A missing archive has none.
    fn list(root: &ArchiveRoot) -> Result<CommitFiles, ArchiveError> {
        let mut files = CommitFiles {
            commits: Vec::new(),
            summaries: HashSet::new(),
        };
        for listed in root.list(COMMITS_DIR)? {
            let name = listed.path.rsplit('/').next().unwrap_or_default();
            // Only files directly in the directory, not temporary files.
            if listed.path.len() != COMMITS_DIR.len() + 1 + name.len() || name.starts_with('.') {
                continue;
            }
            if name.ends_with(PARTS_SUFFIX) {
                files.summaries.insert(listed.path);
            } else if name.ends_with(".json") {
                files.commits.push(listed.path);
            }
        }
        files.commits.sort();
        Ok(files)
    }

    /// The parts summary of `commit`, when it has one.
    fn summary(&self, commit: &str) -> Option<&str> {
        let summary = format!("{}{PARTS_SUFFIX}", commit.strip_suffix(".json")?);
        self.summaries.get(&summary).map(String::as_str)
    }
}

/// The suffix of a commit's parts summary, `<commit id>.parts.json`: the commit's
/// `parts` alone, written just before the commit, so that queries need not parse
/// every file entry of every commit.
pub const PARTS_SUFFIX: &str = ".parts.json";

#[derive(Serialize, Deserialize)]
struct PartsOnly {
    format: String,
    version: u32,
    #[serde(default)]
    parts: Vec<PartEntry>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    retired_parts: Vec<String>,
}

/// Remove the `retired` paths from `parts`.
fn retire(parts: &mut Vec<PartEntry>, retired: &[String]) {
    if !retired.is_empty() {
        let retired: std::collections::HashSet<&str> = retired.iter().map(String::as_str).collect();
        parts.retain(|part| !retired.contains(part.path.as_str()));
    }
}

/// Parse the parts one commit adds and retires, from its summary or the commit.
fn parse_parts(root: &ArchiveRoot, path: &str, text: &[u8]) -> Result<PartsOnly, ArchiveError> {
    let invalid = |reason: String| ArchiveError::Manifest {
        path: root.locate(path),
        reason,
    };
    let commit: PartsOnly = serde_json::from_slice(text).map_err(|e| invalid(e.to_string()))?;
    if !(COMMIT_VERSION..=RETIRING_COMMIT_VERSION).contains(&commit.version)
        || (commit.format != COMMIT_FORMAT && commit.format != PARTS_FORMAT)
    {
        return Err(invalid(format!(
            "format {:?} version {} is not supported",
            commit.format, commit.version
        )));
    }
    Ok(commit)
}

/// The `format` value of a parts summary.
pub const PARTS_FORMAT: &str = "trailpack.parts";

/// Only the parts of every commit, in commit order: what a query needs, read from
/// the parts summaries.
pub fn load_parts(root: &ArchiveRoot) -> Result<Vec<PartEntry>, ArchiveError> {
    let files = CommitFiles::list(root)?;
    let sources: Vec<String> = files
        .commits
        .iter()
        .map(|commit| files.summary(commit).unwrap_or(commit).to_string())
        .collect();
    let mut parts = Vec::new();
    root.read_each(&sources, |path, text| {
        let commit = parse_parts(root, path, &text)?;
        retire(&mut parts, &commit.retired_parts);
        parts.extend(commit.parts);
        Ok(())
    })?;
    Ok(parts)
}

/// Commits whose parts summary disagrees with the commit itself, one line each.
pub fn check_parts_summaries(root: &ArchiveRoot) -> Result<Vec<String>, ArchiveError> {
    let files = CommitFiles::list(root)?;
    let pairs: Vec<(&String, &str)> = files
        .commits
        .iter()
        .filter_map(|commit| Some((commit, files.summary(commit)?)))
        .collect();
    let mut problems = Vec::new();
    for chunk in pairs.chunks(READ_PAIRS) {
        let paths: Vec<String> = chunk
            .iter()
            .flat_map(|(commit, summary)| [commit.to_string(), summary.to_string()])
            .collect();
        let mut texts = Vec::with_capacity(paths.len());
        root.read_each(&paths, |_, text| {
            texts.push(text);
            Ok(())
        })?;
        for ((commit_path, summary_path), texts) in chunk.iter().zip(texts.chunks(2)) {
            let commit = parse_commit(&texts[0]).map_err(|reason| ArchiveError::Manifest {
                path: root.locate(commit_path),
                reason,
            })?;
            let summary = parse_parts(root, summary_path, &texts[1])?;
            if summary.parts != commit.parts || summary.retired_parts != commit.retired_parts {
                problems.push(format!(
                    "{}: does not match its commit's parts",
                    root.locate(summary_path).display()
                ));
            }
        }
    }
    Ok(problems)
}

/// Commits (with their summaries) compared at once.
const READ_PAIRS: usize = 128;

/// Parse and check one commit file's bytes.
pub fn parse_commit(bytes: &[u8]) -> Result<Commit, String> {
    let commit: Commit = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    if commit.format != COMMIT_FORMAT {
        return Err(format!(
            "format is {:?}, not {COMMIT_FORMAT:?}",
            commit.format
        ));
    }
    if !(COMMIT_VERSION..=RETIRING_COMMIT_VERSION).contains(&commit.version) {
        return Err(format!(
            "version {} is not supported (this trailpack reads {COMMIT_VERSION} to {RETIRING_COMMIT_VERSION})",
            commit.version
        ));
    }
    if commit.version == COMMIT_VERSION && !commit.retired_parts.is_empty() {
        return Err(format!(
            "a version {COMMIT_VERSION} commit cannot retire parts"
        ));
    }
    Ok(commit)
}

/// Write `bytes` to `path` durably: a temporary file beside it, fsync, rename, and
/// fsync of the directory, so that a crash leaves either nothing or the whole file.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), ArchiveError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let temp = synced_temp_file(dir, bytes)?;
    temp.persist(path)
        .map_err(|e| ArchiveError::io(path, e.error))?;
    sync_dir(dir)
}

/// A temporary file in `dir` (created if missing) that holds `bytes`, fsynced.
pub(crate) fn synced_temp_file(
    dir: &Path,
    bytes: &[u8],
) -> Result<tempfile::NamedTempFile, ArchiveError> {
    std::fs::create_dir_all(dir).map_err(|e| ArchiveError::io(dir, e))?;
    let mut temp = tempfile::Builder::new()
        .prefix(".tmp-")
        .tempfile_in(dir)
        .map_err(|e| ArchiveError::io(dir, e))?;
    temp.write_all(bytes)
        .and_then(|()| temp.as_file().sync_all())
        .map_err(|e| ArchiveError::io(temp.path(), e))?;
    Ok(temp)
}

/// fsync a directory so that a rename in it survives a crash.
pub fn sync_dir(dir: &Path) -> Result<(), ArchiveError> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| ArchiveError::io(dir, e))
}

/// Write a commit file; the commit takes effect when it lands (its rename on a
/// local disk, its PUT on S3).
pub fn write_commit(root: &ArchiveRoot, commit: &Commit) -> Result<String, ArchiveError> {
    let path = format!("{COMMITS_DIR}/{}.json", commit.id);
    let invalid = |e: serde_json::Error| ArchiveError::Manifest {
        path: root.locate(&path),
        reason: e.to_string(),
    };
    // The summary lands first: without its commit it is never read.
    let summary = PartsOnly {
        format: PARTS_FORMAT.into(),
        version: commit.version,
        parts: commit.parts.clone(),
        retired_parts: commit.retired_parts.clone(),
    };
    let summary_path = format!("{COMMITS_DIR}/{}{PARTS_SUFFIX}", commit.id);
    root.write(
        &summary_path,
        &serde_json::to_vec(&summary).map_err(invalid)?,
    )?;
    root.write(&path, &serde_json::to_vec_pretty(commit).map_err(invalid)?)?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn commit(id: &str, key: &str) -> Commit {
        Commit {
            format: COMMIT_FORMAT.into(),
            version: COMMIT_VERSION,
            id: id.into(),
            writer: "test".into(),
            parts: vec![],
            digests: vec![],
            public_keys: vec![],
            retired_parts: vec![],
            files: vec![FileEntry {
                key: key.into(),
                status: FileStatus::Quarantined,
                account: "111122223333".into(),
                region: "us-east-1".into(),
                delivery: "2021-01-01T00:00:00Z".into(),
                size: 3,
                raw_size: None,
                sha256: None,
                records: 0,
                fallback_records: 0,
                part: None,
                frame: None,
                reason: Some("empty file (0 bytes)".into()),
                quarantine_path: None,
            }],
        }
    }

    #[test]
    fn commits_load_in_name_order() {
        let dir = tempfile::tempdir().unwrap();
        write_commit(&ArchiveRoot::from(dir.path()), &commit("0002", "b")).unwrap();
        write_commit(&ArchiveRoot::from(dir.path()), &commit("0001", "a")).unwrap();
        let manifest = Manifest::load(&ArchiveRoot::from(dir.path())).unwrap();
        assert_eq!(manifest.commits, 2);
        assert!(
            load_parts(&ArchiveRoot::from(dir.path()))
                .unwrap()
                .is_empty()
        );
        let keys: Vec<_> = manifest.files.iter().map(|f| f.key.as_str()).collect();
        assert_eq!(keys, ["a", "b"]);
        assert!(manifest.file("b").is_some());
        assert!(manifest.file("c").is_none());
        write_commit(&ArchiveRoot::from(dir.path()), &commit("0003", "a")).unwrap();
        let manifest = Manifest::load(&ArchiveRoot::from(dir.path())).unwrap();
        assert_eq!(manifest.files.len(), 3);
        let current: Vec<_> = manifest.current_files().map(|f| f.key.as_str()).collect();
        assert_eq!(current, ["b", "a"]);
    }

    #[test]
    fn a_damaged_commit_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir
            .path()
            .join(write_commit(&ArchiveRoot::from(dir.path()), &commit("0001", "a")).unwrap());
        std::fs::write(&path, b"{\"format\":\"other\"").unwrap();
        let err = Manifest::load(&ArchiveRoot::from(dir.path()))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with(&format!("{}: invalid commit: ", path.display())),
            "{err}"
        );
        let mut other = commit("0001", "a");
        other.version = 99;
        let text = serde_json::to_vec(&other).unwrap();
        assert_eq!(
            parse_commit(&text).unwrap_err(),
            "version 99 is not supported (this trailpack reads 1 to 2)"
        );
    }

    #[test]
    fn frames_convert_both_ways() {
        for separators in [
            trailpack_decode::Separators::Uniform(",".into()),
            trailpack_decode::Separators::Each(vec![",".into(), " ,".into()]),
        ] {
            let frame = trailpack_decode::Frame {
                prefix: "{\"Records\":[".into(),
                separators,
                suffix: "]}".into(),
            };
            let entry = FrameEntry::from(frame.clone());
            assert_eq!(trailpack_decode::Frame::from(&entry), frame);
        }
    }

    fn part(path: &str) -> PartEntry {
        PartEntry {
            path: path.into(),
            bytes: 1,
            crc32: 0,
            rows: 1,
            row_groups: 1,
            account: "111122223333".into(),
            region: "us-east-1".into(),
            min_event_time_us: None,
            max_event_time_us: None,
            event_versions: BTreeMap::new(),
            unknown_paths: vec![],
            fallback_rows: 0,
        }
    }

    #[test]
    fn a_retiring_commit_replaces_parts_for_the_manifest_and_queries() {
        let dir = tempfile::tempdir().unwrap();
        let mut first = commit("0001", "a");
        first.parts = vec![part("p/a.parquet"), part("p/b.parquet")];
        write_commit(&ArchiveRoot::from(dir.path()), &first).unwrap();
        let mut merge = commit("0002", "a");
        merge.version = RETIRING_COMMIT_VERSION;
        merge.parts = vec![part("p/c.parquet")];
        merge.retired_parts = vec!["p/a.parquet".into(), "p/b.parquet".into()];
        write_commit(&ArchiveRoot::from(dir.path()), &merge).unwrap();
        let paths = |parts: &[PartEntry]| parts.iter().map(|p| p.path.clone()).collect::<Vec<_>>();
        assert_eq!(
            paths(
                &Manifest::load(&ArchiveRoot::from(dir.path()))
                    .unwrap()
                    .parts
            ),
            ["p/c.parquet"]
        );
        assert_eq!(
            paths(&load_parts(&ArchiveRoot::from(dir.path())).unwrap()),
            ["p/c.parquet"]
        );
        assert!(
            check_parts_summaries(&ArchiveRoot::from(dir.path()))
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn commit_versions_are_checked() {
        let mut old = commit("0001", "a");
        old.retired_parts = vec!["p/a.parquet".into()];
        let err = parse_commit(&serde_json::to_vec(&old).unwrap()).unwrap_err();
        assert!(err.contains("cannot retire parts"), "{err}");
        let mut newer = commit("0001", "a");
        newer.version = RETIRING_COMMIT_VERSION + 1;
        let err = parse_commit(&serde_json::to_vec(&newer).unwrap()).unwrap_err();
        assert!(err.contains("version 3 is not supported"), "{err}");
    }
}
