//! The archive's promises: parts match the table, rows are in time order, a crash
//! at any step of a commit loses and duplicates nothing once a later run has
//! finished it, and restore is exact.

use std::collections::BTreeMap;
use std::path::Path;

use arrow_array::cast::AsArray;
use arrow_array::types::TimestampMicrosecondType;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::file::reader::FileReader;
use trailpack_archive::{IntegrityInputs, NoProgress, WriteOptions, archive};
use trailpack_query::{FileFilter, RestoreOptions, restore};
use trailpack_store::ArchiveRoot;
use trailpack_table::delta::{Action, decode_commit};
use trailpack_table::index::{indexed_partitions, load_partition, segment_path};
use trailpack_table::intent::{Intent, StagedIndex, staged_index_path, staged_part_path};
use trailpack_table::{EntryStatus, IndexEntry, PENDING_DIR, STAGING_DIR, Table, commit_path};

const ACCOUNT: &str = "123456789012";

fn record(minute: u32, name: &str) -> String {
    format!(
        r#"{{"eventVersion":"1.08","eventTime":"2021-01-01T00:{minute:02}:00Z","eventName":"{name}","eventID":"id-{name}-{minute}","userAgent":"aws-cli\/2.0"}}"#
    )
}

/// Write a log file for `region` delivered at 01:`minute` with the given records.
fn write_log(trail: &Path, region: &str, minute: u32, records: &[String]) -> String {
    let key = format!(
        "AWSLogs/{ACCOUNT}/CloudTrail/{region}/2021/01/01/{ACCOUNT}_CloudTrail_{region}_20210101T01{minute:02}Z_{minute:016}.json"
    );
    let path = trail.join(&key);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, format!("{{\"Records\":[{}]}}", records.join(","))).unwrap();
    key
}

fn run(trail: &Path, archive_dir: &Path, options: &WriteOptions) -> trailpack_archive::RunReport {
    let listing = trailpack_source::list(trail).unwrap();
    archive(
        &ArchiveRoot::from(archive_dir),
        listing.files,
        options,
        &IntegrityInputs::default(),
        &NoProgress,
    )
    .unwrap()
}

fn table(archive_dir: &Path) -> Table {
    Table::open(&ArchiveRoot::from(archive_dir)).unwrap()
}

fn index(archive_dir: &Path) -> BTreeMap<String, IndexEntry> {
    let root = ArchiveRoot::from(archive_dir);
    let mut entries = BTreeMap::new();
    for partition in indexed_partitions(&root).unwrap() {
        entries.extend(load_partition(&root, &partition).unwrap());
    }
    entries
}

fn total_rows(archive_dir: &Path) -> u64 {
    table(archive_dir)
        .snapshot()
        .part_infos()
        .map(|p| p.rows)
        .sum()
}

/// Rows in the `part-*.parquet` files of the partition directories: what a glob
/// reader sees.
fn glob_rows(archive_dir: &Path) -> u64 {
    let mut rows = 0;
    let mut dirs = vec![archive_dir.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if name.starts_with('_') || name.starts_with('.') {
                continue;
            }
            if path.is_dir() {
                dirs.push(path);
            } else if name.starts_with("part-") && name.ends_with(".parquet") {
                let reader = parquet::file::reader::SerializedFileReader::new(
                    std::fs::File::open(&path).unwrap(),
                )
                .unwrap();
                rows += reader.metadata().file_metadata().num_rows() as u64;
            }
        }
    }
    rows
}

#[test]
fn parts_match_their_table_entries_and_are_time_ordered() {
    let dir = tempfile::tempdir().unwrap();
    let trail = dir.path().join("trail");
    for minute in 0..6 {
        // Records within a file are out of order, as CloudTrail writes them.
        let records: Vec<String> = [50, 10, 30]
            .iter()
            .map(|m| record(m - minute, "Get"))
            .collect();
        write_log(&trail, "us-east-1", minute, &records);
    }
    write_log(&trail, "eu-west-1", 0, &[record(5, "Put")]);
    write_log(&trail, "eu-west-1", 1, &[]);
    let archive_dir = dir.path().join("archive");
    let options = WriteOptions {
        part_bytes: 600,
        row_group_rows: 4,
        ..WriteOptions::default()
    };
    let report = run(&trail, &archive_dir, &options);
    assert_eq!(report.files_archived, 8);
    assert_eq!(report.records_out, 19);
    assert!(
        report.parts_written >= 3,
        "small part size splits the partition"
    );

    let table = table(&archive_dir);
    assert_eq!(table.snapshot().parts.len() as u64, report.parts_written);
    assert_eq!(table.snapshot().version, report.parts_written as i64);
    for part in table.snapshot().part_infos() {
        let path = archive_dir.join(&part.path);
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(bytes.len() as u64, part.bytes);
        assert_eq!(Some(crc32fast::hash(&bytes)), part.crc32);
        assert!(part.path.starts_with(&format!(
            "account={ACCOUNT}/region={}/year=2021/month=01/part-",
            part.partition.region
        )));
        let reader =
            parquet::file::reader::SerializedFileReader::new(std::fs::File::open(&path).unwrap())
                .unwrap();
        let metadata = reader.metadata();
        assert_eq!(metadata.num_row_groups() as u64, part.row_groups);
        let eventid = metadata
            .row_group(0)
            .columns()
            .iter()
            .find(|c| c.column_path().string() == "eventid")
            .unwrap();
        assert!(
            eventid.bloom_filter_offset().is_some(),
            "eventid has a bloom filter"
        );
        let reader = ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(&path).unwrap())
            .unwrap()
            .build()
            .unwrap();
        let mut times = Vec::new();
        for batch in reader {
            let batch = batch.unwrap();
            let column = batch.column_by_name("eventtime").unwrap();
            let column = column.as_primitive::<TimestampMicrosecondType>();
            times.extend((0..column.len()).map(|i| column.value(i)));
        }
        assert_eq!(times.len() as u64, part.rows);
        assert!(
            times.windows(2).all(|w| w[0] <= w[1]),
            "rows sorted by eventtime"
        );
        assert_eq!(
            part.event_time_range,
            Some((times[0], *times.last().unwrap()))
        );
    }
    let index = index(&archive_dir);
    assert_eq!(index.len(), 8);
    let empty = index.values().find(|f| f.records == 0).unwrap();
    assert_eq!(empty.part, None);

    let out = dir.path().join("restored");
    let root = ArchiveRoot::from(&archive_dir);
    let restored = restore(
        &root,
        &FileFilter::default(),
        &out,
        &RestoreOptions::default(),
    )
    .unwrap();
    assert_eq!(restored.files, 8);
    for key in index.keys() {
        let original = std::fs::read(trail.join(key)).unwrap();
        assert_eq!(std::fs::read(out.join(key)).unwrap(), original, "{key}");
    }
    // Several partitions and parts at once give the same files, and no temporary
    // file is left beside them.
    let out = dir.path().join("restored-3-jobs");
    let options = RestoreOptions {
        gzip: false,
        jobs: Some(3),
    };
    assert_eq!(
        restore(&root, &FileFilter::default(), &out, &options)
            .unwrap()
            .files,
        8
    );
    let mut written = Vec::new();
    let mut dirs = vec![out.clone()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                written.push(
                    path.strip_prefix(&out)
                        .unwrap()
                        .to_string_lossy()
                        .into_owned(),
                );
            }
        }
    }
    written.sort();
    assert_eq!(written, index.keys().cloned().collect::<Vec<_>>());
    for key in index.keys() {
        let original = std::fs::read(trail.join(key)).unwrap();
        assert_eq!(std::fs::read(out.join(key)).unwrap(), original, "{key}");
    }
    // Filters select by region and by key prefix.
    let mut filter = FileFilter::default();
    filter.files.regions = vec!["eu-west-1".into()];
    let out = dir.path().join("eu");
    assert_eq!(
        restore(&root, &filter, &out, &RestoreOptions::default())
            .unwrap()
            .files,
        2
    );
}

/// The state a run leaves when it dies at `step` of committing the part that
/// archives `key`: made by archiving the same trail into a scratch copy of the
/// archive and moving that commit's pieces back to where the step left them.
#[derive(Clone, Copy, Debug)]
enum Crash {
    /// The intent is written; the part and its index segment are staged.
    Staged,
    /// The part is published in its partition; no commit yet.
    Published,
    /// The commit landed; the index segment is still staged.
    Committed,
}

fn crash_at(step: Crash, trail: &Path, archive_dir: &Path, scratch: &Path) {
    copy_dir(archive_dir, scratch);
    run(trail, scratch, &WriteOptions::default());
    let scratch_table = table(scratch);
    let version = scratch_table.snapshot().version;
    let actions =
        decode_commit(&std::fs::read(scratch.join(commit_path(version))).unwrap()).unwrap();
    let add = actions
        .into_iter()
        .find_map(|a| match a {
            Action::Add(add) => Some(add),
            _ => None,
        })
        .unwrap();
    let info = &scratch_table.snapshot().parts[&add.path].1;
    let id = info
        .name()
        .strip_prefix("part-")
        .and_then(|n| n.strip_suffix(".parquet"))
        .unwrap()
        .to_string();
    let root = ArchiveRoot::from(archive_dir);
    let base = table(archive_dir).snapshot().version;
    let mut intent = Intent::new(&id, base, "WRITE", add.clone());
    intent.staged_part = Some(staged_part_path(&id));
    intent.index = Some(StagedIndex {
        staged: staged_index_path(&id),
        path: segment_path(&info.partition, &id),
    });
    intent.write(&root).unwrap();
    let segment = std::fs::read(scratch.join(segment_path(&info.partition, &id))).unwrap();
    root.write(&staged_index_path(&id), &segment).unwrap();
    let part = std::fs::read(scratch.join(&add.path)).unwrap();
    match step {
        Crash::Staged => root.write(&staged_part_path(&id), &part).unwrap(),
        Crash::Published | Crash::Committed => root.write(&add.path, &part).unwrap(),
    }
    if let Crash::Committed = step {
        let commit = std::fs::read(scratch.join(commit_path(version))).unwrap();
        root.write(&commit_path(base + 1), &commit).unwrap();
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let target = to.join(path.file_name().unwrap());
        if path.is_dir() {
            copy_dir(&path, &target);
        } else {
            std::fs::copy(&path, &target).unwrap();
        }
    }
}

#[test]
fn a_crash_at_any_step_of_a_commit_is_finished_by_the_next_run() {
    for step in [Crash::Staged, Crash::Published, Crash::Committed] {
        let dir = tempfile::tempdir().unwrap();
        let trail = dir.path().join("trail");
        let archive_dir = dir.path().join("archive");
        write_log(&trail, "us-east-1", 0, &[record(1, "A"), record(2, "B")]);
        run(&trail, &archive_dir, &WriteOptions::default());
        write_log(&trail, "us-east-1", 1, &[record(3, "C")]);
        crash_at(step, &trail, &archive_dir, &dir.path().join("scratch"));
        let visible = match step {
            Crash::Staged => 2,
            Crash::Published | Crash::Committed => 3,
        };
        assert_eq!(glob_rows(&archive_dir), visible, "{step:?}");

        // The next run finishes the commit before it plans: the file the crashed
        // run was committing is in the index, so it is not archived twice.
        write_log(&trail, "us-east-1", 2, &[record(4, "D")]);
        let report = run(&trail, &archive_dir, &WriteOptions::default());
        assert_eq!(report.files_archived, 1, "{step:?}");
        assert_eq!(report.files_already_archived, 2, "{step:?}");
        assert_eq!(total_rows(&archive_dir), 4, "{step:?}");
        assert_eq!(glob_rows(&archive_dir), 4, "{step:?}");
        assert_eq!(index(&archive_dir).len(), 3, "{step:?}");
        let root = ArchiveRoot::from(&archive_dir);
        assert!(root.list(PENDING_DIR).unwrap().is_empty(), "{step:?}");
        assert!(root.list(STAGING_DIR).unwrap().is_empty(), "{step:?}");
        let out = dir.path().join("restored");
        restore(
            &root,
            &FileFilter::default(),
            &out,
            &RestoreOptions::default(),
        )
        .unwrap();
        for key in index(&archive_dir).keys() {
            assert_eq!(
                std::fs::read(out.join(key)).unwrap(),
                std::fs::read(trail.join(key)).unwrap()
            );
        }
    }
}

#[test]
fn a_file_that_vanishes_before_it_is_read_is_reported_and_retried() {
    let dir = tempfile::tempdir().unwrap();
    let trail = dir.path().join("trail");
    let archive_dir = dir.path().join("archive");
    write_log(&trail, "us-east-1", 0, &[record(1, "A")]);
    let vanishing = write_log(&trail, "us-east-1", 1, &[record(2, "B")]);
    let listing = trailpack_source::list(&trail).unwrap();
    let content = std::fs::read(trail.join(&vanishing)).unwrap();
    std::fs::remove_file(trail.join(&vanishing)).unwrap();
    let report = archive(
        &ArchiveRoot::from(&archive_dir),
        listing.files,
        &WriteOptions::default(),
        &IntegrityInputs::default(),
        &NoProgress,
    )
    .unwrap();
    assert_eq!(report.files_archived, 1);
    assert_eq!(report.files_unreadable, 1);
    assert_eq!(report.files_quarantined, 0);
    assert!(!index(&archive_dir).contains_key(&vanishing));

    std::fs::write(trail.join(&vanishing), content).unwrap();
    let report = run(&trail, &archive_dir, &WriteOptions::default());
    assert_eq!(report.files_archived, 1, "the next run picks it up");
    assert_eq!(total_rows(&archive_dir), 2);
}

#[test]
fn every_file_keeps_its_own_decoding_whatever_the_wave_and_unit_sizes() {
    let dir = tempfile::tempdir().unwrap();
    let trail = dir.path().join("trail");
    let mut contents = BTreeMap::new();
    for minute in 0..9 {
        // Files of 0 to 3 records of about 125 bytes, so that waves of 400 and
        // 1,000 bytes hold two or three units, of one to three files; the
        // trailing newlines make every file's bytes, empty ones too, its own.
        let records: Vec<String> = (0..minute % 4)
            .map(|i| record(10 + minute * 4 + i, "Get"))
            .collect();
        let key = write_log(&trail, "us-east-1", minute, &records);
        let mut bytes = std::fs::read(trail.join(&key)).unwrap();
        bytes.extend(std::iter::repeat_n(b'\n', minute as usize));
        std::fs::write(trail.join(&key), &bytes).unwrap();
        contents.insert(key, bytes);
    }
    let broken = write_log(&trail, "us-east-1", 9, &["{]".to_string()]);
    let archived_records: u64 = (0..9u64).map(|minute| minute % 4).sum();
    // From one file per wave up to the whole partition in one wave (the default).
    for wave_bytes in [1, 150, 400, 1000, WriteOptions::default().wave_bytes] {
        let archive_dir = dir.path().join(format!("archive-{wave_bytes}"));
        let options = WriteOptions {
            wave_bytes,
            ..WriteOptions::default()
        };
        let report = run(&trail, &archive_dir, &options);
        assert_eq!(report.files_archived, 9, "wave_bytes {wave_bytes}");
        assert_eq!(report.files_quarantined, 1, "wave_bytes {wave_bytes}");
        assert_eq!(
            report.records_out, archived_records,
            "wave_bytes {wave_bytes}"
        );
        assert_eq!(total_rows(&archive_dir), archived_records);
        assert_eq!(glob_rows(&archive_dir), archived_records);
        let entries = index(&archive_dir);
        for (key, bytes) in &contents {
            let entry = &entries[key];
            assert_eq!(entry.status, EntryStatus::Archived, "{key}");
            assert_eq!(
                entry.sha256,
                Some(trailpack_decode::sha256(bytes)),
                "{key}, wave_bytes {wave_bytes}: another file's decoding"
            );
        }
        assert_eq!(entries[&broken].status, EntryStatus::Quarantined);
    }
}

#[test]
fn a_run_whose_listing_fails_at_once_leaves_no_trace() {
    let dir = tempfile::tempdir().unwrap();
    let archive_dir = dir.path().join("archive");
    failing_listing(&archive_dir, Vec::new());
    assert!(!archive_dir.exists());
}

#[test]
fn a_listing_that_fails_later_keeps_the_parts_built_before() {
    // The first partition's part is committed while nothing follows it: the run
    // ends on the listing's error, and that last part built is still committed.
    let dir = tempfile::tempdir().unwrap();
    let trail = dir.path().join("trail");
    let archive_dir = dir.path().join("archive");
    let first = write_log(&trail, "us-east-1", 0, &[record(1, "A"), record(2, "B")]);
    write_log(&trail, "eu-west-1", 1, &[record(3, "C")]);
    let files = trailpack_source::list(&trail).unwrap().files;
    let (left, right): (Vec<_>, Vec<_>) = files.into_iter().partition(|f| f.key == first);
    failing_listing(&archive_dir, vec![left, right]);
    assert_eq!(total_rows(&archive_dir), 2);
    assert_eq!(glob_rows(&archive_dir), 2);
    assert_eq!(index(&archive_dir).into_keys().collect::<Vec<_>>(), [first]);
    let root = ArchiveRoot::from(&archive_dir);
    assert!(root.list(STAGING_DIR).unwrap().is_empty());
    assert!(root.list(PENDING_DIR).unwrap().is_empty());
}

/// Archive a listing that yields `batches` and then fails; check that the run
/// ends with the listing's error.
fn failing_listing(archive_dir: &Path, batches: Vec<Vec<trailpack_source::SourceFile>>) {
    let listing = batches
        .into_iter()
        .map(|files| {
            Ok(trailpack_archive::SourceBatch {
                files,
                signatures: Vec::new(),
            })
        })
        .chain(std::iter::once(Err(trailpack_source::SourceError::Url(
            "s3://nowhere: listing failed".into(),
        ))));
    let err = trailpack_archive::archive_batches(
        &ArchiveRoot::from(archive_dir),
        Box::new(listing),
        &WriteOptions::default(),
        &IntegrityInputs::default(),
        &NoProgress,
    )
    .unwrap_err();
    assert!(err.to_string().contains("listing failed"), "{err}");
}
