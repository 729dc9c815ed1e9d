//! Per-stage throughput over the bundled sample tree, in uncompressed bytes:
//! gunzip, SHA-256, record spans (trailpack's scanner against serde_json's
//! RawValue, which finds top-level spans only), normalise + prove, rebuild, and
//! the whole archive run.
//!
//! `cargo bench --bench stages`

use std::path::Path;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use trailpack_archive::{IntegrityInputs, NoProgress, WriteOptions, archive};
use trailpack_decode::{DecodeOptions, decode_bytes, gunzip, sha256};
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
    let records: Vec<&[u8]> = decoded
        .iter()
        .flat_map(|f| (0..f.records.len()).map(move |i| f.record(i)))
        .collect();

    let mut group = c.benchmark_group("stages");
    group.throughput(Throughput::Bytes(raw_bytes));
    group.bench_function("gunzip", |b| {
        b.iter(|| {
            stored
                .iter()
                .map(|gz| gunzip(gz, 1 << 30).unwrap().len())
                .sum::<usize>()
        })
    });
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
    group.bench_function("normalise+prove", |b| {
        b.iter(|| {
            let mut builder = BatchBuilder::new();
            for (index, record) in records.iter().enumerate() {
                builder.append(record, "key", index as u32).unwrap();
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
    group.sample_size(10);
    group.bench_function("archive", |b| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("sample");
        b.iter(|| {
            let dir = tempfile::tempdir().unwrap();
            let files = trailpack_source::list(&root).unwrap().files;
            archive(
                dir.path(),
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

criterion_group!(benches, stages);
criterion_main!(benches);
