//! Any bytes as a digest file and as a signatures sidecar: parsing fails cleanly,
//! and a parsed digest validates to a verdict (never a panic), with its signing
//! string naming its own fields.
#![no_main]

use libfuzzer_sys::fuzz_target;
use trailpack_digest::{DigestFile, DigestInput, PublicKeys, load_signatures, sha256_hex, validate};

fuzz_target!(|data: &[u8]| {
    let _ = load_signatures(data);
    let Ok(digest) = DigestFile::parse(data) else {
        return;
    };
    let signing = digest.signing_string(&sha256_hex(data));
    assert!(signing.starts_with(&digest.digest_end_time));
    let key = format!(
        "AWSLogs/111122223333/CloudTrail-Digest/us-east-1/2021/01/01/111122223333_CloudTrail-Digest_us-east-1_t_us-east-1_20210101T010000Z.json.gz"
    );
    let report = validate(
        vec![DigestInput {
            key,
            bytes: data.to_vec(),
            signature: Some("00".into()),
        }],
        &PublicKeys::default(),
        |_| None,
        |_| true,
    );
    // No key is loaded, so nothing can be valid.
    assert!(!report.all_valid());
});
