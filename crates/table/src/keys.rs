//! CloudTrail public keys kept with the archive, one small JSON file each, so that
//! `verify --digests` can check the digests years later without asking AWS.

use base64::Engine;
use serde::{Deserialize, Serialize};
use trailpack_digest::{PublicKeyEntry, fingerprint};
use trailpack_store::ArchiveRoot;

use crate::TableError;
use crate::layout::KEYS_DIR;

/// A CloudTrail public key kept in the archive (from `archive --public-keys`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredPublicKey {
    /// Lowercase hex MD5 of the DER bytes.
    pub fingerprint: String,
    /// Base64 of the DER bytes, as in `list-public-keys`.
    pub value: String,
    /// Start of validity, as given.
    pub valid_from: Option<String>,
    /// End of validity, as given.
    pub valid_until: Option<String>,
}

impl From<&PublicKeyEntry> for StoredPublicKey {
    fn from(key: &PublicKeyEntry) -> Self {
        StoredPublicKey {
            fingerprint: key.fingerprint.clone(),
            value: base64::engine::general_purpose::STANDARD.encode(&key.der),
            valid_from: key.valid_from.clone(),
            valid_until: key.valid_until.clone(),
        }
    }
}

impl StoredPublicKey {
    /// The key's DER bytes, and its fingerprint computed from them again.
    pub fn der(&self) -> Result<(Vec<u8>, String), String> {
        let der = base64::engine::general_purpose::STANDARD
            .decode(&self.value)
            .map_err(|e| format!("stored value is not base64: {e}"))?;
        let computed = fingerprint(&der);
        Ok((der, computed))
    }
}

/// Keep `keys` whose fingerprint the archive does not have yet; return how many
/// were new. Each is named by its fingerprint, computed again from its bytes.
pub fn store_keys(root: &ArchiveRoot, keys: &[StoredPublicKey]) -> Result<u64, TableError> {
    let mut stored = 0;
    for key in keys {
        let (_, computed) = key.der().map_err(|reason| TableError::Corrupt {
            path: format!("public key {}", key.fingerprint),
            reason,
        })?;
        let key = StoredPublicKey {
            fingerprint: computed,
            ..key.clone()
        };
        let bytes = serde_json::to_vec_pretty(&key).unwrap_or_default();
        if root.create(&format!("{KEYS_DIR}/{}.json", key.fingerprint), &bytes)? {
            stored += 1;
        }
    }
    Ok(stored)
}

/// Every key the archive keeps, in fingerprint order.
pub fn load_keys(root: &ArchiveRoot) -> Result<Vec<StoredPublicKey>, TableError> {
    let paths: Vec<String> = root
        .list(KEYS_DIR)?
        .into_iter()
        .filter(|l| l.name().ends_with(".json") && !l.name().starts_with('.'))
        .map(|l| l.path)
        .collect();
    let mut keys = Vec::with_capacity(paths.len());
    root.read_each(&paths, |path, bytes| {
        keys.push(
            serde_json::from_slice(&bytes).map_err(|e| TableError::Corrupt {
                path: path.to_string(),
                reason: e.to_string(),
            })?,
        );
        Ok::<(), TableError>(())
    })?;
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_stored_once_under_their_computed_fingerprint() {
        let dir = tempfile::tempdir().unwrap();
        let root = ArchiveRoot::from(dir.path());
        let value = base64::engine::general_purpose::STANDARD.encode(b"der bytes");
        let key = StoredPublicKey {
            fingerprint: "claimed".into(),
            value,
            valid_from: None,
            valid_until: Some("2030".into()),
        };
        assert_eq!(store_keys(&root, std::slice::from_ref(&key)).unwrap(), 1);
        assert_eq!(store_keys(&root, std::slice::from_ref(&key)).unwrap(), 0);
        let loaded = load_keys(&root).unwrap();
        assert_eq!(loaded.len(), 1);
        assert_eq!(loaded[0].fingerprint, fingerprint(b"der bytes"));
        let bad = StoredPublicKey {
            value: "!!".into(),
            ..key
        };
        assert!(store_keys(&root, &[bad]).is_err());
    }
}
