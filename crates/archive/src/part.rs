//! Building a part: sort a partition's records by event time, normalise and prove
//! them in parallel row groups, and stream the Parquet file to a temporary file.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::io::Write;
use std::time::Instant;

use arrow_array::cast::AsArray;
use arrow_array::types::TimestampMicrosecondType;
use arrow_array::{Array, RecordBatch};
use tempfile::NamedTempFile;
use trailpack_decode::{DecodedFile, Frame};
use trailpack_schema::encode::Style;
use trailpack_schema::{BatchBuilder, schema};
use trailpack_source::SourceFile;
use trailpack_store::unique_name;
use trailpack_table::{
    EntryStatus, IndexEntry, PartInfo, PartitionKey, STAGING_DIR, part_file_name,
};

use crate::ArchiveError;
use crate::column_writer::ParallelWriter;
use crate::report::event_identities;
use crate::writer::Writer;

/// Rows normalised and proven as one batch (in parallel with others): 2,048
/// rather than 4,096 held about 20 MB less at peak for about the same time
/// (1% more or less; docs/BENCHMARKS.md), and 1,024 was slower.
const SUB_BATCH_ROWS: usize = 2048;
/// Sub-batches being built while one is written, per thread: one keeps every
/// core busy; two took no less time and held 10-20 MB more (docs/BENCHMARKS.md).
const SUB_BATCHES_AHEAD: usize = 1;

/// A decoded file waiting in the part buffer.
pub(crate) struct Pending {
    pub source: SourceFile,
    pub decoded: DecodedFile,
}

/// A part written to a temporary file, not committed.
pub(crate) struct BuiltPart {
    /// Its id: the part is `part-<id>.parquet`, its index segment `<id>.parquet`.
    pub id: String,
    /// What the table will know of it.
    pub info: PartInfo,
    /// The index entries of its files.
    pub entries: Vec<IndexEntry>,
    /// The file.
    pub temp: NamedTempFile,
}

/// A record in part order: event time, file index and record index.
type SortedRow = (Option<i64>, u32, u32);

/// A proven row group: the batch, its rows stored whole, unknown member paths, and
/// its rows' event identities (for duplicate counting).
struct RowGroup {
    batch: RecordBatch,
    fallbacks: Vec<usize>,
    unknown: BTreeSet<String>,
    identities: Vec<Option<u64>>,
}

/// What a part's batches add up to, for the table.
#[derive(Default)]
struct PartStats {
    event_versions: BTreeMap<String, u64>,
    unknown_paths: BTreeSet<String>,
    fallback_rows_per_file: Vec<u64>,
    event_time_range: Option<(i64, i64)>,
    rows_without_event_time: u64,
}

impl PartStats {
    fn add(&mut self, rows: &[SortedRow], group: &RowGroup) {
        for &row in &group.fallbacks {
            self.fallback_rows_per_file[rows[row].1 as usize] += 1;
        }
        self.unknown_paths.extend(group.unknown.iter().cloned());
        let batch = &group.batch;
        if let Some(versions) = batch
            .column_by_name("eventversion")
            .and_then(|c| c.as_string_opt::<i32>())
        {
            for row in 0..versions.len() {
                let version = if versions.is_valid(row) {
                    versions.value(row)
                } else {
                    "(none)"
                };
                match self.event_versions.get_mut(version) {
                    Some(count) => *count += 1,
                    None => {
                        self.event_versions.insert(version.to_string(), 1);
                    }
                }
            }
        }
        if let Some(times) = batch
            .column_by_name("eventtime")
            .and_then(|c| c.as_primitive_opt::<TimestampMicrosecondType>())
        {
            self.rows_without_event_time += times.null_count() as u64;
            for time in times.iter().flatten() {
                self.event_time_range = Some(match self.event_time_range {
                    Some((min, max)) => (min.min(time), max.max(time)),
                    None => (time, time),
                });
            }
        }
    }
}

impl Writer<'_> {
    /// Sort the records of `files` by event time, build and prove row groups, and
    /// write the part to a temporary file: in `_trailpack/staging/` on a local
    /// disk, in `TMPDIR` for S3. Returns it with its files' entries, uncommitted.
    pub(crate) fn build_part(
        &mut self,
        partition: &PartitionKey,
        files: &[Pending],
    ) -> Result<BuiltPart, ArchiveError> {
        let mut order: Vec<SortedRow> = Vec::new();
        for (file_index, pending) in files.iter().enumerate() {
            for (record_index, record) in pending.decoded.records.iter().enumerate() {
                order.push((record.event_time, file_index as u32, record_index as u32));
            }
        }
        order.sort_unstable();
        let id = unique_name();
        let name = part_file_name(&id);
        let path = format!("{}/{name}", partition.dir());
        let parquet_error = |error| ArchiveError::Parquet {
            path: path.clone(),
            error,
        };
        let temp = self.root.temp_file(STAGING_DIR)?;
        let file = temp
            .reopen()
            .map_err(|e| trailpack_store::StoreError::io(temp.path(), e))?;
        let sink = CrcWriter {
            inner: std::io::BufWriter::with_capacity(1 << 20, file),
            hasher: crc32fast::Hasher::new(),
            bytes: 0,
        };
        let properties = (*self.properties).clone();
        let mut writer =
            ParallelWriter::try_new(sink, schema(), properties, self.options.row_group_rows)
                .map_err(parquet_error)?;
        let stats = self.encode_rows(files, &order, &mut writer, &path)?;
        let started = Instant::now();
        // The last row group is still open.
        writer.flush().map_err(parquet_error)?;
        let row_groups = writer.row_groups() as u64;
        let sink = writer.into_inner().map_err(parquet_error)?;
        let (crc32, bytes) = (sink.hasher.finalize(), sink.bytes);
        sink.inner
            .into_inner()
            .map_err(|e| trailpack_store::StoreError::io(temp.path(), e.into_error()))?;
        self.report.stages.encode += started.elapsed().as_secs_f64();
        let mut entries = Vec::with_capacity(files.len());
        for (pending, &fallbacks) in files.iter().zip(&stats.fallback_rows_per_file) {
            let records = pending.decoded.records.len() as u64;
            let mut entry =
                archived_entry(&pending.source, &pending.decoded, Some(&name), records)?;
            entry.fallback_records = fallbacks;
            if fallbacks > 0 {
                self.report.fallback_files += 1;
                self.progress.warn(&format!(
                    "{}: {fallbacks} records stored whole (did not rebuild from columns)",
                    pending.source.location
                ));
            }
            entries.push(entry);
        }
        let fallback_rows: u64 = stats.fallback_rows_per_file.iter().sum();
        let info = PartInfo {
            path,
            partition: partition.clone(),
            bytes,
            modification_time: trailpack_table::now_ms(),
            crc32: Some(crc32),
            rows: order.len() as u64,
            row_groups,
            event_time_range: stats.event_time_range,
            rows_without_event_time: stats.rows_without_event_time,
            event_versions: stats.event_versions,
            unknown_paths: stats.unknown_paths.into_iter().collect(),
            fallback_rows,
            files: files.len() as u64,
            raw_bytes: files.iter().map(|p| p.decoded.text.len() as u64).sum(),
            holds: vec![name],
            limits: self.options.decode.clone(),
        };
        self.report.records_out += info.rows;
        self.report.fallback_records += fallback_rows;
        self.report.bytes_out += bytes;
        self.report.parts_written += 1;
        Ok(BuiltPart {
            id,
            info,
            entries,
            temp,
        })
    }

    /// Normalise and prove the rows in `order` in sub-batches on the rayon pool,
    /// while this thread encodes the finished ones in order. A sub-batch is
    /// started as soon as one is written, so no core waits at a wave's end for
    /// the slowest batch (with a barrier per wave, a core sat idle 11-14% of the
    /// time, 8% now); [`SUB_BATCHES_AHEAD`] per thread are built while one is
    /// written.
    /// The writer cuts row groups at `row_group_rows`.
    fn encode_rows<W: Write + Send>(
        &mut self,
        files: &[Pending],
        order: &[SortedRow],
        writer: &mut ParallelWriter<W>,
        path: &str,
    ) -> Result<PartStats, ArchiveError> {
        let mut stats = PartStats {
            fallback_rows_per_file: vec![0; files.len()],
            ..PartStats::default()
        };
        let sub_rows = SUB_BATCH_ROWS.min(self.options.row_group_rows.max(1));
        let ahead = SUB_BATCHES_AHEAD * rayon::current_num_threads();
        let started = Instant::now();
        let written = rayon::in_place_scope(|scope| -> Result<(), ArchiveError> {
            let mut chunks = order.chunks(sub_rows);
            let mut in_flight = VecDeque::with_capacity(ahead);
            let mut spawn_next = |in_flight: &mut VecDeque<_>| {
                if let Some(rows) = chunks.next() {
                    let (sender, receiver) = std::sync::mpsc::sync_channel(1);
                    scope.spawn(move |_| {
                        // The receiver is gone only after an error has ended the loop.
                        let _ = sender.send(build_row_group(files, rows));
                    });
                    in_flight.push_back((rows, receiver));
                }
            };
            for _ in 0..ahead {
                spawn_next(&mut in_flight);
            }
            while let Some((rows, receiver)) = in_flight.pop_front() {
                let group = receiver
                    .recv()
                    .map_err(|_| ArchiveError::Stopped("normaliser"))??;
                spawn_next(&mut in_flight);
                stats.add(rows, &group);
                self.count_duplicates(&group.batch, &group.identities);
                writer
                    .write(&group.batch)
                    .map_err(|error| ArchiveError::Parquet {
                        path: path.to_string(),
                        error,
                    })?;
            }
            Ok(())
        });
        self.report.stages.normalise += started.elapsed().as_secs_f64();
        written?;
        Ok(stats)
    }
}

/// Normalise one row group's records (in sorted order) and prove the batch.
fn build_row_group(files: &[Pending], rows: &[SortedRow]) -> Result<RowGroup, ArchiveError> {
    let mut builder = BatchBuilder::new();
    let mut originals = Vec::with_capacity(rows.len());
    for &(_, file, record) in rows {
        let pending = &files[file as usize];
        let bytes = pending.decoded.record(record as usize);
        let style = Style::from(pending.decoded.records[record as usize].escapes);
        builder
            .append_in_style(bytes, style, &pending.source.key, record)
            .map_err(|error| ArchiveError::Schema {
                context: format!("{} record {record}", pending.source.key),
                error,
            })?;
        originals.push(bytes);
    }
    let unknown = builder.unknown_paths().clone();
    let (batch, fallbacks) =
        builder
            .finish_verified(&originals)
            .map_err(|error| ArchiveError::Schema {
                context: "building a row group".into(),
                error,
            })?;
    Ok(RowGroup {
        identities: event_identities(&batch),
        batch,
        fallbacks,
        unknown,
    })
}

/// The index entry of an archived file (its records in the part `part`), after
/// checking that its frame and its records reassemble into exactly the original
/// bytes.
pub(crate) fn archived_entry(
    file: &SourceFile,
    decoded: &DecodedFile,
    part: Option<&str>,
    records: u64,
) -> Result<IndexEntry, ArchiveError> {
    let frame: Frame = decoded.frame();
    let texts = (0..decoded.records.len()).map(|i| decoded.record(i));
    if !frame.reassembles(texts, decoded.text.as_bytes()) {
        return Err(ArchiveError::Integrity {
            key: file.key.clone(),
            reason: "the file does not reassemble from its frame and records".into(),
        });
    }
    Ok(IndexEntry {
        key: file.key.clone(),
        status: EntryStatus::Archived,
        size: file.size,
        raw_size: Some(decoded.text.len() as u64),
        sha256: Some(decoded.sha256),
        records,
        fallback_records: 0,
        part: part.map(str::to_string),
        frame: Some(frame),
        reason: None,
        signature: None,
        signature_algorithm: None,
        backfill_generation_timestamp: None,
    })
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
