//! Detections over an archive: Sigma rules run over years of CloudTrail in one
//! pruned pass.
//!
//! This crate owns the rules ([`RuleSet`]: the built-in pack of the monitoring
//! that CloudTrail's guidance and the CIS AWS Foundations Benchmark recommend,
//! and Sigma files with `logsource: product: aws, service: cloudtrail`) and their
//! run ([`detect`]). Rules are parsed and evaluated by `rsigma`. What each rule
//! says about the columns the archive keeps (event source and name, error code,
//! identity type, region, account, source address) is pushed down as one OR of
//! the rules' conditions: parts are pruned by partition and time, rows are
//! selected on those columns, and only the selected rows are rebuilt and given to
//! the rules. A rule that names no such column makes the pass read every row.
//! [`first_seen`] reports, from the columns alone, each account's first event in
//! a region and each principal's first call to an event source after a baseline.
//!
//! Main types: [`RuleSet`], [`Rule`], [`RuleProblem`], [`DetectOptions`],
//! [`Detections`], [`RuleSummary`], [`Hit`], [`FirstSeen`], [`Novelty`],
//! [`DetectError`].
//!
//! ```no_run
//! use trailpack_detect::{DetectOptions, RuleSet, detect};
//! use trailpack_store::ArchiveRoot;
//!
//! let (rules, problems) = RuleSet::load(true, &["my-rules".into()]);
//! for problem in &problems {
//!     eprintln!("skipped {problem}");
//! }
//! let root = ArchiveRoot::from(std::path::Path::new("archive"));
//! let found = detect(&root, &rules, &DetectOptions::default()).unwrap();
//! for rule in found.rules.iter().filter(|r| r.count > 0) {
//!     println!("{} {} {}", rule.id, rule.title, rule.count);
//! }
//! ```

mod first_seen;
mod pushdown;
mod rules;
mod scan;

pub use first_seen::{DEFAULT_BASELINE, FirstSeen, Novelty, NoveltyKind, first_seen};
pub use rules::{BUILTIN_RULES, Rule, RuleProblem, RuleSet};
pub use scan::{DetectOptions, Detections, Hit, RuleSummary, detect};

/// Errors of a detection run.
#[derive(Debug, thiserror::Error)]
pub enum DetectError {
    /// The archive could not be read.
    #[error(transparent)]
    Query(#[from] trailpack_query::QueryError),
}
