//! [`RunReport`]: the reconciliation of one `archive` run, written as JSON by
//! `--report`, and duplicate detection by event identity.

use arrow_array::cast::AsArray;
use arrow_array::{Array, RecordBatch};
use serde::Serialize;
use trailpack_decode::sha256;

/// A file that could not be archived, and why.
#[derive(Debug, Clone, Serialize)]
pub struct QuarantinedFile {
    /// Source key.
    pub key: String,
    /// One-line reason.
    pub reason: String,
}

/// What one `archive` run did; written as JSON by `--report`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RunReport {
    /// CloudTrail files found in the sources (after filters).
    pub files_listed: u64,
    /// Other files found in the sources and not taken (filled in by the caller).
    pub files_skipped: u64,
    /// Digest files found.
    pub digest_files: u64,
    /// Digest files stored in this run (exact bytes, with signatures when known).
    pub digests_archived: u64,
    /// Files left to other shards (`--shard`).
    pub files_in_other_shards: u64,
    /// Files already in the archive from an earlier run.
    pub files_already_archived: u64,
    /// Files archived in this run.
    pub files_archived: u64,
    /// Files quarantined in this run.
    pub files_quarantined: u64,
    /// Files that could not be read; not recorded, so the next run tries again.
    pub files_unreadable: u64,
    /// Files whose stored size is over the file size limit: not read (that would
    /// take their size in memory), not recorded, left in place.
    pub files_too_large: u64,
    /// Records read from archived files.
    pub records_in: u64,
    /// Rows written to parts.
    pub records_out: u64,
    /// Rows stored whole in `_raw` (did not rebuild from columns).
    pub fallback_records: u64,
    /// Files with at least one such row.
    pub fallback_files: u64,
    /// Stored (compressed) bytes of the files read.
    pub bytes_in: u64,
    /// Uncompressed bytes of the files archived.
    pub raw_bytes_in: u64,
    /// Bytes of parts written.
    pub bytes_out: u64,
    /// Parts written.
    pub parts_written: u64,
    /// Commits written.
    pub commits: u64,
    /// Records whose (eventID, recipientAccountId) an earlier record of this run
    /// had: CloudTrail's redelivery, or overlapping trails (organisation and
    /// account). All are archived; `query --dedup` hides them.
    pub duplicate_records: u64,
    /// The first few duplicated events.
    pub duplicate_examples: Vec<DuplicateEvent>,
    /// Commits an earlier run left unfinished (it was killed) that this run
    /// finished before it began.
    pub commits_recovered: u64,
    /// Unfinished commits of earlier runs given up: their parts never arrived, and
    /// their files were archived again.
    pub commits_abandoned: u64,
    /// Wall time in seconds.
    pub seconds: f64,
    /// Where the wall time went.
    pub stages: StageSeconds,
    /// Quarantined files with their reasons.
    pub quarantined: Vec<QuarantinedFile>,
    /// Skipped paths with their reasons (filled in by the caller).
    pub skipped: Vec<QuarantinedFile>,
}

/// An event delivered more than once.
#[derive(Debug, Clone, Serialize)]
pub struct DuplicateEvent {
    /// `eventID`.
    pub event_id: String,
    /// `recipientAccountId` (empty when the record has none).
    pub recipient_account_id: String,
}

/// How many duplicated events a run report lists by name.
pub(crate) const DUPLICATE_EXAMPLES: usize = 20;

/// Wall time of each stage of a run, as seen by the thread that drives it. Reading
/// overlaps decoding, so `read` is only the time spent waiting for bytes.
#[derive(Debug, Clone, Default, Serialize)]
pub struct StageSeconds {
    /// Listing the sources (filled in by the caller).
    pub list: f64,
    /// Waiting for source files to be read (disk or S3) and decoded: what the
    /// reading and decoding threads, which run ahead, did not hide.
    pub read_wait: f64,
    /// Gunzip, record spans and validation, in parallel on their own thread,
    /// overlapped with the stages below (so the stages can add up to more than
    /// the wall time).
    pub decode: f64,
    /// Normalising records into columns and proving each row rebuilds, with the
    /// Parquet encoding of the previous rows overlapped.
    pub normalise: f64,
    /// Parquet encoding not overlapped with normalising: closing and fsync of parts.
    pub encode: f64,
    /// Writing commits (and quarantined files).
    pub commit: f64,
    /// Storing digest files.
    pub digests: f64,
    /// Verifying and deleting sources (`--delete-sources`; filled in by the caller).
    pub verify_delete: f64,
}

/// The identity of an event for duplicate detection, in 8 bytes: a 64-bit mix of
/// the eventID (a UUID, or the SHA-256 of other IDs) and the recipient account.
/// Eight bytes keep a run of millions of records in tens of MB; two different
/// events collide with probability about n²/2⁶⁵ (10⁻⁷ for 3 million records),
/// which would count one duplicate too many and hide nothing.
pub(crate) fn event_identity(event_id: &str, account: &str) -> u64 {
    let hashed = |text: &str| {
        sha256(text.as_bytes())[..16]
            .iter()
            .fold(0u128, |acc, b| (acc << 8) | u128::from(*b))
    };
    // A UUID (8-4-4-4-12 hex digits) is read as its 128 bits, without allocating:
    // this runs for every record.
    let uuid = (event_id.len() == 36)
        .then(|| {
            event_id
                .bytes()
                .enumerate()
                .try_fold(0u128, |acc, (at, b)| match (at, b) {
                    (8 | 13 | 18 | 23, b'-') => Some(acc),
                    (8 | 13 | 18 | 23, _) => None,
                    _ => Some((acc << 4) | u128::from((b as char).to_digit(16)?)),
                })
        })
        .flatten();
    let id = uuid.unwrap_or_else(|| hashed(event_id));
    let account = account
        .parse::<u64>()
        .unwrap_or_else(|_| hashed(account) as u64);
    (id as u64 ^ (id >> 64) as u64 ^ account.wrapping_mul(0x9e37_79b9_7f4a_7c15))
        .wrapping_mul(0xff51_afd7_ed55_8ccd)
}

/// The [`event_identity`] of each row of `batch`; `None` where its eventID is null,
/// and no rows at all when the batch has no `eventid` or `recipientaccountid`
/// string column. Computed where the batch is built, in parallel, not on the
/// writer's thread.
pub(crate) fn event_identities(batch: &RecordBatch) -> Vec<Option<u64>> {
    let column = |name| {
        batch
            .column_by_name(name)
            .and_then(|c| c.as_string_opt::<i32>())
    };
    let (Some(ids), Some(accounts)) = (column("eventid"), column("recipientaccountid")) else {
        return Vec::new();
    };
    (0..batch.num_rows())
        .map(|row| {
            let account = if accounts.is_null(row) {
                ""
            } else {
                accounts.value(row)
            };
            ids.is_valid(row)
                .then(|| event_identity(ids.value(row), account))
        })
        .collect()
}

impl RunReport {
    /// Add the counts a plan knows before anything is read.
    pub(crate) fn add_planned(&mut self, planned: &RunReport) {
        self.files_listed += planned.files_listed;
        self.files_in_other_shards += planned.files_in_other_shards;
        self.files_too_large += planned.files_too_large;
        self.digest_files += planned.digest_files;
        self.files_already_archived += planned.files_already_archived;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_identities_read_uuids_and_hash_other_ids() {
        let uuid = "0a1b2c3d-4e5f-6789-abcd-ef0123456789";
        assert_eq!(
            event_identity(uuid, "111122223333"),
            event_identity(uuid, "111122223333")
        );
        assert_ne!(
            event_identity(uuid, "111122223333"),
            event_identity(uuid, "444455556666")
        );
        let other = "0a1b2c3d-4e5f-6789-abcd-ef012345678a";
        assert_ne!(
            event_identity(uuid, "111122223333"),
            event_identity(other, "111122223333")
        );
        // Same digits, dashes elsewhere: not a UUID, so hashed, so different.
        let moved = "0a1b2c3d4-e5f-6789-abcd-ef0123456789";
        assert_ne!(event_identity(uuid, ""), event_identity(moved, ""));
        assert_eq!(
            event_identity("not-a-uuid", ""),
            event_identity("not-a-uuid", "")
        );
    }
}
