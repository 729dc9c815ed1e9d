//! `trailpack archive`: arguments become a [`Run`] (options, filter, archive,
//! integrity inputs), then the library archives the sources as they are listed.

use std::io::Write;
use std::sync::Mutex;

use anyhow::Context;
use trailpack_archive::{
    IntegrityInputs, Progress, QuarantinedFile, RunReport, Shard, SourceBatch, SourceBatches,
    WriteOptions,
};
use trailpack_source::{Filter, SourceFile, UtcTime};
use trailpack_store::{ArchiveRoot, S3Options};
use trailpack_table::keys::StoredPublicKey;

use crate::args::ArchiveArgs;
use crate::progress::CliProgress;
use crate::{integrity, mb};

/// An `archive` run, from its arguments.
struct Run {
    root: ArchiveRoot,
    options: WriteOptions,
    filter: Filter,
    s3: S3Options,
    integrity: IntegrityInputs,
}

impl Run {
    fn from_args(args: &ArchiveArgs) -> anyhow::Result<Run> {
        let mut options = WriteOptions::try_new(args.partition.map(Into::into), args.zstd_level)?;
        options.row_group_rows = args.row_group_rows;
        options.part_bytes = args.part_mib << 20;
        options.decode = args.limits.options();
        if let Some((index, count)) = args.shard {
            options.shard = Some(Shard::try_new(index, count)?);
        }
        let cutoff = args.older_than.map(UtcTime::before_now);
        let filter = Filter {
            accounts: args.account.clone(),
            regions: args.region.clone(),
            from: args.from,
            until: match (args.until, cutoff) {
                (Some(until), Some(cutoff)) => Some(until.min(cutoff)),
                (until, cutoff) => until.or(cutoff),
            },
        };
        let s3 = args.s3.options();
        let integrity = IntegrityInputs {
            signatures: integrity::load_signatures(&[], &args.signatures)?,
            public_keys: integrity::load_keys(&args.public_keys)?
                .iter()
                .map(StoredPublicKey::from)
                .collect(),
        };
        Ok(Run {
            root: ArchiveRoot::open(&args.to, &s3)?,
            options,
            filter,
            s3,
            integrity,
        })
    }
}

/// What the listing found besides the files it hands over, kept while the run
/// goes on.
#[derive(Default)]
struct Listed {
    /// The listed files that `--delete-sources` may delete (empty without it).
    sources: Vec<SourceFile>,
    /// Objects that are not CloudTrail files.
    skipped: Vec<QuarantinedFile>,
    /// Seconds from the start of the listing to its last batch.
    seconds: f64,
}

/// Every source, listed batch by batch (local trees a directory at a time, S3 a
/// month prefix at a time), filtered, with the skipped objects reported as found.
fn batches<'a>(
    args: &'a ArchiveArgs,
    run: &'a Run,
    listed: &'a Mutex<Listed>,
    progress: &'a dyn Progress,
) -> anyhow::Result<SourceBatches<'a>> {
    let started = std::time::Instant::now();
    let mut sources = Vec::new();
    for source in &args.sources {
        sources.push(trailpack_source::list_source_batches(source, &run.s3)?);
    }
    Ok(Box::new(sources.into_iter().flatten().map(move |batch| {
        let mut batch = batch?;
        batch.files.retain(|f| run.filter.matches(&f.name));
        let mut listed = listed.lock().unwrap_or_else(|e| e.into_inner());
        for skip in batch.skipped {
            progress.warn(&format!("{}: skipped: {}", skip.location, skip.reason));
            listed.skipped.push(QuarantinedFile {
                key: skip.location.to_string(),
                reason: skip.reason,
            });
        }
        if args.delete_sources {
            listed.sources.extend(batch.files.iter().cloned());
        }
        listed.seconds = started.elapsed().as_secs_f64();
        Ok(SourceBatch {
            files: batch.files,
            signatures: batch.signatures,
        })
    })))
}

pub fn archive(args: ArchiveArgs) -> anyhow::Result<u8> {
    crate::set_threads(args.threads)?;
    let run = Run::from_args(&args)?;
    let progress = CliProgress::new(args.quiet || args.dry_run);
    let listed = Mutex::new(Listed::default());
    let sources = batches(&args, &run, &listed, &progress)?;
    if args.dry_run {
        return dry_run(&args, &run, sources, &listed);
    }
    let mut report = trailpack_archive::archive_batches(
        &run.root,
        sources,
        &run.options,
        &run.integrity,
        &progress,
    )?;
    progress.finish();
    let listed = listed.into_inner().unwrap_or_else(|e| e.into_inner());
    report.stages.list = listed.seconds;
    report.files_skipped = listed.skipped.len() as u64;
    report.skipped = listed.skipped;
    let delete_started = std::time::Instant::now();
    let deleted = if args.delete_sources {
        Some(trailpack_archive::delete_sources(
            &run.root,
            &listed.sources,
            &run.options,
            &progress,
        )?)
    } else {
        None
    };
    report.stages.verify_delete = delete_started.elapsed().as_secs_f64();
    if let Some(path) = &args.report {
        let mut json = serde_json::to_value(&report)?;
        if let Some(deleted) = &deleted {
            json["deletion"] = serde_json::to_value(deleted)?;
        }
        std::fs::write(path, serde_json::to_vec_pretty(&json)?)
            .with_context(|| format!("{}: cannot write the report", path.display()))?;
    }
    if !args.quiet {
        print_run(&report)?;
        if let Some(deleted) = &deleted {
            println!(
                "  deleted {} source files ({}) after verifying them; kept {}",
                deleted.deleted,
                mb(deleted.bytes_deleted),
                deleted.kept.len()
            );
        }
    }
    let deletion_problems = deleted.as_ref().is_some_and(|d| d.problems > 0);
    Ok(u8::from(
        report.files_quarantined > 0
            || report.files_unreadable > 0
            || report.files_too_large > 0
            || deletion_problems,
    ))
}

/// `archive --dry-run`: what would be read, by partition, and what
/// `--delete-sources` would delete now.
fn dry_run(
    args: &ArchiveArgs,
    run: &Run,
    sources: SourceBatches<'_>,
    listed: &Mutex<Listed>,
) -> anyhow::Result<u8> {
    let plan = trailpack_archive::plan(&run.root, sources, &run.options)?;
    let listed = std::mem::take(&mut *listed.lock().unwrap_or_else(|e| e.into_inner()));
    let mut out = std::io::stdout().lock();
    for partition in &plan.partitions {
        writeln!(
            out,
            "{}: {} files, {}{}",
            partition.partition.dir(),
            partition.files,
            mb(partition.bytes),
            if partition.digests > 0 {
                format!(", {} digest files", partition.digests)
            } else {
                String::new()
            }
        )?;
    }
    let files: u64 = plan.partitions.iter().map(|p| p.files).sum();
    let digests: u64 = plan.partitions.iter().map(|p| p.digests).sum();
    writeln!(
        out,
        "plan: archive {files} files ({}) in {} partitions and {digests} new digest files; {} already archived; {} in other shards",
        mb(plan.partitions.iter().map(|p| p.bytes).sum()),
        plan.partitions.iter().filter(|p| p.files > 0).count(),
        plan.report.files_already_archived,
        plan.report.files_in_other_shards
    )?;
    if args.delete_sources {
        let deletable =
            trailpack_archive::verified_sources(&run.root, &listed.sources, &run.options)?.0;
        writeln!(
            out,
            "plan: delete {} source files ({}) already archived and verified; files archived by this run are deleted after they verify",
            deletable.len(),
            mb(deletable.iter().map(|f| f.size).sum())
        )?;
    }
    writeln!(out, "dry run: nothing written")?;
    Ok(0)
}

fn print_run(report: &RunReport) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    let seconds = report.seconds.max(1e-9);
    writeln!(
        out,
        "archived {} files ({} records, {} raw, {} stored) into {} parts ({}) in {:.1} s",
        report.files_archived,
        report.records_out,
        mb(report.raw_bytes_in),
        mb(report.bytes_in),
        report.parts_written,
        mb(report.bytes_out),
        report.seconds
    )?;
    if report.records_in > 0 {
        writeln!(
            out,
            "  {:.0} records/s, {:.1} MB/s uncompressed; archive bytes / stored bytes = {:.3}",
            report.records_in as f64 / seconds,
            report.raw_bytes_in as f64 / 1e6 / seconds,
            report.bytes_out as f64 / report.bytes_in.max(1) as f64
        )?;
    }
    writeln!(
        out,
        "  {} already archived, {} digest files found ({} stored), {} other files skipped",
        report.files_already_archived,
        report.digest_files,
        report.digests_archived,
        report.files_skipped
    )?;
    writeln!(
        out,
        "  {} files quarantined, {} unreadable, {} too large to read; {} records in {} files stored whole (fallback)",
        report.files_quarantined,
        report.files_unreadable,
        report.files_too_large,
        report.fallback_records,
        report.fallback_files
    )?;
    writeln!(
        out,
        "  {} duplicate records (same eventID and recipientAccountId as an earlier record of this run; all kept)",
        report.duplicate_records
    )?;
    if report.commits_recovered + report.commits_abandoned > 0 {
        writeln!(
            out,
            "  finished {} commits an interrupted run left, gave up {} (their files were archived again)",
            report.commits_recovered, report.commits_abandoned
        )?;
    }
    let stages = &report.stages;
    writeln!(
        out,
        "  seconds: list {:.2}, read wait {:.2}, decode {:.2}, normalise {:.2}, encode {:.2}, commit {:.2}, digests {:.2}",
        stages.list,
        stages.read_wait,
        stages.decode,
        stages.normalise,
        stages.encode,
        stages.commit,
        stages.digests
    )?;
    Ok(())
}
