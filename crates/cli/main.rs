//! `trailpack`: compact AWS CloudTrail log files into indexed, lossless Parquet
//! archives, and get the original files back byte for byte.
//!
//! Exit status: 0 when all is clean, 1 when some input was quarantined (or a check
//! found a problem), 2 on usage or fatal errors.

mod args;
mod integrity;
mod progress;
mod query;

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use trailpack_archive::{ArchiveRoot, FileFilter, Progress, RunReport, Stats, WriteOptions};

use crate::args::{
    ArchiveArgs, Cli, Command, CompactArgs, DdlEngine, PartitionArg, RestoreArgs, S3Args,
    SchemaArgs, StatsArgs,
};
use crate::progress::CliProgress;
use trailpack_schema::ddl::{Engine, ddl};

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    match run(cli) {
        Ok(code) => ExitCode::from(code),
        // A reader that closed the pipe (`| head`) is not an error.
        Err(e)
            if e.downcast_ref::<std::io::Error>()
                .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe) =>
        {
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("trailpack: error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<u8> {
    match cli.command {
        Command::Archive(args) => archive(args),
        Command::Restore(args) => restore(args),
        Command::Stats(args) => stats(args),
        Command::Schema(args) => schema(args),
        Command::Query(args) => query::run(args),
        Command::Validate(args) => integrity::validate(args),
        Command::Verify(args) => integrity::verify(args),
        Command::Compact(args) => compact(args),
    }
}

/// Size the global thread pool when asked.
fn set_threads(threads: Option<usize>) -> anyhow::Result<()> {
    if let Some(threads) = threads {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build_global()
            .context("cannot start the thread pool")?;
    }
    Ok(())
}

fn compact(args: CompactArgs) -> anyhow::Result<u8> {
    set_threads(args.threads)?;
    let root = open_archive(&args.archive, &args.s3)?;
    let mut options = WriteOptions::try_new(Default::default(), args.zstd_level)?;
    options.part_bytes = args.part_mib << 20;
    let progress = CliProgress::new(args.quiet);
    let report = trailpack_archive::compact(&root, &options, args.dry_run, &progress)?;
    progress.finish();
    let verb = if args.dry_run {
        "would merge"
    } else {
        "merged"
    };
    println!(
        "{verb} {} small parts ({}, {} rows) into {} parts{}; {} parts before, {} after, in {:.1} s",
        report.parts_retired,
        mb(report.bytes_retired),
        report.rows_moved,
        report.parts_written,
        if args.dry_run {
            String::new()
        } else {
            format!(" ({})", mb(report.bytes_written))
        },
        report.parts_before,
        report.parts_before - report.parts_retired + report.parts_written,
        report.seconds
    );
    Ok(0)
}

fn archive(args: ArchiveArgs) -> anyhow::Result<u8> {
    set_threads(args.threads)?;
    let mut options = WriteOptions::try_new(args.partition.into(), args.zstd_level)?;
    options.row_group_rows = args.row_group_rows;
    options.part_bytes = args.part_mib << 20;
    options.decode = trailpack_decode::DecodeOptions {
        max_file_bytes: (args.max_file_mib as usize) << 20,
        max_record_bytes: (args.max_record_kib as usize) << 10,
        max_depth: args.max_depth as usize,
    };
    if let Some((index, count)) = args.shard {
        options.shard = Some(trailpack_archive::Shard::try_new(index, count)?);
    }
    let cutoff = args.older_than.map(trailpack_source::UtcTime::before_now);
    let filter = trailpack_source::Filter {
        accounts: args.account.clone(),
        regions: args.region.clone(),
        from: args.from,
        until: match (args.until, cutoff) {
            (Some(until), Some(cutoff)) => Some(until.min(cutoff)),
            (until, cutoff) => until.or(cutoff),
        },
    };
    let s3_options = args.s3.options();
    let root = ArchiveRoot::open(&args.to, &s3_options)?;
    let listing_started = std::time::Instant::now();
    // Local sources are listed first: their signature sidecars must be known before
    // digests are stored. S3 sources are listed while the archive runs.
    let mut local = trailpack_source::Listing::default();
    let mut remote = Vec::new();
    for source in &args.sources {
        let mut batches = trailpack_source::list_source_batches(source, &s3_options)?;
        if source.starts_with("s3://") && !args.dry_run {
            remote.push(batches);
            continue;
        }
        batches.try_for_each(|batch| -> anyhow::Result<()> {
            let batch = batch?;
            local.files.extend(batch.files);
            local.skipped.extend(batch.skipped);
            local.signatures.extend(batch.signatures);
            Ok(())
        })?;
    }
    local.files.retain(|f| filter.matches(&f.name));
    for skip in &local.skipped {
        eprintln!("trailpack: {}: skipped: {}", skip.location, skip.reason);
    }
    if args.dry_run {
        return dry_run(&args, &root, local.files, &options);
    }
    let inputs = trailpack_archive::IntegrityInputs {
        signatures: integrity::load_signatures(&local.signatures, &args.signatures)?,
        public_keys: integrity::load_keys(&args.public_keys)?
            .iter()
            .map(trailpack_archive::manifest::StoredPublicKey::from)
            .collect(),
    };
    let progress = CliProgress::new(args.quiet);
    let listed = std::sync::Mutex::new(Listed {
        sources: if args.delete_sources {
            local.files.clone()
        } else {
            Vec::new()
        },
        skipped: local.skipped,
        seconds: listing_started.elapsed().as_secs_f64(),
    });
    let remote_batches = remote.into_iter().flatten().map(|batch| {
        let mut batch = batch?;
        batch.files.retain(|f| filter.matches(&f.name));
        let mut listed = listed.lock().expect("listing bookkeeping");
        for skip in &batch.skipped {
            progress.warn(&format!("{}: skipped: {}", skip.location, skip.reason));
        }
        listed.skipped.extend(batch.skipped);
        if args.delete_sources {
            listed.sources.extend(batch.files.iter().cloned());
        }
        listed.seconds = listing_started.elapsed().as_secs_f64();
        Ok(batch.files)
    });
    let batches = Box::new(std::iter::once(Ok(local.files)).chain(remote_batches));
    let mut report =
        trailpack_archive::archive_batches(&root, batches, &options, &inputs, &progress)?;
    progress.finish();
    let Listed {
        sources,
        skipped,
        seconds,
    } = listed.into_inner().expect("listing bookkeeping");
    report.stages.list = seconds;
    report.files_skipped = skipped.len() as u64;
    report.skipped = skipped
        .iter()
        .map(|s| trailpack_archive::QuarantinedFile {
            key: s.location.to_string(),
            reason: s.reason.clone(),
        })
        .collect();
    let delete_started = std::time::Instant::now();
    let deleted = if args.delete_sources {
        Some(trailpack_archive::delete_sources(
            &root, &sources, &options, &progress,
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

/// What the listing of an `archive` run found, kept while the run goes on.
struct Listed {
    /// The listed files that `--delete-sources` may delete (empty without it).
    sources: Vec<trailpack_source::SourceFile>,
    /// Objects that are not CloudTrail files.
    skipped: Vec<trailpack_source::Skipped>,
    /// Seconds from the start of the listing to its last batch.
    seconds: f64,
}

/// `archive --dry-run`: what would be read, by partition, and what
/// `--delete-sources` would delete now.
fn dry_run(
    args: &ArchiveArgs,
    root: &ArchiveRoot,
    files: Vec<trailpack_source::SourceFile>,
    options: &WriteOptions,
) -> anyhow::Result<u8> {
    let deletable = if args.delete_sources {
        Some(trailpack_archive::verified_sources(root, &files, options)?.0)
    } else {
        None
    };
    let plan = trailpack_archive::plan(root, files, options)?;
    let mut out = std::io::stdout().lock();
    for (partition, files) in &plan.partitions {
        writeln!(
            out,
            "{}: {} files, {}",
            partition.dir(),
            files.len(),
            mb(files.iter().map(|f| f.size).sum())
        )?;
    }
    writeln!(
        out,
        "plan: archive {} files ({}) in {} partitions and {} new digest files; {} already archived; {} in other shards",
        plan.files() - plan.digests.len(),
        mb(plan.bytes()),
        plan.partitions.len(),
        plan.digests.len(),
        plan.report.files_already_archived,
        plan.report.files_in_other_shards
    )?;
    if let Some(deletable) = deletable {
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

/// Open the archive at `location` (a directory or an `s3://` URL); fail with a clear
/// message unless it holds a trailpack archive.
fn open_archive(location: &str, s3: &S3Args) -> anyhow::Result<ArchiveRoot> {
    let root = ArchiveRoot::open(location, &s3.options())?;
    if !root.has_dir(trailpack_archive::manifest::COMMITS_DIR)? {
        anyhow::bail!("{root}: not a trailpack archive (no commits)");
    }
    Ok(root)
}

fn mb(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
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

fn restore(args: RestoreArgs) -> anyhow::Result<u8> {
    let mut out = std::io::stdout().lock();
    let filter = FileFilter {
        files: trailpack_source::Filter {
            accounts: args.account,
            regions: args.region,
            from: args.from,
            until: args.until,
        },
        key_prefixes: args.key,
    };
    let root = ArchiveRoot::open(&args.archive, &args.s3.options())?;
    let report = trailpack_archive::restore(&root, &filter, &args.to, args.gzip)?;
    writeln!(
        out,
        "restored {} files ({} records, {}) under {}",
        report.files,
        report.records,
        mb(report.raw_bytes),
        args.to.display()
    )?;
    Ok(0)
}

fn stats(args: StatsArgs) -> anyhow::Result<u8> {
    let mut out = std::io::stdout().lock();
    let root = open_archive(&args.archive, &args.s3)?;
    let stats = trailpack_archive::stats(&root)?;
    if args.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&stats)?)?;
    } else {
        print_stats(&root, &stats)?;
    }
    Ok(0)
}

fn list<'a>(items: impl IntoIterator<Item = &'a String>) -> String {
    items
        .into_iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(", ")
}

fn print_stats(archive: &ArchiveRoot, stats: &Stats) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    let ratio = |num: u64, den: u64| num as f64 / den.max(1) as f64;
    writeln!(out, "archive:        {archive}")?;
    writeln!(
        out,
        "accounts:       {} ({})",
        stats.accounts.len(),
        list(&stats.accounts)
    )?;
    writeln!(
        out,
        "regions:        {} ({})",
        stats.regions.len(),
        list(&stats.regions)
    )?;
    writeln!(
        out,
        "events:         {} .. {}",
        stats.first_event.as_deref().unwrap_or("-"),
        stats.last_event.as_deref().unwrap_or("-")
    )?;
    writeln!(
        out,
        "files:          {} archived, {} quarantined ({})",
        stats.files,
        stats.quarantined_files,
        mb(stats.quarantined_bytes)
    )?;
    writeln!(out, "records:        {}", stats.records)?;
    writeln!(
        out,
        "source bytes:   {} stored (gz), {} raw",
        mb(stats.source_bytes),
        mb(stats.source_raw_bytes)
    )?;
    writeln!(
        out,
        "archive bytes:  {} in {} parts, {} commits; {:.3} of stored, {:.3} of raw",
        mb(stats.archive_bytes),
        stats.parts,
        stats.commits,
        ratio(stats.archive_bytes, stats.source_bytes),
        ratio(stats.archive_bytes, stats.source_raw_bytes)
    )?;
    let versions: Vec<String> = stats
        .event_versions
        .iter()
        .map(|(v, n)| format!("{v}={n}"))
        .collect();
    writeln!(out, "eventVersions:  {}", versions.join(", "))?;
    writeln!(
        out,
        "unknown keys:   {}",
        if stats.unknown_paths.is_empty() {
            "none".to_string()
        } else {
            list(&stats.unknown_paths)
        }
    )?;
    writeln!(
        out,
        "fallback:       {} records in {} files stored whole",
        stats.fallback_records, stats.fallback_files
    )?;
    Ok(())
}

fn schema(args: SchemaArgs) -> anyhow::Result<u8> {
    let Some(engine) = args.ddl else {
        print_columns()?;
        return Ok(0);
    };
    let engine = match engine {
        DdlEngine::Athena => Engine::Athena,
        DdlEngine::Trino => Engine::Trino,
        DdlEngine::Duckdb => Engine::DuckDb,
        DdlEngine::Spark => Engine::Spark,
    };
    let local = Path::new(&args.location);
    let levels = if local
        .join(trailpack_archive::manifest::COMMITS_DIR)
        .is_dir()
    {
        let manifest = trailpack_archive::manifest::Manifest::load(&ArchiveRoot::from(local))?;
        let part = manifest.parts.first().with_context(|| {
            format!(
                "{}: the archive has no parts to read its partitions from",
                local.display()
            )
        })?;
        part.path
            .split('/')
            .skip(2)
            .filter_map(|level| level.split_once('=').map(|(name, _)| name.to_string()))
            .collect::<Vec<_>>()
    } else {
        let levels: &[&str] = match args.partition {
            PartitionArg::Year => &["year"],
            PartitionArg::Month => &["year", "month"],
            PartitionArg::Day => &["year", "month", "day"],
        };
        levels.iter().map(|l| l.to_string()).collect()
    };
    let levels: Vec<&str> = levels.iter().map(String::as_str).collect();
    write!(
        std::io::stdout().lock(),
        "{}",
        ddl(engine, &args.location, &args.table, &levels)
    )?;
    Ok(0)
}

fn print_columns() -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "trailpack archive schema, version {} (column, type, storage)",
        trailpack_schema::SCHEMA_VERSION
    )?;
    writeln!(
        out,
        "partition columns: account, region, year, month, day (by --partition)"
    )?;
    let rows = trailpack_schema::fields::describe();
    let width = rows
        .iter()
        .map(|(name, _, _)| name.len())
        .max()
        .unwrap_or(0);
    for (name, type_name, how) in rows {
        writeln!(out, "{name:width$}  {type_name:20}  {how}")?;
    }
    Ok(())
}
