//! S3 sources against a real S3-compatible server (moto, from PyPI) on 127.0.0.1,
//! started by these tests (`scripts/s3-venv.sh` installs it once), with a proxy
//! that injects throttling and server errors.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Mutex, OnceLock};

use serde_json::Value;

use crate::{files_under, generate, path_str, report, restored, source_files, text};

/// The Python with moto and boto3, installed on first use, or `None` when it cannot
/// be installed (offline, say) and `TRAILPACK_REQUIRE_S3_TESTS` is not `1`.
fn python() -> Option<&'static Path> {
    static PYTHON: OnceLock<Option<PathBuf>> = OnceLock::new();
    PYTHON
        .get_or_init(|| {
            let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/s3-venv.sh");
            let output = Command::new("bash")
                .arg(script)
                .output()
                .expect("run s3-venv.sh");
            if output.status.success() {
                return Some(PathBuf::from(text(&output.stdout).trim()));
            }
            let why = text(&output.stderr);
            assert!(
                std::env::var("TRAILPACK_REQUIRE_S3_TESTS").as_deref() != Ok("1"),
                "the S3 tests are required (TRAILPACK_REQUIRE_S3_TESTS=1) but moto could not \
                 be installed: {why}"
            );
            eprintln!(
                "skipping the S3 tests: moto could not be installed from PyPI by \
                 scripts/s3-venv.sh (set TRAILPACK_REQUIRE_S3_TESTS=1 to fail instead): {}",
                why.lines().last().unwrap_or("")
            );
            None
        })
        .as_deref()
}

/// Whether the S3 tests can run: each returns early, passing, when they cannot.
fn s3_available() -> bool {
    python().is_some()
}

/// The Python with moto, in a test that checked [`s3_available`].
fn s3_python() -> &'static Path {
    python().expect("the S3 tests check s3_available() first")
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
    let mut child = Command::new(s3_python())
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
    let output = with_credentials(&mut Command::new(s3_python()))
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
    let output = with_credentials(&mut Command::new(s3_python()))
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
    if !s3_available() {
        return;
    }
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
    if !s3_available() {
        return;
    }
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

    // Writes are retried too: an archive uploaded through the proxy is complete.
    create_bucket("faults-archive");
    run_ok(&[
        "archive",
        path_str(&trail),
        "--to",
        "s3://faults-archive/archive",
        "--s3-endpoint",
        &format!("http://127.0.0.1:{}", proxy.port),
        "-q",
    ]);
    let after: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("stats.json")).unwrap()).unwrap();
    let injected =
        |s: &Value| s["slowdown"].as_u64().unwrap() + s["internal_error"].as_u64().unwrap();
    assert!(injected(&after) > injected(&stats) + 10, "{after}");
    assert_eq!(
        restored_s3("s3://faults-archive/archive"),
        source_files(&trail)
    );

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
    if !s3_available() {
        return;
    }
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
    let index = super::index(&archive);
    let signed: Vec<_> = index
        .values()
        .filter(|d| d.status == trailpack_table::EntryStatus::Digest && d.signature.is_some())
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
    if !s3_available() {
        return;
    }
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

/// Create an empty bucket.
fn create_bucket(bucket: &str) {
    let code = "import boto3, sys\n\
        boto3.client('s3', endpoint_url=sys.argv[1]).create_bucket(Bucket=sys.argv[2])\n";
    let output = with_credentials(&mut Command::new(s3_python()))
        .args(["-c", code, &endpoint(), bucket])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", text(&output.stderr));
}

/// Store `bytes` at `s3://bucket/key`.
fn put_object(bucket: &str, key: &str, bytes: &[u8]) {
    let code = "import boto3, sys\n\
        body = sys.stdin.buffer.read()\n\
        boto3.client('s3', endpoint_url=sys.argv[1]).put_object(Bucket=sys.argv[2], Key=sys.argv[3], Body=body)\n";
    let mut child = with_credentials(&mut Command::new(s3_python()))
        .args(["-c", code, &endpoint(), bucket, key])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(bytes).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{}", text(&output.stderr));
}

/// `trailpack query ARCHIVE --format jsonl` for an archive on the test server.
fn query_s3(url: &str) -> String {
    text(
        &run_ok(&[
            "query",
            url,
            "--s3-endpoint",
            &endpoint(),
            "--format",
            "jsonl",
        ])
        .stdout,
    )
}

/// Restore an archive on the test server; key -> bytes.
fn restored_s3(url: &str) -> std::collections::BTreeMap<String, Vec<u8>> {
    let out = tempfile::tempdir().unwrap();
    run_ok(&[
        "restore",
        url,
        "--s3-endpoint",
        &endpoint(),
        "--to",
        path_str(out.path()),
    ]);
    source_files(out.path())
}

#[test]
fn an_archive_on_s3_matches_one_on_disk() {
    if !s3_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let trail = dir.path().join("trail");
    generate(&trail, 300, 15);
    let bad_key = "AWSLogs/111122223333/CloudTrail/us-east-1/2021/01/01/111122223333_CloudTrail_us-east-1_20210101T0000Z_BADBADBADBADBADB.json.gz";
    std::fs::create_dir_all(trail.join(bad_key).parent().unwrap()).unwrap();
    std::fs::write(trail.join(bad_key), b"not gzip").unwrap();
    create_bucket("archives");
    let url = "s3://archives/cloudtrail/archive";
    let endpoint = endpoint();
    let local = dir.path().join("local");
    let report_path = dir.path().join("report.json");
    let archive_to = |to: &str| {
        trailpack_s3(&[
            "archive",
            path_str(&trail),
            "--to",
            to,
            "--s3-endpoint",
            &endpoint,
            "--part-mib",
            "1",
            "--report",
            path_str(&report_path),
            "-q",
        ])
    };
    // The quarantined file makes both runs exit 1.
    let output = archive_to(url);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output.stderr));
    let run = report(&report_path);
    assert!(run["parts_written"].as_u64().unwrap() > 3, "{run}");
    assert_eq!(archive_to(path_str(&local)).status.code(), Some(1));

    // Every reader gives what it gives for the same archive on disk.
    assert_eq!(query_s3(url), query_all(&local));
    assert_eq!(restored_s3(url), restored(&local, false));
    let stats = |location: &str| -> Value {
        let output = run_ok(&["stats", location, "--s3-endpoint", &endpoint, "--json"]);
        serde_json::from_slice(&output.stdout).unwrap()
    };
    let (remote_stats, local_stats) = (stats(url), stats(path_str(&local)));
    for field in ["parts", "records", "files_archived", "files_quarantined"] {
        assert_eq!(remote_stats[field], local_stats[field], "{field}");
    }
    let verify = run_ok(&["verify", url, "--s3-endpoint", &endpoint, "--deep"]);
    assert!(text(&verify.stdout).contains("s3://archives/cloudtrail/archive"));
    // Only finished objects under the prefix: the parts the table names, the Delta
    // log, the index, digests and the quarantined file's bytes. Nothing temporary,
    // staged or pending.
    let objects = keys("archives");
    assert!(
        objects.iter().all(|k| k.starts_with("cloudtrail/archive/")
            && !k.contains(".tmp")
            && !k.contains("/_trailpack/staging/")
            && !k.contains("/_trailpack/pending/")),
        "{objects:?}"
    );
    let is_part = |k: &&String| k.rsplit('/').next().unwrap().starts_with("part-");
    let parts = objects.iter().filter(is_part).count();
    assert_eq!(parts as u64, run["parts_written"].as_u64().unwrap());
    assert!(objects.contains(&format!(
        "cloudtrail/archive/_trailpack/quarantine/{bad_key}"
    )));

    // A rerun reads the index from S3 and reads no file again, the quarantined
    // one included.
    assert_eq!(archive_to(url).status.code(), Some(0));
    let rerun = report(&report_path);
    assert_eq!(rerun["files_archived"], 0);
    assert_eq!(rerun["files_quarantined"], 0);
    assert_eq!(
        rerun["files_already_archived"].as_u64(),
        Some(run["files_archived"].as_u64().unwrap() + 1)
    );

    // A part object that the table does not hold is reported, not read.
    let stray = "cloudtrail/archive/account=111122223333/region=us-east-1/year=2021/month=01/part-stray.parquet";
    put_object("archives", stray, b"PAR1 not really PAR1");
    let verify = run_ok(&["verify", url, "--s3-endpoint", &endpoint]);
    assert!(text(&verify.stdout).contains("part-stray.parquet: not in the table"));
    assert_eq!(query_s3(url), query_all(&local));

    // A damaged part fails verification with its name, exit 1.
    let part = objects.iter().find(is_part).unwrap();
    put_object("archives", part, b"PAR1 damaged PAR1");
    let output = trailpack_s3(&["verify", url, "--s3-endpoint", &endpoint]);
    assert_eq!(output.status.code(), Some(1));
    let name = part.rsplit('/').next().unwrap();
    assert!(
        text(&output.stdout).contains(name),
        "{}",
        text(&output.stdout)
    );
}

#[test]
fn compaction_on_s3_retires_parts_under_a_lock() {
    if !s3_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let trail = dir.path().join("trail");
    generate(&trail, 150, 16);
    create_bucket("compacted");
    let url = "s3://compacted";
    let endpoint = endpoint();
    // Three nightly-style runs leave three small parts per partition and day.
    for until in ["2021-01-02", "2021-01-03", "2021-01-04"] {
        run_ok(&[
            "archive",
            path_str(&trail),
            "--to",
            url,
            "--s3-endpoint",
            &endpoint,
            "--until",
            until,
            "-q",
        ]);
    }
    let before_query = query_s3(url);
    let is_part = |k: &String| k.rsplit('/').next().unwrap().starts_with("part-");
    let before_parts: Vec<String> = keys("compacted").into_iter().filter(is_part).collect();

    // A lock object left by another compaction stops this one, naming the object.
    put_object("compacted", "_trailpack/compact.lock", b"{}");
    let output = trailpack_s3(&["compact", url, "--s3-endpoint", &endpoint, "-q"]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("s3://compacted/_trailpack/compact.lock") && stderr.contains("running"),
        "{stderr}"
    );
    let lock = "import boto3, sys\n\
        boto3.client('s3', endpoint_url=sys.argv[1]).delete_object(Bucket='compacted', Key='_trailpack/compact.lock')\n";
    let deleted = with_credentials(&mut Command::new(s3_python()))
        .args(["-c", lock, &endpoint])
        .output()
        .unwrap();
    assert!(deleted.status.success(), "{}", text(&deleted.stderr));

    run_ok(&["compact", url, "--s3-endpoint", &endpoint, "-q"]);
    let after_parts: Vec<String> = keys("compacted").into_iter().filter(is_part).collect();
    assert!(after_parts.len() < before_parts.len(), "{after_parts:?}");
    // The retired objects are gone, and so is the lock.
    assert!(after_parts.iter().all(|p| !before_parts.contains(p)));
    assert!(
        !keys("compacted")
            .iter()
            .any(|k| k.ends_with("compact.lock"))
    );
    assert_eq!(query_s3(url), before_query);
    assert_eq!(restored_s3(url), source_files(&trail));
    run_ok(&["verify", url, "--s3-endpoint", &endpoint, "--deep"]);
}

#[test]
fn large_parts_go_up_in_parts_and_queries_read_byte_ranges() {
    if !s3_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let trail = dir.path().join("trail");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/gen_trail.py");
    let status = Command::new("python3")
        .arg(script)
        .args(["--out", path_str(&trail), "--files", "8", "--seed", "17"])
        .args(["--records-per-file", "2400", "--days", "1"])
        .args(["--accounts", "111122223333", "--regions", "us-east-1"])
        .status()
        .unwrap();
    assert!(status.success());
    create_bucket("multipart");
    let report_path = dir.path().join("report.json");
    run_ok(&[
        "archive",
        path_str(&trail),
        "--to",
        "s3://multipart/archive",
        "--s3-endpoint",
        &endpoint(),
        "--s3-multipart-mib",
        "1",
        // Row groups small enough that bloom filters can skip most of them.
        "--row-group-rows",
        "2000",
        "--report",
        path_str(&report_path),
        "-q",
    ]);
    let run = report(&report_path);
    assert!(run["bytes_out"].as_u64().unwrap() > 2 << 20, "{run}");
    // Parts over the threshold went up as multipart uploads, whose ETags S3 marks
    // with the number of parts (`"<md5 of md5s>-1"`); the small commits did not.
    let code = "import boto3, sys\n\
        s3 = boto3.client('s3', endpoint_url=sys.argv[1])\n\
        for o in s3.list_objects_v2(Bucket='multipart')['Contents']: print(o['Key'], o['Size'], o['ETag'])\n";
    let output = with_credentials(&mut Command::new(s3_python()))
        .args(["-c", code, &endpoint()])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", text(&output.stderr));
    let listing = text(&output.stdout);
    let mut multipart_uploads = 0;
    for line in listing.lines() {
        let fields: Vec<&str> = line.split(' ').collect();
        let size: u64 = fields[1].parse().unwrap();
        let multipart = fields[2].contains('-');
        assert_eq!(multipart, size > 1 << 20, "{line}");
        multipart_uploads += usize::from(multipart);
    }
    assert!(multipart_uploads > 0, "{listing}");
    assert_eq!(restored_s3("s3://multipart/archive"), source_files(&trail));

    // A query reads byte ranges of the part: a lookup by event ID fetches a small
    // share of it, and every query gives what it gives on disk.
    let url = "s3://multipart/archive";
    let local = dir.path().join("local");
    run_ok(&[
        "archive",
        path_str(&trail),
        "--to",
        path_str(&local),
        "--row-group-rows",
        "2000",
        "-q",
    ]);
    let all = query_all(&local);
    assert_eq!(query_s3(url), all);
    let middle = all.lines().nth(all.lines().count() / 2).unwrap();
    let event: Value = serde_json::from_str(middle).unwrap();
    let event_id = event["eventID"].as_str().unwrap();
    let lookup = |location: &str| {
        let args = ["query", location, "--event-id", event_id, "--explain"];
        run_ok(&[&args[..], &["--s3-endpoint", &endpoint()]].concat())
    };
    let (remote, on_disk) = (lookup(url), lookup(path_str(&local)));
    assert_eq!(remote.stdout, on_disk.stdout);
    assert!(text(&remote.stdout).contains(event_id));
    let explain = text(&remote.stderr);
    let fetched: u64 = explain
        .lines()
        .find_map(|line| line.strip_prefix("fetched:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no fetched line: {explain}"));
    let archive_bytes = run["bytes_out"].as_u64().unwrap();
    assert!(
        fetched * 4 < archive_bytes,
        "{fetched} of {archive_bytes}: {explain}"
    );
    let count = |location: &str| {
        let args = ["query", location, "--event-name", "GetObject", "--count"];
        text(&run_ok(&[&args[..], &["--s3-endpoint", &endpoint()]].concat()).stdout)
    };
    assert_eq!(count(url), count(path_str(&local)));
    run_ok(&[
        "verify",
        "s3://multipart/archive",
        "--s3-endpoint",
        &endpoint(),
        "--deep",
    ]);
}

#[test]
fn a_store_that_ignores_conditional_writes_is_refused_before_anything_is_written() {
    if !s3_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let trail = dir.path().join("trail");
    generate(&trail, 20, 41);
    create_bucket("unconditional");
    let proxy = start(
        "s3_fault_proxy.py",
        &[
            "--upstream",
            &endpoint(),
            "--drop-header",
            "If-None-Match",
            "--stats",
            path_str(&dir.path().join("stats.json")),
        ],
    );
    let output = trailpack_s3(&[
        "archive",
        path_str(&trail),
        "--to",
        "s3://unconditional/archive",
        "--s3-endpoint",
        &format!("http://127.0.0.1:{}", proxy.port),
        "-q",
    ]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = text(&output.stderr);
    assert!(
        stderr
            .contains("s3://unconditional/archive: this store does not honour conditional writes"),
        "{stderr}"
    );
    assert!(keys("unconditional").is_empty(), "nothing written");
}

#[test]
fn shards_commit_side_by_side_on_s3() {
    if !s3_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let trail = dir.path().join("trail");
    generate(&trail, 300, 42);
    create_bucket("shards");
    let url = "s3://shards/archive";
    let endpoint = endpoint();
    // Four processes at once: every commit is a conditional PUT of the next
    // version, and the losers of each race try the version after.
    let children: Vec<std::process::Child> = (0..4)
        .map(|k| {
            with_credentials(&mut Command::new(env!("CARGO_BIN_EXE_trailpack")))
                .args(["archive", path_str(&trail), "--to", url])
                .args([
                    "--s3-endpoint",
                    &endpoint,
                    "--shard",
                    &format!("{k}/4"),
                    "-q",
                ])
                .args(["--part-mib", "1"])
                .spawn()
                .unwrap()
        })
        .collect();
    for mut child in children {
        assert!(child.wait().unwrap().success());
    }
    let commits: Vec<String> = keys("shards")
        .into_iter()
        .filter(|k| k.starts_with("archive/_delta_log/") && k.ends_with(".json"))
        .collect();
    // Versions 0..N without a gap: each commit landed once.
    for (version, key) in commits.iter().enumerate() {
        assert_eq!(key, &format!("archive/_delta_log/{version:020}.json"));
    }
    assert!(commits.len() > 4, "{commits:?}");
    assert_eq!(restored_s3(url), source_files(&trail));
    run_ok(&["verify", url, "--s3-endpoint", &endpoint, "--deep"]);
}

/// trailpack with AWS settings from `home/.aws` only: no `AWS_*` variables, and
/// instance metadata off (on this machine the metadata address answers 403).
fn trailpack_with_home(home: &Path, args: &[&str]) -> Output {
    home_command(home)
        .args(args)
        .output()
        .expect("run trailpack")
}

fn home_command(home: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_trailpack"));
    command
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("AWS_EC2_METADATA_DISABLED", "true");
    command
}

/// Archive `trail` to `archive` on S3 with the AWS `profile` of `home`.
fn archive_with_profile(home: &Path, trail: &Path, archive: &str, profile: &str) {
    let args = [
        "archive",
        path_str(trail),
        "--to",
        archive,
        "--profile",
        profile,
        "-q",
    ];
    let output = trailpack_with_home(home, &args);
    assert!(output.status.success(), "{}", text(&output.stderr));
}

/// A home whose `~/.aws/config` holds `config` and `~/.aws/credentials`
/// holds `credentials`.
fn aws_home(config: &str, credentials: &str) -> tempfile::TempDir {
    let home = tempfile::tempdir().unwrap();
    std::fs::create_dir(home.path().join(".aws")).unwrap();
    std::fs::write(home.path().join(".aws/config"), config).unwrap();
    std::fs::write(home.path().join(".aws/credentials"), credentials).unwrap();
    home
}

/// What `query` prints for `trail` archived to a local directory.
fn archived_locally(trail: &Path) -> String {
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("archive");
    run_ok(&["archive", path_str(trail), "--to", path_str(&archive), "-q"]);
    query_all(&archive)
}

/// The one line a failed run printed, checked to be one line.
fn one_error_line(output: &Output) -> String {
    assert!(!output.status.success());
    let stderr = text(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    stderr
}

#[test]
fn keys_region_and_endpoint_come_from_the_profile() {
    if !s3_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let trail = dir.path().join("trail");
    generate(&trail, 40, 21);
    create_bucket("profiles");
    let endpoint = endpoint();
    let home = aws_home(
        &format!(
            "[default]\nregion = eu-west-1\n\n\
             [profile audit]\nregion = us-east-1\nendpoint_url = {endpoint}\n\n\
             [profile keyless]\nregion = us-east-1\nendpoint_url = {endpoint}\n\n\
             [profile reader]\nrole_arn = arn:aws:iam::123456789012:role/reader\n\
             source_profile = audit\nregion = us-east-1\nendpoint_url = {endpoint}\n"
        ),
        "[audit]\naws_access_key_id = test\naws_secret_access_key = test\n",
    );
    let archive = "s3://profiles/archive";
    archive_with_profile(home.path(), &trail, archive, "audit");
    // The archive is on the profile's endpoint, where the test credentials read it.
    let expected = query_s3(archive);
    assert_eq!(expected, archived_locally(&trail));
    // Detections read the archive on S3 as they read one on disk.
    let local = dir.path().join("local");
    run_ok(&["archive", path_str(&trail), "--to", path_str(&local), "-q"]);
    let detect = [
        "--first-seen",
        "--builtin",
        "--baseline",
        "1d",
        "--format",
        "jsonl",
    ];
    let on_disk = run_ok(&[&["detect", path_str(&local)][..], &detect].concat());
    let args = [&["detect", archive, "--profile", "audit"][..], &detect].concat();
    let output = trailpack_with_home(home.path(), &args);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(text(&output.stdout), text(&on_disk.stdout));
    // AWS_PROFILE chooses the profile as --profile does.
    let output = home_command(home.path())
        .env("AWS_PROFILE", "audit")
        .args(["query", archive, "--format", "jsonl"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(text(&output.stdout), expected);
    // Assume-role through source_profile: the role's keys come from STS at the
    // profile's endpoint (the test server answers STS too), signed with audit's.
    let output = trailpack_with_home(
        home.path(),
        &["query", archive, "--profile", "reader", "--format", "jsonl"],
    );
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(text(&output.stdout), expected);

    // A profile without keys, and one that does not exist: one line each, naming
    // the profile and the sources tried, and never the metadata address.
    for (profile, reason) in [("keyless", ""), ("missing", "`missing` was not defined")] {
        let output = trailpack_with_home(home.path(), &["query", archive, "--profile", profile]);
        let line = one_error_line(&output);
        assert!(
            line.starts_with("trailpack: error: s3://profiles: no AWS credentials found (tried: environment variables"),
            "{line}"
        );
        assert!(
            line.contains(&format!(
                "profile {profile:?} in ~/.aws/config and ~/.aws/credentials"
            )),
            "{line}"
        );
        assert!(
            line.contains("EC2 instance metadata (disabled by AWS_EC2_METADATA_DISABLED)"),
            "{line}"
        );
        assert!(line.contains(reason), "{line}");
        assert!(!line.contains("169.254"), "{line}");
    }
    // Nothing was written by the runs that failed.
    assert_eq!(query_s3(archive), expected);
    // Unsigned requests need no keys, and the endpoint still comes from the
    // profile; the bucket refuses them until its policy lets anyone read.
    let unsigned = [
        "query",
        archive,
        "--profile",
        "keyless",
        "--no-sign-request",
        "--format",
        "jsonl",
    ];
    let line = one_error_line(&trailpack_with_home(home.path(), &unsigned));
    assert!(line.contains("403 Forbidden"), "{line}");
    let code = "import boto3, json, sys\n\
        statement = {'Effect': 'Allow', 'Principal': '*', 'Action': ['s3:GetObject', 's3:ListBucket'], \
        'Resource': ['arn:aws:s3:::profiles', 'arn:aws:s3:::profiles/*']}\n\
        boto3.client('s3', endpoint_url=sys.argv[1]).put_bucket_policy(Bucket='profiles', \
        Policy=json.dumps({'Version': '2012-10-17', 'Statement': [statement]}))\n";
    let output = with_credentials(&mut Command::new(s3_python()))
        .args(["-c", code, &endpoint])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", text(&output.stderr));
    let output = trailpack_with_home(home.path(), &unsigned);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(text(&output.stdout), expected);
}

#[test]
fn a_credential_process_profile_signs_the_requests() {
    if !s3_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let trail = dir.path().join("trail");
    generate(&trail, 20, 22);
    create_bucket("process");
    let calls = dir.path().join("calls");
    let helper = dir.path().join("credentials.sh");
    std::fs::write(
        &helper,
        format!(
            "echo called >> '{}'\n\
             echo '{{\"Version\": 1, \"AccessKeyId\": \"test\", \"SecretAccessKey\": \"test\", \
             \"SessionToken\": \"session\", \"Expiration\": \"2999-01-01T00:00:00Z\"}}'\n",
            calls.display()
        ),
    )
    .unwrap();
    let failing = dir.path().join("expired.sh");
    std::fs::write(&failing, "echo 'the SSO session has expired' >&2\nexit 3\n").unwrap();
    let endpoint = endpoint();
    let home = aws_home(
        &format!(
            "[profile process]\nregion = us-east-1\nendpoint_url = {endpoint}\n\
             credential_process = sh {}\n\n\
             [profile expired]\nregion = us-east-1\nendpoint_url = {endpoint}\n\
             credential_process = sh {}\n",
            helper.display(),
            failing.display()
        ),
        "",
    );
    let archive = "s3://process/archive";
    archive_with_profile(home.path(), &trail, archive, "process");
    // Fetched once for the run, then kept until shortly before it expires.
    assert_eq!(std::fs::read_to_string(&calls).unwrap(), "called\n");
    assert_eq!(query_s3(archive), archived_locally(&trail));

    let output = trailpack_with_home(home.path(), &["query", archive, "--profile", "expired"]);
    let line = one_error_line(&output);
    assert!(line.contains("no AWS credentials found (tried:"), "{line}");
    assert!(line.contains("profile \"expired\""), "{line}");
    assert!(line.contains("the SSO session has expired"), "{line}");
}
