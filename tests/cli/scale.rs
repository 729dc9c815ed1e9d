//! Scaling out: shards written concurrently into one archive equal one process.

use std::process::Command;

use super::{generate, path_str, text, trailpack};

#[test]
fn four_concurrent_shards_equal_one_process() {
    let dir = tempfile::tempdir().unwrap();
    let trail = dir.path().join("trail");
    generate(&trail, 80, 9);
    let single = dir.path().join("single");
    let sharded = dir.path().join("sharded");
    let output = trailpack(&[
        "archive",
        path_str(&trail),
        "--to",
        path_str(&single),
        "--quiet",
        "--partition",
        "day",
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));

    let shards: Vec<_> = (0..4)
        .map(|k| {
            Command::new(env!("CARGO_BIN_EXE_trailpack"))
                .args([
                    "archive",
                    path_str(&trail),
                    "--to",
                    path_str(&sharded),
                    "--quiet",
                    "--partition",
                    "day",
                ])
                .args(["--shard", &format!("{k}/4"), "--threads", "1"])
                .spawn()
                .unwrap()
        })
        .collect();
    for mut shard in shards {
        assert!(shard.wait().unwrap().success());
    }

    let records = |archive: &std::path::Path| trailpack(&["query", path_str(archive)]).stdout;
    assert!(!records(&single).is_empty());
    assert!(
        records(&single) == records(&sharded),
        "the union differs from one process"
    );
    let stats = |archive: &std::path::Path| -> serde_json::Value {
        serde_json::from_slice(&trailpack(&["stats", path_str(archive), "--json"]).stdout).unwrap()
    };
    let (one, union) = (stats(&single), stats(&sharded));
    for field in [
        "files",
        "records",
        "source_bytes",
        "event_versions",
        "quarantined_files",
    ] {
        assert_eq!(one[field], union[field], "{field}");
    }
    let output = trailpack(&["verify", path_str(&sharded), "--deep"]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stdout));

    // A shard run again adds nothing; a bad shard is a usage error.
    let report = dir.path().join("report.json");
    let output = trailpack(&[
        "archive",
        path_str(&trail),
        "--to",
        path_str(&sharded),
        "--quiet",
        "--shard",
        "2/4",
        "--partition",
        "day",
        "--report",
        path_str(&report),
    ]);
    assert_eq!(output.status.code(), Some(0));
    let run: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    assert_eq!(run["files_archived"], 0);
    assert!(run["files_in_other_shards"].as_u64().unwrap() > 0);
    let output = trailpack(&[
        "archive",
        path_str(&trail),
        "--to",
        path_str(&sharded),
        "--shard",
        "4/4",
    ]);
    assert_eq!(output.status.code(), Some(2));
    assert!(text(&output.stderr).contains("is not K/N"));
}
