//! The file index: one row per source file the archive accounts for, in Parquet.
//!
//! Each partition has a directory of *segments* under `_trailpack/index/`, one per
//! commit that recorded files of that partition. A segment is sorted by key, so
//! that the keys (which share long prefixes) compress to a few bytes each. A file
//! recorded twice (two writers given the same new file) is taken from the segment
//! whose name sorts last. A run reads only the segments of the partitions it
//! touches; `stats` reads only their footers ([`IndexSummary`]).

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use arrow_array::builder::{FixedSizeBinaryBuilder, Int64Builder, StringBuilder};
use arrow_array::cast::AsArray;
use arrow_array::types::Int64Type;
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use bytes::Bytes;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::{ArrowWriter, ProjectionMask};
use parquet::basic::{Compression, Encoding, ZstdLevel};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;
use serde::{Deserialize, Serialize};
use trailpack_decode::{Frame, Separators};
use trailpack_source::{FileName, parse_file_name};
use trailpack_store::ArchiveRoot;

use crate::TableError;
use crate::layout::{DIGESTS_DIR, INDEX_DIR, PartitionKey, QUARANTINE_DIR};

/// The `trailpack.index.version` of segments this code writes.
pub const INDEX_VERSION: &str = "1";
/// zstd level of segments: they are small and written once.
const INDEX_ZSTD_LEVEL: i32 = 12;
const VERSION_KEY: &str = "trailpack.index.version";
const SUMMARY_KEY: &str = "trailpack.index.summary";

/// What the archive holds of a source file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EntryStatus {
    /// A log or Insights file whose records are in a part.
    Archived,
    /// A file that did not decode; its bytes are under `_trailpack/quarantine/`.
    Quarantined,
    /// A digest file, kept whole under `_trailpack/digests/`.
    Digest,
}

impl EntryStatus {
    fn as_str(self) -> &'static str {
        match self {
            EntryStatus::Archived => "archived",
            EntryStatus::Quarantined => "quarantined",
            EntryStatus::Digest => "digest",
        }
    }

    fn parse(text: &str) -> Option<EntryStatus> {
        match text {
            "archived" => Some(EntryStatus::Archived),
            "quarantined" => Some(EntryStatus::Quarantined),
            "digest" => Some(EntryStatus::Digest),
            _ => None,
        }
    }
}

/// One row of the file index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexEntry {
    /// The source key (from `AWSLogs/` on).
    pub key: String,
    /// What the archive holds of it.
    pub status: EntryStatus,
    /// Stored size in bytes (compressed, as listed).
    pub size: u64,
    /// Uncompressed size (archived files; digests that gunzip).
    pub raw_size: Option<u64>,
    /// SHA-256 of the uncompressed bytes (archived files; digests that gunzip).
    pub sha256: Option<[u8; 32]>,
    /// Records in the file.
    pub records: u64,
    /// Of those, records stored whole in `_raw`.
    pub fallback_records: u64,
    /// The name of the part its records were first written to (`part-….parquet`),
    /// for an archived file with records.
    pub part: Option<String>,
    /// The text around its records (archived files).
    pub frame: Option<Frame>,
    /// Why it was quarantined.
    pub reason: Option<String>,
    /// A digest's signature, hex, from S3 metadata or a sidecar.
    pub signature: Option<String>,
    /// A digest's signature algorithm, from S3 metadata.
    pub signature_algorithm: Option<String>,
    /// A backfill digest's generation time, from S3 metadata.
    pub backfill_generation_timestamp: Option<String>,
}

impl IndexEntry {
    /// What the key's file name says (account, region, delivery time, kind).
    pub fn name(&self) -> Option<FileName> {
        parse_file_name(self.key.rsplit('/').next().unwrap_or(&self.key))
    }

    /// Where a quarantined file's bytes or a digest's bytes are kept.
    pub fn stored_path(&self) -> Option<String> {
        match self.status {
            EntryStatus::Archived => None,
            EntryStatus::Quarantined => Some(format!("{QUARANTINE_DIR}/{}", self.key)),
            EntryStatus::Digest => Some(format!("{DIGESTS_DIR}/{}", self.key)),
        }
    }

    /// A quarantined file's entry.
    pub fn quarantined(key: &str, size: u64, reason: String) -> IndexEntry {
        IndexEntry {
            key: key.to_string(),
            status: EntryStatus::Quarantined,
            size,
            raw_size: None,
            sha256: None,
            records: 0,
            fallback_records: 0,
            part: None,
            frame: None,
            reason: Some(reason),
            signature: None,
            signature_algorithm: None,
            backfill_generation_timestamp: None,
        }
    }
}

/// Counts over one segment, kept in its footer so that `stats` need not read rows.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexSummary {
    /// Archived files.
    pub archived_files: u64,
    /// Records in them.
    pub archived_records: u64,
    /// Their stored bytes.
    pub archived_bytes: u64,
    /// Their uncompressed bytes.
    pub archived_raw_bytes: u64,
    /// Archived files with records stored whole.
    pub fallback_files: u64,
    /// Quarantined files.
    pub quarantined_files: u64,
    /// Their stored bytes.
    pub quarantined_bytes: u64,
    /// Digest files.
    pub digest_files: u64,
}

impl IndexSummary {
    fn of(entries: &[IndexEntry]) -> IndexSummary {
        let mut summary = IndexSummary::default();
        for entry in entries {
            match entry.status {
                EntryStatus::Archived => {
                    summary.archived_files += 1;
                    summary.archived_records += entry.records;
                    summary.archived_bytes += entry.size;
                    summary.archived_raw_bytes += entry.raw_size.unwrap_or(0);
                    summary.fallback_files += u64::from(entry.fallback_records > 0);
                }
                EntryStatus::Quarantined => {
                    summary.quarantined_files += 1;
                    summary.quarantined_bytes += entry.size;
                }
                EntryStatus::Digest => summary.digest_files += 1,
            }
        }
        summary
    }

    /// Add `other`'s counts.
    pub fn add(&mut self, other: &IndexSummary) {
        self.archived_files += other.archived_files;
        self.archived_records += other.archived_records;
        self.archived_bytes += other.archived_bytes;
        self.archived_raw_bytes += other.archived_raw_bytes;
        self.fallback_files += other.fallback_files;
        self.quarantined_files += other.quarantined_files;
        self.quarantined_bytes += other.quarantined_bytes;
        self.digest_files += other.digest_files;
    }
}

/// The Arrow schema of a segment.
pub fn index_schema() -> SchemaRef {
    let text = |name| Field::new(name, DataType::Utf8, true);
    let number = |name, nullable| Field::new(name, DataType::Int64, nullable);
    Arc::new(Schema::new(vec![
        Field::new("key", DataType::Utf8, false),
        Field::new("status", DataType::Utf8, false),
        number("size", false),
        number("raw_size", true),
        Field::new("sha256", DataType::FixedSizeBinary(32), true),
        number("records", false),
        number("fallback_records", false),
        text("part"),
        text("frame_prefix"),
        text("frame_separator"),
        text("frame_separators"),
        text("frame_suffix"),
        text("reason"),
        text("signature"),
        text("signature_algorithm"),
        text("backfill_generation_timestamp"),
    ]))
}

/// The path of segment `id` of `partition`.
pub fn segment_path(partition: &PartitionKey, id: &str) -> String {
    format!("{}/{id}.parquet", partition.index_dir())
}

/// A segment of `entries` (sorted by key here), as Parquet bytes.
pub fn encode_segment(entries: &mut [IndexEntry]) -> Result<Vec<u8>, TableError> {
    entries.sort_by(|a, b| a.key.cmp(&b.key));
    let batch = to_batch(entries).map_err(|e| TableError::Corrupt {
        path: "index segment".into(),
        reason: e.to_string(),
    })?;
    let summary = serde_json::to_string(&IndexSummary::of(entries)).unwrap_or_default();
    let level = ZstdLevel::try_new(INDEX_ZSTD_LEVEL).unwrap_or_default();
    let properties = WriterProperties::builder()
        .set_compression(Compression::ZSTD(level))
        .set_statistics_enabled(EnabledStatistics::None)
        // Sorted keys share long prefixes: delta encoding stores only what differs.
        .set_column_dictionary_enabled(ColumnPath::from("key"), false)
        .set_column_encoding(ColumnPath::from("key"), Encoding::DELTA_BYTE_ARRAY)
        .set_column_dictionary_enabled(ColumnPath::from("sha256"), false)
        .set_created_by(format!("trailpack {}", env!("CARGO_PKG_VERSION")))
        .set_key_value_metadata(Some(vec![
            KeyValue::new(VERSION_KEY.into(), INDEX_VERSION.to_string()),
            KeyValue::new(SUMMARY_KEY.into(), summary),
        ]))
        .build();
    let options = parquet::arrow::arrow_writer::ArrowWriterOptions::new()
        .with_properties(properties)
        .with_skip_arrow_metadata(true);
    let parquet_error = |error| TableError::Parquet {
        path: "index segment".into(),
        error,
    };
    let mut writer = ArrowWriter::try_new_with_options(Vec::new(), batch.schema(), options)
        .map_err(parquet_error)?;
    writer.write(&batch).map_err(parquet_error)?;
    writer.into_inner().map_err(parquet_error)
}

fn to_batch(entries: &[IndexEntry]) -> Result<RecordBatch, arrow_schema::ArrowError> {
    let strings = |value: &dyn Fn(&IndexEntry) -> Option<&str>| -> ArrayRef {
        let mut builder = StringBuilder::new();
        for entry in entries {
            builder.append_option(value(entry));
        }
        Arc::new(builder.finish())
    };
    let numbers = |value: &dyn Fn(&IndexEntry) -> Option<u64>| -> ArrayRef {
        let mut builder = Int64Builder::new();
        for entry in entries {
            builder.append_option(value(entry).map(|n| n as i64));
        }
        Arc::new(builder.finish())
    };
    let mut hashes = FixedSizeBinaryBuilder::new(32);
    for entry in entries {
        match &entry.sha256 {
            Some(hash) => hashes.append_value(hash)?,
            None => hashes.append_null(),
        }
    }
    let separator = |entry: &IndexEntry| match entry.frame.as_ref().map(|f| &f.separators) {
        Some(Separators::Uniform(text)) => Some(text.clone()),
        _ => None,
    };
    let separators = |entry: &IndexEntry| match entry.frame.as_ref().map(|f| &f.separators) {
        Some(Separators::Each(texts)) => serde_json::to_string(texts).ok(),
        _ => None,
    };
    let uniform: Vec<Option<String>> = entries.iter().map(separator).collect();
    let each: Vec<Option<String>> = entries.iter().map(separators).collect();
    let owned = |values: Vec<Option<String>>| -> ArrayRef {
        Arc::new(arrow_array::StringArray::from(values))
    };
    RecordBatch::try_new(
        index_schema(),
        vec![
            strings(&|e| Some(e.key.as_str())),
            strings(&|e| Some(e.status.as_str())),
            numbers(&|e| Some(e.size)),
            numbers(&|e| e.raw_size),
            Arc::new(hashes.finish()),
            numbers(&|e| Some(e.records)),
            numbers(&|e| Some(e.fallback_records)),
            strings(&|e| e.part.as_deref()),
            strings(&|e| e.frame.as_ref().map(|f| f.prefix.as_str())),
            owned(uniform),
            owned(each),
            strings(&|e| e.frame.as_ref().map(|f| f.suffix.as_str())),
            strings(&|e| e.reason.as_deref()),
            strings(&|e| e.signature.as_deref()),
            strings(&|e| e.signature_algorithm.as_deref()),
            strings(&|e| e.backfill_generation_timestamp.as_deref()),
        ],
    )
}

/// The entries of one segment's bytes (`path` names it in errors).
pub fn decode_segment(bytes: Bytes, path: &str) -> Result<Vec<IndexEntry>, TableError> {
    let mut entries = Vec::new();
    for batch in read_batches(bytes, path, None)? {
        entries.extend(from_batch(&batch).map_err(|reason| corrupt(path, reason))?);
    }
    Ok(entries)
}

fn corrupt(path: &str, reason: String) -> TableError {
    TableError::Corrupt {
        path: path.to_string(),
        reason,
    }
}

/// The record batches of a segment, all columns or only `columns`.
fn read_batches(
    bytes: Bytes,
    path: &str,
    columns: Option<&[&str]>,
) -> Result<Vec<RecordBatch>, TableError> {
    let parquet_error = |error| TableError::Parquet {
        path: path.to_string(),
        error,
    };
    let read = || {
        let mut builder = ParquetRecordBatchReaderBuilder::try_new(bytes).map_err(parquet_error)?;
        if let Some(columns) = columns {
            let schema = builder.parquet_schema();
            let leaves =
                (0..schema.num_columns()).filter(|&i| columns.contains(&schema.column(i).name()));
            let mask = ProjectionMask::leaves(schema, leaves);
            builder = builder.with_projection(mask);
        }
        builder
            .build()
            .map_err(parquet_error)?
            .map(|batch| batch.map_err(|e| parquet_error(e.into())))
            .collect()
    };
    // parquet 60.1.0 can panic on a damaged page (an add overflow in its
    // DELTA_BYTE_ARRAY decoder, found by the `index` fuzz target): a damaged
    // segment is an error naming it, not the end of the run.
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(read)).unwrap_or_else(|_| {
        Err(corrupt(
            path,
            "the Parquet reader panicked on its pages".to_string(),
        ))
    })
}

fn from_batch(batch: &RecordBatch) -> Result<Vec<IndexEntry>, String> {
    let text = |name: &str| {
        batch
            .column_by_name(name)
            .and_then(|c| c.as_string_opt::<i32>())
            .ok_or_else(|| format!("column {name} is missing or not text"))
    };
    let number = |name: &str| {
        batch
            .column_by_name(name)
            .and_then(|c| c.as_primitive_opt::<Int64Type>())
            .ok_or_else(|| format!("column {name} is missing or not a 64-bit integer"))
    };
    let (keys, statuses, parts, reasons) = (
        text("key")?,
        text("status")?,
        text("part")?,
        text("reason")?,
    );
    let (prefixes, separator, separators, suffixes) = (
        text("frame_prefix")?,
        text("frame_separator")?,
        text("frame_separators")?,
        text("frame_suffix")?,
    );
    let (signatures, algorithms, backfills) = (
        text("signature")?,
        text("signature_algorithm")?,
        text("backfill_generation_timestamp")?,
    );
    let (sizes, raw_sizes, records, fallbacks) = (
        number("size")?,
        number("raw_size")?,
        number("records")?,
        number("fallback_records")?,
    );
    let hashes = batch
        .column_by_name("sha256")
        .and_then(|c| c.as_fixed_size_binary_opt())
        .filter(|c| c.value_length() == 32)
        .ok_or("column sha256 is missing or not 32-byte binary")?;
    let get = |array: &arrow_array::StringArray, row: usize| {
        array.is_valid(row).then(|| array.value(row).to_string())
    };
    let count = |array: &arrow_array::Int64Array, row: usize| {
        array
            .is_valid(row)
            .then(|| u64::try_from(array.value(row)).ok())
            .flatten()
    };
    let mut entries = Vec::with_capacity(batch.num_rows());
    for row in 0..batch.num_rows() {
        let key = get(keys, row).ok_or("a row has no key")?;
        let bad = |what: &str| format!("{key}: {what}");
        let status = get(statuses, row)
            .and_then(|s| EntryStatus::parse(&s))
            .ok_or_else(|| bad("unknown status"))?;
        let frame = match (get(prefixes, row), get(suffixes, row)) {
            (Some(prefix), Some(suffix)) => Some(Frame {
                prefix,
                separators: match (get(separators, row), get(separator, row)) {
                    (Some(each), _) => Separators::Each(
                        serde_json::from_str(&each)
                            .map_err(|_| bad("frame_separators is not a JSON array of strings"))?,
                    ),
                    (None, text) => Separators::Uniform(text.unwrap_or_default()),
                },
                suffix,
            }),
            _ => None,
        };
        let sha256 = hashes
            .is_valid(row)
            .then(|| <[u8; 32]>::try_from(hashes.value(row)).ok())
            .flatten();
        entries.push(IndexEntry {
            status,
            size: count(sizes, row).ok_or_else(|| bad("no size"))?,
            raw_size: count(raw_sizes, row),
            sha256,
            records: count(records, row).ok_or_else(|| bad("no record count"))?,
            fallback_records: count(fallbacks, row).unwrap_or(0),
            part: get(parts, row),
            frame,
            reason: get(reasons, row),
            signature: get(signatures, row),
            signature_algorithm: get(algorithms, row),
            backfill_generation_timestamp: get(backfills, row),
            key,
        });
    }
    Ok(entries)
}

/// The segments of `partition`, in the order their entries apply.
fn segments(root: &ArchiveRoot, partition: &PartitionKey) -> Result<Vec<String>, TableError> {
    let dir = partition.index_dir();
    Ok(root
        .list(&dir)?
        .into_iter()
        .filter(|listed| {
            listed.path.len() == dir.len() + 1 + listed.name().len()
                && listed.name().ends_with(".parquet")
                && !listed.name().starts_with('.')
        })
        .map(|listed| listed.path)
        .collect())
}

/// Every entry of `partition`'s index, by key; where a key was recorded twice,
/// the entry of the segment that sorts last.
pub fn load_partition(
    root: &ArchiveRoot,
    partition: &PartitionKey,
) -> Result<BTreeMap<String, IndexEntry>, TableError> {
    let mut entries = BTreeMap::new();
    root.read_each(&segments(root, partition)?, |path, bytes| {
        for entry in decode_segment(bytes, path)? {
            entries.insert(entry.key.clone(), entry);
        }
        Ok::<(), TableError>(())
    })?;
    Ok(entries)
}

/// The keys in `partition`'s index: what an incremental run skips.
pub fn load_partition_keys(
    root: &ArchiveRoot,
    partition: &PartitionKey,
) -> Result<HashSet<String>, TableError> {
    let mut keys = HashSet::new();
    root.read_each(&segments(root, partition)?, |path, bytes| {
        for batch in read_batches(bytes, path, Some(&["key"]))? {
            let column = batch
                .column_by_name("key")
                .and_then(|c| c.as_string_opt::<i32>())
                .ok_or_else(|| corrupt(path, "column key is missing or not text".into()))?;
            keys.extend(column.iter().flatten().map(str::to_string));
        }
        Ok::<(), TableError>(())
    })?;
    Ok(keys)
}

/// The partitions that have an index, sorted.
pub fn indexed_partitions(root: &ArchiveRoot) -> Result<Vec<PartitionKey>, TableError> {
    let mut partitions: Vec<PartitionKey> = root
        .list(INDEX_DIR)?
        .iter()
        .filter_map(|listed| {
            let dir = listed.path.strip_prefix(INDEX_DIR)?.strip_prefix('/')?;
            PartitionKey::from_dir(dir.rsplit_once('/')?.0)
        })
        .collect();
    partitions.dedup();
    Ok(partitions)
}

/// Bytes read from the end of a segment for its footer: the footers of segments
/// trailpack writes are about 2 KB.
const FOOTER_TAIL: u64 = 64 << 10;

/// The metadata of a Parquet file from its last bytes (which must hold the whole
/// footer).
fn footer(
    tail: &[u8],
) -> Result<parquet::file::metadata::ParquetMetaData, parquet::errors::ParquetError> {
    let eof = || parquet::errors::ParquetError::EOF("the footer is longer than was read".into());
    let end = tail.len().checked_sub(8).ok_or_else(eof)?;
    if &tail[end + 4..] != b"PAR1" {
        return Err(parquet::errors::ParquetError::General(
            "not a Parquet file".into(),
        ));
    }
    let length = u32::from_le_bytes([tail[end], tail[end + 1], tail[end + 2], tail[end + 3]]);
    let start = end.checked_sub(length as usize).ok_or_else(eof)?;
    parquet::file::metadata::ParquetMetaDataReader::decode_metadata(&tail[start..end])
}

/// The summary in every segment's footer, with the segment's partition: only the
/// footers are read.
pub fn summaries(root: &ArchiveRoot) -> Result<Vec<(PartitionKey, IndexSummary)>, TableError> {
    let listed: Vec<(PartitionKey, String)> = root
        .list(INDEX_DIR)?
        .into_iter()
        .filter(|listed| listed.name().ends_with(".parquet") && !listed.name().starts_with('.'))
        .filter_map(|listed| {
            let dir = listed.path.strip_prefix(INDEX_DIR)?.strip_prefix('/')?;
            Some((
                PartitionKey::from_dir(dir.rsplit_once('/')?.0)?,
                listed.path.clone(),
            ))
        })
        .collect();
    let paths: Vec<String> = listed.iter().map(|(_, path)| path.clone()).collect();
    let mut found = Vec::with_capacity(paths.len());
    let mut partitions = listed.into_iter().map(|(partition, _)| partition);
    root.read_tails(&paths, FOOTER_TAIL, |path, tail| {
        let metadata = footer(&tail).map_err(|error| TableError::Parquet {
            path: path.to_string(),
            error,
        })?;
        let summary = metadata
            .file_metadata()
            .key_value_metadata()
            .and_then(|kv| kv.iter().find(|kv| kv.key == SUMMARY_KEY))
            .and_then(|kv| kv.value.as_deref())
            .and_then(|text| serde_json::from_str(text).ok())
            .ok_or_else(|| corrupt(path, "no summary in the footer".into()))?;
        found.extend(partitions.next().map(|p| (p, summary)));
        Ok::<(), TableError>(())
    })?;
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn archived(key: &str) -> IndexEntry {
        IndexEntry {
            key: key.into(),
            status: EntryStatus::Archived,
            size: 120,
            raw_size: Some(800),
            sha256: Some([7; 32]),
            records: 3,
            fallback_records: 0,
            part: Some("part-1.parquet".into()),
            frame: Some(Frame {
                prefix: "{\"Records\":[".into(),
                separators: Separators::Uniform(",".into()),
                suffix: "]}".into(),
            }),
            reason: None,
            signature: None,
            signature_algorithm: None,
            backfill_generation_timestamp: None,
        }
    }

    #[test]
    fn segments_round_trip_every_kind_of_entry_sorted_by_key() {
        let mut odd = archived("b");
        odd.frame = Some(Frame {
            prefix: "{ \"Records\" : [".into(),
            separators: Separators::Each(vec![",".into(), " ,\n".into()]),
            suffix: "]}\n".into(),
        });
        let mut digest = archived("c");
        digest.status = EntryStatus::Digest;
        digest.frame = None;
        digest.part = None;
        digest.signature = Some("abc".into());
        digest.signature_algorithm = Some("SHA256withRSA".into());
        let mut entries = vec![
            digest,
            IndexEntry::quarantined("a", 29, "empty file (0 bytes)".into()),
            odd,
        ];
        let bytes = encode_segment(&mut entries).unwrap();
        let back = decode_segment(Bytes::from(bytes.clone()), "segment").unwrap();
        assert_eq!(back, entries);
        assert_eq!(
            back.iter().map(|e| e.key.as_str()).collect::<Vec<_>>(),
            ["a", "b", "c"]
        );
        assert_eq!(IndexSummary::of(&back).quarantined_files, 1);
        assert_eq!(
            back[0].stored_path().unwrap(),
            format!("{QUARANTINE_DIR}/a")
        );
    }

    #[test]
    fn partitions_load_with_the_last_segment_winning() {
        let dir = tempfile::tempdir().unwrap();
        let root = ArchiveRoot::from(dir.path());
        let partition = PartitionKey {
            account: "111122223333".into(),
            region: "us-east-1".into(),
            period: (2021, 1, 0),
        };
        let mut first = vec![archived("k1"), archived("k2")];
        let mut second = vec![IndexEntry::quarantined("k2", 5, "bad".into())];
        for (id, entries) in [("1", &mut first), ("2", &mut second)] {
            root.write(
                &segment_path(&partition, id),
                &encode_segment(entries).unwrap(),
            )
            .unwrap();
        }
        let loaded = load_partition(&root, &partition).unwrap();
        assert_eq!(loaded.len(), 2);
        assert_eq!(loaded["k2"].status, EntryStatus::Quarantined);
        let keys = load_partition_keys(&root, &partition).unwrap();
        assert_eq!(keys, HashSet::from(["k1".to_string(), "k2".to_string()]));
        assert_eq!(
            indexed_partitions(&root).unwrap(),
            std::slice::from_ref(&partition)
        );
        let summaries = summaries(&root).unwrap();
        assert_eq!(summaries.len(), 2);
        assert_eq!(summaries[0].1.archived_files, 2);
        assert_eq!(summaries[1].1.quarantined_files, 1);
    }

    #[test]
    fn a_segment_that_makes_the_parquet_reader_panic_is_an_error() {
        // Found by the `index` fuzz target (fuzz/known-crashes/): in a debug
        // build parquet 60.1.0 panics on an add overflow while decoding it.
        let bytes = include_bytes!("../tests/data/index-delta-byte-array-overflow");
        let error = decode_segment(Bytes::from_static(bytes), "x.parquet").unwrap_err();
        let message = error.to_string();
        assert!(message.starts_with("x.parquet"), "{message}");
    }

    #[test]
    fn damaged_segments_are_errors_that_name_them() {
        let err = decode_segment(Bytes::from_static(b"not parquet"), "seg.parquet").unwrap_err();
        assert!(err.to_string().starts_with("seg.parquet: "), "{err}");
    }
}
