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
    let mut how = None;
    for modifier in modifiers {
        how = match (modifier, how) {
            // Both only narrow what matches; the test stays a superset.
            (Modifier::All | Modifier::Cased, how) => how,
            (Modifier::Contains, None) => Some(TextMatch::Contains),
            (Modifier::StartsWith, None) => Some(TextMatch::StartsWith),
            (Modifier::EndsWith, None) => Some(TextMatch::EndsWith),
            _ => return None,
        };
    }
    let mut tests = Vec::new();
    for value in &item.values {
        let SigmaValue::String(text) = value else {
            return None;
        };
        tests.push(value_test(text, how.unwrap_or(TextMatch::Equals))?);
    }
    let first = tests.first()?.0;
    // Values of different shapes are all tested as substrings, which each passes.
    let how = if tests.iter().all(|(h, _)| *h == first) {
        first
    } else {
        TextMatch::Contains
    };
    let values = tests.into_iter().map(|(_, v)| v).collect();
    ColumnTest::try_new(column, how, values).ok()
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
    let plain = |text: &str| {
        !text.is_empty()
            && text
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || " -_.:@,;+".contains(c))
    };
    if modifiers.as_slice() == [Modifier::Exists] {
        let key = nested.rsplit('.').next()?;
        let exists = matches!(item.values.as_slice(), [SigmaValue::Bool(true)]);
        return (exists && plain(key))
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
    let mut literals = Vec::new();
    for value in &item.values {
        let literal = match value {
            SigmaValue::String(text) => value_test(text, TextMatch::Contains)?.1,
            SigmaValue::Bool(flag) => flag.to_string(),
            SigmaValue::Integer(number) => number.to_string(),
            _ => return None,
        };
        if !plain(&literal) {
            return None;
        }
        literals.push(literal);
    }
    ColumnTest::try_new(column, TextMatch::Contains, literals).ok()
}

/// How a value with Sigma wildcards is tested: `x*` as a prefix, `*x` as a
/// suffix, `*x*` or anything else as its longest literal run.
fn value_test(text: &SigmaString, how: TextMatch) -> Option<(TextMatch, String)> {
    let wildcard = |part: &StringPart| {
        matches!(
            part,
            StringPart::Special(SpecialChar::WildcardMulti | SpecialChar::WildcardSingle)
        )
    };
    let parts = &text.parts;
    if let Some(plain) = text.as_plain() {
        return Some((how, plain));
    }
    let literal = |part: &StringPart| match part {
        StringPart::Plain(text) => Some(text.clone()),
        StringPart::Special(_) => None,
    };
    let many = StringPart::Special(SpecialChar::WildcardMulti);
    let shape = match parts.as_slice() {
        [only, star] if how == TextMatch::Equals && *star == many => {
            literal(only).map(|t| (TextMatch::StartsWith, t))
        }
        [star, only] if how == TextMatch::Equals && *star == many => {
            literal(only).map(|t| (TextMatch::EndsWith, t))
        }
        _ => None,
    };
    shape.or_else(|| {
        let longest = parts
            .iter()
            .filter(|part| !wildcard(part))
            .filter_map(literal)
            .max_by_key(String::len)?;
        (!longest.is_empty()).then_some((TextMatch::Contains, longest))
    })
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
                    TextMatch::EndsWith,
                    &["unauthorizedoperation"]
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
        ] {
            assert_eq!(pushdown(&rule(detection)), every_row(), "{detection}");
        }
    }

    #[test]
    fn wildcards_keep_a_test_every_match_passes() {
        let pushed = pushdown(&rule(
            "    selection:\n        eventName: ['Delete*', '*Bucket*', 'Put?Policy']\n    \
             condition: selection\n",
        ));
        assert_eq!(
            pushed,
            vec![vec![test(
                "eventname",
                TextMatch::Contains,
                &["delete", "bucket", "policy"]
            )]]
        );
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
