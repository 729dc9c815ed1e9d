//! Canonical JSON string spelling, in the two styles CloudTrail's serialiser uses.
//!
//! CloudTrail's Java serialiser escapes `/` as `\/` and the HTML-sensitive characters
//! `< > & = '` as `\u003c`-style escapes; documentation examples do neither. A
//! record's [`Style`] is guessed from its text, and any string whose spelling differs
//! from the canonical one under that style is kept verbatim in the residual.

use trailpack_decode::json::{Escapes, is_html_escape};
use trailpack_decode::plain::{Stops, plain_run};

/// Which optional escapes a record uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Style {
    /// `/` is written `\/`.
    pub escape_slash: bool,
    /// `< > & = '` are written `\u003c \u003e \u0026 \u003d \u0027`.
    pub escape_html: bool,
}

impl From<Escapes> for Style {
    /// The style of a record whose strings used `escapes`.
    fn from(escapes: Escapes) -> Style {
        Style {
            escape_slash: escapes.solidus,
            escape_html: escapes.html,
        }
    }
}

impl Style {
    /// Guess the style from a record's text: an escape seen anywhere turns it on.
    /// The decoder's [`Escapes`] of a record give the same style without a pass.
    pub fn detect(text: &[u8]) -> Style {
        let mut style = Style::default();
        let mut at = 0;
        // `at` passes the end when the text ends in a backslash.
        while let Some(offset) = text.get(at..).and_then(|rest| memchr::memchr(b'\\', rest)) {
            let escape = &text[at + offset..];
            match escape.get(1) {
                Some(b'/') => style.escape_slash = true,
                Some(b'u') if escape.get(2..6).is_some_and(is_html_escape) => {
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

    /// The bytes this style escapes.
    fn stops(self) -> Stops {
        Stops {
            slash: self.escape_slash,
            html: self.escape_html,
        }
    }

    /// How many leading bytes of `bytes` need no escape in this style.
    fn plain_len(self, bytes: &[u8]) -> usize {
        plain_run(bytes, self.stops())
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
    pub fn is_canonical(self, value: &str, token: &str) -> bool {
        // Walk the value's plain runs and escapes along the token, without writing it.
        let mut spelled = &token.as_bytes()[1..token.len() - 1];
        let mut bytes = value.as_bytes();
        let mut escape = [0; 6];
        loop {
            let plain = self.plain_len(bytes);
            let Some(rest) = spelled.strip_prefix(&bytes[..plain]) else {
                return false;
            };
            let Some((&b, after)) = bytes[plain..].split_first() else {
                return rest.is_empty();
            };
            let Some(rest) = rest.strip_prefix(escape_of(b, &mut escape)) else {
                return false;
            };
            spelled = rest;
            bytes = after;
        }
    }

    /// Append `value` as a JSON string token in this style.
    pub fn write_string(self, value: &str, out: &mut Vec<u8>) {
        out.push(b'"');
        let mut bytes = value.as_bytes();
        let mut escape = [0; 6];
        loop {
            let plain = self.plain_len(bytes);
            out.extend_from_slice(&bytes[..plain]);
            let Some((&b, after)) = bytes[plain..].split_first() else {
                break;
            };
            out.extend_from_slice(escape_of(b, &mut escape));
            bytes = after;
        }
        out.push(b'"');
    }
}

/// The escape written for `b`, a byte that a style does not write as is.
fn escape_of(b: u8, buffer: &mut [u8; 6]) -> &[u8] {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    match b {
        b'"' => b"\\\"",
        b'\\' => b"\\\\",
        b'/' => b"\\/",
        b'\n' => b"\\n",
        b'\r' => b"\\r",
        b'\t' => b"\\t",
        0x08 => b"\\b",
        0x0c => b"\\f",
        _ => {
            *buffer = [
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[usize::from(b >> 4)],
                HEX[usize::from(b & 15)],
            ];
            buffer
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn every_style() -> impl Iterator<Item = Style> {
        (b'0'..b'4').map(|byte| Style::from_byte(byte).unwrap())
    }

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
        // An escaped backslash before `/` or `u003c` is not an escape of either.
        assert_eq!(
            Style::detect(br#"{"a":"x\\/y","b":"\\u003c","c":"\\\\u003e"}"#),
            Style::default()
        );
        let after_pairs = Style::detect(br#"{"a":"\\\/","b":"\\\\\u0027"}"#);
        assert!(after_pairs.escape_slash && after_pairs.escape_html);
        // Upper-case hex is not what the Java serialiser writes.
        assert!(!Style::detect(br#"{"a":"\u003C"}"#).escape_html);
        // A text that ends in a backslash (not a checked record) must not panic.
        assert_eq!(Style::detect(b"x\\"), Style::default());
        for byte in b'0'..b'4' {
            assert_eq!(Style::from_byte(byte).unwrap().to_byte(), byte);
        }
        assert_eq!(Style::from_byte(b'4'), None);
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
        for style in every_style() {
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
                let spelled_plainly = write(style, value) == format!("\"{value}\"");
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
        let java = Style {
            escape_slash: true,
            escape_html: false,
        };
        assert!(java.is_canonical("a/b", r#""a\/b""#));
        assert!(!java.is_canonical("a/b", r#""a/b""#));
        assert!(!java.is_canonical("A", r#""\u0041""#));
        assert!(Style::default().is_canonical("a/b", r#""a/b""#));
        // The token must end where the value does, and match byte for byte.
        assert!(!java.is_canonical("a/b", r#""a\/bc""#));
        assert!(!java.is_canonical("a/bc", r#""a\/b""#));
        assert!(!java.is_canonical("a/b", r#""a\/c""#));
        assert!(!java.is_canonical("a\n", r#""a\u000a""#));
        for style in every_style() {
            for value in [
                "",
                "a/b",
                "x<y&z='q'",
                "\"\\\n\r\t\u{8}\u{c}\u{1}é",
                &"k/".repeat(20),
            ] {
                let written = write(style, value);
                assert!(style.is_canonical(value, &written), "{style:?} {written}");
                // One byte more or less, anywhere, is not the canonical spelling.
                for at in (1..written.len() - 1).filter(|&at| written.is_char_boundary(at)) {
                    let mut longer = written.clone();
                    longer.insert(at, 'x');
                    assert!(!style.is_canonical(value, &longer), "{style:?} {longer}");
                    let mut shorter = written.clone();
                    shorter.remove(at);
                    assert!(!style.is_canonical(value, &shorter), "{style:?} {shorter}");
                }
            }
        }
    }
}
