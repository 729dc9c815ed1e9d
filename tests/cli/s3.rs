//! S3 sources against a real S3-compatible server (moto, from PyPI) on 127.0.0.1,
//! started by these tests (`scripts/s3-venv.sh` installs it once), with a proxy
//! that injects throttling and server errors.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Mutex, OnceLock};

use serde_json::Value;

use crate::{files_under, generate, path_str, report, restored, source_files, text};

/// The Python with moto and boto3, installed on first use.
fn python() -> &'static Path {
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    PYTHON.get_or_init(|| {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/s3-venv.sh");
        let output = Command::new("bash")
            .arg(script)
            .output()
            .expect("run s3-venv.sh");
        assert!(output.status.success(), "{}", text(&output.stderr));
        PathBuf::from(text(&output.stdout).trim())
    })
}

/// A helper process that prints its port and lives until its stdin closes (when
/// this test process exits, at the latest).
struct Helper {
    port: u16,
    child: Mutex<Child>,
}

impl Drop for Helper {
    fn drop(&mut self) {
        let mut child = self.child.lock().unwrap();
        drop(child.stdin.take());
        let _ = child.wait();
    }
}

fn start(script: &str, args: &[&str]) -> Helper {
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scripts")
        .join(script);
    let mut child = Command::new(python())
        .arg(script)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start helper");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    Helper {
        port: line.trim().parse().expect("helper prints its port"),
        child: Mutex::new(child),
    }
}

/// The S3 server all tests share; each test uses its own bucket.
fn endpoint() -> String {
    static SERVER: OnceLock<Helper> = OnceLock::new();
    let server = SERVER.get_or_init(|| start("s3_server.py", &[]));
    format!("http://127.0.0.1:{}", server.port)
}

fn with_credentials(command: &mut Command) -> &mut Command {
    command
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1")
        .env_remove("AWS_ENDPOINT_URL")
        .env_remove("AWS_PROFILE")
}

/// Run trailpack with test credentials.
fn trailpack_s3(args: &[&str]) -> Output {
    with_credentials(&mut Command::new(env!("CARGO_BIN_EXE_trailpack")))
        .args(args)
        .output()
        .expect("run trailpack")
}

/// Upload `tree` to `s3://bucket/prefix` (digest signatures as object metadata).
fn upload(tree: &Path, bucket: &str, prefix: &str) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/s3_upload.py");
    let output = with_credentials(&mut Command::new(python()))
        .arg(script)
        .arg(tree)
        .args([
            "--endpoint",
            &endpoint(),
            "--bucket",
            bucket,
            "--prefix",
            prefix,
        ])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", text(&output.stderr));
}

/// The keys in `bucket`, sorted.
fn keys(bucket: &str) -> Vec<String> {
    let code = "import boto3, sys\n\
        s3 = boto3.client('s3', endpoint_url=sys.argv[1])\n\
        for page in s3.get_paginator('list_objects_v2').paginate(Bucket=sys.argv[2]):\n\
        \x20   for o in page.get('Contents', []): print(o['Key'])\n";
    let output = with_credentials(&mut Command::new(python()))
        .args(["-c", code, &endpoint(), bucket])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", text(&output.stderr));
    let mut keys: Vec<String> = text(&output.stdout).lines().map(String::from).collect();
    keys.sort();
    keys
}

fn run_ok(args: &[&str]) -> Output {
    let output = trailpack_s3(args);
    assert!(
        output.status.success(),
        "{args:?}: {}{}",
        text(&output.stdout),
        text(&output.stderr)
    );
    output
}

fn query_all(archive: &Path) -> String {
    text(&run_ok(&["query", path_str(archive), "--format", "jsonl"]).stdout)
}

#[test]
fn an_s3_tree_archives_like_the_same_tree_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let trail = dir.path().join("trail");
    // Two accounts, three regions, three days: thousands of keys across prefixes.
    generate(&trail, 2000, 11);
    upload(&trail, "listing", "cloudtrail/");
    let uploaded = keys("listing").len();
    assert!(uploaded > 2000, "{uploaded} keys");
    let endpoint = endpoint();
    let from_s3 = dir.path().join("from-s3");
    let from_disk = dir.path().join("from-disk");
    let report_path = dir.path().join("report.json");
    run_ok(&[
        "archive",
        "s3://listing/cloudtrail",
        "--to",
        path_str(&from_s3),
        "--s3-endpoint",
        &endpoint,
        "--s3-concurrency",
        "16",
        "--report",
        path_str(&report_path),
        "-q",
    ]);
    run_ok(&[
        "archive",
        path_str(&trail),
        "--to",
        path_str(&from_disk),
        "-q",
    ]);
    let run = report(&report_path);
    assert_eq!(
        run["files_listed"].as_u64().unwrap() + run["files_skipped"].as_u64().unwrap(),
        uploaded as u64
    );
    // The reconciliation report accounts for the time of each stage.
    let stage = |name: &str| run["stages"][name].as_f64().unwrap();
    for name in [
        "list",
        "read_wait",
        "decode",
        "normalise",
        "encode",
        "commit",
    ] {
        assert!(stage(name) > 0.0, "{name}: {}", run["stages"]);
    }
    let staged: f64 = ["read_wait", "normalise", "encode", "commit", "digests"]
        .iter()
        .map(|name| stage(name))
        .sum();
    // Decoding runs on its own thread, overlapped; what the writer does adds up.
    assert!(
        staged <= run["seconds"].as_f64().unwrap() * 1.01,
        "{}",
        run["stages"]
    );
    assert!(stage("decode") <= run["seconds"].as_f64().unwrap());
    let archived = query_all(&from_s3);
    assert!(archived.lines().count() > 20_000);
    assert_eq!(archived, query_all(&from_disk));
    assert_eq!(restored(&from_s3, false), source_files(&trail));
    run_ok(&["verify", path_str(&from_s3), "--deep"]);
    // A second run lists again and reads nothing.
    run_ok(&[
        "archive",
        "s3://listing/cloudtrail/",
        "--to",
        path_str(&from_s3),
        "--s3-endpoint",
        &endpoint,
        "--report",
        path_str(&report_path),
        "-q",
    ]);
    let rerun = report(&report_path);
    assert_eq!(rerun["files_archived"], 0);
    assert_eq!(rerun["files_already_archived"], run["files_archived"]);
}

#[test]
fn throttling_and_server_errors_are_retried() {
    let dir = tempfile::tempdir().unwrap();
    let trail = dir.path().join("trail");
    generate(&trail, 200, 12);
    upload(&trail, "faults", "");
    let stats = dir.path().join("stats.json");
    let proxy = start(
        "s3_fault_proxy.py",
        &[
            "--upstream",
            &endpoint(),
            "--slowdown-every",
            "5",
            "--error-every",
            "7",
            "--stats",
            path_str(&stats),
        ],
    );
    let archive = dir.path().join("archive");
    run_ok(&[
        "archive",
        "s3://faults",
        "--to",
        path_str(&archive),
        "--s3-endpoint",
        &format!("http://127.0.0.1:{}", proxy.port),
        "-q",
    ]);
    let stats: Value = serde_json::from_slice(&std::fs::read(&stats).unwrap()).unwrap();
    assert!(stats["slowdown"].as_u64().unwrap() > 20, "{stats}");
    assert!(stats["internal_error"].as_u64().unwrap() > 10, "{stats}");
    assert_eq!(restored(&archive, false), source_files(&trail));

    // A store that never answers well fails with the URL and the reason, exit 2.
    let dead = start(
        "s3_fault_proxy.py",
        &[
            "--upstream",
            &endpoint(),
            "--slowdown-every",
            "1",
            "--stats",
            path_str(&dir.path().join("dead.json")),
        ],
    );
    let output = with_credentials(&mut Command::new(env!("CARGO_BIN_EXE_trailpack")))
        .args([
            "archive",
            "s3://faults",
            "--to",
            path_str(&dir.path().join("never")),
        ])
        .args(["--s3-endpoint", &format!("http://127.0.0.1:{}", dead.port)])
        .args(["--s3-retries", "2"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = text(&output.stderr);
    assert!(stderr.contains("s3://faults"), "{stderr}");
    assert!(
        stderr.contains("SlowDown") || stderr.contains("503"),
        "{stderr}"
    );
    assert!(!dir.path().join("never").exists());
}

#[test]
fn digest_signatures_come_from_object_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let trail = dir.path().join("trail");
    generate(&trail, 60, 13);
    crate::integrity::sign_trail(&trail);
    let keys_file = dir.path().join("keys.json");
    std::fs::rename(trail.join("keys.json"), &keys_file).unwrap();
    upload(&trail, "signed", "");
    let endpoint = endpoint();
    // No sidecar on S3: the signatures are the objects' metadata.
    assert!(
        !keys("signed")
            .iter()
            .any(|k| k.ends_with("signatures.json"))
    );
    run_ok(&[
        "validate",
        "s3://signed",
        "--s3-endpoint",
        &endpoint,
        "--public-keys",
        path_str(&keys_file),
    ]);
    let archive = dir.path().join("archive");
    run_ok(&[
        "archive",
        "s3://signed",
        "--to",
        path_str(&archive),
        "--s3-endpoint",
        &endpoint,
        "--public-keys",
        path_str(&keys_file),
        "-q",
    ]);
    run_ok(&["verify", path_str(&archive), "--digests"]);
    let manifest = trailpack_archive::manifest::Manifest::load(&archive).unwrap();
    let signed: Vec<_> = manifest
        .digests
        .iter()
        .filter(|d| d.signature.is_some())
        .collect();
    assert!(!signed.is_empty());
    assert!(
        signed
            .iter()
            .all(|d| d.signature_algorithm.as_deref() == Some("SHA256withRSA"))
    );
}

#[test]
fn delete_sources_removes_only_verified_objects() {
    let dir = tempfile::tempdir().unwrap();
    let trail = dir.path().join("trail");
    generate(&trail, 100, 14);
    let bad_key = "AWSLogs/111122223333/CloudTrail/us-east-1/2021/01/01/111122223333_CloudTrail_us-east-1_20210101T0000Z_BADBADBADBADBADB.json.gz";
    let before = source_files(&trail);
    let bad = trail.join(bad_key);
    std::fs::create_dir_all(bad.parent().unwrap()).unwrap();
    std::fs::write(&bad, b"not gzip").unwrap();
    upload(&trail, "lifecycle", "");
    let all_keys = keys("lifecycle");
    let archive = dir.path().join("archive");
    let report_path = dir.path().join("report.json");
    let output = trailpack_s3(&[
        "archive",
        "s3://lifecycle",
        "--to",
        path_str(&archive),
        "--s3-endpoint",
        &endpoint(),
        "--delete-sources",
        "--report",
        path_str(&report_path),
        "-q",
    ]);
    // The quarantined file makes the exit status 1; it is kept in the bucket.
    assert_eq!(output.status.code(), Some(1), "{}", text(&output.stderr));
    let run = report(&report_path);
    let left = keys("lifecycle");
    assert!(left.iter().any(|k| k == bad_key), "{left:?}");
    let cloudtrail = |k: &&String| k.contains("_CloudTrail");
    assert_eq!(left.iter().filter(cloudtrail).count(), 1, "{left:?}");
    assert_eq!(
        run["deletion"]["deleted"].as_u64().unwrap() as usize,
        all_keys.iter().filter(cloudtrail).count() - 1
    );
    assert_eq!(run["deletion"]["problems"], 0);
    // Nothing was lost: the archive gives back every deleted file.
    assert_eq!(restored(&archive, false), before);
    assert!(files_under(&trail).contains(&bad));
}
