//! Any bytes as a Delta commit file, and as a checkpoint: reading fails cleanly or
//! yields actions that survive writing and reading back unchanged.
#![no_main]

use libfuzzer_sys::fuzz_target;
use trailpack_table::delta::{decode_commit, encode_commit};

fuzz_target!(|data: &[u8]| {
    if let Ok(actions) = decode_commit(data) {
        let written = encode_commit(&actions);
        let again = decode_commit(&written).expect("written actions parse");
        let known = |a: &&trailpack_table::delta::Action| {
            !matches!(a, trailpack_table::delta::Action::Other)
        };
        assert!(actions.iter().filter(known).eq(again.iter().filter(known)));
    }
    let _ = trailpack_table::delta::read_checkpoint(bytes::Bytes::copy_from_slice(data), "fuzz");
});
