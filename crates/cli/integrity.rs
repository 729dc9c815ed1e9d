//! `validate` (digest chains over a raw trail tree) and `verify` (an archive).

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use trailpack_decode::{DEFAULT_MAX_FILE_BYTES, gunzip, sha256};
use trailpack_digest::{DigestInput, FileKind, PublicKeys, ValidationReport};
use trailpack_source::{Compression, FileKind as SourceKind, SourceFile};

use crate::args::{ValidateArgs, VerifyArgs};

/// Load public keys from files (list-public-keys JSON, PEM or DER).
pub fn load_keys(paths: &[PathBuf]) -> anyhow::Result<PublicKeys> {
    let mut keys = PublicKeys::default();
    for path in paths {
        let bytes = std::fs::read(path).with_context(|| format!("{}", path.display()))?;
        keys.load(&bytes)
            .with_context(|| format!("{}", path.display()))?;
    }
    Ok(keys)
}

/// Load and merge signature sidecars: those found in source trees, then those
/// named on the command line (which win).
pub fn load_signatures(
    found: &[PathBuf],
    named: &[PathBuf],
) -> anyhow::Result<BTreeMap<String, String>> {
    let mut signatures = BTreeMap::new();
    for path in found.iter().chain(named) {
        let bytes = std::fs::read(path).with_context(|| format!("{}", path.display()))?;
        let loaded = trailpack_digest::load_signatures(&bytes)
            .with_context(|| format!("{}", path.display()))?;
        signatures.extend(loaded);
    }
    Ok(signatures)
}

/// Source files fetched at once while validating.
const VALIDATE_WAVE: usize = 256;

/// The uncompressed bytes of a fetched source file.
fn uncompressed(file: &SourceFile, stored: Vec<u8>) -> Option<Vec<u8>> {
    match file.name.compression {
        Compression::Gzip => gunzip(&stored, DEFAULT_MAX_FILE_BYTES).ok(),
        Compression::None => Some(stored),
    }
}

/// Fetch `files` in waves and map each through `f` (in parallel), in order.
fn fetch_map<T: Send>(
    files: &[SourceFile],
    f: impl Fn(&SourceFile, trailpack_source::Fetched) -> T + Sync,
    unreadable: impl Fn(&SourceFile) -> T + Sync,
) -> Vec<T> {
    use rayon::prelude::*;
    let mut out = Vec::with_capacity(files.len());
    for wave in files.chunks(VALIDATE_WAVE) {
        let fetched = trailpack_source::fetch_all(wave);
        out.par_extend(
            fetched
                .into_par_iter()
                .zip(wave.par_iter())
                .map(|(fetched, file)| match fetched {
                    Ok(fetched) => f(file, fetched),
                    Err(_) => unreadable(file),
                }),
        );
    }
    out
}

pub fn validate(args: ValidateArgs) -> anyhow::Result<u8> {
    let mut out = std::io::stdout().lock();
    let keys = load_keys(&args.public_keys)?;
    let filter = trailpack_source::Filter {
        accounts: args.account.clone(),
        regions: args.region.clone(),
        from: None,
        until: None,
    };
    let mut logs: Vec<SourceFile> = Vec::new();
    let mut digest_files = Vec::new();
    let mut sidecars = Vec::new();
    for source in &args.sources {
        let listing = trailpack_source::list_source(source, &args.s3.options())?;
        sidecars.extend(listing.signatures);
        for file in listing.files {
            if !filter.matches(&file.name) {
                continue;
            }
            match file.name.kind {
                SourceKind::Digest => digest_files.push(file),
                SourceKind::Log | SourceKind::Insight => logs.push(file),
            }
        }
    }
    if digest_files.is_empty() {
        // Nothing validated is not a pass.
        eprintln!(
            "trailpack: no digest files (CloudTrail-Digest/) under {} with these filters",
            args.sources
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>()
                .join(", ")
        );
        return Ok(1);
    }
    let signatures = load_signatures(&sidecars, &args.signatures)?;
    let digests: Vec<DigestInput> = fetch_map(
        &digest_files,
        |file, fetched| DigestInput {
            key: file.key.clone(),
            // A digest that cannot be gunzipped shows as invalid format.
            bytes: uncompressed(file, fetched.bytes).unwrap_or_default(),
            signature: signatures
                .get(&file.key)
                .cloned()
                .or(fetched.metadata.signature),
        },
        // Nor can one that cannot be read.
        |file| DigestInput {
            key: file.key.clone(),
            bytes: Vec::new(),
            signature: signatures.get(&file.key).cloned(),
        },
    );
    let hashes: HashMap<String, Option<String>> = logs
        .iter()
        .map(|file| file.key.clone())
        .zip(fetch_map(
            &logs,
            |file, fetched| {
                uncompressed(file, fetched.bytes).map(|bytes| trailpack_parts::hex(&sha256(&bytes)))
            },
            |_| None,
        ))
        .collect();
    let from = args.from.map(|t| t.compact());
    let until = args.until.map(|t| t.compact());
    let in_range = |end: &str| {
        from.as_deref().is_none_or(|f| end >= f) && until.as_deref().is_none_or(|u| end < u)
    };
    let report = trailpack_digest::validate(
        digests,
        &keys,
        |key| hashes.get(key).cloned().flatten(),
        in_range,
    );
    if args.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&report)?)?;
    } else {
        print_validation(&report)?;
    }
    Ok(u8::from(!report.all_valid()))
}

fn print_validation(report: &ValidationReport) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    for result in &report.results {
        writeln!(out, "{result}")?;
    }
    writeln!(out)?;
    for chain in &report.chains {
        writeln!(
            out,
            "chain {}: {} digests from {} to {}, {} gaps",
            chain.id,
            chain.digests,
            chain.first.as_deref().unwrap_or("-"),
            chain.last.as_deref().unwrap_or("-"),
            chain.gaps
        )?;
    }
    let (valid, total) = report.count(FileKind::Digest);
    writeln!(out, "{valid}/{total} digest files valid")?;
    let (valid, total) = report.count(FileKind::Log);
    writeln!(out, "{valid}/{total} log files valid")?;
    Ok(())
}

pub fn verify(args: VerifyArgs) -> anyhow::Result<u8> {
    let mut out = std::io::stdout().lock();
    let root = crate::open_archive(&args.archive, &args.s3)?;
    let options = trailpack_query::VerifyOptions {
        deep: args.deep,
        digests: args.digests,
        public_keys: load_keys(&args.public_keys)?,
        jobs: args.jobs.map(usize::from),
    };
    let report = trailpack_query::verify(&root, &options)?;
    if args.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&report)?)?;
    } else {
        print_verify(&root, &report)?;
    }
    Ok(u8::from(!report.is_clean()))
}

fn print_verify(
    archive: &trailpack_store::ArchiveRoot,
    report: &trailpack_query::VerifyReport,
) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    for problem in &report.problems {
        writeln!(out, "PROBLEM: {problem}")?;
    }
    for warning in &report.warnings {
        writeln!(out, "warning: {warning}")?;
    }
    if let Some(digests) = &report.digests {
        for result in digests.results.iter().filter(|r| !r.verdict.is_valid()) {
            writeln!(out, "{result}")?;
        }
    }
    writeln!(out, "archive {archive}:")?;
    writeln!(
        out,
        "  parts: {}/{} ok (size, CRC-32, Parquet footer, rows)",
        report.parts_ok, report.parts
    )?;
    if report.files_rebuilt > 0 {
        writeln!(
            out,
            "  files: {}/{} rebuilt with their recorded SHA-256",
            report.files_ok, report.files_rebuilt
        )?;
    }
    writeln!(
        out,
        "  quarantined files kept: {}",
        report.quarantined_present
    )?;
    writeln!(
        out,
        "  stored digests: {}/{} intact (size, SHA-256)",
        report.digest_files_ok, report.digest_files
    )?;
    if let Some(digests) = &report.digests {
        let (valid, total) = digests.count(FileKind::Digest);
        writeln!(out, "  {valid}/{total} digest files valid")?;
        let (valid, total) = digests.count(FileKind::Log);
        writeln!(
            out,
            "  {valid}/{total} log files valid (hashes of files rebuilt from the archive)"
        )?;
        let gaps: usize = digests.chains.iter().map(|c| c.gaps).sum();
        writeln!(out, "  {} chains, {gaps} gaps", digests.chains.len())?;
    }
    writeln!(
        out,
        "  result: {}",
        if report.is_clean() {
            "clean"
        } else {
            "PROBLEMS FOUND"
        }
    )?;
    Ok(())
}
