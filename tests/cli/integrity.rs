//! Integrity end to end: a generated trail whose digests are signed with a test key,
//! validated raw, archived with its digests and keys, then verified from the
//! archive alone, untouched and after each kind of tampering.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::Engine;
use rsa::PrivateKey;
use rsa::pkcs1v15::SigningKey;
use rsa::pkcs8::DecodePrivateKey;
use rsa::signature::{SignatureEncoding, Signer};
use serde_json::Value;
use sha2::Sha256;

use super::{files_under, generate, gunzip, gzip, path_str, text, trailpack};

const KEYS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/crates/digest/tests/data");

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex(&Sha256::digest(bytes))
}

/// Every digest file under `root`, grouped by chain (the name without its time),
/// oldest first.
fn digest_chains(root: &Path) -> BTreeMap<String, Vec<PathBuf>> {
    let mut chains: BTreeMap<String, Vec<PathBuf>> = BTreeMap::new();
    for path in files_under(root) {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if let Some((chain, _time)) = name
            .contains("_CloudTrail-Digest_")
            .then(|| name.rsplit_once('_'))
            .flatten()
        {
            chains.entry(chain.to_string()).or_default().push(path);
        }
    }
    for paths in chains.values_mut() {
        paths.sort_by_key(|p| p.file_name().unwrap().to_owned());
    }
    chains
}

/// Re-sign every digest under `root` with the test key, as CloudTrail would have:
/// each links to the previous one's hash and signature. Writes `signatures.json`
/// (the newest digest of each chain, as S3 metadata would give) and `keys.json`
/// (as `list-public-keys` prints). Returns the number of digests.
pub(crate) fn sign_trail(root: &Path) -> usize {
    sign_trail_with(root, |_, _| {})
}

/// [`sign_trail`], with `edit(position in its chain, digest)` called on each digest
/// after it is linked and before it is signed.
fn sign_trail_with(root: &Path, edit: impl Fn(usize, &mut Value)) -> usize {
    let private = std::fs::read(format!("{KEYS}/signer.pk8.der")).unwrap();
    let key = SigningKey::<Sha256>::new(PrivateKey::from_pkcs8_der(&private).unwrap());
    let public = std::fs::read(format!("{KEYS}/signer.pkcs1.der")).unwrap();
    let fingerprint = {
        use md5::Digest;
        hex(&md5::Md5::digest(&public))
    };
    let mut signatures = serde_json::Map::new();
    let mut count = 0;
    for paths in digest_chains(root).values() {
        let mut previous: Option<(String, String)> = None;
        for (position, path) in paths.iter().enumerate() {
            let mut digest: Value =
                serde_json::from_slice(&gunzip(&std::fs::read(path).unwrap())).unwrap();
            digest["digestPublicKeyFingerprint"] = fingerprint.clone().into();
            if !digest["previousDigestS3Object"].is_null() {
                let (hash, signature) = previous
                    .clone()
                    .expect("a chain starts with a null previous");
                digest["previousDigestHashValue"] = hash.into();
                digest["previousDigestSignature"] = signature.into();
            }
            edit(position, &mut digest);
            let bytes = serde_json::to_vec(&digest).unwrap();
            let hash = sha256_hex(&bytes);
            let message = format!(
                "{}\n{}/{}\n{hash}\n{}",
                digest["digestEndTime"].as_str().unwrap(),
                digest["digestS3Bucket"].as_str().unwrap(),
                digest["digestS3Object"].as_str().unwrap(),
                digest["previousDigestSignature"].as_str().unwrap_or("null"),
            );
            let signature = hex(&key.sign(message.as_bytes()).to_vec());
            std::fs::write(path, gzip(&bytes)).unwrap();
            previous = Some((hash, signature));
            count += 1;
        }
        let newest = paths.last().unwrap();
        let object = digest_object(newest);
        signatures.insert(object, previous.unwrap().1.into());
    }
    std::fs::write(
        root.join("signatures.json"),
        serde_json::to_vec(&signatures).unwrap(),
    )
    .unwrap();
    let keys = serde_json::json!({"PublicKeyList": [{
        "Value": base64::engine::general_purpose::STANDARD.encode(&public),
        "ValidityStartTime": "2020-01-01T00:00:00Z",
        "ValidityEndTime": "2030-01-01T00:00:00Z",
        "Fingerprint": fingerprint,
    }]});
    std::fs::write(root.join("keys.json"), serde_json::to_vec(&keys).unwrap()).unwrap();
    count
}

#[test]
fn a_broken_chain_link_is_named_on_the_digest_that_holds_it() {
    let dir = tempfile::tempdir().unwrap();
    let trail = dir.path().join("trail");
    generate(&trail, 30, 7);
    // Every chain's second digest carries a wrong previousDigestHashValue, and is
    // correctly signed with it, as is the rest of the chain.
    sign_trail_with(&trail, |position, digest| {
        if position == 1 {
            digest["previousDigestHashValue"] = "00".repeat(32).into();
        }
    });
    let keys = trail.join("keys.json");
    let chains = digest_chains(&trail);
    let expected: Vec<(String, String)> = chains
        .values()
        .filter(|paths| paths.len() >= 2)
        .map(|paths| (digest_location(&paths[1]), digest_location(&paths[0])))
        .collect();
    assert!(!expected.is_empty());
    let check = |stdout: &str| {
        let invalid: Vec<&str> = stdout.lines().filter(|l| l.contains("INVALID")).collect();
        assert_eq!(invalid.len(), expected.len(), "{stdout}");
        for (holder, previous) in &expected {
            let line = format!(
                "Digest file\t{holder}\tINVALID: previousDigestHashValue does not match \
                 the hash of the previous digest {previous}"
            );
            assert!(invalid.contains(&line.as_str()), "{line}\n{stdout}");
        }
    };

    let output = trailpack(&[
        "validate",
        path_str(&trail),
        "--public-keys",
        path_str(&keys),
    ]);
    assert_eq!(output.status.code(), Some(1));
    check(&text(&output.stdout));

    let archive = dir.path().join("archive");
    let output = trailpack(&[
        "archive",
        path_str(&trail),
        "--to",
        path_str(&archive),
        "--public-keys",
        path_str(&keys),
        "--quiet",
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let output = trailpack(&["verify", path_str(&archive), "--digests"]);
    assert_eq!(output.status.code(), Some(1));
    check(&text(&output.stdout));
}

/// `s3://bucket/key` of the digest at `path`, as validation reports name it.
fn digest_location(path: &Path) -> String {
    let digest: Value = serde_json::from_slice(&gunzip(&std::fs::read(path).unwrap())).unwrap();
    format!(
        "s3://{}/{}",
        digest["digestS3Bucket"].as_str().unwrap(),
        digest["digestS3Object"].as_str().unwrap()
    )
}

fn digest_object(path: &Path) -> String {
    let digest: Value = serde_json::from_slice(&gunzip(&std::fs::read(path).unwrap())).unwrap();
    digest["digestS3Object"].as_str().unwrap().to_string()
}

#[test]
fn signed_trail_validates_raw_and_from_the_archive_and_tampering_is_caught() {
    let dir = tempfile::tempdir().unwrap();
    let trail = dir.path().join("trail");
    generate(&trail, 30, 7);
    let digests = sign_trail(&trail);
    let keys = trail.join("keys.json");

    // Raw tree: everything valid, signatures from the tree's signatures.json.
    let output = trailpack(&[
        "validate",
        path_str(&trail),
        "--public-keys",
        path_str(&keys),
    ]);
    let stdout = text(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{stdout}{}",
        text(&output.stderr)
    );
    assert!(
        stdout.contains(&format!("{digests}/{digests} digest files valid")),
        "{stdout}"
    );
    let logs_line = stdout
        .lines()
        .find(|l| l.ends_with("log files valid"))
        .unwrap();
    let (valid, total) = logs_line
        .split_once(' ')
        .unwrap()
        .0
        .split_once('/')
        .unwrap();
    assert_eq!(valid, total);
    assert!(total.parse::<u32>().unwrap() >= 30, "{logs_line}");

    // Archive it, keys and digests included, then verify from the archive alone.
    let archive = dir.path().join("archive");
    let output = trailpack(&[
        "archive",
        path_str(&trail),
        "--to",
        path_str(&archive),
        "--public-keys",
        path_str(&keys),
        "--quiet",
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let output = trailpack(&["verify", path_str(&archive), "--deep", "--digests"]);
    let stdout = text(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains(&format!("{digests}/{digests} digest files valid")),
        "{stdout}"
    );
    assert!(stdout.contains("result: clean"));

    // A log file changed in the raw tree: exactly that file is invalid.
    let tampered_trail = dir.path().join("tampered");
    super::copy_tree(&trail, &tampered_trail);
    let victim = find_log(&tampered_trail);
    let mut content = gunzip(&std::fs::read(&victim).unwrap());
    let at = content.len() / 2;
    content[at] ^= 0x01;
    std::fs::write(&victim, gzip(&content)).unwrap();
    let output = trailpack(&[
        "validate",
        path_str(&tampered_trail),
        "--public-keys",
        path_str(&keys),
    ]);
    let stdout = text(&output.stdout);
    assert_eq!(output.status.code(), Some(1));
    let invalid: Vec<&str> = stdout.lines().filter(|l| l.contains("INVALID")).collect();
    let victim_name = victim.file_name().unwrap().to_string_lossy().into_owned();
    assert_eq!(invalid.len(), 1, "{invalid:?}");
    assert!(
        invalid[0].starts_with("Log file\t") && invalid[0].contains(&victim_name),
        "{}",
        invalid[0]
    );
    assert!(invalid[0].ends_with("INVALID: hash value doesn't match"));

    // Archive damage, one kind at a time, each on a fresh copy.
    let damaged = |name: &str| {
        let copy = dir.path().join(name);
        super::copy_tree(&archive, &copy);
        copy
    };
    let first_part = |root: &Path| -> (String, PathBuf) {
        let snapshot = super::snapshot(root);
        let part = snapshot
            .part_infos()
            .max_by_key(|p| p.rows)
            .unwrap()
            .path
            .clone();
        (part.clone(), root.join(part))
    };

    // One byte flipped in a part.
    let copy = damaged("flipped");
    let (name, path) = first_part(&copy);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[100] ^= 0xff;
    std::fs::write(&path, bytes).unwrap();
    let output = trailpack(&["verify", path_str(&copy)]);
    assert_eq!(output.status.code(), Some(1));
    let stdout = text(&output.stdout);
    assert!(
        stdout.contains(&format!("PROBLEM: part {name}: CRC-32 ")),
        "{stdout}"
    );

    // A part deleted.
    let copy = damaged("deleted");
    let (name, path) = first_part(&copy);
    std::fs::remove_file(&path).unwrap();
    let output = trailpack(&["verify", path_str(&copy), "--digests"]);
    assert_eq!(output.status.code(), Some(1));
    let stdout = text(&output.stdout);
    assert!(
        stdout.contains(&format!(
            "PROBLEM: part {name}: missing (named by the table)"
        )),
        "{stdout}"
    );
    assert!(
        stdout.contains("Log file\t") && stdout.contains("INVALID: not found"),
        "{stdout}"
    );

    // An index entry edited: a file's recorded SHA-256.
    let copy = damaged("edited");
    let key = edit_first_file_hash(&copy);
    let output = trailpack(&["verify", path_str(&copy), "--deep"]);
    assert_eq!(output.status.code(), Some(1));
    let stdout = text(&output.stdout);
    assert!(
        stdout.contains(&format!("PROBLEM: {key}: rebuilt SHA-256 ")),
        "{stdout}"
    );

    // A stored digest deleted: plain verify names it.
    let copy = damaged("digest-gone");
    let digest_dir = copy.join("_trailpack/digests");
    let newest = files_under(&digest_dir).into_iter().max().unwrap();
    std::fs::remove_file(&newest).unwrap();
    let output = trailpack(&["verify", path_str(&copy)]);
    assert_eq!(output.status.code(), Some(1));
    let stdout = text(&output.stdout);
    let key = newest
        .strip_prefix(&digest_dir)
        .unwrap()
        .to_string_lossy()
        .into_owned();
    assert!(
        stdout.contains(&format!("PROBLEM: digest {key}: stored bytes missing")),
        "{stdout}"
    );

    // Nothing to validate is not a pass.
    let output = trailpack(&[
        "validate",
        path_str(&trail.join("AWSLogs/o-abc123xyz0/111122223333/CloudTrail")),
        "--public-keys",
        path_str(&keys),
    ]);
    assert_eq!(output.status.code(), Some(1));
    assert!(text(&output.stderr).contains("no digest files"));

    // An index segment damaged: verify names it and checks the rest.
    let copy = damaged("segment");
    let segment = files_under(&copy.join("_trailpack/index"))
        .into_iter()
        .next()
        .unwrap();
    let bytes = std::fs::read(&segment).unwrap();
    std::fs::write(&segment, &bytes[..bytes.len() / 2]).unwrap();
    let output = trailpack(&["verify", path_str(&copy)]);
    assert_eq!(output.status.code(), Some(1));
    let stdout = text(&output.stdout);
    let relative = segment
        .strip_prefix(&copy)
        .unwrap()
        .to_string_lossy()
        .into_owned();
    assert!(
        stdout.contains(&format!("PROBLEM: index {relative}: ")),
        "{stdout}"
    );

    // Two records swapped between files, with the part's checksum made to match.
    let copy = damaged("swapped");
    let (a, b) = swap_two_records(&copy);
    let output = trailpack(&["verify", path_str(&copy)]);
    assert_eq!(
        output.status.code(),
        Some(0),
        "the checksums were forged: {}",
        text(&output.stdout)
    );
    let output = trailpack(&["verify", path_str(&copy), "--deep", "--digests"]);
    assert_eq!(output.status.code(), Some(1));
    let stdout = text(&output.stdout);
    for key in [&a, &b] {
        assert!(
            stdout.contains(&format!("PROBLEM: {key}: rebuilt SHA-256 ")),
            "{key}: {stdout}"
        );
        let name = key.rsplit('/').next().unwrap();
        assert!(
            stdout.lines().any(|l| l.starts_with("Log file")
                && l.contains(name)
                && l.ends_with("INVALID: hash value doesn't match")),
            "{key}: {stdout}"
        );
    }
}

fn find_log(root: &Path) -> PathBuf {
    let mut found: Vec<PathBuf> = files_under(root)
        .into_iter()
        .filter(|p| {
            let p = p.to_string_lossy();
            p.contains("/CloudTrail/") && p.ends_with(".json.gz")
        })
        .collect();
    found.swap_remove(found.len() / 2)
}

/// Change the SHA-256 of the first archived file in the index; return its key.
fn edit_first_file_hash(root: &Path) -> String {
    use trailpack_table::index::{decode_segment, encode_segment};
    for path in files_under(&root.join("_trailpack/index")) {
        let bytes = bytes::Bytes::from(std::fs::read(&path).unwrap());
        let mut entries = decode_segment(bytes, "segment").unwrap();
        if let Some(entry) = entries
            .iter_mut()
            .find(|e| e.status == trailpack_table::EntryStatus::Archived)
        {
            entry.sha256 = Some([0; 32]);
            let key = entry.key.clone();
            std::fs::write(&path, encode_segment(&mut entries).unwrap()).unwrap();
            return key;
        }
    }
    panic!("no archived file");
}

/// Rewrite a part with the `_source_key`/`_record_index` of two rows from different
/// files swapped, then forge its size and CRC-32 in the Delta commit that adds it.
/// Returns the two files' keys.
fn swap_two_records(root: &Path) -> (String, String) {
    use arrow_array::cast::AsArray;
    use arrow_array::{Array, ArrayRef, Int32Array, RecordBatch, StringArray};
    use parquet::arrow::ArrowWriter;
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    use std::sync::Arc;

    let part_path = super::snapshot(root)
        .part_infos()
        .find(|p| p.rows > 10 && p.files > 1)
        .expect("a part with several files")
        .path
        .clone();
    let commit_path = files_under(&root.join("_delta_log"))
        .into_iter()
        .find(|p| std::fs::read_to_string(p).is_ok_and(|t| t.contains(&part_path)))
        .unwrap();
    let file = std::fs::File::open(root.join(&part_path)).unwrap();
    let reader = ParquetRecordBatchReaderBuilder::try_new(file).unwrap();
    let metadata = reader
        .metadata()
        .file_metadata()
        .key_value_metadata()
        .cloned();
    let batches: Vec<RecordBatch> = reader.build().unwrap().map(|b| b.unwrap()).collect();
    let batch = arrow_select_concat(&batches);
    let keys = batch
        .column_by_name("_source_key")
        .unwrap()
        .as_string::<i32>()
        .clone();
    let indexes = batch
        .column_by_name("_record_index")
        .unwrap()
        .as_primitive::<arrow_array::types::Int32Type>()
        .clone();
    let first = 0;
    let other = (1..keys.len())
        .find(|&i| keys.value(i) != keys.value(first))
        .unwrap();
    let mut new_keys: Vec<String> = (0..keys.len()).map(|i| keys.value(i).to_string()).collect();
    let mut new_indexes: Vec<i32> = (0..indexes.len()).map(|i| indexes.value(i)).collect();
    new_keys.swap(first, other);
    new_indexes.swap(first, other);
    let mut columns: Vec<ArrayRef> = batch.columns().to_vec();
    let schema = batch.schema();
    columns[schema.index_of("_source_key").unwrap()] = Arc::new(StringArray::from(new_keys));
    columns[schema.index_of("_record_index").unwrap()] = Arc::new(Int32Array::from(new_indexes));
    let swapped = RecordBatch::try_new(schema.clone(), columns).unwrap();
    let mut out = Vec::new();
    let properties = parquet::file::properties::WriterProperties::builder()
        .set_key_value_metadata(metadata)
        .build();
    let mut writer = ArrowWriter::try_new(&mut out, schema, Some(properties)).unwrap();
    writer.write(&swapped).unwrap();
    writer.close().unwrap();
    std::fs::write(root.join(&part_path), &out).unwrap();

    let forged: Vec<String> = std::fs::read_to_string(&commit_path)
        .unwrap()
        .lines()
        .map(|line| {
            let mut action: Value = serde_json::from_str(line).unwrap();
            if action["add"]["path"] == part_path.as_str() {
                let add = &mut action["add"];
                add["size"] = (out.len() as u64).into();
                add["tags"]["trailpack.crc32"] = crc32fast::hash(&out).to_string().into();
                add["tags"]["trailpack.rowGroups"] = "1".into();
            }
            action.to_string()
        })
        .collect();
    std::fs::write(&commit_path, forged.join("\n") + "\n").unwrap();
    (keys.value(first).to_string(), keys.value(other).to_string())
}

fn arrow_select_concat(batches: &[arrow_array::RecordBatch]) -> arrow_array::RecordBatch {
    arrow_select::concat::concat_batches(&batches[0].schema(), batches).unwrap()
}
