//! Planning: which listed files a run reads, partition by partition.
//!
//! Listed files are gathered per partition while the listing is in that partition
//! (a local tree lists a partition's days one after another; S3 lists a month per
//! request). When the listing moves on, the partition is *closed*: its index keys
//! are read (that partition's only) and the files already there are dropped. So a
//! run holds one partition's keys at a time, whatever the size of the archive.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::PathBuf;

use trailpack_decode::sha256;
use trailpack_source::{FileKind, SourceFile};
use trailpack_store::ArchiveRoot;
use trailpack_table::index::load_partition_keys;
use trailpack_table::{PartitionKey, Partitioning};

use crate::pipeline::SourceBatches;
use crate::{ArchiveError, RunReport, WriteOptions};

/// One partition's work in a run.
#[derive(Debug, Default)]
pub(crate) struct Job {
    /// The partition.
    pub partition: Option<PartitionKey>,
    /// New log and Insights files, in (delivery time, key) order.
    pub files: Vec<SourceFile>,
    /// New digest files, in key order.
    pub digests: Vec<SourceFile>,
    /// Files over the size limit, left unread.
    pub too_large: Vec<SourceFile>,
    /// The signatures known for `digests` when the partition was planned, by key.
    pub signatures: HashMap<String, String>,
}

impl Job {
    /// Files to read.
    pub fn file_count(&self) -> u64 {
        (self.files.len() + self.digests.len()) as u64
    }

    /// Stored bytes to read.
    pub fn bytes(&self) -> u64 {
        self.files.iter().chain(&self.digests).map(|f| f.size).sum()
    }
}

/// Turns listed batches into [`Job`]s, taking each key once per run.
pub(crate) struct Planner<'a> {
    root: &'a ArchiveRoot,
    options: &'a WriteOptions,
    partitioning: Partitioning,
    /// Signatures given on the command line: they win.
    given: &'a BTreeMap<String, String>,
    /// Signatures of the sidecars the listing has found so far.
    found: BTreeMap<String, String>,
    open: BTreeMap<PartitionKey, Vec<SourceFile>>,
    /// The keys planned in this run (128 bits of their SHA-256): a key listed
    /// twice (two overlapping sources) is read once.
    planned: HashSet<u128>,
    /// Counts known before anything is read.
    pub report: RunReport,
}

impl<'a> Planner<'a> {
    pub fn new(
        root: &'a ArchiveRoot,
        options: &'a WriteOptions,
        partitioning: Partitioning,
        given: &'a BTreeMap<String, String>,
    ) -> Self {
        Planner {
            root,
            options,
            partitioning,
            given,
            found: BTreeMap::new(),
            open: BTreeMap::new(),
            planned: HashSet::new(),
            report: RunReport::default(),
        }
    }

    /// Load signature sidecars the listing found: they apply to the digests of the
    /// partitions planned from now on.
    pub fn add_sidecars(&mut self, paths: &[PathBuf]) -> Result<(), ArchiveError> {
        for path in paths {
            let loaded = std::fs::read(path)
                .map_err(|e| e.to_string())
                .and_then(|bytes| {
                    trailpack_digest::load_signatures(&bytes).map_err(|e| e.to_string())
                })
                .map_err(|error| ArchiveError::Signatures {
                    path: path.clone(),
                    error,
                })?;
            self.found.extend(loaded);
        }
        Ok(())
    }

    /// Take a listed batch; return the jobs of the partitions the listing left.
    pub fn take(&mut self, files: Vec<SourceFile>) -> Result<Vec<Job>, ArchiveError> {
        let mut in_batch = BTreeSet::new();
        for file in files {
            let partition = PartitionKey::of_file(&file.name, self.partitioning);
            if self
                .options
                .shard
                .is_some_and(|shard| !shard.owns(&partition))
            {
                self.report.files_in_other_shards += 1;
                continue;
            }
            self.report.files_listed += 1;
            in_batch.insert(partition.clone());
            self.open.entry(partition).or_default().push(file);
        }
        let left: Vec<PartitionKey> = self
            .open
            .keys()
            .filter(|partition| !in_batch.contains(*partition))
            .cloned()
            .collect();
        left.into_iter().map(|p| self.close(p)).collect()
    }

    /// The jobs of every partition still open: the listing is over.
    pub fn finish(&mut self) -> Result<Vec<Job>, ArchiveError> {
        let open: Vec<PartitionKey> = self.open.keys().cloned().collect();
        open.into_iter().map(|p| self.close(p)).collect()
    }

    fn close(&mut self, partition: PartitionKey) -> Result<Job, ArchiveError> {
        let files = self.open.remove(&partition).unwrap_or_default();
        let known = load_partition_keys(self.root, &partition)?;
        let mut job = Job::default();
        for file in files {
            let is_digest = file.name.kind == FileKind::Digest;
            self.report.digest_files += u64::from(is_digest);
            // A file archived under a larger limit than this run's is archived.
            if known.contains(&file.key) {
                self.report.files_already_archived += u64::from(!is_digest);
                continue;
            }
            if file.size > self.options.decode.max_file_bytes as u64 {
                self.report.files_too_large += 1;
                job.too_large.push(file);
                continue;
            }
            let hash = u128::from_le_bytes(
                sha256(file.key.as_bytes())[..16]
                    .try_into()
                    .unwrap_or_default(),
            );
            if !self.planned.insert(hash) {
                continue;
            }
            if is_digest {
                let signature = self.given.get(&file.key).or(self.found.get(&file.key));
                if let Some(signature) = signature {
                    job.signatures.insert(file.key.clone(), signature.clone());
                }
                job.digests.push(file);
            } else {
                job.files.push(file);
            }
        }
        job.files
            .sort_by(|a, b| (a.name.delivery, &a.key).cmp(&(b.name.delivery, &b.key)));
        job.digests.sort_by(|a, b| a.key.cmp(&b.key));
        job.partition = Some(partition);
        Ok(job)
    }
}

/// What an `archive` run would read in one partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionPlan {
    /// The partition.
    pub partition: PartitionKey,
    /// New log and Insights files.
    pub files: u64,
    /// Their stored bytes.
    pub bytes: u64,
    /// New digest files.
    pub digests: u64,
}

/// What an `archive` run would do.
#[derive(Debug, Default)]
pub struct Plan {
    /// The partitions with new files, in the order they would be written.
    pub partitions: Vec<PartitionPlan>,
    /// The counts known before anything is read.
    pub report: RunReport,
}

/// Plan an archive run over the listed `batches` into the archive at `root`,
/// without writing: files already in the index and other shards' files are left
/// out.
pub fn plan(
    root: &ArchiveRoot,
    batches: SourceBatches<'_>,
    options: &WriteOptions,
) -> Result<Plan, ArchiveError> {
    let partitioning = crate::pipeline::partitioning(root, options)?;
    let no_signatures = BTreeMap::new();
    let mut planner = Planner::new(root, options, partitioning, &no_signatures);
    let mut plan = Plan::default();
    let add = |jobs: Vec<Job>, plan: &mut Plan| {
        for job in jobs {
            if let Some(partition) = job.partition.clone().filter(|_| job.file_count() > 0) {
                plan.partitions.push(PartitionPlan {
                    partition,
                    files: job.files.len() as u64,
                    bytes: job.bytes(),
                    digests: job.digests.len() as u64,
                });
            }
        }
    };
    for batch in batches {
        let jobs = planner.take(batch?.files)?;
        add(jobs, &mut plan);
    }
    let jobs = planner.finish()?;
    add(jobs, &mut plan);
    plan.report = planner.report;
    Ok(plan)
}
