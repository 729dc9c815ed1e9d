//! The `archive` pipeline: a planner, a reader and a decoder thread run ahead of
//! the writer (the calling thread), partition by partition, wave by wave.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender};
use std::time::Instant;

use rayon::prelude::*;
use trailpack_decode::{DecodeOptions, DecodedFile, Encoding, decode_file};
use trailpack_source::{Compression, Fetched, SourceFile, fetch_all};
use trailpack_store::ArchiveRoot;
use trailpack_table::intent::recover;
use trailpack_table::keys::StoredPublicKey;
use trailpack_table::{Partitioning, Table};

use crate::plan::{Job, Planner};
use crate::writer::Writer;
use crate::{ArchiveError, Progress, RunReport, WriteOptions};

/// Waves fetched ahead of the one being decoded (each at most `wave_bytes` of
/// stored bytes): enough that reading goes on while the writer sorts and builds a
/// part (4 rather than 1 took 3-4% off the benchmark trees' wall time).
const PREFETCH_WAVES: usize = 4;
/// Files in one wave at most: small files make many requests, and smaller waves
/// let reading run ahead in smaller steps.
const WAVE_FILES: usize = 4096;
/// Each fetched wave is decoded in units cut as waves are, at `wave_bytes` divided
/// by this, and each unit is handed on as soon as it is decoded. A wave stays the
/// unit of a parallel fetch (many requests in flight), while the text decoded
/// ahead of the writer is counted in smaller units: on large files a wave of
/// 8 MiB stored is about 50 MB of text.
const DECODE_UNITS_PER_WAVE: u64 = 4;
/// Decoded units waiting for the writer at most: about one wave of text when
/// files are small against a unit, so that a partition of up to a wave is
/// decoded while the one before it is built (four waves of text, as before
/// units, held 13-17 MB more at the peak for no gain in time;
/// docs/BENCHMARKS.md). A file of a quarter wave or more is a unit of its own.
const DECODED_AHEAD: usize = DECODE_UNITS_PER_WAVE as usize;
/// Partitions planned ahead of the reader and of the writer: enough to keep them
/// busy, few enough that a listing far ahead is not held in memory.
const JOBS_AHEAD: usize = 2;

/// What a listing found in one step: files, and signature sidecars.
#[derive(Debug, Default)]
pub struct SourceBatch {
    /// CloudTrail files.
    pub files: Vec<SourceFile>,
    /// Signature sidecars (`signatures.json`) found: their signatures apply to the
    /// digests listed after them.
    pub signatures: Vec<PathBuf>,
}

/// Batches of source files as a listing finds them (see
/// [`trailpack_source::list_source_batches`]).
pub type SourceBatches<'a> =
    Box<dyn Iterator<Item = Result<SourceBatch, trailpack_source::SourceError>> + Send + 'a>;

/// Digest signatures and public keys to keep with the archive.
#[derive(Debug, Clone, Default)]
pub struct IntegrityInputs {
    /// Hex signatures by digest key (from `AWSLogs/` on), from `--signatures`
    /// files: they win over sidecars found in the sources and over S3 metadata.
    pub signatures: BTreeMap<String, String>,
    /// Public keys to store.
    pub public_keys: Vec<StoredPublicKey>,
}

/// Archive `files` into the archive at `root`. Files already in the index are
/// skipped; digest files are kept whole with their signatures from `integrity`.
pub fn archive(
    root: &ArchiveRoot,
    files: Vec<SourceFile>,
    options: &WriteOptions,
    integrity: &IntegrityInputs,
    progress: &dyn Progress,
) -> Result<RunReport, ArchiveError> {
    let batch = SourceBatch {
        files,
        signatures: Vec::new(),
    };
    archive_batches(
        root,
        Box::new(std::iter::once(Ok(batch))),
        options,
        integrity,
        progress,
    )
}

/// The partitioning of a run: the archive's, or for a new archive the options'
/// (month by default).
pub(crate) fn partitioning(
    root: &ArchiveRoot,
    options: &WriteOptions,
) -> Result<Partitioning, ArchiveError> {
    let Some(table) = Table::open_if_any(root)? else {
        return Ok(options.partitioning.unwrap_or_default());
    };
    let existing = table.snapshot().partitioning;
    match options.partitioning {
        Some(wanted) if wanted != existing => Err(ArchiveError::Options(format!(
            "{root}: the archive is partitioned by {}, not by {} (--partition applies only to a new archive)",
            existing.name(),
            wanted.name()
        ))),
        _ => Ok(existing),
    }
}

/// Archive files as a listing finds them: each partition is planned when the
/// listing leaves it, and read, decoded and written while later ones are listed.
/// A listing error ends the run with that error, after the parts of the
/// partitions before it are committed. Intents left by an earlier run that
/// crashed are finished first.
pub fn archive_batches(
    root: &ArchiveRoot,
    batches: SourceBatches<'_>,
    options: &WriteOptions,
    integrity: &IntegrityInputs,
    progress: &dyn Progress,
) -> Result<RunReport, ArchiveError> {
    let started = Instant::now();
    let partitioning = partitioning(root, options)?;
    // Nothing is created until there is something to write: a run whose listing
    // fails at once leaves no trace.
    let mut report = RunReport::default();
    let mut table = Table::open_if_any(root)?;
    if let Some(table) = &mut table {
        let recovered = recover(table)?;
        report.commits_recovered = recovered.completed;
        report.commits_abandoned = recovered.abandoned;
    }
    let mut writer = Writer::try_new(root, table, partitioning, options, &mut report, progress)?;
    // Set when the writer fails: the planner then stops listing at once.
    let writer_failed = AtomicBool::new(false);
    let (planned, written) = std::thread::scope(|scope| {
        let (to_read, jobs_to_read) = std::sync::mpsc::sync_channel::<Arc<Job>>(JOBS_AHEAD);
        let (to_write, jobs_to_write) = std::sync::mpsc::sync_channel::<Arc<Job>>(JOBS_AHEAD);
        let planner = Planner::new(root, options, partitioning, &integrity.signatures);
        let writer_failed = &writer_failed;
        let planning = scope.spawn(move || {
            plan_batches(
                planner,
                batches,
                writer_failed,
                progress,
                [to_read, to_write],
            )
        });
        let (fetched_sender, fetched) = std::sync::mpsc::sync_channel(PREFETCH_WAVES);
        let (decoded_sender, decoded) = std::sync::mpsc::sync_channel(DECODED_AHEAD);
        scope.spawn(move || read_jobs(jobs_to_read, options.wave_bytes, fetched_sender));
        scope.spawn(move || {
            decode_waves(fetched, options.wave_bytes, &options.decode, decoded_sender)
        });
        let written = jobs_to_write
            .iter()
            .try_for_each(|job| writer.job(&job, &decoded));
        // On an error the planner stops at its next batch, the reader and the
        // decoder at their next send.
        writer_failed.store(written.is_err(), Ordering::Relaxed);
        drop(jobs_to_write);
        drop(decoded);
        // The last part built is committed even after an error, as every part
        // before it was; the first error is the one reported.
        let committed = writer.commit_deferred();
        let written = written.and(committed);
        let planned = planning
            .join()
            .map_err(|_| ArchiveError::Stopped("planner"))
            .and_then(|planned| planned);
        (planned, written)
    });
    written?;
    let planned = planned?;
    writer.store_keys(&integrity.public_keys)?;
    drop(writer);
    report.add_planned(&planned);
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

/// The planner thread: take each listed batch, load the sidecars it found, and
/// send the jobs of the partitions the listing left to the reader and the writer.
fn plan_batches(
    mut planner: Planner<'_>,
    batches: SourceBatches<'_>,
    writer_failed: &AtomicBool,
    progress: &dyn Progress,
    senders: [SyncSender<Arc<Job>>; 2],
) -> Result<RunReport, ArchiveError> {
    let (mut files, mut bytes) = (0, 0);
    let mut send = |jobs: Vec<Job>| {
        for job in jobs {
            files += job.file_count();
            bytes += job.bytes();
            progress.start(files, bytes);
            let job = Arc::new(job);
            if senders.iter().any(|s| s.send(Arc::clone(&job)).is_err()) {
                return false; // The writer stopped on an error.
            }
        }
        true
    };
    for batch in batches {
        if writer_failed.load(Ordering::Relaxed) {
            return Ok(planner.report);
        }
        let batch = batch?;
        planner.add_sidecars(&batch.signatures)?;
        if !send(planner.take(batch.files)?) {
            return Ok(planner.report);
        }
    }
    send(planner.finish()?);
    Ok(planner.report)
}

/// One wave's fetched bytes, with the job it belongs to.
type FetchedWave = (Arc<Job>, Range<usize>, Vec<std::io::Result<Fetched>>);

/// The reader thread: fetch every job's waves in order.
fn read_jobs(jobs: Receiver<Arc<Job>>, wave_bytes: u64, fetched: SyncSender<FetchedWave>) {
    for job in jobs {
        for wave in waves(&job.files, wave_bytes) {
            let stored = fetch_all(&job.files[wave.clone()]);
            if fetched.send((Arc::clone(&job), wave, stored)).is_err() {
                return;
            }
        }
    }
}

/// The decoder thread: decode every fetched wave, in order, unit by unit (see
/// [`decode_units`]).
fn decode_waves(
    fetched: Receiver<FetchedWave>,
    wave_bytes: u64,
    limits: &DecodeOptions,
    decoded: SyncSender<DecodedUnit>,
) {
    for (job, wave, stored) in fetched {
        let mut stored = stored.into_iter();
        for unit in wave_units(&job.files, wave.clone(), wave_bytes) {
            let unit_stored = stored.by_ref().take(unit.len()).collect();
            if decoded
                .send(decode_unit(&job.files[unit], unit_stored, limits))
                .is_err()
            {
                return;
            }
        }
    }
}

/// Why a file did not decode.
pub(crate) enum Failure {
    /// It could not be read (vanished, permissions): reported, not recorded.
    Unreadable(std::io::Error),
    /// Its bytes are not a valid CloudTrail log file: quarantined with them.
    Invalid { reason: String, stored: Vec<u8> },
}

/// One decoding unit's files, in order, and the time decoding took.
pub(crate) struct DecodedUnit {
    pub results: Vec<Result<DecodedFile, Failure>>,
    pub seconds: f64,
}

/// Decode a unit's fetched bytes in parallel.
fn decode_unit(
    files: &[SourceFile],
    stored: Vec<std::io::Result<Fetched>>,
    limits: &DecodeOptions,
) -> DecodedUnit {
    let started = Instant::now();
    let results = stored
        .into_par_iter()
        .zip(files.par_iter())
        .map(|(stored, file)| {
            let stored = stored.map_err(Failure::Unreadable)?.bytes;
            let encoding = match file.name.compression {
                Compression::Gzip => Encoding::Gzip,
                Compression::None => Encoding::Plain,
            };
            decode_file(&stored, encoding, limits).map_err(|e| Failure::Invalid {
                reason: e.to_string(),
                stored,
            })
        })
        .collect();
    DecodedUnit {
        results,
        seconds: started.elapsed().as_secs_f64(),
    }
}

/// The units in which `files` are decoded, in order, as index ranges: each wave
/// (see [`waves`]) cut as waves are, at `wave_bytes / DECODE_UNITS_PER_WAVE`
/// stored bytes. The decoder and the writer cut the same units.
pub(crate) fn decode_units(files: &[SourceFile], wave_bytes: u64) -> Vec<Range<usize>> {
    waves(files, wave_bytes)
        .into_iter()
        .flat_map(|wave| wave_units(files, wave, wave_bytes))
        .collect()
}

/// The decoding units of `files[wave]`, as index ranges into `files`.
fn wave_units(files: &[SourceFile], wave: Range<usize>, wave_bytes: u64) -> Vec<Range<usize>> {
    waves(&files[wave.clone()], wave_bytes / DECODE_UNITS_PER_WAVE)
        .into_iter()
        .map(|unit| wave.start + unit.start..wave.start + unit.end)
        .collect()
}

/// Split `files` into waves, as index ranges: files are added to a wave until it
/// holds `wave_bytes` stored bytes or more (so at least one file, and at most one
/// file over) or [`WAVE_FILES`] files. A wave is the unit of parallel reading;
/// the reader and the decoder cut the same waves, and [`decode_units`] cuts them
/// again for decoding.
pub(crate) fn waves(files: &[SourceFile], wave_bytes: u64) -> Vec<Range<usize>> {
    let mut waves = Vec::new();
    let mut start = 0;
    while start < files.len() {
        let mut end = start;
        let mut bytes = 0;
        while end < files.len() && end - start < WAVE_FILES && (end == start || bytes < wave_bytes)
        {
            bytes += files[end].size;
            end += 1;
        }
        waves.push(start..end);
        start = end;
    }
    waves
}
