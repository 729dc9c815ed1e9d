//! One pass of every rule over an archive: the rules' column conditions, OR-ed,
//! prune and select candidate rows; only those are rebuilt, parsed once, and
//! given to each rule whose column condition they pass.

use std::collections::BTreeSet;

use rayon::prelude::*;
use serde::Serialize;
use serde_json::Value;
use trailpack_query::{ColumnTest, Explain, QueryFilter, QueryMatch, query_each};
use trailpack_store::ArchiveRoot;

use crate::pushdown::field_of;
use crate::{DetectError, RuleSet};

/// Which events to look at, and whether to keep the matching records.
#[derive(Debug, Clone, Default)]
pub struct DetectOptions {
    /// Events at or after this time (microseconds since the epoch, UTC).
    pub from_us: Option<i64>,
    /// Events before this time.
    pub until_us: Option<i64>,
    /// Partition accounts; empty for all.
    pub accounts: Vec<String>,
    /// Partition regions; empty for all.
    pub regions: Vec<String>,
    /// Keep each matching record ([`Detections::events`]).
    pub events: bool,
}

/// What one rule found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RuleSummary {
    /// The rule's id.
    pub id: String,
    /// Its title.
    pub title: String,
    /// Its level.
    pub level: Option<String>,
    /// Matching events.
    pub count: u64,
    /// `eventTime` of the first match, microseconds since the epoch.
    pub first_us: Option<i64>,
    /// `eventTime` of the last match.
    pub last_us: Option<i64>,
    /// `recipientAccountId` of the matches.
    pub accounts: BTreeSet<String>,
}

/// One matching record, tagged with the rule that matched it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    /// The rule's position in the [`RuleSet`].
    pub rule: usize,
    /// The record, its exact original bytes.
    pub found: QueryMatch,
}

/// The result of a run.
#[derive(Debug, Clone, Default)]
pub struct Detections {
    /// One per rule, in the rule set's order (rules that found nothing too).
    pub rules: Vec<RuleSummary>,
    /// With [`DetectOptions::events`], the matching records in event-time order
    /// (then source key, record index, rule).
    pub events: Vec<Hit>,
    /// What pruning did; `rows_matched` counts the candidate rows rebuilt.
    pub explain: Explain,
    /// Candidate records the rule engine's JSON parser refused (nesting deeper
    /// than 128, a lone surrogate escape), which no rule could be evaluated on.
    pub unparsed: Vec<(String, u32)>,
}

/// Run every rule of `rules` over the archive at `root`, in one pass.
pub fn detect(
    root: &ArchiveRoot,
    rules: &RuleSet,
    options: &DetectOptions,
) -> Result<Detections, DetectError> {
    let mut any_of: Vec<Vec<ColumnTest>> = Vec::new();
    for rule in rules.rules() {
        any_of.extend(rule.pushdown().iter().cloned());
    }
    if any_of.iter().any(Vec::is_empty) {
        // A rule the columns cannot narrow reads every row anyway.
        any_of.clear();
    }
    let filter = QueryFilter {
        from_us: options.from_us,
        until_us: options.until_us,
        accounts: options.accounts.clone(),
        regions: options.regions.clone(),
        any_of,
        ..QueryFilter::default()
    };
    let empty = || {
        let summaries = rules.rules().iter().map(|rule| RuleSummary {
            id: rule.id.clone(),
            title: rule.title.clone(),
            level: rule.level.clone(),
            ..RuleSummary::default()
        });
        (summaries.collect::<Vec<_>>(), Vec::new())
    };
    if rules.is_empty() {
        let (summaries, events) = empty();
        return Ok(Detections {
            rules: summaries,
            events,
            ..Detections::default()
        });
    }
    let (per_part, explain) = query_each(root, &filter, |candidates| {
        let mut found = empty();
        let mut unparsed = Vec::new();
        for candidate in candidates {
            match serde_json::from_slice::<Value>(&candidate.record) {
                Ok(record) => {
                    match_candidate(rules, &record, candidate, options.events, &mut found)
                }
                Err(_) => unparsed.push((candidate.source_key, candidate.record_index)),
            }
        }
        (found, unparsed)
    })?;
    let (mut summaries, mut events) = empty();
    let mut unparsed = Vec::new();
    for ((part_summaries, part_events), part_unparsed) in per_part {
        for (total, part) in summaries.iter_mut().zip(part_summaries) {
            merge(total, part);
        }
        events.extend(part_events);
        unparsed.extend(part_unparsed);
    }
    unparsed.sort();
    fn order(hit: &Hit) -> (Option<i64>, &str, u32, usize) {
        let found = &hit.found;
        (
            found.event_time,
            &found.source_key,
            found.record_index,
            hit.rule,
        )
    }
    events.par_sort_by(|a, b| order(a).cmp(&order(b)));
    Ok(Detections {
        rules: summaries,
        events,
        explain,
        unparsed,
    })
}

/// Give one parsed candidate to each rule whose column condition it passes.
fn match_candidate(
    rules: &RuleSet,
    record: &Value,
    candidate: QueryMatch,
    keep_events: bool,
    (summaries, events): &mut (Vec<RuleSummary>, Vec<Hit>),
) {
    let account = record
        .get("recipientAccountId")
        .and_then(Value::as_str)
        .map(str::to_string);
    for (index, rule) in rules.rules().iter().enumerate() {
        if !passes(rule.pushdown(), record) || !rule.matches(record) {
            continue;
        }
        let summary = &mut summaries[index];
        summary.count += 1;
        if let Some(time) = candidate.event_time {
            summary.first_us = Some(summary.first_us.map_or(time, |t| t.min(time)));
            summary.last_us = Some(summary.last_us.map_or(time, |t| t.max(time)));
        }
        summary.accounts.extend(account.clone());
        if keep_events {
            events.push(Hit {
                rule: index,
                found: candidate.clone(),
            });
        }
    }
}

/// Whether `record` passes a rule's column condition: a cheap test that spares
/// the full evaluation of rules the row cannot match.
fn passes(alternatives: &[Vec<ColumnTest>], record: &Value) -> bool {
    alternatives.is_empty()
        || alternatives.iter().any(|tests| {
            tests.iter().all(|test| {
                // A JSON-text column's test was on the text, which the parsed
                // record no longer has; the rows passed it already.
                let Some(field) = field_of(&test.column) else {
                    return true;
                };
                let mut value = Some(record);
                for key in field.split('.') {
                    value = value.and_then(|v| v.get(key));
                }
                // A value that is not a string had no column to test: the rule
                // decides.
                match value {
                    Some(Value::String(text)) => test.passes(text),
                    Some(Value::Null) | None => false,
                    Some(_) => true,
                }
            })
        })
}

fn merge(total: &mut RuleSummary, part: RuleSummary) {
    total.count += part.count;
    total.first_us = match (total.first_us, part.first_us) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    total.last_us = match (total.last_us, part.last_us) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    };
    total.accounts.extend(part.accounts);
}
