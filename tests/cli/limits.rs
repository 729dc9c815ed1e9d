//! Resource limits: a gzip bomb, a 100 MB record, 10,000-deep nesting and a file
//! of a million records, each bounded by a documented limit (`--max-file-mib`,
//! `--max-record-kib`, `--max-depth`), quarantined with its reason or archived,
//! and nothing lost.

use std::io::Write;

use crate::{ACCOUNT, REGION, path_str, quarantined_reasons, report, restored, text, trailpack};

fn gzip_stream(chunks: impl Iterator<Item = Vec<u8>>) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    for chunk in chunks {
        encoder.write_all(&chunk).unwrap();
    }
    encoder.finish().unwrap()
}

const RECORD: &str = r#"{"eventVersion":"1.08","eventSource":"s3.amazonaws.com","eventName":"GetObject","eventTime":"2021-01-01T00:00:00Z"}"#;

#[test]
fn oversized_inputs_are_bounded_by_documented_limits() {
    let dir = tempfile::tempdir().unwrap();
    let day = dir.path().join(format!(
        "trail/AWSLogs/{ACCOUNT}/CloudTrail/{REGION}/2021/01/01"
    ));
    std::fs::create_dir_all(&day).unwrap();
    let name =
        |tag: &str| format!("{ACCOUNT}_CloudTrail_{REGION}_20210101T0000Z_{tag:0>16}.json.gz");
    // 1 GiB of zeros behind a 1 MB gzip file.
    let bomb = gzip_stream((0..1024).map(|_| vec![0u8; 1 << 20]));
    assert!(bomb.len() < 2 << 20);
    let huge_record = gzip_stream(
        [
            br#"{"Records":[{"eventVersion":"1.08","eventSource":"s3.amazonaws.com","eventName":"PutObject","requestParameters":{"blob":""#.to_vec(),
            vec![b'A'; 100 << 20],
            br#""}}]}"#.to_vec(),
        ]
        .into_iter(),
    );
    let deep = format!(
        r#"{{"Records":[{{"eventVersion":"1.08","eventSource":"s3.amazonaws.com","eventName":"x","requestParameters":{}{}}}]}}"#,
        "[".repeat(10_000),
        "]".repeat(10_000)
    );
    let million = gzip_stream(
        std::iter::once(b"{\"Records\":[".to_vec())
            .chain((0..1_000_000).map(|i| {
                let separator = if i == 0 { "" } else { "," };
                format!("{separator}{RECORD}").into_bytes()
            }))
            .chain(std::iter::once(b"]}".to_vec())),
    );
    let files = [
        (
            "bomb",
            bomb,
            Some("uncompressed size exceeds the 268435456 byte limit"),
        ),
        ("huge", huge_record, Some("record 0 is 104857")),
        (
            "deep",
            gzip_stream(std::iter::once(deep.into_bytes())),
            Some("invalid JSON: nesting deeper than 128 levels"),
        ),
        ("million", million, None),
    ];
    for (tag, bytes, _) in &files {
        std::fs::write(day.join(name(tag)), bytes).unwrap();
    }
    let archive = dir.path().join("archive");
    let report_path = dir.path().join("report.json");
    let trail = dir.path().join("trail");
    let run = |extra: &[&str]| {
        let mut args = vec![
            "archive",
            path_str(&trail),
            "--to",
            path_str(&archive),
            "--report",
            path_str(&report_path),
            "-q",
        ];
        args.extend_from_slice(extra);
        trailpack(&args)
    };
    let output = run(&[]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output.stderr));
    let quarantined = quarantined_reasons(&report(&report_path));
    for (tag, bytes, reason) in &files {
        let key = format!(
            "AWSLogs/{ACCOUNT}/CloudTrail/{REGION}/2021/01/01/{}",
            name(tag)
        );
        match reason {
            Some(reason) => {
                assert!(
                    quarantined[&key].contains(reason),
                    "{tag}: {}",
                    quarantined[&key]
                );
                let kept = std::fs::read(archive.join("_trailpack/quarantine").join(&key)).unwrap();
                assert!(kept == *bytes, "{tag}: the quarantined copy differs");
            }
            None => assert!(!quarantined.contains_key(&key), "{tag}"),
        }
    }
    // The million-record file is within the limits: archived, and restored exactly.
    assert_eq!(report(&report_path)["records_out"], 1_000_000);
    let back = restored(&archive, false);
    let expected: Vec<u8> =
        format!("{{\"Records\":[{}]}}", vec![RECORD; 1_000_000].join(",")).into_bytes();
    assert!(back.values().next().unwrap() == &expected);

    // A rerun under lower limits skips what the archive holds already, whatever
    // limit it was archived under.
    let output = run(&["--max-file-mib", "16"]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let rerun = report(&report_path);
    assert_eq!(rerun["files_already_archived"], 4);
    assert_eq!(rerun["files_too_large"], 0);

    // Lower limits catch it too; a plain file stored larger than the limit is not
    // even read.
    let fresh = dir.path().join("fresh");
    let plain = day.join(format!(
        "{ACCOUNT}_CloudTrail_{REGION}_20210101T0000Z_plainplainplain0.json"
    ));
    std::fs::write(&plain, &expected).unwrap();
    let output = trailpack(&[
        "archive",
        path_str(&trail),
        "--to",
        path_str(&fresh),
        "--report",
        path_str(&report_path),
        "--max-file-mib",
        "16",
        "--max-record-kib",
        "2048",
        "--max-depth",
        "200",
    ]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    let run_report = report(&report_path);
    let quarantined = quarantined_reasons(&run_report);
    let million_key = format!(
        "AWSLogs/{ACCOUNT}/CloudTrail/{REGION}/2021/01/01/{}",
        name("million")
    );
    assert!(quarantined[&million_key].contains("exceeds the 16777216 byte limit"));
    assert!(
        quarantined
            .values()
            .any(|r| r.contains("nesting deeper than 200 levels"))
    );
    assert_eq!(run_report["files_too_large"], 1);
    let line = stderr
        .lines()
        .find(|l| l.contains("plainplainplain0"))
        .unwrap();
    assert!(
        line.contains("not read") && line.contains("over the 16777216 byte file limit"),
        "{line}"
    );
    assert!(plain.is_file());

    let output = trailpack(&[
        "archive",
        path_str(&trail),
        "--to",
        path_str(&fresh),
        "--max-depth",
        "100000",
    ]);
    assert_eq!(output.status.code(), Some(2));
    assert!(text(&output.stderr).contains("--max-depth"));
}

#[test]
fn files_archived_under_raised_limits_compact_under_the_same_limits() {
    let dir = tempfile::tempdir().unwrap();
    let trail = dir.path().join("trail");
    let day = trail.join(format!("AWSLogs/{ACCOUNT}/CloudTrail/{REGION}/2021/01/01"));
    std::fs::create_dir_all(&day).unwrap();
    // Two files with a 2 MiB record each: over the default 1 MiB record limit.
    for hour in ["01", "02"] {
        let big = format!(
            r#"{{"Records":[{{"eventVersion":"1.08","eventSource":"s3.amazonaws.com","eventName":"PutObject","eventTime":"2021-01-01T{hour}:00:00Z","requestParameters":{{"blob":"{}"}}}}]}}"#,
            "B".repeat(2 << 20)
        );
        let name = format!("{ACCOUNT}_CloudTrail_{REGION}_20210101T{hour}00Z_{hour:0>16}.json");
        std::fs::write(day.join(name), big).unwrap();
    }
    let archive = dir.path().join("archive");
    // Two runs, so that the partition has two small parts to merge.
    for until in ["2021-01-01T02:00Z", "2021-01-02"] {
        let output = trailpack(&[
            "archive",
            path_str(&trail),
            "--to",
            path_str(&archive),
            "--until",
            until,
            "--max-record-kib",
            "4096",
            "-q",
        ]);
        assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    }
    assert_eq!(crate::snapshot(&archive).parts.len(), 2);
    // compact has no limit options: it decodes under the limits each part records.
    let output = trailpack(&["compact", path_str(&archive), "-q"]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert!(
        text(&output.stdout).starts_with("merged 2 small parts"),
        "{}",
        text(&output.stdout)
    );
    let snapshot = crate::snapshot(&archive);
    assert_eq!(snapshot.parts.len(), 1);
    let part = snapshot.part_infos().next().unwrap();
    assert_eq!(part.limits.max_record_bytes, 4096 << 10);
    assert_eq!(restored(&archive, false), crate::source_files(&trail));
}
