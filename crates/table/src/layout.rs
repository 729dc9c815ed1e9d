//! Where everything lives in an archive, and how partitions are named.

use trailpack_source::{FileName, UtcTime};

/// The Delta Lake transaction log.
pub const DELTA_LOG: &str = "_delta_log";
/// trailpack's own files. Every path under a `_`-prefixed directory is skipped by
/// Hive-style readers (Spark, Trino, Athena, DuckDB's hive globs) and by `VACUUM`.
pub const META_DIR: &str = "_trailpack";
/// Parts being written, before they are published into their partition.
pub const STAGING_DIR: &str = "_trailpack/staging";
/// Intents: commits prepared and not yet known to be complete (see
/// [`crate::intent`]).
pub const PENDING_DIR: &str = "_trailpack/pending";
/// The file index: one directory per partition, one Parquet segment per commit.
pub const INDEX_DIR: &str = "_trailpack/index";
/// Original bytes of digest files, by key.
pub const DIGESTS_DIR: &str = "_trailpack/digests";
/// Original bytes of quarantined files, by key.
pub const QUARANTINE_DIR: &str = "_trailpack/quarantine";
/// CloudTrail public keys given to `archive --public-keys`, one file each.
pub const KEYS_DIR: &str = "_trailpack/keys";

/// The file name of the part with id `id`.
pub fn part_file_name(id: &str) -> String {
    format!("part-{id}.parquet")
}

/// Whether `name` (a file name, no directory) is a part's.
pub fn is_part_file_name(name: &str) -> bool {
    name.starts_with("part-") && name.ends_with(".parquet")
}
/// The commit files of the first format (JSON commits), read only by `upgrade`.
pub const LEGACY_COMMITS_DIR: &str = "_trailpack/commits";

/// The time level below `account=/region=/` in the partition layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum Partitioning {
    /// `year=YYYY`
    Year,
    /// `year=YYYY/month=MM`
    #[default]
    Month,
    /// `year=YYYY/month=MM/day=DD`
    Day,
}

impl Partitioning {
    /// The partition columns, in path order.
    pub fn columns(self) -> &'static [&'static str] {
        match self {
            Partitioning::Year => &["account", "region", "year"],
            Partitioning::Month => &["account", "region", "year", "month"],
            Partitioning::Day => &["account", "region", "year", "month", "day"],
        }
    }

    /// The partitioning whose columns are `columns`.
    pub fn from_columns(columns: &[String]) -> Option<Partitioning> {
        [Partitioning::Year, Partitioning::Month, Partitioning::Day]
            .into_iter()
            .find(|p| p.columns().iter().eq(columns.iter()))
    }

    /// Its name as `--partition` spells it.
    pub fn name(self) -> &'static str {
        match self {
            Partitioning::Year => "year",
            Partitioning::Month => "month",
            Partitioning::Day => "day",
        }
    }
}

/// A partition: account, region and the time bucket of the delivery time.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PartitionKey {
    /// 12-digit account.
    pub account: String,
    /// Region.
    pub region: String,
    /// Year, month (0 for year partitioning) and day (0 unless day partitioning).
    pub period: (u16, u8, u8),
}

impl PartitionKey {
    /// The partition of a file delivered at `delivery`.
    pub fn new(account: &str, region: &str, delivery: UtcTime, partitioning: Partitioning) -> Self {
        let period = match partitioning {
            Partitioning::Year => (delivery.year, 0, 0),
            Partitioning::Month => (delivery.year, delivery.month, 0),
            Partitioning::Day => (delivery.year, delivery.month, delivery.day),
        };
        PartitionKey {
            account: account.to_string(),
            region: region.to_string(),
            period,
        }
    }

    /// The partition of the file named `name` (its account, region and delivery
    /// time).
    pub fn of_file(name: &FileName, partitioning: Partitioning) -> Self {
        PartitionKey::new(&name.account, &name.region, name.delivery, partitioning)
    }

    /// The partition of a directory written by [`PartitionKey::dir`].
    pub fn from_dir(dir: &str) -> Option<PartitionKey> {
        let mut levels = dir.split('/');
        let mut level = |name: &str| {
            levels
                .next()
                .and_then(|l| l.strip_prefix(name))
                .and_then(|l| l.strip_prefix('='))
                .map(str::to_string)
        };
        let account = level("account")?;
        let region = level("region")?;
        let year = level("year")?.parse().ok()?;
        let month = level("month").map_or(Some(0), |m| m.parse().ok())?;
        let day = level("day").map_or(Some(0), |d| d.parse().ok())?;
        let key = PartitionKey {
            account,
            region,
            period: (year, month, day),
        };
        (key.dir() == dir).then_some(key)
    }

    /// The partition's directory relative to the archive root (Hive style).
    pub fn dir(&self) -> String {
        self.values()
            .iter()
            .map(|(name, value)| format!("{name}={value}"))
            .collect::<Vec<_>>()
            .join("/")
    }

    /// The partition columns and their values, in path order.
    pub fn values(&self) -> Vec<(&'static str, String)> {
        let (year, month, day) = self.period;
        let mut values = vec![
            ("account", self.account.clone()),
            ("region", self.region.clone()),
            ("year", format!("{year:04}")),
        ];
        if month > 0 {
            values.push(("month", format!("{month:02}")));
        }
        if day > 0 {
            values.push(("day", format!("{day:02}")));
        }
        values
    }

    /// The partitioning this key was made with.
    pub fn partitioning(&self) -> Partitioning {
        match self.period {
            (_, 0, _) => Partitioning::Year,
            (_, _, 0) => Partitioning::Month,
            _ => Partitioning::Day,
        }
    }

    /// This partition's directory of the file index.
    pub fn index_dir(&self) -> String {
        format!("{INDEX_DIR}/{}", self.dir())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_directories_parse_back() {
        let time: UtcTime = "2021-03-04T05:06:07Z".parse().unwrap();
        for partitioning in [Partitioning::Year, Partitioning::Month, Partitioning::Day] {
            let key = PartitionKey::new("111122223333", "eu-west-1", time, partitioning);
            assert_eq!(PartitionKey::from_dir(&key.dir()), Some(key.clone()));
            assert_eq!(key.partitioning(), partitioning);
            let columns: Vec<String> = key.values().iter().map(|(c, _)| c.to_string()).collect();
            assert_eq!(Partitioning::from_columns(&columns), Some(partitioning));
        }
        for bad in [
            "",
            "account=1/region=r",
            "account=1/region=r/year=x",
            "region=r/account=1/year=2021",
            "account=1/region=r/year=2021/month=3",
        ] {
            assert_eq!(PartitionKey::from_dir(bad), None, "{bad}");
        }
        assert_eq!(Partitioning::from_columns(&["account".into()]), None);
    }
}
