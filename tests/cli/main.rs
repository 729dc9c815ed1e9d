//! End-to-end tests of the `trailpack` binary: archive, restore, stats and schema over
//! generated trees, bad inputs and the real-record corpus in `tests/data/real`.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

mod detect;
mod integrity;
mod lifecycle;
mod limits;
mod query;
mod s3;
mod scale;
mod upgrade;

const ACCOUNT: &str = "123456789012";
const REGION: &str = "us-east-1";

fn trailpack(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_trailpack"))
        .args(args)
        .output()
        .expect("run trailpack")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("UTF-8 temp path")
}

/// Run the project's generator into `out`.
fn generate(out: &Path, files: u32, seed: u32) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/gen_trail.py");
    let status = Command::new("python3")
        .arg(script)
        .args(["--out", path_str(out), "--files", &files.to_string()])
        .args([
            "--seed",
            &seed.to_string(),
            "--extras",
            "--digests",
            "--days",
            "3",
        ])
        .args(["--org", "o-abc123xyz0", "--plain-json-fraction", "0.1"])
        .status()
        .expect("run scripts/gen_trail.py");
    assert!(status.success());
}

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_end(&mut out)
        .expect("gunzip");
    out
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

/// Every log and Insights file under `root`: key (from AWSLogs/) -> uncompressed bytes.
fn source_files(root: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    for path in files_under(root) {
        let key = path
            .strip_prefix(root)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        let is_log = key.contains("/CloudTrail/") || key.contains("/CloudTrail-Insight/");
        if !is_log || !(key.ends_with(".json") || key.ends_with(".json.gz")) {
            continue;
        }
        let bytes = std::fs::read(&path).unwrap();
        if let Some(key) = key.strip_suffix(".gz") {
            files.insert(key.to_string(), gunzip(&bytes));
        } else {
            files.insert(key, bytes);
        }
    }
    files
}

/// Every file under `root`, sorted.
fn files_under(root: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// The latest snapshot of the archive's table.
fn snapshot(archive: &Path) -> trailpack_table::Snapshot {
    let root = trailpack_store::ArchiveRoot::from(archive);
    trailpack_table::Table::open(&root)
        .unwrap()
        .snapshot()
        .clone()
}

/// Every entry of the archive's file index, by key.
fn index(archive: &Path) -> BTreeMap<String, trailpack_table::IndexEntry> {
    let root = trailpack_store::ArchiveRoot::from(archive);
    let mut entries = BTreeMap::new();
    for partition in trailpack_table::index::indexed_partitions(&root).unwrap() {
        entries.extend(trailpack_table::index::load_partition(&root, &partition).unwrap());
    }
    entries
}

/// Restore `archive` into a new directory and return key -> bytes (keys as `.json`).
fn restored(archive: &Path, gzip_output: bool) -> BTreeMap<String, Vec<u8>> {
    let out = tempfile::tempdir().unwrap();
    let mut args = vec!["restore", path_str(archive), "--to", path_str(out.path())];
    if gzip_output {
        args.push("--gzip");
    }
    let output = trailpack(&args);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let files = source_files(out.path());
    if gzip_output {
        // source_files gunzipped them; every one must have been a .json.gz.
        for key in files.keys() {
            assert!(out.path().join(format!("{key}.gz")).is_file(), "{key}");
        }
    }
    files
}

fn report(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// A run report's quarantined files: key -> reason.
fn quarantined_reasons(run: &Value) -> BTreeMap<String, String> {
    run["quarantined"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| {
            let field = |name: &str| q[name].as_str().unwrap().to_string();
            (field("key"), field("reason"))
        })
        .collect()
}

#[test]
fn generated_tree_round_trips_exactly_and_reruns_are_incremental() {
    let dir = tempfile::tempdir().unwrap();
    let trail = dir.path().join("trail");
    let archive = dir.path().join("archive");
    let report_path = dir.path().join("report.json");
    generate(&trail, 120, 5);
    let sources = source_files(&trail);

    // Point at a level inside the organisation tree: keys still start at AWSLogs/.
    let output = trailpack(&[
        "archive",
        path_str(&trail.join("AWSLogs")),
        "--to",
        path_str(&archive),
        "--report",
        path_str(&report_path),
        "--partition",
        "day",
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let first = report(&report_path);
    let records: usize = sources
        .values()
        .map(|bytes| {
            let value: Value = serde_json::from_slice(bytes).unwrap();
            value["Records"].as_array().unwrap().len()
        })
        .sum();
    assert_eq!(first["files_archived"], sources.len());
    assert_eq!(first["records_out"], records);
    assert_eq!(first["fallback_records"], 0);
    assert!(first["digest_files"].as_u64().unwrap() > 0);
    assert!(text(&output.stdout).contains(&format!("archived {} files", sources.len())));
    let partition = archive.join("account=111122223333/region=us-east-1/year=2021/month=01/day=01");
    assert!(
        partition.is_dir(),
        "Hive partitions by account, region and day"
    );

    let back = restored(&archive, false);
    assert_eq!(
        back.keys().collect::<Vec<_>>(),
        sources.keys().collect::<Vec<_>>()
    );
    for (key, bytes) in &sources {
        assert!(back[key] == *bytes, "{key} differs after restore");
    }
    let back = restored(&archive, true);
    assert!(back == sources);

    // A rerun over the same tree adds nothing.
    let output = trailpack(&[
        "archive",
        path_str(&trail),
        "--to",
        path_str(&archive),
        "--report",
        path_str(&report_path),
    ]);
    assert_eq!(output.status.code(), Some(0));
    let second = report(&report_path);
    assert_eq!(second["files_archived"], 0);
    assert_eq!(second["parts_written"], 0);
    assert_eq!(second["files_already_archived"], sources.len());

    // New files in the tree: only they are archived.
    let more = dir.path().join("more");
    generate(&more, 30, 6);
    let new_sources = source_files(&more);
    copy_tree(&more.join("AWSLogs"), &trail.join("AWSLogs"));
    let output = trailpack(&[
        "archive",
        path_str(&trail),
        "--to",
        path_str(&archive),
        "--report",
        path_str(&report_path),
    ]);
    assert_eq!(output.status.code(), Some(0));
    let third = report(&report_path);
    assert_eq!(third["files_archived"], new_sources.len());
    let all = source_files(&trail);
    assert!(restored(&archive, false) == all);

    let stats = trailpack(&["stats", path_str(&archive), "--json"]);
    let stats: Value = serde_json::from_slice(&stats.stdout).unwrap();
    assert_eq!(stats["files"], all.len());
    assert_eq!(stats["quarantined_files"], 0);
    assert!(
        stats["unknown_paths"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p == "newFeatureField")
    );
    assert!(stats["event_versions"].as_object().unwrap().len() > 5);
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let target = to.join(path.file_name().unwrap());
        if path.is_dir() {
            std::fs::create_dir_all(&target).unwrap();
            copy_tree(&path, &target);
        } else {
            std::fs::copy(&path, &target).unwrap();
        }
    }
}

fn log_name(index: usize, gz: bool) -> String {
    let extension = if gz { "json.gz" } else { "json" };
    format!("{ACCOUNT}_CloudTrail_{REGION}_20210101T0000Z_{index:016}.{extension}")
}

const GOOD: &str = r#"{"Records":[{"eventVersion":"1.08","eventTime":"2021-01-01T00:00:00Z","eventName":"GetObject","userAgent":"aws-cli\/2.0"}]}"#;

#[test]
fn bad_inputs_are_quarantined_with_their_reason_and_nothing_is_lost() {
    let dir = tempfile::tempdir().unwrap();
    let day = dir.path().join(format!(
        "trail/AWSLogs/{ACCOUNT}/CloudTrail/{REGION}/2021/01/01"
    ));
    std::fs::create_dir_all(&day).unwrap();
    let good = gzip(GOOD.as_bytes());
    let mut flipped = good.clone();
    let middle = flipped.len() / 2;
    flipped[middle] ^= 0x20;
    let mut trailing = good.clone();
    trailing.extend_from_slice(b"extra");
    let big_record = format!(
        r#"{{"Records":[{{"eventVersion":"1.08","requestParameters":"{}"}}]}}"#,
        "x".repeat(5 << 20)
    );
    let cases: Vec<(Vec<u8>, bool, &str)> = vec![
        (good[..good.len() - 9].to_vec(), true, "corrupt gzip data"),
        (flipped, true, "corrupt gzip data"),
        (trailing, true, "5 trailing bytes after the gzip member"),
        (Vec::new(), true, "empty file (0 bytes)"),
        (gzip(b""), true, "no content (uncompressed size 0)"),
        (b"not gzip".to_vec(), true, "not gzip data"),
        (
            gzip(b"this is not JSON"),
            true,
            "invalid JSON: unexpected byte 0x74 at byte 0",
        ),
        (
            gzip(br#"{"Records":[{"eventVersion":"2.1","eventSource":"aws:s3","s3":{}}]}"#),
            true,
            "record 0 is not a CloudTrail event: eventVersion \"2.1\" is not 1.x (an S3 event notification?)",
        ),
        (
            gzip(big_record.as_bytes()),
            true,
            "record 0 is 5242926 bytes, over the 1048576 byte limit",
        ),
        (gzip(b"{\"Records\":[\xff]}"), true, "not UTF-8 text"),
        (
            b"{\"Records\":[".to_vec(),
            false,
            "invalid JSON: unexpected end of input",
        ),
    ];
    let mut expected = BTreeMap::new();
    for (index, (bytes, gz, reason)) in cases.iter().enumerate() {
        let name = log_name(index, *gz);
        std::fs::write(day.join(&name), bytes).unwrap();
        expected.insert(name, (bytes.clone(), *reason));
    }
    for index in 100..103 {
        std::fs::write(day.join(log_name(index, true)), &good).unwrap();
    }
    let archive = dir.path().join("archive");
    let report_path = dir.path().join("report.json");
    let output = trailpack(&[
        "archive",
        path_str(&dir.path().join("trail")),
        "--to",
        path_str(&archive),
        "--report",
        path_str(&report_path),
    ]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output.stderr));
    let stderr = text(&output.stderr);
    let run = report(&report_path);
    assert_eq!(run["files_archived"], 3);
    assert_eq!(run["files_quarantined"], cases.len());
    let quarantined = quarantined_reasons(&run);
    for (name, (bytes, reason)) in &expected {
        let key = format!("AWSLogs/{ACCOUNT}/CloudTrail/{REGION}/2021/01/01/{name}");
        let got = &quarantined[&key];
        assert!(got.starts_with(reason), "{name}: {got}");
        // One line on stderr names the file and the reason.
        let line = stderr
            .lines()
            .find(|l| l.contains(name.as_str()))
            .unwrap_or_else(|| panic!("no message for {name}"));
        assert!(
            line.contains("quarantined: ") && line.contains(reason),
            "{line}"
        );
        // The original bytes are kept in the archive, and left in place.
        let kept = std::fs::read(archive.join("_trailpack/quarantine").join(&key)).unwrap();
        assert!(kept == *bytes, "{name}: quarantined copy differs");
        assert!(std::fs::read(day.join(name)).unwrap() == *bytes);
    }
    let back = restored(&archive, false);
    assert_eq!(back.len(), 3);
    assert!(back.values().all(|b| b == GOOD.as_bytes()));

    // A rerun does not quarantine the same files again.
    let output = trailpack(&[
        "archive",
        path_str(&dir.path().join("trail")),
        "--to",
        path_str(&archive),
        "--report",
        path_str(&report_path),
    ]);
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(
        report(&report_path)["files_already_archived"],
        cases.len() + 3
    );
}

#[test]
fn usage_errors_exit_2_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let archive = path_str(dir.path());
    for (args, message) in [
        (
            vec!["archive", "/nonexistent/trail", "--to", archive],
            "/nonexistent/trail",
        ),
        (
            vec!["archive", archive, "--to", archive, "--zstd-level", "40"],
            "zstd level 40 is outside 1..=22",
        ),
        (
            vec!["archive", archive, "--to", archive, "--from", "last week"],
            "invalid time \"last week\"",
        ),
        (vec!["archive", archive], "--to <ARCHIVE>"),
        (
            vec!["stats", "/nonexistent/archive"],
            "not a trailpack archive",
        ),
        (vec!["frobnicate"], "unrecognized subcommand"),
    ] {
        let output = trailpack(&args);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let stderr = text(&output.stderr);
        assert!(stderr.contains(message), "{args:?}: {stderr}");
    }
}

#[test]
fn help_and_schema_describe_every_command() {
    let help = text(&trailpack(&["--help"]).stdout);
    for command in [
        "archive", "restore", "stats", "schema", "query", "validate", "verify",
    ] {
        assert!(help.contains(command), "{help}");
        let output = trailpack(&[command, "--help"]);
        assert!(output.status.success());
        assert!(text(&output.stdout).contains("Usage: trailpack"));
    }
    let archive_help = text(&trailpack(&["archive", "--help"]).stdout);
    for flag in [
        "--from",
        "--until",
        "--account",
        "--region",
        "--partition",
        "--zstd-level",
        "--threads",
        "--report",
        "--quiet",
    ] {
        assert!(archive_help.contains(flag), "{flag}");
    }
    let schema = text(&trailpack(&["schema"]).stdout);
    for line in [
        "useridentity.sessioncontext.sessionissuer.arn",
        "eventtime",
        "requestparameters",
        "additionalfields",
        "resources[].arn",
    ] {
        assert!(schema.lines().any(|l| l.starts_with(line)), "{line}");
    }
    assert!(schema.contains("timestamp(us, UTC)"));
}

/// How a corpus file becomes a CloudTrail log file: the record texts it holds, cut
/// out of the original bytes (so their spelling and whitespace are kept).
fn record_texts(value_text: &str) -> Vec<String> {
    let value: Value = match serde_json::from_str(value_text) {
        Ok(v) => v,
        Err(_) => return Vec::new(),
    };
    match &value {
        Value::Array(_) => spans(value_text, &[])
            .into_iter()
            .flat_map(|t| record_texts(&t))
            .collect(),
        Value::Object(map) if map.contains_key("eventVersion") || map.contains_key("eventName") => {
            vec![value_text.trim().to_string()]
        }
        Value::Object(map) => {
            let mut out = Vec::new();
            for key in ["detail", "data", "Records"] {
                if map.contains_key(key) {
                    for inner in spans(value_text, &[key]) {
                        out.extend(record_texts(&inner));
                    }
                }
            }
            if let Some(Value::Array(events)) = map.get("logEvents") {
                for event in events {
                    if let Some(Value::String(message)) = event.get("message") {
                        out.extend(record_texts(message));
                    }
                }
            }
            out
        }
        _ => Vec::new(),
    }
}

/// The exact texts of the elements of the array at `path` (or of the value at `path`
/// when it is not an array), using the project's own span scanner.
fn spans(text: &str, path: &[&str]) -> Vec<String> {
    use trailpack_decode::json::{Scanner, ValueKind};
    let bytes = text.as_bytes();
    let mut scanner = Scanner::new(bytes, 256);
    for key in path {
        scanner.begin_object().unwrap();
        let mut first = true;
        loop {
            let member = scanner.next_member(first).unwrap().expect("key present");
            first = false;
            if &bytes[member.clone()] == format!("\"{key}\"").as_bytes() {
                break;
            }
            scanner.skip_value().unwrap();
        }
    }
    if scanner.peek().unwrap() != ValueKind::Array {
        let span = scanner.skip_value().unwrap();
        return vec![text[span].to_string()];
    }
    scanner.begin_array().unwrap();
    let mut out = Vec::new();
    let mut first = true;
    while scanner.next_element(first).unwrap() {
        first = false;
        let span = scanner.skip_value().unwrap();
        out.push(text[span].to_string());
    }
    out
}

/// The corpus's own definition of a CloudTrail record (SOURCES.md): `eventVersion`
/// 1.x, or no version but both `eventSource` (not an `aws:` notification) and
/// `eventName`.
fn is_cloudtrail_record(text: &str) -> bool {
    let value: Value = serde_json::from_str(text).unwrap();
    match value.get("eventVersion") {
        Some(version) => version.as_str().is_some_and(|v| v.starts_with("1.")),
        None => {
            let source = value.get("eventSource").and_then(Value::as_str);
            source.is_some_and(|s| !s.starts_with("aws:")) && value.get("eventName").is_some()
        }
    }
}

#[test]
fn real_corpus_archives_and_restores_byte_exactly() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/real");
    let dir = tempfile::tempdir().unwrap();
    let day = dir.path().join(format!(
        "trail/AWSLogs/{ACCOUNT}/CloudTrail/{REGION}/2021/01/01"
    ));
    std::fs::create_dir_all(&day).unwrap();
    let mut corpus_files: Vec<PathBuf> = Vec::new();
    let mut stack = vec![corpus.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path
                .extension()
                .is_some_and(|e| e == "json" || e == "ndjson")
            {
                corpus_files.push(path);
            }
        }
    }
    corpus_files.sort();
    let mut expect_archived = BTreeMap::new();
    let mut expect_quarantined = BTreeSet::new();
    let mut records_total = 0;
    for (index, path) in corpus_files.iter().enumerate() {
        let original = std::fs::read_to_string(path).unwrap();
        let is_records_file = serde_json::from_str::<Value>(&original)
            .ok()
            .is_some_and(|v| v.get("Records").is_some_and(Value::is_array));
        let content = if is_records_file {
            original.clone()
        } else {
            let texts: Vec<String> = if path.extension().is_some_and(|e| e == "ndjson") {
                original
                    .lines()
                    .filter(|l| !l.trim().is_empty())
                    .flat_map(record_texts)
                    .collect()
            } else {
                record_texts(&original)
            };
            if texts.is_empty() {
                // Not records at all (a digest, say): the file itself goes in.
                original.clone()
            } else {
                format!("{{\"Records\":[{}]}}", texts.join(","))
            }
        };
        let value: Option<Value> = serde_json::from_str(&content).ok();
        let records: Vec<String> = match value.as_ref().and_then(|v| v.get("Records")) {
            Some(Value::Array(_)) => spans(&content, &["Records"]),
            _ => Vec::new(),
        };
        let valid = !records.is_empty() && records.iter().all(|r| is_cloudtrail_record(r));
        let gz = index % 2 == 0;
        let name = log_name(index, gz);
        let key = format!("AWSLogs/{ACCOUNT}/CloudTrail/{REGION}/2021/01/01/{name}");
        let stored = if gz {
            gzip(content.as_bytes())
        } else {
            content.clone().into_bytes()
        };
        std::fs::write(day.join(&name), stored).unwrap();
        if valid {
            records_total += records.len();
            expect_archived.insert(
                key.strip_suffix(".gz").unwrap_or(&key).to_string(),
                content.into_bytes(),
            );
        } else {
            expect_quarantined.insert(key);
        }
    }
    let archive = dir.path().join("archive");
    let report_path = dir.path().join("report.json");
    let output = trailpack(&[
        "archive",
        path_str(&dir.path().join("trail")),
        "--to",
        path_str(&archive),
        "--report",
        path_str(&report_path),
    ]);
    let run = report(&report_path);
    let quarantined = quarantined_reasons(&run);
    assert_eq!(
        quarantined.keys().cloned().collect::<BTreeSet<_>>(),
        expect_quarantined,
        "{}",
        text(&output.stderr)
    );
    for reason in quarantined.values() {
        assert!(
            reason.starts_with("not a CloudTrail log file")
                || reason.contains("is not a CloudTrail event"),
            "{reason}"
        );
    }
    assert_eq!(
        output.status.code(),
        Some(if quarantined.is_empty() { 0 } else { 1 })
    );
    assert_eq!(run["records_out"], records_total);
    eprintln!(
        "corpus: {} files, {} archived ({} records), {} quarantined, {} fallback records",
        corpus_files.len(),
        expect_archived.len(),
        records_total,
        quarantined.len(),
        run["fallback_records"]
    );
    for reason in quarantined.values() {
        eprintln!("corpus quarantine: {reason}");
    }
    assert_eq!(
        run["fallback_records"], 0,
        "records stored whole instead of columnar"
    );
    let back = restored(&archive, false);
    assert_eq!(back.len(), expect_archived.len());
    for (key, bytes) in &expect_archived {
        assert!(back[key] == *bytes, "{key} differs after restore");
    }
}
