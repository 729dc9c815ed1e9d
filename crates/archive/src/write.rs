//! The write path: decode files in parallel, partition, sort, prove and commit parts.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::io::Write;
use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Receiver;
use std::time::Instant;

use arrow_array::cast::AsArray;
use arrow_array::{Array, RecordBatch};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, Encoding as ParquetEncoding, ZstdLevel};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;
use rayon::prelude::*;
use serde::Serialize;
use trailpack_decode::{DecodeOptions, DecodedFile, Encoding, Frame, decode_file, gunzip, sha256};
use trailpack_schema::{BatchBuilder, SCHEMA_VERSION, schema};
use trailpack_source::{
    Compression as SourceCompression, Fetched, FileKind, SourceFile, UtcTime, fetch_all,
};

use crate::manifest::{
    COMMIT_FORMAT, COMMIT_VERSION, Commit, DIGESTS_DIR, DigestEntry, FileEntry, FileStatus,
    FrameEntry, Manifest, PartEntry, QUARANTINE_DIR, StoredPublicKey, load_parts, write_commit,
};
use crate::{ArchiveError, ArchiveRoot, Listed, Progress, hex};

/// Default zstd level for parts.
pub const DEFAULT_ZSTD_LEVEL: i32 = 3;
/// Default rows per row group.
pub const DEFAULT_ROW_GROUP_ROWS: usize = trailpack_schema::DEFAULT_BATCH_ROWS;
/// Default uncompressed record bytes gathered into one part: with CloudTrail's
/// usual 8-15x compression this makes parts of tens of MB, well above the sizes
/// that cold storage tiers and S3 lifecycle rules penalise.
pub const DEFAULT_PART_BYTES: usize = 256 << 20;
/// Default stored bytes read and decoded in one parallel wave. Up to three waves
/// are in flight (one being read, one decoded, one being buffered), each about
/// five times this size once decoded; 8 MiB keeps that under 150 MB while a wave
/// still holds hundreds of small files.
pub const DEFAULT_WAVE_BYTES: u64 = 8 << 20;
/// How old an uncommitted part or temporary file must be before a writer removes
/// it as the leftover of a crash.
pub const ORPHAN_GRACE: std::time::Duration = std::time::Duration::from_secs(600);
/// Rows per data page at most: small enough that a selective query reads a few
/// pages of a row group through the page index, not whole column chunks.
const DATA_PAGE_ROWS: usize = 4096;
/// Rows normalised and proven as one batch (in parallel with others).
const SUB_BATCH_ROWS: usize = 8192;
/// Waves fetched ahead of the one being decoded, and decoded ahead of the one
/// being buffered (each at most `wave_bytes`).
const PREFETCH_WAVES: usize = 1;
/// Files in one wave at most: small files make many requests, and smaller waves
/// let reading run ahead in smaller steps.
const WAVE_FILES: usize = 4096;
/// Digest files read at once while storing them.
const DIGEST_WAVE: usize = 1024;
/// Timestamp columns stored delta-encoded.
const DELTA_COLUMNS: [&str; 1] = ["eventtime"];
/// Columns of unique IDs, stored without a dictionary.
const UNIQUE_COLUMNS: [&str; 3] = ["eventid", "requestid", "sharedeventid"];
/// Columns of JSON text (Athena's strings), compressed at [`JSON_TEXT_ZSTD_LEVEL`]
/// at least.
const JSON_TEXT_COLUMNS: [&str; 4] = [
    "requestparameters",
    "responseelements",
    "additionaleventdata",
    "serviceeventdetails",
];
/// zstd level of the JSON-text columns, unless `zstd_level` is higher.
const JSON_TEXT_ZSTD_LEVEL: i32 = 6;
/// Columns with bloom filters: the usual needle lookups of an investigation.
pub const BLOOM_FILTER_COLUMNS: [&str; 4] = [
    "eventid",
    "useridentity.accesskeyid",
    "useridentity.arn",
    "sourceipaddress",
];

/// The time level below `account=/region=/` in the partition layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum Partitioning {
    /// `year=YYYY`
    Year,
    /// `year=YYYY/month=MM`
    #[default]
    Month,
    /// `year=YYYY/month=MM/day=DD`
    Day,
}

/// How to write an archive.
#[derive(Debug, Clone)]
pub struct WriteOptions {
    /// Time level of partitions (by delivery time).
    pub partitioning: Partitioning,
    /// zstd level, 1 to 22.
    pub zstd_level: i32,
    /// Rows per row group.
    pub row_group_rows: usize,
    /// Uncompressed record bytes gathered into one part before it is written.
    pub part_bytes: usize,
    /// Stored bytes read and decoded in one parallel wave.
    pub wave_bytes: u64,
    /// Limits for decoding.
    pub decode: DecodeOptions,
    /// Only this shard's partitions (for array jobs); all when `None`.
    pub shard: Option<Shard>,
}

/// One of `count` disjoint shares of the work, by partition, so that `count`
/// processes (a Kubernetes Indexed Job, an AWS Batch array job, a Slurm array) can
/// archive into one archive side by side without writing the same partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    index: u32,
    count: u32,
}

impl Shard {
    /// Shard `index` of `count`, counting from 0 (as `JOB_COMPLETION_INDEX` and
    /// `AWS_BATCH_JOB_ARRAY_INDEX` do).
    pub fn try_new(index: u32, count: u32) -> Result<Shard, ArchiveError> {
        if count == 0 || index >= count {
            return Err(ArchiveError::Options(format!(
                "shard {index}/{count}: the index must be from 0 to the count minus 1"
            )));
        }
        Ok(Shard { index, count })
    }

    /// Whether `partition` belongs to this shard. The hash (FNV-1a of the
    /// partition's directory) is stable across machines and releases.
    pub fn owns(&self, partition: &PartitionKey) -> bool {
        let hash = partition
            .dir()
            .bytes()
            .fold(0xcbf2_9ce4_8422_2325u64, |hash, byte| {
                (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
            });
        hash % u64::from(self.count) == u64::from(self.index)
    }
}

impl Default for WriteOptions {
    fn default() -> Self {
        WriteOptions {
            partitioning: Partitioning::default(),
            zstd_level: DEFAULT_ZSTD_LEVEL,
            row_group_rows: DEFAULT_ROW_GROUP_ROWS,
            part_bytes: DEFAULT_PART_BYTES,
            wave_bytes: DEFAULT_WAVE_BYTES,
            decode: DecodeOptions::default(),
            shard: None,
        }
    }
}

impl WriteOptions {
    /// Options with the given partitioning and zstd level, checked.
    pub fn try_new(partitioning: Partitioning, zstd_level: i32) -> Result<Self, ArchiveError> {
        ZstdLevel::try_new(zstd_level).map_err(|_| {
            ArchiveError::Options(format!("zstd level {zstd_level} is outside 1..=22"))
        })?;
        Ok(WriteOptions {
            partitioning,
            zstd_level,
            ..WriteOptions::default()
        })
    }

    fn writer_properties(&self) -> Result<WriterProperties, ArchiveError> {
        let level = ZstdLevel::try_new(self.zstd_level)
            .map_err(|e| ArchiveError::Options(e.to_string()))?;
        let mut builder = WriterProperties::builder()
            .set_compression(Compression::ZSTD(level))
            .set_statistics_enabled(EnabledStatistics::Page)
            .set_max_row_group_row_count(Some(self.row_group_rows.max(1)))
            .set_data_page_row_count_limit(DATA_PAGE_ROWS)
            .set_created_by(format!("trailpack {}", env!("CARGO_PKG_VERSION")))
            .set_key_value_metadata(Some(vec![KeyValue::new(
                "trailpack.schema.version".to_string(),
                SCHEMA_VERSION.to_string(),
            )]));
        // Rows are sorted by event time, so its deltas are small: delta encoding
        // stores them in a few bits where dictionary or plain encoding takes 4-8
        // bytes a row.
        for column in DELTA_COLUMNS {
            let path = ColumnPath::from(column.split('.').map(String::from).collect::<Vec<_>>());
            builder = builder
                .set_column_dictionary_enabled(path.clone(), false)
                .set_column_encoding(path, ParquetEncoding::DELTA_BINARY_PACKED);
        }
        // Unique IDs never repeat: building a dictionary for them is wasted work.
        for column in UNIQUE_COLUMNS {
            builder =
                builder.set_column_dictionary_enabled(ColumnPath::from(column.to_string()), false);
        }
        // The JSON-text columns hold most of the bytes and compress well at a
        // higher level for little time (docs/BENCHMARKS.md).
        let text_level = ZstdLevel::try_new(self.zstd_level.max(JSON_TEXT_ZSTD_LEVEL))
            .map_err(|e| ArchiveError::Options(e.to_string()))?;
        for column in JSON_TEXT_COLUMNS {
            builder = builder.set_column_compression(
                ColumnPath::from(column.to_string()),
                Compression::ZSTD(text_level),
            );
        }
        for column in BLOOM_FILTER_COLUMNS {
            let path = ColumnPath::from(column.split('.').map(String::from).collect::<Vec<_>>());
            builder = builder
                .set_column_bloom_filter_enabled(path.clone(), true)
                .set_column_bloom_filter_max_ndv(path, self.row_group_rows as u64);
        }
        Ok(builder.build())
    }
}

/// A partition: account, region and the time bucket of the delivery time.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PartitionKey {
    /// 12-digit account.
    pub account: String,
    /// Region.
    pub region: String,
    /// Year, month (0 for year partitioning) and day (0 unless day partitioning).
    pub period: (u16, u8, u8),
}

impl PartitionKey {
    /// The partition of a file delivered at `delivery`.
    pub fn new(account: &str, region: &str, delivery: UtcTime, partitioning: Partitioning) -> Self {
        let period = match partitioning {
            Partitioning::Year => (delivery.year, 0, 0),
            Partitioning::Month => (delivery.year, delivery.month, 0),
            Partitioning::Day => (delivery.year, delivery.month, delivery.day),
        };
        PartitionKey {
            account: account.to_string(),
            region: region.to_string(),
            period,
        }
    }

    /// The partition of a directory written by [`PartitionKey::dir`].
    pub fn from_dir(dir: &str) -> Option<PartitionKey> {
        let mut levels = dir.split('/');
        let mut level = |name: &str| {
            levels
                .next()
                .and_then(|l| l.strip_prefix(name))
                .and_then(|l| l.strip_prefix('='))
                .map(str::to_string)
        };
        let account = level("account")?;
        let region = level("region")?;
        let year = level("year")?.parse().ok()?;
        let month = level("month").map_or(Some(0), |m| m.parse().ok())?;
        let day = level("day").map_or(Some(0), |d| d.parse().ok())?;
        let key = PartitionKey {
            account,
            region,
            period: (year, month, day),
        };
        (key.dir() == dir).then_some(key)
    }

    /// The partition's directory relative to the archive root (Hive style).
    pub fn dir(&self) -> String {
        let (year, month, day) = self.period;
        let mut dir = format!(
            "account={}/region={}/year={year:04}",
            self.account, self.region
        );
        if month > 0 {
            dir.push_str(&format!("/month={month:02}"));
        }
        if day > 0 {
            dir.push_str(&format!("/day={day:02}"));
        }
        dir
    }
}

/// A file that could not be archived, and why.
#[derive(Debug, Clone, Serialize)]
pub struct QuarantinedFile {
    /// Source key.
    pub key: String,
    /// One-line reason.
    pub reason: String,
}

/// What one `archive` run did; written as JSON by `--report`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RunReport {
    /// CloudTrail files found in the sources (after filters).
    pub files_listed: u64,
    /// Other files found in the sources and not taken (filled in by the caller).
    pub files_skipped: u64,
    /// Digest files found.
    pub digest_files: u64,
    /// Digest files stored in this run (exact bytes, with signatures when known).
    pub digests_archived: u64,
    /// Files left to other shards (`--shard`).
    pub files_in_other_shards: u64,
    /// Files already in the archive from an earlier run.
    pub files_already_archived: u64,
    /// Files archived in this run.
    pub files_archived: u64,
    /// Files quarantined in this run.
    pub files_quarantined: u64,
    /// Files that could not be read; not recorded, so the next run tries again.
    pub files_unreadable: u64,
    /// Files whose stored size is over the file size limit: not read (that would
    /// take their size in memory), not recorded, left in place.
    pub files_too_large: u64,
    /// Records read from archived files.
    pub records_in: u64,
    /// Rows written to parts.
    pub records_out: u64,
    /// Rows stored whole in `_raw` (did not rebuild from columns).
    pub fallback_records: u64,
    /// Files with at least one such row.
    pub fallback_files: u64,
    /// Stored (compressed) bytes of the files read.
    pub bytes_in: u64,
    /// Uncompressed bytes of the files archived.
    pub raw_bytes_in: u64,
    /// Bytes of parts written.
    pub bytes_out: u64,
    /// Parts written.
    pub parts_written: u64,
    /// Commits written.
    pub commits: u64,
    /// Records whose (eventID, recipientAccountId) an earlier record of this run
    /// had: CloudTrail's redelivery, or overlapping trails (organisation and
    /// account). All are archived; `query --dedup` hides them.
    pub duplicate_records: u64,
    /// The first few duplicated events.
    pub duplicate_examples: Vec<DuplicateEvent>,
    /// Wall time in seconds.
    pub seconds: f64,
    /// Where the wall time went.
    pub stages: StageSeconds,
    /// Quarantined files with their reasons.
    pub quarantined: Vec<QuarantinedFile>,
    /// Skipped paths with their reasons (filled in by the caller).
    pub skipped: Vec<QuarantinedFile>,
}

/// An event delivered more than once.
#[derive(Debug, Clone, Serialize)]
pub struct DuplicateEvent {
    /// `eventID`.
    pub event_id: String,
    /// `recipientAccountId` (empty when the record has none).
    pub recipient_account_id: String,
}

/// How many duplicated events a run report lists by name.
const DUPLICATE_EXAMPLES: usize = 20;

/// Wall time of each stage of a run, as seen by the thread that drives it. Reading
/// overlaps decoding, so `read` is only the time spent waiting for bytes.
#[derive(Debug, Clone, Default, Serialize)]
pub struct StageSeconds {
    /// Listing the sources (filled in by the caller).
    pub list: f64,
    /// Waiting for source files to be read (disk or S3) and decoded: what the
    /// reading and decoding threads, which run ahead, did not hide.
    pub read_wait: f64,
    /// Gunzip, record spans and validation, in parallel on their own thread,
    /// overlapped with the stages below (so the stages can add up to more than
    /// the wall time).
    pub decode: f64,
    /// Normalising records into columns and proving each row rebuilds, with the
    /// Parquet encoding of the previous rows overlapped.
    pub normalise: f64,
    /// Parquet encoding not overlapped with normalising: closing and fsync of parts.
    pub encode: f64,
    /// Writing commits (and quarantined files).
    pub commit: f64,
    /// Storing digest files.
    pub digests: f64,
    /// Verifying and deleting sources (`--delete-sources`; filled in by the caller).
    pub verify_delete: f64,
}

/// The identity of an event for duplicate detection, in 8 bytes: a 64-bit mix of
/// the eventID (a UUID, or the SHA-256 of other IDs) and the recipient account.
/// Eight bytes keep a run of millions of records in tens of MB; two different
/// events collide with probability about n²/2⁶⁵ (10⁻⁷ for 3 million records),
/// which would count one duplicate too many and hide nothing.
fn event_identity(event_id: &str, account: &str) -> u64 {
    let hashed = |text: &str| {
        sha256(text.as_bytes())[..16]
            .iter()
            .fold(0u128, |acc, b| (acc << 8) | u128::from(*b))
    };
    // A UUID (8-4-4-4-12 hex digits) is read as its 128 bits, without allocating:
    // this runs for every record.
    let uuid = (event_id.len() == 36)
        .then(|| {
            event_id
                .bytes()
                .enumerate()
                .try_fold(0u128, |acc, (at, b)| match (at, b) {
                    (8 | 13 | 18 | 23, b'-') => Some(acc),
                    (8 | 13 | 18 | 23, _) => None,
                    _ => Some((acc << 4) | u128::from((b as char).to_digit(16)?)),
                })
        })
        .flatten();
    let id = uuid.unwrap_or_else(|| hashed(event_id));
    let account = account
        .parse::<u64>()
        .unwrap_or_else(|_| hashed(account) as u64);
    (id as u64 ^ (id >> 64) as u64 ^ account.wrapping_mul(0x9e37_79b9_7f4a_7c15))
        .wrapping_mul(0xff51_afd7_ed55_8ccd)
}

/// Why a file did not decode.
enum Failure {
    /// It could not be read (vanished, permissions): reported, not recorded.
    Unreadable(std::io::Error),
    /// Its bytes are not a valid CloudTrail log file: quarantined with them.
    Invalid { reason: String, stored: Vec<u8> },
}

/// A decoded file waiting in the part buffer.
pub(crate) struct Pending {
    pub(crate) source: SourceFile,
    pub(crate) decoded: DecodedFile,
}

/// One wave's decoded files, in order, and the time decoding took.
struct DecodedWave {
    results: Vec<Result<DecodedFile, Failure>>,
    seconds: f64,
}

/// Decode a wave's fetched bytes in parallel.
fn decode_wave(
    wave: &[SourceFile],
    stored: Vec<std::io::Result<Fetched>>,
    limits: &DecodeOptions,
) -> DecodedWave {
    let started = Instant::now();
    let results = stored
        .into_par_iter()
        .zip(wave.par_iter())
        .map(|(stored, file)| {
            let stored = stored.map_err(Failure::Unreadable)?.bytes;
            let encoding = match file.name.compression {
                SourceCompression::Gzip => Encoding::Gzip,
                SourceCompression::None => Encoding::Plain,
            };
            decode_file(&stored, encoding, limits).map_err(|e| Failure::Invalid {
                reason: e.to_string(),
                stored,
            })
        })
        .collect();
    DecodedWave {
        results,
        seconds: started.elapsed().as_secs_f64(),
    }
}

/// Split `files` into waves of at most `wave_bytes` stored bytes (at least one
/// file) and [`WAVE_FILES`] files, the unit of parallel reading and decoding, as
/// index ranges: the reader and the writer cut the same waves.
fn waves(files: &[SourceFile], wave_bytes: u64) -> Vec<Range<usize>> {
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

/// Unique ids for this writer's commits and parts: time, process and a counter, so
/// that ids sort in commit order and concurrent writers never collide.
struct Ids {
    base: String,
    next: u32,
}

impl Ids {
    fn new() -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        Ids {
            base: format!("{nanos:020}-{:08x}", std::process::id()),
            next: 0,
        }
    }

    fn next(&mut self) -> String {
        self.next += 1;
        format!("{}-{:06}", self.base, self.next)
    }
}

/// Counts `Write`s and computes their CRC-32 on the way to the file.
struct CrcWriter<W> {
    inner: W,
    hasher: crc32fast::Hasher,
    bytes: u64,
}

impl<W: Write> Write for CrcWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Digest signatures and public keys to keep with the archive.
#[derive(Debug, Clone, Default)]
pub struct IntegrityInputs {
    /// Hex signatures by digest key (from `AWSLogs/` on), from S3 metadata or a
    /// signatures sidecar.
    pub signatures: BTreeMap<String, String>,
    /// Public keys to store.
    pub public_keys: Vec<StoredPublicKey>,
}

/// What an `archive` run will do: the new files by partition and the new digests.
#[derive(Debug, Default)]
pub struct Plan {
    /// New log and Insight files, by partition, in delivery order.
    pub partitions: BTreeMap<PartitionKey, Vec<SourceFile>>,
    /// New digest files.
    pub digests: Vec<SourceFile>,
    /// Files over the size limit, left unread.
    pub too_large: Vec<SourceFile>,
    /// The counts known before anything is read.
    pub report: RunReport,
}

impl Plan {
    /// Files to read.
    pub fn files(&self) -> usize {
        self.partitions.values().map(Vec::len).sum::<usize>() + self.digests.len()
    }

    /// Stored bytes to read.
    pub fn bytes(&self) -> u64 {
        self.partitions
            .values()
            .flatten()
            .chain(&self.digests)
            .map(|f| f.size)
            .sum()
    }
}

/// Whether `file` belongs to this run's shard.
pub(crate) fn in_shard(file: &SourceFile, options: &WriteOptions) -> Option<PartitionKey> {
    let name = &file.name;
    let partition = PartitionKey::new(
        &name.account,
        &name.region,
        name.delivery,
        options.partitioning,
    );
    options
        .shard
        .is_none_or(|shard| shard.owns(&partition))
        .then_some(partition)
}

/// Plan an archive run over `files` into the archive at `root` without writing:
/// files already in the manifest and other shards' files are left out.
pub fn plan(
    root: &ArchiveRoot,
    files: Vec<SourceFile>,
    options: &WriteOptions,
) -> Result<Plan, ArchiveError> {
    Ok(plan_from(&Manifest::load(root)?, files, options))
}

fn plan_from(manifest: &Manifest, files: Vec<SourceFile>, options: &WriteOptions) -> Plan {
    Planner::default().plan(manifest, files, options)
}

/// Plans batches of listed files one after another, taking each key once across
/// batches.
#[derive(Default)]
struct Planner {
    seen: HashSet<String>,
}

impl Planner {
    fn plan(
        &mut self,
        manifest: &Manifest,
        files: Vec<SourceFile>,
        options: &WriteOptions,
    ) -> Plan {
        let mut plan = Plan::default();
        let report = &mut plan.report;
        for file in files {
            if !self.seen.insert(file.key.clone()) {
                continue;
            }
            let Some(partition) = in_shard(&file, options) else {
                report.files_in_other_shards += 1;
                continue;
            };
            report.files_listed += 1;
            if file.size > options.decode.max_file_bytes as u64 {
                report.files_too_large += 1;
                plan.too_large.push(file);
            } else if file.name.kind == FileKind::Digest {
                report.digest_files += 1;
                if manifest.digest(&file.key).is_none() {
                    plan.digests.push(file);
                }
            } else if manifest.file(&file.key).is_some() {
                report.files_already_archived += 1;
            } else {
                plan.partitions.entry(partition).or_default().push(file);
            }
        }
        for files in plan.partitions.values_mut() {
            files.sort_by(|a, b| (a.name.delivery, &a.key).cmp(&(b.name.delivery, &b.key)));
        }
        plan
    }
}

impl RunReport {
    /// Add the counts a plan knows before anything is read.
    fn add_planned(&mut self, planned: &RunReport) {
        self.files_listed += planned.files_listed;
        self.files_in_other_shards += planned.files_in_other_shards;
        self.files_too_large += planned.files_too_large;
        self.digest_files += planned.digest_files;
        self.files_already_archived += planned.files_already_archived;
    }
}

/// Batches of source files as a listing finds them (see
/// [`trailpack_source::list_source_batches`]).
pub type FileBatches<'a> =
    Box<dyn Iterator<Item = Result<Vec<SourceFile>, trailpack_source::SourceError>> + Send + 'a>;

/// Archive `files` into the archive at `root`. Files already in the manifest are
/// skipped; digest files are kept whole with their signatures from `integrity`.
pub fn archive(
    root: &ArchiveRoot,
    files: Vec<SourceFile>,
    options: &WriteOptions,
    integrity: &IntegrityInputs,
    progress: &dyn Progress,
) -> Result<RunReport, ArchiveError> {
    archive_batches(
        root,
        Box::new(std::iter::once(Ok(files))),
        options,
        integrity,
        progress,
    )
}

/// Archive files as a listing finds them: each batch is planned as it arrives and
/// its partitions are read, decoded and written while later batches are listed.
/// A partition split over two batches gets a part from each. A listing error ends
/// the run with that error, after the parts of earlier batches are committed.
pub fn archive_batches(
    root: &ArchiveRoot,
    batches: FileBatches<'_>,
    options: &WriteOptions,
    integrity: &IntegrityInputs,
    progress: &dyn Progress,
) -> Result<RunReport, ArchiveError> {
    let started = Instant::now();
    // Nothing is created until there is something to write: a run whose listing
    // fails at once leaves no trace.
    let manifest = Manifest::load(root)?;
    let mut report = RunReport::default();
    let mut writer = Writer::try_new(root, &manifest, options, &mut report, progress)?;
    // The planner turns listed batches into partitions; one reader thread fetches
    // their waves in order, up to PREFETCH_WAVES ahead, so that reading (S3
    // latency above all) overlaps with decoding and writing, across partition
    // boundaries too; the writer takes the partitions in the same order.
    // Set when the writer fails: the planner then stops listing at once, even if the
    // batches it is taking hold nothing new to send.
    let writer_failed = AtomicBool::new(false);
    let (planned, written) = std::thread::scope(|scope| {
        let (to_read, partitions_to_read) = std::sync::mpsc::channel::<Arc<Partition>>();
        let (to_write, partitions_to_write) = std::sync::mpsc::channel::<Arc<Partition>>();
        let manifest = &manifest;
        let writer_failed = &writer_failed;
        let planner = scope.spawn(move || -> Result<_, ArchiveError> {
            let mut planner = Planner::default();
            let mut planned = RunReport::default();
            let mut digests = Vec::new();
            let (mut files, mut bytes) = (0, 0);
            for batch in batches {
                if writer_failed.load(Ordering::Relaxed) {
                    break;
                }
                let plan = planner.plan(manifest, batch?, options);
                files += plan.files() as u64;
                bytes += plan.bytes();
                progress.start(files, bytes);
                for file in &plan.too_large {
                    progress.warn(&format!(
                        "{}: not read: {} bytes stored, over the {} byte file limit (left in place)",
                        file.location, file.size, options.decode.max_file_bytes
                    ));
                }
                planned.add_planned(&plan.report);
                digests.extend(plan.digests);
                for (key, files) in plan.partitions {
                    let partition = Arc::new(Partition { key, files });
                    if to_read.send(Arc::clone(&partition)).is_err()
                        || to_write.send(partition).is_err()
                    {
                        // The writer stopped on an error.
                        return Ok((planned, digests));
                    }
                }
            }
            Ok((planned, digests))
        });
        let (fetched_sender, fetched) = std::sync::mpsc::sync_channel(PREFETCH_WAVES);
        let (decoded_sender, decoded) = std::sync::mpsc::sync_channel(PREFETCH_WAVES);
        scope.spawn(move || {
            for partition in partitions_to_read {
                for wave in waves(&partition.files, options.wave_bytes) {
                    let stored = fetch_all(&partition.files[wave.clone()]);
                    if fetched_sender
                        .send((Arc::clone(&partition), wave, stored))
                        .is_err()
                    {
                        return;
                    }
                }
            }
        });
        scope.spawn(move || {
            for (partition, wave, stored) in fetched {
                if decoded_sender
                    .send(decode_wave(&partition.files[wave], stored, &options.decode))
                    .is_err()
                {
                    break;
                }
            }
        });
        let written = partitions_to_write
            .iter()
            .try_for_each(|partition| writer.partition(&partition.key, &partition.files, &decoded));
        // On an error the planner stops at its next batch, the reader and the
        // decoder at their next send.
        writer_failed.store(written.is_err(), Ordering::Relaxed);
        drop(partitions_to_write);
        drop(decoded);
        let planned = planner
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        (planned, written)
    });
    written?;
    let (planned, digests) = planned?;
    let started_digests = Instant::now();
    writer.store_digests(&digests, integrity, &manifest)?;
    drop(writer);
    report.add_planned(&planned);
    report.stages.digests = started_digests.elapsed().as_secs_f64();
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

/// One partition's new files, in delivery order.
struct Partition {
    key: PartitionKey,
    files: Vec<SourceFile>,
}

pub(crate) struct Writer<'a> {
    /// Identities of the events written in this run, for duplicate detection.
    events: HashSet<u64>,
    /// Parts committed when the run started: never orphans.
    committed_parts: HashSet<String>,
    root: &'a ArchiveRoot,
    options: &'a WriteOptions,
    properties: Arc<WriterProperties>,
    ids: Ids,
    report: &'a mut RunReport,
    progress: &'a dyn Progress,
}

impl<'a> Writer<'a> {
    pub(crate) fn try_new(
        root: &'a ArchiveRoot,
        manifest: &Manifest,
        options: &'a WriteOptions,
        report: &'a mut RunReport,
        progress: &'a dyn Progress,
    ) -> Result<Self, ArchiveError> {
        Ok(Writer {
            events: HashSet::new(),
            committed_parts: manifest.parts.iter().map(|p| p.path.clone()).collect(),
            root,
            options,
            properties: Arc::new(options.writer_properties()?),
            ids: Ids::new(),
            report,
            progress,
        })
    }

    /// Archive one partition's new `files`, which arrive decoded wave by wave (see
    /// [`waves`]) from `decoded_waves`.
    fn partition(
        &mut self,
        partition: &PartitionKey,
        files: &[SourceFile],
        decoded_waves: &Receiver<DecodedWave>,
    ) -> Result<(), ArchiveError> {
        self.remove_orphans(partition)?;
        let mut buffer: Vec<Pending> = Vec::new();
        let mut buffered_bytes = 0;
        let mut entries: Vec<FileEntry> = Vec::new();
        for wave in waves(files, self.options.wave_bytes) {
            let wave = &files[wave];
            let started = Instant::now();
            let DecodedWave { results, seconds } = decoded_waves.recv().map_err(|_| {
                ArchiveError::Options("the source reader stopped unexpectedly".into())
            })?;
            self.report.stages.read_wait += started.elapsed().as_secs_f64();
            self.report.stages.decode += seconds;
            for (file, result) in wave.iter().zip(results) {
                self.report.bytes_in += file.size;
                match result {
                    Ok(decoded) => {
                        let records = decoded.records.len() as u64;
                        self.progress.advance(1, file.size, records);
                        if decoded.records.is_empty() {
                            entries.push(archived_entry(file, &decoded, None, records)?);
                            self.count_archived(&decoded);
                        } else {
                            buffered_bytes += decoded.bytes.len();
                            buffer.push(Pending {
                                source: file.clone(),
                                decoded,
                            });
                        }
                    }
                    Err(Failure::Invalid { reason, stored }) => {
                        self.progress.advance(1, file.size, 0);
                        entries.push(self.quarantine(file, reason, &stored)?);
                    }
                    Err(Failure::Unreadable(error)) => {
                        // Not recorded in the manifest: the next run tries again.
                        self.progress.advance(1, file.size, 0);
                        self.progress.warn(&format!(
                            "{}: cannot read (left for the next run): {error}",
                            file.location
                        ));
                        self.report.files_unreadable += 1;
                    }
                }
                if buffered_bytes >= self.options.part_bytes {
                    let files = std::mem::take(&mut buffer);
                    let entries = std::mem::take(&mut entries);
                    self.write_part(partition, files, entries)?;
                    buffered_bytes = 0;
                }
            }
        }
        if !buffer.is_empty() {
            self.write_part(partition, buffer, entries)?;
        } else if !entries.is_empty() {
            self.commit(Vec::new(), entries)?;
        }
        Ok(())
    }

    /// Count the rows of `batch` whose event this run has written before.
    fn count_duplicates(&mut self, batch: &RecordBatch) {
        let column = |name| {
            batch
                .column_by_name(name)
                .and_then(|c| c.as_string_opt::<i32>())
        };
        let (Some(ids), Some(accounts)) = (column("eventid"), column("recipientaccountid")) else {
            return;
        };
        for row in 0..batch.num_rows() {
            if ids.is_null(row) {
                continue;
            }
            let account = if accounts.is_null(row) {
                ""
            } else {
                accounts.value(row)
            };
            if !self.events.insert(event_identity(ids.value(row), account)) {
                self.report.duplicate_records += 1;
                if self.report.duplicate_examples.len() < DUPLICATE_EXAMPLES {
                    self.report.duplicate_examples.push(DuplicateEvent {
                        event_id: ids.value(row).to_string(),
                        recipient_account_id: account.to_string(),
                    });
                }
            }
        }
    }

    fn count_archived(&mut self, decoded: &DecodedFile) {
        self.report.files_archived += 1;
        self.report.records_in += decoded.records.len() as u64;
        self.report.raw_bytes_in += decoded.bytes.len() as u64;
    }

    /// Delete part files in `partition` that no commit names and that are older than
    /// [`ORPHAN_GRACE`]: leftovers of a run that crashed between writing a part and
    /// committing it. The grace period and a fresh read of the commits keep this from
    /// touching a part that a concurrent writer is still writing or committing.
    pub(crate) fn remove_orphans(&self, partition: &PartitionKey) -> Result<(), ArchiveError> {
        let dir = partition.dir();
        let uncommitted: Vec<Listed> = self
            .root
            .list(&dir)?
            .into_iter()
            .filter(|listed| {
                let name = listed.path.strip_prefix(&dir).unwrap_or(&listed.path);
                let name = name.trim_start_matches('/');
                let ours = name.starts_with("part-") && name.ends_with(".parquet");
                (ours || name.starts_with(".tmp-"))
                    && !name.contains('/')
                    && !self.committed_parts.contains(&listed.path)
            })
            .collect();
        if uncommitted.is_empty() {
            return Ok(());
        }
        let now = self.root.now()?;
        let stale: Vec<String> = uncommitted
            .into_iter()
            .filter(|listed| {
                listed
                    .modified
                    .and_then(|modified| now.duration_since(modified).ok())
                    .is_some_and(|age| age >= ORPHAN_GRACE)
            })
            .map(|listed| listed.path)
            .collect();
        if stale.is_empty() {
            return Ok(());
        }
        // Read the commits again: a concurrent writer may have committed them since.
        let known: HashSet<String> = load_parts(self.root)?.into_iter().map(|p| p.path).collect();
        for relative in stale {
            if !known.contains(&relative) {
                self.root.delete(&relative)?;
            }
        }
        Ok(())
    }

    fn quarantine(
        &mut self,
        file: &SourceFile,
        reason: String,
        stored: &[u8],
    ) -> Result<FileEntry, ArchiveError> {
        self.progress
            .warn(&format!("{}: quarantined: {reason}", file.location));
        self.report.files_quarantined += 1;
        self.report.quarantined.push(QuarantinedFile {
            key: file.key.clone(),
            reason: reason.clone(),
        });
        let quarantine_path = format!("{QUARANTINE_DIR}/{}", file.key);
        self.root.write(&quarantine_path, stored)?;
        Ok(FileEntry {
            key: file.key.clone(),
            status: FileStatus::Quarantined,
            account: file.name.account.clone(),
            region: file.name.region.clone(),
            delivery: file.name.delivery.to_string(),
            size: file.size,
            raw_size: None,
            sha256: None,
            records: 0,
            fallback_records: 0,
            part: None,
            frame: None,
            reason: Some(reason),
            quarantine_path: Some(quarantine_path),
        })
    }

    fn commit(&mut self, parts: Vec<PartEntry>, files: Vec<FileEntry>) -> Result<(), ArchiveError> {
        let commit = Commit {
            parts,
            files,
            ..self.new_commit()
        };
        self.write_commit(commit)
    }

    /// An empty commit with a fresh id.
    pub(crate) fn new_commit(&mut self) -> Commit {
        Commit {
            format: COMMIT_FORMAT.into(),
            version: COMMIT_VERSION,
            id: self.ids.next(),
            writer: format!("trailpack {}", env!("CARGO_PKG_VERSION")),
            parts: Vec::new(),
            files: Vec::new(),
            digests: Vec::new(),
            public_keys: Vec::new(),
            retired_parts: Vec::new(),
        }
    }

    pub(crate) fn write_commit(&mut self, commit: Commit) -> Result<(), ArchiveError> {
        let started = Instant::now();
        write_commit(self.root, &commit)?;
        self.report.stages.commit += started.elapsed().as_secs_f64();
        self.report.commits += 1;
        Ok(())
    }

    /// Keep every new digest file's exact bytes, with its signature when one is
    /// known, and the public keys not stored yet; commit them together.
    fn store_digests(
        &mut self,
        digests: &[SourceFile],
        integrity: &IntegrityInputs,
        manifest: &Manifest,
    ) -> Result<(), ArchiveError> {
        let mut entries = Vec::new();
        // Waves bound memory: a first run over an organisation trail has many.
        for wave in digests.chunks(DIGEST_WAVE) {
            let read = fetch_all(wave);
            self.store_digest_wave(wave, read, integrity, &mut entries)?;
        }
        let stored: HashSet<&str> = manifest
            .public_keys
            .iter()
            .map(|k| k.fingerprint.as_str())
            .collect();
        let keys: Vec<StoredPublicKey> = integrity
            .public_keys
            .iter()
            .filter(|k| !stored.contains(k.fingerprint.as_str()))
            .cloned()
            .collect();
        if entries.is_empty() && keys.is_empty() {
            return Ok(());
        }
        self.report.digests_archived += entries.len() as u64;
        let commit = Commit {
            digests: entries,
            public_keys: keys,
            ..self.new_commit()
        };
        self.write_commit(commit)
    }

    fn store_digest_wave(
        &mut self,
        wave: &[SourceFile],
        read: Vec<std::io::Result<Fetched>>,
        integrity: &IntegrityInputs,
        entries: &mut Vec<DigestEntry>,
    ) -> Result<(), ArchiveError> {
        for (file, stored) in wave.iter().zip(read) {
            self.progress.advance(1, file.size, 0);
            let Fetched {
                bytes: stored,
                metadata,
            } = match stored {
                Ok(fetched) => fetched,
                Err(error) => {
                    self.progress.warn(&format!(
                        "{}: cannot read (left for the next run): {error}",
                        file.location
                    ));
                    self.report.files_unreadable += 1;
                    continue;
                }
            };
            let uncompressed = match file.name.compression {
                SourceCompression::Gzip => gunzip(&stored, self.options.decode.max_file_bytes).ok(),
                SourceCompression::None => Some(stored.clone()),
            };
            let stored_path = format!("{DIGESTS_DIR}/{}", file.key);
            self.root.write(&stored_path, &stored)?;
            entries.push(DigestEntry {
                key: file.key.clone(),
                account: file.name.account.clone(),
                region: file.name.region.clone(),
                delivery: file.name.delivery.to_string(),
                size: file.size,
                sha256: uncompressed.map(|bytes| hex(&sha256(&bytes))),
                signature: integrity
                    .signatures
                    .get(&file.key)
                    .cloned()
                    .or(metadata.signature),
                signature_algorithm: metadata.signature_algorithm,
                backfill_generation_timestamp: metadata.backfill_generation_timestamp,
                stored_path,
            });
        }
        Ok(())
    }

    /// Write a part of `files` durably, then commit it with them and `entries`.
    fn write_part(
        &mut self,
        partition: &PartitionKey,
        files: Vec<Pending>,
        mut entries: Vec<FileEntry>,
    ) -> Result<(), ArchiveError> {
        let (part, archived) = self.build_part(partition, &files)?;
        entries.extend(archived);
        self.commit(vec![part], entries)
    }

    /// Sort the records of `files` by event time, build and prove row groups, and
    /// write the part durably; return it and its files' entries, uncommitted.
    pub(crate) fn build_part(
        &mut self,
        partition: &PartitionKey,
        files: &[Pending],
    ) -> Result<(PartEntry, Vec<FileEntry>), ArchiveError> {
        let mut entries = Vec::with_capacity(files.len());
        let mut order: Vec<SortedRow> = Vec::new();
        for (file_index, pending) in files.iter().enumerate() {
            for (record_index, record) in pending.decoded.records.iter().enumerate() {
                order.push((record.event_time, file_index as u32, record_index as u32));
            }
        }
        order.sort_unstable();
        let id = self.ids.next();
        let relative = format!("{}/part-{id}.parquet", partition.dir());
        let final_path = self.root.locate(&relative);
        let temp = self.root.temp_file(&partition.dir())?;
        let sink = CrcWriter {
            inner: std::io::BufWriter::with_capacity(
                1 << 20,
                temp.reopen()
                    .map_err(|e| ArchiveError::io(temp.path(), e))?,
            ),
            hasher: crc32fast::Hasher::new(),
            bytes: 0,
        };
        let parquet_error = |e| ArchiveError::Parquet {
            path: final_path.clone(),
            error: e,
        };
        let mut writer = ArrowWriter::try_new(sink, schema(), Some((*self.properties).clone()))
            .map_err(parquet_error)?;
        let mut fallback_rows_per_file = vec![0u64; files.len()];
        let mut event_versions: BTreeMap<String, u64> = BTreeMap::new();
        let mut unknown_paths = BTreeSet::new();
        // Rows are normalised and proven in sub-batches, in parallel, while the
        // previous wave's sub-batches are encoded: a part smaller than one row
        // group still uses every core, and encoding overlaps with normalising.
        // The writer cuts row groups at `row_group_rows`.
        let row_group_rows = self.options.row_group_rows.max(1);
        let sub_rows = SUB_BATCH_ROWS.min(row_group_rows);
        let mut built: Vec<(&[SortedRow], RowGroup)> = Vec::new();
        let mut waves = order.chunks(row_group_rows).peekable();
        while !built.is_empty() || waves.peek().is_some() {
            let wave = waves.next().unwrap_or_default();
            let to_write = std::mem::take(&mut built);
            let started = Instant::now();
            let (written, next) = rayon::join(
                || -> Result<(), ArchiveError> {
                    for (batch_rows, row_group) in to_write {
                        let RowGroup {
                            batch,
                            fallbacks,
                            unknown,
                        } = row_group;
                        for row in fallbacks {
                            fallback_rows_per_file[batch_rows[row].1 as usize] += 1;
                        }
                        count_versions(&batch, &mut event_versions);
                        self.count_duplicates(&batch);
                        unknown_paths.extend(unknown);
                        writer.write(&batch).map_err(parquet_error)?;
                    }
                    Ok(())
                },
                || {
                    wave.par_chunks(sub_rows)
                        .map(|rows| build_row_group(files, rows).map(|group| (rows, group)))
                        .collect::<Result<Vec<_>, ArchiveError>>()
                },
            );
            self.report.stages.normalise += started.elapsed().as_secs_f64();
            written?;
            built = next?;
        }
        let started = Instant::now();
        // The last row group is still open.
        writer.flush().map_err(parquet_error)?;
        let row_groups = writer.flushed_row_groups().len() as u64;
        let sink = writer.into_inner().map_err(parquet_error)?;
        let crc32 = sink.hasher.finalize();
        let bytes = sink.bytes;
        sink.inner
            .into_inner()
            .map_err(|e| ArchiveError::io(temp.path(), e.into_error()))?;
        self.root.persist(temp, &relative)?;
        self.report.stages.encode += started.elapsed().as_secs_f64();

        let fallback_rows: u64 = fallback_rows_per_file.iter().sum();
        for (pending, fallbacks) in files.iter().zip(&fallback_rows_per_file) {
            let records = pending.decoded.records.len() as u64;
            let mut entry =
                archived_entry(&pending.source, &pending.decoded, Some(&relative), records)?;
            entry.fallback_records = *fallbacks;
            entries.push(entry);
            self.count_archived(&pending.decoded);
            if *fallbacks > 0 {
                self.report.fallback_files += 1;
                self.progress.warn(&format!(
                    "{}: {fallbacks} records stored whole (did not rebuild from columns)",
                    pending.source.location
                ));
            }
        }
        let part = PartEntry {
            path: relative,
            bytes,
            crc32,
            rows: order.len() as u64,
            row_groups,
            account: partition.account.clone(),
            region: partition.region.clone(),
            min_event_time_us: order.iter().find_map(|r| r.0),
            max_event_time_us: order.last().and_then(|r| r.0),
            event_versions,
            unknown_paths: unknown_paths.into_iter().collect(),
            fallback_rows,
        };
        self.report.records_out += part.rows;
        self.report.fallback_records += fallback_rows;
        self.report.bytes_out += bytes;
        self.report.parts_written += 1;
        Ok((part, entries))
    }
}

/// A record in part order: event time, file index and record index.
type SortedRow = (Option<i64>, u32, u32);

/// A proven row group: the batch, its rows stored whole, and unknown member paths.
struct RowGroup {
    batch: RecordBatch,
    fallbacks: Vec<usize>,
    unknown: BTreeSet<String>,
}

/// Normalise one row group's records (in sorted order) and prove the batch.
fn build_row_group(files: &[Pending], rows: &[SortedRow]) -> Result<RowGroup, ArchiveError> {
    let mut builder = BatchBuilder::new();
    let mut originals = Vec::with_capacity(rows.len());
    for &(_, file, record) in rows {
        let pending = &files[file as usize];
        let bytes = pending.decoded.record(record as usize);
        builder
            .append(bytes, &pending.source.key, record)
            .map_err(|source| ArchiveError::Schema {
                context: format!("{} record {record}", pending.source.key),
                error: source,
            })?;
        originals.push(bytes);
    }
    let unknown = builder.unknown_paths().clone();
    let (batch, fallbacks) =
        builder
            .finish_verified(&originals)
            .map_err(|source| ArchiveError::Schema {
                context: "building a row group".into(),
                error: source,
            })?;
    Ok(RowGroup {
        batch,
        fallbacks,
        unknown,
    })
}

fn count_versions(batch: &RecordBatch, counts: &mut BTreeMap<String, u64>) {
    let Some(column) = batch.column_by_name("eventversion") else {
        return;
    };
    let Some(versions) = column.as_string_opt::<i32>() else {
        return;
    };
    for row in 0..versions.len() {
        let version = if versions.is_valid(row) {
            versions.value(row)
        } else {
            "(none)"
        };
        match counts.get_mut(version) {
            Some(count) => *count += 1,
            None => {
                counts.insert(version.to_string(), 1);
            }
        }
    }
}

/// The manifest entry of an archived file, after checking that its stored frame and
/// its records reassemble into exactly the original bytes.
fn archived_entry(
    file: &SourceFile,
    decoded: &DecodedFile,
    part: Option<&str>,
    records: u64,
) -> Result<FileEntry, ArchiveError> {
    let frame = FrameEntry::from(decoded.frame());
    let mut rebuilt = Vec::with_capacity(decoded.bytes.len());
    Frame::from(&frame).assemble(
        (0..decoded.records.len()).map(|i| decoded.record(i)),
        &mut rebuilt,
    );
    if rebuilt != decoded.bytes {
        return Err(ArchiveError::Integrity {
            key: file.key.clone(),
            reason: "the file does not reassemble from its frame and records".into(),
        });
    }
    Ok(FileEntry {
        key: file.key.clone(),
        status: FileStatus::Archived,
        account: file.name.account.clone(),
        region: file.name.region.clone(),
        delivery: file.name.delivery.to_string(),
        size: file.size,
        raw_size: Some(decoded.bytes.len() as u64),
        sha256: Some(hex(&decoded.sha256)),
        records,
        fallback_records: 0,
        part: part.map(str::to_string),
        frame: Some(frame),
        reason: None,
        quarantine_path: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_identities_read_uuids_and_hash_other_ids() {
        let uuid = "0a1b2c3d-4e5f-6789-abcd-ef0123456789";
        assert_eq!(
            event_identity(uuid, "111122223333"),
            event_identity(uuid, "111122223333")
        );
        assert_ne!(
            event_identity(uuid, "111122223333"),
            event_identity(uuid, "444455556666")
        );
        let other = "0a1b2c3d-4e5f-6789-abcd-ef012345678a";
        assert_ne!(
            event_identity(uuid, "111122223333"),
            event_identity(other, "111122223333")
        );
        // Same digits, dashes elsewhere: not a UUID, so hashed, so different.
        let moved = "0a1b2c3d4-e5f-6789-abcd-ef0123456789";
        assert_ne!(event_identity(uuid, ""), event_identity(moved, ""));
        assert_eq!(
            event_identity("not-a-uuid", ""),
            event_identity("not-a-uuid", "")
        );
    }

    #[test]
    fn partition_directories_parse_back() {
        let time: UtcTime = "2021-03-04T05:06:07Z".parse().unwrap();
        for partitioning in [Partitioning::Year, Partitioning::Month, Partitioning::Day] {
            let key = PartitionKey::new("111122223333", "eu-west-1", time, partitioning);
            assert_eq!(PartitionKey::from_dir(&key.dir()), Some(key));
        }
        for bad in [
            "",
            "account=1/region=r",
            "account=1/region=r/year=x",
            "region=r/account=1/year=2021",
            "account=1/region=r/year=2021/month=3",
        ] {
            assert_eq!(PartitionKey::from_dir(bad), None, "{bad}");
        }
    }

    #[test]
    fn shards_split_partitions_disjointly() {
        let time: UtcTime = "2021-03-04T05:06:07Z".parse().unwrap();
        let shards: Vec<Shard> = (0..4).map(|k| Shard::try_new(k, 4).unwrap()).collect();
        for region in [
            "us-east-1",
            "eu-west-1",
            "ap-southeast-2",
            "sa-east-1",
            "us-west-2",
        ] {
            let key = PartitionKey::new("111122223333", region, time, Partitioning::Month);
            assert_eq!(shards.iter().filter(|s| s.owns(&key)).count(), 1);
        }
        assert!(Shard::try_new(4, 4).is_err());
        assert!(Shard::try_new(0, 0).is_err());
    }
}
