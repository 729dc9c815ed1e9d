//! Canonical JSON string spelling, in the two styles CloudTrail's serialiser uses.
//!
//! CloudTrail's Java serialiser escapes `/` as `\/` and the HTML-sensitive characters
//! `< > & = '` as `\u003c`-style escapes; documentation examples do neither. A
//! record's [`Style`] is guessed from its text, and any string whose spelling differs
//! from the canonical one under that style is kept verbatim in the residual.

/// Which optional escapes a record uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Style {
    /// `/` is written `\/`.
    pub escape_slash: bool,
    /// `< > & = '` are written `\u003c \u003e \u0026 \u003d \u0027`.
    pub escape_html: bool,
}

impl Style {
    /// Guess the style from a record's text: an escape seen anywhere turns it on.
    pub fn detect(text: &[u8]) -> Style {
        let mut style = Style::default();
        let mut at = 0;
        // `at` passes the end when the text ends in a backslash.
        while let Some(offset) = text.get(at..).and_then(|rest| memchr::memchr(b'\\', rest)) {
            let escape = &text[at + offset..];
            match escape.get(1) {
                Some(b'/') => style.escape_slash = true,
                Some(b'u')
                    if matches!(
                        escape.get(2..6),
                        Some(b"003c" | b"003e" | b"0026" | b"003d" | b"0027")
                    ) =>
                {
                    style.escape_html = true
                }
                _ => {}
            }
            at += offset + 2;
        }
        style
    }

    /// The style as one printable byte (the first byte of a layout).
    pub fn to_byte(self) -> u8 {
        b'0' + u8::from(self.escape_slash) + 2 * u8::from(self.escape_html)
    }

    /// The style written by [`Style::to_byte`].
    pub fn from_byte(byte: u8) -> Option<Style> {
        let bits = byte.checked_sub(b'0').filter(|b| *b < 4)?;
        Some(Style {
            escape_slash: bits & 1 != 0,
            escape_html: bits & 2 != 0,
        })
    }

    fn escapes(self, b: u8) -> bool {
        match b {
            b'"' | b'\\' | 0x00..=0x1f => true,
            b'/' => self.escape_slash,
            b'<' | b'>' | b'&' | b'=' | b'\'' => self.escape_html,
            _ => false,
        }
    }

    /// How many leading bytes of `bytes` need no escape in this style: eight at a
    /// time, then byte by byte for a tail shorter than eight.
    fn plain_len(self, bytes: &[u8]) -> usize {
        const ONES: u64 = 0x0101_0101_0101_0101;
        const HIGHS: u64 = 0x8080_8080_8080_8080;
        // High bit set in the lanes below `n` (exact for n <= 0x80).
        let below = |x: u64, n: u8| x.wrapping_sub(ONES * u64::from(n)) & !x & HIGHS;
        let equal = |x: u64, b: u8| below(x ^ (ONES * u64::from(b)), 1);
        let mut at = 0;
        while let Some(chunk) = bytes.get(at..at + 8) {
            let x = u64::from_le_bytes(chunk.try_into().expect("eight bytes"));
            let mut special = below(x, 0x20) | equal(x, b'"') | equal(x, b'\\');
            if self.escape_slash {
                special |= equal(x, b'/');
            }
            if self.escape_html {
                special |= equal(x, b'<')
                    | equal(x, b'>')
                    | equal(x, b'&')
                    | equal(x, b'=')
                    | equal(x, b'\'');
            }
            if special != 0 {
                // The lowest flagged lane is exact (a borrow only runs upwards).
                return at + (special.trailing_zeros() / 8) as usize;
            }
            at += 8;
        }
        at + bytes[at..]
            .iter()
            .position(|&b| self.escapes(b))
            .unwrap_or(bytes.len() - at)
    }

    /// Whether a token spelled without escapes, `"value"`, is canonical in this
    /// style: no byte of `value` should have been escaped. The token must have
    /// passed [`Scanner::string`](trailpack_decode::json::Scanner::string), which
    /// rejects quotes, backslashes and control characters, so only the style's
    /// optional escapes are left to look for.
    pub fn is_plain(self, value: &str) -> bool {
        match (self.escape_slash, self.escape_html) {
            (false, false) => true,
            (true, false) => memchr::memchr(b'/', value.as_bytes()).is_none(),
            _ => self.plain_len(value.as_bytes()) == value.len(),
        }
    }

    /// Whether `token` (a JSON string token with quotes, which has passed
    /// [`Scanner::string`](trailpack_decode::json::Scanner::string)) is the
    /// canonical spelling of `value` in this style.
    pub fn is_canonical(self, value: &str, token: &str, scratch: &mut Vec<u8>) -> bool {
        let inner = &token[1..token.len() - 1];
        if !inner.contains('\\') {
            return self.is_plain(inner);
        }
        scratch.clear();
        self.write_string(value, scratch);
        scratch.as_slice() == token.as_bytes()
    }

    /// Append `value` as a JSON string token in this style.
    pub fn write_string(self, value: &str, out: &mut Vec<u8>) {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        out.push(b'"');
        let bytes = value.as_bytes();
        let mut start = 0;
        loop {
            let plain = self.plain_len(&bytes[start..]);
            out.extend_from_slice(&bytes[start..start + plain]);
            start += plain;
            let Some(&b) = bytes.get(start) else {
                break;
            };
            start += 1;
            match b {
                b'"' => out.extend_from_slice(b"\\\""),
                b'\\' => out.extend_from_slice(b"\\\\"),
                b'/' => out.extend_from_slice(b"\\/"),
                b'\n' => out.extend_from_slice(b"\\n"),
                b'\r' => out.extend_from_slice(b"\\r"),
                b'\t' => out.extend_from_slice(b"\\t"),
                0x08 => out.extend_from_slice(b"\\b"),
                0x0c => out.extend_from_slice(b"\\f"),
                _ => out.extend_from_slice(&[
                    b'\\',
                    b'u',
                    b'0',
                    b'0',
                    HEX[usize::from(b >> 4)],
                    HEX[usize::from(b & 15)],
                ]),
            }
        }
        out.push(b'"');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(style: Style, value: &str) -> String {
        let mut out = Vec::new();
        style.write_string(value, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn detects_the_java_style() {
        let java = Style::detect(br#"{"a":"x\/y","b":"k\u003dv"}"#);
        assert_eq!(
            java,
            Style {
                escape_slash: true,
                escape_html: true
            }
        );
        assert_eq!(Style::detect(br#"{"a":"x/y\n"}"#), Style::default());
        // A text that ends in a backslash (not a checked record) must not panic.
        assert_eq!(Style::detect(b"x\\"), Style::default());
        for byte in b'0'..b'4' {
            assert_eq!(Style::from_byte(byte).unwrap().to_byte(), byte);
        }
        assert_eq!(Style::from_byte(b'4'), None);
    }

    #[test]
    fn the_eight_byte_path_finds_every_escape_at_every_offset() {
        for bits in 0..4u8 {
            let style = Style::from_byte(b'0' + bits).unwrap();
            for special in [
                '"', '\\', '/', '<', '>', '&', '=', '\'', '\n', '\u{0}', '\u{1f}', 'é', '~',
            ] {
                for offset in 0..20 {
                    let value = format!("{}{special}{}", "x".repeat(offset), "y".repeat(9));
                    let expected = value
                        .bytes()
                        .position(|b| style.escapes(b))
                        .unwrap_or(value.len());
                    assert_eq!(
                        style.plain_len(value.as_bytes()),
                        expected,
                        "{style:?} {value:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn writes_each_style() {
        let java = Style {
            escape_slash: true,
            escape_html: true,
        };
        assert_eq!(
            write(java, "a/b<c>&='\"\\\n\u{1}é"),
            r#""a\/b\u003cc\u003e\u0026\u003d\u0027\"\\\n\u0001é""#
        );
        assert_eq!(write(Style::default(), "a/b<c>"), r#""a/b<c>""#);
    }

    #[test]
    fn plain_check_agrees_with_writing_in_every_style() {
        for bits in 0..4u8 {
            let style = Style::from_byte(b'0' + bits).unwrap();
            // Values as they come out of tokens without escapes: no quote, backslash
            // or control character.
            for value in [
                "",
                "a",
                "a/b",
                "x<y",
                "k=v",
                "it's",
                "a&b>c",
                "é/ü",
                "plain text",
            ] {
                let mut written = Vec::new();
                style.write_string(value, &mut written);
                let spelled_plainly = written == format!("\"{value}\"").into_bytes();
                assert_eq!(
                    style.is_plain(value),
                    spelled_plainly,
                    "{style:?} {value:?}"
                );
            }
        }
    }

    #[test]
    fn canonical_check_agrees_with_writing() {
        let mut scratch = Vec::new();
        let java = Style {
            escape_slash: true,
            escape_html: false,
        };
        assert!(java.is_canonical("a/b", r#""a\/b""#, &mut scratch));
        assert!(!java.is_canonical("a/b", r#""a/b""#, &mut scratch));
        assert!(!java.is_canonical("A", r#""\u0041""#, &mut scratch));
        assert!(Style::default().is_canonical("a/b", r#""a/b""#, &mut scratch));
    }
}
