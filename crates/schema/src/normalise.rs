//! Records to columns: [`BatchBuilder`] walks each record's exact text once.
//!
//! Typed values go to their columns. The record's text, with each stored value
//! replaced by a marker byte, becomes its layout: key order, spacing, literal nulls
//! and nesting all live there, so rebuilding is substitution. Values whose canonical
//! spelling differs from the original go to the residual; unknown members and values
//! of an unexpected type go to `additionalfields`, keyed by dotted path.

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::sync::Arc;

use arrow_array::builder::{
    BooleanBuilder, Int32Builder, StringBuilder, TimestampMicrosecondBuilder,
};
use arrow_array::{ArrayRef, ListArray, RecordBatch, StructArray};
use arrow_buffer::{NullBufferBuilder, OffsetBuffer, ScalarBuffer};
use arrow_schema::{DataType, Field};
use trailpack_decode::json::{Scanner, SyntaxError, ValueKind, unescape};
use trailpack_decode::time::{format_event_time, parse_event_time};

use crate::encode::Style;
use crate::fields::{FieldDef, Kind, RECORD_FIELDS, schema, struct_fields};
use crate::rebuild::Rebuilder;
use crate::{SchemaError, marker};

/// Default rows per batch; the archive writes one Parquet row group per batch.
pub const DEFAULT_BATCH_ROWS: usize = 64 * 1024;

/// Builds one [`RecordBatch`] of the archive schema from exact record texts.
#[derive(Debug)]
pub struct BatchBuilder {
    root: StructNode,
    additional: StringBuilder,
    layout: StringBuilder,
    residual: StringBuilder,
    source_key: StringBuilder,
    record_index: Int32Builder,
    walk: WalkState,
    unknown_paths: BTreeSet<String>,
    rows: usize,
}

/// Per-record buffers, reused across records.
#[derive(Debug, Default)]
struct WalkState {
    layout: String,
    copied: usize,
    additional: String,
    residual: String,
    path: String,
    style: Style,
    text: String,
}

impl Default for BatchBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl BatchBuilder {
    /// An empty builder.
    pub fn new() -> Self {
        BatchBuilder {
            root: StructNode::new(RECORD_FIELDS),
            additional: StringBuilder::new(),
            layout: StringBuilder::new(),
            residual: StringBuilder::new(),
            source_key: StringBuilder::new(),
            record_index: Int32Builder::new(),
            walk: WalkState::default(),
            unknown_paths: BTreeSet::new(),
            rows: 0,
        }
    }

    /// Rows appended so far.
    pub fn len(&self) -> usize {
        self.rows
    }

    /// Whether no rows were appended.
    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// Dotted paths of the unknown members seen so far.
    pub fn unknown_paths(&self) -> &BTreeSet<String> {
        &self.unknown_paths
    }

    /// Append one record: the exact text of one element of a file's `Records` array
    /// (already validated by `trailpack_decode`), its file's key and its index there.
    /// Its [`Style`] is detected from its text.
    pub fn append(
        &mut self,
        text: &str,
        source_key: &str,
        record_index: u32,
    ) -> Result<(), SchemaError> {
        let style = Style::detect(text.as_bytes());
        self.append_in_style(text, style, source_key, record_index)
    }

    /// [`BatchBuilder::append`] for a record whose style is known: from the escapes
    /// that decoding saw in it (`RecordSpan::escapes`), so that its text is not
    /// searched again. A wrong style loses nothing: values spelled otherwise go to
    /// the residual, and the proof checks every row.
    pub fn append_in_style(
        &mut self,
        text: &str,
        style: Style,
        source_key: &str,
        record_index: u32,
    ) -> Result<(), SchemaError> {
        let record = text.as_bytes();
        let record_index = i32::try_from(record_index).map_err(|_| SchemaError::Column {
            column: crate::fields::RECORD_INDEX.to_string(),
            reason: "a record index over 2^31 - 1",
        })?;
        let walk = &mut self.walk;
        walk.style = style;
        walk.layout.clear();
        walk.layout.push(char::from(walk.style.to_byte()));
        walk.copied = 0;
        walk.additional.clear();
        walk.residual.clear();
        walk.path.clear();
        let mut scanner = Scanner::new(record, crate::MAX_DEPTH);
        if scanner.peek().map_err(syntax)? != ValueKind::Object {
            return Err(SchemaError::NotAnObject);
        }
        self.root
            .walk(text, &mut scanner, walk, &mut self.unknown_paths)
            .map_err(syntax)?;
        walk.layout
            .push_str(text.get(walk.copied..).unwrap_or_default());
        self.layout.append_value(&walk.layout);
        append_collection(&mut self.additional, '{', &walk.additional, '}');
        append_collection(&mut self.residual, '[', &walk.residual, ']');
        self.source_key.append_value(source_key);
        self.record_index.append_value(record_index);
        self.rows += 1;
        Ok(())
    }

    /// Finish the batch and prove it: rebuild every row from the finished columns and
    /// compare it with `originals` (the appended records, in order). A row that does
    /// not match keeps its whole text in `_raw`. Returns the batch and those rows.
    pub fn finish_verified(
        mut self,
        originals: &[&str],
    ) -> Result<(RecordBatch, Vec<usize>), SchemaError> {
        if originals.len() != self.rows {
            return Err(SchemaError::RowCount {
                expected: self.rows,
                found: originals.len(),
            });
        }
        let mut columns: Vec<ArrayRef> = self.root.finish_children();
        columns.push(Arc::new(self.additional.finish()));
        columns.push(Arc::new(self.layout.finish()));
        columns.push(Arc::new(self.residual.finish()));
        let raw_at = columns.len();
        columns.push(Arc::new(StringBuilder::new().finish()));
        columns.push(Arc::new(self.source_key.finish()));
        columns.push(Arc::new(self.record_index.finish()));
        // Verify against a batch with an all-null `_raw` so that every row is rebuilt
        // from the typed columns, not copied.
        let mut raw = StringBuilder::new();
        for _ in 0..self.rows {
            raw.append_null();
        }
        columns[raw_at] = Arc::new(raw.finish());
        let batch = RecordBatch::try_new(schema(), columns.clone())?;
        let mut rebuilder = Rebuilder::try_new(&batch)?;
        let mut mismatched = Vec::new();
        let mut out = Vec::new();
        for (row, original) in originals.iter().enumerate() {
            out.clear();
            let same =
                rebuilder.rebuild(row, &mut out).is_ok() && out.as_slice() == original.as_bytes();
            if !same {
                mismatched.push(row);
            }
        }
        if mismatched.is_empty() {
            return Ok((batch, mismatched));
        }
        let mut raw = StringBuilder::new();
        let mut next = mismatched.iter().peekable();
        for (row, original) in originals.iter().enumerate() {
            if next.next_if_eq(&&row).is_some() {
                raw.append_value(original);
            } else {
                raw.append_null();
            }
        }
        columns[raw_at] = Arc::new(raw.finish());
        Ok((RecordBatch::try_new(schema(), columns)?, mismatched))
    }
}

fn syntax(error: SyntaxError) -> SchemaError {
    SchemaError::Syntax(error)
}

fn append_collection(builder: &mut StringBuilder, open: char, items: &str, close: char) {
    if items.is_empty() {
        builder.append_null();
        return;
    }
    // StringBuilder's fmt::Write appends to the value that append_value ends.
    let _ = write!(builder, "{open}{items}{close}");
    builder.append_value("");
}

// The record is text validated once; every span and key starts and ends on an
// ASCII token edge, so slicing it is exact. Were one not, the slice would be empty,
// the row would fail its proof and keep its whole text in `_raw`.
impl WalkState {
    /// Replace the value at `span` in the layout with `marker`.
    fn mark(&mut self, record: &str, span: std::ops::Range<usize>, marker: u8) {
        self.layout
            .push_str(record.get(self.copied..span.start).unwrap_or_default());
        self.layout.push(char::from(marker));
        self.copied = span.end;
    }

    /// Keep the value at `span` in `additionalfields` under the current path + key.
    fn keep_additional(&mut self, record: &str, key: &str, span: std::ops::Range<usize>) {
        if !self.additional.is_empty() {
            self.additional.push(',');
        }
        self.additional.push('"');
        self.additional.push_str(&self.path);
        self.additional
            .push_str(key.get(1..key.len() - 1).unwrap_or_default());
        self.additional.push_str("\":");
        self.additional
            .push_str(record.get(span.clone()).unwrap_or_default());
        self.mark(record, span, marker::ADDITIONAL);
    }

    /// Keep the value at `span` verbatim in the residual.
    fn keep_residual(&mut self, record: &str, span: std::ops::Range<usize>) {
        if !self.residual.is_empty() {
            self.residual.push(',');
        }
        self.residual
            .push_str(record.get(span.clone()).unwrap_or_default());
        self.mark(record, span, marker::RESIDUAL);
    }
}

/// Builders for one JSON object with known members.
#[derive(Debug)]
struct StructNode {
    defs: &'static [FieldDef],
    children: Vec<Node>,
    validity: NullBufferBuilder,
}

#[derive(Debug)]
struct ListNode {
    element: StructNode,
    offsets: Vec<i32>,
    validity: NullBufferBuilder,
}

#[derive(Debug)]
enum Node {
    Text(StringBuilder),
    Bool(BooleanBuilder),
    Timestamp(TimestampMicrosecondBuilder),
    Struct(StructNode),
    List(ListNode),
}

impl Node {
    fn new(kind: Kind) -> Node {
        match kind {
            Kind::String | Kind::Json => Node::Text(StringBuilder::new()),
            Kind::Bool => Node::Bool(BooleanBuilder::new()),
            Kind::Timestamp => Node::Timestamp(TimestampMicrosecondBuilder::new()),
            Kind::Struct(defs) => Node::Struct(StructNode::new(defs)),
            Kind::List(defs) => Node::List(ListNode {
                element: StructNode::new(defs),
                offsets: vec![0],
                validity: NullBufferBuilder::new(0),
            }),
        }
    }

    fn append_null(&mut self) {
        match self {
            Node::Text(b) => b.append_null(),
            Node::Bool(b) => b.append_null(),
            Node::Timestamp(b) => b.append_null(),
            Node::Struct(s) => s.append_null(),
            Node::List(l) => {
                l.offsets.push(*l.offsets.last().unwrap_or(&0));
                l.validity.append_null();
            }
        }
    }

    fn finish(&mut self, kind: Kind) -> ArrayRef {
        match self {
            Node::Text(b) => Arc::new(b.finish()),
            Node::Bool(b) => Arc::new(b.finish()),
            Node::Timestamp(b) => Arc::new(b.finish().with_timezone("UTC")),
            Node::Struct(s) => Arc::new(s.finish()),
            Node::List(l) => {
                let Kind::List(defs) = kind else {
                    unreachable!("list nodes are built from list kinds")
                };
                let values = l.element.finish();
                let offsets = std::mem::replace(&mut l.offsets, vec![0]);
                let field = Field::new("element", DataType::Struct(struct_fields(defs)), true);
                Arc::new(ListArray::new(
                    Arc::new(field),
                    OffsetBuffer::new(ScalarBuffer::from(offsets)),
                    Arc::new(values),
                    l.validity.finish(),
                ))
            }
        }
    }
}

impl StructNode {
    fn new(defs: &'static [FieldDef]) -> StructNode {
        StructNode {
            defs,
            children: defs.iter().map(|def| Node::new(def.kind)).collect(),
            validity: NullBufferBuilder::new(0),
        }
    }

    fn append_null(&mut self) {
        for child in &mut self.children {
            child.append_null();
        }
        self.validity.append_null();
    }

    fn finish_children(&mut self) -> Vec<ArrayRef> {
        self.children
            .iter_mut()
            .zip(self.defs)
            .map(|(child, def)| child.finish(def.kind))
            .collect()
    }

    fn finish(&mut self) -> StructArray {
        let children = self.finish_children();
        StructArray::new(struct_fields(self.defs), children, self.validity.finish())
    }

    /// Walk the object at the scanner, appending exactly one value to every child.
    /// `text` is the scanner's record, already validated as UTF-8.
    fn walk(
        &mut self,
        text: &str,
        scanner: &mut Scanner<'_>,
        walk: &mut WalkState,
        unknown: &mut BTreeSet<String>,
    ) -> Result<(), SyntaxError> {
        let mut seen = 0u64;
        scanner.begin_object()?;
        let mut first = true;
        // Records mostly list their members in the documented order, so the search
        // starts after the last member found.
        let mut next = 0;
        while scanner.next_key(first)? {
            first = false;
            // A key spelled as the schema spells it is compared, not scanned.
            let key_start = scanner.position();
            let mut later = None;
            for (i, def) in self.defs.iter().enumerate().skip(next) {
                if scanner.key_if(def.key)? {
                    later = Some(i);
                    break;
                }
            }
            let (key, index) = match later {
                Some(i) => {
                    let key_end = key_start + self.defs[i].key.len() + 2;
                    (text.get(key_start..key_end).unwrap_or("\"\""), Some(i))
                }
                None => {
                    let key = text.get(scanner.key()?).unwrap_or("\"\"");
                    let earlier = self.defs[..next]
                        .iter()
                        .position(|def| key_matches(key, def.key));
                    (key, earlier)
                }
            };
            let index = index.filter(|&i| seen & (1 << i) == 0);
            let Some(index) = index else {
                let span = scanner.skip_value()?;
                let path = format!(
                    "{}{}",
                    walk.path,
                    key.get(1..key.len() - 1).unwrap_or_default()
                );
                unknown.insert(path);
                walk.keep_additional(text, key, span);
                continue;
            };
            seen |= 1 << index;
            next = index + 1;
            let def = self.defs[index];
            walk_value(
                &mut self.children[index],
                def,
                key,
                text,
                scanner,
                walk,
                unknown,
            )?;
        }
        for (index, child) in self.children.iter_mut().enumerate() {
            if seen & (1 << index) == 0 {
                child.append_null();
            }
        }
        self.validity.append_non_null();
        Ok(())
    }
}

fn key_matches(raw_key: &str, key: &str) -> bool {
    raw_key.len() == key.len() + 2 && raw_key.get(1..raw_key.len() - 1) == Some(key)
}

/// Walk one member's value into its node, or divert it when its type is unexpected.
fn walk_value(
    node: &mut Node,
    def: FieldDef,
    key: &str,
    text: &str,
    scanner: &mut Scanner<'_>,
    walk: &mut WalkState,
    unknown: &mut BTreeSet<String>,
) -> Result<(), SyntaxError> {
    let kind = scanner.peek()?;
    if kind == ValueKind::Null {
        // The literal stays in the layout; the column is null.
        scanner.skip_value()?;
        node.append_null();
        return Ok(());
    }
    match (node, def.kind, kind) {
        (Node::Text(builder), Kind::String, ValueKind::String) => {
            let (span, escaped) = scanner.string_escaped()?;
            let token = text_of(text, span.clone());
            let value = if escaped {
                unescape(token)
            } else {
                Some(Cow::Borrowed(&token[1..token.len() - 1]))
            };
            match value {
                Some(value) => {
                    builder.append_value(&value);
                    let canonical = if escaped {
                        walk.style.is_canonical(&value, token)
                    } else {
                        walk.style.is_plain(&value)
                    };
                    if canonical {
                        walk.mark(text, span, marker::VALUE);
                    } else {
                        walk.keep_residual(text, span);
                    }
                }
                None => {
                    builder.append_null();
                    walk.keep_residual(text, span);
                }
            }
        }
        (Node::Text(builder), Kind::Json, _) => {
            let span = scanner.skip_value()?;
            builder.append_value(text_of(text, span.clone()));
            walk.mark(text, span, marker::VALUE);
        }
        (Node::Bool(builder), _, ValueKind::Bool) => {
            let span = scanner.skip_value()?;
            builder.append_value(text.as_bytes().get(span.start) == Some(&b't'));
            walk.mark(text, span, marker::VALUE);
        }
        (Node::Timestamp(builder), _, ValueKind::String) => {
            let span = scanner.string()?;
            let token = text_of(text, span.clone());
            let value = unescape(token);
            let micros = value.as_deref().and_then(parse_event_time);
            builder.append_option(micros);
            let canonical = match (micros, value) {
                (Some(micros), Some(value)) => {
                    walk.text.clear();
                    format_event_time(micros, &mut walk.text);
                    walk.text == value && walk.style.is_canonical(&value, token)
                }
                _ => false,
            };
            if canonical {
                walk.mark(text, span, marker::VALUE);
            } else {
                walk.keep_residual(text, span);
            }
        }
        (Node::Struct(child), _, ValueKind::Object) => {
            let depth = walk.path.len();
            walk.path.push_str(key.get(1..key.len() - 1).unwrap_or("?"));
            walk.path.push('.');
            child.walk(text, scanner, walk, unknown)?;
            walk.path.truncate(depth);
        }
        (Node::List(list), _, ValueKind::Array) if elements_are_objects(scanner)? => {
            let depth = walk.path.len();
            walk.path.push_str(key.get(1..key.len() - 1).unwrap_or("?"));
            walk.path.push_str("[].");
            scanner.begin_array()?;
            let mut count = 0i32;
            while scanner.next_element(count == 0)? {
                list.element.walk(text, scanner, walk, unknown)?;
                count += 1;
            }
            walk.path.truncate(depth);
            let last = *list.offsets.last().unwrap_or(&0);
            list.offsets.push(last + count);
            list.validity.append_non_null();
        }
        (node, _, _) => {
            // A value of an unexpected type: the column stays null and the exact text
            // goes to `additionalfields`, where a query can still see it.
            node.append_null();
            let span = scanner.skip_value()?;
            walk.keep_additional(text, key, span);
        }
    }
    Ok(())
}

/// Whether every element of the array at the scanner is an object (consumes nothing).
fn elements_are_objects(scanner: &Scanner<'_>) -> Result<bool, SyntaxError> {
    let mut probe = scanner.clone();
    probe.begin_array()?;
    let mut first = true;
    while probe.next_element(first)? {
        first = false;
        if probe.peek()? != ValueKind::Object {
            return Ok(false);
        }
        probe.skip_value()?;
    }
    Ok(true)
}

fn text_of(record: &str, span: std::ops::Range<usize>) -> &str {
    // Spans fall on token edges, which are ASCII, so they are character boundaries.
    record.get(span).unwrap_or("\"\"")
}

#[cfg(test)]
mod tests {
    use arrow_array::cast::AsArray;
    use arrow_array::types::TimestampMicrosecondType;
    use arrow_array::{Array, RecordBatch};

    use super::*;

    fn build(records: &[&str]) -> (RecordBatch, Vec<usize>) {
        let mut builder = BatchBuilder::new();
        for (index, record) in records.iter().enumerate() {
            builder.append(record, "key", index as u32).unwrap();
        }
        builder.finish_verified(records).unwrap()
    }

    fn text(batch: &RecordBatch, path: &str, row: usize) -> Option<String> {
        let mut parts = path.split('.');
        let mut array = batch.column_by_name(parts.next().unwrap()).unwrap().clone();
        for part in parts {
            array = array.as_struct().column_by_name(part).unwrap().clone();
        }
        let array = array.as_string::<i32>();
        array.is_valid(row).then(|| array.value(row).to_string())
    }

    #[test]
    fn compact_java_record_goes_to_typed_columns() {
        let record = r#"{"eventVersion":"1.08","userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::123456789012:user\/alice","sessionContext":{"sessionIssuer":{},"attributes":{"mfaAuthenticated":"false"}}},"eventTime":"2021-01-02T03:04:05Z","userAgent":"aws-cli\/2.0 x\u003dy","requestParameters":{"bucketName":"b","n":1.50},"responseElements":null,"readOnly":true,"resources":[{"ARN":"arn:aws:s3:::b","type":"AWS::S3::Bucket"},{"accountId":"1"}]}"#;
        let (batch, fallbacks) = build(&[record]);
        assert!(fallbacks.is_empty());
        assert_eq!(
            text(&batch, "useridentity.arn", 0).as_deref(),
            Some("arn:aws:iam::123456789012:user/alice")
        );
        assert_eq!(
            text(
                &batch,
                "useridentity.sessioncontext.attributes.mfaauthenticated",
                0
            )
            .as_deref(),
            Some("false")
        );
        assert_eq!(
            text(&batch, "useragent", 0).as_deref(),
            Some("aws-cli/2.0 x=y")
        );
        assert_eq!(
            text(&batch, "requestparameters", 0).as_deref(),
            Some(r#"{"bucketName":"b","n":1.50}"#)
        );
        assert_eq!(text(&batch, "responseelements", 0), None);
        assert_eq!(text(&batch, "additionalfields", 0), None);
        assert_eq!(text(&batch, "_residual", 0), None);
        let time = batch.column_by_name("eventtime").unwrap();
        let time = time.as_primitive::<TimestampMicrosecondType>();
        assert_eq!(time.value(0), 1_609_556_645_000_000);
        let resources = batch.column_by_name("resources").unwrap().as_list::<i32>();
        assert_eq!(resources.value_length(0), 2);
        let readonly = batch.column_by_name("readonly").unwrap().as_boolean();
        assert!(readonly.value(0));
    }

    #[test]
    fn unknown_and_mistyped_members_go_to_additionalfields() {
        let record = r#"{"eventVersion":"1.11","newTop":[1,2],"userIdentity":{"type":"Root","brandNew":{"a":"b"}},"readOnly":"yes","eventName":"A","eventName":"B"}"#;
        let (batch, fallbacks) = build(&[record]);
        assert!(fallbacks.is_empty());
        assert_eq!(
            text(&batch, "additionalfields", 0).as_deref(),
            Some(
                r#"{"newTop":[1,2],"userIdentity.brandNew":{"a":"b"},"readOnly":"yes","eventName":"B"}"#
            )
        );
        assert_eq!(text(&batch, "eventname", 0).as_deref(), Some("A"));
        assert!(batch.column_by_name("readonly").unwrap().is_null(0));
    }

    #[test]
    fn keys_are_found_in_any_order_and_only_when_spelled_exactly() {
        // eventName before eventVersion (found by the search from the start), keys
        // one byte longer or shorter than a known one, and a known key spelled with
        // an escape (kept as written, like any unknown key).
        let record = r#"{"eventName":"A","eventNam":1,"eventVersion":"1.0","eventSourceX":2,"event\u0053ource":"s","awsRegion":"r"}"#;
        let (batch, fallbacks) = build(&[record]);
        assert!(fallbacks.is_empty());
        assert_eq!(text(&batch, "eventname", 0).as_deref(), Some("A"));
        assert_eq!(text(&batch, "eventversion", 0).as_deref(), Some("1.0"));
        assert_eq!(text(&batch, "awsregion", 0).as_deref(), Some("r"));
        assert_eq!(text(&batch, "eventsource", 0), None);
        assert_eq!(
            text(&batch, "additionalfields", 0).as_deref(),
            Some(r#"{"eventNam":1,"eventSourceX":2,"event\u0053ource":"s"}"#)
        );
    }

    #[test]
    fn a_wrong_style_loses_nothing() {
        // A Java-style record appended as if it used no optional escapes: the values
        // spelled with `\/` are not canonical in that style, so they keep their exact
        // text in the residual, and the row still rebuilds byte for byte.
        let record = r#"{"eventVersion":"1.08","eventSource":"s3.amazonaws.com","userAgent":"aws-cli\/2.0"}"#;
        let mut builder = BatchBuilder::new();
        builder
            .append_in_style(record, Style::default(), "key", 0)
            .unwrap();
        let (batch, fallbacks) = builder.finish_verified(&[record]).unwrap();
        assert!(fallbacks.is_empty());
        assert_eq!(text(&batch, "useragent", 0).as_deref(), Some("aws-cli/2.0"));
        assert_eq!(
            text(&batch, "_residual", 0).as_deref(),
            Some(r#"["aws-cli\/2.0"]"#)
        );
        let mut rebuilt = Vec::new();
        Rebuilder::try_new(&batch)
            .unwrap()
            .rebuild(0, &mut rebuilt)
            .unwrap();
        assert_eq!(rebuilt, record.as_bytes());
    }

    #[test]
    fn odd_spellings_go_to_the_residual_but_stay_queryable() {
        let record = "{ \"eventVersion\" : \"1.0\",\n \"eventName\":\"\\u0041ssume\", \"sourceIPAddress\":\"a/b\\/c\", \"eventTime\":\"2021-01-02T03:04:05.5Z\"}";
        let (batch, fallbacks) = build(&[record]);
        assert!(fallbacks.is_empty());
        assert_eq!(text(&batch, "eventname", 0).as_deref(), Some("Assume"));
        assert_eq!(text(&batch, "sourceipaddress", 0).as_deref(), Some("a/b/c"));
        assert_eq!(
            text(&batch, "_residual", 0).as_deref(),
            Some(r#"["\u0041ssume","a/b\/c","2021-01-02T03:04:05.5Z"]"#)
        );
    }

    #[test]
    fn records_share_a_layout_when_only_values_differ() {
        let (batch, _) = build(&[
            r#"{"eventVersion":"1.08","eventName":"A","readOnly":true}"#,
            r#"{"eventVersion":"1.09","eventName":"Bee","readOnly":false}"#,
        ]);
        assert_eq!(text(&batch, "_layout", 0), text(&batch, "_layout", 1));
        assert_eq!(
            text(&batch, "_layout", 0).as_deref(),
            Some("0{\"eventVersion\":\u{1},\"eventName\":\u{1},\"readOnly\":\u{1}}")
        );
    }

    #[test]
    fn row_count_mismatch_is_an_error() {
        let mut builder = BatchBuilder::new();
        builder.append("{}", "key", 0).unwrap();
        let err = builder.finish_verified(&[]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "batch has 1 rows but 0 originals were given"
        );
        let err = BatchBuilder::new().append("[]", "key", 0).unwrap_err();
        assert_eq!(err.to_string(), "record is not a JSON object");
    }
}
