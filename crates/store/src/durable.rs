//! Durable local writes: a file appears whole at its name, or not at all, even
//! across a crash.

use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use crate::StoreError;

/// Write `bytes` to `path` durably: a temporary file beside it, fsync, rename, and
/// fsync of the directory, so that a crash leaves either nothing or the whole file.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let temp = synced_temp_file(dir, bytes)?;
    temp.persist(path)
        .map_err(|e| StoreError::io(path, e.error))?;
    sync_dir(dir)
}

/// A temporary file in `dir` (created if missing) that holds `bytes`, fsynced.
pub fn synced_temp_file(dir: &Path, bytes: &[u8]) -> Result<tempfile::NamedTempFile, StoreError> {
    std::fs::create_dir_all(dir).map_err(|e| StoreError::io(dir, e))?;
    let mut temp = tempfile::Builder::new()
        .prefix(".tmp-")
        .tempfile_in(dir)
        .map_err(|e| StoreError::io(dir, e))?;
    temp.write_all(bytes)
        .and_then(|()| temp.as_file().sync_all())
        .map_err(|e| StoreError::io(temp.path(), e))?;
    Ok(temp)
}

/// fsync a directory so that a rename in it survives a crash.
pub fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| StoreError::io(dir, e))
}

/// A name no other call returns, on this machine or another: the time in
/// nanoseconds, the process, a counter and a random number (containers of one
/// array job often share process IDs).
pub fn unique_name() -> String {
    use std::hash::{BuildHasher, Hasher};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let count = NEXT.fetch_add(1, Ordering::Relaxed);
    // std seeds each RandomState from the OS's random source.
    let random = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish() as u32;
    format!(
        "{nanos:020}-{:08x}-{random:08x}-{count}",
        std::process::id()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_writes_replace_whole_files_and_leave_no_temporaries() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a/b.json");
        write_atomic(&path, b"one").unwrap();
        write_atomic(&path, b"two").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        let names: Vec<_> = std::fs::read_dir(dir.path().join("a"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["b.json"]);
    }

    #[test]
    fn unique_names_differ_and_sort_by_time() {
        let first = unique_name();
        let second = unique_name();
        assert_ne!(first, second);
        assert!(first[..20] <= second[..20]);
    }
}
