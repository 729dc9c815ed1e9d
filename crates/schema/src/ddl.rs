//! Table definitions over an archive, so that engines query it in place.
//!
//! An archive is a Delta Lake table, so Athena, Trino, Spark and DuckDB (with its
//! `delta` extension) take the columns and the committed parts from its log:
//! their statements only name the location. For DuckDB without the extension,
//! [`Engine::DuckDbParquet`] is a view over the parts in the partition
//! directories, with the Hive partition columns. The DuckDB views leave out the
//! bookkeeping columns that only rebuilding needs.

use crate::fields::{LAYOUT, RAW, RECORD_INDEX, RESIDUAL};

/// Engines with a table definition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    /// Amazon Athena: a Delta Lake table in the Glue catalog.
    Athena,
    /// Trino's Delta Lake connector.
    Trino,
    /// DuckDB with the `delta` extension: a view over `delta_scan`.
    DuckDb,
    /// DuckDB without it: a view over `read_parquet` of the parts.
    DuckDbParquet,
    /// Apache Spark SQL with Delta Lake.
    Spark,
}

/// The glob that reads exactly the parts of an archive at `location` whose
/// partitions have `time_levels` below `account=/region=/`. A bare `**/*.parquet`
/// would also read the Delta log's checkpoints (`_delta_log/*.checkpoint.parquet`).
pub fn parts_glob(location: &str, time_levels: &[&str]) -> String {
    let levels: String = time_levels
        .iter()
        .map(|level| format!("/{level}=*"))
        .collect();
    format!(
        "{}/account=*/region=*{levels}/part-*.parquet",
        location.trim_end_matches('/')
    )
}

/// The statement(s) for `engine` over the archive at `location` (a local path or
/// an `s3://` URI), as table `table`. `time_levels` (`year`, `month`, `day`, as the
/// archive was written) matter only for [`Engine::DuckDbParquet`].
pub fn ddl(engine: Engine, location: &str, table: &str, time_levels: &[&str]) -> String {
    let location = location.trim_end_matches('/');
    let internal = [LAYOUT, RESIDUAL, RAW, RECORD_INDEX].join(", ");
    match engine {
        Engine::Athena => format!(
            "CREATE EXTERNAL TABLE {table}\nLOCATION '{location}/'\nTBLPROPERTIES ('table_type' = 'DELTA');\n"
        ),
        Engine::Trino => format!(
            "-- In a Delta Lake catalog (USE <catalog>.<schema> first, and set schema_name to it).\nCALL system.register_table(schema_name => 'default', table_name => '{table}', table_location => '{location}');\n"
        ),
        Engine::Spark => {
            format!("CREATE TABLE IF NOT EXISTS {table}\nUSING DELTA\nLOCATION '{location}';\n")
        }
        Engine::DuckDb => format!(
            "INSTALL delta;\nLOAD delta;\nCREATE OR REPLACE VIEW {table} AS\nSELECT * EXCLUDE ({internal})\nFROM delta_scan('{location}');\n"
        ),
        Engine::DuckDbParquet => format!(
            "CREATE OR REPLACE VIEW {table} AS\nSELECT * EXCLUDE ({internal})\nFROM read_parquet('{}', hive_partitioning = true, hive_types_autocast = false);\n",
            parts_glob(location, time_levels)
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_engine_reads_the_delta_table_or_exactly_the_parts() {
        let athena = ddl(
            Engine::Athena,
            "s3://bucket/archive/",
            "ct",
            &["year", "month"],
        );
        assert!(athena.contains("LOCATION 's3://bucket/archive/'"));
        assert!(athena.contains("'table_type' = 'DELTA'"));
        let trino = ddl(Engine::Trino, "s3://bucket/archive", "ct", &[]);
        assert!(trino.contains("table_location => 's3://bucket/archive'"));
        let spark = ddl(Engine::Spark, "s3://bucket/archive", "ct", &[]);
        assert!(spark.contains("USING DELTA"));
        let duckdb = ddl(Engine::DuckDb, "/data/archive", "ct", &[]);
        assert!(duckdb.contains("delta_scan('/data/archive')"));
        assert!(duckdb.contains("EXCLUDE (_layout, _residual, _raw, _record_index)"));
        let parquet = ddl(
            Engine::DuckDbParquet,
            "/data/archive",
            "ct",
            &["year", "month", "day"],
        );
        assert!(parquet.contains(
            "read_parquet('/data/archive/account=*/region=*/year=*/month=*/day=*/part-*.parquet'"
        ));
    }
}
