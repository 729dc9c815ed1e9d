//! Progress display: an indicatif bar on a terminal, plain periodic lines otherwise.

use std::io::IsTerminal;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use trailpack_archive::Progress;

/// How often plain progress lines are printed when stderr is not a terminal.
const PLAIN_INTERVAL: Duration = Duration::from_secs(10);

pub struct CliProgress {
    bar: Option<ProgressBar>,
    plain: bool,
    started: Instant,
    last_line: Mutex<Instant>,
    files: AtomicU64,
    total_files: AtomicU64,
    bytes: AtomicU64,
    records: AtomicU64,
}

impl CliProgress {
    pub fn new(quiet: bool) -> Self {
        let terminal = std::io::stderr().is_terminal();
        let bar = (!quiet && terminal).then(|| {
            let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template(
                    "{bar:30} {pos}/{len} files, {msg} [{elapsed_precise}, ETA {eta}]",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            bar
        });
        let now = Instant::now();
        CliProgress {
            bar,
            plain: !quiet && !terminal,
            started: now,
            last_line: Mutex::new(now),
            files: AtomicU64::new(0),
            total_files: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            records: AtomicU64::new(0),
        }
    }

    fn summary(&self) -> String {
        let seconds = self.started.elapsed().as_secs_f64().max(1e-9);
        let records = self.records.load(Ordering::Relaxed);
        format!(
            "{:.1} MB stored, {} records, {:.0} records/s",
            self.bytes.load(Ordering::Relaxed) as f64 / 1e6,
            records,
            records as f64 / seconds
        )
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

impl Progress for CliProgress {
    fn start(&self, files: u64, _bytes: u64) {
        self.total_files.store(files, Ordering::Relaxed);
        if let Some(bar) = &self.bar {
            bar.set_length(files);
        }
    }

    fn advance(&self, files: u64, bytes: u64, records: u64) {
        let done = self.files.fetch_add(files, Ordering::Relaxed) + files;
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
        self.records.fetch_add(records, Ordering::Relaxed);
        if let Some(bar) = &self.bar {
            bar.set_position(done);
            bar.set_message(self.summary());
        } else if self.plain {
            let mut last = self.last_line.lock().unwrap_or_else(|e| e.into_inner());
            if last.elapsed() >= PLAIN_INTERVAL {
                *last = Instant::now();
                eprintln!(
                    "trailpack: {done}/{} files, {}",
                    self.total_files.load(Ordering::Relaxed),
                    self.summary()
                );
            }
        }
    }

    fn warn(&self, line: &str) {
        match &self.bar {
            Some(bar) => bar.suspend(|| eprintln!("trailpack: {line}")),
            None => eprintln!("trailpack: {line}"),
        }
    }
}
