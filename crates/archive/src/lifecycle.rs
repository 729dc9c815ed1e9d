//! Delete-after-verify: remove source files only once the archive provably holds
//! them.
//!
//! A source file is deleted when its manifest entry is committed, has the source's
//! size, and the archive rebuilds it with the SHA-256 recorded at archive time (for
//! digest files: the stored copy has that size and SHA-256). The check runs after
//! the commit, against the part files on disk, so a crash at any point leaves
//! sources in place and the next run deletes them without archiving them again.

use std::collections::BTreeMap;

use serde::Serialize;
use trailpack_source::{FileKind, SourceFile, delete_all};

use crate::manifest::{FileEntry, FileStatus, Manifest};
use crate::read::{assemble_checked, records_from};
use crate::verify::{read_checked_digest, read_checked_part};
use crate::write::{WriteOptions, in_shard};
use crate::{ArchiveError, ArchiveRoot, Progress, QuarantinedFile};

/// What a delete-after-verify pass did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DeleteReport {
    /// Source files whose archived copy was verified.
    pub verified: u64,
    /// Verified source files deleted.
    pub deleted: u64,
    /// Source bytes deleted.
    pub bytes_deleted: u64,
    /// Source files kept, with the reason (not archived, quarantined, failed
    /// verification, could not be deleted).
    pub kept: Vec<QuarantinedFile>,
    /// Of those, files kept because something is wrong: their archived copy failed
    /// verification, or they could not be deleted.
    pub problems: u64,
}

/// Why [`verified_sources`] keeps a file that is in the archive: its copy there
/// failed verification. Files not archived or quarantined are kept without it.
const FAILED: &str = "archived copy failed verification: ";

/// Which of `files` the archive at `root` holds verifiably, and which it does
/// not (with why). Files of other shards are left out.
pub fn verified_sources(
    root: &ArchiveRoot,
    files: &[SourceFile],
    options: &WriteOptions,
) -> Result<(Vec<SourceFile>, Vec<QuarantinedFile>), ArchiveError> {
    let manifest = Manifest::load(root)?;
    let mut verified = Vec::new();
    let mut kept = Vec::new();
    let keep = |kept: &mut Vec<QuarantinedFile>, file: &SourceFile, reason: String| {
        kept.push(QuarantinedFile {
            key: file.key.clone(),
            reason,
        })
    };
    let mut by_part: BTreeMap<&str, Vec<(&SourceFile, &FileEntry)>> = BTreeMap::new();
    for file in files {
        if in_shard(file, options).is_none() {
            continue;
        }
        if file.name.kind == FileKind::Digest {
            match manifest.digest(&file.key) {
                None => keep(&mut kept, file, "not archived".into()),
                Some(entry) if entry.size != file.size => keep(
                    &mut kept,
                    file,
                    format!("{} bytes, the archived copy has {}", file.size, entry.size),
                ),
                Some(entry) => match read_checked_digest(root, entry)? {
                    Ok(_) => verified.push(file.clone()),
                    Err(problem) => keep(&mut kept, file, format!("{FAILED}{problem}")),
                },
            }
            continue;
        }
        match manifest.file(&file.key) {
            None => keep(&mut kept, file, "not archived".into()),
            Some(entry) if entry.status == FileStatus::Quarantined => {
                keep(&mut kept, file, "quarantined".into())
            }
            Some(entry) if entry.size != file.size => keep(
                &mut kept,
                file,
                format!("{} bytes, the archived file had {}", file.size, entry.size),
            ),
            Some(entry) => match &entry.part {
                Some(part) => by_part.entry(part).or_default().push((file, entry)),
                None => match assemble_checked(entry, &mut []) {
                    Ok(_) => verified.push(file.clone()),
                    Err(e) => keep(&mut kept, file, format!("{FAILED}{e}")),
                },
            },
        }
    }
    let parts: BTreeMap<&str, _> = manifest
        .parts
        .iter()
        .map(|p| (p.path.as_str(), p))
        .collect();
    for (part_path, members) in by_part {
        let checked = parts
            .get(part_path)
            .ok_or_else(|| "not in the manifest".to_string())
            .and_then(|part| read_checked_part(root, part));
        let bytes = match checked {
            Ok(bytes) => bytes,
            Err(problem) => {
                for (file, _) in members {
                    keep(
                        &mut kept,
                        file,
                        format!("{FAILED}part {part_path}: {problem}"),
                    );
                }
                continue;
            }
        };
        let path = root.locate(part_path);
        match records_from(bytes, &path, members.iter().map(|(f, _)| f.key.as_str())) {
            Ok(mut records) => {
                for (file, entry) in members {
                    let mut rows = records.remove(file.key.as_str()).unwrap_or_default();
                    match assemble_checked(entry, &mut rows) {
                        Ok(_) => verified.push(file.clone()),
                        Err(e) => keep(&mut kept, file, format!("{FAILED}{e}")),
                    }
                }
            }
            Err(e) => {
                for (file, _) in members {
                    keep(&mut kept, file, format!("{FAILED}part {part_path}: {e}"));
                }
            }
        }
    }
    Ok((verified, kept))
}

/// Delete the source files among `files` that the archive at `root` holds
/// verifiably (see [`verified_sources`]); keep the rest and say why.
pub fn delete_sources(
    root: &ArchiveRoot,
    files: &[SourceFile],
    options: &WriteOptions,
    progress: &dyn Progress,
) -> Result<DeleteReport, ArchiveError> {
    let (verified, kept) = verified_sources(root, files, options)?;
    for problem in kept.iter().filter(|k| k.reason.starts_with(FAILED)) {
        progress.warn(&format!("{}: kept: {}", problem.key, problem.reason));
    }
    let mut report = DeleteReport {
        verified: verified.len() as u64,
        problems: kept.iter().filter(|k| k.reason.starts_with(FAILED)).count() as u64,
        kept,
        ..DeleteReport::default()
    };
    for (file, result) in verified.iter().zip(delete_all(&verified)) {
        match result {
            Ok(()) => {
                report.deleted += 1;
                report.bytes_deleted += file.size;
            }
            Err(e) => {
                progress.warn(&format!("{}: cannot delete: {e}", file.location));
                report.problems += 1;
                report.kept.push(QuarantinedFile {
                    key: file.key.clone(),
                    reason: format!("cannot delete: {e}"),
                });
            }
        }
    }
    Ok(report)
}
