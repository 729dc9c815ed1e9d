//! Per-stage throughput over the bundled sample tree, in uncompressed bytes:
//! gunzip (libdeflate, what `gunzip` uses, against flate2 with zlib-rs, its
//! streaming reference, on the sample's small files and on one large file of the
//! same records), SHA-256, record spans (trailpack's
//! scanner against serde_json's RawValue, which finds top-level spans only) and
//! full parses (simd-json, sonic-rs: no spans, for scale), normalise + prove,
//! rebuild, Parquet writing (zstd levels, row-group sizes and the archive's own
//! settings), and the whole archive run.
//!
//! `cargo bench --bench stages`

use std::path::Path;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use trailpack_archive::{IntegrityInputs, NoProgress, WriteOptions, archive};
use trailpack_decode::{DecodeOptions, decode_bytes, gunzip, gunzip_streaming, sha256};
use trailpack_schema::encode::Style;
use trailpack_schema::{BatchBuilder, Rebuilder};

fn sample() -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("sample");
    let listing = trailpack_source::list(&root).expect("the bundled sample tree");
    let mut stored = Vec::new();
    for file in &listing.files {
        if file.key.ends_with(".json.gz") && file.key.contains("/CloudTrail/") {
            stored.push(file.fetch().unwrap().bytes);
        }
    }
    let raw = stored
        .iter()
        .map(|gz| gunzip(gz, 1 << 30).unwrap())
        .collect();
    (stored, raw)
}

fn stages(c: &mut Criterion) {
    let (stored, raw) = sample();
    let raw_bytes: u64 = raw.iter().map(|r| r.len() as u64).sum();
    let options = DecodeOptions::default();
    let decoded: Vec<_> = raw
        .iter()
        .map(|r| decode_bytes(r.clone(), &options).unwrap())
        .collect();
    let records: Vec<&str> = decoded
        .iter()
        .flat_map(|f| (0..f.records.len()).map(move |i| f.record(i)))
        .collect();
    // The style of each record as decoding saw it, which the archive passes on.
    let styles: Vec<Style> = decoded
        .iter()
        .flat_map(|f| f.records.iter().map(|r| Style::from(r.escapes)))
        .collect();

    let mut group = c.benchmark_group("stages");
    group.throughput(Throughput::Bytes(raw_bytes));
    for (name, inflate) in gunzips() {
        group.bench_function(BenchmarkId::new("gunzip", name), |b| {
            b.iter(|| {
                stored
                    .iter()
                    .map(|gz| inflate(gz, 1 << 30).unwrap().len())
                    .sum::<usize>()
            })
        });
    }
    group.bench_function("sha256", |b| {
        b.iter(|| raw.iter().map(|r| sha256(r)[0]).fold(0, u8::wrapping_add))
    });
    group.bench_function(BenchmarkId::new("spans", "trailpack-scanner"), |b| {
        b.iter(|| {
            raw.iter()
                .map(|r| decode_bytes(r.clone(), &options).unwrap().records.len())
                .sum::<usize>()
        })
    });
    group.bench_function(BenchmarkId::new("spans", "serde_json-rawvalue"), |b| {
        #[derive(serde::Deserialize)]
        struct File<'a> {
            #[serde(borrow, rename = "Records")]
            records: Vec<&'a serde_json::value::RawValue>,
        }
        b.iter(|| {
            raw.iter()
                .map(|r| serde_json::from_slice::<File<'_>>(r).unwrap().records.len())
                .sum::<usize>()
        })
    });
    group.bench_function(BenchmarkId::new("parse", "simd-json"), |b| {
        let mut copies = raw.clone();
        b.iter(|| {
            copies
                .iter_mut()
                .zip(&raw)
                .map(|(copy, original)| {
                    copy.copy_from_slice(original);
                    simd_json::to_borrowed_value(copy).is_ok() as usize
                })
                .sum::<usize>()
        })
    });
    group.bench_function(BenchmarkId::new("parse", "sonic-rs"), |b| {
        b.iter(|| {
            raw.iter()
                .map(|r| sonic_rs::from_slice::<sonic_rs::Value>(r).is_ok() as usize)
                .sum::<usize>()
        })
    });
    group.bench_function("normalise+prove", |b| {
        b.iter(|| {
            let mut builder = BatchBuilder::new();
            for (index, (record, style)) in records.iter().zip(&styles).enumerate() {
                builder
                    .append_in_style(record, *style, "key", index as u32)
                    .unwrap();
            }
            builder.finish_verified(&records).unwrap().0.num_rows()
        })
    });
    let mut builder = BatchBuilder::new();
    for (index, record) in records.iter().enumerate() {
        builder.append(record, "key", index as u32).unwrap();
    }
    let (batch, _) = builder.finish_verified(&records).unwrap();
    group.bench_function("rebuild", |b| {
        b.iter(|| {
            let mut rebuilder = Rebuilder::try_new(&batch).unwrap();
            let mut out = Vec::new();
            for row in 0..batch.num_rows() {
                out.clear();
                rebuilder.rebuild(row, &mut out).unwrap();
            }
            out.len()
        })
    });
    group.finish();
    large_file(c, &records);
    parquet_write(c, &records, raw_bytes);

    let mut group = c.benchmark_group("stages");
    group.throughput(Throughput::Bytes(raw_bytes));
    group.sample_size(10);
    group.bench_function("archive", |b| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("sample");
        b.iter(|| {
            let dir = tempfile::tempdir().unwrap();
            let files = trailpack_source::list(&root).unwrap().files;
            archive(
                &dir.path().into(),
                files,
                &WriteOptions::default(),
                &IntegrityInputs::default(),
                &NoProgress,
            )
            .unwrap()
            .records_out
        })
    });
    group.finish();
}

/// Gunzip of one large file (the sample's records repeated to about 3 MB, as a
/// busy account's 5-minute file).
fn large_file(c: &mut Criterion, records: &[&str]) {
    use std::io::Write;
    let mut raw = b"{\"Records\":[".to_vec();
    while raw.len() < 3 << 20 {
        for record in records {
            if raw.len() > 12 {
                raw.push(b',');
            }
            raw.extend_from_slice(record.as_bytes());
        }
    }
    raw.extend_from_slice(b"]}");
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(&raw).unwrap();
    let gz = encoder.finish().unwrap();
    let mut group = c.benchmark_group("large-file");
    group.throughput(Throughput::Bytes(raw.len() as u64));
    for (name, inflate) in gunzips() {
        group.bench_function(BenchmarkId::new("gunzip", name), |b| {
            b.iter(|| inflate(&gz, 1 << 30).unwrap().len())
        });
    }
    group.finish();
}

/// The two gunzips: libdeflate (what the archive uses) and zlib-rs (streaming).
fn gunzips() -> [(&'static str, Gunzip); 2] {
    [("libdeflate", gunzip), ("zlib-rs", gunzip_streaming)]
}

type Gunzip = fn(&[u8], usize) -> Result<Vec<u8>, trailpack_decode::DecodeError>;

/// Parquet writing of proven batches (the sample's records repeated to 16,384
/// rows, each with an eventID and requestID of its own, as no two events share
/// them) at zstd levels 1, 3, 9 and 19, at row-group sizes, and with the
/// archive's settings (levels per column, encodings, statistics, bloom filters);
/// the output size is printed once per setting.
fn parquet_write(c: &mut Criterion, records: &[&str], raw_bytes: u64) {
    use parquet::arrow::ArrowWriter;
    use parquet::basic::{Compression, ZstdLevel};
    use parquet::file::properties::WriterProperties;
    let rows: Vec<String> = records
        .iter()
        .cycle()
        .take(16_384)
        .enumerate()
        .map(|(index, record)| with_unique_ids(record, index as u64))
        .collect();
    let rows: Vec<&str> = rows.iter().map(String::as_str).collect();
    let mut builder = BatchBuilder::new();
    for (index, record) in rows.iter().enumerate() {
        builder.append(record, "key", index as u32).unwrap();
    }
    let (batch, _) = builder.finish_verified(&rows).unwrap();
    let scale = rows.len() as u64 * raw_bytes / records.len() as u64;
    let write_with = |properties: WriterProperties| {
        let mut writer =
            ArrowWriter::try_new(Vec::new(), batch.schema(), Some(properties)).unwrap();
        writer.write(&batch).unwrap();
        writer.into_inner().unwrap().len()
    };
    let write = |level: i32, row_group_rows: usize| {
        write_with(
            WriterProperties::builder()
                .set_compression(Compression::ZSTD(ZstdLevel::try_new(level).unwrap()))
                .set_max_row_group_row_count(Some(row_group_rows))
                .build(),
        )
    };
    let mut group = c.benchmark_group("parquet-write");
    group.throughput(Throughput::Bytes(scale));
    group.sample_size(10);
    for level in [1, 3, 9, 19] {
        eprintln!("parquet-write zstd {level}: {} bytes", write(level, 16_384));
        group.bench_function(BenchmarkId::new("zstd", level), |b| {
            b.iter(|| write(level, 16_384))
        });
    }
    for row_group_rows in [1024, 4096, 16_384] {
        eprintln!(
            "parquet-write row groups of {row_group_rows}: {} bytes",
            write(3, row_group_rows)
        );
        group.bench_function(BenchmarkId::new("row-group-rows", row_group_rows), |b| {
            b.iter(|| write(3, row_group_rows))
        });
    }
    let archive_settings = || WriteOptions::default().writer_properties().unwrap();
    eprintln!(
        "parquet-write archive settings: {} bytes",
        write_with(archive_settings())
    );
    group.bench_function("archive-settings", |b| {
        b.iter(|| write_with(archive_settings()))
    });
    group.finish();
}

/// `record` with the UUIDs of its first eventID and requestID (the record's own, in
/// the sample) replaced by ones made from `seed` (splitmix64), so that repeated
/// records do not repeat them.
fn with_unique_ids(record: &str, seed: u64) -> String {
    let mut state = seed;
    let mut next = || {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    let mut record = record.to_string();
    for key in ["\"eventID\":\"", "\"requestID\":\""] {
        let Some(at) = record.find(key).map(|at| at + key.len()) else {
            continue;
        };
        if record.as_bytes().get(at + 36) != Some(&b'"') {
            continue;
        }
        let (high, low) = (next(), next());
        let uuid = format!(
            "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
            high >> 32,
            (high >> 16) & 0xffff,
            high & 0xffff,
            low >> 48,
            low & 0xffff_ffff_ffff
        );
        record.replace_range(at..at + 36, &uuid);
    }
    record
}

criterion_group!(benches, stages);
criterion_main!(benches);
