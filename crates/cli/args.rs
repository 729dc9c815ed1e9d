//! Command-line arguments.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use trailpack_archive::{
    DEFAULT_PART_BYTES, DEFAULT_ROW_GROUP_ROWS, DEFAULT_ZSTD_LEVEL, Partitioning,
};
use trailpack_source::UtcTime;

/// Compact AWS CloudTrail log files into indexed, lossless Parquet archives.
///
/// Exit status: 0 when all is clean; 1 when some input was quarantined or could not
/// be read, or `verify`/`validate` found something invalid; 2 on usage or fatal
/// errors.
#[derive(Debug, Parser)]
#[command(name = "trailpack", version, about, long_about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Archive CloudTrail log files into a Parquet archive (incremental: files
    /// already archived are skipped).
    Archive(ArchiveArgs),
    /// Rebuild archived source files, byte-identical, under their original keys.
    Restore(RestoreArgs),
    /// Summarise an archive: accounts, regions, time span, sizes, versions, problems.
    Stats(StatsArgs),
    /// Print the archive's column schema, or table definitions for other engines.
    Schema(SchemaArgs),
    /// Validate CloudTrail digest chains and the log files they list, offline, over a
    /// raw trail tree (like `aws cloudtrail validate-logs`, and stricter).
    Validate(ValidateArgs),
    /// Check an archive: part checksums, rebuilt files (--deep), digest chains
    /// (--digests).
    Verify(VerifyArgs),
    /// Merge the small parts of each partition (left by incremental runs) into
    /// full-size parts, atomically: one commit adds the new part and retires the
    /// old ones.
    Compact(CompactArgs),
    /// Find events in an archive and print the original records (or a table),
    /// in event-time order.
    Query(QueryArgs),
    /// Run Sigma rules (the built-in CIS pack, or your own) over an archive in one
    /// pass, and report what each found.
    Detect(DetectArgs),
    /// Convert an archive written by an earlier trailpack (JSON commits) into a
    /// Delta Lake table, in place; safe to interrupt and run again.
    Upgrade(UpgradeArgs),
}

/// Engines `schema --ddl` writes for.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum DdlEngine {
    /// Amazon Athena: a Delta Lake table (table_type DELTA).
    Athena,
    /// Trino's Delta Lake connector: register_table.
    Trino,
    /// DuckDB: a view over delta_scan (the delta extension).
    Duckdb,
    /// DuckDB without the delta extension: a view over read_parquet of the
    /// partition directories' parts (committed parts only, once runs complete).
    DuckdbParquet,
    /// Apache Spark SQL: USING DELTA.
    Spark,
}

#[derive(Debug, Args)]
pub struct SchemaArgs {
    /// Print a table definition for this engine instead of the column list.
    #[arg(long, value_enum)]
    pub ddl: Option<DdlEngine>,
    /// Where the archive is, as the engine sees it (a path or s3://bucket/prefix).
    /// For a local archive the partition levels are read from it.
    #[arg(long, value_name = "LOCATION", default_value = "s3://BUCKET/PREFIX")]
    pub location: String,
    /// Table (or view) name.
    #[arg(long, default_value = "cloudtrail")]
    pub table: String,
    /// Time level of the archive's partitions (for duckdb-parquet), when it cannot
    /// be read from LOCATION.
    #[arg(long, value_enum, default_value = "month")]
    pub partition: PartitionArg,
}

/// Output formats of `query`.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum QueryFormat {
    /// The original record bytes, one per line.
    Jsonl,
    /// A CloudTrail Records file: {"Records":[...]}.
    Json,
    /// Comma-separated values of --columns, with a header.
    Csv,
    /// Aligned columns of --columns.
    Table,
}

/// Which events `query` and `detect` look at: event time, and the partition's
/// account and region.
#[derive(Debug, Args)]
pub struct EventScope {
    /// Events at or after this UTC event time (YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS]Z).
    #[arg(long, value_name = "TIME")]
    pub from: Option<UtcTime>,
    /// Events before this UTC event time (exclusive).
    #[arg(long, value_name = "TIME")]
    pub until: Option<UtcTime>,
    /// Account of the partition (the delivery path), repeatable.
    #[arg(long, value_name = "ID", value_parser = parse_account)]
    pub account: Vec<String>,
    /// Region of the partition, repeatable.
    #[arg(long, value_name = "REGION")]
    pub region: Vec<String>,
}

/// Output formats of `detect`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DetectFormat {
    /// Aligned columns, one rule a line.
    Table,
    /// One JSON object per rule.
    Jsonl,
    /// One JSON document: rules, and the rule files skipped.
    Json,
}

#[derive(Debug, Args)]
pub struct DetectArgs {
    /// The archive: a directory or an s3://bucket/prefix URL.
    #[arg(value_name = "ARCHIVE")]
    pub archive: String,
    #[command(flatten)]
    pub s3: S3Args,
    /// Sigma rule files, or directories of them (.yml, .yaml), repeatable.
    #[arg(long, value_name = "PATH")]
    pub rules: Vec<std::path::PathBuf>,
    /// Run the built-in pack too (the default when no --rules is given).
    #[arg(long)]
    pub builtin: bool,
    #[command(flatten)]
    pub scope: EventScope,
    /// Output format of the per-rule summary.
    #[arg(long, value_enum, default_value = "table")]
    pub format: DetectFormat,
    /// Report what was first seen after the baseline: each account's first event
    /// in a region, each principal's first call to an event source. Rules run
    /// too only with --builtin or --rules.
    #[arg(long)]
    pub first_seen: bool,
    /// The baseline of --first-seen, from the earliest event in scope (90d, 2w,
    /// 36h).
    #[arg(long, value_name = "AGE", value_parser = parse_age, default_value = "30d")]
    pub baseline: std::time::Duration,
    /// Print each matching record instead (exact bytes, JSONL:
    /// {"rule":ID,"record":RECORD}); the summary goes to stderr.
    #[arg(long)]
    pub events: bool,
    /// Print, on stderr, what pruning skipped and how many rows were rebuilt.
    #[arg(long)]
    pub explain: bool,
}

#[derive(Debug, Args)]
pub struct QueryArgs {
    /// The archive: a directory or an s3://bucket/prefix URL.
    #[arg(value_name = "ARCHIVE")]
    pub archive: String,
    #[command(flatten)]
    pub s3: S3Args,
    #[command(flatten)]
    pub scope: EventScope,
    /// eventSource, exactly (e.g. s3.amazonaws.com), repeatable.
    #[arg(long, value_name = "SOURCE")]
    pub event_source: Vec<String>,
    /// eventName, exactly, repeatable.
    #[arg(long, value_name = "NAME")]
    pub event_name: Vec<String>,
    /// userIdentity.arn: exactly when it starts with "arn:", else a substring;
    /// repeatable.
    #[arg(long, value_name = "ARN")]
    pub principal: Vec<String>,
    /// userIdentity.accessKeyId, exactly, repeatable.
    #[arg(long, value_name = "KEY", value_parser = parse_access_key)]
    pub access_key: Vec<String>,
    /// sourceIPAddress, exactly, repeatable.
    #[arg(long, value_name = "IP")]
    pub source_ip: Vec<String>,
    /// errorCode, exactly, repeatable.
    #[arg(long, value_name = "CODE")]
    pub error_code: Vec<String>,
    /// Only events with an errorCode or an errorMessage.
    #[arg(long)]
    pub errors_only: bool,
    /// eventID, exactly, repeatable.
    #[arg(long, value_name = "ID")]
    pub event_id: Vec<String>,
    /// readOnly.
    #[arg(long, value_name = "BOOL")]
    pub read_only: Option<bool>,
    /// userAgent, as a substring, repeatable.
    #[arg(long, value_name = "TEXT")]
    pub user_agent: Vec<String>,
    /// Output format.
    #[arg(long, value_enum, default_value = "jsonl")]
    pub format: QueryFormat,
    /// Columns for csv and table: Athena-style dotted names, comma-separated.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "eventtime,eventsource,eventname,useridentity.arn,sourceipaddress,errorcode"
    )]
    pub columns: Vec<String>,
    /// At most this many events (the earliest).
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,
    /// Print only the number of matching events.
    #[arg(long)]
    pub count: bool,
    /// Hide duplicates: show only the first record (in event-time order) of each
    /// (eventID, recipientAccountId), as CloudTrail redelivery and overlapping
    /// trails repeat them. The archive keeps every copy.
    #[arg(long)]
    pub dedup: bool,
    /// Print, on stderr, what each level of pruning skipped and the bytes read.
    #[arg(long)]
    pub explain: bool,
}

/// How to reach S3, for sources and archives.
#[derive(Debug, Args)]
pub struct S3Args {
    /// Endpoint of an S3-compatible store (default: AWS_ENDPOINT_URL or the
    /// profile's endpoint_url, else AWS).
    #[arg(long, value_name = "URL")]
    pub s3_endpoint: Option<String>,
    /// AWS profile in ~/.aws/config and ~/.aws/credentials (default: AWS_PROFILE,
    /// else "default"). Credentials and region are found as the AWS CLI finds
    /// them: environment, profile (SSO, assume-role, credential_process), web
    /// identity, ECS, EC2 instance metadata.
    #[arg(long, value_name = "NAME")]
    pub profile: Option<String>,
    /// Send S3 requests unsigned, without credentials (public buckets).
    #[arg(long)]
    pub no_sign_request: bool,
    /// S3 requests in flight at once.
    #[arg(long, default_value_t = trailpack_store::DEFAULT_S3_CONCURRENCY, value_name = "N")]
    pub s3_concurrency: usize,
    /// Retries of a throttled (503 SlowDown) or failed S3 request, with exponential
    /// backoff.
    #[arg(long, default_value_t = trailpack_store::DEFAULT_S3_RETRIES, value_name = "N")]
    pub s3_retries: usize,
    /// Parts of an archive larger than this many MiB are uploaded to S3 in parts.
    #[arg(
        long,
        default_value_t = trailpack_store::DEFAULT_MULTIPART_THRESHOLD >> 20,
        value_name = "MIB"
    )]
    pub s3_multipart_mib: usize,
}

impl S3Args {
    pub fn options(&self) -> trailpack_store::S3Options {
        trailpack_store::S3Options {
            endpoint: self.s3_endpoint.clone(),
            profile: self.profile.clone(),
            unsigned: self.no_sign_request,
            concurrency: self.s3_concurrency,
            retries: self.s3_retries,
            multipart_threshold: self.s3_multipart_mib << 20,
            ..trailpack_store::S3Options::default()
        }
    }
}

/// A duration such as `90d`, `36h`, `2w` or `45m`.
fn parse_age(text: &str) -> Result<std::time::Duration, String> {
    let invalid = || format!("{text:?} is not an age such as 90d, 36h, 2w or 45m");
    let unit = text.chars().last().ok_or_else(invalid)?;
    let count: u64 = text[..text.len() - unit.len_utf8()]
        .parse()
        .map_err(|_| invalid())?;
    let seconds = match unit {
        'm' => 60,
        'h' => 3600,
        'd' => 86_400,
        'w' => 7 * 86_400,
        _ => return Err(invalid()),
    };
    count
        .checked_mul(seconds)
        .map(std::time::Duration::from_secs)
        .ok_or_else(invalid)
}

fn parse_shard(text: &str) -> Result<(u32, u32), String> {
    let parsed = text
        .split_once('/')
        .and_then(|(k, n)| Some((k.parse::<u32>().ok()?, n.parse::<u32>().ok()?)));
    match parsed {
        Some((k, n)) if k < n => Ok((k, n)),
        _ => Err(format!("{text:?} is not K/N with 0 <= K < N (e.g. 0/4)")),
    }
}

fn parse_account(text: &str) -> Result<String, String> {
    if text.len() == 12 && text.bytes().all(|b| b.is_ascii_digit()) {
        Ok(text.to_string())
    } else {
        Err(format!("{text:?} is not a 12-digit AWS account ID"))
    }
}

fn parse_access_key(text: &str) -> Result<String, String> {
    let shaped = (16..=128).contains(&text.len())
        && text
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
    if shaped {
        Ok(text.to_string())
    } else {
        Err(format!(
            "{text:?} is not an access key ID (16 or more upper-case letters and digits, e.g. AKIA...)"
        ))
    }
}

/// The time level of partitions, by delivery time.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum PartitionArg {
    /// account=/region=/year=
    Year,
    /// account=/region=/year=/month=
    Month,
    /// account=/region=/year=/month=/day=
    Day,
}

impl From<PartitionArg> for Partitioning {
    fn from(arg: PartitionArg) -> Self {
        match arg {
            PartitionArg::Year => Partitioning::Year,
            PartitionArg::Month => Partitioning::Month,
            PartitionArg::Day => Partitioning::Day,
        }
    }
}

#[derive(Debug, Args)]
pub struct ArchiveArgs {
    /// Local directories (any level of an AWSLogs/ tree, organisation layout
    /// included), single CloudTrail files, or s3://bucket/prefix URLs. Files whose
    /// names are not CloudTrail names are reported as skipped; digest files are
    /// kept whole, with their signatures when known.
    #[arg(required = true, value_name = "SOURCE")]
    pub sources: Vec<String>,
    #[command(flatten)]
    pub s3: S3Args,
    /// The archive: a directory (created if missing) or an s3://bucket/prefix URL
    /// (parts are uploaded, then committed).
    #[arg(long, value_name = "ARCHIVE")]
    pub to: String,
    /// Only files delivered at or after this UTC time (delivery time from the file
    /// name: YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS]Z).
    #[arg(long, value_name = "TIME")]
    pub from: Option<UtcTime>,
    /// Only files delivered before this UTC time (exclusive; same forms as --from).
    #[arg(long, value_name = "TIME")]
    pub until: Option<UtcTime>,
    /// Only this account (repeatable).
    #[arg(long, value_name = "ID")]
    pub account: Vec<String>,
    /// Only this region (repeatable).
    #[arg(long, value_name = "REGION")]
    pub region: Vec<String>,
    /// Only files delivered more than this long ago (e.g. 90d, 36h, 2w): the
    /// lifecycle cut-off, combined with --until.
    #[arg(long, value_name = "AGE", value_parser = parse_age)]
    pub older_than: Option<std::time::Duration>,
    /// After archiving, verify the parts that hold each selected source file
    /// (rebuilt and compared with its SHA-256), then delete the source files whose
    /// rows are committed and verified. Quarantined and unreadable files are kept.
    #[arg(long)]
    pub delete_sources: bool,
    /// Print the plan (files, bytes, partitions; deletions with --delete-sources)
    /// and write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Time level of partitions under account=/region=, by delivery time, of a new
    /// archive (default month); an existing archive keeps its own.
    #[arg(long, value_enum)]
    pub partition: Option<PartitionArg>,
    /// zstd compression level of parts, 1 to 22 (per-column exceptions: docs/FORMAT.md §4.2).
    #[arg(long, default_value_t = DEFAULT_ZSTD_LEVEL, value_name = "N")]
    pub zstd_level: i32,
    /// Rows per Parquet row group.
    #[arg(long, default_value_t = DEFAULT_ROW_GROUP_ROWS, value_name = "N")]
    pub row_group_rows: usize,
    /// Uncompressed record MiB gathered into one part (bounds memory; see docs).
    #[arg(long, default_value_t = DEFAULT_PART_BYTES >> 20, value_name = "MIB")]
    pub part_mib: usize,
    /// Worker threads (default: one per core).
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
    #[command(flatten)]
    pub limits: LimitArgs,
    /// Archive only shard K of N (K from 0 to N-1), split by partition, so that N
    /// processes write into one archive side by side (array jobs).
    #[arg(long, value_name = "K/N", value_parser = parse_shard)]
    pub shard: Option<(u32, u32)>,
    /// Write the run's reconciliation report as JSON to this file.
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// No progress and no summary (problems are still reported on stderr).
    #[arg(long, short)]
    pub quiet: bool,
    /// CloudTrail public keys to keep in the archive (`aws cloudtrail
    /// list-public-keys` JSON, PEM or DER; repeatable).
    #[arg(long, value_name = "FILE")]
    pub public_keys: Vec<PathBuf>,
    /// Digest signatures (S3 metadata lost in a local copy): a JSON map from digest
    /// key to hex signature. A `signatures.json` inside a source tree is read too.
    #[arg(long, value_name = "FILE")]
    pub signatures: Vec<PathBuf>,
}

/// The decode limits; stored with each part, so that compaction and upgrade
/// decode the files again under the limits they were accepted under.
#[derive(Debug, Args)]
pub struct LimitArgs {
    /// Largest uncompressed source file, in MiB: a larger one (a gzip bomb) is
    /// quarantined once this much is inflated, so memory stays bounded.
    #[arg(long, default_value_t = (trailpack_decode::DEFAULT_MAX_FILE_BYTES >> 20) as u32, value_name = "MIB",
          value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub max_file_mib: u32,
    /// Largest record, in KiB (CloudTrail's own limit is 256 KB).
    #[arg(long, default_value_t = (trailpack_decode::DEFAULT_MAX_RECORD_BYTES >> 10) as u32, value_name = "KIB",
          value_parser = clap::value_parser!(u32).range(1..=1_048_576))]
    pub max_record_kib: u32,
    /// Deepest nesting of JSON objects and arrays, counting the file's own two
    /// levels (at most 256, which bounds the stack).
    #[arg(long, default_value_t = trailpack_decode::DEFAULT_MAX_DEPTH as u32, value_name = "N",
          value_parser = clap::value_parser!(u32).range(3..=256))]
    pub max_depth: u32,
}

impl LimitArgs {
    pub fn options(&self) -> trailpack_decode::DecodeOptions {
        trailpack_decode::DecodeOptions {
            max_file_bytes: (self.max_file_mib as usize) << 20,
            max_record_bytes: (self.max_record_kib as usize) << 10,
            max_depth: self.max_depth as usize,
        }
    }
}

#[derive(Debug, Args)]
pub struct UpgradeArgs {
    /// The archive: a directory or an s3://bucket/prefix URL.
    #[arg(value_name = "ARCHIVE")]
    pub archive: String,
    #[command(flatten)]
    pub s3: S3Args,
    /// Limits for decoding the old archive's files again (the first format did not
    /// record the limits it archived under).
    #[command(flatten)]
    pub limits: LimitArgs,
    /// zstd compression level of the new parts, 1 to 22 (per-column exceptions:
    /// docs/FORMAT.md §4.2).
    #[arg(long, default_value_t = DEFAULT_ZSTD_LEVEL, value_name = "N")]
    pub zstd_level: i32,
    /// Worker threads (default: one per core).
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
    /// No progress (the summary is still printed).
    #[arg(long, short)]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Local trail trees (any level of AWSLogs/) or s3://bucket/prefix URLs.
    #[arg(required = true, value_name = "SOURCE")]
    pub sources: Vec<String>,
    #[command(flatten)]
    pub s3: S3Args,
    /// CloudTrail public keys (`aws cloudtrail list-public-keys` JSON, PEM or DER;
    /// repeatable).
    #[arg(long, required = true, value_name = "FILE")]
    pub public_keys: Vec<PathBuf>,
    /// Digest signatures: a JSON map from digest key to hex signature (or to
    /// {"signature": ...}). A `signatures.json` inside a source tree is read too.
    #[arg(long, value_name = "FILE")]
    pub signatures: Vec<PathBuf>,
    /// Only digests whose hour ends at or after this UTC time.
    #[arg(long, value_name = "TIME")]
    pub from: Option<UtcTime>,
    /// Only digests whose hour ends before this UTC time (exclusive).
    #[arg(long, value_name = "TIME")]
    pub until: Option<UtcTime>,
    /// Only this account (repeatable).
    #[arg(long, value_name = "ID")]
    pub account: Vec<String>,
    /// Only this region (repeatable).
    #[arg(long, value_name = "REGION")]
    pub region: Vec<String>,
    /// Print JSON instead of lines.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The archive: a directory or an s3://bucket/prefix URL.
    #[arg(value_name = "ARCHIVE")]
    pub archive: String,
    #[command(flatten)]
    pub s3: S3Args,
    /// Also rebuild every archived file and compare its SHA-256 with the file index.
    #[arg(long)]
    pub deep: bool,
    /// Also validate the archived digest chains and every log file they list from
    /// the archive's content alone (implies rebuilding every file).
    #[arg(long)]
    pub digests: bool,
    /// Public keys in addition to those stored in the archive (repeatable).
    #[arg(long, value_name = "FILE")]
    pub public_keys: Vec<PathBuf>,
    /// Print JSON instead of lines.
    #[arg(long)]
    pub json: bool,
    /// Partitions checked at once (default: one per core; 8 for an archive on S3).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=256))]
    pub jobs: Option<u16>,
}

#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// The archive: a directory or an s3://bucket/prefix URL.
    #[arg(value_name = "ARCHIVE")]
    pub archive: String,
    #[command(flatten)]
    pub s3: S3Args,
    /// Directory to write the files under, at their original keys.
    #[arg(long, value_name = "DIR")]
    pub to: PathBuf,
    /// Only this account (repeatable).
    #[arg(long, value_name = "ID")]
    pub account: Vec<String>,
    /// Only this region (repeatable).
    #[arg(long, value_name = "REGION")]
    pub region: Vec<String>,
    /// Only files delivered at or after this UTC time.
    #[arg(long, value_name = "TIME")]
    pub from: Option<UtcTime>,
    /// Only files delivered before this UTC time (exclusive).
    #[arg(long, value_name = "TIME")]
    pub until: Option<UtcTime>,
    /// Only files whose key (AWSLogs/...) starts with this (repeatable; a full key
    /// selects one file).
    #[arg(long, value_name = "KEY")]
    pub key: Vec<String>,
    /// Write gzipped .json.gz files, also for sources that were plain .json (the
    /// uncompressed content is byte-identical; the gzip bytes themselves are new).
    /// Without it, plain .json files.
    #[arg(long)]
    pub gzip: bool,
    /// Parts rebuilt and written at once (default: one per core; 8 for an archive
    /// on S3). Each holds one part and its files in memory.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=256))]
    pub jobs: Option<u16>,
}

#[derive(Debug, Args)]
pub struct CompactArgs {
    /// The archive: a directory or an s3://bucket/prefix URL.
    #[arg(value_name = "ARCHIVE")]
    pub archive: String,
    #[command(flatten)]
    pub s3: S3Args,
    /// Uncompressed record MiB of a full part: parts holding less than half of it
    /// are merged, up to this much per new part.
    #[arg(long, default_value_t = DEFAULT_PART_BYTES >> 20, value_name = "MIB")]
    pub part_mib: usize,
    /// zstd compression level of the new parts, 1 to 22 (per-column exceptions:
    /// docs/FORMAT.md §4.2).
    #[arg(long, default_value_t = DEFAULT_ZSTD_LEVEL, value_name = "N")]
    pub zstd_level: i32,
    /// Worker threads (default: one per core).
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
    /// Print what would be merged and write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// No progress (the summary is still printed).
    #[arg(long, short)]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct StatsArgs {
    /// The archive: a directory or an s3://bucket/prefix URL.
    #[arg(value_name = "ARCHIVE")]
    pub archive: String,
    #[command(flatten)]
    pub s3: S3Args,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}
