//! Walking digest chains, as `aws cloudtrail validate-logs` does, plus stricter
//! checks of the links between digests.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use serde::Serialize;

use crate::{DigestFile, PublicKeys, key_from_awslogs, sha256_hex};

/// A digest to validate: its key, uncompressed bytes and, when known, the signature
/// from its S3 metadata (or a local sidecar).
#[derive(Debug, Clone)]
pub struct DigestInput {
    /// The digest's key (from `AWSLogs/` on, or with a prefix).
    pub key: String,
    /// Its uncompressed bytes.
    pub bytes: Vec<u8>,
    /// The hex signature from the object's metadata, if captured.
    pub signature: Option<String>,
}

/// What was found about one file. The texts follow validate-logs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Verdict {
    /// Everything checks.
    Valid,
    /// A file a digest names is not there.
    NotFound,
    /// The digest does not parse.
    InvalidFormat(String),
    /// The signature does not verify with the named key.
    SignatureFailed,
    /// The digest names a different location than where it is.
    Moved,
    /// No loaded key has the digest's fingerprint.
    PublicKeyNotFound(String),
    /// No signature is known for the digest (none captured, none in a newer link).
    NoSignature,
    /// The file's SHA-256 is not the one the digest lists.
    HashMismatch,
    /// Stricter than validate-logs: this digest's `previousDigestHashValue` is not
    /// the SHA-256 of the previous digest, whose own signature verified. The
    /// location of that previous digest.
    PreviousHashMismatch(String),
    /// Stricter than validate-logs: this digest's `previousDigestSignature` is not
    /// the signature captured for the previous digest, which verified. The
    /// location of that previous digest.
    PreviousSignatureMismatch(String),
}

impl Verdict {
    /// Whether this is [`Verdict::Valid`].
    pub fn is_valid(&self) -> bool {
        *self == Verdict::Valid
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Verdict::Valid => write!(f, "valid"),
            Verdict::NotFound => write!(f, "INVALID: not found"),
            Verdict::InvalidFormat(why) => write!(f, "INVALID: invalid format ({why})"),
            Verdict::SignatureFailed => write!(f, "INVALID: signature verification failed"),
            Verdict::Moved => write!(f, "INVALID: has been moved from its original location"),
            Verdict::PublicKeyNotFound(fp) => {
                write!(f, "INVALID: public key not found for fingerprint {fp}")
            }
            Verdict::NoSignature => write!(f, "INVALID: no signature known for this digest"),
            Verdict::HashMismatch => write!(f, "INVALID: hash value doesn't match"),
            Verdict::PreviousHashMismatch(previous) => write!(
                f,
                "INVALID: previousDigestHashValue does not match the hash of the previous digest {previous}"
            ),
            Verdict::PreviousSignatureMismatch(previous) => write!(
                f,
                "INVALID: previousDigestSignature does not match the signature of the previous digest {previous}"
            ),
        }
    }
}

/// Digest or log file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum FileKind {
    /// A digest file.
    Digest,
    /// A log file.
    Log,
}

/// The verdict on one file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileResult {
    /// Digest or log.
    pub kind: FileKind,
    /// `s3://bucket/key` where the bucket is known, else the key.
    pub location: String,
    /// The key from `AWSLogs/` on.
    pub key: String,
    /// The verdict.
    pub verdict: Verdict,
}

impl fmt::Display for FileResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.kind {
            FileKind::Digest => "Digest file",
            FileKind::Log => "Log file",
        };
        write!(f, "{kind}\t{}\t{}", self.location, self.verdict)
    }
}

/// One chain: a trail's digests for one account and region (standard or backfill).
#[derive(Debug, Clone, Default, Serialize)]
pub struct ChainReport {
    /// `account/region/trail/home-region` plus `/backfill` for backfill chains.
    pub id: String,
    /// Digests validated in the chain.
    pub digests: usize,
    /// Chain starts (null `previousDigestS3Object`) that are not the oldest digest:
    /// gaps where CloudTrail restarted the chain (logging stopped, for example).
    pub gaps: usize,
    /// Oldest digest end time seen (from the file name).
    pub first: Option<String>,
    /// Newest digest end time seen.
    pub last: Option<String>,
}

/// Everything [`validate`] found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ValidationReport {
    /// One result per digest and per log file, newest digest first.
    pub results: Vec<FileResult>,
    /// Per chain.
    pub chains: Vec<ChainReport>,
}

impl ValidationReport {
    /// (valid, total) of the given kind.
    pub fn count(&self, kind: FileKind) -> (usize, usize) {
        let of_kind = self.results.iter().filter(|r| r.kind == kind);
        let valid = of_kind.clone().filter(|r| r.verdict.is_valid()).count();
        (valid, of_kind.count())
    }

    /// Whether every result is valid.
    pub fn all_valid(&self) -> bool {
        self.results.iter().all(|r| r.verdict.is_valid())
    }
}

/// What a digest file name says: `<account>_CloudTrail-Digest_<region>_<trail>_
/// <home region>_<YYYYMMDDTHHmmssZ>[_backfill].json.gz`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct DigestName {
    chain: String,
    end: String,
}

fn parse_digest_name(key: &str) -> Option<DigestName> {
    let name = key.rsplit('/').next()?;
    let stem = name
        .strip_suffix(".json.gz")
        .or_else(|| name.strip_suffix(".json"))?;
    let (stem, backfill) = match stem.strip_suffix("_backfill") {
        Some(stem) => (stem, true),
        None => (stem, false),
    };
    let (account, rest) = stem.split_once("_CloudTrail-Digest_")?;
    let (region, rest) = rest.split_once('_')?;
    let (trail_and_home, end) = rest.rsplit_once('_')?;
    let (trail, home) = trail_and_home.rsplit_once('_')?;
    let mut chain = format!("{account}/{region}/{trail}/{home}");
    if backfill {
        chain.push_str("/backfill");
    }
    Some(DigestName {
        chain,
        end: end.to_string(),
    })
}

/// What a newer digest says about the one before it.
struct Link {
    hash: Option<String>,
    signature: Option<String>,
    /// Where the newer digest's result is in the report, when it is reported:
    /// a link that disagrees with the older digest is the newer digest's fault.
    newer_result: Option<usize>,
}

/// A field of the newer digest's link that disagrees with the older digest, whose
/// own signature verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LinkFault {
    Hash,
    Signature,
}

/// Validate digests and the log files they list.
///
/// `log_sha256` returns the hex SHA-256 of a log file's uncompressed bytes by key
/// (from `AWSLogs/` on), or `None` when the file is not available. `in_range`
/// selects which digests are reported, by their end time from the file name
/// (`YYYYMMDDTHHmmssZ`); digests outside it still link the chain.
pub fn validate(
    digests: Vec<DigestInput>,
    keys: &PublicKeys,
    mut log_sha256: impl FnMut(&str) -> Option<String>,
    in_range: impl Fn(&str) -> bool,
) -> ValidationReport {
    let mut chains: BTreeMap<String, Vec<(DigestName, DigestInput)>> = BTreeMap::new();
    let mut report = ValidationReport::default();
    for input in digests {
        match parse_digest_name(&input.key) {
            Some(name) => chains
                .entry(name.chain.clone())
                .or_default()
                .push((name, input)),
            None => report.results.push(FileResult {
                kind: FileKind::Digest,
                location: input.key.clone(),
                key: input.key.clone(),
                verdict: Verdict::InvalidFormat("not a digest file name".into()),
            }),
        }
    }
    for (id, mut members) in chains {
        members.sort_by(|a, b| b.0.end.cmp(&a.0.end));
        let present: HashMap<String, usize> = members
            .iter()
            .enumerate()
            .map(|(i, (_, input))| (key_from_awslogs(&input.key).to_string(), i))
            .collect();
        let mut chain = ChainReport {
            id,
            first: members.last().map(|m| m.0.end.clone()),
            last: members.first().map(|m| m.0.end.clone()),
            ..ChainReport::default()
        };
        let mut links: HashMap<String, Link> = HashMap::new();
        for (position, (name, input)) in members.iter().enumerate() {
            let key = key_from_awslogs(&input.key).to_string();
            let link = links.remove(&key);
            let reported = in_range(&name.end);
            let (verdict, fault, parsed) = check_digest(input, &key, link.as_ref(), keys);
            // Where CloudTrail delivered it, prefix included, when the digest says.
            let shown = match &parsed {
                Some(d) => location(Some(&d.digest_s3_bucket), &d.digest_s3_object),
                None => location(None, &input.key),
            };
            if let (Some(fault), Some(at)) = (fault, link.and_then(|l| l.newer_result)) {
                report.results[at].verdict = match fault {
                    LinkFault::Hash => Verdict::PreviousHashMismatch(shown.clone()),
                    LinkFault::Signature => Verdict::PreviousSignatureMismatch(shown.clone()),
                };
            }
            let this_result = reported.then_some(report.results.len());
            if reported {
                chain.digests += 1;
                report.results.push(FileResult {
                    kind: FileKind::Digest,
                    location: shown,
                    key: key.clone(),
                    verdict: verdict.clone(),
                });
            }
            let Some(digest) = parsed.filter(|_| verdict.is_valid()) else {
                continue;
            };
            if reported {
                for log in &digest.log_files {
                    let log_key = key_from_awslogs(&log.s3_object);
                    let verdict = match log_sha256(log_key) {
                        None => Verdict::NotFound,
                        Some(hash) if hash.eq_ignore_ascii_case(&log.hash_value) => Verdict::Valid,
                        Some(_) => Verdict::HashMismatch,
                    };
                    report.results.push(FileResult {
                        kind: FileKind::Log,
                        location: location(Some(&log.s3_bucket), &log.s3_object),
                        key: log_key.to_string(),
                        verdict,
                    });
                }
            }
            match &digest.previous_digest_s3_object {
                Some(previous) => {
                    let previous_key = key_from_awslogs(previous).to_string();
                    let older_present = present.get(&previous_key).is_some_and(|&at| at > position);
                    if older_present {
                        links.insert(
                            previous_key,
                            Link {
                                hash: digest.previous_digest_hash_value.clone(),
                                signature: digest.previous_digest_signature.clone(),
                                newer_result: this_result,
                            },
                        );
                    } else if reported {
                        report.results.push(FileResult {
                            kind: FileKind::Digest,
                            location: location(
                                digest.previous_digest_s3_bucket.as_deref(),
                                previous,
                            ),
                            key: previous_key,
                            verdict: Verdict::NotFound,
                        });
                    }
                }
                None if position + 1 < members.len() => chain.gaps += 1,
                None => {}
            }
        }
        report.chains.push(chain);
    }
    report
}

fn location(bucket: Option<&str>, key: &str) -> String {
    match bucket {
        Some(bucket) => format!("s3://{bucket}/{key}"),
        None => key.to_string(),
    }
}

/// The checks on one digest, in validate-logs' order, then the stricter checks of
/// the newer digest's link to it. A link that disagrees with a digest whose own
/// signature verified is the newer digest's fault, returned apart from the verdict.
fn check_digest(
    input: &DigestInput,
    key: &str,
    link: Option<&Link>,
    keys: &PublicKeys,
) -> (Verdict, Option<LinkFault>, Option<DigestFile>) {
    let digest = match DigestFile::parse(&input.bytes) {
        Ok(digest) => digest,
        Err(why) => return (Verdict::InvalidFormat(why), None, None),
    };
    let checked = (|| {
        if key_from_awslogs(&digest.digest_s3_object) != key {
            return Err(Verdict::Moved);
        }
        let Some(public_key) = keys.get(&digest.digest_public_key_fingerprint) else {
            return Err(Verdict::PublicKeyNotFound(
                digest.digest_public_key_fingerprint.clone(),
            ));
        };
        let chained = link.and_then(|l| l.signature.as_deref());
        // The captured signature (S3 metadata or sidecar) is the digest's own; the
        // newer digest's copy of it stands in only when none was captured.
        let Some(signature) = input.signature.as_deref().or(chained) else {
            return Err(Verdict::NoSignature);
        };
        let own_hash = sha256_hex(&input.bytes);
        let message = digest.signing_string(&own_hash);
        if !public_key.verifies(message.as_bytes(), signature) {
            return Err(Verdict::SignatureFailed);
        }
        if chained.is_some_and(|chained| !chained.eq_ignore_ascii_case(signature)) {
            return Ok(Some(LinkFault::Signature));
        }
        if let Some(expected) = link.and_then(|l| l.hash.as_deref())
            && !expected.eq_ignore_ascii_case(&own_hash)
        {
            return Ok(Some(LinkFault::Hash));
        }
        Ok(None)
    })();
    match checked {
        Ok(fault) => (Verdict::Valid, fault, Some(digest)),
        Err(verdict) => (verdict, None, Some(digest)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_names_give_their_chain() {
        let name = parse_digest_name(
            "AWSLogs/o-1/111122223333/CloudTrail-Digest/eu-west-1/2021/01/02/111122223333_CloudTrail-Digest_eu-west-1_my_trail_us-east-1_20210102T030405Z.json.gz",
        )
        .unwrap();
        assert_eq!(name.chain, "111122223333/eu-west-1/my_trail/us-east-1");
        assert_eq!(name.end, "20210102T030405Z");
        let backfill = parse_digest_name(
            "111122223333_CloudTrail-Digest_eu-west-1_t_us-east-1_20210102T030405Z_backfill.json.gz",
        )
        .unwrap();
        assert_eq!(
            backfill.chain,
            "111122223333/eu-west-1/t/us-east-1/backfill"
        );
        assert_eq!(parse_digest_name("x.json.gz"), None);
    }

    #[test]
    fn verdicts_read_like_validate_logs() {
        assert_eq!(Verdict::Valid.to_string(), "valid");
        assert_eq!(Verdict::NotFound.to_string(), "INVALID: not found");
        assert_eq!(
            Verdict::Moved.to_string(),
            "INVALID: has been moved from its original location"
        );
        assert_eq!(
            Verdict::HashMismatch.to_string(),
            "INVALID: hash value doesn't match"
        );
    }
}
