//! libdeflate against flate2: `gunzip` (whole-buffer libdeflate, the only unsafe
//! code) and `gunzip_streaming` (the reference) give the same bytes or the same
//! error, for any input, with or without a gzip header in front.
#![no_main]

use libfuzzer_sys::fuzz_target;
use trailpack_decode::{gunzip, gunzip_streaming};

fuzz_target!(|data: &[u8]| {
    // Most inputs should reach the deflate stream: the first byte picks whether
    // to put a valid header (no flags) in front, and a limit to exercise.
    let Some((&choice, rest)) = data.split_first() else {
        return;
    };
    let mut input = Vec::with_capacity(rest.len() + 10);
    if choice & 1 == 1 {
        input.extend_from_slice(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff]);
    }
    input.extend_from_slice(rest);
    let limit = if choice & 2 == 2 { 1 << 10 } else { 1 << 20 };
    assert_eq!(gunzip(&input, limit), gunzip_streaming(&input, limit));
});
