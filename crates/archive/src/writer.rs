//! [`Writer`]: one partition's job at a time, committed part by part through the
//! table's intents.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::mpsc::Receiver;
use std::time::Instant;

use arrow_array::cast::AsArray;
use arrow_array::{Array, RecordBatch};
use parquet::file::properties::WriterProperties;
use trailpack_decode::{DecodedFile, gunzip, sha256};
use trailpack_source::{Compression as SourceCompression, Fetched, SourceFile, fetch_all};
use trailpack_store::{ArchiveRoot, unique_name};
use trailpack_table::delta::Remove;
use trailpack_table::index::{encode_segment, segment_path};
use trailpack_table::intent::{
    Completion, Intent, StagedIndex, abandon, complete, staged_index_path, staged_part_path,
};
use trailpack_table::keys::{StoredPublicKey, store_keys};
use trailpack_table::{
    DIGESTS_DIR, EntryStatus, IndexEntry, ORPHAN_GRACE, PartitionKey, Partitioning, QUARANTINE_DIR,
    Table, TableError, is_part_file_name,
};

use crate::part::{BuiltPart, Pending};
use crate::pipeline::{DecodedUnit, Failure, decode_units};
use crate::plan::Job;
use crate::report::DUPLICATE_EXAMPLES;
use crate::{ArchiveError, DuplicateEvent, Progress, QuarantinedFile, RunReport, WriteOptions};

/// Digest files read at once while storing them.
const DIGEST_WAVE: usize = 1024;

/// Writes parts, index segments and commits, and counts what it did.
pub(crate) struct Writer<'a> {
    pub(crate) root: &'a ArchiveRoot,
    /// The table, opened or created at the first write.
    table: Option<Table>,
    pub(crate) partitioning: Partitioning,
    pub(crate) options: &'a WriteOptions,
    pub(crate) properties: Arc<WriterProperties>,
    /// Identities of the events written in this run, for duplicate detection.
    events: foldhash::HashSet<u64>,
    /// The last part built by [`Writer::job`], committed while the next one is
    /// built, or by [`Writer::commit_deferred`].
    deferred: Option<PartCommit>,
    pub(crate) report: &'a mut RunReport,
    pub(crate) progress: &'a dyn Progress,
}

impl<'a> Writer<'a> {
    pub fn try_new(
        root: &'a ArchiveRoot,
        table: Option<Table>,
        partitioning: Partitioning,
        options: &'a WriteOptions,
        report: &'a mut RunReport,
        progress: &'a dyn Progress,
    ) -> Result<Self, ArchiveError> {
        // Before anything is written: a commit would need it (probed once per root).
        root.check_conditional_writes()?;
        Ok(Writer {
            root,
            table,
            partitioning,
            options,
            properties: Arc::new(options.writer_properties()?),
            events: foldhash::HashSet::default(),
            deferred: None,
            report,
            progress,
        })
    }

    /// The table, created on first use.
    pub fn table(&mut self) -> Result<&mut Table, ArchiveError> {
        if self.table.is_none() {
            self.table = Some(Table::open_or_create(self.root, Some(self.partitioning))?);
        }
        self.table.as_mut().ok_or(ArchiveError::Stopped("table"))
    }

    /// Archive one partition's job: its digests first, then its files, which
    /// arrive decoded unit by unit (see [`decode_units`]) from `decoded_units`.
    pub fn job(
        &mut self,
        job: &Job,
        decoded_units: &Receiver<DecodedUnit>,
    ) -> Result<(), ArchiveError> {
        let Some(partition) = &job.partition else {
            return Ok(());
        };
        for file in &job.too_large {
            self.progress.warn(&format!(
                "{}: not read: {} bytes stored, over the {} byte file limit (left in place)",
                file.location, file.size, self.options.decode.max_file_bytes
            ));
        }
        if job.file_count() == 0 {
            return Ok(());
        }
        self.remove_orphans(partition)?;
        let started = Instant::now();
        let mut loose = self.store_digests(&job.digests, &job.signatures)?;
        self.report.stages.digests += started.elapsed().as_secs_f64();
        let mut buffer: Vec<Pending> = Vec::new();
        let mut buffered_bytes = 0;
        for unit in decode_units(&job.files, self.options.wave_bytes) {
            let waited = Instant::now();
            let DecodedUnit { results, seconds } = decoded_units
                .recv()
                .map_err(|_| ArchiveError::Stopped("decoder"))?;
            debug_assert_eq!(results.len(), unit.len(), "the decoder cut another unit");
            self.report.stages.read_wait += waited.elapsed().as_secs_f64();
            self.report.stages.decode += seconds;
            for (file, result) in job.files[unit].iter().zip(results) {
                if let Some(pending) = self.take(file, result, &mut loose)? {
                    buffered_bytes += pending.decoded.text.len();
                    buffer.push(pending);
                }
                if buffered_bytes >= self.options.part_bytes {
                    let files = std::mem::take(&mut buffer);
                    self.write_part(partition, files, std::mem::take(&mut loose))?;
                    buffered_bytes = 0;
                }
            }
        }
        if !buffer.is_empty() {
            self.write_part(partition, buffer, loose)?;
        } else if !loose.is_empty() {
            self.write_segment(partition, loose)?;
        }
        Ok(())
    }

    /// Take one file's decoding: a file with records to buffer, or an entry for
    /// `loose` (no records, quarantined), or a warning (unreadable).
    fn take(
        &mut self,
        file: &SourceFile,
        result: Result<DecodedFile, Failure>,
        loose: &mut Vec<IndexEntry>,
    ) -> Result<Option<Pending>, ArchiveError> {
        self.report.bytes_in += file.size;
        match result {
            Ok(decoded) => {
                let records = decoded.records.len() as u64;
                self.progress.advance(1, file.size, records);
                if !decoded.records.is_empty() {
                    return Ok(Some(Pending {
                        source: file.clone(),
                        decoded,
                    }));
                }
                loose.push(crate::part::archived_entry(file, &decoded, None, 0)?);
                self.count_archived(&decoded);
            }
            Err(Failure::Invalid { reason, stored }) => {
                self.progress.advance(1, file.size, 0);
                loose.push(self.quarantine(file, reason, &stored)?);
            }
            Err(Failure::Unreadable(error)) => {
                // Not recorded in the index: the next run tries again.
                self.progress.advance(1, file.size, 0);
                self.progress.warn(&format!(
                    "{}: cannot read (left for the next run): {error}",
                    file.location
                ));
                self.report.files_unreadable += 1;
            }
        }
        Ok(None)
    }

    /// Build a part of `files`, to be committed with its files' index entries and
    /// `loose` ones while the next part is built: the commit (fsyncs, the index
    /// segment, the log) is one thread's work, building keeps every core busy.
    fn write_part(
        &mut self,
        partition: &PartitionKey,
        files: Vec<Pending>,
        loose: Vec<IndexEntry>,
    ) -> Result<(), ArchiveError> {
        let mut built = match self.deferred.take() {
            None => self.build_part(partition, &files)?,
            Some(previous) => {
                self.table()?;
                let mut table = self.table.take().ok_or(ArchiveError::Stopped("table"))?;
                let root = self.root;
                let (committed, built) = std::thread::scope(|scope| {
                    let commit = scope.spawn(|| {
                        let started = Instant::now();
                        let committed = previous.run(root, &mut table);
                        (committed, started.elapsed().as_secs_f64())
                    });
                    let built = self.build_part(partition, &files);
                    (commit.join(), built)
                });
                self.table = Some(table);
                let (committed, seconds) =
                    committed.map_err(|_| ArchiveError::Stopped("committer"))?;
                self.count_commit(committed, seconds)?;
                built?
            }
        };
        for pending in &files {
            self.count_archived(&pending.decoded);
        }
        let mut entries = std::mem::take(&mut built.entries);
        entries.extend(loose);
        self.deferred = Some(PartCommit {
            index: Some(entries),
            ..PartCommit::new(built, "WRITE")
        });
        Ok(())
    }

    /// Commit the part [`Writer::job`] built last, if it is not committed yet.
    pub fn commit_deferred(&mut self) -> Result<(), ArchiveError> {
        match self.deferred.take() {
            Some(commit) => self.commit_part(commit),
            None => Ok(()),
        }
    }

    /// Commit a built part (see [`PartCommit::run`]), timed and counted.
    pub fn commit_part(&mut self, commit: PartCommit) -> Result<(), ArchiveError> {
        let started = Instant::now();
        let root = self.root;
        let committed = commit.run(root, self.table()?);
        self.count_commit(committed, started.elapsed().as_secs_f64())
    }

    /// Count a commit that took `seconds`, or pass on its error.
    fn count_commit(
        &mut self,
        committed: Result<(), ArchiveError>,
        seconds: f64,
    ) -> Result<(), ArchiveError> {
        self.report.stages.commit += seconds;
        committed?;
        self.report.commits += 1;
        Ok(())
    }

    /// Write index entries that need no part (quarantined files, files without
    /// records, digests) as a segment of their own: it is durable when it lands.
    pub fn write_segment(
        &mut self,
        partition: &PartitionKey,
        mut entries: Vec<IndexEntry>,
    ) -> Result<(), ArchiveError> {
        let started = Instant::now();
        self.table()?;
        let bytes = encode_segment(&mut entries)?;
        self.root
            .write(&segment_path(partition, &unique_name()), &bytes)?;
        self.report.stages.commit += started.elapsed().as_secs_f64();
        Ok(())
    }

    /// Delete part files in `partition` that the table does not hold, that no
    /// intent names, and that are older than [`ORPHAN_GRACE`]: the leftovers of a
    /// crash that intents could not cover (an upload that landed after its intent
    /// was given up).
    fn remove_orphans(&mut self, partition: &PartitionKey) -> Result<(), ArchiveError> {
        let dir = partition.dir();
        let candidates: Vec<_> = self
            .root
            .list(&dir)?
            .into_iter()
            .filter(|l| {
                l.path.len() == dir.len() + 1 + l.name().len() && is_part_file_name(l.name())
            })
            .collect();
        if candidates.is_empty() || self.table.is_none() {
            return Ok(());
        }
        let now = self.root.now()?;
        let stale: Vec<String> = candidates
            .into_iter()
            .filter(|l| {
                l.modified
                    .and_then(|m| now.duration_since(m).ok())
                    .is_some_and(|age| age >= ORPHAN_GRACE)
            })
            .map(|l| l.path)
            .collect();
        let root = self.root;
        let table = self.table()?;
        if stale.iter().all(|p| table.snapshot().parts.contains_key(p)) {
            return Ok(());
        }
        // Read the log again: another writer may have committed them since.
        table.refresh()?;
        let pending = trailpack_table::intent::pending_parts(root)?;
        for path in stale {
            if !table.snapshot().parts.contains_key(&path) && !pending.contains(&path) {
                root.delete(&path)?;
            }
        }
        Ok(())
    }

    fn quarantine(
        &mut self,
        file: &SourceFile,
        reason: String,
        stored: &[u8],
    ) -> Result<IndexEntry, ArchiveError> {
        self.progress
            .warn(&format!("{}: quarantined: {reason}", file.location));
        self.report.files_quarantined += 1;
        self.report.quarantined.push(QuarantinedFile {
            key: file.key.clone(),
            reason: reason.clone(),
        });
        self.table()?;
        self.root
            .write(&format!("{QUARANTINE_DIR}/{}", file.key), stored)?;
        Ok(IndexEntry::quarantined(&file.key, file.size, reason))
    }

    /// Keep every digest file's exact bytes, with its signature when one is
    /// known; return their index entries.
    fn store_digests(
        &mut self,
        digests: &[SourceFile],
        signatures: &HashMap<String, String>,
    ) -> Result<Vec<IndexEntry>, ArchiveError> {
        let mut entries = Vec::new();
        // Waves bound memory: a first run over an organisation trail has many.
        for wave in digests.chunks(DIGEST_WAVE) {
            let read = fetch_all(wave);
            for (file, stored) in wave.iter().zip(read) {
                self.progress.advance(1, file.size, 0);
                match stored {
                    Ok(fetched) => entries.push(self.store_digest(file, fetched, signatures)?),
                    Err(error) => {
                        self.progress.warn(&format!(
                            "{}: cannot read (left for the next run): {error}",
                            file.location
                        ));
                        self.report.files_unreadable += 1;
                    }
                }
            }
        }
        self.report.digests_archived += entries.len() as u64;
        Ok(entries)
    }

    fn store_digest(
        &mut self,
        file: &SourceFile,
        fetched: Fetched,
        signatures: &HashMap<String, String>,
    ) -> Result<IndexEntry, ArchiveError> {
        let Fetched {
            bytes: stored,
            metadata,
        } = fetched;
        let uncompressed = match file.name.compression {
            SourceCompression::Gzip => gunzip(&stored, self.options.decode.max_file_bytes).ok(),
            SourceCompression::None => Some(stored.clone()),
        };
        self.table()?;
        self.root
            .write(&format!("{DIGESTS_DIR}/{}", file.key), &stored)?;
        Ok(IndexEntry {
            key: file.key.clone(),
            status: EntryStatus::Digest,
            size: file.size,
            raw_size: uncompressed.as_ref().map(|b| b.len() as u64),
            sha256: uncompressed.map(|bytes| sha256(&bytes)),
            records: 0,
            fallback_records: 0,
            part: None,
            frame: None,
            reason: None,
            signature: signatures.get(&file.key).cloned().or(metadata.signature),
            signature_algorithm: metadata.signature_algorithm,
            backfill_generation_timestamp: metadata.backfill_generation_timestamp,
        })
    }

    /// Keep the public keys the archive does not have yet.
    pub fn store_keys(&mut self, keys: &[StoredPublicKey]) -> Result<(), ArchiveError> {
        if !keys.is_empty() {
            self.table()?;
            store_keys(self.root, keys)?;
        }
        Ok(())
    }

    /// Count the rows of `batch` whose event this run has written before, from
    /// the [`event_identities`](crate::report::event_identities) of that batch.
    pub(crate) fn count_duplicates(&mut self, batch: &RecordBatch, identities: &[Option<u64>]) {
        for (row, identity) in identities.iter().enumerate() {
            let Some(identity) = *identity else {
                continue;
            };
            if !self.events.insert(identity) {
                self.report.duplicate_records += 1;
                if self.report.duplicate_examples.len() < DUPLICATE_EXAMPLES {
                    let value = |name| {
                        batch
                            .column_by_name(name)
                            .and_then(|c| c.as_string_opt::<i32>())
                            .filter(|c| c.is_valid(row))
                            .map_or(String::new(), |c| c.value(row).to_string())
                    };
                    self.report.duplicate_examples.push(DuplicateEvent {
                        event_id: value("eventid"),
                        recipient_account_id: value("recipientaccountid"),
                    });
                }
            }
        }
    }

    fn count_archived(&mut self, decoded: &DecodedFile) {
        self.report.files_archived += 1;
        self.report.records_in += decoded.records.len() as u64;
        self.report.raw_bytes_in += decoded.text.len() as u64;
    }
}

/// A built part to commit, and what the commit changes besides adding it.
pub(crate) struct PartCommit {
    /// The part, in its temporary file.
    pub built: BuiltPart,
    /// The index segment to publish with it.
    pub index: Option<Vec<IndexEntry>>,
    /// Parts it replaces.
    pub removes: Vec<Remove>,
    /// Files to delete once it is committed.
    pub retire: Vec<String>,
    /// The Delta operation (`WRITE`, `OPTIMIZE`, `UPGRADE`).
    pub operation: &'static str,
}

impl PartCommit {
    /// A commit that only adds `built`.
    pub fn new(built: BuiltPart, operation: &'static str) -> Self {
        PartCommit {
            built,
            index: None,
            removes: Vec::new(),
            retire: Vec::new(),
            operation,
        }
    }

    /// Commit through an intent: stage the part and its index segment, write the
    /// intent, publish the part (an upload on S3), then let [`complete`] commit
    /// it and publish the segment. A commit refused because another writer
    /// removed the same parts first takes the new part away again.
    fn run(self, root: &ArchiveRoot, table: &mut Table) -> Result<(), ArchiveError> {
        let PartCommit {
            built,
            index,
            removes,
            retire,
            operation,
        } = self;
        let BuiltPart { id, info, temp, .. } = built;
        let index_bytes = index.map(|mut e| encode_segment(&mut e)).transpose()?;
        let mut intent = Intent::new(
            &id,
            table.snapshot().version,
            operation,
            info.to_add(removes.is_empty()),
        );
        intent.removes = removes;
        intent.retire = retire;
        if let Some(bytes) = &index_bytes {
            root.write(&staged_index_path(&id), bytes)?;
            intent.index = Some(StagedIndex {
                staged: staged_index_path(&id),
                path: segment_path(&info.partition, &id),
            });
        }
        if root.local().is_some() {
            root.persist(temp, &staged_part_path(&id))?;
            intent.staged_part = Some(staged_part_path(&id));
            intent.write(root)?;
        } else {
            intent.write(root)?;
            root.persist(temp, &info.path)?;
        }
        match complete(table, &intent, index_bytes.as_deref()) {
            Ok(Completion::Done(_)) => Ok(()),
            Ok(Completion::PartMissing) => Err(ArchiveError::Integrity {
                key: info.path,
                reason: "the part vanished before its commit".into(),
            }),
            Err(error @ TableError::Conflict { .. }) => {
                root.delete(&info.path)?;
                abandon(root, &intent)?;
                Err(error.into())
            }
            Err(error) => Err(error.into()),
        }
    }
}
