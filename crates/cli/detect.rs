//! `detect`: Sigma rules over an archive, a summary per rule or the matching
//! records out.

use std::io::Write;

use serde_json::{Value, json};
use trailpack_decode::time::format_event_time;
use trailpack_detect::{
    DetectOptions, Detections, FirstSeen, Novelty, NoveltyKind, RuleSet, RuleSummary, detect,
    first_seen,
};
use trailpack_query::QueryFilter;

use crate::args::{DetectArgs, DetectFormat};
use crate::query::{micros, print_explain};

pub fn run(args: DetectArgs) -> anyhow::Result<u8> {
    let root = crate::open_archive(&args.archive, &args.s3)?;
    let builtin = args.builtin || (args.rules.is_empty() && !args.first_seen);
    let (rules, problems) = RuleSet::load(builtin, &args.rules);
    for problem in &problems {
        eprintln!("trailpack: skipped {problem}");
    }
    let options = DetectOptions {
        scope: QueryFilter {
            from_us: micros(args.scope.from),
            until_us: micros(args.scope.until),
            accounts: args.scope.account.clone(),
            regions: args.scope.region.clone(),
            ..QueryFilter::default()
        },
        events: args.events,
    };
    let found = detect(&root, &rules, &options)?;
    if let Some((key, index)) = found.unparsed.first() {
        eprintln!(
            "trailpack: {} records could not be parsed for the rules (nesting deeper than \
             128, or a lone surrogate escape) and were not checked, the first {key} record {index}",
            found.unparsed.len()
        );
    }
    if args.explain && !rules.is_empty() {
        print_explain(&found.explain);
    }
    let first = match args.first_seen {
        true => {
            let first = first_seen(&root, &options.scope, args.baseline)?;
            if args.explain {
                print_explain(&first.explain);
            }
            Some(first)
        }
        false => None,
    };
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    if args.events {
        for hit in &found.events {
            let rule = &found.rules[hit.rule].id;
            out.write_all(b"{\"rule\":")?;
            serde_json::to_writer(&mut out, rule)?;
            out.write_all(b",\"record\":")?;
            out.write_all(&hit.found.record)?;
            out.write_all(b"}\n")?;
        }
        out.flush()?;
        let stderr = &mut std::io::stderr();
        print_summary(
            &found,
            DetectFormat::Table,
            &problems,
            first.as_ref(),
            stderr,
        )?;
    } else {
        print_summary(&found, args.format, &problems, first.as_ref(), &mut out)?;
        out.flush()?;
    }
    Ok(u8::from(!problems.is_empty()))
}

fn time(micros: Option<i64>) -> String {
    let mut text = String::new();
    if let Some(micros) = micros {
        format_event_time(micros, &mut text);
    }
    text
}

fn summary_json(rule: &RuleSummary) -> Value {
    json!({
        "id": rule.id,
        "title": rule.title,
        "level": rule.level,
        "count": rule.count,
        "first": rule.first_us.map(|t| time(Some(t))),
        "last": rule.last_us.map(|t| time(Some(t))),
        "accounts": rule.accounts,
    })
}

fn novelty_json(novelty: &Novelty) -> Value {
    json!({
        "first_seen": novelty.kind,
        "subject": novelty.subject,
        "value": novelty.value,
        "first": time(Some(novelty.first_us)),
        "eventID": novelty.event_id,
    })
}

fn print_summary(
    found: &Detections,
    format: DetectFormat,
    problems: &[trailpack_detect::RuleProblem],
    first: Option<&FirstSeen>,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let novelties = first.map_or(&[][..], |f| f.novelties.as_slice());
    match format {
        DetectFormat::Jsonl => {
            for rule in &found.rules {
                writeln!(out, "{}", summary_json(rule))?;
            }
            for novelty in novelties {
                writeln!(out, "{}", novelty_json(novelty))?;
            }
        }
        DetectFormat::Json => {
            let document = json!({
                "rules": found.rules.iter().map(summary_json).collect::<Vec<_>>(),
                "skipped": problems
                    .iter()
                    .map(|p| json!({"file": p.origin, "reason": p.reason}))
                    .collect::<Vec<_>>(),
                "rows_rebuilt": found.explain.rows_matched,
                "records_not_checked": found.unparsed.len(),
                "first_seen": first.map(|f| json!({
                    "start": f.start_us.map(|t| time(Some(t))),
                    "baseline_end": f.baseline_end_us.map(|t| time(Some(t))),
                    "novelties": f.novelties.iter().map(novelty_json).collect::<Vec<_>>(),
                })),
            });
            serde_json::to_writer_pretty(&mut *out, &document)?;
            writeln!(out)?;
        }
        DetectFormat::Table => {
            if !found.rules.is_empty() {
                print_rule_table(found, out)?;
            }
            if let Some(first) = first {
                print_first_seen_table(first, out)?;
            }
        }
    }
    Ok(())
}

/// `cells` in columns as wide as their widest cell, with a header.
fn print_aligned<const N: usize>(
    header: [&str; N],
    rows: &[[String; N]],
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let mut widths = header.map(str::len);
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(widths)
            .map(|(cell, width)| format!("{cell:width$}"))
            .collect();
        padded.join("  ").trim_end().to_string()
    };
    writeln!(out, "{}", line(header.to_vec()))?;
    for row in rows {
        writeln!(out, "{}", line(row.iter().map(String::as_str).collect()))?;
    }
    Ok(())
}

fn print_first_seen_table(first: &FirstSeen, out: &mut impl Write) -> anyhow::Result<()> {
    writeln!(
        out,
        "first seen after the baseline {} .. {}: {}",
        time(first.start_us),
        time(first.baseline_end_us),
        first.novelties.len()
    )?;
    let rows: Vec<[String; 5]> = first
        .novelties
        .iter()
        .map(|n| {
            let kind = match n.kind {
                NoveltyKind::Region => "region",
                NoveltyKind::EventSource => "event-source",
            };
            [
                time(Some(n.first_us)),
                kind.to_string(),
                n.subject.clone(),
                n.value.clone(),
                n.event_id.clone().unwrap_or_default(),
            ]
        })
        .collect();
    print_aligned(["FIRST", "KIND", "WHO", "WHAT", "EVENT ID"], &rows, out)
}

fn print_rule_table(found: &Detections, out: &mut impl Write) -> anyhow::Result<()> {
    let rows: Vec<[String; 7]> = found
        .rules
        .iter()
        .map(|rule| {
            [
                rule.level.clone().unwrap_or_default(),
                rule.count.to_string(),
                time(rule.first_us),
                time(rule.last_us),
                rule.accounts.iter().cloned().collect::<Vec<_>>().join(","),
                rule.id.clone(),
                rule.title.clone(),
            ]
        })
        .collect();
    let header = ["LEVEL", "COUNT", "FIRST", "LAST", "ACCOUNTS", "ID", "TITLE"];
    print_aligned(header, &rows, out)
}
