//! Lifecycle conversion on local trees: `--older-than`, `--dry-run` and
//! `--delete-sources` (delete only what verifies, keep the rest, resume after a
//! crash between commit and delete).

use std::path::{Path, PathBuf};

use crate::{
    copy_tree, files_under, generate, path_str, report, restored, source_files, text, trailpack,
};

/// CloudTrail files (logs, Insights, digests) under `root`.
fn cloudtrail_files(root: &Path) -> Vec<PathBuf> {
    files_under(root)
        .into_iter()
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            name.contains("_CloudTrail") && name.contains(".json")
        })
        .collect()
}

fn archive_run(args: &[&str], report_path: &Path) -> (Option<i32>, serde_json::Value) {
    let mut all = vec!["archive", "-q", "--report", path_str(report_path)];
    all.extend_from_slice(args);
    let output = trailpack(&all);
    assert!(output.status.code() != Some(2), "{}", text(&output.stderr));
    (output.status.code(), report(report_path))
}

#[test]
fn sources_are_deleted_once_verified_and_a_rerun_after_a_crash_deletes_without_rearchiving() {
    let dir = tempfile::tempdir().unwrap();
    let trail = dir.path().join("trail");
    generate(&trail, 120, 21);
    let original = source_files(&trail);
    let listed = cloudtrail_files(&trail).len();
    let others = files_under(&trail).len() - listed;
    let archive = dir.path().join("archive");
    let report_path = dir.path().join("report.json");
    // The crash: the archive committed, the deletion never ran.
    let (code, first) = archive_run(
        &[path_str(&trail), "--to", path_str(&archive)],
        &report_path,
    );
    assert_eq!(code, Some(0));
    assert!(first["parts_written"].as_u64().unwrap() > 0);
    assert_eq!(cloudtrail_files(&trail).len(), listed);

    let (code, rerun) = archive_run(
        &[
            path_str(&trail),
            "--to",
            path_str(&archive),
            "--delete-sources",
        ],
        &report_path,
    );
    assert_eq!(code, Some(0));
    assert_eq!(rerun["parts_written"], 0);
    assert_eq!(rerun["files_archived"], 0);
    assert_eq!(
        rerun["deletion"]["deleted"].as_u64().unwrap() as usize,
        listed
    );
    assert_eq!(rerun["deletion"]["problems"], 0);
    assert!(cloudtrail_files(&trail).is_empty());
    // Files that are not CloudTrail's are never touched.
    assert!(others > 0);
    assert_eq!(files_under(&trail).len(), others);
    assert_eq!(restored(&archive, false), original);
    let verify = trailpack(&["verify", path_str(&archive), "--deep"]);
    assert!(verify.status.success(), "{}", text(&verify.stdout));
}

#[test]
fn a_damaged_part_keeps_its_sources() {
    let dir = tempfile::tempdir().unwrap();
    let trail = dir.path().join("trail");
    generate(&trail, 80, 22);
    let copy = dir.path().join("copy");
    copy_tree(&trail, &copy);
    let archive = dir.path().join("archive");
    let report_path = dir.path().join("report.json");
    let (code, _) = archive_run(
        &[
            path_str(&trail),
            "--to",
            path_str(&archive),
            "--partition",
            "day",
        ],
        &report_path,
    );
    assert_eq!(code, Some(0));
    let snapshot = super::snapshot(&archive);
    let damaged = snapshot.part_infos().next().unwrap();
    let mut bytes = std::fs::read(archive.join(&damaged.path)).unwrap();
    bytes[100] ^= 0x55;
    std::fs::write(archive.join(&damaged.path), bytes).unwrap();
    let index = super::index(&archive);
    let in_damaged: Vec<&str> = index
        .values()
        .filter(|f| f.part.as_ref().is_some_and(|p| damaged.holds.contains(p)))
        .map(|f| f.key.as_str())
        .collect();
    assert!(!in_damaged.is_empty());

    let (code, run) = archive_run(
        &[
            path_str(&trail),
            "--to",
            path_str(&archive),
            "--delete-sources",
        ],
        &report_path,
    );
    assert_eq!(code, Some(1), "a file kept for damage is a problem");
    assert_eq!(
        run["deletion"]["problems"].as_u64().unwrap() as usize,
        in_damaged.len()
    );
    for kept in run["deletion"]["kept"].as_array().unwrap() {
        let key = kept["key"].as_str().unwrap();
        assert!(in_damaged.contains(&key), "{key}");
        let reason = kept["reason"].as_str().unwrap();
        assert!(
            reason.starts_with("archived copy failed verification: part "),
            "{reason}"
        );
        assert!(reason.contains("CRC-32"), "{reason}");
    }
    // Exactly the damaged part's files are left, with their original bytes.
    let left: Vec<String> = cloudtrail_files(&trail)
        .iter()
        .map(|p| {
            p.strip_prefix(&trail)
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    assert_eq!(left.len(), in_damaged.len());
    for relative in &left {
        assert_eq!(
            std::fs::read(trail.join(relative)).unwrap(),
            std::fs::read(copy.join(relative)).unwrap()
        );
    }
}

/// The compact UTC time of now minus `days`, as in file names (`YYYYMMDDTHHmmZ`).
fn days_ago(days: u64) -> String {
    let time = trailpack_source::UtcTime::before_now(std::time::Duration::from_secs(days * 86_400));
    format!(
        "{:04}{:02}{:02}T{:02}{:02}Z",
        time.year, time.month, time.day, time.hour, time.minute
    )
}

#[test]
fn older_than_selects_by_delivery_time_and_dry_run_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let trail = dir.path().join("trail");
    generate(&trail, 40, 23);
    // Copy one log to names delivered 2 and 40 days ago.
    let template = cloudtrail_files(&trail)
        .into_iter()
        .find(|p| {
            p.to_string_lossy().ends_with(".json.gz")
                && p.to_string_lossy().contains("/CloudTrail/")
        })
        .unwrap();
    let name = |time: &str| {
        format!(
            "AWSLogs/111122223333/CloudTrail/us-east-1/{}/{}/{}/111122223333_CloudTrail_us-east-1_{time}_RecentRecentRece.json.gz",
            &time[0..4],
            &time[4..6],
            &time[6..8]
        )
    };
    let recent = trail.join(name(&days_ago(2)));
    let older = trail.join(name(&days_ago(40)));
    for path in [&recent, &older] {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::copy(&template, path).unwrap();
    }
    let listed = cloudtrail_files(&trail).len();
    let archive = dir.path().join("archive");

    let output = trailpack(&[
        "archive",
        path_str(&trail),
        "--to",
        path_str(&archive),
        "--older-than",
        "30d",
        "--dry-run",
        "--delete-sources",
    ]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let plan = text(&output.stdout);
    let digests = cloudtrail_files(&trail)
        .iter()
        .filter(|p| p.to_string_lossy().contains("Digest"))
        .count();
    assert!(
        plan.contains(&format!("plan: archive {} files", listed - digests - 1)),
        "{plan}"
    );
    assert!(plan.contains("plan: delete 0 source files"), "{plan}");
    assert!(plan.contains("dry run: nothing written"), "{plan}");
    assert!(!archive.exists());

    let report_path = dir.path().join("report.json");
    let (code, run) = archive_run(
        &[
            path_str(&trail),
            "--to",
            path_str(&archive),
            "--older-than",
            "30d",
            "--delete-sources",
        ],
        &report_path,
    );
    assert_eq!(code, Some(0));
    assert_eq!(run["files_listed"].as_u64().unwrap() as usize, listed - 1);
    assert!(
        recent.is_file(),
        "newer than the cut-off: neither archived nor deleted"
    );
    assert!(!older.exists());
    assert_eq!(cloudtrail_files(&trail), vec![recent.clone()]);

    let bad = trailpack(&[
        "archive",
        path_str(&trail),
        "--to",
        path_str(&archive),
        "--older-than",
        "30x",
    ]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        text(&bad.stderr).contains("is not an age"),
        "{}",
        text(&bad.stderr)
    );
}

/// Part files on disk under `archive` (not trailpack's own files).
fn part_files(archive: &Path) -> Vec<PathBuf> {
    files_under(archive)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
        .filter(|p| !p.to_string_lossy().contains("/_trailpack/"))
        .collect()
}

/// Archive `trail` into `archive` once per cut-off, as nightly jobs would (`None`:
/// everything).
fn nightly_runs(trail: &Path, archive: &Path, cutoffs: &[Option<&str>]) {
    for until in cutoffs {
        let mut args = vec!["archive", path_str(trail), "--to", path_str(archive), "-q"];
        args.extend(until.iter().flat_map(|until| ["--until", until]));
        let output = trailpack(&args);
        assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    }
}

#[test]
fn compaction_merges_small_parts_in_one_commit_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let trail = dir.path().join("trail");
    generate(&trail, 150, 24);
    let archive = dir.path().join("archive");
    // Nightly runs: one per six hours of deliveries, so each partition gets
    // several small parts.
    nightly_runs(
        &trail,
        &archive,
        &[
            Some("2021-01-01T06:00Z"),
            Some("2021-01-01T12:00Z"),
            Some("2021-01-01T18:00Z"),
            Some("2021-01-02T06:00Z"),
            Some("2021-01-02T18:00Z"),
            None,
        ],
    );
    let query_all = || text(&trailpack(&["query", path_str(&archive), "--format", "jsonl"]).stdout);
    let before_query = query_all();
    let before_parts = part_files(&archive);
    let before = super::snapshot(&archive);
    assert_eq!(before_parts.len(), before.parts.len());
    let index_before = super::index(&archive);

    let dry = trailpack(&["compact", path_str(&archive), "--dry-run"]);
    assert!(dry.status.success(), "{}", text(&dry.stderr));
    assert!(
        text(&dry.stdout).starts_with("would merge"),
        "{}",
        text(&dry.stdout)
    );
    assert_eq!(
        part_files(&archive),
        before_parts,
        "a dry run writes nothing"
    );

    let output = trailpack(&["compact", path_str(&archive), "-q"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let after = super::snapshot(&archive);
    let partitions: std::collections::BTreeSet<_> =
        after.part_infos().map(|p| p.partition.clone()).collect();
    // Every partition is down to one part, and only live parts are on disk.
    assert_eq!(after.parts.len(), partitions.len());
    assert!(after.parts.len() < before_parts.len());
    let mut live: Vec<PathBuf> = after.parts.keys().map(|p| archive.join(p)).collect();
    live.sort();
    assert_eq!(part_files(&archive), live);
    // One commit per merged bin (here one per partition), and the file index is
    // not rewritten: the merged parts say which parts' files they hold.
    assert_eq!(after.version - before.version, partitions.len() as i64);
    assert_eq!(super::index(&archive), index_before);
    assert!(after.part_infos().all(|p| p.holds.len() > 1));
    assert_eq!(query_all(), before_query);
    assert_eq!(restored(&archive, false), source_files(&trail));
    let verify = trailpack(&["verify", path_str(&archive), "--deep"]);
    assert!(verify.status.success(), "{}", text(&verify.stdout));
    assert!(!text(&verify.stdout).contains("not in the table"));

    // Nothing left to merge: a second compaction changes nothing.
    let again = trailpack(&["compact", path_str(&archive), "-q"]);
    assert!(
        text(&again.stdout).starts_with("merged 0 small parts"),
        "{}",
        text(&again.stdout)
    );
    assert_eq!(super::snapshot(&archive).version, after.version);
}

#[test]
fn retired_parts_left_by_a_crash_are_never_read_and_compactions_exclude_each_other() {
    let dir = tempfile::tempdir().unwrap();
    let trail = dir.path().join("trail");
    generate(&trail, 60, 25);
    let archive = dir.path().join("archive");
    nightly_runs(
        &trail,
        &archive,
        &[
            Some("2021-01-01T12:00Z"),
            Some("2021-01-02T12:00Z"),
            Some("2021-01-04T00:00Z"),
        ],
    );
    let query_all = || text(&trailpack(&["query", path_str(&archive), "--format", "jsonl"]).stdout);
    let before = query_all();
    let saved = dir.path().join("saved");
    copy_tree(&archive, &saved);

    // Another compaction holds the lock: this one refuses, and changes nothing.
    let lock = std::fs::File::create(archive.join(trailpack_archive::COMPACT_LOCK)).unwrap();
    lock.lock().unwrap();
    let refused = trailpack(&["compact", path_str(&archive)]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(text(&refused.stderr).contains("another compaction of this archive is running"));
    drop(lock);

    let output = trailpack(&["compact", path_str(&archive), "-q"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    // Retired parts put back an hour old, as no crash with intents leaves them:
    // readers of the table never read them, verify names them, and the next run
    // over their partition removes them.
    let hour_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
    let mut put_back = Vec::new();
    for part in part_files(&saved) {
        let relative = part.strip_prefix(&saved).unwrap();
        if !archive.join(relative).exists() {
            std::fs::copy(&part, archive.join(relative)).unwrap();
            let file = std::fs::File::options()
                .write(true)
                .open(archive.join(relative))
                .unwrap();
            file.set_modified(hour_ago).unwrap();
            put_back.push(archive.join(relative));
        }
    }
    assert!(!put_back.is_empty());
    assert_eq!(query_all(), before, "retired parts are not read again");
    let verify = trailpack(&["verify", path_str(&archive), "--deep"]);
    assert!(verify.status.success(), "{}", text(&verify.stdout));
    assert!(
        text(&verify.stdout).contains("not in the table"),
        "{}",
        text(&verify.stdout)
    );
    assert_eq!(restored(&archive, false), source_files(&trail));
    // A new file in every partition: the run over them removes what they hold
    // that the table does not.
    let extra = dir.path().join("extra");
    generate(&extra, 60, 26);
    let output = trailpack(&[
        "archive",
        path_str(&extra),
        "--to",
        path_str(&archive),
        "-q",
    ]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let live: std::collections::BTreeSet<PathBuf> = super::snapshot(&archive)
        .parts
        .keys()
        .map(|p| archive.join(p))
        .collect();
    assert!(put_back.iter().all(|p| !p.exists() || live.contains(p)));
}

#[test]
fn compaction_leaves_parts_whose_rows_the_index_does_not_account_for() {
    let dir = tempfile::tempdir().unwrap();
    let trail = dir.path().join("trail");
    generate(&trail, 60, 27);
    let archive = dir.path().join("archive");
    nightly_runs(&trail, &archive, &[Some("2021-01-02T00:00Z"), None]);
    // One partition's first index segment is lost: its part's rows are no file's.
    let segment = files_under(&archive.join("_trailpack/index"))
        .into_iter()
        .find(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            super::snapshot(&archive)
                .part_infos()
                .any(|part| part.name() == format!("part-{name}"))
        })
        .unwrap();
    std::fs::remove_file(&segment).unwrap();
    let before = super::snapshot(&archive).parts.len();
    let output = trailpack(&["compact", path_str(&archive), "-q"]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output.stdout));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("not merged: the index does not account for every row of them"),
        "{stderr}"
    );
    let after = super::snapshot(&archive).parts.len();
    assert!(after < before, "the other partitions were merged");
    let verify = trailpack(&["verify", path_str(&archive)]);
    assert!(
        text(&verify.stdout).contains("the index accounts for 0"),
        "{}",
        text(&verify.stdout)
    );
}
