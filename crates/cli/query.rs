//! `query`: filters from the command line, records or a table out.

use std::io::Write;

use serde_json::Value;
use trailpack_decode::time::parse_event_time;
use trailpack_query::{Explain, QueryFilter, QueryMatch};
use trailpack_source::UtcTime;

use crate::args::{QueryArgs, QueryFormat};

pub fn micros(time: Option<UtcTime>) -> Option<i64> {
    time.and_then(|t| parse_event_time(&t.to_string()))
}

pub fn run(mut args: QueryArgs) -> anyhow::Result<u8> {
    let root = crate::open_archive(&args.archive, &args.s3)?;
    if let Some(unknown) = args.columns.iter().find(|c| !is_column(c)) {
        // A usage error, like clap's own: exit 2.
        anyhow::bail!("--columns: unknown column {unknown:?} (see `trailpack schema`)");
    }
    let filter = QueryFilter {
        from_us: micros(args.scope.from),
        until_us: micros(args.scope.until),
        accounts: std::mem::take(&mut args.scope.account),
        regions: std::mem::take(&mut args.scope.region),
        event_sources: std::mem::take(&mut args.event_source),
        event_names: std::mem::take(&mut args.event_name),
        principals: std::mem::take(&mut args.principal),
        access_keys: std::mem::take(&mut args.access_key),
        source_ips: std::mem::take(&mut args.source_ip),
        error_codes: std::mem::take(&mut args.error_code),
        errors_only: args.errors_only,
        event_ids: std::mem::take(&mut args.event_id),
        read_only: args.read_only,
        user_agents: std::mem::take(&mut args.user_agent),
        any_of: Vec::new(),
    };
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    if args.dedup {
        return print_deduplicated(&args, &root, &filter, &mut out);
    }
    if args.count {
        // Counting needs the filter columns only, not the records.
        let (count, explain) = trailpack_query::count(&root, &filter)?;
        if args.explain {
            print_explain(&explain);
        }
        let count = args.limit.map_or(count, |limit| count.min(limit as u64));
        writeln!(out, "{count}")?;
        out.flush()?;
        return Ok(0);
    }
    let (matches, explain) = trailpack_query::query(&root, &filter, args.limit)?;
    if args.explain {
        print_explain(&explain);
    }
    print_matches(&args, &matches, &mut out)
}

/// `--dedup`: the first record of each (eventID, recipientAccountId) in event-time
/// order; records without an eventID are all kept.
fn print_deduplicated(
    args: &QueryArgs,
    root: &trailpack_store::ArchiveRoot,
    filter: &QueryFilter,
    out: &mut impl Write,
) -> anyhow::Result<u8> {
    // The limit applies after duplicates are hidden.
    let (matches, explain) = trailpack_query::query(root, filter, None)?;
    if args.explain {
        print_explain(&explain);
    }
    let mut seen = std::collections::HashSet::new();
    let mut unique: Vec<QueryMatch> = Vec::new();
    for m in matches {
        if args.limit.is_some_and(|limit| unique.len() >= limit) {
            break;
        }
        let record: Value = serde_json::from_slice(&m.record).unwrap_or_default();
        let first = match record["eventID"].as_str() {
            Some(id) => seen.insert((
                id.to_string(),
                record["recipientAccountId"].as_str().map(str::to_string),
            )),
            None => true,
        };
        if first {
            unique.push(m);
        }
    }
    if args.count {
        writeln!(out, "{}", unique.len())?;
        out.flush()?;
        return Ok(0);
    }
    print_matches(args, &unique, out)
}

fn print_matches(
    args: &QueryArgs,
    matches: &[QueryMatch],
    out: &mut impl Write,
) -> anyhow::Result<u8> {
    match args.format {
        QueryFormat::Jsonl => {
            for m in matches {
                out.write_all(&m.record)?;
                out.write_all(b"\n")?;
            }
        }
        QueryFormat::Json => {
            out.write_all(b"{\"Records\":[")?;
            for (i, m) in matches.iter().enumerate() {
                if i > 0 {
                    out.write_all(b",")?;
                }
                out.write_all(&m.record)?;
            }
            out.write_all(b"]}\n")?;
        }
        QueryFormat::Csv => {
            writeln!(out, "{}", args.columns.join(","))?;
            for m in matches {
                let cells: Vec<String> = cells(m, &args.columns)
                    .iter()
                    .map(|c| csv_quote(c))
                    .collect();
                writeln!(out, "{}", cells.join(","))?;
            }
        }
        QueryFormat::Table => {
            let rows: Vec<Vec<String>> = matches.iter().map(|m| cells(m, &args.columns)).collect();
            let widths: Vec<usize> = args
                .columns
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    rows.iter()
                        .map(|r| r[i].chars().count())
                        .chain([c.len()])
                        .max()
                        .unwrap_or(0)
                })
                .collect();
            let line = |cells: &[String]| {
                cells
                    .iter()
                    .zip(&widths)
                    .map(|(c, w)| format!("{c:w$}"))
                    .collect::<Vec<_>>()
                    .join("  ")
                    .trim_end()
                    .to_string()
            };
            writeln!(out, "{}", line(&args.columns))?;
            for row in &rows {
                writeln!(out, "{}", line(row))?;
            }
        }
    }
    out.flush()?;
    Ok(0)
}

/// Whether `name` is a dotted column of the schema (list elements included).
fn is_column(name: &str) -> bool {
    trailpack_schema::fields::describe()
        .iter()
        .any(|(column, _, _)| column.replace("[]", "") == name)
}

/// The values of `columns` in a record: each key matched case-insensitively, as
/// Athena's lower-case names map to CloudTrail's keys.
fn cells(m: &QueryMatch, columns: &[String]) -> Vec<String> {
    let record: Value = serde_json::from_slice(&m.record).unwrap_or(Value::Null);
    columns
        .iter()
        .map(|column| {
            let mut value = &record;
            for part in column.split('.') {
                value = match value {
                    Value::Object(map) => map
                        .iter()
                        .find(|(k, _)| k.eq_ignore_ascii_case(part))
                        .map_or(&Value::Null, |(_, v)| v),
                    _ => &Value::Null,
                };
            }
            match value {
                Value::Null => String::new(),
                Value::String(text) => text.clone(),
                other => other.to_string(),
            }
        })
        .collect()
}

fn csv_quote(cell: &str) -> String {
    if cell.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", cell.replace('"', "\"\""))
    } else {
        cell.to_string()
    }
}

pub fn print_explain(explain: &Explain) {
    eprintln!(
        "parts:      {} in the archive, {} pruned by partition, {} by their event-time range",
        explain.parts, explain.parts_pruned_by_partition, explain.parts_pruned_by_time
    );
    eprintln!(
        "row groups: {} in opened parts, {} pruned by statistics, {} by bloom filters, {} scanned",
        explain.row_groups,
        explain.row_groups_pruned_by_statistics,
        explain.row_groups_pruned_by_bloom_filter,
        explain.row_groups_scanned
    );
    eprintln!(
        "rows:       {} scanned (filter columns only), {} matched",
        explain.rows_scanned, explain.rows_matched
    );
    eprintln!(
        "pages:      {} read for matched rows, {} skipped by the page index",
        explain.pages_read, explain.pages_skipped
    );
    eprintln!(
        "bytes:      {} read of {} archive bytes ({:.2}%)",
        explain.bytes_read,
        explain.archive_bytes,
        100.0 * explain.bytes_read as f64 / explain.archive_bytes.max(1) as f64
    );
    if explain.bytes_fetched > 0 {
        eprintln!(
            "fetched:    {} bytes from S3 ({:.2}% of the archive)",
            explain.bytes_fetched,
            100.0 * explain.bytes_fetched as f64 / explain.archive_bytes.max(1) as f64
        );
    }
}
