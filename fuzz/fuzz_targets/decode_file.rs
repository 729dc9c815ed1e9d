//! Any bytes, gzipped or plain: decoding succeeds or fails cleanly, and a decoded
//! file's hash, records and frame account for every byte.
#![no_main]

use libfuzzer_sys::fuzz_target;
use trailpack_decode::{DecodeOptions, Encoding, decode_file, sha256};

fuzz_target!(|data: &[u8]| {
    let options = DecodeOptions {
        max_file_bytes: 1 << 20,
        max_record_bytes: 64 << 10,
        ..DecodeOptions::default()
    };
    let encoding = if data.starts_with(&[0x1f, 0x8b]) {
        Encoding::Gzip
    } else {
        Encoding::Plain
    };
    let Ok(file) = decode_file(data, encoding, &options) else {
        return;
    };
    if encoding == Encoding::Plain {
        assert_eq!(file.text.as_bytes(), data);
    }
    assert_eq!(file.sha256, sha256(file.text.as_bytes()));
    let mut rebuilt = Vec::new();
    file.frame()
        .assemble((0..file.records.len()).map(|i| file.record(i)), &mut rebuilt);
    assert_eq!(rebuilt, file.text.as_bytes());
    for index in 0..file.records.len() {
        let record = file.record(index);
        assert!(record.starts_with('{') && record.ends_with('}'));
        assert!(record.len() <= options.max_record_bytes);
    }
});
