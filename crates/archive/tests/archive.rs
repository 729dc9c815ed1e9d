//! The archive's promises: parts match the manifest, rows are in time order, a crash
//! between part and commit loses and duplicates nothing, restore is exact.

use std::path::Path;

use arrow_array::cast::AsArray;
use arrow_array::types::TimestampMicrosecondType;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::file::reader::FileReader;
use trailpack_archive::manifest::{COMMITS_DIR, Manifest, PARTS_SUFFIX, load_parts};
use trailpack_archive::{
    ArchiveRoot, FileFilter, IntegrityInputs, NoProgress, ORPHAN_GRACE, WriteOptions, archive,
    restore,
};

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

fn total_rows(archive_dir: &Path) -> u64 {
    Manifest::load(&ArchiveRoot::from(archive_dir))
        .unwrap()
        .parts
        .iter()
        .map(|p| p.rows)
        .sum()
}

#[test]
fn parts_match_their_manifest_entries_and_are_time_ordered() {
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

    let manifest = Manifest::load(&ArchiveRoot::from(&archive_dir)).unwrap();
    assert_eq!(manifest.parts.len() as u64, report.parts_written);
    for part in &manifest.parts {
        let path = archive_dir.join(&part.path);
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(bytes.len() as u64, part.bytes);
        assert_eq!(crc32fast::hash(&bytes), part.crc32);
        assert!(part.path.starts_with(&format!(
            "account={ACCOUNT}/region={}/year=2021/month=01/part-",
            part.region
        )));

        let reader =
            parquet::file::reader::SerializedFileReader::new(std::fs::File::open(&path).unwrap())
                .unwrap();
        let metadata = reader.metadata();
        assert_eq!(metadata.num_row_groups() as u64, part.row_groups);
        let row_group = metadata.row_group(0);
        let eventid = row_group
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
        assert_eq!(part.min_event_time_us, times.first().copied());
        assert_eq!(part.max_event_time_us, times.last().copied());
    }
    let empty = manifest.files.iter().find(|f| f.records == 0).unwrap();
    assert_eq!(empty.part, None);

    let out = dir.path().join("restored");
    let restored = restore(
        &ArchiveRoot::from(&archive_dir),
        &FileFilter::default(),
        &out,
        false,
    )
    .unwrap();
    assert_eq!(restored.files, 8);
    for file in &manifest.files {
        let original = std::fs::read(trail.join(&file.key)).unwrap();
        assert_eq!(
            std::fs::read(out.join(&file.key)).unwrap(),
            original,
            "{}",
            file.key
        );
    }

    // Filters select by region and by key prefix.
    let mut filter = FileFilter::default();
    filter.files.regions = vec!["eu-west-1".into()];
    let out = dir.path().join("eu");
    assert_eq!(
        restore(&ArchiveRoot::from(&archive_dir), &filter, &out, false)
            .unwrap()
            .files,
        2
    );
}

#[test]
fn a_crash_between_part_and_commit_loses_and_duplicates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let trail = dir.path().join("trail");
    let archive_dir = dir.path().join("archive");
    write_log(&trail, "us-east-1", 0, &[record(1, "A"), record(2, "B")]);
    run(&trail, &archive_dir, &WriteOptions::default());
    write_log(&trail, "us-east-1", 1, &[record(3, "C")]);
    run(&trail, &archive_dir, &WriteOptions::default());
    assert_eq!(total_rows(&archive_dir), 3);

    // Undo the second commit: its part stays on disk, as after a crash just
    // before the commit landed. A stray temporary file is there too.
    // (Its parts summary stays, as it would: summaries land before their commit.)
    let mut commits: Vec<_> = std::fs::read_dir(archive_dir.join(COMMITS_DIR))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| !p.to_string_lossy().ends_with(PARTS_SUFFIX))
        .collect();
    commits.sort();
    std::fs::remove_file(commits.last().unwrap()).unwrap();
    // A query reads the parts of committed commits only.
    assert_eq!(
        load_parts(&ArchiveRoot::from(&archive_dir)).unwrap().len(),
        1
    );
    let partition = archive_dir.join(format!(
        "account={ACCOUNT}/region=us-east-1/year=2021/month=01"
    ));
    std::fs::write(partition.join(".tmp-part-crashed"), b"half a part").unwrap();
    let parts_on_disk = || std::fs::read_dir(&partition).unwrap().count();
    assert_eq!(parts_on_disk(), 3);
    assert_eq!(total_rows(&archive_dir), 2);

    // Within the grace period the files could belong to a concurrent writer: kept.
    write_log(&trail, "us-east-1", 2, &[record(4, "D")]);
    run(&trail, &archive_dir, &WriteOptions::default());
    assert_eq!(parts_on_disk(), 4);
    assert_eq!(total_rows(&archive_dir), 4);

    // Once stale, they are removed.
    let stale = std::time::SystemTime::now() - ORPHAN_GRACE * 2;
    for entry in std::fs::read_dir(&partition).unwrap() {
        let file = std::fs::File::options()
            .write(true)
            .open(entry.unwrap().path())
            .unwrap();
        file.set_modified(stale).unwrap();
    }

    write_log(&trail, "us-east-1", 3, &[record(5, "E")]);
    let report = run(&trail, &archive_dir, &WriteOptions::default());
    assert_eq!(report.files_archived, 1);
    assert_eq!(report.files_already_archived, 3);
    assert_eq!(total_rows(&archive_dir), 5);
    assert_eq!(
        parts_on_disk(),
        3,
        "the orphan and the temporary file are gone"
    );
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
    assert!(
        Manifest::load(&ArchiveRoot::from(&archive_dir))
            .unwrap()
            .file(&vanishing)
            .is_none()
    );

    std::fs::write(trail.join(&vanishing), content).unwrap();
    let report = run(&trail, &archive_dir, &WriteOptions::default());
    assert_eq!(report.files_archived, 1, "the next run picks it up");
    assert_eq!(total_rows(&archive_dir), 2);
}
