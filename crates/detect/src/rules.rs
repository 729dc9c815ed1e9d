//! Loading Sigma rules: the built-in pack and rule files, each checked to be a
//! CloudTrail detection that trailpack can run, each compiled once.

use std::path::{Path, PathBuf};

use rsigma_eval::{CompiledRule, compile_rule, evaluate_rule, event::JsonEvent};
use rsigma_parser::SigmaRule;
use serde_json::Value;
use trailpack_query::ColumnTest;

use crate::pushdown::{Alternatives, pushdown};

macro_rules! builtin {
    ($name:literal) => {
        (
            concat!($name, ".yml"),
            include_str!(concat!("../rules/", $name, ".yml")),
        )
    };
}

/// The built-in pack (`crates/detect/rules/`): the monitoring that CloudTrail's
/// guidance and the CIS AWS Foundations Benchmark recommend, by file name.
pub const BUILTIN_RULES: [(&str, &str); 17] = [
    builtin!("unauthorized-api-calls"),
    builtin!("console-login-without-mfa"),
    builtin!("root-account-usage"),
    builtin!("iam-policy-changes"),
    builtin!("cloudtrail-configuration-changes"),
    builtin!("console-authentication-failures"),
    builtin!("kms-key-disabled-or-scheduled-for-deletion"),
    builtin!("s3-bucket-policy-changes"),
    builtin!("config-changes"),
    builtin!("security-group-changes"),
    builtin!("network-acl-changes"),
    builtin!("network-gateway-changes"),
    builtin!("route-table-changes"),
    builtin!("vpc-changes"),
    builtin!("organizations-changes"),
    builtin!("ebs-snapshot-or-ami-shared"),
    builtin!("ebs-snapshot-or-ami-made-public"),
];

/// One rule, ready to run.
#[derive(Debug)]
pub struct Rule {
    /// The rule's `id`, else its file name (and position, in a file of several).
    pub id: String,
    /// The rule's `title`.
    pub title: String,
    /// The rule's `level` (`informational` … `critical`), if it has one.
    pub level: Option<String>,
    /// Where it came from: a file's path, or `builtin:NAME`.
    pub origin: String,
    compiled: CompiledRule,
    pushdown: Alternatives,
}

impl Rule {
    /// Whether the rule matches `record`.
    pub fn matches(&self, record: &Value) -> bool {
        evaluate_rule(&self.compiled, &JsonEvent::borrow(record)).is_some()
    }

    /// The condition on the archive's columns that every match satisfies.
    pub fn pushdown(&self) -> &[Vec<ColumnTest>] {
        &self.pushdown
    }
}

/// A rule file, or one rule in it, that could not be used; the others still run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleProblem {
    /// The file (or `builtin:NAME`).
    pub origin: String,
    /// Why, in one line.
    pub reason: String,
}

impl std::fmt::Display for RuleProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.origin, self.reason)
    }
}

/// The rules of one run.
#[derive(Debug, Default)]
pub struct RuleSet {
    rules: Vec<Rule>,
}

impl RuleSet {
    /// Load the built-in pack when `builtin`, and every `.yml`/`.yaml` file in
    /// `paths` (files, or directories walked in name order). What cannot be used
    /// is returned as problems, one per file or rule, and left out.
    pub fn load(builtin: bool, paths: &[PathBuf]) -> (RuleSet, Vec<RuleProblem>) {
        let mut set = RuleSet::default();
        let mut problems = Vec::new();
        if builtin {
            for (name, text) in BUILTIN_RULES {
                set.add_text(&format!("builtin:{name}"), text, &mut problems);
            }
        }
        for path in paths {
            for file in rule_files(path, &mut problems) {
                let origin = file.display().to_string();
                match std::fs::read_to_string(&file) {
                    Ok(text) => set.add_text(&origin, &text, &mut problems),
                    Err(error) => problems.push(RuleProblem {
                        origin,
                        reason: format!("cannot be read: {error}"),
                    }),
                }
            }
        }
        (set, problems)
    }

    /// The rules, in load order.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// Whether there is no rule to run.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Add the rules of one YAML text (one or more documents) from `origin`.
    pub(crate) fn add_text(&mut self, origin: &str, text: &str, problems: &mut Vec<RuleProblem>) {
        let mut problem = |reason: String| {
            // Parser and regex errors span lines; a problem is one.
            let reason = reason.split_whitespace().collect::<Vec<_>>().join(" ");
            problems.push(RuleProblem {
                origin: origin.to_string(),
                reason,
            })
        };
        let collection = match rsigma_parser::parse_sigma_yaml(text) {
            Ok(collection) => collection,
            Err(error) => return problem(format!("not a Sigma rule: {error}")),
        };
        for error in &collection.errors {
            problem(format!("not a Sigma rule: {error}"));
        }
        if !collection.correlations.is_empty() {
            problem("correlation rules are not supported".to_string());
        }
        if !collection.filters.is_empty() {
            problem("filter rules are not supported".to_string());
        }
        let several = collection.rules.len() > 1;
        for (index, sigma) in collection.rules.iter().enumerate() {
            let fallback_id = match several {
                true => format!("{}#{}", file_name(origin), index + 1),
                false => file_name(origin),
            };
            match self.prepare(sigma, origin, fallback_id) {
                Ok(rule) => self.rules.push(rule),
                Err(reason) => problem(format!("rule {:?}: {reason}", sigma.title)),
            }
        }
    }

    fn prepare(
        &self,
        sigma: &SigmaRule,
        origin: &str,
        fallback_id: String,
    ) -> Result<Rule, String> {
        let logsource = &sigma.logsource;
        let is = |value: &Option<String>, wanted: &str| {
            value
                .as_deref()
                .is_some_and(|v| v.eq_ignore_ascii_case(wanted))
        };
        if !is(&logsource.product, "aws") || !is(&logsource.service, "cloudtrail") {
            return Err(format!(
                "its logsource is not product: aws, service: cloudtrail (it is {})",
                describe_logsource(&logsource.product, &logsource.service)
            ));
        }
        if sigma.detection.timeframe.is_some() {
            return Err("aggregations over a timeframe are not supported".to_string());
        }
        let id = sigma.id.clone().unwrap_or(fallback_id);
        if let Some(other) = self.rules.iter().find(|rule| rule.id == id) {
            return Err(format!("its id {id} is already used by {}", other.origin));
        }
        let compiled = compile_rule(sigma).map_err(|error| error.to_string())?;
        Ok(Rule {
            id,
            title: sigma.title.clone(),
            level: sigma.level.map(|level| level.as_str().to_string()),
            origin: origin.to_string(),
            compiled,
            pushdown: pushdown(sigma),
        })
    }
}

fn describe_logsource(product: &Option<String>, service: &Option<String>) -> String {
    let named: Vec<String> = [("product", product), ("service", service)]
        .into_iter()
        .filter_map(|(key, value)| value.as_ref().map(|v| format!("{key}: {v}")))
        .collect();
    match named.is_empty() {
        true => "empty".to_string(),
        false => named.join(", "),
    }
}

/// The name of a rule's file without its extension (`builtin:x.yml` gives `x`).
fn file_name(origin: &str) -> String {
    let name = origin.rsplit(['/', ':']).next().unwrap_or(origin);
    let stem = name
        .strip_suffix(".yml")
        .or_else(|| name.strip_suffix(".yaml"));
    stem.unwrap_or(name).to_string()
}

/// The rule files at `path`: the file itself, or the `.yml` and `.yaml` files
/// under a directory, in path order.
fn rule_files(path: &Path, problems: &mut Vec<RuleProblem>) -> Vec<PathBuf> {
    if !path.is_dir() {
        return vec![path.to_path_buf()];
    }
    let mut files = Vec::new();
    let mut pending = vec![path.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(error) => {
                problems.push(RuleProblem {
                    origin: dir.display().to_string(),
                    reason: format!("cannot be read: {error}"),
                });
                continue;
            }
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "yml" || e == "yaml") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_builtin_pack_loads_whole() {
        let (set, problems) = RuleSet::load(true, &[]);
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(set.rules().len(), BUILTIN_RULES.len());
        let ids: std::collections::BTreeSet<&str> =
            set.rules().iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids.len(), BUILTIN_RULES.len(), "ids are unique");
        // Each names what it looks for in a column, which narrows the scan.
        for rule in set.rules() {
            assert!(
                rule.pushdown().iter().all(|tests| !tests.is_empty()),
                "{} is not narrowed by any column",
                rule.origin
            );
        }
    }

    #[test]
    fn unusable_rules_are_named_and_left_out() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, text: &str| std::fs::write(dir.path().join(name), text).unwrap();
        let logsource = "logsource:\n    product: aws\n    service: cloudtrail\n";
        write(
            "good.yml",
            &format!(
                "title: good\n{logsource}detection:\n    s:\n        eventName: X\n    condition: s\n"
            ),
        );
        write("broken.yml", "title: [unclosed\n");
        write(
            "windows.yml",
            "title: w\nlogsource:\n    product: windows\ndetection:\n    s:\n        a: b\n    condition: s\n",
        );
        write(
            "bad-regex.yml",
            &format!(
                "title: r\n{logsource}detection:\n    s:\n        eventName|re: '('\n    condition: s\n"
            ),
        );
        write(
            "unknown-modifier.yml",
            &format!(
                "title: m\n{logsource}detection:\n    s:\n        eventName|frobnicate: X\n    condition: s\n"
            ),
        );
        write("notes.txt", "not a rule");
        let (set, problems) = RuleSet::load(false, &[dir.path().to_path_buf()]);
        assert_eq!(set.rules().len(), 1);
        assert_eq!(set.rules()[0].id, "good");
        let named: Vec<&str> = problems
            .iter()
            .map(|p| p.origin.rsplit('/').next().unwrap())
            .collect();
        assert_eq!(
            named,
            [
                "bad-regex.yml",
                "broken.yml",
                "unknown-modifier.yml",
                "windows.yml"
            ],
            "{problems:?}"
        );
        let regex = &problems[0];
        assert!(regex.reason.contains("unclosed group"), "{regex}");
        let windows = problems
            .iter()
            .find(|p| p.origin.ends_with("windows.yml"))
            .unwrap();
        assert!(windows.reason.contains("product: windows"), "{windows}");
        assert!(
            problems.iter().all(|p| !p.to_string().contains('\n')),
            "{problems:?}"
        );
    }

    #[test]
    fn a_rule_matches_nested_fields_in_any_case() {
        let (set, problems) = RuleSet::load(true, &[]);
        assert!(problems.is_empty());
        let shared = set
            .rules()
            .iter()
            .find(|r| r.origin == "builtin:ebs-snapshot-or-ami-made-public.yml")
            .unwrap();
        let record: Value = serde_json::from_str(
            r#"{"eventSource":"ec2.amazonaws.com","eventName":"modifysnapshotattribute",
                "requestParameters":{"createVolumePermission":{"add":{"items":[{"userId":"1"},{"group":"all"}]}}}}"#,
        )
        .unwrap();
        assert!(shared.matches(&record));
        let private: Value = serde_json::from_str(
            r#"{"eventSource":"ec2.amazonaws.com","eventName":"ModifySnapshotAttribute",
                "requestParameters":{"createVolumePermission":{"add":{"items":[{"userId":"1"}]}}}}"#,
        )
        .unwrap();
        assert!(!shared.matches(&private));
    }
}
