//! [`WriteOptions`]: how parts are cut, encoded and compressed.

use parquet::basic::{Compression, Encoding as ParquetEncoding, ZstdLevel};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;
use trailpack_decode::DecodeOptions;
use trailpack_schema::{SCHEMA_VERSION, SCHEMA_VERSION_PROPERTY};
use trailpack_table::{PartitionKey, Partitioning};

use crate::ArchiveError;

/// Default zstd level for parts.
pub const DEFAULT_ZSTD_LEVEL: i32 = 3;
/// Default rows per row group.
pub const DEFAULT_ROW_GROUP_ROWS: usize = trailpack_schema::DEFAULT_BATCH_ROWS;
/// Default uncompressed record bytes gathered into one part: with CloudTrail's
/// usual 8-15x compression this makes parts of tens of MB, well above the sizes
/// that cold storage tiers and S3 lifecycle rules penalise.
pub const DEFAULT_PART_BYTES: usize = 256 << 20;
/// Default stored bytes read in one parallel wave, which is decoded in units of
/// about a quarter of it. Up to six waves of stored bytes are in flight (one
/// being read, four fetched and waiting, one being decoded), and up to six units
/// of decoded text (one being decoded, four waiting, one being consumed): about
/// one and a half waves, five to fifteen times their stored size (at the
/// benchmark trees' gzip ratios of 5.3 and 6.7, 65-85 MB). 8 MiB keeps that
/// bounded while a wave still holds hundreds of small files.
pub const DEFAULT_WAVE_BYTES: u64 = 8 << 20;
/// Rows per data page at most: small enough that a selective query reads a few
/// pages of a row group through the page index, not whole column chunks.
const DATA_PAGE_ROWS: usize = 4096;
/// Integer columns stored delta-encoded: the sorted event time, and the record
/// index, which mostly climbs in small steps as a file's records interleave with
/// those of the files delivered beside it.
const DELTA_COLUMNS: [&str; 2] = ["eventtime", "_record_index"];
/// Columns of unique IDs, stored without a dictionary, delta-length encoded and
/// compressed at [`UNIQUE_ZSTD_LEVEL`].
const UNIQUE_COLUMNS: [&str; 3] = ["eventid", "requestid", "sharedeventid"];
/// zstd level of the unique IDs, whatever `zstd_level` is. Their hex digits are
/// random: levels 2 to 12 find short matches that cost more than they save, so
/// level 1 is both the fastest and the smallest of them (level 19 saves another
/// 1% at over 70 times the time; docs/BENCHMARKS.md).
const UNIQUE_ZSTD_LEVEL: i32 = 1;
/// Bookkeeping columns whose per-page minimum and maximum prune nothing (record
/// templates and whole texts). With the unique IDs and every JSON-text column they
/// keep chunk statistics and the offset index, not a column index.
const UNPRUNABLE_COLUMNS: [&str; 4] = ["additionalfields", "_layout", "_residual", "_raw"];
/// Columns compressed at [`DENSE_ZSTD_LEVEL`] at least: those where that level
/// saves at least 3 KB per millisecond of CPU it costs over level 3, in
/// trailpack's archive of the benchmark's small tree (docs/BENCHMARKS.md). The
/// other large JSON-text columns, `responseelements` and `additionaleventdata`,
/// save half of that or less: most of their bytes are session tokens, keys and
/// hashes.
const DENSE_COLUMNS: [&str; 3] = ["requestparameters", "resources.list.element.arn", "_layout"];
/// zstd level of [`DENSE_COLUMNS`], unless `zstd_level` is higher.
const DENSE_ZSTD_LEVEL: i32 = 6;
/// Columns with bloom filters: the usual needle lookups of an investigation.
pub const BLOOM_FILTER_COLUMNS: [&str; 4] = [
    "eventid",
    "useridentity.accesskeyid",
    "useridentity.arn",
    "sourceipaddress",
];

/// How to write an archive.
#[derive(Debug, Clone)]
pub struct WriteOptions {
    /// Time level of partitions (by delivery time) of a new archive; an existing
    /// archive keeps its own, and a different one here is an error.
    pub partitioning: Option<Partitioning>,
    /// zstd level, 1 to 22, of every column but those with a level of their own:
    /// the unique IDs, and three dense columns (FORMAT.md §4.2).
    pub zstd_level: i32,
    /// Rows per row group.
    pub row_group_rows: usize,
    /// Uncompressed record bytes gathered into one part before it is written.
    pub part_bytes: usize,
    /// Stored bytes read in one parallel wave (decoded in quarters).
    pub wave_bytes: u64,
    /// Limits for decoding.
    pub decode: DecodeOptions,
    /// Only this shard's partitions (for array jobs); all when `None`.
    pub shard: Option<Shard>,
}

impl Default for WriteOptions {
    fn default() -> Self {
        WriteOptions {
            partitioning: None,
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
    /// Options with the given partitioning (for a new archive) and zstd level,
    /// checked.
    pub fn try_new(
        partitioning: Option<Partitioning>,
        zstd_level: i32,
    ) -> Result<Self, ArchiveError> {
        if !(1..=22).contains(&zstd_level) || ZstdLevel::try_new(zstd_level).is_err() {
            return Err(ArchiveError::Options(format!(
                "zstd level {zstd_level} is outside 1..=22"
            )));
        }
        Ok(WriteOptions {
            partitioning,
            zstd_level,
            ..WriteOptions::default()
        })
    }

    /// The Parquet writer settings of parts (FORMAT.md §4.2).
    pub fn writer_properties(&self) -> Result<WriterProperties, ArchiveError> {
        let level = |level: i32| {
            ZstdLevel::try_new(level)
                .map_err(|_| ArchiveError::Options(format!("zstd level {level} is outside 1..=22")))
        };
        let mut builder = WriterProperties::builder()
            .set_compression(Compression::ZSTD(level(self.zstd_level)?))
            .set_statistics_enabled(EnabledStatistics::Page)
            .set_max_row_group_row_count(Some(self.row_group_rows.max(1)))
            .set_data_page_row_count_limit(DATA_PAGE_ROWS)
            .set_created_by(format!("trailpack {}", env!("CARGO_PKG_VERSION")))
            .set_key_value_metadata(Some(vec![KeyValue::new(
                SCHEMA_VERSION_PROPERTY.to_string(),
                SCHEMA_VERSION.to_string(),
            )]));
        // Rows are sorted by event time, so these columns' deltas are small: delta
        // encoding stores them in a few bits where dictionary or plain encoding
        // takes 4-8 bytes a row.
        for column in DELTA_COLUMNS {
            builder = builder
                .set_column_dictionary_enabled(column_path(column), false)
                .set_column_encoding(column_path(column), ParquetEncoding::DELTA_BINARY_PACKED);
        }
        // Unique IDs never repeat: building a dictionary for them is wasted work.
        // Delta-length encoding stores their lengths apart from their bytes, which
        // leaves zstd a stream of hex digits (about 3 bytes a row smaller than plain
        // encoding's interleaved 4-byte lengths; docs/BENCHMARKS.md).
        let unique_level = level(UNIQUE_ZSTD_LEVEL)?;
        for column in UNIQUE_COLUMNS {
            builder = builder
                .set_column_dictionary_enabled(column_path(column), false)
                .set_column_encoding(
                    column_path(column),
                    ParquetEncoding::DELTA_LENGTH_BYTE_ARRAY,
                )
                .set_column_compression(column_path(column), Compression::ZSTD(unique_level));
        }
        let json_text = trailpack_schema::fields::json_text_columns();
        for column in UNIQUE_COLUMNS
            .into_iter()
            .chain(UNPRUNABLE_COLUMNS)
            .chain(json_text.iter().map(String::as_str))
        {
            builder = builder
                .set_column_statistics_enabled(column_path(column), EnabledStatistics::Chunk);
        }
        let dense_level = level(self.zstd_level.max(DENSE_ZSTD_LEVEL))?;
        for column in DENSE_COLUMNS {
            builder =
                builder.set_column_compression(column_path(column), Compression::ZSTD(dense_level));
        }
        for column in BLOOM_FILTER_COLUMNS {
            builder = builder
                .set_column_bloom_filter_enabled(column_path(column), true)
                .set_column_bloom_filter_max_ndv(column_path(column), self.row_group_rows as u64);
        }
        Ok(builder.build())
    }
}

/// The Parquet path of a leaf column named with dots.
fn column_path(column: &str) -> ColumnPath {
    ColumnPath::from(column.split('.').map(String::from).collect::<Vec<_>>())
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

#[cfg(test)]
mod tests {
    use super::*;
    use trailpack_source::UtcTime;

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

    #[test]
    fn zstd_levels_are_checked() {
        assert!(WriteOptions::try_new(None, 0).is_err());
        assert!(WriteOptions::try_new(Some(Partitioning::Day), 22).is_ok());
        assert!(WriteOptions::default().writer_properties().is_ok());
    }

    #[test]
    fn every_column_the_settings_name_is_a_leaf_of_the_parts() {
        let parquet = parquet::arrow::ArrowSchemaConverter::new()
            .convert(&trailpack_schema::schema())
            .unwrap();
        let leaves: Vec<String> = parquet
            .columns()
            .iter()
            .map(|leaf| leaf.path().string())
            .collect();
        for column in DELTA_COLUMNS
            .iter()
            .chain(&UNIQUE_COLUMNS)
            .chain(&UNPRUNABLE_COLUMNS)
            .chain(&DENSE_COLUMNS)
            .chain(&BLOOM_FILTER_COLUMNS)
        {
            assert!(leaves.contains(&column.to_string()), "{column} is no leaf");
        }
    }

    #[test]
    fn columns_are_compressed_at_their_measured_levels() {
        let zstd = |level| Compression::ZSTD(ZstdLevel::try_new(level).unwrap());
        for (options, unique, dense, other) in [
            (WriteOptions::default(), 1, 6, 3),
            (WriteOptions::try_new(None, 9).unwrap(), 1, 9, 9),
        ] {
            let properties = options.writer_properties().unwrap();
            let level_of = |column| properties.compression(&column_path(column));
            for column in ["eventid", "requestid", "sharedeventid"] {
                assert_eq!(level_of(column), zstd(unique), "{column}");
            }
            for column in ["requestparameters", "resources.list.element.arn", "_layout"] {
                assert_eq!(level_of(column), zstd(dense), "{column}");
            }
            for column in [
                "responseelements",
                "additionaleventdata",
                "eventtime",
                "useridentity.arn",
            ] {
                assert_eq!(level_of(column), zstd(other), "{column}");
            }
        }
    }
}
