//! CloudTrail digest files: parsing, the signing string, signature checks against
//! CloudTrail's public keys, and validation of digest chains and the log files they
//! vouch for, offline.
//!
//! This crate owns what `aws cloudtrail validate-logs` does, without S3: a
//! [`DigestFile`] is parsed from a digest's uncompressed bytes; its
//! [`DigestFile::signing_string`] is what CloudTrail signed (RSASSA-PKCS1-v1_5,
//! SHA-256); [`PublicKeys`] loads `list-public-keys` output, PEM or DER; and
//! [`validate`] walks every chain (standard and backfill, per account, region and
//! trail) from its newest digest back through `previousDigestS3Object`, checking
//! each digest and every log file it lists. It is stricter than validate-logs: it
//! also checks each `previousDigestHashValue` against the previous digest's bytes
//! and each `previousDigestSignature` against the previous digest's signature.
//!
//! ```
//! use trailpack_digest::{DigestFile, sha256_hex};
//!
//! let digest: DigestFile = serde_json::from_str(r#"{
//!   "awsAccountId":"111122223333","digestStartTime":"2021-01-01T00:00:00Z",
//!   "digestEndTime":"a","digestS3Bucket":"b","digestS3Object":"c",
//!   "digestPublicKeyFingerprint":"f","digestSignatureAlgorithm":"SHA256withRSA",
//!   "previousDigestSignature":null,"logFiles":[]}"#).unwrap();
//! assert_eq!(
//!     digest.signing_string(&sha256_hex(b"abc")),
//!     "a\nb/c\nba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad\nnull"
//! );
//! ```

mod chain;
mod keys;

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

pub use chain::{
    ChainReport, DigestInput, FileKind, FileResult, ValidationReport, Verdict, validate,
};
pub use keys::{PublicKeyEntry, PublicKeys, fingerprint};

/// Errors loading keys or digests.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DigestError {
    /// A public key that cannot be used.
    #[error("public key: {0}")]
    Key(String),
    /// A signatures sidecar that cannot be used.
    #[error("signatures: {0}")]
    Signatures(String),
}

/// A log file listed in a digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogFileRef {
    /// Bucket of the log file.
    pub s3_bucket: String,
    /// Key of the log file.
    pub s3_object: String,
    /// Hex SHA-256 of the log file's uncompressed bytes.
    pub hash_value: String,
    /// Always `SHA-256`.
    pub hash_algorithm: String,
    /// Newest event in the file.
    #[serde(default)]
    pub newest_event_time: Option<String>,
    /// Oldest event in the file.
    #[serde(default)]
    pub oldest_event_time: Option<String>,
}

/// A digest file's content. Fields are CloudTrail's, in `camelCase` in the file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DigestFile {
    /// The account the trail belongs to.
    pub aws_account_id: String,
    /// Start of the hour covered.
    pub digest_start_time: String,
    /// End of the hour covered; the first line of the signing string.
    pub digest_end_time: String,
    /// Bucket the digest was delivered to.
    pub digest_s3_bucket: String,
    /// Key the digest was delivered to.
    pub digest_s3_object: String,
    /// MD5 fingerprint of the public key that verifies the signature.
    pub digest_public_key_fingerprint: String,
    /// Always `SHA256withRSA`.
    pub digest_signature_algorithm: String,
    /// Newest event covered.
    #[serde(default)]
    pub newest_event_time: Option<String>,
    /// Oldest event covered.
    #[serde(default)]
    pub oldest_event_time: Option<String>,
    /// Bucket of the previous digest; null at a chain start.
    #[serde(default)]
    pub previous_digest_s3_bucket: Option<String>,
    /// Key of the previous digest; null at a chain start.
    #[serde(default)]
    pub previous_digest_s3_object: Option<String>,
    /// Hex SHA-256 of the previous digest's uncompressed bytes.
    #[serde(default)]
    pub previous_digest_hash_value: Option<String>,
    /// Always `SHA-256` when present.
    #[serde(default)]
    pub previous_digest_hash_algorithm: Option<String>,
    /// The previous digest's signature (hex).
    #[serde(default)]
    pub previous_digest_signature: Option<String>,
    /// The log files delivered in the hour.
    pub log_files: Vec<LogFileRef>,
}

impl DigestFile {
    /// Parse a digest's uncompressed bytes.
    pub fn parse(bytes: &[u8]) -> Result<DigestFile, String> {
        serde_json::from_slice(bytes).map_err(|e| e.to_string())
    }

    /// The string CloudTrail signed, given the hex SHA-256 of this digest's
    /// uncompressed bytes.
    pub fn signing_string(&self, digest_sha256_hex: &str) -> String {
        format!(
            "{}\n{}/{}\n{}\n{}",
            self.digest_end_time,
            self.digest_s3_bucket,
            self.digest_s3_object,
            digest_sha256_hex,
            self.previous_digest_signature.as_deref().unwrap_or("null")
        )
    }
}

/// Read a signatures sidecar: a JSON object from digest key to its signature, either
/// the hex string or `{"signature": hex, "signature-algorithm": "SHA256withRSA"}` (the
/// S3 metadata as `aws s3api head-object` shows it). Keys are taken from `AWSLogs/` on.
pub fn load_signatures(
    bytes: &[u8],
) -> Result<std::collections::BTreeMap<String, String>, DigestError> {
    let bad = |why: String| DigestError::Signatures(why);
    let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| bad(e.to_string()))?;
    let object = value
        .as_object()
        .ok_or_else(|| bad("not a JSON object".into()))?;
    let mut signatures = std::collections::BTreeMap::new();
    for (key, entry) in object {
        let signature = match entry {
            serde_json::Value::String(hex) => hex.as_str(),
            serde_json::Value::Object(metadata) => metadata
                .get("signature")
                .and_then(serde_json::Value::as_str)
                .ok_or_else(|| bad(format!("{key}: no \"signature\"")))?,
            _ => return Err(bad(format!("{key}: not a string or object"))),
        };
        if signature.is_empty() || !signature.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad(format!("{key}: signature is not hex")));
        }
        signatures.insert(
            key_from_awslogs(key).to_string(),
            signature.to_ascii_lowercase(),
        );
    }
    Ok(signatures)
}

/// Lowercase hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// Lowercase hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// The part of an S3 key from `AWSLogs/` on, which is how trailpack keys files
/// whatever prefix the trail delivers under.
pub fn key_from_awslogs(s3_object: &str) -> &str {
    // The last `AWSLogs` component, as local listing keys files.
    if let Some(at) = s3_object.rfind("/AWSLogs/") {
        return &s3_object[at + 1..];
    }
    if s3_object.starts_with("AWSLogs/") {
        return s3_object;
    }
    s3_object
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_taken_from_awslogs_on() {
        assert_eq!(
            key_from_awslogs("prefix/AWSLogs/1/x.json.gz"),
            "AWSLogs/1/x.json.gz"
        );
        assert_eq!(
            key_from_awslogs("AWSLogs/1/x.json.gz"),
            "AWSLogs/1/x.json.gz"
        );
        assert_eq!(key_from_awslogs("myAWSLogs/1/x"), "myAWSLogs/1/x");
        assert_eq!(key_from_awslogs("AWSLogs/old/AWSLogs/1/x"), "AWSLogs/1/x");
    }

    #[test]
    fn signatures_sidecars_take_both_forms() {
        let sidecar = br#"{"prefix/AWSLogs/1/a.json.gz": "ABCD",
            "AWSLogs/1/b.json.gz": {"signature": "ef01", "signature-algorithm": "SHA256withRSA"}}"#;
        let signatures = load_signatures(sidecar).unwrap();
        assert_eq!(signatures["AWSLogs/1/a.json.gz"], "abcd");
        assert_eq!(signatures["AWSLogs/1/b.json.gz"], "ef01");
        let err = load_signatures(br#"{"k": {"sig": "00"}}"#).unwrap_err();
        assert_eq!(err.to_string(), "signatures: k: no \"signature\"");
        let err = load_signatures(br#"{"k": "xyz"}"#).unwrap_err();
        assert_eq!(err.to_string(), "signatures: k: signature is not hex");
    }

    #[test]
    fn a_digest_missing_required_fields_does_not_parse() {
        let err = DigestFile::parse(br#"{"awsAccountId":"1"}"#).unwrap_err();
        assert!(err.contains("missing field"), "{err}");
    }
}
