//! Property: any JSON record, however spelled, rebuilds byte for byte from its
//! columns, without falling back to the raw copy.

use proptest::prelude::*;
use trailpack_decode::json::Scanner;
use trailpack_schema::encode::Style;
use trailpack_schema::{BatchBuilder, Rebuilder};

/// Optional JSON whitespace.
fn ws() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => Just(String::new()),
        1 => Just(" ".to_string()),
        1 => Just("\n  ".to_string()),
        1 => Just("\t\r\n".to_string()),
    ]
}

fn string_token() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        "[a-zA-Z0-9 :._-]{0,8}",
        Just("/".to_string()),
        Just("\\/".to_string()),
        Just("\\u003d".to_string()),
        Just("=".to_string()),
        Just("<&>'".to_string()),
        Just("\\u0041".to_string()),
        Just("\\n\\t\\\"\\\\\\b\\f\\r".to_string()),
        Just("\\u0001".to_string()),
        Just("\\ud83d\\ude00".to_string()),
        Just("\\ud800".to_string()),
        Just("é写真😀".to_string()),
        Just("2021-01-02T03:04:05Z".to_string()),
    ];
    prop::collection::vec(piece, 0..4).prop_map(|pieces| format!("\"{}\"", pieces.concat()))
}

fn number_token() -> impl Strategy<Value = String> {
    prop_oneof![
        "-?(0|[1-9][0-9]{0,6})(\\.[0-9]{1,4})?([eE][+-]?[0-9]{1,3})?",
        Just("-0".to_string()),
        Just("1.0e10".to_string()),
    ]
}

fn value() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        Just("null".to_string()),
        Just("true".to_string()),
        Just("false".to_string()),
        number_token(),
        string_token(),
    ];
    leaf.prop_recursive(6, 48, 6, |inner| {
        prop_oneof![
            (
                prop::collection::vec((ws(), inner.clone(), ws()), 0..5),
                ws()
            )
                .prop_map(|(items, pad)| {
                    let items: Vec<String> = items
                        .into_iter()
                        .map(|(a, v, b)| format!("{a}{v}{b}"))
                        .collect();
                    if items.is_empty() {
                        format!("[{pad}]")
                    } else {
                        format!("[{}]", items.join(","))
                    }
                }),
            (
                prop::collection::vec((string_token(), ws(), inner, ws()), 0..5),
                ws()
            )
                .prop_map(|(members, pad)| object(
                    members
                        .into_iter()
                        .map(|(k, a, v, b)| (k, format!("{a}{v}{b}")))
                        .collect(),
                    &pad
                )),
        ]
    })
}

fn object(members: Vec<(String, String)>, pad: &str) -> String {
    if members.is_empty() {
        return format!("{{{pad}}}");
    }
    let members: Vec<String> = members
        .into_iter()
        .map(|(key, value)| format!("{pad}{key}{pad}:{value}"))
        .collect();
    format!("{{{}}}", members.join(","))
}

/// Members under known keys (so typed paths are exercised) and unknown ones.
fn members(keys: &'static [&'static str], depth: u32) -> BoxedStrategy<Vec<(String, String)>> {
    let member = (prop::sample::select(keys), value(), any::<bool>()).prop_flat_map(
        move |(key, plain, nest)| {
            let nested: BoxedStrategy<String> = match key {
                "userIdentity" | "sessionContext" | "sessionIssuer" | "tlsDetails"
                    if nest && depth < 3 =>
                {
                    members(STRUCT_KEYS, depth + 1)
                        .prop_map(|m| object(m, ""))
                        .boxed()
                }
                "resources" if nest => prop::collection::vec(members(RESOURCE_KEYS, 3), 0..3)
                    .prop_map(|items| {
                        let items: Vec<String> = items.into_iter().map(|m| object(m, "")).collect();
                        format!("[{}]", items.join(","))
                    })
                    .boxed(),
                _ => Just(plain).boxed(),
            };
            nested.prop_map(move |v| (format!("\"{key}\""), v))
        },
    );
    prop::collection::vec(member, 0..10).boxed()
}

const TOP_KEYS: &[&str] = &[
    "eventVersion",
    "eventTime",
    "eventName",
    "userIdentity",
    "resources",
    "readOnly",
    "managementEvent",
    "requestParameters",
    "tlsDetails",
    "someNewKey",
    "a\\/b",
];
const STRUCT_KEYS: &[&str] = &[
    "type",
    "arn",
    "accessKeyId",
    "sessionContext",
    "sessionIssuer",
    "attributes",
    "webIdFederationData",
    "tlsVersion",
    "unknownInner",
];
const RESOURCE_KEYS: &[&str] = &["ARN", "accountId", "type", "extra"];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn any_record_rebuilds_exactly(records in prop::collection::vec((members(TOP_KEYS, 0), ws()), 1..6)) {
        let texts: Vec<String> = records.into_iter().map(|(m, pad)| object(m, &pad)).collect();
        let mut builder = BatchBuilder::new();
        for (index, text) in texts.iter().enumerate() {
            builder.append(text, "k", index as u32).unwrap();
        }
        let originals: Vec<&str> = texts.iter().map(String::as_str).collect();
        let (batch, fallbacks) = builder.finish_verified(&originals).unwrap();
        prop_assert!(fallbacks.is_empty(), "fell back: {:?}", fallbacks.iter().map(|&r| &texts[r]).collect::<Vec<_>>());
        let mut rebuilder = Rebuilder::try_new(&batch).unwrap();
        for (row, text) in texts.iter().enumerate() {
            let mut out = Vec::new();
            rebuilder.rebuild(row, &mut out).unwrap();
            prop_assert_eq!(String::from_utf8(out).unwrap(), text.clone());
        }
    }

    /// The escapes the scanner saw in a record give the style detected from its
    /// text, which `BatchBuilder::append_in_style` relies on.
    #[test]
    fn scanned_escapes_give_the_detected_style(members in members(TOP_KEYS, 0), pad in ws()) {
        let text = object(members, &pad);
        let mut scanner = Scanner::new(text.as_bytes(), 128);
        scanner.skip_value().unwrap();
        prop_assert_eq!(Style::from(scanner.take_escapes()), Style::detect(text.as_bytes()));
    }
}
