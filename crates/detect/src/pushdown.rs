//! What of a rule the archive can test on its columns before any record is
//! rebuilt: a condition every match satisfies (never one that drops a match),
//! as an OR of ANDs of case-insensitive tests on the archive's string columns.
//!
//! Only plain values, prefixes, suffixes and substrings of the fields below are
//! pushed down. Anything else (`not`, keywords, regular expressions, CIDR,
//! field references, nested fields) widens the condition to "every row", and the
//! full rule decides on the rebuilt record.

use rsigma_parser::{
    ConditionExpr, Detection, DetectionItem, Detections, Modifier, Quantifier, SigmaRule,
    SigmaString, SigmaValue, SpecialChar, StringPart,
};
use trailpack_query::{ColumnTest, TextMatch};

/// Record fields with a column of their own in the archive, by Sigma name.
const COLUMNS: [(&str, &str); 10] = [
    ("userAgent", "useragent"),
    ("eventSource", "eventsource"),
    ("eventName", "eventname"),
    ("errorCode", "errorcode"),
    ("eventType", "eventtype"),
    ("awsRegion", "awsregion"),
    ("recipientAccountId", "recipientaccountid"),
    ("sourceIPAddress", "sourceipaddress"),
    ("userIdentity.type", "useridentity.type"),
    ("userIdentity.arn", "useridentity.arn"),
];

/// Record fields kept as their exact JSON text: a nested field's value is a
/// substring of that text when it holds no character JSON writers escape.
const JSON_TEXT_COLUMNS: [(&str, &str); 3] = [
    ("requestParameters", "requestparameters"),
    ("responseElements", "responseelements"),
    ("additionalEventData", "additionaleventdata"),
];

/// The record field (dotted path) that `column` holds.
pub(crate) fn field_of(column: &str) -> Option<&'static str> {
    COLUMNS
        .iter()
        .find(|(_, name)| *name == column)
        .map(|(field, _)| *field)
}

/// More alternatives than this (from `and` over lists of selections) are not
/// worth testing one by one: the condition widens to every row.
const MAX_ALTERNATIVES: usize = 64;

/// An OR of ANDs of column tests. One empty AND is "every row"; no AND at all is
/// "no row".
pub(crate) type Alternatives = Vec<Vec<ColumnTest>>;

/// The condition every match of `rule` satisfies.
pub(crate) fn pushdown(rule: &SigmaRule) -> Alternatives {
    let detections = &rule.detection;
    let mut any = Vec::new();
    for condition in &detections.conditions {
        any = or(any, condition_alternatives(condition, detections));
    }
    simplify(any)
}

fn every_row() -> Alternatives {
    vec![Vec::new()]
}

fn or(mut left: Alternatives, right: Alternatives) -> Alternatives {
    left.extend(right);
    simplify(left)
}

fn and(left: Alternatives, right: Alternatives) -> Alternatives {
    if left.len().saturating_mul(right.len()) > MAX_ALTERNATIVES {
        return every_row();
    }
    let mut product = Vec::new();
    for l in &left {
        for r in &right {
            product.push(l.iter().chain(r).cloned().collect());
        }
    }
    simplify(product)
}

/// One alternative that tests nothing makes the others pointless.
fn simplify(alternatives: Alternatives) -> Alternatives {
    if alternatives.iter().any(Vec::is_empty) || alternatives.len() > MAX_ALTERNATIVES {
        every_row()
    } else {
        alternatives
    }
}

fn condition_alternatives(condition: &ConditionExpr, detections: &Detections) -> Alternatives {
    match condition {
        ConditionExpr::Identifier(name) => match detections.named.get(name) {
            Some(detection) => detection_alternatives(detection),
            None => every_row(),
        },
        ConditionExpr::And(terms) => terms.iter().fold(every_row(), |acc, term| {
            and(acc, condition_alternatives(term, detections))
        }),
        ConditionExpr::Or(terms) => terms.iter().fold(Vec::new(), |acc, term| {
            or(acc, condition_alternatives(term, detections))
        }),
        // A negation holds on rows the columns cannot single out.
        ConditionExpr::Not(_) => every_row(),
        ConditionExpr::Selector {
            quantifier,
            pattern,
        } => {
            let mut names: Vec<&String> = detections
                .named
                .keys()
                .filter(|name| pattern.matches_detection_name(name))
                .collect();
            names.sort();
            let each = names
                .into_iter()
                .map(|name| detection_alternatives(&detections.named[name]));
            match quantifier {
                Quantifier::All => each.fold(every_row(), and),
                // "0 of" holds on every row.
                Quantifier::Count(0) => every_row(),
                Quantifier::Any | Quantifier::Count(_) => each.fold(Vec::new(), or),
            }
        }
    }
}

fn detection_alternatives(detection: &Detection) -> Alternatives {
    let alternatives = match detection {
        Detection::AllOf(items) => vec![items.iter().filter_map(item_test).collect()],
        Detection::AnyOf(detections) => detections
            .iter()
            .fold(Vec::new(), |acc, d| or(acc, detection_alternatives(d))),
        Detection::And(detections) => detections
            .iter()
            .fold(every_row(), |acc, d| and(acc, detection_alternatives(d))),
        _ => every_row(),
    };
    let sorted = alternatives.into_iter().map(|mut tests| {
        tests.sort_by(|a, b| a.column.cmp(&b.column));
        tests
    });
    simplify(sorted.collect())
}

/// A column test every value of `item` passes, if the item's field has a column
/// and its values and modifiers allow one.
fn item_test(item: &DetectionItem) -> Option<ColumnTest> {
    let name = item.field.name.as_deref()?;
    if let Some((_, column)) = COLUMNS.iter().find(|(field, _)| *field == name) {
        return column_test(item, column);
    }
    let (top, nested) = name.split_once('.')?;
    let column = JSON_TEXT_COLUMNS.iter().find(|(field, _)| *field == top)?.1;
    json_text_test(item, nested, column)
}

fn column_test(item: &DetectionItem, column: &str) -> Option<ColumnTest> {
    let modifiers = &item.field.modifiers;
    if modifiers.contains(&Modifier::Re) {
        return regex_test(item, column);
    }
    let mut how = TextMatch::Equals;
    for modifier in modifiers {
        how = match (modifier, how) {
            // Both only narrow what matches; the test stays a superset.
            (Modifier::All | Modifier::Cased, how) => how,
            (Modifier::Contains, TextMatch::Equals) => TextMatch::Contains,
            (Modifier::StartsWith, TextMatch::Equals) => TextMatch::StartsWith,
            (Modifier::EndsWith, TextMatch::Equals) => TextMatch::EndsWith,
            _ => return None,
        };
    }
    let cased = modifiers.contains(&Modifier::Cased);
    let mut plain = Vec::new();
    let mut patterns = Vec::new();
    for value in &item.values {
        let SigmaValue::String(text) = value else {
            return None;
        };
        match text.as_plain() {
            Some(literal) => plain.push(literal),
            None => patterns.push(wildcard_regex(text, how, cased)),
        }
    }
    // Plain values fold with to_lowercase, wildcards through a case-insensitive
    // regex, as the evaluator does; one test cannot hold both.
    match (plain.is_empty(), patterns.is_empty()) {
        (false, true) => ColumnTest::try_new(column, how, plain).ok(),
        (true, false) => ColumnTest::try_new(column, TextMatch::Regex, patterns).ok(),
        _ => None,
    }
}

/// The regular expression the evaluator (rsigma) compiles a value with wildcards
/// into, so that the column test decides exactly as it does.
fn wildcard_regex(text: &SigmaString, how: TextMatch, cased: bool) -> String {
    let mut pattern = String::new();
    if !cased {
        pattern.push_str("(?i)");
    }
    if !matches!(how, TextMatch::Contains | TextMatch::StartsWith) {
        pattern.push('^');
    }
    for part in &text.parts {
        match part {
            StringPart::Plain(text) => pattern.push_str(&regex::escape(text)),
            StringPart::Special(SpecialChar::WildcardMulti) => pattern.push_str(".*"),
            StringPart::Special(SpecialChar::WildcardSingle) => pattern.push('.'),
        }
    }
    if !matches!(how, TextMatch::Contains | TextMatch::EndsWith) {
        pattern.push('$');
    }
    pattern
}

/// `re`, with its flags as the evaluator sets them, on the column itself.
fn regex_test(item: &DetectionItem, column: &str) -> Option<ColumnTest> {
    let mut flags = String::new();
    for modifier in &item.field.modifiers {
        match modifier {
            Modifier::Re | Modifier::All => {}
            Modifier::IgnoreCase => flags.push('i'),
            Modifier::Multiline => flags.push('m'),
            Modifier::DotAll => flags.push('s'),
            _ => return None,
        }
    }
    let mut patterns = Vec::new();
    for value in &item.values {
        let SigmaValue::String(text) = value else {
            return None;
        };
        let pattern = text.original.clone();
        patterns.push(match flags.is_empty() {
            true => pattern,
            false => format!("(?{flags}){pattern}"),
        });
    }
    ColumnTest::try_new(column, TextMatch::Regex, patterns).ok()
}

/// A nested field of a JSON-text column: its value, or for `exists` its key,
/// as a substring of the text, when that cannot be spelt with escapes.
fn json_text_test(item: &DetectionItem, nested: &str, column: &str) -> Option<ColumnTest> {
    let modifiers = &item.field.modifiers;
    if modifiers.as_slice() == [Modifier::Exists] {
        let key = nested.rsplit('.').next()?;
        let exists = matches!(item.values.as_slice(), [SigmaValue::Bool(true)]);
        return (exists && safe(key))
            .then(|| ColumnTest::try_new(column, TextMatch::Contains, vec![key.to_string()]).ok())
            .flatten();
    }
    let allowed = [
        Modifier::Contains,
        Modifier::StartsWith,
        Modifier::EndsWith,
        Modifier::All,
        Modifier::Cased,
    ];
    if !modifiers.iter().all(|m| allowed.contains(m)) {
        return None;
    }
    // Booleans and numbers push nothing: the evaluator matches true as "yes" or
    // "1", and 100 as 1e2, which no substring test can follow.
    let mut plain = Vec::new();
    let mut patterns = Vec::new();
    for value in &item.values {
        let SigmaValue::String(text) = value else {
            return None;
        };
        let literal = match text.as_plain() {
            Some(literal) => literal,
            None => longest_literal(text)?,
        };
        if !safe(&literal) || literal.parse::<f64>().is_ok() {
            return None;
        }
        match text.is_plain() {
            true => plain.push(literal),
            // Wildcards fold through a case-insensitive regex: so must the test.
            false => patterns.push(format!("(?i){}", regex::escape(&literal))),
        }
    }
    match (plain.is_empty(), patterns.is_empty()) {
        (false, true) => ColumnTest::try_new(column, TextMatch::Contains, plain).ok(),
        (true, false) => ColumnTest::try_new(column, TextMatch::Regex, patterns).ok(),
        _ => None,
    }
}

/// Text no JSON writer escapes, so that it appears as itself in JSON text.
fn safe(text: &str) -> bool {
    !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || " -_.:@,;+".contains(c))
}

/// The longest run of literal text in a value with wildcards.
fn longest_literal(text: &SigmaString) -> Option<String> {
    let literals = text.parts.iter().filter_map(|part| match part {
        StringPart::Plain(text) => Some(text.clone()),
        StringPart::Special(_) => None,
    });
    literals.max_by_key(String::len).filter(|l| !l.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(detection: &str) -> SigmaRule {
        let yaml = format!(
            "title: t\nlogsource:\n    product: aws\n    service: cloudtrail\ndetection:\n{detection}"
        );
        let collection = rsigma_parser::parse_sigma_yaml(&yaml).unwrap();
        assert!(collection.errors.is_empty(), "{:?}", collection.errors);
        collection.rules.into_iter().next().unwrap()
    }

    fn test(column: &str, how: TextMatch, values: &[&str]) -> ColumnTest {
        let values = values.iter().map(|v| v.to_string()).collect();
        ColumnTest::try_new(column, how, values).unwrap()
    }

    #[test]
    fn a_selection_becomes_one_conjunction_of_its_column_fields() {
        let pushed = pushdown(&rule(
            "    selection:\n        eventSource: kms.amazonaws.com\n        \
             eventName: [DisableKey, ScheduleKeyDeletion]\n        \
             requestParameters.keyId|contains: abc\n    condition: selection\n",
        ));
        assert_eq!(
            pushed,
            vec![vec![
                test(
                    "eventname",
                    TextMatch::Equals,
                    &["disablekey", "schedulekeydeletion"]
                ),
                test("eventsource", TextMatch::Equals, &["kms.amazonaws.com"]),
                test("requestparameters", TextMatch::Contains, &["abc"]),
            ]]
        );
    }

    #[test]
    fn one_of_gives_alternatives_and_not_adds_nothing() {
        let pushed = pushdown(&rule(
            "    selection_a:\n        errorCode|startswith: AccessDenied\n    \
             selection_b:\n        errorCode: '*UnauthorizedOperation'\n    \
             filter:\n        eventName: GetObject\n    \
             condition: 1 of selection_* and not filter\n",
        ));
        assert_eq!(
            pushed,
            vec![
                vec![test("errorcode", TextMatch::StartsWith, &["accessdenied"])],
                vec![test(
                    "errorcode",
                    TextMatch::Regex,
                    &["(?i)^.*UnauthorizedOperation$"]
                )],
            ]
        );
    }

    #[test]
    fn what_the_columns_cannot_decide_widens_to_every_row() {
        for detection in [
            // A negation alone.
            "    filter:\n        eventName: GetObject\n    condition: not filter\n",
            // Keywords.
            "    keywords:\n        - evil\n    condition: keywords\n",
            // A field without a column.
            "    selection:\n        recipientAccountId2: b\n    condition: selection\n",
            // A nested value JSON could spell with escapes.
            "    selection:\n        requestParameters.key: a/b\n    condition: selection\n",
            // A modifier the columns cannot test.
            "    selection:\n        eventName|base64: x\n    condition: selection\n",
            // One alternative without a column test.
            "    a:\n        eventName: X\n    b:\n        vpcEndpointId: y\n    condition: a or b\n",
            // `0 of` is no condition on rows.
            "    sel_a:\n        eventName: X\n    condition: 0 of sel_*\n",
            // Booleans, numbers and numeric strings nested in JSON text, which the
            // text could spell in more than one way.
            "    sel:\n        requestParameters.withDecryption: true\n    condition: sel\n",
            "    sel:\n        requestParameters.maxResults: 100\n    condition: sel\n",
            "    sel:\n        requestParameters.port: '22'\n    condition: sel\n",
        ] {
            assert_eq!(pushdown(&rule(detection)), every_row(), "{detection}");
        }
    }

    #[test]
    fn wildcards_are_tested_with_the_evaluators_own_regex() {
        let pushed = pushdown(&rule(
            "    selection:\n        eventName: ['Delete*', '*Bucket*', 'Put?Policy']\n    \
             condition: selection\n",
        ));
        let expected = ["(?i)^Delete.*$", "(?i)^.*Bucket.*$", "(?i)^Put.Policy$"];
        assert_eq!(
            pushed,
            vec![vec![test("eventname", TextMatch::Regex, &expected)]]
        );
        // Unicode simple case folding, as the evaluator's regex: the long s is an s.
        let user_agent = pushdown(&rule(
            "    selection:\n        userAgent: '*sqlmap*'\n    condition: selection\n",
        ));
        assert!(user_agent[0][0].passes("\u{17f}qlmap/1.7"));
        // Plain and wildcard values together: no test rather than a wrong one.
        let mixed = pushdown(&rule(
            "    selection:\n        eventName: ['GetObject', 'Put*']\n    condition: selection\n",
        ));
        assert_eq!(mixed, every_row());
    }

    #[test]
    fn regular_expressions_and_nested_values_are_tested_on_their_columns() {
        let pushed = pushdown(&rule(
            "    selection:\n        userAgent|re|i: '^curl/'\n        \
             requestParameters.bucketName|startswith: Backup-\n        \
             additionalEventData.MFAUsed|exists: true\n    condition: selection\n",
        ));
        assert_eq!(
            pushed,
            vec![vec![
                test("additionaleventdata", TextMatch::Contains, &["mfaused"]),
                test("requestparameters", TextMatch::Contains, &["backup-"]),
                test("useragent", TextMatch::Regex, &["(?i)^curl/"]),
            ]]
        );
        assert!(pushed[0][2].passes("CURL/8.1"));
        assert!(!pushed[0][2].passes("aws-cli/2"));
    }

    #[test]
    fn all_of_multiplies_alternatives() {
        let pushed = pushdown(&rule(
            "    sel_source:\n        - eventSource: a\n        - eventSource: b\n    \
             sel_name:\n        eventName: c\n    condition: all of sel_*\n",
        ));
        assert_eq!(pushed.len(), 2);
        assert!(pushed.iter().all(|tests| tests.len() == 2));
    }
}
