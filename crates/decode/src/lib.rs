//! Decode one CloudTrail log file: gunzip, hash, and locate every record exactly.
//!
//! This crate owns the first step after reading a file's bytes. It inflates exactly
//! one gzip member (trailing bytes make the file invalid, as `aws cloudtrail
//! validate-logs` treats them) with libdeflate, through the workspace's one
//! `unsafe` FFI module (`inflate`), and flate2 as the reference that names a fault;
//! it computes the SHA-256 of the uncompressed bytes (the
//! value CloudTrail's digest files sign), validates the JSON, and records the byte
//! span of every element of the top-level `Records` array together with its
//! `eventTime`. Nothing is re-serialised: a [`DecodedFile`] is the original bytes plus
//! offsets, and [`Frame`] holds the text around the records so that the file can be
//! reassembled byte for byte.
//!
//! Main types: [`DecodeOptions`], [`DecodedFile`], [`Frame`], [`DecodeError`]; the
//! span scanner is in [`json`], the 16-byte search for the end of a string's plain
//! run (SSE2, behind one `unsafe` call) in [`plain`], and the `eventTime` codec in
//! [`time`].
//!
//! ```
//! use trailpack_decode::{decode_file, DecodeOptions, Encoding};
//!
//! let text = r#"{"Records":[{"eventVersion":"1.08","eventTime":"2021-01-01T00:00:00Z"}]}"#;
//! let file = decode_file(text.as_bytes(), Encoding::Plain, &DecodeOptions::default()).unwrap();
//! assert_eq!(file.records.len(), 1);
//! assert_eq!(file.record(0), &text[12..text.len() - 2]);
//! let mut rebuilt = Vec::new();
//! file.frame().assemble((0..1).map(|i| file.record(i)), &mut rebuilt);
//! assert_eq!(rebuilt, text.as_bytes());
//! ```

#[allow(unsafe_code)]
mod inflate;
pub mod json;
pub mod plain;
pub mod time;

use std::io::Read;
use std::ops::Range;

use sha2::{Digest, Sha256};

use crate::json::{Escapes, Scanner, SyntaxError, ValueKind};

/// Default limit on a file's uncompressed size: 256 MiB. CloudTrail files are a few
/// MB at most; the limit stops gzip bombs.
pub const DEFAULT_MAX_FILE_BYTES: usize = 256 << 20;
/// Default limit on one record's size: 1 MiB. CloudTrail caps events at 256 KB.
pub const DEFAULT_MAX_RECORD_BYTES: usize = 1 << 20;
/// Default limit on JSON nesting depth, counting the file's own object and array.
pub const DEFAULT_MAX_DEPTH: usize = 128;

/// Limits applied while decoding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeOptions {
    /// Largest accepted uncompressed file, in bytes.
    pub max_file_bytes: usize,
    /// Largest accepted record, in bytes.
    pub max_record_bytes: usize,
    /// Deepest accepted nesting of objects and arrays.
    pub max_depth: usize,
}

impl Default for DecodeOptions {
    fn default() -> Self {
        DecodeOptions {
            max_file_bytes: DEFAULT_MAX_FILE_BYTES,
            max_record_bytes: DEFAULT_MAX_RECORD_BYTES,
            max_depth: DEFAULT_MAX_DEPTH,
        }
    }
}

/// How a file's bytes are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// One gzip member (`.json.gz`).
    Gzip,
    /// Uncompressed JSON (`.json`).
    Plain,
}

/// Why a file could not be decoded. Each message is one line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Zero bytes.
    #[error("empty file (0 bytes)")]
    EmptyFile,
    /// A `.gz` file without the gzip magic bytes.
    #[error("not gzip data (no gzip header)")]
    NotGzip,
    /// The deflate stream or gzip trailer is damaged or cut short.
    #[error("corrupt gzip data: {0}")]
    CorruptGzip(String),
    /// Bytes after the single gzip member.
    #[error("{0} trailing bytes after the gzip member")]
    TrailingBytes(usize),
    /// Uncompressed content exceeds [`DecodeOptions::max_file_bytes`].
    #[error("uncompressed size exceeds the {limit} byte limit")]
    FileTooLarge {
        /// The limit in force.
        limit: usize,
    },
    /// Uncompressed content is empty.
    #[error("no content (uncompressed size 0)")]
    EmptyContent,
    /// Content is not UTF-8.
    #[error("not UTF-8 text (invalid byte at offset {offset})")]
    NotUtf8 {
        /// Offset of the first invalid byte.
        offset: usize,
    },
    /// Content is not valid JSON.
    #[error("invalid JSON: {0}")]
    Json(#[from] SyntaxError),
    /// Valid JSON without a top-level `{"Records": [...]}`.
    #[error("not a CloudTrail log file: {0}")]
    NoRecords(&'static str),
    /// An element of `Records` that is not an object.
    #[error("record {index} is not a JSON object")]
    RecordNotObject {
        /// Index within `Records`.
        index: usize,
    },
    /// A record larger than [`DecodeOptions::max_record_bytes`].
    #[error("record {index} is {size} bytes, over the {limit} byte limit")]
    RecordTooLarge {
        /// Index within `Records`.
        index: usize,
        /// The record's size.
        size: usize,
        /// The limit in force.
        limit: usize,
    },
    /// A record that is not a CloudTrail event (for example an S3 event notification).
    #[error("record {index} is not a CloudTrail event: {reason}")]
    NotCloudTrail {
        /// Index within `Records`.
        index: usize,
        /// What is missing or wrong.
        reason: String,
    },
}

/// One element of `Records`: where it is and when it happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordSpan {
    /// Byte range of the record object in [`DecodedFile::bytes`].
    pub span: Range<usize>,
    /// `eventTime` in microseconds since the Unix epoch, when it parses.
    pub event_time: Option<i64>,
    /// The optional escapes the record's strings use.
    pub escapes: Escapes,
}

/// A decoded log file: its uncompressed bytes, their hash, and its records' spans.
#[derive(Debug, Clone)]
pub struct DecodedFile {
    /// The uncompressed content, exactly as CloudTrail wrote it: valid UTF-8,
    /// checked once here, so that every record is text without a second check.
    pub text: String,
    /// SHA-256 of [`DecodedFile::text`].
    pub sha256: [u8; 32],
    /// The records in file order.
    pub records: Vec<RecordSpan>,
    /// Offset just inside the `Records` array's `[`.
    array_start: usize,
}

impl DecodedFile {
    /// The text of record `index`.
    pub fn record(&self, index: usize) -> &str {
        &self.text[self.records[index].span.clone()]
    }

    /// The text around the records.
    pub fn frame(&self) -> Frame {
        // Spans fall on ASCII punctuation, so every slice is on a character boundary.
        let text = |range: Range<usize>| self.text[range].to_owned();
        let (Some(first), Some(last)) = (self.records.first(), self.records.last()) else {
            return Frame {
                prefix: text(0..self.array_start),
                separators: Separators::Uniform(String::new()),
                suffix: text(self.array_start..self.text.len()),
            };
        };
        let gaps = || {
            self.records
                .windows(2)
                .map(|pair| &self.text[pair[0].span.end..pair[1].span.start])
        };
        let separators = match gaps().next() {
            Some(gap) if gaps().any(|g| g != gap) => {
                Separators::Each(gaps().map(str::to_owned).collect())
            }
            Some(gap) => Separators::Uniform(gap.to_owned()),
            None => Separators::Uniform(String::new()),
        };
        Frame {
            prefix: text(0..first.span.start),
            separators,
            suffix: text(last.span.end..self.text.len()),
        }
    }
}

/// The text of a log file outside its records: `{"Records":[`, the separators, `]}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// Everything before the first record.
    pub prefix: String,
    /// What stands between consecutive records.
    pub separators: Separators,
    /// Everything after the last record.
    pub suffix: String,
}

/// The separators between records: one string for all (the usual `,`), or each.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Separators {
    /// The same text between every pair of records.
    Uniform(String),
    /// The text between record `i` and `i + 1`, for every `i`.
    Each(Vec<String>),
}

impl Frame {
    /// Append the whole file to `out`, given its records in order.
    pub fn assemble<R: AsRef<[u8]>>(&self, records: impl Iterator<Item = R>, out: &mut Vec<u8>) {
        out.extend_from_slice(self.prefix.as_bytes());
        for (index, record) in records.enumerate() {
            out.extend_from_slice(self.separator_before(index).as_bytes());
            out.extend_from_slice(record.as_ref());
        }
        out.extend_from_slice(self.suffix.as_bytes());
    }

    /// Whether [`Frame::assemble`] of `records` would give exactly `original`,
    /// checked piece by piece without building the copy.
    pub fn reassembles<R: AsRef<[u8]>>(
        &self,
        records: impl Iterator<Item = R>,
        original: &[u8],
    ) -> bool {
        let mut rest = original;
        let mut take = |piece: &[u8]| match rest.split_at_checked(piece.len()) {
            // A record is usually a slice of `original` at this very place: equal
            // without reading it.
            Some((head, tail)) if std::ptr::eq(head, piece) || head == piece => {
                rest = tail;
                true
            }
            _ => false,
        };
        if !take(self.prefix.as_bytes()) {
            return false;
        }
        for (index, record) in records.enumerate() {
            if !take(self.separator_before(index).as_bytes()) || !take(record.as_ref()) {
                return false;
            }
        }
        take(self.suffix.as_bytes()) && rest.is_empty()
    }

    /// What stands before record `index`: nothing before the first.
    fn separator_before(&self, index: usize) -> &str {
        match (&self.separators, index.checked_sub(1)) {
            (_, None) => "",
            (Separators::Uniform(text), Some(_)) => text,
            (Separators::Each(texts), Some(gap)) => texts.get(gap).map_or("", String::as_str),
        }
    }
}

/// The gzip header flag that announces a header CRC-16.
const GZIP_FHCRC: u8 = 0x02;

/// Inflate one gzip member, rejecting trailing bytes and content over `max_bytes`.
///
/// libdeflate inflates the whole member at once into a buffer sized from the gzip
/// trailer (the size modulo 2^32, so it grows by doubling when the trailer is
/// short or wrong, up to the limit). Whatever it does not inflate cleanly (a
/// damaged or cut file, content over the limit, a header cut short or with a
/// CRC-16, which libdeflate skips unchecked) goes to [`gunzip_streaming`],
/// whose verdict and reason stand.
pub fn gunzip(input: &[u8], max_bytes: usize) -> Result<Vec<u8>, DecodeError> {
    check_gzip_magic(input)?;
    if input.get(3).is_none_or(|flags| flags & GZIP_FHCRC != 0) {
        return gunzip_streaming(input, max_bytes);
    }
    let over_limit = max_bytes.saturating_add(1);
    let mut capacity = trailer_size(input).min(over_limit);
    loop {
        let mut out = Vec::with_capacity(capacity);
        match inflate::gzip_member(input, &mut out) {
            inflate::Member::Inflated { consumed } if out.len() <= max_bytes => {
                return match input.len().saturating_sub(consumed) {
                    0 => Ok(out),
                    rest => Err(DecodeError::TrailingBytes(rest)),
                };
            }
            inflate::Member::OutputFull if capacity < over_limit => {
                capacity = capacity.saturating_mul(2).max(1 << 12).min(over_limit);
            }
            _ => return gunzip_streaming(input, max_bytes),
        }
    }
}

/// [`gunzip`] with flate2's streaming decoder (zlib-rs): the reference, which
/// names the fault in a file libdeflate rejects.
pub fn gunzip_streaming(input: &[u8], max_bytes: usize) -> Result<Vec<u8>, DecodeError> {
    check_gzip_magic(input)?;
    let hint = trailer_size(input).min(max_bytes);
    let mut out = Vec::with_capacity(hint.saturating_add(1));
    let mut decoder = flate2::bufread::GzDecoder::new(input);
    let limit = u64::try_from(max_bytes)
        .unwrap_or(u64::MAX)
        .saturating_add(1);
    (&mut decoder)
        .take(limit)
        .read_to_end(&mut out)
        .map_err(|e| DecodeError::CorruptGzip(e.to_string()))?;
    if out.len() > max_bytes {
        return Err(DecodeError::FileTooLarge { limit: max_bytes });
    }
    let rest = decoder.into_inner();
    if !rest.is_empty() {
        return Err(DecodeError::TrailingBytes(rest.len()));
    }
    Ok(out)
}

/// Refuse empty input and input without the gzip magic bytes.
fn check_gzip_magic(input: &[u8]) -> Result<(), DecodeError> {
    if input.is_empty() {
        return Err(DecodeError::EmptyFile);
    }
    if !input.starts_with(&[0x1f, 0x8b]) {
        return Err(DecodeError::NotGzip);
    }
    Ok(())
}

/// The trailer's ISIZE (the last four bytes): the uncompressed size modulo 2^32,
/// a capacity hint that the callers cap, so that a lying trailer cannot force a
/// huge allocation.
fn trailer_size(input: &[u8]) -> usize {
    input
        .len()
        .checked_sub(4)
        .and_then(|at| input.get(at..))
        .map_or(0, |tail| {
            u32::from_le_bytes([tail[0], tail[1], tail[2], tail[3]]) as usize
        })
}

/// Decode a log file's stored bytes into a [`DecodedFile`].
pub fn decode_file(
    input: &[u8],
    encoding: Encoding,
    options: &DecodeOptions,
) -> Result<DecodedFile, DecodeError> {
    let bytes = match encoding {
        Encoding::Gzip => gunzip(input, options.max_file_bytes)?,
        Encoding::Plain if input.is_empty() => return Err(DecodeError::EmptyFile),
        Encoding::Plain if input.len() > options.max_file_bytes => {
            return Err(DecodeError::FileTooLarge {
                limit: options.max_file_bytes,
            });
        }
        Encoding::Plain => input.to_vec(),
    };
    decode_bytes(bytes, options)
}

/// Decode uncompressed bytes into a [`DecodedFile`].
pub fn decode_bytes(bytes: Vec<u8>, options: &DecodeOptions) -> Result<DecodedFile, DecodeError> {
    if bytes.is_empty() {
        return Err(DecodeError::EmptyContent);
    }
    let text = String::from_utf8(bytes).map_err(|e| DecodeError::NotUtf8 {
        offset: e.utf8_error().valid_up_to(),
    })?;
    let (records, array_start) = scan_records(text.as_bytes(), options)?;
    let sha256 = sha256(text.as_bytes());
    Ok(DecodedFile {
        text,
        sha256,
        records,
        array_start,
    })
}

/// SHA-256 of `bytes`, as CloudTrail digests record it for uncompressed log files.
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// Find the top-level `Records` array and every record in it.
fn scan_records(
    bytes: &[u8],
    options: &DecodeOptions,
) -> Result<(Vec<RecordSpan>, usize), DecodeError> {
    let mut scanner = Scanner::new(bytes, options.max_depth);
    if scanner.peek()? != ValueKind::Object {
        // Report broken JSON as such before saying it is not CloudTrail.
        scanner.skip_value()?;
        if !scanner.at_end() {
            return Err(trailing_text(&scanner));
        }
        return Err(DecodeError::NoRecords("the top level is not a JSON object"));
    }
    scanner.begin_object()?;
    let mut found = None;
    let mut first = true;
    while let Some(key) = scanner.next_member(first)? {
        first = false;
        if &bytes[key] != b"\"Records\"" {
            scanner.skip_value()?;
            continue;
        }
        if found.is_some() {
            return Err(DecodeError::NoRecords("more than one \"Records\" key"));
        }
        if scanner.peek()? != ValueKind::Array {
            return Err(DecodeError::NoRecords("\"Records\" is not an array"));
        }
        found = Some(scan_array(&mut scanner, options)?);
    }
    if !scanner.at_end() {
        return Err(trailing_text(&scanner));
    }
    found.ok_or(DecodeError::NoRecords("no top-level \"Records\" array"))
}

/// The error for text after the top-level value.
fn trailing_text(scanner: &Scanner<'_>) -> DecodeError {
    let offset = scanner.position();
    DecodeError::Json(SyntaxError {
        offset,
        kind: json::SyntaxErrorKind::UnexpectedByte(scanner.bytes()[offset]),
    })
}

fn scan_array(
    scanner: &mut Scanner<'_>,
    options: &DecodeOptions,
) -> Result<(Vec<RecordSpan>, usize), DecodeError> {
    scanner.begin_array()?;
    let array_start = scanner.position();
    let mut records = Vec::new();
    let mut first = true;
    while scanner.next_element(first)? {
        first = false;
        let index = records.len();
        if scanner.peek()? != ValueKind::Object {
            return Err(DecodeError::RecordNotObject { index });
        }
        let record = scan_record(scanner, index)?;
        let size = record.span.len();
        if size > options.max_record_bytes {
            return Err(DecodeError::RecordTooLarge {
                index,
                size,
                limit: options.max_record_bytes,
            });
        }
        records.push(record);
    }
    Ok((records, array_start))
}

/// Validate one record and read what matters before normalising: is this a
/// CloudTrail event at all, and its `eventTime` (for sorting).
///
/// A CloudTrail event has an `eventVersion` of `"1.x"`; some documented examples omit
/// it, so a record without one is accepted when it names both `eventSource` and
/// `eventName`, and its `eventSource` is not an S3-style `"aws:..."` notification.
fn scan_record(scanner: &mut Scanner<'_>, index: usize) -> Result<RecordSpan, DecodeError> {
    let bytes = scanner.bytes();
    let start = scanner.position();
    scanner.take_escapes();
    scanner.begin_object()?;
    let mut event_version = None;
    let mut event_time = None;
    let mut event_source = None;
    let mut has_event_name = false;
    let mut first = true;
    while let Some(key) = scanner.next_member(first)? {
        first = false;
        let value = scanner.skip_value()?;
        match &bytes[key] {
            // The first occurrence counts, as in the typed columns.
            b"\"eventVersion\"" => event_version = event_version.or(Some(value)),
            b"\"eventTime\"" => event_time = event_time.or(Some(value)),
            b"\"eventSource\"" => event_source = event_source.or(Some(value)),
            b"\"eventName\"" => has_event_name = true,
            _ => {}
        }
    }
    let not_cloudtrail = |reason: String| DecodeError::NotCloudTrail { index, reason };
    match event_version {
        Some(version) => {
            let version = String::from_utf8_lossy(&bytes[version]);
            if !version.starts_with("\"1.") {
                let hint = if version.starts_with("\"2.") {
                    " (an S3 event notification?)"
                } else {
                    ""
                };
                return Err(not_cloudtrail(format!(
                    "eventVersion {version} is not 1.x{hint}"
                )));
            }
        }
        None => {
            let source = event_source.map(|span| &bytes[span]);
            let named = source.is_some_and(|s| s.first() == Some(&b'"')) && has_event_name;
            if !named {
                return Err(not_cloudtrail(
                    "no eventVersion, and no eventSource and eventName".into(),
                ));
            }
            if source.is_some_and(|s| s.starts_with(b"\"aws:")) {
                return Err(not_cloudtrail(
                    "eventSource \"aws:...\" is an AWS service notification, not CloudTrail".into(),
                ));
            }
        }
    }
    let event_time = event_time
        .and_then(|span| std::str::from_utf8(&bytes[span]).ok())
        .filter(|token| token.starts_with('"'))
        .and_then(json::unescape)
        .and_then(|text| time::parse_event_time(&text));
    Ok(RecordSpan {
        span: start..scanner.position(),
        event_time,
        escapes: scanner.take_escapes(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain(text: &str) -> Result<DecodedFile, DecodeError> {
        decode_file(text.as_bytes(), Encoding::Plain, &DecodeOptions::default())
    }

    #[test]
    fn frame_captures_odd_whitespace_and_extra_keys() {
        let text = "{ \"x\":1, \"Records\" : [ {\"eventVersion\":\"1.0\"} ,\n{\"eventVersion\":\"1.1\"},{\"eventVersion\":\"1.2\"} ] }\n";
        let file = plain(text).unwrap();
        assert_eq!(file.records.len(), 3);
        let frame = file.frame();
        assert_eq!(frame.prefix, "{ \"x\":1, \"Records\" : [ ");
        assert_eq!(
            frame.separators,
            Separators::Each(vec![" ,\n".into(), ",".into()])
        );
        assert_eq!(frame.suffix, " ] }\n");
        let mut out = Vec::new();
        frame.assemble(
            file.records.iter().map(|r| &file.text[r.span.clone()]),
            &mut out,
        );
        assert_eq!(out, text.as_bytes());
    }

    #[test]
    fn reassembles_only_the_exact_original() {
        let text = "{\"Records\":[{\"eventVersion\":\"1.0\"} ,{\"eventVersion\":\"1.1\"}]}";
        let file = plain(text).unwrap();
        let frame = file.frame();
        let records = || (0..file.records.len()).map(|i| file.record(i));
        assert!(frame.reassembles(records(), text.as_bytes()));
        // Copies of the records, not slices of the original, are compared by value.
        let copies: Vec<String> = records().map(str::to_owned).collect();
        assert!(frame.reassembles(copies.iter(), text.as_bytes()));
        let longer = format!("{text}\n");
        assert!(!frame.reassembles(records(), longer.as_bytes()));
        assert!(!frame.reassembles(records(), &text.as_bytes()[..text.len() - 1]));
        assert!(!frame.reassembles(records().rev(), text.as_bytes()));
        assert!(!frame.reassembles(records().take(1), text.as_bytes()));
        let changed = ["{\"eventVersion\":\"1.0\"}", "{\"eventVersion\":\"1.2\"}"];
        assert!(!frame.reassembles(changed.iter(), text.as_bytes()));
        let other_separator = text.replace(" ,", ", ");
        assert!(!frame.reassembles(records(), other_separator.as_bytes()));
    }

    #[test]
    fn each_record_reports_its_own_escapes() {
        // A key before `Records` escapes `/`; it belongs to no record.
        let text = r#"{"a\/b":1,"Records":[{"eventVersion":"1.0","arn":"x\/y"},{"eventVersion":"1.0","k\u003d":"\\/"},{"eventVersion":"1.0","e":"\u0027\u003C"}]}"#;
        let file = plain(text).unwrap();
        let escapes: Vec<Escapes> = file.records.iter().map(|r| r.escapes).collect();
        let seen = |solidus, html| Escapes { solidus, html };
        // An escaped backslash before `/` is no escape of `/`; upper-case hex is
        // not the Java serialiser's spelling.
        assert_eq!(
            escapes,
            [seen(true, false), seen(false, true), seen(false, true)]
        );
    }

    #[test]
    fn empty_records_array_round_trips() {
        let file = plain("{\"Records\":[ ]}").unwrap();
        assert!(file.records.is_empty());
        let mut out = Vec::new();
        file.frame().assemble(std::iter::empty::<&str>(), &mut out);
        assert_eq!(out, b"{\"Records\":[ ]}");
    }

    #[test]
    fn event_time_is_parsed_for_sorting() {
        let file = plain(r#"{"Records":[{"eventVersion":"1.08","eventTime":"2021-03-04T05:06:07Z","eventTime":"2022-01-01T00:00:00Z"},{"eventVersion":"1.08"}]}"#).unwrap();
        assert_eq!(file.records[0].event_time, Some(1_614_834_367_000_000));
        assert_eq!(file.records[1].event_time, None);
    }

    #[test]
    fn rejects_what_is_not_cloudtrail() {
        let cases = [
            (
                "[]",
                "not a CloudTrail log file: the top level is not a JSON object",
            ),
            (
                "{\"records\":[]}",
                "not a CloudTrail log file: no top-level \"Records\" array",
            ),
            (
                "{\"Records\":{}}",
                "not a CloudTrail log file: \"Records\" is not an array",
            ),
            (
                "{\"Records\":[],\"Records\":[]}",
                "not a CloudTrail log file: more than one \"Records\" key",
            ),
            ("{\"Records\":[1]}", "record 0 is not a JSON object"),
            (
                "{\"Records\":[{}]}",
                "record 0 is not a CloudTrail event: no eventVersion, and no eventSource and eventName",
            ),
            (
                r#"{"Records":[{"eventSource":"aws:sqs","eventName":"x"}]}"#,
                "record 0 is not a CloudTrail event: eventSource \"aws:...\" is an AWS service notification, not CloudTrail",
            ),
            (
                r#"{"Records":[{"eventVersion":"2.1","eventSource":"aws:s3"}]}"#,
                "record 0 is not a CloudTrail event: eventVersion \"2.1\" is not 1.x (an S3 event notification?)",
            ),
            (
                "{\"Records\":[]} x",
                "invalid JSON: unexpected byte 0x78 at byte 15",
            ),
            (
                "{\"Records\":[",
                "invalid JSON: unexpected end of input at byte 12",
            ),
            ("", "empty file (0 bytes)"),
        ];
        for (text, message) in cases {
            assert_eq!(plain(text).unwrap_err().to_string(), message, "{text}");
        }
        let not_utf8 = decode_bytes(b"{\"Records\":[\xff]}".to_vec(), &DecodeOptions::default());
        assert_eq!(not_utf8.unwrap_err(), DecodeError::NotUtf8 { offset: 12 });
    }

    #[test]
    fn record_and_file_limits_apply() {
        let options = DecodeOptions {
            max_record_bytes: 30,
            max_file_bytes: 100,
            ..DecodeOptions::default()
        };
        let big = format!(
            r#"{{"Records":[{{"eventVersion":"1.0","x":"{}"}}]}}"#,
            "a".repeat(20)
        );
        let err = decode_file(big.as_bytes(), Encoding::Plain, &options).unwrap_err();
        assert_eq!(
            err,
            DecodeError::RecordTooLarge {
                index: 0,
                size: 49,
                limit: 30
            }
        );
        let huge = " ".repeat(101);
        let err = decode_file(huge.as_bytes(), Encoding::Plain, &options).unwrap_err();
        assert_eq!(err, DecodeError::FileTooLarge { limit: 100 });
    }
}
