//! First seen: what happened for the first time after a baseline window, over
//! the whole archive, from its columns alone (no record is rebuilt).
//!
//! - per account (`recipientAccountId`), the first event in a region
//!   (`awsRegion`);
//! - per principal (`userIdentity.arn`), the first call to an event source
//!   (`eventSource`).
//!
//! The baseline runs from the earliest event in scope; what is first seen inside
//! it is normal history, what is first seen after it is reported.

use std::collections::HashMap;
use std::time::Duration;

use arrow_array::cast::AsArray;
use arrow_array::types::TimestampMicrosecondType;
use arrow_array::{Array, RecordBatch, StringArray};
use serde::Serialize;
use trailpack_query::{Explain, QueryFilter, column, fold_columns};
use trailpack_store::ArchiveRoot;

use crate::DetectError;

/// Default baseline window: 30 days.
pub const DEFAULT_BASELINE: Duration = Duration::from_secs(30 * 86_400);

/// What one novelty is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum NoveltyKind {
    /// An account's first event in a region.
    Region,
    /// A principal's first call to an event source.
    EventSource,
}

/// Something first seen after the baseline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Novelty {
    /// What kind.
    pub kind: NoveltyKind,
    /// The account (for [`NoveltyKind::Region`]) or the principal's ARN.
    pub subject: String,
    /// The region or the event source.
    pub value: String,
    /// `eventTime` of the first event, microseconds since the epoch.
    pub first_us: i64,
    /// Its `eventID`.
    pub event_id: Option<String>,
}

/// The result of a first-seen run.
#[derive(Debug, Clone, Default)]
pub struct FirstSeen {
    /// The earliest event in scope, where the baseline starts.
    pub start_us: Option<i64>,
    /// Where the baseline ends.
    pub baseline_end_us: Option<i64>,
    /// What was first seen at or after the baseline's end, in time order.
    pub novelties: Vec<Novelty>,
    /// What pruning did.
    pub explain: Explain,
}

type Firsts = HashMap<(NoveltyKind, String, String), (i64, Option<String>)>;

const COLUMNS: [&str; 6] = [
    "eventtime",
    "recipientaccountid",
    "awsregion",
    "useridentity.arn",
    "eventsource",
    "eventid",
];

/// First seen over the events `filter` selects (its time, account and region),
/// after a baseline of `baseline` from the earliest of them.
pub fn first_seen(
    root: &ArchiveRoot,
    filter: &QueryFilter,
    baseline: Duration,
) -> Result<FirstSeen, DetectError> {
    let (per_part, explain) = fold_columns(root, filter, &COLUMNS, Firsts::new, fold_batch)?;
    let mut firsts = Firsts::new();
    for part in per_part {
        for (key, first) in part {
            keep_earlier(&mut firsts, key, first);
        }
    }
    let start_us = firsts.values().map(|(time, _)| *time).min();
    let baseline_us = i64::try_from(baseline.as_micros()).unwrap_or(i64::MAX);
    let baseline_end_us = start_us.map(|start| start.saturating_add(baseline_us));
    let mut novelties: Vec<Novelty> = firsts
        .into_iter()
        .filter(|(_, (time, _))| baseline_end_us.is_some_and(|end| *time >= end))
        .map(|((kind, subject, value), (first_us, event_id))| Novelty {
            kind,
            subject,
            value,
            first_us,
            event_id,
        })
        .collect();
    novelties.sort_by(|a, b| {
        (a.first_us, a.kind, &a.subject, &a.value).cmp(&(b.first_us, b.kind, &b.subject, &b.value))
    });
    Ok(FirstSeen {
        start_us,
        baseline_end_us,
        novelties,
        explain,
    })
}

/// The earlier of two firsts; on a tie in time, the smaller eventID, so that the
/// result does not depend on the order parts are read in.
fn keep_earlier(
    firsts: &mut Firsts,
    key: (NoveltyKind, String, String),
    first: (i64, Option<String>),
) {
    firsts
        .entry(key)
        .and_modify(|kept| {
            if first < *kept {
                *kept = first.clone();
            }
        })
        .or_insert(first);
}

fn fold_batch(firsts: &mut Firsts, batch: &RecordBatch) {
    let strings = |name: &str| column(batch, name).and_then(|c| c.as_string_opt::<i32>());
    let Some(times) =
        column(batch, "eventtime").and_then(|c| c.as_primitive_opt::<TimestampMicrosecondType>())
    else {
        return;
    };
    let value = |array: Option<&StringArray>, row: usize| {
        array
            .filter(|a| a.is_valid(row))
            .map(|a| a.value(row).to_string())
    };
    let (accounts, regions) = (strings("recipientaccountid"), strings("awsregion"));
    let (principals, sources) = (strings("useridentity.arn"), strings("eventsource"));
    let event_ids = strings("eventid");
    for row in 0..batch.num_rows() {
        if !times.is_valid(row) {
            continue;
        }
        let time = times.value(row);
        let event_id = value(event_ids, row);
        if let (Some(account), Some(region)) = (value(accounts, row), value(regions, row)) {
            let key = (NoveltyKind::Region, account, region);
            keep_earlier(firsts, key, (time, event_id.clone()));
        }
        if let (Some(principal), Some(source)) = (value(principals, row), value(sources, row)) {
            let key = (NoveltyKind::EventSource, principal, source);
            keep_earlier(firsts, key, (time, event_id));
        }
    }
}
