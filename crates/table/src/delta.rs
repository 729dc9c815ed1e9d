//! The Delta Lake actions trailpack writes and reads (PROTOCOL.md of delta-io/delta),
//! and the table schema in Delta's JSON form.
//!
//! A commit file is one JSON object per line, each with one action. trailpack
//! writes `protocol` and `metaData` (version 0), `add` and `remove`, and
//! `commitInfo`; it reads those and ignores the others (`txn`, `domainMetadata`,
//! ...), as the protocol allows for actions that change no file.

use std::collections::BTreeMap;

use arrow_schema::{DataType, Field, Schema};
use serde::{Deserialize, Serialize};

pub use crate::checkpoint::read_checkpoint;

/// The reader version this code reads and writes: no reader features.
pub const READER_VERSION: i32 = 1;
/// The writer version this code writes: append-only and invariants known, none
/// used.
pub const WRITER_VERSION: i32 = 2;

/// The `protocol` action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Protocol {
    /// Lowest reader version that can read the table.
    pub min_reader_version: i32,
    /// Lowest writer version that can write it.
    pub min_writer_version: i32,
    /// Reader features (reader version 3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reader_features: Option<Vec<String>>,
    /// Writer features (writer version 7).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub writer_features: Option<Vec<String>>,
}

/// The `format` of `metaData`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Format {
    /// Always `parquet`.
    pub provider: String,
    /// No options.
    #[serde(default)]
    pub options: BTreeMap<String, String>,
}

/// The `metaData` action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Metadata {
    /// The table's unique id.
    pub id: String,
    /// Its name, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Its description, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The file format.
    pub format: Format,
    /// The schema, as Delta's JSON (see [`schema_string`]).
    pub schema_string: String,
    /// The partition columns, in path order.
    pub partition_columns: Vec<String>,
    /// Table properties.
    #[serde(default)]
    pub configuration: BTreeMap<String, String>,
    /// When the table was created, in milliseconds since the epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_time: Option<i64>,
}

/// The `add` action: a data file that is part of the table from this commit on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Add {
    /// The file's path relative to the table root, URI-encoded.
    pub path: String,
    /// The partition column values (strings; `null` for a null value).
    pub partition_values: BTreeMap<String, Option<String>>,
    /// The file's size in bytes.
    pub size: i64,
    /// When the file was written, in milliseconds since the epoch.
    pub modification_time: i64,
    /// Whether the commit changes the table's data (`false` for a rewrite).
    pub data_change: bool,
    /// Statistics as JSON text: `numRecords`, `minValues`, `maxValues`, `nullCount`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stats: Option<String>,
    /// Tags (trailpack's bookkeeping of the part, FORMAT.md).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<BTreeMap<String, Option<String>>>,
}

/// The `remove` action: a data file that is no longer part of the table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Remove {
    /// The file's path, as in its `add`.
    pub path: String,
    /// When it was removed, in milliseconds since the epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_timestamp: Option<i64>,
    /// Whether the commit changes the table's data (`false` for a rewrite).
    pub data_change: bool,
    /// Whether the fields below are present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extended_file_metadata: Option<bool>,
    /// As in its `add`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition_values: Option<BTreeMap<String, Option<String>>>,
    /// As in its `add`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<i64>,
}

impl Remove {
    /// The removal of `add`, at `now_ms`, with its partition values and size.
    pub fn of(add: &Add, now_ms: i64, data_change: bool) -> Remove {
        Remove {
            path: add.path.clone(),
            deletion_timestamp: Some(now_ms),
            data_change,
            extended_file_metadata: Some(true),
            partition_values: Some(add.partition_values.clone()),
            size: Some(add.size),
        }
    }
}

/// One action of a commit file. Actions this code does not use are kept as
/// [`Action::Other`] and ignored.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// `protocol`.
    Protocol(Protocol),
    /// `metaData`.
    Metadata(Metadata),
    /// `add`.
    Add(Add),
    /// `remove`.
    Remove(Remove),
    /// `commitInfo`: free-form.
    CommitInfo(serde_json::Value),
    /// Anything else (`txn`, `domainMetadata`, `cdc`, ...).
    Other,
}

#[derive(Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Line {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    protocol: Option<Protocol>,
    #[serde(default, rename = "metaData", skip_serializing_if = "Option::is_none")]
    metadata: Option<Metadata>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    add: Option<Add>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    remove: Option<Remove>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    commit_info: Option<serde_json::Value>,
}

/// Encode actions as a commit file: one JSON object per line.
pub fn encode_commit(actions: &[Action]) -> Vec<u8> {
    let mut out = Vec::new();
    for action in actions {
        let line = match action.clone() {
            Action::Protocol(p) => Line {
                protocol: Some(p),
                ..Line::default()
            },
            Action::Metadata(m) => Line {
                metadata: Some(m),
                ..Line::default()
            },
            Action::Add(a) => Line {
                add: Some(a),
                ..Line::default()
            },
            Action::Remove(r) => Line {
                remove: Some(r),
                ..Line::default()
            },
            Action::CommitInfo(c) => Line {
                commit_info: Some(c),
                ..Line::default()
            },
            Action::Other => continue,
        };
        // Serialising these types cannot fail: no maps with non-string keys.
        if let Ok(text) = serde_json::to_vec(&line) {
            out.extend_from_slice(&text);
            out.push(b'\n');
        }
    }
    out
}

/// Decode a commit file; the error names the line.
pub fn decode_commit(bytes: &[u8]) -> Result<Vec<Action>, String> {
    let mut actions = Vec::new();
    for (number, line) in bytes.split(|&b| b == b'\n').enumerate() {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let parsed: Line = serde_json::from_slice(line)
            .map_err(|e| format!("line {}: not a Delta action: {e}", number + 1))?;
        actions.push(match parsed {
            Line {
                protocol: Some(p), ..
            } => Action::Protocol(p),
            Line {
                metadata: Some(m), ..
            } => Action::Metadata(m),
            Line { add: Some(a), .. } => Action::Add(a),
            Line {
                remove: Some(r), ..
            } => Action::Remove(r),
            Line {
                commit_info: Some(c),
                ..
            } => Action::CommitInfo(c),
            _ => Action::Other,
        });
    }
    Ok(actions)
}

/// The Delta schema (JSON text) of the data columns of `schema` followed by the
/// partition `columns` as nullable strings.
pub fn schema_string(schema: &Schema, partition_columns: &[&str]) -> String {
    let mut fields: Vec<serde_json::Value> = schema.fields().iter().map(|f| field(f)).collect();
    fields.extend(partition_columns.iter().map(|name| {
        serde_json::json!({"name": name, "type": "string", "nullable": true, "metadata": {}})
    }));
    serde_json::json!({"type": "struct", "fields": fields}).to_string()
}

fn field(field: &Field) -> serde_json::Value {
    serde_json::json!({
        "name": field.name(),
        "type": data_type(field.data_type()),
        "nullable": field.is_nullable(),
        "metadata": {},
    })
}

fn data_type(data_type: &DataType) -> serde_json::Value {
    match data_type {
        DataType::Boolean => "boolean".into(),
        DataType::Int32 => "integer".into(),
        DataType::Int64 => "long".into(),
        DataType::Timestamp(_, Some(_)) => "timestamp".into(),
        DataType::Timestamp(_, None) => "timestamp_ntz".into(),
        DataType::Binary | DataType::FixedSizeBinary(_) => "binary".into(),
        DataType::Struct(fields) => serde_json::json!({
            "type": "struct",
            "fields": fields.iter().map(|f| field(f)).collect::<Vec<_>>(),
        }),
        DataType::List(item) => serde_json::json!({
            "type": "array",
            "elementType": self::data_type(item.data_type()),
            "containsNull": item.is_nullable(),
        }),
        _ => "string".into(),
    }
}

/// Decode the `%`-escapes of an `add` path (Delta paths are URIs); a malformed
/// escape is kept as it is.
pub fn decode_path(path: &str) -> String {
    if !path.contains('%') {
        return path.to_string();
    }
    let bytes = path.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while at < bytes.len() {
        let hex = bytes
            .get(at + 1..at + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[at], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                at += 3;
            }
            (byte, _) => {
                out.push(byte);
                at += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn add(path: &str) -> Add {
        Add {
            path: path.into(),
            partition_values: BTreeMap::from([("account".into(), Some("1".into()))]),
            size: 10,
            modification_time: 5,
            data_change: true,
            stats: Some("{\"numRecords\":1}".into()),
            tags: None,
        }
    }

    #[test]
    fn commits_round_trip_and_unknown_actions_are_kept_as_other() {
        let actions = vec![
            Action::CommitInfo(serde_json::json!({"operation": "WRITE"})),
            Action::Protocol(Protocol {
                min_reader_version: 1,
                min_writer_version: 2,
                reader_features: None,
                writer_features: None,
            }),
            Action::Add(add("a.parquet")),
            Action::Remove(Remove::of(&add("b.parquet"), 7, false)),
        ];
        let bytes = encode_commit(&actions);
        assert_eq!(bytes.iter().filter(|&&b| b == b'\n').count(), 4);
        assert_eq!(decode_commit(&bytes).unwrap(), actions);
        let other = b"{\"txn\":{\"appId\":\"x\",\"version\":1}}\n\n";
        assert_eq!(decode_commit(other).unwrap(), [Action::Other]);
        let err = decode_commit(b"{\"add\":{}}\nnot json").unwrap_err();
        assert!(err.starts_with("line 1: not a Delta action"), "{err}");
    }

    #[test]
    fn a_foreign_number_reads_back_the_same_after_a_rewrite() {
        // Found by the delta_log fuzz target: a 37-digit integer is an f64 that
        // must print and parse back to itself.
        let line = b"{\"commitInfo\":{\"timestamp\":1796454371699999999999999999999999948}}";
        let actions = decode_commit(line).unwrap();
        assert_eq!(decode_commit(&encode_commit(&actions)).unwrap(), actions);
    }

    #[test]
    fn schemas_use_delta_type_names_and_append_partition_columns() {
        let schema = Schema::new(vec![
            Field::new("s", DataType::Utf8, true),
            Field::new("i", DataType::Int32, false),
            Field::new(
                "t",
                DataType::Timestamp(arrow_schema::TimeUnit::Microsecond, Some("UTC".into())),
                true,
            ),
            Field::new_list("l", Field::new("element", DataType::Boolean, true), true),
        ]);
        let text = schema_string(&schema, &["account"]);
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        let types: Vec<&serde_json::Value> = value["fields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| &f["type"])
            .collect();
        assert_eq!(types[0], "string");
        assert_eq!(types[1], "integer");
        assert_eq!(types[2], "timestamp");
        assert_eq!(types[3]["elementType"], "boolean");
        assert_eq!(value["fields"][4]["name"], "account");
        assert_eq!(value["fields"][1]["nullable"], false);
    }

    #[test]
    fn paths_are_percent_decoded() {
        assert_eq!(
            decode_path("region=us%20west/a.parquet"),
            "region=us west/a.parquet"
        );
        assert_eq!(decode_path("plain/a.parquet"), "plain/a.parquet");
        assert_eq!(decode_path("bad%zz%4"), "bad%zz%4");
    }
}
