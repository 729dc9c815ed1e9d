//! `query` against a brute-force filter of the generated source records: same
//! records, same order, same bytes, for every filter and some combinations.

use std::path::Path;

use serde_json::Value;
use trailpack_decode::time::parse_event_time;
use trailpack_decode::{DecodeOptions, decode_bytes};

use super::{generate, path_str, source_files, text, trailpack};

/// One source record: its exact text, parsed value, and where it came from.
struct Source {
    key: String,
    index: u32,
    time: Option<i64>,
    text: String,
    value: Value,
}

fn sources(trail: &Path) -> Vec<Source> {
    let mut records = Vec::new();
    for (key, bytes) in source_files(trail) {
        // source_files names plain keys; the archive keeps `.gz` where the file had it.
        let archived_key = if trail.join(format!("{key}.gz")).is_file() {
            format!("{key}.gz")
        } else {
            key
        };
        let file = decode_bytes(bytes, &DecodeOptions::default()).unwrap();
        for index in 0..file.records.len() {
            let text = file.record(index).to_string();
            let value: Value = serde_json::from_str(&text).unwrap();
            let time = value["eventTime"].as_str().and_then(parse_event_time);
            records.push(Source {
                key: archived_key.clone(),
                index: index as u32,
                time,
                text,
                value,
            });
        }
    }
    records.sort_by(|a, b| (a.time, &a.key, a.index).cmp(&(b.time, &b.key, b.index)));
    records
}

fn field<'a>(value: &'a Value, path: &str) -> Option<&'a str> {
    path.split('.').try_fold(value, |v, k| v.get(k))?.as_str()
}

/// The key's account and region: `AWSLogs/[o-id/]<account>/CloudTrail[-Insight]/<region>/`.
fn partition(key: &str) -> (&str, &str) {
    let parts: Vec<&str> = key.split('/').collect();
    let at = parts
        .iter()
        .position(|p| p.starts_with("CloudTrail"))
        .unwrap();
    (parts[at - 1], parts[at + 1])
}

fn run_query(archive: &Path, args: &[&str]) -> Vec<String> {
    let mut all = vec!["query", path_str(archive)];
    all.extend_from_slice(args);
    let output = trailpack(&all);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{args:?}: {}",
        text(&output.stderr)
    );
    text(&output.stdout).lines().map(str::to_string).collect()
}

#[test]
fn every_filter_matches_a_brute_force_scan() {
    let dir = tempfile::tempdir().unwrap();
    let trail = dir.path().join("trail");
    let archive = dir.path().join("archive");
    generate(&trail, 150, 21);
    // Small parts and row groups, so that every pruning level has work to do.
    let output = trailpack(&[
        "archive",
        path_str(&trail),
        "--to",
        path_str(&archive),
        "--quiet",
        "--row-group-rows",
        "100",
        "--part-mib",
        "1",
        "--partition",
        "day",
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let records = sources(&trail);
    let some = |path: &str, nth: usize| -> String {
        let mut values: Vec<&str> = records
            .iter()
            .filter_map(|r| field(&r.value, path))
            .collect();
        values.sort_unstable();
        values.dedup();
        values[nth % values.len()].to_string()
    };
    let key = some("userIdentity.accessKeyId", 3);
    let arn = some("userIdentity.arn", 5);
    let ip = some("sourceIPAddress", 7);
    let event_id = some("eventID", 11);
    let error_code = some("errorCode", 0);
    let source = some("eventSource", 2);
    let (account, region) = partition(&records[0].key);
    let from = "2021-01-02T00:00:00Z";
    let until = "2021-01-02T12:00:00Z";
    let from_us = parse_event_time(from).unwrap();
    let until_us = parse_event_time(until).unwrap();
    let errors = |v: &Value| !v["errorCode"].is_null() || !v["errorMessage"].is_null();

    type Check<'a> = Box<dyn Fn(&Source) -> bool + 'a>;
    let cases: Vec<(Vec<String>, Check)> = vec![
        (vec![], Box::new(|_| true)),
        (
            vec![
                "--event-name".into(),
                "ConsoleLogin".into(),
                "--event-name".into(),
                "AssumeRole".into(),
            ],
            Box::new(|r| {
                matches!(
                    field(&r.value, "eventName"),
                    Some("ConsoleLogin" | "AssumeRole")
                )
            }),
        ),
        (
            vec!["--event-source".into(), source.clone()],
            Box::new(|r| field(&r.value, "eventSource") == Some(source.as_str())),
        ),
        (
            vec!["--access-key".into(), key.clone()],
            Box::new(|r| field(&r.value, "userIdentity.accessKeyId") == Some(key.as_str())),
        ),
        (
            vec!["--principal".into(), arn.clone()],
            Box::new(|r| field(&r.value, "userIdentity.arn") == Some(arn.as_str())),
        ),
        (
            vec!["--principal".into(), "assumed-role/".into()],
            Box::new(|r| {
                field(&r.value, "userIdentity.arn").is_some_and(|a| a.contains("assumed-role/"))
            }),
        ),
        (
            vec!["--source-ip".into(), ip.clone()],
            Box::new(|r| field(&r.value, "sourceIPAddress") == Some(ip.as_str())),
        ),
        (
            vec!["--error-code".into(), error_code.clone()],
            Box::new(|r| field(&r.value, "errorCode") == Some(error_code.as_str())),
        ),
        (vec!["--errors-only".into()], Box::new(|r| errors(&r.value))),
        (
            vec!["--event-id".into(), event_id.clone()],
            Box::new(|r| field(&r.value, "eventID") == Some(event_id.as_str())),
        ),
        (
            vec!["--read-only".into(), "true".into()],
            Box::new(|r| r.value["readOnly"] == Value::Bool(true)),
        ),
        (
            vec!["--user-agent".into(), "Boto3".into()],
            Box::new(|r| field(&r.value, "userAgent").is_some_and(|a| a.contains("Boto3"))),
        ),
        (
            vec!["--from".into(), from.into(), "--until".into(), until.into()],
            Box::new(|r| r.time.is_some_and(|t| t >= from_us && t < until_us)),
        ),
        (
            vec![
                "--account".into(),
                account.into(),
                "--region".into(),
                region.into(),
            ],
            Box::new(|r| partition(&r.key) == (account, region)),
        ),
        (
            vec![
                "--event-source".into(),
                source.clone(),
                "--errors-only".into(),
                "--from".into(),
                from.into(),
            ],
            Box::new(|r| {
                field(&r.value, "eventSource") == Some(source.as_str())
                    && errors(&r.value)
                    && r.time.is_some_and(|t| t >= from_us)
            }),
        ),
        (
            vec!["--event-name".into(), "NoSuchEvent".into()],
            Box::new(|_| false),
        ),
    ];
    for (args, check) in &cases {
        let expected: Vec<&str> = records
            .iter()
            .filter(|r| check(r))
            .map(|r| r.text.as_str())
            .collect();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let got = run_query(&archive, &args);
        assert_eq!(got.len(), expected.len(), "{args:?}");
        assert!(
            got.iter().zip(&expected).all(|(g, e)| g == e),
            "{args:?}: records or order differ"
        );
        // Every case but the last selects something in this tree, so none passes
        // vacuously.
        assert_eq!(
            expected.is_empty(),
            args == ["--event-name", "NoSuchEvent"],
            "{args:?}"
        );
        let count = run_query(&archive, &[&args[..], &["--count"]].concat());
        assert_eq!(count, vec![expected.len().to_string()], "{args:?}");
    }

    // --limit keeps the earliest; json wraps them as a Records file.
    let limited = run_query(
        &archive,
        &["--errors-only", "--limit", "3", "--format", "json"],
    );
    let expected: Vec<&str> = records
        .iter()
        .filter(|r| errors(&r.value))
        .take(3)
        .map(|r| r.text.as_str())
        .collect();
    assert_eq!(
        limited,
        vec![format!("{{\"Records\":[{}]}}", expected.join(","))]
    );

    // csv: the chosen columns, quoted where needed.
    let csv = run_query(
        &archive,
        &[
            "--event-id",
            &event_id,
            "--format",
            "csv",
            "--columns",
            "eventid,useridentity.type,readonly",
        ],
    );
    assert_eq!(csv[0], "eventid,useridentity.type,readonly");
    assert!(csv[1].starts_with(&format!("{event_id},")), "{csv:?}");

    // A selective lookup is pruned: --explain shows row groups skipped.
    let output = trailpack(&[
        "query",
        path_str(&archive),
        "--event-id",
        &event_id,
        "--explain",
        "--count",
    ]);
    let explain = text(&output.stderr);
    let pruned: u64 = explain
        .lines()
        .find(|l| l.starts_with("row groups:"))
        .unwrap()
        .split(", ")
        .filter(|p| p.contains("pruned"))
        .map(|p| p.split_whitespace().next().unwrap().parse::<u64>().unwrap())
        .sum();
    assert!(pruned > 0, "{explain}");
}

#[test]
fn a_bloom_filter_false_positive_still_returns_nothing() {
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    let dir = tempfile::tempdir().unwrap();
    let trail = dir.path().join("trail");
    let archive = dir.path().join("archive");
    generate(&trail, 40, 4);
    let output = trailpack(&[
        "archive",
        path_str(&trail),
        "--to",
        path_str(&archive),
        "--quiet",
    ]);
    assert_eq!(output.status.code(), Some(0));
    // Find an access key that no record has but some row group's bloom filter admits.
    let parts: Vec<_> = super::snapshot(&archive)
        .parts
        .keys()
        .map(|p| archive.join(p))
        .collect();
    let mut blooms = Vec::new();
    for part in &parts {
        let builder =
            ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(part).unwrap()).unwrap();
        let column = builder
            .parquet_schema()
            .columns()
            .iter()
            .position(|c| c.path().string() == "useridentity.accesskeyid")
            .unwrap();
        for rg in 0..builder.metadata().num_row_groups() {
            blooms.extend(
                builder
                    .get_row_group_column_bloom_filter(rg, column)
                    .unwrap(),
            );
        }
    }
    let false_positive = (0..1_000_000u32)
        .map(|i| format!("AKIAZZZZ{i:012}"))
        .find(|candidate| blooms.iter().any(|b| b.check(candidate.as_str())))
        .expect("a false positive among a million candidates");
    let output = trailpack(&[
        "query",
        path_str(&archive),
        "--access-key",
        &false_positive,
        "--explain",
    ]);
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(text(&output.stdout), "");
    let explain = text(&output.stderr);
    assert!(explain.contains(", 0 matched"), "{explain}");
}

#[test]
fn malformed_filters_are_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("archive");
    trailpack_table::Table::open_or_create(&trailpack_store::ArchiveRoot::from(&archive), None)
        .unwrap();
    for (args, message) in [
        (
            vec!["--access-key", "akia-lowercase"],
            "is not an access key ID",
        ),
        (
            vec!["--account", "1234"],
            "is not a 12-digit AWS account ID",
        ),
        (vec!["--read-only", "maybe"], "invalid value 'maybe'"),
        (vec!["--from", "yesterday"], "invalid time \"yesterday\""),
        (vec!["--format", "xml"], "invalid value 'xml'"),
        (
            vec!["--columns", "eventtime,nosuchcolumn", "--format", "csv"],
            "unknown column \"nosuchcolumn\"",
        ),
        (vec!["--limit", "-1"], "unexpected argument '-1'"),
    ] {
        let mut all = vec!["query", path_str(&archive)];
        all.extend(&args);
        let output = trailpack(&all);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let stderr = text(&output.stderr);
        assert!(stderr.contains(message), "{args:?}: {stderr}");
    }
}

#[test]
fn duplicate_deliveries_are_reported_kept_and_hidden_by_dedup() {
    let dir = tempfile::tempdir().unwrap();
    let trail = dir.path().join("trail");
    crate::generate(&trail, 40, 31);
    // A redelivery (same records, a new file name) and an overlapping account
    // trail (same file under the account's own AWSLogs/ layout).
    let logs: Vec<_> = crate::files_under(&trail)
        .into_iter()
        .filter(|p| {
            p.to_string_lossy().contains("/CloudTrail/")
                && p.to_string_lossy().ends_with(".json.gz")
        })
        .collect();
    let redelivered = &logs[0];
    let name = redelivered
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let (stem, _) = name.rsplit_once('_').unwrap();
    std::fs::copy(
        redelivered,
        redelivered.with_file_name(format!("{stem}_Redelivered00000.json.gz")),
    )
    .unwrap();
    let overlapping = &logs[1];
    let relative = overlapping
        .strip_prefix(&trail)
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let at = relative.find("AWSLogs/").unwrap();
    let account_trail = dir
        .path()
        .join("account-trail")
        .join(relative[at..].replace("o-abc123xyz0/", ""));
    std::fs::create_dir_all(account_trail.parent().unwrap()).unwrap();
    std::fs::copy(overlapping, &account_trail).unwrap();
    let records_in = |path: &Path| {
        let value: Value =
            serde_json::from_slice(&crate::gunzip(&std::fs::read(path).unwrap())).unwrap();
        value["Records"].as_array().unwrap().len() as u64
    };
    let duplicates = records_in(redelivered) + records_in(overlapping);
    assert!(duplicates > 0);

    let archive = dir.path().join("archive");
    let report_path = dir.path().join("report.json");
    let output = trailpack(&[
        "archive",
        path_str(&trail),
        path_str(&dir.path().join("account-trail")),
        "--to",
        path_str(&archive),
        "--report",
        path_str(&report_path),
        "-q",
    ]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let run = crate::report(&report_path);
    assert_eq!(run["duplicate_records"].as_u64().unwrap(), duplicates);
    // Each example names an event of the two files delivered twice, with its account.
    let delivered_twice: std::collections::BTreeSet<(String, String)> = [redelivered, overlapping]
        .iter()
        .flat_map(|path| {
            let value: Value =
                serde_json::from_slice(&crate::gunzip(&std::fs::read(path).unwrap())).unwrap();
            value["Records"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| {
                    (
                        r["eventID"].as_str().unwrap().to_string(),
                        r["recipientAccountId"].as_str().unwrap_or("").to_string(),
                    )
                })
                .collect::<Vec<_>>()
        })
        .collect();
    let examples = run["duplicate_examples"].as_array().unwrap();
    assert!(!examples.is_empty());
    for example in examples {
        let named = (
            example["event_id"].as_str().unwrap().to_string(),
            example["recipient_account_id"]
                .as_str()
                .unwrap()
                .to_string(),
        );
        assert!(delivered_twice.contains(&named), "{example}");
    }
    let count = |extra: &[&str]| -> u64 {
        let mut args = vec!["query", path_str(&archive), "--count"];
        args.extend_from_slice(extra);
        text(&trailpack(&args).stdout).trim().parse().unwrap()
    };
    let total = count(&[]);
    assert_eq!(total, run["records_out"].as_u64().unwrap());
    assert_eq!(count(&["--dedup"]), total - duplicates);
    // The printed records agree with the counts, and no (eventID, account) repeats.
    let unique = run_query(&archive, &["--dedup"]);
    assert_eq!(unique.len() as u64, total - duplicates);
    let ids: std::collections::BTreeSet<(String, String)> = unique
        .iter()
        .map(|r| {
            let v: Value = serde_json::from_str(r).unwrap();
            (
                v["eventID"].as_str().unwrap().to_string(),
                v["recipientAccountId"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    assert_eq!(ids.len(), unique.len());
    assert_eq!(
        run_query(&archive, &["--dedup", "--limit", "5"]),
        unique[..5].to_vec()
    );
    // Every copy is still in the archive, exactly.
    let restored = crate::restored(&archive, false);
    let mut expected = crate::source_files(&trail);
    expected.extend(crate::source_files(&dir.path().join("account-trail")));
    assert_eq!(restored, expected);
}
