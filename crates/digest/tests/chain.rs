//! A signed, realistic digest chain (org-trail paths, a gap, an empty digest, a
//! backfill chain), validated whole and then under each kind of tampering.

use std::collections::HashMap;

use rsa::PrivateKey;
use rsa::pkcs1v15::SigningKey;
use rsa::pkcs8::DecodePrivateKey;
use rsa::signature::{SignatureEncoding, Signer};
use serde_json::json;
use sha2::Sha256;
use trailpack_digest::{
    DigestInput, FileKind, PublicKeyEntry, PublicKeys, Verdict, hex, sha256_hex, validate,
};

const BUCKET: &str = "org-trail-bucket";
const DIR: &str = "AWSLogs/o-abc123xyz0/111122223333";
const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data");

fn signer(name: &str) -> (SigningKey<Sha256>, PublicKeyEntry) {
    let private = std::fs::read(format!("{DATA}/{name}.pk8.der")).unwrap();
    let private = PrivateKey::from_pkcs8_der(&private).unwrap();
    let public = std::fs::read(format!("{DATA}/{name}.pkcs1.der")).unwrap();
    (
        SigningKey::new(private),
        PublicKeyEntry::from_der(&public).unwrap(),
    )
}

/// A trail: log files by key and signed digests, built hour by hour.
struct Trail {
    key: SigningKey<Sha256>,
    fingerprint: String,
    logs: HashMap<String, Vec<u8>>,
    digests: Vec<DigestInput>,
}

impl Trail {
    fn new() -> Self {
        let (key, public) = signer("signer");
        Trail {
            key,
            fingerprint: public.fingerprint,
            logs: HashMap::new(),
            digests: Vec::new(),
        }
    }

    fn log(&mut self, hour: u32, n: u32) -> String {
        let key = format!(
            "{DIR}/CloudTrail/us-east-1/2021/01/01/111122223333_CloudTrail_us-east-1_20210101T{hour:02}{n:02}Z_abcdefghijklmn{n:02}.json.gz"
        );
        let content =
            format!(r#"{{"Records":[{{"eventVersion":"1.08","eventName":"E{hour}{n}"}}]}}"#);
        self.logs.insert(key.clone(), content.into_bytes());
        key
    }

    fn digest_key(hour: u32, backfill: bool) -> String {
        format!(
            "{DIR}/CloudTrail-Digest/us-east-1/2021/01/01/111122223333_CloudTrail-Digest_us-east-1_org-trail_us-east-1_20210101T{:02}0000Z{}.json.gz",
            hour + 1,
            if backfill { "_backfill" } else { "" }
        )
    }

    /// Add the digest for `hour`, linked to `previous` (an index into `digests`),
    /// and return its index.
    fn digest(
        &mut self,
        hour: u32,
        logs: &[String],
        previous: Option<usize>,
        backfill: bool,
    ) -> usize {
        let key = Self::digest_key(hour, backfill);
        let previous = previous.map(|i| &self.digests[i]);
        let log_files: Vec<_> = logs
            .iter()
            .map(|k| {
                json!({"s3Bucket": BUCKET, "s3Object": k, "hashValue": sha256_hex(&self.logs[k]),
                       "hashAlgorithm": "SHA-256", "newestEventTime": "2021-01-01T00:00:00Z",
                       "oldestEventTime": "2021-01-01T00:00:00Z"})
            })
            .collect();
        let body = json!({
            "awsAccountId": "111122223333",
            "digestStartTime": format!("2021-01-01T{hour:02}:00:00Z"),
            "digestEndTime": format!("2021-01-01T{:02}:00:00Z", hour + 1),
            "digestS3Bucket": BUCKET,
            "digestS3Object": key,
            "digestPublicKeyFingerprint": self.fingerprint,
            "digestSignatureAlgorithm": "SHA256withRSA",
            "newestEventTime": null,
            "oldestEventTime": null,
            "previousDigestS3Bucket": previous.map(|_| BUCKET),
            "previousDigestS3Object": previous.map(|p| p.key.clone()),
            "previousDigestHashValue": previous.map(|p| sha256_hex(&p.bytes)),
            "previousDigestHashAlgorithm": previous.map(|_| "SHA-256"),
            "previousDigestSignature": previous.map(|p| p.signature.clone().unwrap()),
            "logFiles": log_files,
        });
        let bytes = serde_json::to_vec(&body).unwrap();
        let signature = self.sign(&bytes);
        self.digests.push(DigestInput {
            key,
            bytes,
            signature: Some(signature),
        });
        self.digests.len() - 1
    }

    fn sign(&self, bytes: &[u8]) -> String {
        let digest = trailpack_digest::DigestFile::parse(bytes).unwrap();
        let message = digest.signing_string(&sha256_hex(bytes));
        hex(&self.key.sign(message.as_bytes()).to_vec())
    }

    /// Keep captured signatures only where S3 metadata would be read: every digest
    /// that no newer digest points to (the newest of each segment).
    fn sidecar_only_for_heads(&mut self, heads: &[usize]) {
        for (index, digest) in self.digests.iter_mut().enumerate() {
            if !heads.contains(&index) {
                digest.signature = None;
            }
        }
    }
}

/// The scenario: hours 0-2 chained (hour 2 empty), a gap, hours 4-5 chained,
/// and one backfill digest.
fn scenario() -> (Trail, PublicKeys) {
    let mut trail = Trail::new();
    let a = trail.log(0, 1);
    let b = trail.log(0, 2);
    let c = trail.log(1, 1);
    let d = trail.log(4, 1);
    let e = trail.log(5, 1);
    let f = trail.log(3, 9);
    let h0 = trail.digest(0, &[a, b], None, false);
    let h1 = trail.digest(1, &[c], Some(h0), false);
    let h2 = trail.digest(2, &[], Some(h1), false);
    let h4 = trail.digest(4, &[d], None, false);
    let h5 = trail.digest(5, &[e], Some(h4), false);
    let backfill = trail.digest(3, &[f], None, true);
    trail.sidecar_only_for_heads(&[h2, h5, backfill]);
    let mut keys = PublicKeys::default();
    keys.add(signer("signer").1);
    (trail, keys)
}

fn run(trail: &Trail, keys: &PublicKeys) -> trailpack_digest::ValidationReport {
    validate(
        trail.digests.clone(),
        keys,
        |key| trail.logs.get(key).map(|b| sha256_hex(b)),
        |_| true,
    )
}

/// The non-valid results as (file name, verdict).
fn invalid(report: &trailpack_digest::ValidationReport) -> Vec<(String, Verdict)> {
    report
        .results
        .iter()
        .filter(|r| !r.verdict.is_valid())
        .map(|r| {
            (
                r.key.rsplit('/').next().unwrap().to_string(),
                r.verdict.clone(),
            )
        })
        .collect()
}

fn name(key: &str) -> String {
    key.rsplit('/').next().unwrap().to_string()
}

#[test]
fn an_untouched_chain_is_valid_with_its_gap() {
    let (trail, keys) = scenario();
    let report = run(&trail, &keys);
    assert_eq!(invalid(&report), vec![]);
    assert_eq!(report.count(FileKind::Digest), (6, 6));
    assert_eq!(report.count(FileKind::Log), (6, 6));
    assert_eq!(report.chains.len(), 2);
    let standard = report
        .chains
        .iter()
        .find(|c| !c.id.ends_with("backfill"))
        .unwrap();
    assert_eq!((standard.digests, standard.gaps), (5, 1));
    let line = report.results[0].to_string();
    assert!(
        line.starts_with("Digest file\ts3://org-trail-bucket/AWSLogs/o-abc123xyz0/"),
        "{line}"
    );
    assert!(line.ends_with("\tvalid"));
}

#[test]
fn each_tampering_gets_exactly_its_verdict() {
    let digest_name = |hour, backfill| name(&Trail::digest_key(hour, backfill));
    let log_key = |trail: &Trail, needle: &str| {
        trail
            .logs
            .keys()
            .find(|k| k.contains(needle))
            .unwrap()
            .clone()
    };

    // A log file's byte changed.
    let (mut trail, keys) = scenario();
    let key = log_key(&trail, "T0001Z");
    trail.logs.get_mut(&key).unwrap()[20] ^= 1;
    assert_eq!(
        invalid(&run(&trail, &keys)),
        vec![(name(&key), Verdict::HashMismatch)]
    );

    // A log file missing.
    let (mut trail, keys) = scenario();
    let key = log_key(&trail, "T0401Z");
    trail.logs.remove(&key);
    assert_eq!(
        invalid(&run(&trail, &keys)),
        vec![(name(&key), Verdict::NotFound)]
    );

    // A digest edited: its signature fails; the older digest it vouched for has no
    // trusted signature left.
    let (mut trail, keys) = scenario();
    trail.digests[1].bytes.insert(1, b' ');
    assert_eq!(
        invalid(&run(&trail, &keys)),
        vec![
            (digest_name(1, false), Verdict::SignatureFailed),
            (digest_name(0, false), Verdict::NoSignature),
        ]
    );

    // A wrong signature captured for the newest digest.
    let (mut trail, keys) = scenario();
    let (other, _) = signer("other");
    let message = trailpack_digest::DigestFile::parse(&trail.digests[4].bytes)
        .unwrap()
        .signing_string(&sha256_hex(&trail.digests[4].bytes));
    trail.digests[4].signature = Some(hex(&other.sign(message.as_bytes()).to_vec()));
    assert_eq!(
        invalid(&run(&trail, &keys)),
        vec![
            (digest_name(5, false), Verdict::SignatureFailed),
            (digest_name(4, false), Verdict::NoSignature),
        ]
    );

    // The wrong public key: every digest names a fingerprint nobody loaded.
    let (trail, _) = scenario();
    let mut wrong = PublicKeys::default();
    wrong.add(signer("other").1);
    let report = run(&trail, &wrong);
    assert_eq!(report.count(FileKind::Digest), (0, 6));
    assert!(
        report
            .results
            .iter()
            .all(|r| matches!(r.verdict, Verdict::PublicKeyNotFound(_)))
    );

    // A digest moved to another key.
    let (mut trail, keys) = scenario();
    trail.digests[5].key = trail.digests[5]
        .key
        .replace("us-east-1/2021", "us-east-1/2020");
    assert_eq!(
        invalid(&run(&trail, &keys)),
        vec![(name(&trail.digests[5].key), Verdict::Moved)]
    );

    // A broken previousDigestHashValue, in a digest that is itself correctly signed.
    let (mut trail, keys) = scenario();
    let mut body: serde_json::Value = serde_json::from_slice(&trail.digests[2].bytes).unwrap();
    body["previousDigestHashValue"] = json!("00".repeat(32));
    trail.digests[2].bytes = serde_json::to_vec(&body).unwrap();
    trail.digests[2].signature = Some(trail.sign(&trail.digests[2].bytes));
    // The field that disagrees is in the newer digest: it is flagged, naming the
    // older one, whose own signature verified.
    let previous = format!("s3://{BUCKET}/{}", trail.digests[1].key);
    assert_eq!(
        invalid(&run(&trail, &keys)),
        vec![(
            digest_name(2, false),
            Verdict::PreviousHashMismatch(previous.clone())
        )]
    );
    assert!(
        Verdict::PreviousHashMismatch(previous.clone())
            .to_string()
            .ends_with(&format!(
                "previousDigestHashValue does not match the hash of the previous digest {previous}"
            ))
    );

    // A correctly signed digest whose previousDigestSignature is not the signature
    // captured for the previous digest: the newer digest is flagged.
    let (mut trail, keys) = scenario();
    trail.digests[1].signature = Some(trail.sign(&trail.digests[1].bytes));
    let mut body: serde_json::Value = serde_json::from_slice(&trail.digests[2].bytes).unwrap();
    body["previousDigestSignature"] = json!("ab".repeat(256));
    trail.digests[2].bytes = serde_json::to_vec(&body).unwrap();
    trail.digests[2].signature = Some(trail.sign(&trail.digests[2].bytes));
    assert_eq!(
        invalid(&run(&trail, &keys)),
        vec![(
            digest_name(2, false),
            Verdict::PreviousSignatureMismatch(format!("s3://{BUCKET}/{}", trail.digests[1].key))
        )]
    );

    // A captured signature that does not verify, while the chain's copy would: the
    // captured one is the digest's own, so the digest fails, and the chain behind it
    // has no signature to go on.
    let (mut trail, keys) = scenario();
    let (other, _) = signer("other");
    trail.digests[1].signature = Some(hex(&other.sign(b"x").to_vec()));
    assert_eq!(
        invalid(&run(&trail, &keys)),
        vec![
            (digest_name(1, false), Verdict::SignatureFailed),
            (digest_name(0, false), Verdict::NoSignature),
        ]
    );

    // A digest missing from the middle of the chain.
    let (mut trail, keys) = scenario();
    trail.digests.remove(1);
    assert_eq!(
        invalid(&run(&trail, &keys)),
        vec![
            (digest_name(1, false), Verdict::NotFound),
            (digest_name(0, false), Verdict::NoSignature),
        ]
    );
}

#[test]
fn public_keys_load_as_pkcs1_spki_and_pem() {
    let (_, pkcs1) = signer("signer");
    for file in ["signer.spki.der", "signer.pub.pem"] {
        let mut keys = PublicKeys::default();
        keys.load(&std::fs::read(format!("{DATA}/{file}")).unwrap())
            .unwrap();
        let key = keys.iter().next().unwrap();
        // The fingerprint is of the bytes as distributed, so SPKI differs from PKCS#1;
        // both verify the same signatures.
        assert_ne!(key.fingerprint, pkcs1.fingerprint, "{file}");
        let (signing, _) = signer("signer");
        let signature = hex(&signing.sign(b"message").to_vec());
        assert!(key.verifies(b"message", &signature), "{file}");
        assert!(!key.verifies(b"other message", &signature), "{file}");
    }
}
