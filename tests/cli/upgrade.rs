//! `trailpack upgrade`: an archive written by the first release (JSON commits,
//! `tests/data/legacy-v1`) becomes a Delta table in place, holding exactly what it
//! held; an interrupted upgrade finishes when run again; until then the other
//! commands refuse the archive and say to run it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::{copy_tree, files_under, path_str, restored, source_files, text, trailpack};

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/legacy-v1")
}

/// A copy of the fixture archive, with a part the old commits never named (left
/// by a crash in the first format).
fn legacy_copy(dir: &Path) -> PathBuf {
    let archive = dir.join("archive");
    copy_tree(&fixture().join("archive"), &archive);
    let part = legacy_parts(&archive)[0].clone();
    std::fs::copy(&part, part.with_file_name("part-orphan.parquet")).unwrap();
    archive
}

fn legacy_parts(archive: &Path) -> Vec<PathBuf> {
    files_under(archive)
        .into_iter()
        .filter(|p| {
            !p.strip_prefix(archive).unwrap().starts_with("_trailpack")
                && p.file_name()
                    .unwrap()
                    .to_string_lossy()
                    .starts_with("part-")
        })
        .collect()
}

/// What the fixture's trail holds that an archive restores: its log files but
/// the one that was quarantined.
fn expected_files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let trail = dir.join("trail");
    copy_tree(&fixture().join("trail"), &trail);
    for path in files_under(&trail) {
        if path.to_string_lossy().contains("CORRUPT") {
            std::fs::remove_file(path).unwrap();
        }
    }
    source_files(&trail)
}

fn upgrade(archive: &Path) -> std::process::Output {
    trailpack(&["upgrade", path_str(archive), "-q"])
}

#[test]
fn a_first_format_archive_upgrades_to_an_identical_table() {
    let dir = tempfile::tempdir().unwrap();
    let archive = legacy_copy(dir.path());

    // Before: every command names the upgrade, and changes nothing.
    for args in [
        vec!["stats"],
        vec!["query", "--count"],
        vec!["verify"],
        vec!["compact"],
    ] {
        let mut all = vec![args[0], path_str(&archive)];
        all.extend(&args[1..]);
        let output = trailpack(&all);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        assert!(
            text(&output.stderr)
                .contains(&format!("run `trailpack upgrade {}`", archive.display())),
            "{args:?}: {}",
            text(&output.stderr)
        );
    }
    assert!(!archive.join("_delta_log").exists());

    let output = upgrade(&archive);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert!(
        text(&output.stdout).contains("2 parts rewritten (0 converted before)"),
        "{}",
        text(&output.stdout)
    );
    assert!(!archive.join("_trailpack/commits").exists());
    let snapshot = super::snapshot(&archive);
    let mut live: Vec<PathBuf> = snapshot.parts.keys().map(|p| archive.join(p)).collect();
    live.sort();
    assert_eq!(
        legacy_parts(&archive),
        live,
        "old parts and the orphan are gone"
    );

    // Everything the old archive held, proven from the new one: the digests still
    // validate against the rebuilt log files.
    let output = trailpack(&["verify", path_str(&archive), "--deep", "--digests"]);
    let stdout = text(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("39/39 digest files valid"), "{stdout}");
    assert!(stdout.contains("16/16 log files valid"), "{stdout}");
    assert!(stdout.contains("quarantined files kept: 1"), "{stdout}");
    assert_eq!(restored(&archive, false), expected_files(dir.path()));
    let stats = trailpack(&["stats", path_str(&archive), "--json"]);
    let stats: serde_json::Value = serde_json::from_slice(&stats.stdout).unwrap();
    assert_eq!(stats["files"], 19);
    assert_eq!(stats["records"], 180);
    assert_eq!(stats["quarantined_files"], 1);
    assert_eq!(stats["digest_files"], 39);
    let index = super::index(&archive);
    let signed = index.values().filter(|e| e.signature.is_some()).count();
    assert_eq!(
        signed, 2,
        "the captured signature of each chain's newest digest"
    );

    // Run again: nothing to do.
    let version = snapshot.version;
    let output = upgrade(&archive);
    assert_eq!(output.status.code(), Some(0));
    assert!(text(&output.stdout).contains("already a Delta table"));
    assert_eq!(super::snapshot(&archive).version, version);
}

#[test]
fn an_interrupted_upgrade_finishes_when_run_again() {
    let dir = tempfile::tempdir().unwrap();
    let archive = legacy_copy(dir.path());
    // The second partition's part is damaged: the upgrade converts the first
    // partition, then stops on it, naming it.
    let damaged = legacy_parts(&archive)
        .into_iter()
        .filter(|p| !p.ends_with("part-orphan.parquet"))
        .max()
        .unwrap();
    let saved = std::fs::read(&damaged).unwrap();
    let mut bytes = saved.clone();
    bytes[200] ^= 0x55;
    std::fs::write(&damaged, bytes).unwrap();
    let output = upgrade(&archive);
    assert_eq!(output.status.code(), Some(2));
    let stderr = text(&output.stderr);
    assert!(stderr.contains("CRC-32"), "{stderr}");
    assert!(archive.join("_delta_log").exists());
    // Half upgraded is still not an archive to use.
    let output = trailpack(&["query", path_str(&archive), "--count"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(text(&output.stderr).contains("trailpack upgrade"));

    std::fs::write(&damaged, saved).unwrap();
    let output = upgrade(&archive);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert!(
        text(&output.stdout).contains("1 parts rewritten (1 converted before)"),
        "{}",
        text(&output.stdout)
    );
    let output = trailpack(&["verify", path_str(&archive), "--deep", "--digests"]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stdout));
    assert_eq!(restored(&archive, false), expected_files(dir.path()));
    // The partition converted first holds its files once: glob readers agree.
    let rows: u64 = super::snapshot(&archive).part_infos().map(|p| p.rows).sum();
    assert_eq!(rows, 180);
    assert_eq!(legacy_parts(&archive).len(), 2);
}
