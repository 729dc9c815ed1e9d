//! Reading an archive's parts back: whole or by byte ranges, checked against the
//! table, and rebuilt into the original files.
//!
//! This crate owns the way from a committed part to bytes: [`PartReader`] (a local
//! file, an object fetched whole, or an object on S3 read by byte ranges that a
//! query prefetches step by step), [`read_checked_part`] (size, CRC-32, footer and
//! rows against the table), [`records_from`] (rows rebuilt to their exact record
//! bytes, by source key), [`assemble_checked`] (a file from its records and frame,
//! against its SHA-256), and [`rebuild_files`], the one helper that restore,
//! verify, delete-after-verify and compaction share.
//!
//! ```no_run
//! use trailpack_parts::rebuild_files;
//! use trailpack_store::ArchiveRoot;
//! use trailpack_table::{Table, index::load_partition};
//!
//! let root = ArchiveRoot::from(std::path::Path::new("archive"));
//! let table = Table::open(&root).unwrap();
//! let part = table.snapshot().part_infos().next().unwrap();
//! let index = load_partition(&root, &part.partition).unwrap();
//! let files: Vec<_> = index
//!     .values()
//!     .filter(|e| e.part.as_ref().is_some_and(|name| part.holds.contains(name)))
//!     .collect();
//! for (entry, bytes) in rebuild_files(&root, part, &files) {
//!     println!("{}: {} bytes", entry.key, bytes.unwrap().len());
//! }
//! ```

use std::collections::HashMap;
use std::fs::File;
use std::io::Read;
use std::ops::Range;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use arrow_array::cast::AsArray;
use arrow_array::types::{Int32Type, UInt32Type};
use arrow_array::{Array, RecordBatch, StringArray};
use bytes::{Buf, Bytes};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::file::reader::{ChunkReader, FileReader, Length, SerializedFileReader};
use trailpack_decode::sha256;
use trailpack_schema::Rebuilder;
use trailpack_schema::fields::{RECORD_INDEX, SOURCE_KEY};
use trailpack_store::{ArchiveRoot, S3Bucket, StoreError};
use trailpack_table::{IndexEntry, PartInfo};

/// Errors of reading parts.
#[derive(Debug, thiserror::Error)]
pub enum PartError {
    /// Reading the store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A part could not be read as Parquet.
    #[error("{path}: {error}")]
    Parquet {
        /// The part.
        path: String,
        /// The underlying error.
        #[source]
        error: parquet::errors::ParquetError,
    },
    /// Rows could not be rebuilt.
    #[error("{context}: {error}")]
    Schema {
        /// Where.
        context: String,
        /// The underlying error.
        #[source]
        error: trailpack_schema::SchemaError,
    },
}

/// Rows per batch when reading parts whole.
const READ_BATCH_ROWS: usize = 64 * 1024;
/// Bytes at the end of a part on S3 fetched when it is opened: its footer, in one
/// request, for the parts this project writes.
const FOOTER_PREFETCH: u64 = 256 << 10;
/// The least a read that missed the fetched ranges fetches.
const MIN_FETCH: u64 = 64 << 10;

/// A part open for reading.
#[derive(Debug)]
pub enum PartReader {
    /// A local file.
    File(File),
    /// An object's bytes.
    Fetched(Bytes),
    /// An object on S3, read by byte ranges.
    Remote(Arc<RemotePart>),
}

/// Open a part for reading whole: the file itself, or on S3 the whole object,
/// fetched once.
pub fn open_part(root: &ArchiveRoot, relative: &str) -> Result<PartReader, StoreError> {
    match root.local() {
        Some(dir) => {
            let path = dir.join(relative);
            File::open(&path)
                .map(PartReader::File)
                .map_err(|e| StoreError::io(&path, e))
        }
        None => match root.read(relative)? {
            Some(bytes) => Ok(PartReader::Fetched(bytes)),
            None => Err(StoreError::io(
                root.locate(relative),
                std::io::Error::new(std::io::ErrorKind::NotFound, "no such object"),
            )),
        },
    }
}

/// Open a part of `len` bytes for a query: the file itself, or on S3 a reader by
/// byte ranges whose footer is fetched at once.
pub fn open_part_ranged(
    root: &ArchiveRoot,
    relative: &str,
    len: u64,
) -> Result<PartReader, PartError> {
    let Some((bucket, key)) = root.object(relative) else {
        return Ok(open_part(root, relative)?);
    };
    let part = PartReader::Remote(Arc::new(RemotePart {
        bucket: Arc::clone(bucket),
        key,
        len,
        fetched: Mutex::new(Vec::new()),
        bytes_fetched: AtomicU64::new(0),
    }));
    part.prefetch(std::iter::once(len.saturating_sub(FOOTER_PREFETCH)..len))
        .map_err(|error| PartError::Parquet {
            path: root.locate(relative).display().to_string(),
            error,
        })?;
    Ok(part)
}

/// A part on S3 read by byte ranges. A query fetches the ranges it is about to read
/// together ([`PartReader::prefetch`]: the footer, bloom filters, filter columns,
/// then the pages of matching rows), concurrently and coalesced; anything else the
/// Parquet reader asks for is fetched on demand, at least [`MIN_FETCH`] at a time.
#[derive(Debug)]
pub struct RemotePart {
    bucket: Arc<S3Bucket>,
    key: String,
    len: u64,
    /// Fetched ranges: start, bytes, and whether they hold whole Parquet structures
    /// (chunks, pages, bloom filters, the page index, the file's end) rather than
    /// a window that a page header may cross the end of.
    fetched: Mutex<Vec<(u64, Bytes, bool)>>,
    bytes_fetched: AtomicU64,
}

impl RemotePart {
    /// The fetched bytes that hold `start..start + length`, if any.
    fn cached(&self, start: u64, length: u64) -> Option<Bytes> {
        let fetched = self.fetched.lock().ok()?;
        fetched.iter().find_map(|(from, bytes, _)| {
            let end = from + bytes.len() as u64;
            (*from <= start && start.checked_add(length)? <= end)
                .then(|| bytes.slice((start - from) as usize..(start - from + length) as usize))
        })
    }

    /// The fetched bytes from `start` on that a reader of unknown length (a page
    /// header) may use: the rest of a whole structure, of the file, or at least
    /// half of [`MIN_FETCH`] of a window.
    fn readable_from(&self, start: u64) -> Option<Bytes> {
        let fetched = self.fetched.lock().ok()?;
        fetched.iter().find_map(|(from, bytes, whole)| {
            let end = from + bytes.len() as u64;
            let usable = *whole || end == self.len || end.saturating_sub(start) >= MIN_FETCH / 2;
            (*from <= start && start < end && usable)
                .then(|| bytes.slice((start - from) as usize..))
        })
    }

    /// Fetch `ranges` that are not fetched yet; `whole` says what they hold (see
    /// [`RemotePart::fetched`]).
    fn fetch(
        &self,
        ranges: impl IntoIterator<Item = Range<u64>>,
        whole: bool,
    ) -> parquet::errors::Result<()> {
        let missing: Vec<Range<u64>> = ranges
            .into_iter()
            .map(|r| r.start.min(self.len)..r.end.min(self.len))
            .filter(|r| !r.is_empty() && self.cached(r.start, r.end - r.start).is_none())
            .collect();
        let bytes = self
            .bucket
            .get_ranges(&self.key, &missing)
            .map_err(|e| parquet::errors::ParquetError::External(Box::new(e)))?;
        let mut fetched = self
            .fetched
            .lock()
            .map_err(|_| parquet::errors::ParquetError::General("a reader panicked".into()))?;
        for (range, bytes) in missing.into_iter().zip(bytes) {
            self.bytes_fetched
                .fetch_add(bytes.len() as u64, Ordering::Relaxed);
            fetched.push((range.start, bytes, whole));
        }
        Ok(())
    }

    fn get_bytes(&self, start: u64, length: usize) -> parquet::errors::Result<Bytes> {
        let length = length as u64;
        if start.saturating_add(length) > self.len {
            return Err(parquet::errors::ParquetError::EOF(format!(
                "{}: {length} bytes at {start} are past the end ({} bytes)",
                self.key, self.len
            )));
        }
        if let Some(bytes) = self.cached(start, length) {
            return Ok(bytes);
        }
        self.fetch(std::iter::once(start..start + length.max(MIN_FETCH)), false)?;
        self.cached(start, length).ok_or_else(|| {
            parquet::errors::ParquetError::General(format!("{}: short range read", self.key))
        })
    }
}

impl PartReader {
    /// Another reader of the same part.
    pub fn try_clone(&self) -> std::io::Result<PartReader> {
        Ok(match self {
            PartReader::File(file) => PartReader::File(file.try_clone()?),
            PartReader::Fetched(bytes) => PartReader::Fetched(bytes.clone()),
            PartReader::Remote(part) => PartReader::Remote(Arc::clone(part)),
        })
    }

    /// Fetch `ranges` ahead of reading them, together: only a part on S3 needs it.
    pub fn prefetch(
        &self,
        ranges: impl IntoIterator<Item = Range<u64>>,
    ) -> parquet::errors::Result<()> {
        match self {
            PartReader::Remote(part) => part.fetch(ranges, true),
            PartReader::File(_) | PartReader::Fetched(_) => Ok(()),
        }
    }

    /// Bytes fetched from S3 so far (0 for other parts).
    pub fn bytes_fetched(&self) -> u64 {
        match self {
            PartReader::Remote(part) => part.bytes_fetched.load(Ordering::Relaxed),
            PartReader::File(_) | PartReader::Fetched(_) => 0,
        }
    }
}

impl Length for PartReader {
    fn len(&self) -> u64 {
        match self {
            PartReader::File(file) => Length::len(file),
            PartReader::Fetched(bytes) => bytes.len() as u64,
            PartReader::Remote(part) => part.len,
        }
    }
}

impl ChunkReader for PartReader {
    type T = Box<dyn Read + Send>;

    fn get_read(&self, start: u64) -> parquet::errors::Result<Self::T> {
        Ok(match self {
            PartReader::File(file) => Box::new(file.get_read(start)?),
            PartReader::Fetched(bytes) => Box::new(bytes.get_read(start)?),
            // Page headers and the footer's length are read this way; a reader over
            // the rest of the file is never needed whole.
            PartReader::Remote(part) => {
                if part.readable_from(start).is_none() {
                    let end = part.len.min(start.saturating_add(MIN_FETCH));
                    part.fetch(std::iter::once(start..end), false)?;
                }
                let bytes = part.readable_from(start).ok_or_else(|| {
                    parquet::errors::ParquetError::EOF(format!(
                        "{}: nothing to read at {start} of {} bytes",
                        part.key, part.len
                    ))
                })?;
                Box::new(bytes.reader())
            }
        })
    }

    fn get_bytes(&self, start: u64, length: usize) -> parquet::errors::Result<Bytes> {
        match self {
            PartReader::File(file) => file.get_bytes(start, length),
            PartReader::Fetched(bytes) => bytes.get_bytes(start, length),
            PartReader::Remote(part) => part.get_bytes(start, length),
        }
    }
}

/// Read a part whole and check it against the table: size, CRC-32 (when the table
/// records one), Parquet footer and row count. The error is one line saying what
/// is wrong.
pub fn read_checked_part(root: &ArchiveRoot, part: &PartInfo) -> Result<Bytes, String> {
    let bytes = match root.read(&part.path) {
        Ok(Some(bytes)) => bytes,
        Ok(None) => return Err("missing (named by the table)".into()),
        Err(e) => return Err(format!("cannot read: {e}")),
    };
    if bytes.len() as u64 != part.bytes {
        return Err(format!(
            "{} bytes, the table says {}",
            bytes.len(),
            part.bytes
        ));
    }
    let crc = crc32fast::hash(&bytes);
    if part.crc32.is_some_and(|expected| expected != crc) {
        return Err(format!(
            "CRC-32 {crc:08x}, the table says {:08x}",
            part.crc32.unwrap_or_default()
        ));
    }
    let rows = SerializedFileReader::new(bytes.clone())
        .map_err(|e| format!("not readable as Parquet: {e}"))?
        .metadata()
        .file_metadata()
        .num_rows();
    if u64::try_from(rows).ok() != Some(part.rows) {
        return Err(format!("{rows} rows, the table says {}", part.rows));
    }
    Ok(bytes)
}

/// Rebuilt records by source key: (index in the file, exact bytes), unordered.
pub type RecordsByKey = HashMap<String, Vec<(u32, Vec<u8>)>>;

/// Rebuild the records of the given keys from a part's bytes (`path` names it in
/// errors).
pub fn records_from<'k, R: ChunkReader + 'static>(
    part: R,
    path: &Path,
    keys: impl Iterator<Item = &'k str>,
) -> Result<RecordsByKey, PartError> {
    let name = path.display().to_string();
    let parquet_error = |error| PartError::Parquet {
        path: name.clone(),
        error,
    };
    let mut wanted: RecordsByKey = keys.map(|k| (k.to_string(), Vec::new())).collect();
    let reader = ParquetRecordBatchReaderBuilder::try_new(part)
        .map_err(parquet_error)?
        .with_batch_size(READ_BATCH_ROWS)
        .build()
        .map_err(parquet_error)?;
    let schema_error = |error| PartError::Schema {
        context: name.clone(),
        error,
    };
    for batch in reader {
        let batch = batch.map_err(|e| parquet_error(e.into()))?;
        let origin = RecordOrigin::of(&batch, path)?;
        let mut rebuilder = Rebuilder::try_new(&batch).map_err(schema_error)?;
        for row in 0..batch.num_rows() {
            let Some(records) = origin.key(row).and_then(|key| wanted.get_mut(key)) else {
                continue;
            };
            let mut bytes = Vec::new();
            rebuilder.rebuild(row, &mut bytes).map_err(schema_error)?;
            records.push((origin.index(row), bytes));
        }
    }
    Ok(wanted)
}

/// A batch's `_source_key` and `_record_index` columns: where each row came from.
/// The index is an `int32` (a `uint32` in parts of the first format).
pub struct RecordOrigin<'b> {
    keys: &'b StringArray,
    indexes: &'b dyn Array,
}

impl<'b> RecordOrigin<'b> {
    /// The columns of `batch` (`path` names the part in errors).
    pub fn of(batch: &'b RecordBatch, path: &Path) -> Result<RecordOrigin<'b>, PartError> {
        let missing = |name: &str| PartError::Schema {
            context: path.display().to_string(),
            error: trailpack_schema::SchemaError::Column {
                column: name.to_string(),
                reason: "missing or of an unexpected type",
            },
        };
        let keys = batch
            .column_by_name(SOURCE_KEY)
            .and_then(|c| c.as_string_opt::<i32>())
            .ok_or_else(|| missing(SOURCE_KEY))?;
        let indexes = batch
            .column_by_name(RECORD_INDEX)
            .filter(|c| {
                c.as_primitive_opt::<Int32Type>().is_some()
                    || c.as_primitive_opt::<UInt32Type>().is_some()
            })
            .ok_or_else(|| missing(RECORD_INDEX))?;
        Ok(RecordOrigin {
            keys,
            indexes: indexes.as_ref(),
        })
    }

    /// The source key of `row`.
    pub fn key(&self, row: usize) -> Option<&'b str> {
        self.keys.is_valid(row).then(|| self.keys.value(row))
    }

    /// The record index of `row` (a negative index reads as `u32::MAX`, which no
    /// file's records reach, so the file does not assemble).
    pub fn index(&self, row: usize) -> u32 {
        if let Some(signed) = self.indexes.as_primitive_opt::<Int32Type>() {
            return u32::try_from(signed.value(row)).unwrap_or(u32::MAX);
        }
        self.indexes
            .as_primitive_opt::<UInt32Type>()
            .map_or(u32::MAX, |unsigned| unsigned.value(row))
    }
}

/// Assemble one archived file from its rebuilt records (any order), checking that
/// every record is there once and that the bytes have the SHA-256 and size the
/// index recorded.
pub fn assemble_checked(
    entry: &IndexEntry,
    records: &mut [(u32, Vec<u8>)],
) -> Result<Vec<u8>, String> {
    let bytes = assemble(entry, records)?;
    check_bytes(entry, &bytes)?;
    Ok(bytes)
}

/// Assemble one archived file from its rebuilt records (any order) and its frame,
/// checking that every record is there once.
pub fn assemble(entry: &IndexEntry, records: &mut [(u32, Vec<u8>)]) -> Result<Vec<u8>, String> {
    records.sort_by_key(|(index, _)| *index);
    let in_order = records
        .iter()
        .enumerate()
        .all(|(i, (index, _))| *index as usize == i);
    if records.len() as u64 != entry.records || !in_order {
        return Err(format!(
            "the archive holds {} of its {} records",
            records.len(),
            entry.records
        ));
    }
    let frame = entry.frame.as_ref().ok_or("no frame in the index")?;
    let mut bytes = Vec::new();
    frame.assemble(records.iter().map(|(_, r)| r.as_slice()), &mut bytes);
    Ok(bytes)
}

/// Whether `bytes` have the SHA-256 and size the index recorded for `entry`.
pub fn check_bytes(entry: &IndexEntry, bytes: &[u8]) -> Result<(), String> {
    let actual = sha256(bytes);
    if entry.sha256 != Some(actual) {
        return Err(format!(
            "rebuilt SHA-256 {} does not match the index's {}",
            hex(&actual),
            entry.sha256.map_or("(none)".into(), |h| hex(&h))
        ));
    }
    if entry
        .raw_size
        .is_some_and(|size| size != bytes.len() as u64)
    {
        return Err(format!(
            "rebuilt {} bytes, the index says {}",
            bytes.len(),
            entry.raw_size.unwrap_or_default()
        ));
    }
    Ok(())
}

/// One file of a part, rebuilt: its entry and its original bytes, or why not.
pub type RebuiltFile<'e> = (&'e IndexEntry, Result<Vec<u8>, String>);

/// Rebuild the files `entries` held by `part`: the part is read once and checked
/// against the table (size, CRC-32, footer, rows), then each file is assembled
/// from its rows and frame and checked against its SHA-256. A part that fails its
/// checks fails every file with the same reason.
pub fn rebuild_files<'e>(
    root: &ArchiveRoot,
    part: &PartInfo,
    entries: &[&'e IndexEntry],
) -> Vec<RebuiltFile<'e>> {
    let failed = |reason: String| {
        entries
            .iter()
            .map(|entry| (*entry, Err(reason.clone())))
            .collect()
    };
    let bytes = match read_checked_part(root, part) {
        Ok(bytes) => bytes,
        Err(problem) => return failed(format!("part {}: {problem}", part.path)),
    };
    let path = root.locate(&part.path);
    let mut records = match records_from(bytes, &path, entries.iter().map(|e| e.key.as_str())) {
        Ok(records) => records,
        Err(e) => return failed(format!("part {}: rows do not rebuild: {e}", part.path)),
    };
    entries
        .iter()
        .map(|entry| {
            let mut rows = records.remove(entry.key.as_str()).unwrap_or_default();
            (*entry, assemble_checked(entry, &mut rows))
        })
        .collect()
}

/// A stored digest's uncompressed bytes (its stored bytes when it does not
/// gunzip), checked against its index entry: present, size, SHA-256. The inner
/// error says what is wrong.
pub fn read_checked_digest(
    root: &ArchiveRoot,
    entry: &IndexEntry,
) -> Result<Result<Vec<u8>, String>, StoreError> {
    let Some(path) = entry.stored_path() else {
        return Ok(Err("not a stored file".into()));
    };
    let Some(stored) = root.read(&path)? else {
        return Ok(Err("stored bytes missing".into()));
    };
    if stored.len() as u64 != entry.size {
        return Ok(Err(format!(
            "{} bytes stored, the index says {}",
            stored.len(),
            entry.size
        )));
    }
    let bytes = if entry.key.ends_with(".gz") {
        trailpack_decode::gunzip(&stored, trailpack_decode::DEFAULT_MAX_FILE_BYTES).ok()
    } else {
        Some(stored.to_vec())
    };
    if bytes.as_deref().map(sha256) != entry.sha256 {
        return Ok(Err("SHA-256 does not match the index".into()));
    }
    // A digest that does not gunzip is kept as it came; its chain check says so.
    Ok(Ok(bytes.unwrap_or_else(|| stored.to_vec())))
}

/// Lowercase hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use trailpack_store::S3Options;

    #[test]
    fn remote_parts_serve_reads_from_fetched_ranges() {
        let options = S3Options {
            endpoint: Some("http://127.0.0.1:9".into()),
            unsigned: true,
            ..S3Options::default()
        };
        let root = ArchiveRoot::open("s3://b/p", &options).unwrap();
        let (bucket, key) = root.object("part.parquet").unwrap();
        let bytes =
            |from: u64, to: u64| Bytes::from((from..to).map(|i| i as u8).collect::<Vec<_>>());
        let part = RemotePart {
            bucket: Arc::clone(bucket),
            key,
            len: 100_000,
            fetched: Mutex::new(vec![
                // A whole column chunk, a short window, and the file's end.
                (100, bytes(100, 300), true),
                (500, bytes(500, 540), false),
                (99_960, bytes(99_960, 100_000), false),
            ]),
            bytes_fetched: AtomicU64::new(0),
        };
        assert_eq!(part.cached(150, 50).unwrap(), bytes(150, 200));
        assert!(part.cached(250, 100).is_none());
        // A page header may be read from anywhere in a whole structure, or at the
        // end of the file, but not near the end of a window.
        assert_eq!(part.readable_from(250).unwrap(), bytes(250, 300));
        assert!(part.readable_from(510).is_none());
        assert_eq!(part.readable_from(99_990).unwrap(), bytes(99_990, 100_000));
        assert!(part.readable_from(300).is_none());
        // Past the end is an error without a request.
        assert!(part.get_bytes(99_990, 20).is_err());
        assert!(part.get_bytes(u64::MAX - 1, 20).is_err());
        assert_eq!(part.get_bytes(120, 10).unwrap(), bytes(120, 130));
        assert_eq!(part.bytes_fetched.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn part_readers_read_the_same_bytes_from_files_and_memory() {
        let dir = tempfile::tempdir().unwrap();
        let root = ArchiveRoot::from(dir.path());
        root.write("p/part.parquet", b"0123456789").unwrap();
        let file = open_part(&root, "p/part.parquet").unwrap();
        let fetched = PartReader::Fetched(Bytes::from_static(b"0123456789"));
        for reader in [file.try_clone().unwrap(), fetched] {
            assert_eq!(Length::len(&reader), 10);
            assert_eq!(reader.get_bytes(2, 3).unwrap(), &b"234"[..]);
            let mut rest = String::new();
            reader
                .get_read(7)
                .unwrap()
                .read_to_string(&mut rest)
                .unwrap();
            assert_eq!(rest, "789");
        }
        let missing = open_part(&root, "p/none.parquet").unwrap_err().to_string();
        assert!(missing.contains("none.parquet"), "{missing}");
    }
}
