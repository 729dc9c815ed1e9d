//! `detect`: Sigma rules over an archive, a summary per rule or the matching
//! records out.

use std::io::Write;

use serde_json::{Value, json};
use trailpack_decode::time::format_event_time;
use trailpack_detect::{DetectOptions, Detections, RuleSet, RuleSummary, detect};

use crate::args::{DetectArgs, DetectFormat};
use crate::query::{micros, print_explain};

pub fn run(args: DetectArgs) -> anyhow::Result<u8> {
    let root = crate::open_archive(&args.archive, &args.s3)?;
    let builtin = args.builtin || args.rules.is_empty();
    let (rules, problems) = RuleSet::load(builtin, &args.rules);
    for problem in &problems {
        eprintln!("trailpack: skipped {problem}");
    }
    let options = DetectOptions {
        from_us: micros(args.scope.from),
        until_us: micros(args.scope.until),
        accounts: args.scope.account.clone(),
        regions: args.scope.region.clone(),
        events: args.events,
    };
    let found = detect(&root, &rules, &options)?;
    if args.explain {
        print_explain(&found.explain);
    }
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
        print_summary(
            &found,
            DetectFormat::Table,
            &problems,
            &mut std::io::stderr(),
        )?;
    } else {
        print_summary(&found, args.format, &problems, &mut out)?;
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

fn print_summary(
    found: &Detections,
    format: DetectFormat,
    problems: &[trailpack_detect::RuleProblem],
    out: &mut impl Write,
) -> anyhow::Result<()> {
    match format {
        DetectFormat::Jsonl => {
            for rule in &found.rules {
                writeln!(out, "{}", summary_json(rule))?;
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
            });
            serde_json::to_writer_pretty(&mut *out, &document)?;
            writeln!(out)?;
        }
        DetectFormat::Table => {
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
            let mut widths = header.map(str::len);
            for row in &rows {
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
            for row in &rows {
                writeln!(out, "{}", line(row.iter().map(String::as_str).collect()))?;
            }
        }
    }
    Ok(())
}
