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
    /// The events to look at (time range, partitions, …). Its `any_of` is
    /// replaced by the rules' column conditions.
    pub scope: QueryFilter,
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
        any_of,
        ..options.scope.clone()
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use proptest::strategy::ValueTree;
    use trailpack_query::TextMatch;

    /// Field values that fold, escape and wildcard in awkward ways: case variants,
    /// the long s and the Kelvin sign (which fold to ASCII letters), slashes JSON
    /// writers escape, numbers, and Sigma's wildcard characters.
    const WORDS: [&str; 14] = [
        "GetObject",
        "getobject",
        "GETOBJECT",
        "ſtop",
        "stop",
        "\u{212a}ey",
        "key",
        "a/b",
        "Delete*",
        "*Object",
        "?et*",
        "100",
        "true",
        "",
    ];
    const FIELDS: [&str; 6] = [
        "eventName",
        "userAgent",
        "errorCode",
        "userIdentity.type",
        "requestParameters.bucketName",
        "requestParameters.items.name",
    ];
    const MODIFIERS: [&str; 9] = [
        "",
        "|contains",
        "|startswith",
        "|endswith",
        "|cased",
        "|contains|all",
        "|exists",
        "|re",
        "|re|i",
    ];
    const PATTERNS: [&str; 4] = ["^Get", "(?i)object$", "o.j", "^ſ"];
    const CONDITIONS: [&str; 7] = [
        "sel_a",
        "not sel_a",
        "sel_a and sel_b",
        "sel_a or sel_b",
        "1 of sel_*",
        "all of sel_*",
        "0 of sel_*",
    ];

    fn quoted(text: &str) -> String {
        format!("'{}'", text.replace('\'', "''"))
    }

    fn item() -> impl Strategy<Value = String> {
        (
            0..FIELDS.len(),
            0..MODIFIERS.len(),
            prop::collection::vec(0..WORDS.len(), 1..3),
            0..PATTERNS.len(),
            any::<bool>(),
        )
            .prop_map(|(field, modifier, words, pattern, flag)| {
                let key = format!("{}{}", FIELDS[field], MODIFIERS[modifier]);
                let values: Vec<String> = match MODIFIERS[modifier] {
                    "|exists" => vec![flag.to_string()],
                    "|re" | "|re|i" => vec![quoted(PATTERNS[pattern])],
                    _ => words.iter().map(|&w| quoted(WORDS[w])).collect(),
                };
                format!("        {key}: [{}]\n", values.join(", "))
            })
    }

    fn rule() -> impl Strategy<Value = String> {
        (
            prop::collection::vec(item(), 1..3),
            prop::collection::vec(item(), 1..3),
            0..CONDITIONS.len(),
        )
            .prop_map(|(a, b, condition)| {
                format!(
                    "title: generated\nlogsource:\n    product: aws\n    service: cloudtrail\n\
                     detection:\n    sel_a:\n{}    sel_b:\n{}    condition: {}\n",
                    a.concat(),
                    b.concat(),
                    CONDITIONS[condition]
                )
            })
    }

    fn value() -> impl Strategy<Value = Value> {
        prop_oneof![
            (0..WORDS.len()).prop_map(|w| Value::from(WORDS[w])),
            (0..WORDS.len()).prop_map(|w| serde_json::json!([WORDS[w]])),
            Just(Value::from(100)),
            Just(Value::from(true)),
            Just(Value::Null),
        ]
    }

    fn record() -> impl Strategy<Value = Value> {
        prop::collection::vec(prop::option::of(value()), FIELDS.len()).prop_map(|values| {
            let mut record = serde_json::json!({});
            for (field, value) in FIELDS.iter().zip(values) {
                let Some(value) = value else { continue };
                match field.split('.').collect::<Vec<_>>().as_slice() {
                    [top] => record[*top] = value,
                    [top, "items", key] => {
                        record[*top]["items"] = serde_json::json!([{ *key: value }])
                    }
                    [top, key] => record[*top][*key] = value,
                    _ => unreachable!("the fields above"),
                }
            }
            record
        })
    }

    /// The archive's view of a record for a column test: a string column holds
    /// strings only (null otherwise, the value kept elsewhere, which passes); a
    /// JSON-text column holds the field's JSON text.
    fn column_passes(test: &ColumnTest, record: &Value) -> bool {
        let field = match test.column.as_str() {
            "requestparameters" => {
                return record
                    .get("requestParameters")
                    .is_some_and(|v| !v.is_null() && test.passes(&v.to_string()));
            }
            column => field_of(column).expect("a column the fields above map to"),
        };
        let mut value = Some(record);
        for key in field.split('.') {
            value = value.and_then(|v| v.get(key));
        }
        match value {
            None | Some(Value::Null) => false,
            Some(Value::String(text)) => test.passes(text),
            Some(_) => true,
        }
    }

    /// The pushdown never drops a match: whatever a generated rule matches in a
    /// generated record passes its column condition, both as the archive's columns
    /// see the record and as the per-record re-check does. Counts show the check
    /// is not vacuous.
    #[test]
    fn every_match_passes_the_pushdown() {
        let mut runner = proptest::test_runner::TestRunner::deterministic();
        let cases = (rule(), prop::collection::vec(record(), 16));
        let (mut loaded, mut matched, mut narrowed) = (0, 0, 0);
        for _ in 0..3000 {
            let (yaml, records): (String, Vec<Value>) =
                cases.new_tree(&mut runner).unwrap().current();
            let mut set = RuleSet::default();
            let mut problems = Vec::new();
            set.add_text("generated", &yaml, &mut problems);
            for rule in set.rules() {
                loaded += 1;
                narrowed += usize::from(!rule.pushdown().iter().any(Vec::is_empty));
                for record in records.iter().filter(|r| rule.matches(r)) {
                    matched += 1;
                    let on_columns = rule
                        .pushdown()
                        .iter()
                        .any(|tests| tests.iter().all(|test| column_passes(test, record)));
                    assert!(on_columns, "{yaml}\n{record}\n{:?}", rule.pushdown());
                    assert!(passes(rule.pushdown(), record), "{yaml}\n{record}");
                }
            }
        }
        assert!(
            loaded > 2000 && narrowed > 1000 && matched > 2000,
            "{loaded} {narrowed} {matched}"
        );
    }

    #[test]
    fn the_generator_makes_rules_that_load() {
        let yaml = "title: t\nlogsource:\n    product: aws\n    service: cloudtrail\n\
                    detection:\n    sel_a:\n        eventName: ['Get*']\n    sel_b:\n        \
                    userAgent|re: ['^Get']\n    condition: 1 of sel_*\n";
        let mut set = RuleSet::default();
        let mut problems = Vec::new();
        set.add_text("generated", yaml, &mut problems);
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(set.rules()[0].pushdown()[1][0].how, TextMatch::Regex);
    }
}
