//! Table definitions over an archive, so that engines query it in place.
//!
//! Every engine gets the typed CloudTrail columns, `additionalfields` and
//! `_source_key`, plus the Hive partition columns (`account`, `region`, and the time
//! levels). The bookkeeping columns that only rebuilding needs are left out.

use arrow_schema::{DataType, Field};

use crate::fields::{SOURCE_KEY, schema};

/// Engines with a table definition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    /// Amazon Athena (Hive DDL with partition projection).
    Athena,
    /// Trino's Hive connector.
    Trino,
    /// DuckDB (a view over `read_parquet`).
    DuckDb,
    /// Apache Spark SQL.
    Spark,
}

/// The user-facing columns: every CloudTrail field, `additionalfields`, `_source_key`.
fn columns() -> Vec<Field> {
    schema()
        .fields()
        .iter()
        .filter(|f| !f.name().starts_with('_') || f.name() == SOURCE_KEY)
        .map(|f| f.as_ref().clone())
        .collect()
}

fn hive_type(data_type: &DataType) -> String {
    match data_type {
        DataType::Boolean => "boolean".into(),
        DataType::UInt32 => "int".into(),
        DataType::Timestamp(..) => "timestamp".into(),
        DataType::Struct(fields) => {
            let members: Vec<String> = fields
                .iter()
                .map(|f| format!("{}:{}", f.name(), hive_type(f.data_type())))
                .collect();
            format!("struct<{}>", members.join(","))
        }
        DataType::List(item) => format!("array<{}>", hive_type(item.data_type())),
        _ => "string".into(),
    }
}

fn trino_type(data_type: &DataType) -> String {
    match data_type {
        DataType::Boolean => "boolean".into(),
        DataType::UInt32 => "integer".into(),
        DataType::Timestamp(..) => "timestamp(6)".into(),
        DataType::Struct(fields) => {
            let members: Vec<String> = fields
                .iter()
                .map(|f| format!("\"{}\" {}", f.name(), trino_type(f.data_type())))
                .collect();
            format!("row({})", members.join(", "))
        }
        DataType::List(item) => format!("array({})", trino_type(item.data_type())),
        _ => "varchar".into(),
    }
}

/// The `CREATE` statement(s) for `engine` over the archive at `location` (a local
/// path or an `s3://` URI), as table `table`. `time_levels` are the partition time
/// columns in order (`year`, `month`, `day`, as the archive was written).
pub fn ddl(engine: Engine, location: &str, table: &str, time_levels: &[&str]) -> String {
    let location = location.trim_end_matches('/');
    let mut partitions = vec!["account", "region"];
    partitions.extend_from_slice(time_levels);
    match engine {
        Engine::DuckDb => {
            let glob = format!(
                "{location}/account=*/region=*/{}/*.parquet",
                vec!["*"; time_levels.len()].join("/")
            );
            format!(
                "CREATE OR REPLACE VIEW {table} AS\nSELECT * EXCLUDE (_layout, _residual, _raw, _record_index)\nFROM read_parquet('{glob}', hive_partitioning = true, hive_types_autocast = false);\n"
            )
        }
        Engine::Athena => {
            let mut lines: Vec<String> = columns()
                .iter()
                .map(|f| format!("  `{}` {}", f.name(), hive_type(f.data_type())))
                .collect();
            let last = lines.len() - 1;
            for line in &mut lines[..last] {
                line.push(',');
            }
            let partition_columns: Vec<String> =
                partitions.iter().map(|p| format!("`{p}` string")).collect();
            let template: String = partitions
                .iter()
                .map(|p| format!("/{p}=${{{p}}}"))
                .collect();
            let mut projection = vec![
                "  'projection.enabled' = 'true'".to_string(),
                "  'projection.account.type' = 'injected'".to_string(),
                "  'projection.region.type' = 'injected'".to_string(),
            ];
            for level in time_levels {
                let (range, digits) = match *level {
                    "year" => ("2013,2099", "4"),
                    "month" => ("1,12", "2"),
                    _ => ("1,31", "2"),
                };
                projection.push(format!("  'projection.{level}.type' = 'integer'"));
                projection.push(format!("  'projection.{level}.range' = '{range}'"));
                projection.push(format!("  'projection.{level}.digits' = '{digits}'"));
            }
            projection.push(format!(
                "  'storage.location.template' = '{location}{template}'"
            ));
            format!(
                "CREATE EXTERNAL TABLE {table} (\n{}\n)\nPARTITIONED BY ({})\nSTORED AS PARQUET\nLOCATION '{location}/'\nTBLPROPERTIES (\n{}\n);\n",
                lines.join("\n"),
                partition_columns.join(", "),
                projection.join(",\n")
            )
        }
        Engine::Trino => {
            let mut lines: Vec<String> = columns()
                .iter()
                .map(|f| format!("  \"{}\" {}", f.name(), trino_type(f.data_type())))
                .collect();
            lines.extend(partitions.iter().map(|p| format!("  \"{p}\" varchar")));
            let quoted: Vec<String> = partitions.iter().map(|p| format!("'{p}'")).collect();
            format!(
                "CREATE TABLE {table} (\n{}\n)\nWITH (\n  format = 'PARQUET',\n  partitioned_by = ARRAY[{}],\n  external_location = '{location}/'\n);\nCALL system.sync_partition_metadata(current_schema, '{table}', 'ADD');\n",
                lines.join(",\n"),
                quoted.join(", ")
            )
        }
        Engine::Spark => {
            let mut lines: Vec<String> = columns()
                .iter()
                .map(|f| format!("  `{}` {}", f.name(), hive_type(f.data_type())))
                .collect();
            lines.extend(partitions.iter().map(|p| format!("  `{p}` string")));
            format!(
                "CREATE TABLE {table} (\n{}\n)\nUSING PARQUET\nPARTITIONED BY ({})\nLOCATION '{location}/';\nMSCK REPAIR TABLE {table};\n",
                lines.join(",\n"),
                partitions.join(", ")
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn balanced(text: &str) -> bool {
        let mut depth = 0i32;
        for c in text.chars() {
            match c {
                '(' | '<' | '[' => depth += 1,
                ')' | '>' | ']' => depth -= 1,
                _ => {}
            }
            if depth < 0 {
                return false;
            }
        }
        depth == 0
    }

    #[test]
    fn every_engine_gets_every_user_column_and_the_partitions() {
        for engine in [Engine::Athena, Engine::Trino, Engine::Spark] {
            let text = ddl(
                engine,
                "s3://bucket/archive/",
                "cloudtrail",
                &["year", "month"],
            );
            assert!(balanced(&text.replace("=>", "")), "{engine:?}: {text}");
            for name in [
                "eventversion",
                "useridentity",
                "sessionissuer",
                "eventtime",
                "resources",
                "additionalfields",
                "_source_key",
                "account",
                "region",
                "year",
                "month",
            ] {
                assert!(text.contains(name), "{engine:?} lacks {name}");
            }
            for internal in ["_layout", "_residual", "_raw"] {
                assert!(!text.contains(internal), "{engine:?} exposes {internal}");
            }
        }
        let athena = ddl(
            Engine::Athena,
            "s3://bucket/archive",
            "ct",
            &["year", "month"],
        );
        assert!(athena.contains("'storage.location.template' = 's3://bucket/archive/account=${account}/region=${region}/year=${year}/month=${month}'"));
        assert!(
            athena.contains("`useridentity` struct<type:string,principalid:string,arn:string,")
        );
        assert!(
            athena.contains("`resources` array<struct<arn:string,accountid:string,type:string>>")
        );
        let duckdb = ddl(
            Engine::DuckDb,
            "/data/archive",
            "ct",
            &["year", "month", "day"],
        );
        assert!(duckdb.contains("read_parquet('/data/archive/account=*/region=*/*/*/*/*.parquet'"));
    }
}
