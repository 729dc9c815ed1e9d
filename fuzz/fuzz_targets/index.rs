//! Any bytes as an index segment: reading fails cleanly or yields entries that
//! survive writing and reading back unchanged.
#![no_main]

use libfuzzer_sys::fuzz_target;
use trailpack_table::index::{decode_segment, encode_segment};

fuzz_target!(|data: &[u8]| {
    let Ok(mut entries) = decode_segment(bytes::Bytes::copy_from_slice(data), "fuzz") else {
        return;
    };
    let written = encode_segment(&mut entries).expect("entries encode");
    let again = decode_segment(bytes::Bytes::from(written), "fuzz").expect("written entries decode");
    assert_eq!(again, entries);
});
