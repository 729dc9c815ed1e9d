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
    temp_file(dir, bytes, true)
}

/// A temporary file in `dir` (created if missing) that holds `bytes`, fsynced when
/// `sync`.
fn temp_file(dir: &Path, bytes: &[u8], sync: bool) -> Result<tempfile::NamedTempFile, StoreError> {
    std::fs::create_dir_all(dir).map_err(|e| StoreError::io(dir, e))?;
    let mut temp = tempfile::Builder::new()
        .prefix(".tmp-")
        .tempfile_in(dir)
        .map_err(|e| StoreError::io(dir, e))?;
    temp.write_all(bytes)
        .and_then(|()| {
            if sync {
                temp.as_file().sync_all()
            } else {
                Ok(())
            }
        })
        .map_err(|e| StoreError::io(temp.path(), e))?;
    Ok(temp)
}

/// Write `bytes` to `path` through a temporary file beside it, renamed into place,
/// so that the name holds the whole file or nothing; but, on Linux, without an
/// fsync: for many files written at once, which [`sync_written`] then makes durable
/// together. Elsewhere the file is fsynced here.
pub fn write_renamed(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let temp = temp_file(dir, bytes, !cfg!(target_os = "linux"))?;
    temp.persist(path)
        .map_err(|e| StoreError::io(path, e.error))?;
    Ok(())
}

/// Make the files [`write_renamed`] wrote into `dirs` durable, with their names:
/// on Linux one `syncfs(2)` of the file system of each directory's root (`root`),
/// which writes back every file's data and the renames at once; then an fsync of
/// each directory.
pub fn sync_written<'d>(
    root: &Path,
    dirs: impl IntoIterator<Item = &'d Path>,
) -> Result<(), StoreError> {
    #[cfg(target_os = "linux")]
    std::fs::File::open(root)
        .and_then(|dir| rustix::fs::syncfs(&dir).map_err(std::io::Error::from))
        .map_err(|e| StoreError::io(root, e))?;
    #[cfg(not(target_os = "linux"))]
    let _ = root;
    for dir in dirs {
        sync_dir(dir)?;
    }
    Ok(())
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
