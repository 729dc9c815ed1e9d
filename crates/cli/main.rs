//! `trailpack`: compact AWS CloudTrail log files into indexed, lossless Parquet
//! archives, and get the original files back byte for byte.
//!
//! Exit status: 0 when all is clean, 1 when some input was quarantined (or a check
//! found a problem), 2 on usage or fatal errors.

mod archive;
mod args;
mod detect;
mod integrity;
mod progress;
mod query;

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use clap::Parser;
use trailpack_archive::WriteOptions;
use trailpack_query::{FileFilter, RestoreOptions, Stats};
use trailpack_schema::ddl::{Engine, ddl};
use trailpack_store::ArchiveRoot;
use trailpack_table::Table;

use crate::args::{
    Cli, Command, CompactArgs, DdlEngine, PartitionArg, RestoreArgs, S3Args, SchemaArgs, StatsArgs,
    UpgradeArgs,
};
use crate::progress::CliProgress;

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
            eprintln!("trailpack: error: {}", error_line(&e));
            ExitCode::from(2)
        }
    }
}

/// The error and its sources on one line. The library errors put their cause in
/// their own message too (quarantine reasons are one line), so a source whose text
/// is already there is not repeated. A cause that spans lines (a credential
/// helper's stderr, say) is folded onto the one line.
fn error_line(error: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in error.chain() {
        let text = cause
            .to_string()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        if line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
}

fn run(cli: Cli) -> anyhow::Result<u8> {
    match cli.command {
        Command::Archive(args) => archive::archive(args),
        Command::Restore(args) => restore(args),
        Command::Stats(args) => stats(args),
        Command::Schema(args) => schema(args),
        Command::Query(args) => query::run(args),
        Command::Detect(args) => detect::run(args),
        Command::Validate(args) => integrity::validate(args),
        Command::Verify(args) => integrity::verify(args),
        Command::Compact(args) => compact(args),
        Command::Upgrade(args) => upgrade(args),
    }
}

/// Size the global thread pool when asked.
fn set_threads(threads: Option<usize>) -> anyhow::Result<()> {
    if let Some(threads) = threads {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build_global()
            .map_err(|e| anyhow::anyhow!("cannot start the thread pool: {e}"))?;
    }
    Ok(())
}

fn compact(args: CompactArgs) -> anyhow::Result<u8> {
    set_threads(args.threads)?;
    let root = open_archive(&args.archive, &args.s3)?;
    let mut options = WriteOptions::try_new(None, args.zstd_level)?;
    options.part_bytes = args.part_mib << 20;
    let progress = CliProgress::new(args.quiet);
    let report = trailpack_archive::compact(&root, &options, args.dry_run, &progress)?;
    progress.finish();
    for skipped in &report.skipped {
        eprintln!("trailpack: {skipped}");
    }
    let status = u8::from(!report.skipped.is_empty());
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
    Ok(status)
}

fn upgrade(args: UpgradeArgs) -> anyhow::Result<u8> {
    set_threads(args.threads)?;
    let root = ArchiveRoot::open(&args.archive, &args.s3.options())?;
    let mut options = WriteOptions::try_new(None, args.zstd_level)?;
    options.decode = args.limits.options();
    let progress = CliProgress::new(args.quiet);
    let report = trailpack_archive::upgrade(&root, &options, &progress)?;
    progress.finish();
    if report.commits_removed == 0 {
        println!("{root}: already a Delta table; nothing to upgrade");
        return Ok(0);
    }
    println!(
        "upgraded {root} in {:.1} s: {} parts rewritten ({} converted before), {} files ({} records), {} entries without a part, {} public keys, {} stray parts and {} old commit files removed",
        report.seconds,
        report.parts_converted,
        report.parts_already_converted,
        report.files,
        report.records,
        report.entries_without_part,
        report.public_keys,
        report.orphans_removed,
        report.commits_removed
    );
    Ok(0)
}

/// Open the archive at `location` (a directory or an `s3://` URL); fail with a clear
/// message unless it holds a trailpack archive.
fn open_archive(location: &str, s3: &S3Args) -> anyhow::Result<ArchiveRoot> {
    let root = ArchiveRoot::open(location, &s3.options())?;
    if !Table::exists(&root)? {
        anyhow::bail!("{root}: not a trailpack archive (no _delta_log)");
    }
    Ok(root)
}

fn mb(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
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
    let root = open_archive(&args.archive, &args.s3)?;
    let options = RestoreOptions {
        gzip: args.gzip,
        jobs: args.jobs.map(usize::from),
    };
    let report = trailpack_query::restore(&root, &filter, &args.to, &options)?;
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
    let stats = trailpack_query::stats(&root)?;
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
        "archive bytes:  {} in {} parts, table version {}; {:.3} of stored, {:.3} of raw",
        mb(stats.archive_bytes),
        stats.parts,
        stats.version,
        ratio(stats.archive_bytes, stats.source_bytes),
        ratio(stats.archive_bytes, stats.source_raw_bytes)
    )?;
    writeln!(
        out,
        "bookkeeping:    {} index, {} Delta log, {} other: {:.1} bytes per archived file",
        mb(stats.index_bytes),
        mb(stats.log_bytes),
        mb(stats.other_bookkeeping_bytes),
        stats.bookkeeping_bytes_per_file()
    )?;
    writeln!(out, "digests:        {} files kept", stats.digest_files)?;
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
        DdlEngine::DuckdbParquet => Engine::DuckDbParquet,
        DdlEngine::Spark => Engine::Spark,
    };
    // A local archive says how it is partitioned; otherwise --partition does.
    let local = ArchiveRoot::from(Path::new(&args.location));
    let table = if args.location.starts_with("s3://") {
        None
    } else {
        Table::open_if_any(&local)?
    };
    let partitioning = if let Some(table) = table {
        table.snapshot().partitioning
    } else {
        match args.partition {
            PartitionArg::Year => trailpack_table::Partitioning::Year,
            PartitionArg::Month => trailpack_table::Partitioning::Month,
            PartitionArg::Day => trailpack_table::Partitioning::Day,
        }
    };
    let levels: Vec<&str> = partitioning.columns()[2..].to_vec();
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_line_names_each_cause_once() {
        let store = trailpack_store::StoreError::io(
            "a/part.parquet",
            std::io::Error::new(std::io::ErrorKind::NotFound, "gone"),
        );
        let error = anyhow::Error::new(store).context("reading the archive");
        assert_eq!(
            error_line(&error),
            "reading the archive: a/part.parquet: gone"
        );
    }

    #[test]
    fn an_error_line_is_one_line() {
        let helper = std::io::Error::other("exited with code 3. Stderr: session expired\n\n");
        let error = anyhow::Error::new(helper).context("no credentials");
        assert_eq!(
            error_line(&error),
            "no credentials: exited with code 3. Stderr: session expired"
        );
    }
}
