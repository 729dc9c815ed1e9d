//! Any bytes as a part: a query over it and the rebuilding of its rows fail
//! cleanly, never panic. Seeded with real parts, mutations reach the footer, the
//! page index and the pages.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use trailpack_query::{QueryFilter, scan};
use trailpack_parts::{PartReader, records_from};

fuzz_target!(|data: &[u8]| {
    let bytes = bytes::Bytes::copy_from_slice(data);
    let path = Path::new("fuzz.parquet");
    let filters = [
        QueryFilter::default(),
        QueryFilter {
            event_names: vec!["ConsoleLogin".into()],
            errors_only: true,
            ..QueryFilter::default()
        },
        QueryFilter {
            from_us: Some(1_609_459_200_000_000),
            access_keys: vec!["AKIAIOSFODNN7EXAMPLE".into()],
            ..QueryFilter::default()
        },
    ];
    for filter in &filters {
        let _ = scan(&PartReader::Fetched(bytes.clone()), path, filter, true);
    }
    if let Ok(records) = records_from(bytes.clone(), path, std::iter::empty()) {
        assert!(records.is_empty());
    }
});
