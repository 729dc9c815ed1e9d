//! Intents: the commit protocol that keeps every reader exact across crashes.
//!
//! A part is written to `_trailpack/staging/` (where no reader looks), and so is
//! its index segment. Then an [`Intent`] is written to `_trailpack/pending/`: the
//! Delta actions to commit and where the part and segment go. [`complete`] then
//! publishes the part into its partition directory, commits, publishes the
//! segment, deletes what the commit retired (compaction), and deletes the intent.
//! Every step can be repeated, so any later run finishes an intent that a crash
//! interrupted ([`recover`]) before it reads the index: a part is never visible
//! for long without its commit, and a commit never lacks its index.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use trailpack_store::ArchiveRoot;

use crate::TableError;
use crate::delta::{Action, Add, Remove};
use crate::layout::{PENDING_DIR, STAGING_DIR};
use crate::log::{Committed, Table};

/// The `format` of an intent file.
const INTENT_FORMAT: &str = "trailpack.intent";
/// How old an intent whose part never arrived, or a staged file no intent names,
/// must be before it is taken for the leftover of a crash rather than the work of
/// a writer still running.
pub const ABANDON_AFTER: Duration = Duration::from_secs(600);

/// A commit prepared and written down before its part is published.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Intent {
    /// Always `trailpack.intent`.
    pub format: String,
    /// Unique; the file is `_trailpack/pending/<id>.json`.
    pub id: String,
    /// The table version the writer had seen: a commit of this part can only be
    /// later.
    pub base_version: i64,
    /// `WRITE`, `OPTIMIZE` or `UPGRADE`, for the commit's `commitInfo`.
    pub operation: String,
    /// The part to commit; its path is where it is published.
    pub add: Add,
    /// The staged part on a local disk (on S3 the part is uploaded to its place).
    pub staged_part: Option<String>,
    /// Parts the commit removes.
    pub removes: Vec<Remove>,
    /// The index segment: staged, and where it is published after the commit.
    pub index: Option<StagedIndex>,
    /// Files deleted once the commit is in (the parts it removed).
    pub retire: Vec<String>,
}

/// An index segment on its way.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StagedIndex {
    /// Where it waits.
    pub staged: String,
    /// Where it goes.
    pub path: String,
}

/// What [`complete`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Completion {
    /// The intent is complete and gone; the part is in the table.
    Done(Committed),
    /// The part is neither published nor staged: on S3, its upload has not
    /// arrived (yet, or ever). Nothing was done.
    PartMissing,
}

impl Intent {
    /// A new intent to commit `add` (with `removes`), prepared at `base_version`.
    pub fn new(id: &str, base_version: i64, operation: &str, add: Add) -> Intent {
        Intent {
            format: INTENT_FORMAT.into(),
            id: id.to_string(),
            base_version,
            operation: operation.to_string(),
            add,
            staged_part: None,
            removes: Vec::new(),
            index: None,
            retire: Vec::new(),
        }
    }

    /// Where the intent is kept.
    pub fn path(&self) -> String {
        format!("{PENDING_DIR}/{}.json", self.id)
    }

    /// Write it down durably: from now on any run can finish it.
    pub fn write(&self, root: &ArchiveRoot) -> Result<(), TableError> {
        let bytes = serde_json::to_vec_pretty(self).map_err(|e| TableError::Corrupt {
            path: self.path(),
            reason: e.to_string(),
        })?;
        root.write(&self.path(), &bytes)?;
        Ok(())
    }

    fn parse(path: &str, bytes: &[u8]) -> Result<Intent, TableError> {
        let intent: Intent = serde_json::from_slice(bytes).map_err(|e| TableError::Corrupt {
            path: path.to_string(),
            reason: e.to_string(),
        })?;
        if intent.format != INTENT_FORMAT {
            return Err(TableError::Corrupt {
                path: path.to_string(),
                reason: format!("format {:?} is not {INTENT_FORMAT:?}", intent.format),
            });
        }
        Ok(intent)
    }
}

/// The staging path of a part with id `id`.
pub fn staged_part_path(id: &str) -> String {
    format!("{STAGING_DIR}/{id}.parquet")
}

/// The staging path of an index segment with id `id`.
pub fn staged_index_path(id: &str) -> String {
    format!("{STAGING_DIR}/{id}.index.parquet")
}

/// Finish `intent`: publish its part, commit it, publish its index segment (from
/// `index_bytes` when the writer still holds them, else from staging), delete the
/// files it retires and the intent itself. Each step is skipped when an earlier
/// run did it.
pub fn complete(
    table: &mut Table,
    intent: &Intent,
    index_bytes: Option<&[u8]>,
) -> Result<Completion, TableError> {
    let root = table.root().clone();
    let part = &intent.add.path;
    let committed = if table.added_since(intent.base_version, part)? {
        Committed::Before(table.snapshot().version)
    } else {
        let published = root.size(part)? == Some(intent.add.size as u64)
            || intent
                .staged_part
                .as_deref()
                .map(|staged| root.rename(staged, part))
                .transpose()?
                .unwrap_or(false);
        if !published {
            return Ok(Completion::PartMissing);
        }
        let mut actions = vec![Action::Add(intent.add.clone())];
        actions.extend(intent.removes.iter().cloned().map(Action::Remove));
        let removes: Vec<String> = intent.removes.iter().map(|r| r.path.clone()).collect();
        table.commit(&actions, &intent.operation, Some(part), &removes)?
    };
    if let Some(index) = &intent.index {
        match index_bytes {
            Some(bytes) => {
                root.write(&index.path, bytes)?;
                root.delete(&index.staged)?;
            }
            None => {
                if !root.rename(&index.staged, &index.path)? && root.size(&index.path)?.is_none() {
                    return Err(TableError::Corrupt {
                        path: index.staged.clone(),
                        reason: "the index segment of a committed part is missing".into(),
                    });
                }
            }
        }
    }
    for path in &intent.retire {
        root.delete(path)?;
    }
    root.delete(&intent.path())?;
    Ok(Completion::Done(committed))
}

/// Give up an intent whose part never arrived: delete what it staged and itself.
/// Its files are not in the index, so the next run archives them again.
pub fn abandon(root: &ArchiveRoot, intent: &Intent) -> Result<(), TableError> {
    if let Some(staged) = &intent.staged_part {
        root.delete(staged)?;
    }
    if let Some(index) = &intent.index {
        root.delete(&index.staged)?;
    }
    root.delete(&intent.path())?;
    Ok(())
}

/// The paths of the parts that intents are about to commit (or remove): a writer
/// may still be publishing them, so they are not orphans.
pub fn pending_parts(root: &ArchiveRoot) -> Result<std::collections::HashSet<String>, TableError> {
    let mut parts = std::collections::HashSet::new();
    for listed in root.list(PENDING_DIR)? {
        if let Some(bytes) = root.read(&listed.path)?
            && let Ok(intent) = Intent::parse(&listed.path, &bytes)
        {
            parts.insert(intent.add.path);
            parts.extend(intent.retire);
        }
    }
    Ok(parts)
}

/// What [`recover`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recovery {
    /// Intents finished (committed now, or found committed and tidied).
    pub completed: u64,
    /// Intents given up (their part never arrived).
    pub abandoned: u64,
    /// Intents left alone: young, their part not there yet (a writer may be
    /// uploading it).
    pub waiting: u64,
    /// Staged files no intent named, removed.
    pub staged_removed: u64,
}

/// Finish every intent a crash left (see [`complete`]), and remove staged files
/// that no intent names and that are older than [`ABANDON_AFTER`].
pub fn recover(table: &mut Table) -> Result<Recovery, TableError> {
    let root = table.root().clone();
    let mut recovery = Recovery::default();
    let pending: Vec<_> = root
        .list(PENDING_DIR)?
        .into_iter()
        .filter(|l| l.name().ends_with(".json") && !l.name().starts_with('.'))
        .collect();
    let now = if pending.is_empty() {
        None
    } else {
        Some(root.now()?)
    };
    let mut named = std::collections::HashSet::new();
    for listed in &pending {
        let Some(bytes) = root.read(&listed.path)? else {
            continue; // Completed by another writer meanwhile.
        };
        let intent = Intent::parse(&listed.path, &bytes)?;
        let completed = match complete(table, &intent, None) {
            // A compaction whose parts another one merged first: its part was
            // published but can never be committed.
            Err(TableError::Conflict { .. }) => {
                root.delete(&intent.add.path)?;
                abandon(&root, &intent)?;
                recovery.abandoned += 1;
                continue;
            }
            completed => completed?,
        };
        match completed {
            Completion::Done(_) => recovery.completed += 1,
            Completion::PartMissing if is_stale(listed.modified, now) => {
                abandon(&root, &intent)?;
                recovery.abandoned += 1;
            }
            Completion::PartMissing => {
                recovery.waiting += 1;
                named.extend(intent.staged_part.clone());
                named.extend(intent.index.as_ref().map(|i| i.staged.clone()));
            }
        }
    }
    let staged = root.list(STAGING_DIR)?;
    if staged.is_empty() {
        return Ok(recovery);
    }
    let now = Some(root.now()?);
    for listed in staged {
        if !named.contains(&listed.path) && is_stale(listed.modified, now) {
            root.delete(&listed.path)?;
            recovery.staged_removed += 1;
        }
    }
    Ok(recovery)
}

fn is_stale(modified: Option<std::time::SystemTime>, now: Option<std::time::SystemTime>) -> bool {
    match (modified, now) {
        (Some(modified), Some(now)) => now
            .duration_since(modified)
            .is_ok_and(|age| age >= ABANDON_AFTER),
        _ => false,
    }
}

#[cfg(test)]
mod tests {

    use super::*;
    use crate::part::test_part;

    fn setup() -> (tempfile::TempDir, Table, Intent) {
        let dir = tempfile::tempdir().unwrap();
        let root = ArchiveRoot::from(dir.path());
        let table = Table::open_or_create(&root, None).unwrap();
        let part = test_part("part-x.parquet");
        root.write(&staged_part_path("x"), b"PAR1").unwrap();
        root.write(&staged_index_path("x"), b"index").unwrap();
        let mut intent = Intent::new("x", 0, "WRITE", part.to_add(true));
        intent.staged_part = Some(staged_part_path("x"));
        intent.index = Some(StagedIndex {
            staged: staged_index_path("x"),
            path: "_trailpack/index/p/x.parquet".into(),
        });
        intent.write(&root).unwrap();
        (dir, table, intent)
    }

    #[test]
    fn an_interrupted_intent_is_finished_once_by_the_next_run() {
        let (dir, mut table, intent) = setup();
        // The writer died after writing its intent: the next run publishes the part,
        // commits it, publishes the index and tidies up.
        let recovery = recover(&mut table).unwrap();
        assert_eq!(recovery.completed, 1);
        let root = table.root().clone();
        assert!(root.read(&intent.add.path).unwrap().is_some());
        assert!(root.read("_trailpack/index/p/x.parquet").unwrap().is_some());
        assert!(root.list(STAGING_DIR).unwrap().is_empty());
        assert!(root.list(PENDING_DIR).unwrap().is_empty());
        assert_eq!(table.snapshot().version, 1);
        // Finishing it again (the first writer woke up) commits nothing twice.
        intent.write(&root).unwrap();
        assert_eq!(
            complete(&mut table, &intent, Some(b"index")).unwrap(),
            Completion::Done(Committed::Before(1))
        );
        assert_eq!(Table::open(&root).unwrap().snapshot().version, 1);
        drop(dir);
    }

    #[test]
    fn a_compaction_whose_parts_another_merged_first_is_given_up() {
        let (_dir, mut table, intent) = setup();
        let root = table.root().clone();
        recover(&mut table).unwrap();
        let merged = &intent.add;
        // A compaction prepared to merge the part away, as another one did first.
        let mut second = merged.clone();
        second.path = merged.path.replace("part-x", "part-y");
        let mut late = Intent::new("y", table.snapshot().version, "OPTIMIZE", second.clone());
        late.removes = vec![Remove::of(merged, 1, false)];
        late.retire = vec![merged.path.clone()];
        late.write(&root).unwrap();
        root.write(&second.path, b"PAR1").unwrap();
        table
            .commit(
                &[Action::Remove(Remove::of(merged, 1, false))],
                "OPTIMIZE",
                None,
                std::slice::from_ref(&merged.path),
            )
            .unwrap();
        let recovery = recover(&mut table).unwrap();
        assert_eq!(recovery.abandoned, 1);
        assert!(
            root.read(&second.path).unwrap().is_none(),
            "its part is gone"
        );
        assert!(root.list(PENDING_DIR).unwrap().is_empty());
        assert!(table.snapshot().parts.is_empty());
    }

    #[test]
    fn an_intent_whose_part_never_arrived_waits_then_is_abandoned() {
        let (_dir, mut table, intent) = setup();
        let root = table.root().clone();
        root.delete(&staged_part_path("x")).unwrap();
        assert_eq!(
            complete(&mut table, &intent, None).unwrap(),
            Completion::PartMissing
        );
        // Young: a writer may still be uploading it.
        assert_eq!(recover(&mut table).unwrap().waiting, 1);
        assert!(root.read(&intent.path()).unwrap().is_some());
        abandon(&root, &intent).unwrap();
        assert!(root.list(PENDING_DIR).unwrap().is_empty());
        assert!(root.list(STAGING_DIR).unwrap().is_empty());
        assert_eq!(table.snapshot().version, 0);
    }
}
