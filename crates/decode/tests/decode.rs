//! Decoding real-world damage: gzip faults, bombs, and arbitrary bytes.

use std::io::Write;

use proptest::prelude::*;
use trailpack_decode::json::{Scanner, unescape};
use trailpack_decode::plain::{Stops, plain_run};
use trailpack_decode::{
    DecodeError, DecodeOptions, Encoding, decode_file, gunzip, gunzip_streaming,
};

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

const FILE: &[u8] = br#"{"Records":[{"eventVersion":"1.08","eventTime":"2021-01-01T00:00:00Z"},{"eventVersion":"1.09"}]}"#;

#[test]
fn gzip_faults_have_distinct_reasons() {
    let good = gzip(FILE);
    assert_eq!(gunzip(&good, 1 << 20).unwrap(), FILE);

    let truncated = &good[..good.len() - 4];
    assert!(matches!(
        gunzip(truncated, 1 << 20),
        Err(DecodeError::CorruptGzip(_))
    ));

    // A flipped bit in the deflate stream or the CRC is caught either way.
    for at in [12, good.len() - 6] {
        let mut flipped = good.clone();
        flipped[at] ^= 0x01;
        assert!(
            matches!(gunzip(&flipped, 1 << 20), Err(DecodeError::CorruptGzip(_))),
            "byte {at}"
        );
    }

    let mut two_members = good.clone();
    two_members.extend_from_slice(&good);
    assert_eq!(
        gunzip(&two_members, 1 << 20),
        Err(DecodeError::TrailingBytes(good.len()))
    );
    assert_eq!(gunzip(b"", 1 << 20), Err(DecodeError::EmptyFile));
    assert_eq!(gunzip(b"{}", 1 << 20), Err(DecodeError::NotGzip));
}

#[test]
fn a_trailer_that_lies_about_the_size_is_corrupt() {
    // libdeflate sizes its buffer from the trailer, grows it, and still refuses
    // the file, as flate2 does and for flate2's reason.
    let mut good = gzip(&FILE.repeat(50));
    let at = good.len() - 4;
    good[at..].copy_from_slice(&7u32.to_le_bytes());
    let error = gunzip(&good, 1 << 20).unwrap_err();
    assert!(matches!(error, DecodeError::CorruptGzip(_)), "{error}");
    assert_eq!(Err(error), gunzip_streaming(&good, 1 << 20));
}

#[test]
fn a_header_crc_is_checked() {
    // FHCRC set, then the CRC-16 of the ten header bytes before it: libdeflate
    // skips it unchecked, so such files take flate2's path, which checks it.
    let good = gzip(FILE);
    let mut header = good[..10].to_vec();
    header[3] |= 0x02;
    let crc = crc32fast::hash(&header) as u16;
    let mut with_crc = header.clone();
    with_crc.extend_from_slice(&crc.to_le_bytes());
    with_crc.extend_from_slice(&good[10..]);
    assert_eq!(gunzip(&with_crc, 1 << 20).unwrap(), FILE);
    with_crc[10] ^= 0xff;
    assert!(matches!(
        gunzip(&with_crc, 1 << 20),
        Err(DecodeError::CorruptGzip(_))
    ));
}

#[test]
fn a_gzip_bomb_stops_at_the_limit() {
    // 64 MiB of zeros compresses to ~64 KiB; the limit stops inflating early.
    let bomb = gzip(&vec![0u8; 64 << 20]);
    assert!(bomb.len() < 100_000);
    assert_eq!(
        gunzip(&bomb, 1 << 20),
        Err(DecodeError::FileTooLarge { limit: 1 << 20 })
    );
}

#[test]
fn deep_nesting_is_refused_not_overflowed() {
    let depth = 10_000;
    let text = format!(
        r#"{{"Records":[{{"eventVersion":"1.0","x":{}{}}}]}}"#,
        "[".repeat(depth),
        "]".repeat(depth)
    );
    let err = decode_file(text.as_bytes(), Encoding::Plain, &DecodeOptions::default()).unwrap_err();
    // The file's object, `Records` and the record take three levels; the 126th
    // bracket is one too many (the offset is just past it).
    let offset = text.find("[[").unwrap() + 126;
    assert_eq!(
        err.to_string(),
        format!("invalid JSON: nesting deeper than 128 levels at byte {offset}")
    );
}

#[test]
fn a_million_tiny_records_decode() {
    let mut text = String::from("{\"Records\":[");
    for i in 0..1_000_000 {
        if i > 0 {
            text.push(',');
        }
        text.push_str("{\"eventVersion\":\"1.0\"}");
    }
    text.push_str("]}");
    let file = decode_file(text.as_bytes(), Encoding::Plain, &DecodeOptions::default()).unwrap();
    assert_eq!(file.records.len(), 1_000_000);
}

proptest! {
    /// The 16-byte, eight-byte and byte-by-byte searches together stop exactly
    /// where a byte-by-byte search does, for any bytes and any stops.
    #[test]
    fn plain_run_stops_at_the_first_stop(
        bytes in prop::collection::vec(
            prop_oneof![
                4 => prop::sample::select(b"ab/<>&='\"\\\n\x00\x1f\x20\x7f\x80\xff".to_vec()),
                16 => Just(b'x'),
            ],
            0..100,
        ),
        slash in any::<bool>(),
        html in any::<bool>(),
    ) {
        let stops = Stops { slash, html };
        let expected = bytes.iter().position(|&b| stops.contains(b)).unwrap_or(bytes.len());
        prop_assert_eq!(plain_run(&bytes, stops), expected);
    }

    /// libdeflate (whole buffer) and flate2 (streaming, the reference) give the
    /// same bytes or the same error: for gzip files whole, cut short, with a bit
    /// flipped or with bytes after them, at limits around their size.
    #[test]
    fn libdeflate_and_flate2_agree(
        content in prop::collection::vec(prop::sample::select(b"{}[]\":,abc0123".to_vec()), 0..3000),
        damage in 0u8..4,
        at in any::<prop::sample::Index>(),
        bit in 0u8..8,
    ) {
        let good = gzip(&content);
        let mut input = good.clone();
        match damage {
            1 => input.truncate(at.index(good.len())),
            2 => input[at.index(good.len())] ^= 1 << bit,
            3 => input.extend_from_slice(&good[..at.index(good.len())]),
            _ => {}
        }
        for limit in [content.len(), content.len().saturating_sub(1), 1 << 20] {
            prop_assert_eq!(gunzip(&input, limit), gunzip_streaming(&input, limit));
        }
        if damage == 0 {
            prop_assert_eq!(gunzip(&input, content.len()).unwrap(), content);
        }
    }

    /// Any text, each character spelled in any way JSON allows (itself when it
    /// may stand alone, a short escape, `\uXXXX`, a surrogate pair), is a string
    /// the scanner accepts and `unescape` turns back into the text.
    #[test]
    fn unescape_inverts_every_spelling(
        spelled in prop::collection::vec((any::<char>(), 0u8..4), 0..64),
    ) {
        let mut token = String::from("\"");
        for &(c, how) in &spelled {
            let short = match c {
                '"' => Some('"'),
                '\\' => Some('\\'),
                '/' => Some('/'),
                '\u{8}' => Some('b'),
                '\u{c}' => Some('f'),
                '\n' => Some('n'),
                '\r' => Some('r'),
                '\t' => Some('t'),
                _ => None,
            };
            let may_stand_alone = !matches!(c, '"' | '\\') && u32::from(c) >= 0x20;
            match (how, short) {
                (0, _) if may_stand_alone => token.push(c),
                (1, Some(short)) => {
                    token.push('\\');
                    token.push(short);
                }
                _ => {
                    let mut units = [0; 2];
                    for unit in c.encode_utf16(&mut units) {
                        token.push_str(&format!("\\u{unit:04x}"));
                    }
                }
            }
        }
        token.push('"');
        let text: String = spelled.iter().map(|&(c, _)| c).collect();
        let mut scanner = Scanner::new(token.as_bytes(), 4);
        prop_assert_eq!(scanner.string(), Ok(0..token.len()));
        let unescaped = unescape(&token);
        prop_assert_eq!(unescaped.as_deref(), Some(text.as_str()));
    }

    /// Arbitrary bytes, gzipped or not, decode or fail cleanly; when they decode, the
    /// frame and records reassemble the exact bytes.
    #[test]
    fn arbitrary_input_never_panics_and_decoded_files_reassemble(
        bytes in prop::collection::vec(any::<u8>(), 0..256),
        prefix in prop::sample::select(vec!["", "{\"Records\":[", "{\"Records\":[{\"eventVersion\":\"1.0\""]),
        compress in any::<bool>(),
    ) {
        let mut input = prefix.as_bytes().to_vec();
        input.extend_from_slice(&bytes);
        let (stored, encoding) = if compress { (gzip(&input), Encoding::Gzip) } else { (input.clone(), Encoding::Plain) };
        if let Ok(file) = decode_file(&stored, encoding, &DecodeOptions::default()) {
            prop_assert_eq!(file.text.as_bytes(), &input[..]);
            let mut out = Vec::new();
            file.frame().assemble((0..file.records.len()).map(|i| file.record(i)), &mut out);
            prop_assert_eq!(&out, &input);
            let records = (0..file.records.len()).map(|i| file.record(i));
            prop_assert!(file.frame().reassembles(records, &input));
        }
    }
}
