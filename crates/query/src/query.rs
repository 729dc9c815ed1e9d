//! `query`: find records by field, pruning at every level, and return the original
//! record bytes in event-time order.
//!
//! Pruning runs from the cheapest to the finest: parts by partition (account,
//! region) and by their event-time range in the table; row groups by column statistics and by
//! bloom filters on the lookup columns; then only the filter columns of the
//! remaining row groups are read, rows are matched, and the full rows are read for
//! the matches alone, through the page index so that unmatched pages are skipped.

use std::ops::Range;
use std::path::{Path, PathBuf};

use arrow_array::cast::AsArray;
use arrow_array::types::TimestampMicrosecondType;
use arrow_array::{Array, ArrayRef, BooleanArray, RecordBatch};
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReaderBuilder, RowSelection,
};
use parquet::file::metadata::{PageIndexPolicy, ParquetMetaData};
use parquet::file::reader::{ChunkReader, Length};
use parquet::file::statistics::Statistics;
use rayon::prelude::*;
use serde::Serialize;
use trailpack_parts::{PartReader, RecordOrigin, open_part_ranged};
use trailpack_schema::{Rebuilder, fields};
use trailpack_store::ArchiveRoot;
use trailpack_table::{PartInfo, Table};

use crate::QueryError;

/// Columns that hold the values a record's typed columns could not (a value of
/// an unexpected type, a lone surrogate): a null column passes the tests of
/// [`QueryFilter::any_of`] when one of these is not null (and a row stored whole,
/// in `_raw`, passes them all), so that the caller judges such rows on the record.
const UNUSUAL_VALUE_COLUMNS: [&str; 2] = ["additionalfields", fields::RESIDUAL];

/// Rows read per batch.
const BATCH_ROWS: usize = 8192;

/// What to find. Fields combine with AND; several values in one field combine with
/// OR. Empty fields match everything.
#[derive(Debug, Clone, Default)]
pub struct QueryFilter {
    /// Events at or after this time (microseconds since the epoch, UTC).
    pub from_us: Option<i64>,
    /// Events before this time.
    pub until_us: Option<i64>,
    /// Partition accounts (the account in the delivery path).
    pub accounts: Vec<String>,
    /// Partition regions.
    pub regions: Vec<String>,
    /// `eventSource`, exactly.
    pub event_sources: Vec<String>,
    /// `eventName`, exactly.
    pub event_names: Vec<String>,
    /// `userIdentity.arn`: exactly when the value starts with `arn:`, else as a
    /// substring.
    pub principals: Vec<String>,
    /// `userIdentity.accessKeyId`, exactly.
    pub access_keys: Vec<String>,
    /// `sourceIPAddress`, exactly.
    pub source_ips: Vec<String>,
    /// `errorCode`, exactly.
    pub error_codes: Vec<String>,
    /// Only events with an `errorCode` or an `errorMessage`.
    pub errors_only: bool,
    /// `eventID`, exactly.
    pub event_ids: Vec<String>,
    /// `readOnly`.
    pub read_only: Option<bool>,
    /// `userAgent`, as a substring.
    pub user_agents: Vec<String>,
    /// Rows that at least one of these conjunctions of column tests selects (an
    /// OR of ANDs, as a set of detection rules asks); empty selects every row.
    /// A row whose column is null but which kept a value elsewhere
    /// (`additionalfields`, `_residual`), or which is stored whole (`_raw`),
    /// passes: the caller judges it on the record.
    pub any_of: Vec<Vec<ColumnTest>>,
}

/// A test of one string column: case-insensitive, as Sigma matches by default,
/// or a regular expression.
#[derive(Debug, Clone)]
pub struct ColumnTest {
    /// The archive's leaf column (`eventname`, `useridentity.type`).
    pub column: String,
    /// How a value is compared.
    pub how: TextMatch,
    /// The values, any of which passes: in lower case, or for
    /// [`TextMatch::Regex`] the patterns.
    pub values: Vec<String>,
    regexes: Vec<regex::Regex>,
}

impl PartialEq for ColumnTest {
    fn eq(&self, other: &Self) -> bool {
        (&self.column, self.how, &self.values) == (&other.column, other.how, &other.values)
    }
}

impl Eq for ColumnTest {}

/// How a [`ColumnTest`] compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextMatch {
    /// The whole value.
    Equals,
    /// A prefix.
    StartsWith,
    /// A suffix.
    EndsWith,
    /// A substring.
    Contains,
    /// A match of a regular expression (the `regex` crate's syntax), as written:
    /// case-sensitive unless the pattern says `(?i)`.
    Regex,
}

impl ColumnTest {
    /// A test of `column` by `how` against `values` (lowered here); fails only
    /// for a [`TextMatch::Regex`] pattern that does not compile.
    pub fn try_new(
        column: &str,
        how: TextMatch,
        values: Vec<String>,
    ) -> Result<ColumnTest, regex::Error> {
        let (values, regexes) = match how {
            TextMatch::Regex => {
                let regexes = values
                    .iter()
                    .map(|pattern| regex::Regex::new(pattern))
                    .collect::<Result<_, _>>()?;
                (values, regexes)
            }
            _ => (
                values.iter().map(|v| v.to_lowercase()).collect(),
                Vec::new(),
            ),
        };
        Ok(ColumnTest {
            column: column.to_string(),
            how,
            values,
            regexes,
        })
    }

    /// Whether `value` passes: lower-cased as Sigma evaluators fold plain values
    /// (to_lowercase), or matched by the regular expressions.
    pub fn passes(&self, value: &str) -> bool {
        if self.how == TextMatch::Regex {
            return self.regexes.iter().any(|regex| regex.is_match(value));
        }
        if value.is_ascii() {
            // Lower-cased ASCII is its own to_lowercase: compare without allocating.
            let value = value.as_bytes();
            return self.values.iter().any(|wanted| {
                let wanted = wanted.as_bytes();
                let at = |start: usize| {
                    value
                        .get(start..start + wanted.len())
                        .is_some_and(|part| part.eq_ignore_ascii_case(wanted))
                };
                match self.how {
                    TextMatch::Equals => value.len() == wanted.len() && at(0),
                    TextMatch::StartsWith => at(0),
                    TextMatch::EndsWith => {
                        value.len() >= wanted.len() && at(value.len() - wanted.len())
                    }
                    TextMatch::Contains => {
                        wanted.is_empty()
                            || value
                                .windows(wanted.len())
                                .any(|part| part.eq_ignore_ascii_case(wanted))
                    }
                    TextMatch::Regex => false,
                }
            });
        }
        let value = value.to_lowercase();
        self.values.iter().any(|wanted| match self.how {
            TextMatch::Equals => value == *wanted,
            TextMatch::StartsWith => value.starts_with(wanted.as_str()),
            TextMatch::EndsWith => value.ends_with(wanted.as_str()),
            TextMatch::Contains => value.contains(wanted.as_str()),
            TextMatch::Regex => false,
        })
    }
}

/// One matching record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryMatch {
    /// `eventTime` in microseconds, when it parsed.
    pub event_time: Option<i64>,
    /// The source file's key.
    pub source_key: String,
    /// The record's position in its source file.
    pub record_index: u32,
    /// The record's exact original bytes.
    pub record: Vec<u8>,
}

/// What each level of pruning did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Explain {
    /// Parts in the archive.
    pub parts: u64,
    /// Parts skipped by account or region.
    pub parts_pruned_by_partition: u64,
    /// Parts skipped by their event-time range in the table.
    pub parts_pruned_by_time: u64,
    /// Row groups in the parts that were opened.
    pub row_groups: u64,
    /// Row groups skipped by column statistics.
    pub row_groups_pruned_by_statistics: u64,
    /// Row groups skipped by bloom filters.
    pub row_groups_pruned_by_bloom_filter: u64,
    /// Row groups whose filter columns were read.
    pub row_groups_scanned: u64,
    /// Rows whose filter columns were read.
    pub rows_scanned: u64,
    /// Rows that matched.
    pub rows_matched: u64,
    /// Pages of full rows read for the matches.
    pub pages_read: u64,
    /// Pages of those row groups' columns skipped by the page index.
    pub pages_skipped: u64,
    /// Bytes of the archive read: footers, bloom filters, filter column chunks, and
    /// the pages holding matched rows.
    pub bytes_read: u64,
    /// Bytes of all parts.
    pub archive_bytes: u64,
    /// Bytes of the ranges asked of S3 (0 for a local archive): what `bytes_read`
    /// needs, plus the footer's read-ahead and reads of at least 64 KiB. S3
    /// transfers more when it merges nearby ranges into one request.
    pub bytes_fetched: u64,
}

impl Explain {
    /// Add the counts of one part's scan.
    fn add(&mut self, other: &Explain) {
        self.row_groups += other.row_groups;
        self.row_groups_pruned_by_statistics += other.row_groups_pruned_by_statistics;
        self.row_groups_pruned_by_bloom_filter += other.row_groups_pruned_by_bloom_filter;
        self.row_groups_scanned += other.row_groups_scanned;
        self.rows_scanned += other.rows_scanned;
        self.rows_matched += other.rows_matched;
        self.pages_read += other.pages_read;
        self.pages_skipped += other.pages_skipped;
        self.bytes_read += other.bytes_read;
        self.bytes_fetched += other.bytes_fetched;
    }
}

/// A predicate on one column, with what statistics and bloom filters can prune.
struct Predicate {
    column: &'static str,
    test: Test,
}

enum Test {
    /// Equal to one of these strings (prunable by min/max and bloom filter).
    OneOf(Vec<String>, bool),
    /// Contains one of these substrings.
    Contains(Vec<String>),
    /// Boolean equal to this.
    Is(bool),
}

impl QueryFilter {
    fn predicates(&self) -> Vec<Predicate> {
        let mut predicates = Vec::new();
        let mut one_of = |column, values: &Vec<String>, bloom| {
            if !values.is_empty() {
                predicates.push(Predicate {
                    column,
                    test: Test::OneOf(values.clone(), bloom),
                });
            }
        };
        one_of("eventsource", &self.event_sources, false);
        one_of("eventname", &self.event_names, false);
        one_of("useridentity.accesskeyid", &self.access_keys, true);
        one_of("sourceipaddress", &self.source_ips, true);
        one_of("errorcode", &self.error_codes, false);
        one_of("eventid", &self.event_ids, true);
        let (exact, partial): (Vec<String>, Vec<String>) = self
            .principals
            .iter()
            .cloned()
            .partition(|p| p.starts_with("arn:"));
        if !exact.is_empty() && partial.is_empty() {
            predicates.push(Predicate {
                column: "useridentity.arn",
                test: Test::OneOf(exact, true),
            });
        } else if !self.principals.is_empty() {
            predicates.push(Predicate {
                column: "useridentity.arn",
                test: Test::Contains(self.principals.clone()),
            });
        }
        if !self.user_agents.is_empty() {
            predicates.push(Predicate {
                column: "useragent",
                test: Test::Contains(self.user_agents.clone()),
            });
        }
        if let Some(read_only) = self.read_only {
            predicates.push(Predicate {
                column: "readonly",
                test: Test::Is(read_only),
            });
        }
        predicates
    }
}

/// Run `filter` over the archive at `root`. Matches come in event-time order (then
/// source key and record index); `limit` keeps the first ones.
pub fn query(
    root: &ArchiveRoot,
    filter: &QueryFilter,
    limit: Option<usize>,
) -> Result<(Vec<QueryMatch>, Explain), QueryError> {
    let (per_part, explain) = run(root, filter, true, |matches| matches)?;
    let mut matches: Vec<QueryMatch> = per_part.into_iter().flatten().collect();
    matches.sort_by(|a, b| {
        (a.event_time, &a.source_key, a.record_index).cmp(&(
            b.event_time,
            &b.source_key,
            b.record_index,
        ))
    });
    if let Some(limit) = limit {
        matches.truncate(limit);
    }
    Ok((matches, explain))
}

/// Count the events `filter` matches, reading only the filter columns.
pub fn count(root: &ArchiveRoot, filter: &QueryFilter) -> Result<(u64, Explain), QueryError> {
    let (_, explain) = run(root, filter, false, |_| ())?;
    Ok((explain.rows_matched, explain))
}

/// Run `filter` over the archive at `root` and hand each part's matches, rebuilt,
/// to `per_part` as soon as that part is scanned (parts in parallel, in no set
/// order), so that only the matches of the parts in flight are held at once.
pub fn query_each<T: Send>(
    root: &ArchiveRoot,
    filter: &QueryFilter,
    per_part: impl Fn(Vec<QueryMatch>) -> T + Sync,
) -> Result<(Vec<T>, Explain), QueryError> {
    run(root, filter, true, per_part)
}

/// Prune and match; with `fetch`, also read and rebuild the matching rows, which
/// go to `per_part` one part at a time.
fn run<T: Send>(
    root: &ArchiveRoot,
    filter: &QueryFilter,
    fetch: bool,
    per_part: impl Fn(Vec<QueryMatch>) -> T + Sync,
) -> Result<(Vec<T>, Explain), QueryError> {
    let predicates = filter.predicates();
    each_part(root, filter, |part, explain| {
        let mut part_matches = Vec::new();
        scan_part(
            root,
            part,
            filter,
            &predicates,
            fetch,
            explain,
            &mut part_matches,
        )?;
        Ok(per_part(part_matches))
    })
}

/// Read `columns` (leaf names) of every row `filter` selects and fold the batches
/// of each part into `init()` with `fold`: the parts' results, in no set order.
/// No record is rebuilt.
pub fn fold_columns<T: Send>(
    root: &ArchiveRoot,
    filter: &QueryFilter,
    columns: &[&str],
    init: impl Fn() -> T + Sync,
    fold: impl Fn(&mut T, &RecordBatch) + Sync,
) -> Result<(Vec<T>, Explain), QueryError> {
    let predicates = filter.predicates();
    each_part(root, filter, |part, explain| {
        let path = root.locate(&part.path);
        let file = open_part_ranged(root, &part.path, part.bytes)?;
        let scan = PartScan::open(&file, &path, explain)?;
        let candidates = scan.prune_row_groups(filter, &predicates, explain)?;
        let masks = scan.match_rows(&candidates, filter, &predicates, explain)?;
        let folded = scan.fold_rows(masks, columns, explain, init(), &fold);
        explain.bytes_fetched += file.bytes_fetched();
        folded
    })
}

/// The parts `filter` cannot rule out by partition or time, each given to `scan`
/// (in parallel; more at once on S3, where they mostly wait), with the counts of
/// what was pruned and scanned.
fn each_part<T: Send>(
    root: &ArchiveRoot,
    filter: &QueryFilter,
    scan: impl Fn(&PartInfo, &mut Explain) -> Result<T, QueryError> + Sync,
) -> Result<(Vec<T>, Explain), QueryError> {
    let table = Table::open(root)?;
    let mut explain = Explain::default();
    let mut to_scan = Vec::new();
    for part in table.snapshot().part_infos() {
        explain.parts += 1;
        explain.archive_bytes += part.bytes;
        let partition = &part.partition;
        let by_partition = (!filter.accounts.is_empty()
            && !filter.accounts.contains(&partition.account))
            || (!filter.regions.is_empty() && !filter.regions.contains(&partition.region));
        if by_partition {
            explain.parts_pruned_by_partition += 1;
        } else if !time_overlaps(part, filter) {
            explain.parts_pruned_by_time += 1;
        } else {
            to_scan.push(part);
        }
    }
    let scan_all = || -> Vec<Result<(T, Explain), QueryError>> {
        to_scan
            .par_iter()
            .map(|part| {
                let mut part_explain = Explain::default();
                let result = scan(part, &mut part_explain)?;
                Ok((result, part_explain))
            })
            .collect()
    };
    let scanned = match root.local() {
        Some(_) => scan_all(),
        None => rayon::ThreadPoolBuilder::new()
            .num_threads(REMOTE_PARTS_AT_ONCE)
            .thread_name(|i| format!("trailpack-s3-scan-{i}"))
            .build()
            .map_err(|e| QueryError::Threads(e.to_string()))?
            .install(scan_all),
    };
    let mut results = Vec::with_capacity(scanned.len());
    for result in scanned {
        let (part_result, part_explain) = result?;
        results.push(part_result);
        explain.add(&part_explain);
    }
    Ok((results, explain))
}

/// Parts of an archive on S3 scanned at once.
const REMOTE_PARTS_AT_ONCE: usize = 32;

fn time_overlaps(part: &PartInfo, filter: &QueryFilter) -> bool {
    let Some((min, max)) = part.event_time_range else {
        // No parsed times at all: only a time-free query can match.
        return filter.from_us.is_none() && filter.until_us.is_none();
    };
    filter.from_us.is_none_or(|from| max >= from) && filter.until_us.is_none_or(|until| min < until)
}

fn scan_part(
    root: &ArchiveRoot,
    part: &PartInfo,
    filter: &QueryFilter,
    predicates: &[Predicate],
    fetch: bool,
    explain: &mut Explain,
    matches: &mut Vec<QueryMatch>,
) -> Result<(), QueryError> {
    let path = root.locate(&part.path);
    let file = open_part_ranged(root, &part.path, part.bytes)?;
    let scanned = scan_open_part(&file, &path, filter, predicates, fetch, explain, matches);
    explain.bytes_fetched += file.bytes_fetched();
    scanned
}

/// Run `filter` over one open part (`path` names it in errors): the matching
/// records, rebuilt when `fetch`, and what each level pruned. Damaged bytes give
/// an error, never a panic (the `part` fuzz target holds it to that).
pub fn scan(
    file: &PartReader,
    path: &Path,
    filter: &QueryFilter,
    fetch: bool,
) -> Result<(Vec<QueryMatch>, Explain), QueryError> {
    let (mut explain, mut matches) = (Explain::default(), Vec::new());
    let predicates = filter.predicates();
    scan_open_part(
        file,
        path,
        filter,
        &predicates,
        fetch,
        &mut explain,
        &mut matches,
    )?;
    Ok((matches, explain))
}

fn scan_open_part(
    file: &PartReader,
    path: &Path,
    filter: &QueryFilter,
    predicates: &[Predicate],
    fetch: bool,
    explain: &mut Explain,
    matches: &mut Vec<QueryMatch>,
) -> Result<(), QueryError> {
    let scan = PartScan::open(file, path, explain)?;
    let candidates = scan.prune_row_groups(filter, predicates, explain)?;
    let masks = scan.match_rows(&candidates, filter, predicates, explain)?;
    if fetch && !masks.is_empty() {
        scan.read_matches(masks, explain, matches)?;
    }
    Ok(())
}

/// One part open for a query, its footer parsed once. Before each read, the byte
/// ranges it needs are prefetched together (a no-op for a local file), so that a
/// part on S3 costs a few concurrent requests per step rather than one per column
/// chunk or page.
struct PartScan<'f> {
    file: &'f PartReader,
    path: PathBuf,
    reader_metadata: ArrowReaderMetadata,
}

impl<'f> PartScan<'f> {
    fn open(file: &'f PartReader, path: &Path, explain: &mut Explain) -> Result<Self, QueryError> {
        let parquet_error = |error| QueryError::Parquet {
            path: path.to_path_buf(),
            error,
        };
        // Pruning and matching need the footer only; the page index is loaded for
        // the final read of matching rows, where it lets unmatched pages be skipped.
        let options = ArrowReaderOptions::new().with_page_index_policy(PageIndexPolicy::Skip);
        explain.bytes_read += footer_length(file).map_err(parquet_error)?;
        let reader_metadata = ArrowReaderMetadata::load(file, options).map_err(parquet_error)?;
        Ok(PartScan {
            file,
            path: path.to_path_buf(),
            reader_metadata,
        })
    }

    fn error(&self, error: parquet::errors::ParquetError) -> QueryError {
        QueryError::Parquet {
            path: self.path.clone(),
            error,
        }
    }

    fn builder(&self) -> Result<ParquetRecordBatchReaderBuilder<PartReader>, QueryError> {
        let file = self
            .file
            .try_clone()
            .map_err(|e| trailpack_store::StoreError::io(&self.path, e))?;
        Ok(ParquetRecordBatchReaderBuilder::new_with_metadata(
            file,
            self.reader_metadata.clone(),
        ))
    }

    fn metadata(&self) -> &ParquetMetaData {
        self.reader_metadata.metadata()
    }

    /// The leaf column of a dotted name.
    fn leaf(&self, name: &str) -> Option<usize> {
        self.metadata()
            .file_metadata()
            .schema_descr()
            .columns()
            .iter()
            .position(|c| c.path().string() == name)
    }

    /// The row groups that statistics and then bloom filters cannot rule out.
    fn prune_row_groups(
        &self,
        filter: &QueryFilter,
        predicates: &[Predicate],
        explain: &mut Explain,
    ) -> Result<Vec<usize>, QueryError> {
        let metadata = self.metadata();
        let time_leaf = self.leaf("eventtime");
        let mut by_statistics = Vec::new();
        for index in 0..metadata.num_row_groups() {
            explain.row_groups += 1;
            let row_group = metadata.row_group(index);
            let stats_prune = time_leaf
                .is_some_and(|t| !time_stats_overlap(row_group.column(t).statistics(), filter))
                || predicates.iter().any(|p| {
                    let Test::OneOf(values, _) = &p.test else {
                        return false;
                    };
                    self.leaf(p.column).is_some_and(|c| {
                        !strings_may_be_in(row_group.column(c).statistics(), values)
                    })
                });
            if stats_prune {
                explain.row_groups_pruned_by_statistics += 1;
            } else {
                by_statistics.push(index);
            }
        }
        let bloom_columns: Vec<(&Vec<String>, usize)> = predicates
            .iter()
            .filter_map(|p| match (&p.test, self.leaf(p.column)) {
                (Test::OneOf(values, true), Some(column)) => Some((values, column)),
                _ => None,
            })
            .collect();
        let bloom_ranges = by_statistics.iter().flat_map(|&index| {
            bloom_columns.iter().filter_map(move |&(_, column)| {
                let chunk = metadata.row_group(index).column(column);
                let start = u64::try_from(chunk.bloom_filter_offset()?).ok()?;
                let length = u64::try_from(chunk.bloom_filter_length()?).ok()?;
                Some(start..start.saturating_add(length))
            })
        });
        self.file
            .prefetch(bloom_ranges)
            .map_err(|e| self.error(e))?;
        let builder = self.builder()?;
        let mut candidates = Vec::new();
        'row_groups: for index in by_statistics {
            for &(values, column) in &bloom_columns {
                let chunk = metadata.row_group(index).column(column);
                explain.bytes_read += chunk.bloom_filter_length().unwrap_or(0).max(0) as u64;
                if let Some(bloom) = builder
                    .get_row_group_column_bloom_filter(index, column)
                    .map_err(|e| self.error(e))?
                    && !values.iter().any(|v| bloom.check(v.as_str()))
                {
                    explain.row_groups_pruned_by_bloom_filter += 1;
                    continue 'row_groups;
                }
            }
            candidates.push(index);
        }
        Ok(candidates)
    }

    /// Read the filter columns of the `candidates` and match their rows: the row
    /// groups with matches, each with its mask.
    fn match_rows(
        &self,
        candidates: &[usize],
        filter: &QueryFilter,
        predicates: &[Predicate],
        explain: &mut Explain,
    ) -> Result<Vec<(usize, BooleanArray)>, QueryError> {
        if candidates.is_empty() {
            return Ok(Vec::new());
        }
        let metadata = self.metadata();
        let mut leaves: Vec<usize> = predicates
            .iter()
            .filter_map(|p| self.leaf(p.column))
            .collect();
        if filter.from_us.is_some() || filter.until_us.is_some() {
            leaves.extend(self.leaf("eventtime"));
        }
        if filter.errors_only {
            leaves.extend(self.leaf("errorcode"));
            leaves.extend(self.leaf("errormessage"));
        }
        for test in filter.any_of.iter().flatten() {
            leaves.extend(self.leaf(&test.column));
        }
        if !filter.any_of.is_empty() {
            let unusual = UNUSUAL_VALUE_COLUMNS.iter().chain([&fields::RAW]);
            leaves.extend(unusual.filter_map(|c| self.leaf(c)));
        }
        if leaves.is_empty() {
            // Row counts then come from pages, not from the footer's word alone, so
            // that a damaged count is caught below rather than trusted.
            leaves.extend(self.leaf("eventtime"));
        }
        leaves.sort_unstable();
        leaves.dedup();
        self.prefetch_chunks(candidates, &leaves, explain)?;
        explain.row_groups_scanned += candidates.len() as u64;
        let schema = metadata.file_metadata().schema_descr();
        let reader = self
            .builder()?
            .with_projection(ProjectionMask::leaves(schema, leaves.iter().copied()))
            .with_row_groups(candidates.to_vec())
            .with_batch_size(BATCH_ROWS)
            .build()
            .map_err(|e| self.error(e))?;
        let mut keep: Vec<bool> = Vec::new();
        for batch in reader {
            let batch = batch.map_err(|e| self.error(e.into()))?;
            explain.rows_scanned += batch.num_rows() as u64;
            keep.extend(evaluate(&batch, filter, predicates));
        }
        let mut masks = Vec::new();
        let mut offset: usize = 0;
        for &rg in candidates {
            let rows = usize::try_from(metadata.row_group(rg).num_rows()).unwrap_or(0);
            let mask = keep
                .get(offset..offset.saturating_add(rows))
                .ok_or_else(|| self.damaged("its row groups hold fewer rows than they say"))?;
            offset += rows;
            let matched = mask.iter().filter(|&&k| k).count() as u64;
            if matched > 0 {
                explain.rows_matched += matched;
                masks.push((rg, BooleanArray::from(mask.to_vec())));
            }
        }
        Ok(masks)
    }

    fn damaged(&self, reason: &str) -> QueryError {
        QueryError::Damaged {
            path: self.path.clone(),
            reason: reason.to_string(),
        }
    }

    /// Prefetch the column chunks of `leaves` in `row_groups` together, and count
    /// their bytes as read.
    fn prefetch_chunks(
        &self,
        row_groups: &[usize],
        leaves: &[usize],
        explain: &mut Explain,
    ) -> Result<(), QueryError> {
        let metadata = self.metadata();
        let chunks = row_groups.iter().flat_map(|&rg| {
            let row_group = metadata.row_group(rg);
            leaves.iter().map(move |&c| {
                let (start, length) = row_group.column(c).byte_range();
                start..start.saturating_add(length)
            })
        });
        self.file.prefetch(chunks).map_err(|e| self.error(e))?;
        for &rg in row_groups {
            let row_group = metadata.row_group(rg);
            explain.bytes_read += leaves
                .iter()
                .map(|&c| row_group.column(c).compressed_size().max(0) as u64)
                .sum::<u64>();
        }
        Ok(())
    }

    /// Read `columns` of the rows that matched and fold each batch into `acc`.
    fn fold_rows<T>(
        &self,
        masks: Vec<(usize, BooleanArray)>,
        columns: &[&str],
        explain: &mut Explain,
        mut acc: T,
        fold: impl Fn(&mut T, &RecordBatch),
    ) -> Result<T, QueryError> {
        if masks.is_empty() {
            return Ok(acc);
        }
        let metadata = self.metadata();
        let leaves: Vec<usize> = columns.iter().filter_map(|c| self.leaf(c)).collect();
        let (groups, masks): (Vec<usize>, Vec<BooleanArray>) = masks.into_iter().unzip();
        self.prefetch_chunks(&groups, &leaves, explain)?;
        let schema = metadata.file_metadata().schema_descr();
        let builder = self
            .builder()?
            .with_projection(ProjectionMask::leaves(schema, leaves));
        self.each_selected_batch(builder, groups, &masks, |batch| {
            fold(&mut acc, batch);
            Ok(())
        })?;
        Ok(acc)
    }

    /// Read the `masks`' rows of row groups `groups` through `builder`, a batch at
    /// a time.
    fn each_selected_batch(
        &self,
        builder: ParquetRecordBatchReaderBuilder<PartReader>,
        groups: Vec<usize>,
        masks: &[BooleanArray],
        mut each: impl FnMut(&RecordBatch) -> Result<(), QueryError>,
    ) -> Result<(), QueryError> {
        let reader = builder
            .with_row_groups(groups)
            .with_row_selection(RowSelection::from_filters(masks))
            .with_batch_size(BATCH_ROWS)
            .build()
            .map_err(|e| self.error(e))?;
        for batch in reader {
            each(&batch.map_err(|e| self.error(e.into()))?)?;
        }
        Ok(())
    }

    /// Read the full rows that matched, through the page index, and rebuild them.
    fn read_matches(
        &self,
        masks: Vec<(usize, BooleanArray)>,
        explain: &mut Explain,
        matches: &mut Vec<QueryMatch>,
    ) -> Result<(), QueryError> {
        self.file
            .prefetch(page_index_span(self.metadata()))
            .map_err(|e| self.error(e))?;
        let options = ArrowReaderOptions::new().with_page_index_policy(PageIndexPolicy::Optional);
        let file = self
            .file
            .try_clone()
            .map_err(|e| trailpack_store::StoreError::io(&self.path, e))?;
        let builder = ParquetRecordBatchReaderBuilder::try_new_with_options(file, options)
            .map_err(|e| self.error(e))?;
        explain.bytes_read += page_index_ranges(builder.metadata())
            .iter()
            .map(|r| r.end - r.start)
            .sum::<u64>();
        let mut pages = Vec::new();
        for (rg, mask) in &masks {
            let mask: Vec<bool> = (0..mask.len()).map(|i| mask.value(i)).collect();
            pages.extend(
                pages_to_read(builder.metadata(), *rg, &mask, explain)
                    .ok_or_else(|| self.damaged("its page index is not in row order"))?,
            );
        }
        self.file.prefetch(pages).map_err(|e| self.error(e))?;
        let (groups, masks): (Vec<usize>, Vec<BooleanArray>) = masks.into_iter().unzip();
        self.each_selected_batch(builder, groups, &masks, |batch| {
            collect_matches(batch, &self.path, matches)
        })
    }
}

/// The bytes of a part's footer (metadata, its length and the magic), which every
/// opened part costs: the last 8 bytes give the metadata's length.
fn footer_length(part: &PartReader) -> parquet::errors::Result<u64> {
    let tail = part.get_bytes(part.len().saturating_sub(8), 8)?;
    let metadata = u32::from_le_bytes([tail[0], tail[1], tail[2], tail[3]]);
    Ok(u64::from(metadata) + 8)
}

/// The byte ranges of a part's page index (column and offset indexes of every chunk).
fn page_index_ranges(metadata: &ParquetMetaData) -> Vec<Range<u64>> {
    metadata
        .row_groups()
        .iter()
        .flat_map(|rg| rg.columns())
        .flat_map(|c| [c.column_index_range(), c.offset_index_range()])
        .flatten()
        .collect()
}

/// The span of a part's page index: the reader loads it with one read.
fn page_index_span(metadata: &ParquetMetaData) -> Option<Range<u64>> {
    let ranges = page_index_ranges(metadata);
    let start = ranges.iter().map(|r| r.start).min()?;
    let end = ranges.iter().map(|r| r.end).max()?;
    Some(start..end)
}

/// Count the pages of every column that hold at least one selected row (read) and
/// the rest (skipped by the page index), add the read pages' bytes, and return
/// their byte ranges (dictionary pages included). `None` when the page index of a
/// damaged part does not list pages in row order.
fn pages_to_read(
    metadata: &ParquetMetaData,
    rg: usize,
    mask: &[bool],
    explain: &mut Explain,
) -> Option<Vec<Range<u64>>> {
    let row_group = metadata.row_group(rg);
    let index = metadata.page_index_for_row_group(rg);
    let mut ranges = Vec::new();
    let range = |offset: i64, length: i64| {
        offset.max(0) as u64..offset.saturating_add(length).max(0) as u64
    };
    for column in 0..row_group.num_columns() {
        let Some(offsets) = index.offset_index(column) else {
            explain.pages_read += 1;
            explain.bytes_read += row_group.column(column).compressed_size().max(0) as u64;
            let (start, length) = row_group.column(column).byte_range();
            ranges.push(start..start.saturating_add(length));
            continue;
        };
        let pages = offsets.page_locations();
        for (i, page) in pages.iter().enumerate() {
            let start = usize::try_from(page.first_row_index).ok()?;
            let end = match pages.get(i + 1) {
                Some(next) => usize::try_from(next.first_row_index).ok()?,
                None => mask.len(),
            };
            if start > end {
                return None;
            }
            let rows = mask.get(start.min(mask.len())..end.min(mask.len()))?;
            if rows.iter().any(|&k| k) {
                explain.pages_read += 1;
                explain.bytes_read += page.compressed_page_size.max(0) as u64;
                ranges.push(range(page.offset, i64::from(page.compressed_page_size)));
            } else {
                explain.pages_skipped += 1;
            }
        }
        // A dictionary page precedes the data pages and is always read.
        if let (Some(first), Some(dictionary)) = (
            pages.first(),
            row_group.column(column).dictionary_page_offset(),
        ) {
            explain.bytes_read += first.offset.saturating_sub(dictionary).max(0) as u64;
            ranges.push(range(dictionary, first.offset.saturating_sub(dictionary)));
        }
    }
    Some(ranges)
}

fn time_stats_overlap(statistics: Option<&Statistics>, filter: &QueryFilter) -> bool {
    let Some(Statistics::Int64(stats)) = statistics else {
        return true;
    };
    let (Some(&min), Some(&max)) = (stats.min_opt(), stats.max_opt()) else {
        return filter.from_us.is_none() && filter.until_us.is_none();
    };
    filter.from_us.is_none_or(|from| max >= from) && filter.until_us.is_none_or(|until| min < until)
}

fn strings_may_be_in(statistics: Option<&Statistics>, values: &[String]) -> bool {
    let Some(stats) = statistics else {
        return true;
    };
    let (Some(min), Some(max)) = (stats.min_bytes_opt(), stats.max_bytes_opt()) else {
        // No non-null value in the row group: nothing equals a string.
        return stats.null_count_opt().is_none();
    };
    // Truncated statistics still bound the values (min rounded down, max up).
    values
        .iter()
        .any(|v| v.as_bytes() >= min && v.as_bytes() <= max)
}

/// A leaf column of a batch by dotted name (`useridentity.arn`).
pub fn column<'a>(batch: &'a RecordBatch, name: &str) -> Option<&'a ArrayRef> {
    let mut parts = name.split('.');
    let mut array = batch.column_by_name(parts.next()?)?;
    for part in parts {
        array = array.as_struct_opt()?.column_by_name(part)?;
    }
    Some(array)
}

/// Which rows of a batch of filter columns match.
fn evaluate(batch: &RecordBatch, filter: &QueryFilter, predicates: &[Predicate]) -> Vec<bool> {
    let rows = batch.num_rows();
    let mut keep = vec![true; rows];
    if filter.from_us.is_some() || filter.until_us.is_some() {
        match column(batch, "eventtime")
            .and_then(|c| c.as_primitive_opt::<TimestampMicrosecondType>())
        {
            Some(times) => {
                for (row, keep) in keep.iter_mut().enumerate() {
                    let time = times.is_valid(row).then(|| times.value(row));
                    *keep &= time.is_some_and(|t| {
                        filter.from_us.is_none_or(|f| t >= f)
                            && filter.until_us.is_none_or(|u| t < u)
                    });
                }
            }
            None => keep.fill(false),
        }
    }
    for predicate in predicates {
        let Some(array) = column(batch, predicate.column) else {
            keep.fill(false);
            continue;
        };
        match &predicate.test {
            Test::OneOf(values, _) | Test::Contains(values) => {
                let exact = matches!(predicate.test, Test::OneOf(..));
                let Some(strings) = array.as_string_opt::<i32>() else {
                    keep.fill(false);
                    continue;
                };
                for (row, keep) in keep.iter_mut().enumerate() {
                    if !*keep {
                        continue;
                    }
                    *keep = strings.is_valid(row) && {
                        let value = strings.value(row);
                        values.iter().any(|v| {
                            if exact {
                                value == v
                            } else {
                                value.contains(v.as_str())
                            }
                        })
                    };
                }
            }
            Test::Is(want) => {
                let Some(bools) = array.as_boolean_opt() else {
                    keep.fill(false);
                    continue;
                };
                for (row, keep) in keep.iter_mut().enumerate() {
                    *keep &= bools.is_valid(row) && bools.value(row) == *want;
                }
            }
        }
    }
    if filter.errors_only {
        let code = column(batch, "errorcode");
        let message = column(batch, "errormessage");
        for (row, keep) in keep.iter_mut().enumerate() {
            *keep &=
                code.is_some_and(|c| c.is_valid(row)) || message.is_some_and(|m| m.is_valid(row));
        }
    }
    if !filter.any_of.is_empty() {
        let conjunctions: Vec<Vec<(&ColumnTest, Option<&arrow_array::StringArray>)>> = filter
            .any_of
            .iter()
            .map(|tests| {
                tests
                    .iter()
                    .map(|test| {
                        let strings = column(batch, &test.column).and_then(|c| c.as_string_opt());
                        (test, strings)
                    })
                    .collect()
            })
            .collect();
        let unusual: Vec<&ArrayRef> = UNUSUAL_VALUE_COLUMNS
            .iter()
            .filter_map(|name| column(batch, name))
            .collect();
        let raw = column(batch, fields::RAW);
        for (row, keep) in keep.iter_mut().enumerate() {
            // A row stored whole may hold what its columns do not (a repeated key).
            if !*keep || raw.is_some_and(|r| r.is_valid(row)) {
                continue;
            }
            // A null column passes when the row kept a value elsewhere, of a type
            // or spelling its column could not hold.
            let elsewhere = unusual.iter().any(|c| c.is_valid(row));
            *keep = conjunctions.iter().any(|tests| {
                tests.iter().all(|(test, strings)| match strings {
                    Some(s) if s.is_valid(row) => test.passes(s.value(row)),
                    _ => elsewhere,
                })
            });
        }
    }
    keep
}

fn collect_matches(
    batch: &RecordBatch,
    path: &Path,
    matches: &mut Vec<QueryMatch>,
) -> Result<(), QueryError> {
    let schema_error = |source| QueryError::Schema {
        context: path.display().to_string(),
        error: source,
    };
    let origin = RecordOrigin::of(batch, path)?;
    let times =
        column(batch, "eventtime").and_then(|c| c.as_primitive_opt::<TimestampMicrosecondType>());
    let mut rebuilder = Rebuilder::try_new(batch).map_err(schema_error)?;
    for row in 0..batch.num_rows() {
        let mut record = Vec::new();
        rebuilder.rebuild(row, &mut record).map_err(schema_error)?;
        matches.push(QueryMatch {
            event_time: times.filter(|t| t.is_valid(row)).map(|t| t.value(row)),
            source_key: origin.key(row).unwrap_or_default().to_string(),
            record_index: origin.index(row),
            record,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn test(how: TextMatch, values: &[&str]) -> ColumnTest {
        let values = values.iter().map(|v| v.to_string()).collect();
        ColumnTest::try_new("eventname", how, values).unwrap()
    }

    #[test]
    fn column_tests_fold_case_as_sigma_does() {
        assert!(test(TextMatch::Equals, &["ConsoleLogin"]).passes("consolelogin"));
        assert!(!test(TextMatch::Equals, &["ConsoleLogin"]).passes("ConsoleLogins"));
        assert!(test(TextMatch::StartsWith, &["Delete"]).passes("DELETEBucket"));
        assert!(test(TextMatch::EndsWith, &["Policy"]).passes("PutBucketPOLICY"));
        assert!(test(TextMatch::Contains, &["ÉTÉ"]).passes("l'été"));
        assert!(!test(TextMatch::Contains, &["x"]).passes("abc"));
    }

    #[test]
    fn regular_expressions_keep_their_case_unless_they_say_otherwise() {
        assert!(test(TextMatch::Regex, &["^Get"]).passes("GetObject"));
        assert!(!test(TextMatch::Regex, &["^Get"]).passes("getObject"));
        assert!(test(TextMatch::Regex, &["(?i)^get"]).passes("GetObject"));
        let broken = ColumnTest::try_new("eventname", TextMatch::Regex, vec!["(".into()]);
        assert!(broken.is_err());
    }
}
