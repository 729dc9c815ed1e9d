//! Any bytes as a commit file: parsing fails cleanly or yields a commit that
//! survives writing and reading back unchanged.
#![no_main]

use libfuzzer_sys::fuzz_target;
use trailpack_archive::manifest::parse_commit;

fuzz_target!(|data: &[u8]| {
    let Ok(commit) = parse_commit(data) else {
        return;
    };
    let written = serde_json::to_vec(&commit).expect("a commit serialises");
    let again = parse_commit(&written).expect("a written commit parses");
    assert_eq!(again, commit);
});
