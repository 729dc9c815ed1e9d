//! `detect`: every rule, built-in and from files, finds exactly the events an
//! independent brute-force evaluator finds over the raw source tree; rule files
//! that cannot be used are named and skipped.

use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::{ACCOUNT, REGION, generate, gzip, log_name, path_str, source_files, text, trailpack};

/// The Stratus Red Team attack records, one file each, beside a generated tree.
fn trail_with_attacks(dir: &Path) -> PathBuf {
    let trail = dir.join("trail");
    generate(&trail, 300, 41);
    let day = trail.join(format!("AWSLogs/{ACCOUNT}/CloudTrail/{REGION}/2021/01/02"));
    std::fs::create_dir_all(&day).unwrap();
    let corpus =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/real/DataDog__stratus-red-team");
    let mut attacks: Vec<PathBuf> = std::fs::read_dir(corpus)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "json"))
        .collect();
    attacks.sort();
    // An eventName that is an array (kept in additionalfields, its column null),
    // which the rule engine matches by any element; and a record with a lone
    // surrogate escape, which the archive keeps exactly but the rule engine's
    // JSON parser refuses (counted, not checked).
    let array_name = r#"{"Records":[{"eventVersion":"1.08","eventTime":"2021-01-02T10:00:00Z","eventSource":"cloudtrail.amazonaws.com","eventName":["StopLogging"],"awsRegion":"us-east-1","eventID":"array-event-name","recipientAccountId":"123456789012"}]}"#;
    let lone_surrogate = r#"{"Records":[{"eventVersion":"1.08","eventTime":"2021-01-02T11:00:00Z","eventSource":"cloudtrail.amazonaws.com","eventName":"StopLogging","userAgent":"\ud800","eventID":"lone-surrogate"}]}"#;
    for (index, text) in [array_name, lone_surrogate].iter().enumerate() {
        let name = log_name(900 + index, false).replace("20210101", "20210102");
        std::fs::write(day.join(name), text).unwrap();
    }
    for (index, path) in attacks.iter().enumerate() {
        let records: Vec<Value> = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
        let file = serde_json::json!({ "Records": records }).to_string();
        let name = log_name(index, true).replace("20210101", "20210102");
        std::fs::write(day.join(name), gzip(file.as_bytes())).unwrap();
    }
    trail
}

/// Rule id -> the eventIDs it matches, sorted (repeats kept), found by parsing
/// every record of every source file and evaluating each rule on it with no
/// pruning at all.
fn brute_force(trail: &Path, rule_dirs: &[PathBuf]) -> BTreeMap<String, Vec<String>> {
    let mut rules = Vec::new();
    for dir in rule_dirs {
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .collect();
        files.sort();
        for file in files {
            let yaml = std::fs::read_to_string(&file).unwrap();
            for rule in rsigma_parser::parse_sigma_yaml(&yaml).unwrap().rules {
                let compiled = rsigma_eval::compile_rule(&rule).unwrap();
                rules.push((rule.id.clone().unwrap(), compiled));
            }
        }
    }
    let mut found: BTreeMap<String, Vec<String>> = rules
        .iter()
        .map(|(id, _)| (id.clone(), Vec::new()))
        .collect();
    for bytes in source_files(trail).values() {
        let Ok(file) = serde_json::from_slice::<Value>(bytes) else {
            continue;
        };
        let Some(records) = file.get("Records").and_then(Value::as_array) else {
            continue;
        };
        for record in records {
            let event = rsigma_eval::event::JsonEvent::borrow(record);
            for (id, compiled) in &rules {
                if rsigma_eval::evaluate_rule(compiled, &event).is_some() {
                    let event_id = record["eventID"].as_str().unwrap_or_default();
                    found.get_mut(id).unwrap().push(event_id.to_string());
                }
            }
        }
    }
    for ids in found.values_mut() {
        ids.sort();
    }
    found
}

/// The tree of [`trail_with_attacks`] and its archive.
fn archived_attacks(dir: &Path) -> (PathBuf, PathBuf) {
    let trail = trail_with_attacks(dir);
    let archive = dir.join("archive");
    let output = trailpack(&[
        "archive",
        path_str(&trail),
        "--to",
        path_str(&archive),
        "-q",
    ]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    (trail, archive)
}

#[test]
fn every_rule_finds_what_a_brute_force_evaluator_finds() {
    let dir = tempfile::tempdir().unwrap();
    let (trail, archive) = archived_attacks(dir.path());
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let builtin = root.join("crates/detect/rules");
    let pack = root.join("tests/data/sigma");
    let output = trailpack(&[
        "detect",
        path_str(&archive),
        "--builtin",
        "--rules",
        path_str(&pack),
        "--events",
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let mut detected: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut times = Vec::new();
    for line in text(&output.stdout).lines() {
        let hit: Value = serde_json::from_str(line).unwrap();
        let event_id = hit["record"]["eventID"].as_str().unwrap_or_default();
        times.push(
            hit["record"]["eventTime"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        );
        detected
            .entry(hit["rule"].as_str().unwrap().to_string())
            .or_default()
            .push(event_id.to_string());
    }
    // Events come in event-time order.
    assert!(times.windows(2).all(|w| w[0] <= w[1]));
    let expected = brute_force(&trail, &[builtin, pack]);
    for ids in detected.values_mut() {
        ids.sort();
    }
    let mut firing = 0;
    for (id, ids) in &expected {
        let got = detected.get(id).cloned().unwrap_or_default();
        assert_eq!(&got, ids, "rule {id}");
        firing += usize::from(!ids.is_empty());
    }
    assert!(detected.keys().all(|id| expected.contains_key(id)));
    // The array-valued eventName reached the rule through its null column.
    assert!(
        detected
            .values()
            .flatten()
            .any(|id| id == "array-event-name")
    );
    // The check means something only if most rules fire on this tree.
    assert!(firing >= 20, "{firing} of {} rules fired", expected.len());

    // The summary counts agree with the events.
    let output = trailpack(&[
        "detect",
        path_str(&archive),
        "--rules",
        path_str(&root.join("tests/data/sigma")),
        "--format",
        "json",
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let summary: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(summary["records_not_checked"], 1);
    assert!(text(&output.stderr).contains("1 records could not be parsed for the rules"));
    for rule in summary["rules"].as_array().unwrap() {
        let id = rule["id"].as_str().unwrap();
        assert_eq!(
            rule["count"].as_u64().unwrap() as usize,
            expected[id].len(),
            "{id}"
        );
    }
    // The rules are narrowed by columns (a userAgent regex and nested fields
    // included), so fewer rows are rebuilt than the archive holds; for the
    // built-in pack, far fewer.
    let total: usize = source_files(&trail)
        .values()
        .filter_map(|b| serde_json::from_slice::<Value>(b).ok())
        .filter_map(|f| f.get("Records").and_then(Value::as_array).map(Vec::len))
        .sum();
    let pack_rebuilt = summary["rows_rebuilt"].as_u64().unwrap() as usize;
    assert!(
        pack_rebuilt > 0 && pack_rebuilt < total,
        "{pack_rebuilt} of {total}"
    );
    let output = trailpack(&["detect", path_str(&archive), "--format", "json"]);
    let builtin: Value = serde_json::from_slice(&output.stdout).unwrap();
    let rebuilt = builtin["rows_rebuilt"].as_u64().unwrap() as usize;
    assert!(rebuilt > 0 && rebuilt * 5 < total, "{rebuilt} of {total}");
}

#[test]
fn unusable_rule_files_are_named_skipped_and_set_the_exit_status() {
    let dir = tempfile::tempdir().unwrap();
    let (_, archive) = archived_attacks(dir.path());
    let broken = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/sigma-broken");
    let output = trailpack(&[
        "detect",
        path_str(&archive),
        "--rules",
        path_str(&broken),
        "--format",
        "jsonl",
    ]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 2, "{stderr}");
    assert!(
        lines[0].starts_with("trailpack: skipped ")
            && lines[0].contains("broken.yml: not a Sigma rule"),
        "{stderr}"
    );
    assert!(
        lines[1].contains("correlation.yml: correlation rules are not supported"),
        "{stderr}"
    );
    // The rule that could be used still ran: the attack records hold one match.
    let summary: Value = serde_json::from_str(text(&output.stdout).trim()).unwrap();
    assert_eq!(summary["title"], "Account left its organization");
    assert_eq!(summary["count"], 1);

    // A usage error is exit 2.
    let output = trailpack(&["detect", path_str(&archive), "--format", "yaml"]);
    assert_eq!(output.status.code(), Some(2));
}

/// Microseconds since the epoch of a `YYYY-MM-DDTHH:MM:SS[.f]Z` time.
fn micros(time: &str) -> Option<i64> {
    let (date, clock) = time.strip_suffix('Z')?.split_once('T')?;
    let mut ymd = date.split('-').map(|p| p.parse::<i64>().ok());
    let (y, m, d) = (ymd.next()??, ymd.next()??, ymd.next()??);
    let (clock, fraction) = clock.split_once('.').unwrap_or((clock, ""));
    let mut hms = clock.split(':').map(|p| p.parse::<i64>().ok());
    let (h, min, s) = (hms.next()??, hms.next()??, hms.next()??);
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let days = era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468;
    let digits: String = format!("{fraction:0<6}").chars().take(6).collect();
    let fraction: i64 = digits.parse().ok()?;
    Some(((days * 24 + h) * 60 + min) * 60_000_000 + s * 1_000_000 + fraction)
}

#[test]
fn first_seen_finds_what_a_brute_force_pass_finds() {
    let dir = tempfile::tempdir().unwrap();
    let (trail, archive) = archived_attacks(dir.path());
    let output = trailpack(&[
        "detect",
        path_str(&archive),
        "--first-seen",
        "--baseline",
        "36h",
        "--format",
        "jsonl",
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    // With --first-seen alone, no rule runs.
    let lines: Vec<Value> = text(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert!(lines.iter().all(|l| l.get("first_seen").is_some()));
    let reported: Vec<(String, String, String, i64, String)> = lines
        .iter()
        .map(|l| {
            let field = |name: &str| l[name].as_str().unwrap().to_string();
            let first = micros(&field("first")).unwrap();
            (
                field("first_seen"),
                field("subject"),
                field("value"),
                first,
                field("eventID"),
            )
        })
        .collect();

    type Key = (String, String, String);
    let mut firsts: BTreeMap<Key, (i64, String)> = BTreeMap::new();
    for bytes in source_files(&trail).values() {
        let Ok(file) = serde_json::from_slice::<Value>(bytes) else {
            continue;
        };
        for record in file["Records"].as_array().into_iter().flatten() {
            let Some(time) = record["eventTime"].as_str().and_then(micros) else {
                continue;
            };
            let text = |value: &Value| value.as_str().map(str::to_string);
            let event_id = text(&record["eventID"]).unwrap_or_default();
            let pairs = [
                (
                    "region",
                    &record["recipientAccountId"],
                    &record["awsRegion"],
                ),
                (
                    "event-source",
                    &record["userIdentity"]["arn"],
                    &record["eventSource"],
                ),
            ];
            for (kind, subject, value) in pairs {
                if let (Some(subject), Some(value)) = (text(subject), text(value)) {
                    let first = firsts
                        .entry((kind.to_string(), subject, value))
                        .or_insert((time, event_id.clone()));
                    *first = first.clone().min((time, event_id.clone()));
                }
            }
        }
    }
    let start = firsts.values().map(|(time, _)| *time).min().unwrap();
    let baseline_end = start + 36 * 3_600 * 1_000_000;
    let mut expected: Vec<(String, String, String, i64, String)> = firsts
        .into_iter()
        .filter(|(_, (time, _))| *time >= baseline_end)
        .map(|((kind, subject, value), (time, id))| (kind, subject, value, time, id))
        .collect();
    let mut sorted_reported = reported.clone();
    sorted_reported.sort();
    expected.sort();
    assert_eq!(sorted_reported, expected);
    // Something is new after the baseline on both counts, and output is in time order.
    assert!(expected.iter().any(|e| e.0 == "region"));
    assert!(expected.iter().any(|e| e.0 == "event-source"));
    assert!(reported.windows(2).all(|w| w[0].3 <= w[1].3));
}
