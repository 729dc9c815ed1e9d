//! Delta checkpoints: the table's state at one version in one Parquet file, so that
//! a reader loads the checkpoint and the commits after it, not the whole log.
//!
//! A checkpoint has one row per action (`protocol`, `metaData`, every live `add`,
//! and the `remove`s of the last [`TOMBSTONE_RETENTION_MS`] that VACUUM reads),
//! each in its own struct column, as PROTOCOL.md's classic checkpoint. The rows
//! are the actions' JSON, converted by `arrow-json` both ways, so that a
//! checkpoint holds exactly what the commits held.

use std::sync::Arc;

use arrow_schema::{DataType, Field, Fields, Schema, SchemaRef};
use bytes::Bytes;
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use serde::{Deserialize, Serialize};
use trailpack_store::ArchiveRoot;

use crate::TableError;
use crate::delta::{Action, decode_commit, encode_commit};
use crate::layout::DELTA_LOG;
use crate::log::{Snapshot, now_ms};

/// How long removed parts stay in checkpoints: Delta's default
/// `delta.deletedFileRetentionDuration`, one week.
pub const TOMBSTONE_RETENTION_MS: i64 = 7 * 24 * 3600 * 1000;
/// The hint that names the last checkpoint.
const HINT: &str = "_delta_log/_last_checkpoint";

/// `_delta_log/_last_checkpoint`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckpointHint {
    /// The checkpoint's version.
    pub version: i64,
    /// Its rows (actions).
    pub size: i64,
}

impl CheckpointHint {
    /// The hint, when there is one that parses (a damaged hint is only slower).
    pub fn read(root: &ArchiveRoot) -> Result<Option<CheckpointHint>, TableError> {
        Ok(root
            .read(HINT)?
            .and_then(|bytes| serde_json::from_slice(&bytes).ok()))
    }
}

fn map_type() -> DataType {
    let entries = Field::new(
        "key_value",
        DataType::Struct(Fields::from(vec![
            Field::new("key", DataType::Utf8, false),
            Field::new("value", DataType::Utf8, true),
        ])),
        false,
    );
    DataType::Map(Arc::new(entries), false)
}

/// The checkpoint schema of the actions trailpack writes.
fn checkpoint_schema() -> SchemaRef {
    let text = |name, nullable| Field::new(name, DataType::Utf8, nullable);
    let long = |name, nullable| Field::new(name, DataType::Int64, nullable);
    let map = |name, nullable| Field::new(name, map_type(), nullable);
    let flag = |name, nullable| Field::new(name, DataType::Boolean, nullable);
    let structure =
        |name, fields: Vec<Field>| Field::new(name, DataType::Struct(Fields::from(fields)), true);
    Arc::new(Schema::new(vec![
        structure(
            "protocol",
            vec![
                Field::new("minReaderVersion", DataType::Int32, false),
                Field::new("minWriterVersion", DataType::Int32, false),
            ],
        ),
        structure(
            "metaData",
            vec![
                text("id", false),
                text("name", true),
                text("description", true),
                Field::new(
                    "format",
                    DataType::Struct(Fields::from(vec![
                        text("provider", false),
                        map("options", false),
                    ])),
                    false,
                ),
                text("schemaString", false),
                Field::new_list(
                    "partitionColumns",
                    Field::new("element", DataType::Utf8, false),
                    false,
                ),
                map("configuration", false),
                long("createdTime", true),
            ],
        ),
        structure(
            "add",
            vec![
                text("path", false),
                map("partitionValues", false),
                long("size", false),
                long("modificationTime", false),
                flag("dataChange", false),
                text("stats", true),
                map("tags", true),
            ],
        ),
        structure(
            "remove",
            vec![
                text("path", false),
                long("deletionTimestamp", true),
                flag("dataChange", false),
                flag("extendedFileMetadata", true),
                map("partitionValues", true),
                long("size", true),
            ],
        ),
    ]))
}

/// Write the checkpoint of `snapshot` and point the hint at it.
pub fn write_checkpoint(root: &ArchiveRoot, snapshot: &Snapshot) -> Result<(), TableError> {
    let path = format!("{DELTA_LOG}/{:020}.checkpoint.parquet", snapshot.version);
    let oldest = now_ms() - TOMBSTONE_RETENTION_MS;
    let mut actions = vec![
        Action::Protocol(snapshot.protocol.clone()),
        Action::Metadata(snapshot.metadata.clone()),
    ];
    actions.extend(
        snapshot
            .parts
            .values()
            .map(|(add, _)| Action::Add(add.clone())),
    );
    actions.extend(
        snapshot
            .tombstones
            .values()
            .filter(|r| r.deletion_timestamp.unwrap_or(i64::MAX) >= oldest)
            .map(|r| Action::Remove(r.clone())),
    );
    let bytes = encode_checkpoint(&actions).map_err(|reason| TableError::Corrupt {
        path: path.clone(),
        reason,
    })?;
    root.write(&path, &bytes)?;
    let newer = CheckpointHint::read(root)?.is_some_and(|hint| hint.version > snapshot.version);
    if !newer {
        let hint = CheckpointHint {
            version: snapshot.version,
            size: actions.len() as i64,
        };
        root.write(HINT, &serde_json::to_vec(&hint).unwrap_or_default())?;
    }
    Ok(())
}

/// The Parquet bytes of a checkpoint of `actions`.
fn encode_checkpoint(actions: &[Action]) -> Result<Vec<u8>, String> {
    let schema = checkpoint_schema();
    let mut decoder = arrow_json::ReaderBuilder::new(Arc::clone(&schema))
        .with_batch_size(actions.len().max(1))
        .build_decoder()
        .map_err(|e| e.to_string())?;
    decoder
        .decode(&encode_commit(actions))
        .map_err(|e| e.to_string())?;
    let properties = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .set_created_by(format!("trailpack {}", env!("CARGO_PKG_VERSION")))
        .build();
    let mut writer =
        ArrowWriter::try_new(Vec::new(), schema, Some(properties)).map_err(|e| e.to_string())?;
    if let Some(batch) = decoder.flush().map_err(|e| e.to_string())? {
        writer.write(&batch).map_err(|e| e.to_string())?;
    }
    writer.into_inner().map_err(|e| e.to_string())
}

/// The actions in a checkpoint's bytes (`path` names it in errors). Columns of
/// actions this code does not use (written by other engines) are read and ignored.
pub fn read_checkpoint(bytes: Bytes, path: &str) -> Result<Vec<Action>, TableError> {
    let parquet_error = |error| TableError::Parquet {
        path: path.to_string(),
        error,
    };
    let reader = ParquetRecordBatchReaderBuilder::try_new(bytes)
        .map_err(parquet_error)?
        .build()
        .map_err(parquet_error)?;
    let mut lines = Vec::new();
    for batch in reader {
        let batch = batch.map_err(|e| parquet_error(e.into()))?;
        // Null map values must stay (a null partition value), so nulls are written.
        let mut writer = arrow_json::WriterBuilder::new()
            .with_explicit_nulls(true)
            .build::<_, arrow_json::writer::LineDelimited>(&mut lines);
        writer.write(&batch).map_err(|e| parquet_error(e.into()))?;
        writer.finish().map_err(|e| parquet_error(e.into()))?;
    }
    decode_commit(&lines).map_err(|reason| TableError::Corrupt {
        path: path.to_string(),
        reason,
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::delta::{Add, Format, Metadata, Protocol, Remove};

    #[test]
    fn checkpoints_hold_exactly_the_actions_they_were_given() {
        let add = Add {
            path: "account=1/region=r/year=2021/part-a.parquet".into(),
            partition_values: BTreeMap::from([
                ("account".into(), Some("1".into())),
                ("year".into(), None),
            ]),
            size: 10,
            modification_time: 5,
            data_change: true,
            stats: Some("{\"numRecords\":1}".into()),
            tags: Some(BTreeMap::from([(
                "trailpack.crc32".into(),
                Some("7".into()),
            )])),
        };
        let actions = vec![
            Action::Protocol(Protocol {
                min_reader_version: 1,
                min_writer_version: 2,
                reader_features: None,
                writer_features: None,
            }),
            Action::Metadata(Metadata {
                id: "id".into(),
                name: None,
                description: Some("d".into()),
                format: Format {
                    provider: "parquet".into(),
                    options: BTreeMap::new(),
                },
                schema_string: "{}".into(),
                partition_columns: vec!["account".into(), "year".into()],
                configuration: BTreeMap::from([("trailpack.format".into(), "2".into())]),
                created_time: Some(3),
            }),
            Action::Add(add.clone()),
            Action::Remove(Remove::of(&add, 9, false)),
        ];
        let bytes = encode_checkpoint(&actions).unwrap();
        assert_eq!(read_checkpoint(Bytes::from(bytes), "cp").unwrap(), actions);
    }

    #[test]
    fn damaged_checkpoints_are_errors_naming_them() {
        let err = read_checkpoint(
            Bytes::from_static(b"PAR1junk"),
            "_delta_log/1.checkpoint.parquet",
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.starts_with("_delta_log/1.checkpoint.parquet: "),
            "{err}"
        );
    }
}
