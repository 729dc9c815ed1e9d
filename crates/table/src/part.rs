//! [`PartInfo`]: what the table knows of one part, carried by its Delta `add`
//! action (partition values, size, statistics, and trailpack's tags).

use std::collections::BTreeMap;

use trailpack_decode::DecodeOptions;
use trailpack_source::UtcTime;

use crate::delta::{Add, decode_path};
use crate::layout::{PartitionKey, Partitioning};

/// The tag prefix of trailpack's bookkeeping in `add` actions.
const TAG: &str = "trailpack.";

/// One part of the table: a Parquet file of one partition, committed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartInfo {
    /// Path relative to the archive root, `/`-separated.
    pub path: String,
    /// Its partition.
    pub partition: PartitionKey,
    /// Size in bytes.
    pub bytes: u64,
    /// When it was written, in milliseconds since the epoch.
    pub modification_time: i64,
    /// CRC-32 (IEEE) of the whole file; `None` for a part trailpack did not write.
    pub crc32: Option<u32>,
    /// Rows (records).
    pub rows: u64,
    /// Row groups.
    pub row_groups: u64,
    /// Earliest and latest `eventtime` in microseconds: the whole range when the
    /// statistics are unknown, `None` when no row has one.
    pub event_time_range: Option<(i64, i64)>,
    /// Rows with a null `eventtime`.
    pub rows_without_event_time: u64,
    /// Rows per `eventVersion` (`(none)` for rows without one).
    pub event_versions: BTreeMap<String, u64>,
    /// Dotted paths of members kept in `additionalfields`.
    pub unknown_paths: Vec<String>,
    /// Rows stored whole in `_raw`.
    pub fallback_rows: u64,
    /// Source files whose records it holds.
    pub files: u64,
    /// Uncompressed bytes of those files.
    pub raw_bytes: u64,
    /// The names of the parts whose files it holds: its own when it was written by
    /// `archive`; those of the parts it merged when written by `compact`. The file
    /// index names a file's part by the name it was first written under.
    pub holds: Vec<String>,
    /// The decode limits its files were accepted under (compaction decodes them
    /// again under the same limits).
    pub limits: DecodeOptions,
}

impl PartInfo {
    /// The file name: the last component of the path.
    pub fn name(&self) -> &str {
        self.path.rsplit('/').next().unwrap_or(&self.path)
    }

    /// The `add` action that commits this part.
    pub fn to_add(&self, data_change: bool) -> Add {
        let mut tags = BTreeMap::new();
        let mut tag = |name: &str, value: String| {
            tags.insert(format!("{TAG}{name}"), Some(value));
        };
        if let Some(crc32) = self.crc32 {
            tag("crc32", crc32.to_string());
        }
        if let Some((min, max)) = self.event_time_range {
            tag("eventTimeRange", format!("{min},{max}"));
        }
        tag("rowGroups", self.row_groups.to_string());
        tag("fallbackRows", self.fallback_rows.to_string());
        tag("files", self.files.to_string());
        tag("rawBytes", self.raw_bytes.to_string());
        tag(
            "eventVersions",
            serde_json::to_string(&self.event_versions).unwrap_or_default(),
        );
        tag(
            "unknownPaths",
            serde_json::to_string(&self.unknown_paths).unwrap_or_default(),
        );
        if self.holds != [self.name()] {
            tag(
                "holds",
                serde_json::to_string(&self.holds).unwrap_or_default(),
            );
        }
        tag(
            "limits",
            format!(
                "{},{},{}",
                self.limits.max_file_bytes, self.limits.max_record_bytes, self.limits.max_depth
            ),
        );
        Add {
            path: self.path.clone(),
            partition_values: self
                .partition
                .values()
                .into_iter()
                .map(|(column, value)| (column.to_string(), Some(value)))
                .collect(),
            size: self.bytes as i64,
            modification_time: self.modification_time,
            data_change,
            stats: Some(self.stats()),
            tags: Some(tags),
        }
    }

    /// Delta statistics: the row count, and `eventtime`'s range (in milliseconds,
    /// widened outwards) and null count.
    fn stats(&self) -> String {
        let mut stats = serde_json::json!({
            "numRecords": self.rows,
            "nullCount": {"eventtime": self.rows_without_event_time},
        });
        if let Some((min, max)) = self.event_time_range {
            stats["minValues"] =
                serde_json::json!({"eventtime": format_millis(min.div_euclid(1000))});
            let max_ms = max.div_euclid(1000) + i64::from(max.rem_euclid(1000) != 0);
            stats["maxValues"] = serde_json::json!({"eventtime": format_millis(max_ms)});
        }
        stats.to_string()
    }

    /// The part an `add` action commits, in a table partitioned by `partitioning`;
    /// `None` when its partition values do not name a partition of that layout.
    /// Tags and statistics that are missing (a part another engine wrote) read as
    /// unknown.
    pub fn from_add(add: &Add, partitioning: Partitioning) -> Option<PartInfo> {
        let value = |column: &str| add.partition_values.get(column).cloned().flatten();
        let number = |column: &str| value(column).and_then(|v| v.parse::<u16>().ok());
        let period = match partitioning {
            Partitioning::Year => (number("year")?, 0, 0),
            Partitioning::Month => (number("year")?, number("month")? as u8, 0),
            Partitioning::Day => (
                number("year")?,
                number("month")? as u8,
                number("day")? as u8,
            ),
        };
        let partition = PartitionKey {
            account: value("account")?,
            region: value("region")?,
            period,
        };
        let tags = add.tags.clone().unwrap_or_default();
        let tag = |name: &str| tags.get(&format!("{TAG}{name}")).cloned().flatten();
        let count = |name: &str| tag(name).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        let stats: serde_json::Value = add
            .stats
            .as_deref()
            .and_then(|s| serde_json::from_str(s).ok())
            .unwrap_or_default();
        let rows = stats["numRecords"].as_u64().unwrap_or(0);
        let path = decode_path(&add.path);
        let name = path.rsplit('/').next().unwrap_or(&path).to_string();
        Some(PartInfo {
            partition,
            bytes: u64::try_from(add.size).unwrap_or(0),
            modification_time: add.modification_time,
            crc32: tag("crc32").and_then(|v| v.parse().ok()),
            rows,
            row_groups: count("rowGroups"),
            event_time_range: tag("eventTimeRange")
                .and_then(|v| {
                    let (min, max) = v.split_once(',')?;
                    Some((min.parse().ok()?, max.parse().ok()?))
                })
                .or_else(|| event_time_range(&stats)),
            rows_without_event_time: stats["nullCount"]["eventtime"].as_u64().unwrap_or(rows),
            event_versions: tag("eventVersions")
                .and_then(|v| serde_json::from_str(&v).ok())
                .unwrap_or_default(),
            unknown_paths: tag("unknownPaths")
                .and_then(|v| serde_json::from_str(&v).ok())
                .unwrap_or_default(),
            fallback_rows: count("fallbackRows"),
            files: count("files"),
            raw_bytes: count("rawBytes"),
            holds: tag("holds")
                .and_then(|v| serde_json::from_str(&v).ok())
                .unwrap_or_else(|| vec![name]),
            limits: tag("limits")
                .and_then(|v| parse_limits(&v))
                .unwrap_or_default(),
            path,
        })
    }
}

/// `eventtime`'s range from Delta statistics: `None` when every row's is null;
/// the whole range when the statistics do not say.
fn event_time_range(stats: &serde_json::Value) -> Option<(i64, i64)> {
    let rows = stats["numRecords"].as_u64();
    let nulls = stats["nullCount"]["eventtime"].as_u64();
    if rows.is_some() && rows == nulls {
        return None;
    }
    let bound = |side: &str| {
        stats[side]["eventtime"]
            .as_str()
            .and_then(parse_millis)
            .map(|ms| ms.saturating_mul(1000))
    };
    match (bound("minValues"), bound("maxValues")) {
        // The maximum is widened to the end of its millisecond.
        (Some(min), Some(max)) => Some((min, max.saturating_add(999))),
        _ => Some((i64::MIN, i64::MAX)),
    }
}

fn parse_limits(text: &str) -> Option<DecodeOptions> {
    let mut numbers = text.split(',').map(|n| n.parse::<usize>().ok());
    Some(DecodeOptions {
        max_file_bytes: numbers.next()??,
        max_record_bytes: numbers.next()??,
        max_depth: numbers.next()??,
    })
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ` for milliseconds since the epoch, as Delta writes
/// timestamp statistics.
pub fn format_millis(ms: i64) -> String {
    let time = UtcTime::from_unix_seconds(ms.div_euclid(1000));
    format!(
        "{}.{:03}Z",
        time.to_string().trim_end_matches('Z'),
        ms.rem_euclid(1000)
    )
}

/// Milliseconds since the epoch of a Delta timestamp statistic
/// (`YYYY-MM-DDTHH:MM:SS[.fff…]Z`, fractions truncated to milliseconds).
pub fn parse_millis(text: &str) -> Option<i64> {
    let micros = trailpack_decode::time::parse_event_time(text)?;
    Some(micros.div_euclid(1000))
}

/// A minimal part named `name` in a fixed partition, for tests of the log.
#[cfg(test)]
pub(crate) fn test_part(name: &str) -> PartInfo {
    let partition = PartitionKey {
        account: "111122223333".into(),
        region: "us-east-1".into(),
        period: (2021, 1, 0),
    };
    PartInfo {
        path: format!("{}/{name}", partition.dir()),
        partition,
        bytes: 4,
        modification_time: 1,
        crc32: Some(0),
        rows: 1,
        row_groups: 1,
        event_time_range: None,
        rows_without_event_time: 1,
        event_versions: BTreeMap::new(),
        unknown_paths: vec![],
        fallback_rows: 0,
        files: 1,
        raw_bytes: 1,
        holds: vec![name.into()],
        limits: DecodeOptions::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part() -> PartInfo {
        PartInfo {
            path: "account=111122223333/region=us-east-1/year=2021/month=01/part-x.parquet".into(),
            partition: PartitionKey {
                account: "111122223333".into(),
                region: "us-east-1".into(),
                period: (2021, 1, 0),
            },
            bytes: 1234,
            modification_time: 99,
            crc32: Some(7),
            rows: 3,
            row_groups: 1,
            event_time_range: Some((1_609_459_200_000_001, 1_609_459_260_000_000)),
            rows_without_event_time: 1,
            event_versions: BTreeMap::from([("1.08".into(), 2), ("(none)".into(), 1)]),
            unknown_paths: vec!["newTop".into()],
            fallback_rows: 0,
            files: 2,
            raw_bytes: 900,
            holds: vec!["part-x.parquet".into()],
            limits: DecodeOptions::default(),
        }
    }

    #[test]
    fn parts_round_trip_through_add_actions() {
        let part = part();
        let add = part.to_add(true);
        assert_eq!(add.partition_values["month"].as_deref(), Some("01"));
        assert!(
            !add.tags.as_ref().unwrap().contains_key("trailpack.holds"),
            "a part that holds only itself says nothing"
        );
        let stats: serde_json::Value = serde_json::from_str(add.stats.as_deref().unwrap()).unwrap();
        // Widened to whole milliseconds, outwards.
        assert_eq!(stats["minValues"]["eventtime"], "2021-01-01T00:00:00.000Z");
        assert_eq!(stats["maxValues"]["eventtime"], "2021-01-01T00:01:00.000Z");
        let back = PartInfo::from_add(&add, Partitioning::Month).unwrap();
        assert_eq!(back, part);
        // Without trailpack's exact range, the statistics' widened one.
        let mut tags = add.tags.clone().unwrap();
        tags.remove("trailpack.eventTimeRange");
        let widened = PartInfo::from_add(
            &Add {
                tags: Some(tags),
                ..add.clone()
            },
            Partitioning::Month,
        )
        .unwrap();
        assert_eq!(
            widened.event_time_range,
            Some((1_609_459_200_000_000, 1_609_459_260_000_999))
        );
        assert_eq!(PartInfo::from_add(&add, Partitioning::Day), None);
    }

    #[test]
    fn parts_other_engines_wrote_read_as_unknown() {
        let mut add = part().to_add(false);
        add.tags = None;
        add.stats = None;
        let back = PartInfo::from_add(&add, Partitioning::Month).unwrap();
        assert_eq!(back.crc32, None);
        assert_eq!(back.event_time_range, Some((i64::MIN, i64::MAX)));
        assert_eq!(back.holds, ["part-x.parquet"]);
        let mut merged = part();
        merged.holds = vec!["part-a.parquet".into(), "part-b.parquet".into()];
        let back = PartInfo::from_add(&merged.to_add(false), Partitioning::Month).unwrap();
        assert_eq!(back.holds, merged.holds);
    }

    #[test]
    fn milliseconds_format_and_parse() {
        assert_eq!(format_millis(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(format_millis(1_609_459_200_123), "2021-01-01T00:00:00.123Z");
        assert_eq!(
            parse_millis("2021-01-01T00:00:00.123Z"),
            Some(1_609_459_200_123)
        );
        assert_eq!(
            parse_millis("2021-01-01T00:00:00Z"),
            Some(1_609_459_200_000)
        );
        assert_eq!(parse_millis("yesterday"), None);
    }
}
