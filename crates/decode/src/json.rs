//! A validating JSON scanner that reports the exact byte span of every token.
//!
//! General-purpose parsers turn text into values and forget how it was spelled.
//! trailpack must rebuild the original bytes, so it walks the text itself: every
//! value is located by its span in the input, and nothing is copied until a caller
//! asks for it. The scanner follows RFC 8259 (numbers, escapes, literals), expects
//! the input to be valid UTF-8 already, and bounds nesting depth.
//!
//! Templates (record layouts) reuse the same scanner: bytes `0x01..=0x03` stand for
//! values there, and are accepted only when [`Scanner::with_markers`] is set.

use std::borrow::Cow;
use std::ops::Range;

use crate::plain::{Stops, plain_run};

/// What went wrong while scanning, and at which byte offset.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind} at byte {offset}")]
pub struct SyntaxError {
    /// Byte offset into the scanned input.
    pub offset: usize,
    /// The kind of error.
    pub kind: SyntaxErrorKind,
}

/// The kinds of [`SyntaxError`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SyntaxErrorKind {
    /// Input ended inside a value.
    #[error("unexpected end of input")]
    UnexpectedEnd,
    /// A byte that cannot start or continue a value here.
    #[error("unexpected byte {0:#04x}")]
    UnexpectedByte(u8),
    /// A backslash escape that JSON does not define.
    #[error("invalid escape sequence")]
    InvalidEscape,
    /// An unescaped control character inside a string.
    #[error("control character in string")]
    ControlCharacter,
    /// A number that does not follow the JSON grammar.
    #[error("invalid number")]
    InvalidNumber,
    /// Objects and arrays nested deeper than the limit.
    #[error("nesting deeper than {0} levels")]
    TooDeep(usize),
}

/// The kind of the value that starts at the scanner's position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueKind {
    /// `{`
    Object,
    /// `[`
    Array,
    /// `"`
    String,
    /// `-` or a digit
    Number,
    /// `true` or `false`
    Bool,
    /// `null`
    Null,
    /// A template marker byte (`0x01..=0x03`), only with [`Scanner::with_markers`].
    Marker(u8),
}

/// Lowest and highest byte accepted as a value marker in templates.
pub const MARKER_RANGE: Range<u8> = 0x01..0x04;

/// A cursor over JSON text that validates as it goes and reports byte spans.
#[derive(Debug, Clone)]
pub struct Scanner<'a> {
    bytes: &'a [u8],
    pos: usize,
    depth: usize,
    max_depth: usize,
    markers: bool,
    escapes: Escapes,
}

/// Which optional escapes the strings scanned so far used: JSON lets `/` and any
/// character be written either way, and CloudTrail's Java serialiser writes `/` as
/// `\/` and the HTML-sensitive `< > & = '` as `\u003c`-style escapes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Escapes {
    /// A `\/` was seen.
    pub solidus: bool,
    /// A `\u003c`, `\u003e`, `\u0026`, `\u003d` or `\u0027` was seen.
    pub html: bool,
}

/// Whether `hex`, the four digits of a `\uXXXX` escape, is one of the HTML escapes
/// of CloudTrail's Java serialiser (lower-case, as it writes them).
pub fn is_html_escape(hex: &[u8]) -> bool {
    matches!(hex, b"003c" | b"003e" | b"0026" | b"003d" | b"0027")
}

type Result<T> = std::result::Result<T, SyntaxError>;

impl<'a> Scanner<'a> {
    /// A scanner over `bytes`, positioned at the start, allowing `max_depth` levels
    /// of nested objects and arrays.
    pub fn new(bytes: &'a [u8], max_depth: usize) -> Self {
        Scanner {
            bytes,
            pos: 0,
            depth: 0,
            max_depth,
            markers: false,
            escapes: Escapes::default(),
        }
    }

    /// The optional escapes seen since the scanner was made or last asked, and
    /// forget them.
    pub fn take_escapes(&mut self) -> Escapes {
        std::mem::take(&mut self.escapes)
    }

    /// Accept template marker bytes as values (see the module docs).
    pub fn with_markers(mut self) -> Self {
        self.markers = true;
        self
    }

    /// The input being scanned.
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// The current byte offset.
    pub fn position(&self) -> usize {
        self.pos
    }

    fn error(&self, kind: SyntaxErrorKind) -> SyntaxError {
        SyntaxError {
            offset: self.pos,
            kind,
        }
    }

    fn unexpected(&self) -> SyntaxError {
        match self.bytes.get(self.pos) {
            Some(&b) => self.error(SyntaxErrorKind::UnexpectedByte(b)),
            None => self.error(SyntaxErrorKind::UnexpectedEnd),
        }
    }

    /// Skip JSON whitespace.
    pub fn skip_whitespace(&mut self) {
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.bytes.get(self.pos) {
            self.pos += 1;
        }
    }

    /// Whether only whitespace remains.
    pub fn at_end(&mut self) -> bool {
        self.skip_whitespace();
        self.pos == self.bytes.len()
    }

    /// The kind of the next value, after skipping whitespace. Consumes nothing else.
    pub fn peek(&mut self) -> Result<ValueKind> {
        self.skip_whitespace();
        let Some(&b) = self.bytes.get(self.pos) else {
            return Err(self.error(SyntaxErrorKind::UnexpectedEnd));
        };
        Ok(match b {
            b'{' => ValueKind::Object,
            b'[' => ValueKind::Array,
            b'"' => ValueKind::String,
            b'-' | b'0'..=b'9' => ValueKind::Number,
            b't' | b'f' => ValueKind::Bool,
            b'n' => ValueKind::Null,
            b if self.markers && MARKER_RANGE.contains(&b) => ValueKind::Marker(b),
            b => return Err(self.error(SyntaxErrorKind::UnexpectedByte(b))),
        })
    }

    fn expect_byte(&mut self, want: u8) -> Result<()> {
        self.skip_whitespace();
        if self.bytes.get(self.pos) == Some(&want) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.unexpected())
        }
    }

    fn enter(&mut self) -> Result<()> {
        if self.depth >= self.max_depth {
            return Err(self.error(SyntaxErrorKind::TooDeep(self.max_depth)));
        }
        self.depth += 1;
        Ok(())
    }

    /// Consume `{`. Follow with [`Scanner::next_member`] until it returns `None`.
    pub fn begin_object(&mut self) -> Result<()> {
        self.expect_byte(b'{')?;
        self.enter()
    }

    /// The raw span of the next member's key (quotes included), consuming the key
    /// and its colon; `None` after consuming the closing `}`.
    ///
    /// `first` says whether this is the first call for the object, so that a comma
    /// is required between members.
    pub fn next_member(&mut self, first: bool) -> Result<Option<Range<usize>>> {
        if !self.next_key(first)? {
            return Ok(None);
        }
        self.key().map(Some)
    }

    /// Move to the next member's key, consuming the comma before it (see
    /// [`Scanner::next_member`] for `first`); `false` after consuming the closing
    /// `}`. Follow with [`Scanner::key_if`] or [`Scanner::key`].
    pub fn next_key(&mut self, first: bool) -> Result<bool> {
        self.skip_whitespace();
        match self.bytes.get(self.pos) {
            Some(b'}') => {
                self.pos += 1;
                self.depth -= 1;
                return Ok(false);
            }
            Some(b',') if !first => {
                self.pos += 1;
                self.skip_whitespace();
            }
            _ if first => {}
            _ => return Err(self.unexpected()),
        }
        if self.bytes.get(self.pos) != Some(&b'"') {
            return Err(self.unexpected());
        }
        Ok(true)
    }

    /// Consume the key and its colon if the key is spelled exactly `"key"`, which
    /// is compared, not scanned. `key` must be JSON string text without escapes.
    /// (A `bool`, not the key's span: returning a span cost the normaliser 1.5%
    /// more instructions; its caller knows the span from its position.)
    pub fn key_if(&mut self, key: &str) -> Result<bool> {
        let end = self.pos + 1 + key.len();
        if self.bytes.get(end) != Some(&b'"')
            || self.bytes.get(self.pos + 1..end) != Some(key.as_bytes())
        {
            return Ok(false);
        }
        self.pos = end + 1;
        self.expect_byte(b':')?;
        Ok(true)
    }

    /// Consume the key, whatever its spelling, and its colon; its raw span.
    pub fn key(&mut self) -> Result<Range<usize>> {
        let key = self.string()?;
        self.expect_byte(b':')?;
        Ok(key)
    }

    /// Consume `[`. Follow with [`Scanner::next_element`] until it returns `false`.
    pub fn begin_array(&mut self) -> Result<()> {
        self.expect_byte(b'[')?;
        self.enter()
    }

    /// Whether another element follows (consuming the comma before it), or the
    /// array ended (consuming `]`).
    pub fn next_element(&mut self, first: bool) -> Result<bool> {
        self.skip_whitespace();
        match self.bytes.get(self.pos) {
            Some(b']') => {
                self.pos += 1;
                self.depth -= 1;
                Ok(false)
            }
            Some(b',') if !first => {
                self.pos += 1;
                Ok(true)
            }
            Some(_) if first => Ok(true),
            _ => Err(self.unexpected()),
        }
    }

    /// Consume a string and return its raw span, quotes included.
    pub fn string(&mut self) -> Result<Range<usize>> {
        self.string_escaped().map(|(span, _)| span)
    }

    /// Consume a string and return its raw span, quotes included, and whether it
    /// holds an escape (when it does not, its inside is its value).
    pub fn string_escaped(&mut self) -> Result<(Range<usize>, bool)> {
        self.skip_whitespace();
        let start = self.pos;
        if self.bytes.get(self.pos) != Some(&b'"') {
            return Err(self.unexpected());
        }
        self.pos += 1;
        let mut escaped = false;
        loop {
            self.skip_plain_string_bytes();
            let Some(&b) = self.bytes.get(self.pos) else {
                return Err(self.error(SyntaxErrorKind::UnexpectedEnd));
            };
            match b {
                b'"' => {
                    self.pos += 1;
                    return Ok((start..self.pos, escaped));
                }
                b'\\' => {
                    escaped = true;
                    self.pos += 1;
                    match self.bytes.get(self.pos) {
                        Some(b'"' | b'\\' | b'b' | b'f' | b'n' | b'r' | b't') => self.pos += 1,
                        Some(b'/') => {
                            self.escapes.solidus = true;
                            self.pos += 1
                        }
                        Some(b'u') => {
                            let hex = self.bytes.get(self.pos + 1..self.pos + 5);
                            if !hex.is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit)) {
                                return Err(self.error(SyntaxErrorKind::InvalidEscape));
                            }
                            if hex.is_some_and(is_html_escape) {
                                self.escapes.html = true;
                            }
                            self.pos += 5;
                        }
                        Some(_) => return Err(self.error(SyntaxErrorKind::InvalidEscape)),
                        None => return Err(self.error(SyntaxErrorKind::UnexpectedEnd)),
                    }
                }
                0x00..=0x1f => return Err(self.error(SyntaxErrorKind::ControlCharacter)),
                _ => self.pos += 1,
            }
        }
    }

    /// Skip string bytes that need no attention (anything but `"`, `\` and control
    /// characters); most of a record's bytes are such.
    fn skip_plain_string_bytes(&mut self) {
        let rest = self.bytes.get(self.pos..).unwrap_or_default();
        self.pos += plain_run(rest, Stops::JSON);
    }

    fn digits(&mut self) -> usize {
        let start = self.pos;
        while self.bytes.get(self.pos).is_some_and(u8::is_ascii_digit) {
            self.pos += 1;
        }
        self.pos - start
    }

    fn number(&mut self) -> Result<Range<usize>> {
        let start = self.pos;
        if self.bytes.get(self.pos) == Some(&b'-') {
            self.pos += 1;
        }
        match self.bytes.get(self.pos) {
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => {
                self.digits();
            }
            _ => return Err(self.error(SyntaxErrorKind::InvalidNumber)),
        }
        if self.bytes.get(self.pos) == Some(&b'.') {
            self.pos += 1;
            if self.digits() == 0 {
                return Err(self.error(SyntaxErrorKind::InvalidNumber));
            }
        }
        if let Some(b'e' | b'E') = self.bytes.get(self.pos) {
            self.pos += 1;
            if let Some(b'+' | b'-') = self.bytes.get(self.pos) {
                self.pos += 1;
            }
            if self.digits() == 0 {
                return Err(self.error(SyntaxErrorKind::InvalidNumber));
            }
        }
        Ok(start..self.pos)
    }

    fn literal(&mut self, word: &[u8]) -> Result<Range<usize>> {
        let start = self.pos;
        if self.bytes.get(start..start + word.len()) == Some(word) {
            self.pos += word.len();
            Ok(start..self.pos)
        } else {
            Err(self.unexpected())
        }
    }

    /// Consume any value, validating it, and return its span.
    pub fn skip_value(&mut self) -> Result<Range<usize>> {
        let kind = self.peek()?;
        let start = self.pos;
        match kind {
            ValueKind::Object => {
                self.begin_object()?;
                let mut first = true;
                while self.next_member(first)?.is_some() {
                    first = false;
                    self.skip_value()?;
                }
            }
            ValueKind::Array => {
                self.begin_array()?;
                let mut first = true;
                while self.next_element(first)? {
                    first = false;
                    self.skip_value()?;
                }
            }
            ValueKind::String => {
                self.string()?;
            }
            ValueKind::Number => {
                self.number()?;
            }
            ValueKind::Bool => {
                let word: &[u8] = if self.bytes[self.pos] == b't' {
                    b"true"
                } else {
                    b"false"
                };
                self.literal(word)?;
            }
            ValueKind::Null => {
                self.literal(b"null")?;
            }
            ValueKind::Marker(_) => self.pos += 1,
        }
        Ok(start..self.pos)
    }
}

/// Decode the contents of a raw JSON string token (quotes included) into text.
///
/// Returns `None` for an escape that names a lone surrogate, which has no UTF-8
/// form. The token must already have passed [`Scanner::string`].
pub fn unescape(token: &str) -> Option<Cow<'_, str>> {
    let inner = &token[1..token.len() - 1];
    let Some(first) = memchr::memchr(b'\\', inner.as_bytes()) else {
        return Some(Cow::Borrowed(inner));
    };
    let mut out = String::with_capacity(inner.len());
    let mut at = first;
    let mut plain_from = 0;
    // Text between escapes is copied whole: Java-style records escape every `/`,
    // so most escaped strings are long runs of plain text.
    loop {
        out.push_str(&inner[plain_from..at]);
        let mut chars = inner[at + 1..].chars();
        match chars.next()? {
            'b' => out.push('\u{8}'),
            'f' => out.push('\u{c}'),
            'n' => out.push('\n'),
            'r' => out.push('\r'),
            't' => out.push('\t'),
            'u' => {
                let unit = hex4(&mut chars)?;
                let code = if (0xd800..0xdc00).contains(&unit) {
                    if chars.next()? != '\\' || chars.next()? != 'u' {
                        return None;
                    }
                    let low = hex4(&mut chars)?;
                    if !(0xdc00..0xe000).contains(&low) {
                        return None;
                    }
                    0x10000 + ((unit - 0xd800) << 10) + (low - 0xdc00)
                } else {
                    unit
                };
                out.push(char::from_u32(code)?);
            }
            other => out.push(other),
        }
        plain_from = inner.len() - chars.as_str().len();
        match memchr::memchr(b'\\', &inner.as_bytes()[plain_from..]) {
            Some(offset) => at = plain_from + offset,
            None => break,
        }
    }
    out.push_str(&inner[plain_from..]);
    Some(Cow::Owned(out))
}

fn hex4(chars: &mut std::str::Chars<'_>) -> Option<u32> {
    let mut value = 0;
    for _ in 0..4 {
        value = value * 16 + chars.next()?.to_digit(16)?;
    }
    Some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_end_and_fail_at_every_offset_of_the_fast_path() {
        for len in 0..24 {
            let body = "é".repeat(len / 2) + &"a".repeat(len % 2);
            for special in ["\"", "\\n", "\\u00e9", "\u{1}", "\u{1f}"] {
                let text = format!("\"{body}{special}xyz\"");
                let mut scanner = Scanner::new(text.as_bytes(), 8);
                let result = scanner.string_escaped();
                match special {
                    "\"" => assert_eq!(result.unwrap(), (0..body.len() + 2, false), "{text:?}"),
                    "\\n" | "\\u00e9" => {
                        assert_eq!(result.unwrap(), (0..text.len(), true), "{text:?}")
                    }
                    _ => assert_eq!(
                        result.unwrap_err().kind,
                        SyntaxErrorKind::ControlCharacter,
                        "{text:?}"
                    ),
                }
            }
        }
    }

    fn skip(text: &str) -> std::result::Result<Range<usize>, SyntaxError> {
        let mut scanner = Scanner::new(text.as_bytes(), 8);
        let span = scanner.skip_value()?;
        if !scanner.at_end() {
            return Err(scanner.unexpected());
        }
        Ok(span)
    }

    #[test]
    fn accepts_valid_values_with_exact_spans() {
        for text in [
            "0",
            "-0",
            "1.0e10",
            "-12.5E-3",
            "true",
            "false",
            "null",
            r#""a\/b\u003c\n""#,
            r#"{"a":[1,{"b":null}],"c":{}}"#,
            "[ ]",
            " { \"k\" : [ 1 , 2 ] } ",
        ] {
            let span = skip(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(&text[span], text.trim());
        }
    }

    #[test]
    fn rejects_invalid_values_with_the_reason() {
        let cases = [
            ("01", SyntaxErrorKind::UnexpectedByte(b'1')),
            ("1.", SyntaxErrorKind::InvalidNumber),
            ("-", SyntaxErrorKind::InvalidNumber),
            ("1e", SyntaxErrorKind::InvalidNumber),
            (r#""\x""#, SyntaxErrorKind::InvalidEscape),
            (r#""\u12g4""#, SyntaxErrorKind::InvalidEscape),
            ("\"a\tb\"", SyntaxErrorKind::ControlCharacter),
            (r#"{"a":1,}"#, SyntaxErrorKind::UnexpectedByte(b'}')),
            (r#"{"a" 1}"#, SyntaxErrorKind::UnexpectedByte(b'1')),
            ("[1 2]", SyntaxErrorKind::UnexpectedByte(b'2')),
            ("[1,", SyntaxErrorKind::UnexpectedEnd),
            ("tru", SyntaxErrorKind::UnexpectedByte(b't')),
            ("\u{1}", SyntaxErrorKind::UnexpectedByte(1)),
            ("[[[[[[[[[1]]]]]]]]]", SyntaxErrorKind::TooDeep(8)),
        ];
        for (text, kind) in cases {
            assert_eq!(skip(text).map_err(|e| e.kind), Err(kind), "{text}");
        }
    }

    #[test]
    fn markers_are_values_only_when_enabled() {
        let template = "{\"a\":\u{1},\"b\":[\u{2},\u{3}]}";
        assert!(skip(template).is_err());
        let mut scanner = Scanner::new(template.as_bytes(), 8).with_markers();
        assert_eq!(scanner.skip_value(), Ok(0..template.len()));
    }

    #[test]
    fn unescape_decodes_every_escape() {
        assert_eq!(unescape(r#""plain""#).as_deref(), Some("plain"));
        assert_eq!(
            unescape(r#""a\/b\u003c\"\\\b\f\n\r\t\ud83d\ude00""#).as_deref(),
            Some("a/b<\"\\\u{8}\u{c}\n\r\t😀")
        );
        assert_eq!(unescape(r#""\ud800""#), None);
        assert_eq!(unescape(r#""\udc00x""#), None);
        assert_eq!(unescape(r#""\ud83dx""#), None);
        assert_eq!(unescape(r#""x\u00""#), None);
        assert_eq!(unescape(r#""\\""#).as_deref(), Some("\\"));
        assert_eq!(
            unescape(r#""arn:aws:iam::1:role\/a\/b é\/""#).as_deref(),
            Some("arn:aws:iam::1:role/a/b é/")
        );
    }
}
