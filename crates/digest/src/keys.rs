//! CloudTrail's public keys: loading, fingerprints and signature checks.
//!
//! Keys come from `aws cloudtrail list-public-keys` output (base64 DER in `Value`),
//! or from PEM or DER files. CloudTrail hands out PKCS#1 `RSAPublicKey` DER; SPKI is
//! accepted too. A key's fingerprint is the lowercase hex MD5 of its DER bytes, as in
//! `digestPublicKeyFingerprint`.

use std::collections::BTreeMap;

use base64::Engine;
use md5::{Digest as _, Md5};
use rsa::PublicKey;
use rsa::pkcs1::DecodeRsaPublicKey;
use rsa::pkcs1v15::{Signature, VerifyingKey};
use rsa::pkcs8::DecodePublicKey;
use rsa::signature::Verifier;
use sha2::Sha256;

use crate::DigestError;

/// One public key with its fingerprint and validity window.
#[derive(Debug, Clone)]
pub struct PublicKeyEntry {
    /// Lowercase hex MD5 of [`PublicKeyEntry::der`].
    pub fingerprint: String,
    /// The key's DER bytes as distributed (PKCS#1 or SPKI).
    pub der: Vec<u8>,
    /// Start of validity, as given (seconds since the epoch or ISO 8601), if known.
    pub valid_from: Option<String>,
    /// End of validity, as given, if known.
    pub valid_until: Option<String>,
    key: PublicKey,
}

impl PublicKeyEntry {
    /// A key from DER bytes (PKCS#1 `RSAPublicKey` or SPKI).
    pub fn from_der(der: &[u8]) -> Result<Self, DigestError> {
        let key = PublicKey::from_pkcs1_der(der)
            .or_else(|_| PublicKey::from_public_key_der(der))
            .map_err(|_| DigestError::Key("not an RSA public key (PKCS#1 or SPKI DER)".into()))?;
        Ok(PublicKeyEntry {
            fingerprint: fingerprint(der),
            der: der.to_vec(),
            valid_from: None,
            valid_until: None,
            key,
        })
    }

    /// Whether `signature_hex` is this key's RSASSA-PKCS1-v1_5 SHA-256 signature of
    /// `message`.
    pub fn verifies(&self, message: &[u8], signature_hex: &str) -> bool {
        let Some(bytes) = from_hex(signature_hex) else {
            return false;
        };
        let Ok(signature) = Signature::try_from(bytes.as_slice()) else {
            return false;
        };
        VerifyingKey::<Sha256>::new(self.key.clone())
            .verify(message, &signature)
            .is_ok()
    }
}

/// Lowercase hex MD5 of DER bytes: CloudTrail's key fingerprint.
pub fn fingerprint(der: &[u8]) -> String {
    crate::hex(&Md5::digest(der))
}

fn from_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// A set of public keys, by fingerprint.
#[derive(Debug, Clone, Default)]
pub struct PublicKeys {
    by_fingerprint: BTreeMap<String, PublicKeyEntry>,
}

impl PublicKeys {
    /// Add a key; a key already present is kept.
    pub fn add(&mut self, key: PublicKeyEntry) {
        self.by_fingerprint
            .entry(key.fingerprint.clone())
            .or_insert(key);
    }

    /// The key with this fingerprint.
    pub fn get(&self, fingerprint: &str) -> Option<&PublicKeyEntry> {
        self.by_fingerprint.get(fingerprint)
    }

    /// Every key, by fingerprint.
    pub fn iter(&self) -> impl Iterator<Item = &PublicKeyEntry> {
        self.by_fingerprint.values()
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.by_fingerprint.len()
    }

    /// Whether there are no keys.
    pub fn is_empty(&self) -> bool {
        self.by_fingerprint.is_empty()
    }

    /// Load keys from a file's bytes: `list-public-keys` JSON, PEM, or DER.
    pub fn load(&mut self, bytes: &[u8]) -> Result<usize, DigestError> {
        let trimmed = bytes.trim_ascii_start();
        if trimmed.starts_with(b"{") {
            return self.load_list_public_keys(trimmed);
        }
        if trimmed.starts_with(b"-----BEGIN") {
            let text = std::str::from_utf8(trimmed)
                .map_err(|_| DigestError::Key("PEM is not UTF-8".into()))?;
            let mut added = 0;
            for der in pem_blocks(text)? {
                self.add(PublicKeyEntry::from_der(&der)?);
                added += 1;
            }
            return Ok(added);
        }
        self.add(PublicKeyEntry::from_der(bytes)?);
        Ok(1)
    }

    fn load_list_public_keys(&mut self, bytes: &[u8]) -> Result<usize, DigestError> {
        let value: serde_json::Value =
            serde_json::from_slice(bytes).map_err(|e| DigestError::Key(e.to_string()))?;
        // The CLI writes `PublicKeyList`; some documentation shows `publicKeyList`.
        let list = value
            .get("PublicKeyList")
            .or_else(|| value.get("publicKeyList"))
            .and_then(|v| v.as_array())
            .ok_or_else(|| DigestError::Key("no PublicKeyList array".into()))?;
        let text = |entry: &serde_json::Value, name: &str| {
            entry.get(name).and_then(|v| match v {
                serde_json::Value::String(s) => Some(s.clone()),
                serde_json::Value::Number(n) => Some(n.to_string()),
                _ => None,
            })
        };
        for (index, entry) in list.iter().enumerate() {
            let value = text(entry, "Value")
                .ok_or_else(|| DigestError::Key(format!("key {index}: no Value")))?;
            let der = base64::engine::general_purpose::STANDARD
                .decode(value.trim())
                .map_err(|e| DigestError::Key(format!("key {index}: Value is not base64: {e}")))?;
            let mut key = PublicKeyEntry::from_der(&der)
                .map_err(|e| DigestError::Key(format!("key {index}: {e}")))?;
            if let Some(stated) = text(entry, "Fingerprint")
                && stated != key.fingerprint
            {
                return Err(DigestError::Key(format!(
                    "key {index}: Fingerprint {stated} is not the MD5 of its Value ({})",
                    key.fingerprint
                )));
            }
            key.valid_from = text(entry, "ValidityStartTime");
            key.valid_until = text(entry, "ValidityEndTime");
            self.add(key);
        }
        Ok(list.len())
    }
}

/// The DER bytes of every PEM block in `text`.
fn pem_blocks(text: &str) -> Result<Vec<Vec<u8>>, DigestError> {
    let mut blocks = Vec::new();
    let mut body: Option<String> = None;
    for line in text.lines().map(str::trim) {
        if line.starts_with("-----BEGIN") {
            body = Some(String::new());
        } else if line.starts_with("-----END") {
            let encoded = body
                .take()
                .ok_or_else(|| DigestError::Key("PEM END without BEGIN".into()))?;
            let der = base64::engine::general_purpose::STANDARD
                .decode(encoded)
                .map_err(|e| DigestError::Key(format!("PEM body is not base64: {e}")))?;
            blocks.push(der);
        } else if let Some(body) = body.as_mut() {
            body.push_str(line);
        }
    }
    if blocks.is_empty() {
        return Err(DigestError::Key("no PEM block".into()));
    }
    Ok(blocks)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The two keys of the `list-public-keys` example in the AWS CloudTrail User
    /// Guide (awsdocs/aws-cloudtrail-user-guide, CC-BY-SA-4.0), with the
    /// fingerprints the documentation gives for them.
    const AWS_EXAMPLE: &str = r#"{
        "publicKeyList": [
            {
                "ValidityStartTime": "1436317441.0",
                "ValidityEndTime": "1438909441.0",
                "Value": "MIIBCgKCAQEAn11L2YZ9h7onug2ILi1MWyHiMRsTQjfWE+pHVRLk1QjfWhirG+lpOa8NrwQ/r7Ah5bNL6HepznOU9XTDSfmmnP97mqyc7z/upfZdS/AHhYcGaz7n6Wc/RRBU6VmiPCrAUojuSk6/GjvA8iOPFsYDuBtviXarvuLPlrT9kAd4Lb+rFfR5peEgBEkhlzc5HuWO7S0y+KunqxX6jQBnXGMtxmPBPP0FylgWGNdFtks/4YSKcgqwH0YDcawP9GGGDAeCIqPWIXDLG1jOjRRzWfCmD0iJUkz8vTsn4hq/5ZxRFE7UBAUiVcGbdnDdvVfhF9C3dQiDq3k7adQIziLT0cShgQIDAQAB",
                "Fingerprint": "8eba5db5bea9b640d1c96a77256fe7f2"
            },
            {
                "ValidityStartTime": "1434589460.0",
                "ValidityEndTime": "1437181460.0",
                "Value": "MIIBCgKCAQEApfYL2FiZhpN74LNWVUzhR+VheYhwhYm8w0n5Gf6i95ylW5kBAWKVEmnAQG7BvS5g9SMqFDQx52fW7NWV44IvfJ2xGXT+wT+DgR6ZQ+6yxskQNqV5YcXj4Aa5Zz4jJfsYjDuO2MDTZNIzNvBNzaBJ+r2WIWAJ/Xq54kyF63B6WE38vKuDE7nSd1FqQuEoNBFLPInvgggYe2Ym1Refe2z71wNcJ2kY+q0h1BSHrSM8RWuJIw7MXwF9iQncg9jYzUlNJomozQzAG5wSRfbplcCYNY40xvGd/aAmO0m+Y+XFMrKwtLCwseHPvj843qVno6x4BJN9bpWnoPo9sdsbGoiK3QIDAQAB",
                "Fingerprint": "8933b39ddc64d26d8e14ffbf6566fee4"
            }
        ]
    }"#;

    #[test]
    fn fingerprints_of_the_documented_keys() {
        let mut keys = PublicKeys::default();
        assert_eq!(keys.load(AWS_EXAMPLE.as_bytes()).unwrap(), 2);
        let fingerprints: Vec<_> = keys.iter().map(|k| k.fingerprint.as_str()).collect();
        assert_eq!(
            fingerprints,
            [
                "8933b39ddc64d26d8e14ffbf6566fee4",
                "8eba5db5bea9b640d1c96a77256fe7f2"
            ]
        );
        let key = keys.get("8eba5db5bea9b640d1c96a77256fe7f2").unwrap();
        assert_eq!(key.valid_from.as_deref(), Some("1436317441.0"));
    }

    #[test]
    fn a_wrong_stated_fingerprint_is_refused() {
        let text = AWS_EXAMPLE.replace(
            "8eba5db5bea9b640d1c96a77256fe7f2",
            "00000000000000000000000000000000",
        );
        let err = PublicKeys::default().load(text.as_bytes()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "public key: key 0: Fingerprint 00000000000000000000000000000000 is not the MD5 of its Value (8eba5db5bea9b640d1c96a77256fe7f2)"
        );
    }

    #[test]
    fn bad_key_files_are_refused() {
        for (bytes, message) in [
            (&b"{}"[..], "public key: no PublicKeyList array"),
            (
                b"-----BEGIN PUBLIC KEY-----\n!!\n-----END PUBLIC KEY-----\n",
                "public key: PEM body is not base64",
            ),
            (
                b"\x30\x03\x02\x01\x01",
                "public key: not an RSA public key (PKCS#1 or SPKI DER)",
            ),
        ] {
            let err = PublicKeys::default().load(bytes).unwrap_err().to_string();
            assert!(err.starts_with(message), "{err}");
        }
    }
}
