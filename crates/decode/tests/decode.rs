//! Decoding real-world damage: gzip faults, bombs, and arbitrary bytes.

use std::io::Write;

use proptest::prelude::*;
use trailpack_decode::{DecodeError, DecodeOptions, Encoding, decode_file, gunzip};

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
            prop_assert_eq!(&file.bytes, &input);
            let mut out = Vec::new();
            file.frame().assemble((0..file.records.len()).map(|i| file.record(i)), &mut out);
            prop_assert_eq!(out, input);
        }
    }
}
