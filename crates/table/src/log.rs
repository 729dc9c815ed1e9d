//! [`Table`]: the Delta log of an archive, its latest [`Snapshot`], and commits.
//!
//! A commit is the file `_delta_log/<version>.json`, created only if absent (a hard
//! link on disk, a conditional PUT on S3). A writer that loses the race for a
//! version reads the commits that won and tries the next version, unless one of
//! them already holds its work or removes a part it was about to remove. Every so
//! often a commit is followed by a checkpoint, so that loading the table costs
//! O(parts), not O(commits).

use std::collections::{BTreeMap, HashMap};

use trailpack_schema::schema;
use trailpack_store::{ArchiveRoot, Listed, StoreError};

use crate::TableError;
use crate::checkpoint::{CheckpointHint, read_checkpoint, write_checkpoint};
use crate::delta::{
    Action, Add, Format, Metadata, Protocol, READER_VERSION, Remove, WRITER_VERSION, decode_commit,
    decode_path, encode_commit, schema_string,
};
use crate::layout::{DELTA_LOG, LEGACY_COMMITS_DIR, PartitionKey, Partitioning, is_part_file_name};
use crate::part::PartInfo;

/// Commits between checkpoints, at least; a table of many parts waits longer (see
/// [`Snapshot::checkpoint_due`]), so that each commit costs a bounded share of a
/// checkpoint.
pub const DEFAULT_CHECKPOINT_INTERVAL: i64 = 50;
/// Parts per commit between checkpoints, for large tables: a checkpoint of `p`
/// parts comes at most every `p / 8` commits.
const PARTS_PER_CHECKPOINT_COMMIT: i64 = 8;
/// Attempts at committing one set of actions while other writers win the race.
const COMMIT_ATTEMPTS: usize = 10_000;
/// The table property that marks a trailpack archive, with its format version.
pub const FORMAT_PROPERTY: &str = "trailpack.format";
/// The format version this code writes.
pub const FORMAT_VERSION: &str = "2";

/// The path of commit `version`.
pub fn commit_path(version: i64) -> String {
    format!("{DELTA_LOG}/{version:020}.json")
}

/// The state of the table at one version.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// The version (the number of the last commit).
    pub version: i64,
    /// The version of the last checkpoint, if any.
    pub checkpoint: Option<i64>,
    /// The protocol.
    pub protocol: Protocol,
    /// The table's metadata.
    pub metadata: Metadata,
    /// The partition layout, from the metadata's partition columns.
    pub partitioning: Partitioning,
    /// The live parts, by path.
    pub parts: BTreeMap<String, (Add, PartInfo)>,
    /// Parts removed, with when (for checkpoints: VACUUM reads them).
    pub tombstones: BTreeMap<String, Remove>,
}

impl Snapshot {
    /// The part files in the partition directories of `root` that this snapshot
    /// does not hold: a crash's leftovers, or parts compaction retired.
    pub fn unheld_parts(&self, root: &ArchiveRoot) -> Result<Vec<Listed>, StoreError> {
        let mut unheld = Vec::new();
        for dir in root.list_dirs("")? {
            if dir.starts_with('_') || dir.starts_with('.') {
                continue;
            }
            unheld.extend(root.list(&dir)?.into_iter().filter(|listed| {
                is_part_file_name(listed.name()) && !self.parts.contains_key(&listed.path)
            }));
        }
        Ok(unheld)
    }

    /// The live parts, in path order.
    pub fn part_infos(&self) -> impl Iterator<Item = &PartInfo> {
        self.parts.values().map(|(_, info)| info)
    }

    /// The live parts of `partition` by each name they hold
    /// ([`PartInfo::holds`]): which part now holds a file whose index entry names
    /// `part-….parquet`, after compactions.
    pub fn holders_in(&self, partition: &PartitionKey) -> HashMap<&str, &PartInfo> {
        self.part_infos()
            .filter(|p| &p.partition == partition)
            .flat_map(|p| p.holds.iter().map(move |name| (name.as_str(), p)))
            .collect()
    }

    /// Whether a checkpoint should follow this version.
    pub fn checkpoint_due(&self) -> bool {
        let interval =
            DEFAULT_CHECKPOINT_INTERVAL.max(self.parts.len() as i64 / PARTS_PER_CHECKPOINT_COMMIT);
        self.version - self.checkpoint.unwrap_or(0) >= interval
    }

    fn apply(&mut self, actions: &[Action]) -> Result<(), String> {
        for action in actions {
            match action {
                Action::Protocol(protocol) => self.protocol = protocol.clone(),
                Action::Metadata(metadata) => {
                    self.partitioning = partitioning(metadata)?;
                    self.metadata = metadata.clone();
                }
                Action::Add(add) => {
                    let path = decode_path(&add.path);
                    let info = PartInfo::from_add(add, self.partitioning).ok_or_else(|| {
                        format!("{path}: its partition values do not fit the table's partitions")
                    })?;
                    self.tombstones.remove(&path);
                    self.parts.insert(path, (add.clone(), info));
                }
                Action::Remove(remove) => {
                    let path = decode_path(&remove.path);
                    self.parts.remove(&path);
                    self.tombstones.insert(path, remove.clone());
                }
                Action::CommitInfo(_) | Action::Other => {}
            }
        }
        Ok(())
    }
}

fn partitioning(metadata: &Metadata) -> Result<Partitioning, String> {
    Partitioning::from_columns(&metadata.partition_columns).ok_or_else(|| {
        format!(
            "partition columns {:?} are not a trailpack layout (account, region, year[, month[, day]])",
            metadata.partition_columns
        )
    })
}

/// What a commit attempt found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Committed {
    /// This writer committed the actions as this version.
    Now(i64),
    /// Another writer had already committed the same part (recovering this
    /// writer's intent) as this version.
    Before(i64),
}

/// A Delta table: the archive's root and its latest known snapshot.
#[derive(Debug)]
pub struct Table {
    root: ArchiveRoot,
    snapshot: Snapshot,
}

impl Table {
    /// Open the table at `root`. An archive of the first format (JSON commits) or
    /// a directory without a table is an error that says what to do.
    pub fn open(root: &ArchiveRoot) -> Result<Table, TableError> {
        Table::open_if_any(root)?.ok_or_else(|| TableError::NotAnArchive {
            root: root.to_string(),
        })
    }

    /// The table at `root`, or `None` while it has no commit. Unlike
    /// [`Table::exists`] then [`Table::open`], this holds when another writer is
    /// creating the table at that moment: its `_delta_log` directory exists a
    /// little before its first commit does.
    pub fn open_if_any(root: &ArchiveRoot) -> Result<Option<Table>, TableError> {
        check_not_legacy(root)?;
        Ok(load(root)?.map(|snapshot| Table {
            root: root.clone(),
            snapshot,
        }))
    }

    /// Open the table at `root`, creating it (version 0: protocol and metadata,
    /// with `partitioning`, or month when `None`) if there is none. An existing
    /// table partitioned otherwise than a given `partitioning` is an error.
    pub fn open_or_create(
        root: &ArchiveRoot,
        partitioning: Option<Partitioning>,
    ) -> Result<Table, TableError> {
        check_not_legacy(root)?;
        Table::create_unchecked(root, partitioning)
    }

    /// [`Table::open_or_create`] beside the commits of the first format, which
    /// `trailpack upgrade` converts.
    pub fn open_or_create_for_upgrade(
        root: &ArchiveRoot,
        partitioning: Partitioning,
    ) -> Result<Table, TableError> {
        Table::create_unchecked(root, Some(partitioning))
    }

    fn create_unchecked(
        root: &ArchiveRoot,
        partitioning: Option<Partitioning>,
    ) -> Result<Table, TableError> {
        root.check_conditional_writes()?;
        let snapshot = match load(root)? {
            Some(snapshot) => snapshot,
            None => {
                let creation = creation(partitioning.unwrap_or_default());
                // Another writer may create it first: theirs is the table then.
                root.create(&commit_path(0), &encode_commit(&creation))?;
                load(root)?.ok_or_else(|| TableError::NotAnArchive {
                    root: root.to_string(),
                })?
            }
        };
        let existing = snapshot.partitioning;
        if let Some(wanted) = partitioning.filter(|wanted| *wanted != existing) {
            return Err(TableError::Options(format!(
                "{root}: the archive is partitioned by {}, not by {} (--partition applies only to a new archive)",
                existing.name(),
                wanted.name()
            )));
        }
        Ok(Table {
            root: root.clone(),
            snapshot,
        })
    }

    /// Whether `root` holds a table (of either format).
    pub fn exists(root: &ArchiveRoot) -> Result<bool, TableError> {
        Ok(root.has_dir(DELTA_LOG)? || root.has_dir(LEGACY_COMMITS_DIR)?)
    }

    /// The archive's root.
    pub fn root(&self) -> &ArchiveRoot {
        &self.root
    }

    /// The latest snapshot this handle knows.
    pub fn snapshot(&self) -> &Snapshot {
        &self.snapshot
    }

    /// Read the commits made since this handle's snapshot and apply them; return
    /// them, by version.
    pub fn refresh(&mut self) -> Result<Vec<(i64, Vec<Action>)>, TableError> {
        let after = format!("{:020}.json", self.snapshot.version);
        let versions: Vec<i64> = self
            .root
            .list_after(DELTA_LOG, &after)?
            .iter()
            .filter_map(|listed| commit_version(listed.name()))
            .collect();
        let commits = read_commits(&self.root, self.snapshot.version, &versions)?;
        for (version, actions) in &commits {
            self.snapshot
                .apply(actions)
                .map_err(|reason| corrupt_commit(*version, reason))?;
            self.snapshot.version = *version;
        }
        Ok(commits)
    }

    /// Commit `actions`, which add the part `adds` (if any) and remove `removes`,
    /// with `operation` in the commit's `commitInfo`. When another writer wins a
    /// version, its commit is read: if it adds `adds` too, the work is done
    /// ([`Committed::Before`]); otherwise the next version is tried. A part of
    /// `removes` that is no longer live (another commit removed it) is a
    /// [`TableError::Conflict`]: this commit would undo that one.
    pub fn commit(
        &mut self,
        actions: &[Action],
        operation: &str,
        adds: Option<&str>,
        removes: &[String],
    ) -> Result<Committed, TableError> {
        self.snapshot_writable()?;
        self.root.check_conditional_writes()?;
        let blind = removes.is_empty();
        for _ in 0..COMMIT_ATTEMPTS {
            // A part to remove that is not live any more was removed by another
            // commit: removing it again would undo that one.
            if let Some(gone) = removes
                .iter()
                .find(|p| !self.snapshot.parts.contains_key(*p))
            {
                return Err(TableError::Conflict {
                    reason: format!("{gone} is no longer in the table"),
                });
            }
            let version = self.snapshot.version + 1;
            let info = serde_json::json!({
                "timestamp": now_ms(),
                "operation": operation,
                "operationParameters": {},
                "isBlindAppend": blind,
                "engineInfo": format!("trailpack {}", env!("CARGO_PKG_VERSION")),
            });
            let mut all = vec![Action::CommitInfo(info)];
            all.extend_from_slice(actions);
            if self
                .root
                .create(&commit_path(version), &encode_commit(&all))?
            {
                self.snapshot
                    .apply(actions)
                    .map_err(|reason| corrupt_commit(version, reason))?;
                self.snapshot.version = version;
                if self.snapshot.checkpoint_due() {
                    write_checkpoint(&self.root, &self.snapshot)?;
                    self.snapshot.checkpoint = Some(version);
                }
                return Ok(Committed::Now(version));
            }
            for (version, theirs) in self.refresh()? {
                if let Some(done) = already_committed(&theirs, adds, version) {
                    return Ok(done);
                }
            }
        }
        Err(TableError::Conflict {
            reason: format!("no version could be committed in {COMMIT_ATTEMPTS} attempts"),
        })
    }

    /// Whether the part at `path` was added by a commit after `version`.
    pub fn added_since(&self, version: i64, path: &str) -> Result<bool, TableError> {
        if self.snapshot.parts.contains_key(path) {
            return Ok(true);
        }
        let versions: Vec<i64> = (version + 1..=self.snapshot.version).collect();
        let commits = read_commits(&self.root, version, &versions)?;
        Ok(commits.iter().any(|(_, actions)| {
            actions
                .iter()
                .any(|a| matches!(a, Action::Add(add) if decode_path(&add.path) == path))
        }))
    }

    fn snapshot_writable(&self) -> Result<(), TableError> {
        let protocol = &self.snapshot.protocol;
        if protocol.min_writer_version > WRITER_VERSION {
            return Err(TableError::Unsupported {
                root: self.root.to_string(),
                reason: format!(
                    "the table needs Delta writer version {} (trailpack writes version {WRITER_VERSION})",
                    protocol.min_writer_version
                ),
            });
        }
        Ok(())
    }
}

/// Whether a commit that won the race for `version` holds the part `adds` too.
fn already_committed(theirs: &[Action], adds: Option<&str>, version: i64) -> Option<Committed> {
    theirs
        .iter()
        .any(|a| matches!(a, Action::Add(add) if adds == Some(decode_path(&add.path).as_str())))
        .then_some(Committed::Before(version))
}

/// Milliseconds since the epoch, now.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// The actions of version 0: protocol and metadata.
fn creation(partitioning: Partitioning) -> Vec<Action> {
    let columns = partitioning.columns();
    vec![
        Action::CommitInfo(serde_json::json!({
            "timestamp": now_ms(),
            "operation": "CREATE TABLE",
            "operationParameters": {"partitionBy": serde_json::to_string(columns).unwrap_or_default()},
            "isBlindAppend": true,
            "engineInfo": format!("trailpack {}", env!("CARGO_PKG_VERSION")),
        })),
        Action::Protocol(Protocol {
            min_reader_version: READER_VERSION,
            min_writer_version: WRITER_VERSION,
            reader_features: None,
            writer_features: None,
        }),
        Action::Metadata(Metadata {
            id: table_id(),
            name: None,
            description: Some("AWS CloudTrail records archived by trailpack".into()),
            format: Format {
                provider: "parquet".into(),
                options: BTreeMap::new(),
            },
            schema_string: schema_string(&schema(), columns),
            partition_columns: columns.iter().map(|c| c.to_string()).collect(),
            configuration: BTreeMap::from([
                (FORMAT_PROPERTY.to_string(), FORMAT_VERSION.to_string()),
                (
                    trailpack_schema::SCHEMA_VERSION_PROPERTY.to_string(),
                    trailpack_schema::SCHEMA_VERSION.to_string(),
                ),
            ]),
            created_time: Some(now_ms()),
        }),
    ]
}

/// A random UUID (version 4), as Delta's table ids are.
fn table_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    let random = |salt: u64| {
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u64(salt);
        hasher.finish()
    };
    let bits = (u128::from(random(1)) << 64 | u128::from(random(2)))
        & !(0xf000 << 64 | 0xc000 << 48)
        | (0x4000 << 64 | 0x8000 << 48);
    let hex = format!("{bits:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

fn check_not_legacy(root: &ArchiveRoot) -> Result<(), TableError> {
    if root.has_dir(LEGACY_COMMITS_DIR)? {
        return Err(TableError::Legacy {
            root: root.to_string(),
        });
    }
    Ok(())
}

fn corrupt_commit(version: i64, reason: String) -> TableError {
    TableError::Corrupt {
        path: commit_path(version),
        reason,
    }
}

/// The version of a commit file's name (`<20 digits>.json`).
fn commit_version(name: &str) -> Option<i64> {
    let digits = name.strip_suffix(".json")?;
    (digits.len() == 20 && digits.bytes().all(|b| b.is_ascii_digit()))
        .then(|| digits.parse().ok())
        .flatten()
}

/// The version of a single-file checkpoint's name (`<20 digits>.checkpoint.parquet`).
fn checkpoint_version(name: &str) -> Option<i64> {
    let digits = name.strip_suffix(".checkpoint.parquet")?;
    (digits.len() == 20 && digits.bytes().all(|b| b.is_ascii_digit()))
        .then(|| digits.parse().ok())
        .flatten()
}

/// Read the commits `versions`, which must follow `after` without a gap.
fn read_commits(
    root: &ArchiveRoot,
    after: i64,
    versions: &[i64],
) -> Result<Vec<(i64, Vec<Action>)>, TableError> {
    for (expected, &version) in (after + 1..).zip(versions) {
        if version != expected {
            return Err(corrupt_commit(expected, "missing from the log".into()));
        }
    }
    let paths: Vec<String> = versions.iter().map(|&v| commit_path(v)).collect();
    let mut commits = Vec::with_capacity(versions.len());
    root.read_each(&paths, |path, bytes| {
        let version = commit_version(path.rsplit('/').next().unwrap_or_default()).unwrap_or(-1);
        let actions = decode_commit(&bytes).map_err(|reason| corrupt_commit(version, reason))?;
        commits.push((version, actions));
        Ok::<(), TableError>(())
    })?;
    Ok(commits)
}

/// The latest snapshot of the table at `root`: its last checkpoint and the commits
/// after it. `None` when there is no table.
fn load(root: &ArchiveRoot) -> Result<Option<Snapshot>, TableError> {
    let hint = CheckpointHint::read(root)?;
    let mut listed = root.list_after(
        DELTA_LOG,
        &hint.map_or(String::new(), |h| format!("{:020}", h.version)),
    )?;
    let mut checkpoint = listed
        .iter()
        .filter_map(|l| checkpoint_version(l.name()))
        .max();
    if hint.is_some() && checkpoint.is_none() {
        // The hint names a checkpoint that is gone: read the log from the start.
        listed = root.list_after(DELTA_LOG, "")?;
        checkpoint = listed
            .iter()
            .filter_map(|l| checkpoint_version(l.name()))
            .max();
    }
    let start = checkpoint.unwrap_or(-1);
    let versions: Vec<i64> = listed
        .iter()
        .filter_map(|l| commit_version(l.name()))
        .filter(|&v| v > start)
        .collect();
    if checkpoint.is_none() && versions.is_empty() {
        return Ok(None);
    }
    let mut snapshot = Snapshot {
        version: start,
        checkpoint,
        protocol: Protocol {
            min_reader_version: READER_VERSION,
            min_writer_version: WRITER_VERSION,
            reader_features: None,
            writer_features: None,
        },
        metadata: Metadata {
            id: String::new(),
            name: None,
            description: None,
            format: Format {
                provider: "parquet".into(),
                options: BTreeMap::new(),
            },
            schema_string: String::new(),
            partition_columns: Vec::new(),
            configuration: BTreeMap::new(),
            created_time: None,
        },
        partitioning: Partitioning::default(),
        parts: BTreeMap::new(),
        tombstones: BTreeMap::new(),
    };
    if let Some(version) = checkpoint {
        let path = format!("{DELTA_LOG}/{version:020}.checkpoint.parquet");
        let bytes = root.read(&path)?.ok_or_else(|| TableError::Corrupt {
            path: path.clone(),
            reason: "listed, then missing".into(),
        })?;
        let actions = read_checkpoint(bytes, &path)?;
        snapshot
            .apply(&actions)
            .map_err(|reason| TableError::Corrupt {
                path: path.clone(),
                reason,
            })?;
    }
    for (version, actions) in read_commits(root, start, &versions)? {
        snapshot
            .apply(&actions)
            .map_err(|reason| corrupt_commit(version, reason))?;
        snapshot.version = version;
    }
    if snapshot.metadata.schema_string.is_empty() {
        return Err(TableError::Corrupt {
            path: DELTA_LOG.into(),
            reason: "no metaData action".into(),
        });
    }
    let protocol = &snapshot.protocol;
    if protocol.min_reader_version > READER_VERSION {
        return Err(TableError::Unsupported {
            root: root.to_string(),
            reason: format!(
                "the table needs Delta reader version {} with features {:?} (trailpack reads version {READER_VERSION})",
                protocol.min_reader_version,
                protocol.reader_features.clone().unwrap_or_default()
            ),
        });
    }
    Ok(Some(snapshot))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::part::test_part as part;

    #[test]
    fn a_log_directory_without_a_commit_is_no_table_yet() {
        // What another writer leaves for a moment while it creates the table: the
        // directory, and a temporary file that is not yet its first commit.
        let dir = tempfile::tempdir().unwrap();
        let root = ArchiveRoot::from(dir.path());
        std::fs::create_dir(dir.path().join(DELTA_LOG)).unwrap();
        std::fs::write(dir.path().join(DELTA_LOG).join(".tmp-creating"), b"{}").unwrap();
        assert!(Table::exists(&root).unwrap());
        assert!(Table::open_if_any(&root).unwrap().is_none());
        assert!(matches!(
            Table::open(&root),
            Err(TableError::NotAnArchive { .. })
        ));
        Table::open_or_create(&root, None).unwrap();
        let table = Table::open_if_any(&root).unwrap().expect("created");
        assert_eq!(table.snapshot().version, 0);
    }

    #[test]
    fn tables_are_created_once_and_commits_race_safely() {
        let dir = tempfile::tempdir().unwrap();
        let root = ArchiveRoot::from(dir.path());
        assert!(matches!(
            Table::open(&root),
            Err(TableError::NotAnArchive { .. })
        ));
        let mut first = Table::open_or_create(&root, Some(Partitioning::Month)).unwrap();
        let mut second = Table::open_or_create(&root, None).unwrap();
        assert_eq!(first.snapshot().version, 0);
        let err = Table::open_or_create(&root, Some(Partitioning::Day)).unwrap_err();
        assert!(
            err.to_string().contains("partitioned by month, not by day"),
            "{err}"
        );
        let a = part("part-a.parquet");
        let add_a = vec![Action::Add(a.to_add(true))];
        assert_eq!(
            first.commit(&add_a, "WRITE", Some(&a.path), &[]).unwrap(),
            Committed::Now(1)
        );
        // The second handle is behind: it loses version 1, reads it, and sees its own
        // part there (a recovered intent), so it does not commit it twice.
        assert_eq!(
            second.commit(&add_a, "WRITE", Some(&a.path), &[]).unwrap(),
            Committed::Before(1)
        );
        let b = part("part-b.parquet");
        let add_b = vec![Action::Add(b.to_add(true))];
        assert_eq!(
            second.commit(&add_b, "WRITE", Some(&b.path), &[]).unwrap(),
            Committed::Now(2)
        );
        // A rewrite that removes a part another writer removed first is refused.
        let remove_a = vec![Action::Remove(Remove::of(&a.to_add(true), 5, false))];
        first
            .commit(&remove_a, "OPTIMIZE", None, std::slice::from_ref(&a.path))
            .unwrap();
        let err = second
            .commit(&remove_a, "OPTIMIZE", None, std::slice::from_ref(&a.path))
            .unwrap_err();
        assert!(matches!(err, TableError::Conflict { .. }), "{err}");
        let reopened = Table::open(&root).unwrap();
        assert_eq!(reopened.snapshot().version, 3);
        assert_eq!(
            reopened.snapshot().parts.keys().collect::<Vec<_>>(),
            [&b.path]
        );
        assert!(reopened.added_since(0, &a.path).unwrap());
        assert!(!reopened.added_since(1, &a.path).unwrap());
    }

    #[test]
    fn checkpoints_bound_what_a_load_reads() {
        let dir = tempfile::tempdir().unwrap();
        let root = ArchiveRoot::from(dir.path());
        let mut table = Table::open_or_create(&root, None).unwrap();
        let total = DEFAULT_CHECKPOINT_INTERVAL + 3;
        for n in 0..total {
            let p = part(&format!("part-{n:03}.parquet"));
            table
                .commit(&[Action::Add(p.to_add(true))], "WRITE", Some(&p.path), &[])
                .unwrap();
        }
        assert_eq!(
            table.snapshot().checkpoint,
            Some(DEFAULT_CHECKPOINT_INTERVAL)
        );
        // The commits before the checkpoint are not needed any more.
        for version in 0..=DEFAULT_CHECKPOINT_INTERVAL {
            std::fs::remove_file(dir.path().join(commit_path(version))).unwrap();
        }
        let reopened = Table::open(&root).unwrap();
        assert_eq!(reopened.snapshot().version, total);
        assert_eq!(reopened.snapshot().parts.len(), total as usize);
        assert_eq!(reopened.snapshot().partitioning, Partitioning::Month);
        // A gap in the log is an error, never a smaller table.
        std::fs::remove_file(dir.path().join(commit_path(total - 1))).unwrap();
        let err = Table::open(&root).unwrap_err().to_string();
        assert!(err.contains("missing from the log"), "{err}");
    }

    #[test]
    fn newer_protocols_and_legacy_archives_are_refused_with_a_reason() {
        let dir = tempfile::tempdir().unwrap();
        let root = ArchiveRoot::from(dir.path());
        Table::open_or_create(&root, None).unwrap();
        let protocol = Action::Protocol(Protocol {
            min_reader_version: 3,
            min_writer_version: 7,
            reader_features: Some(vec!["deletionVectors".into()]),
            writer_features: Some(vec!["deletionVectors".into()]),
        });
        root.write(&commit_path(1), &encode_commit(&[protocol]))
            .unwrap();
        let err = Table::open(&root).unwrap_err().to_string();
        assert!(err.contains("deletionVectors"), "{err}");
        let legacy = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(legacy.path().join(LEGACY_COMMITS_DIR)).unwrap();
        std::fs::write(legacy.path().join(LEGACY_COMMITS_DIR).join("1.json"), b"{}").unwrap();
        let err = Table::open(&ArchiveRoot::from(legacy.path()))
            .unwrap_err()
            .to_string();
        assert!(err.contains("trailpack upgrade"), "{err}");
    }

    #[test]
    fn table_ids_are_version_4_uuids() {
        let id = table_id();
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "4");
        assert!(matches!(&id[19..20], "8" | "9" | "a" | "b"));
        assert_ne!(id, table_id());
    }
}
