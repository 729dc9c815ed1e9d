//! Any file that decodes normalises to columns that rebuild every record exactly,
//! without falling back to storing records whole, in the style the decoder saw
//! (as the archive does), which is the style detected from the record's text.
#![no_main]

use libfuzzer_sys::fuzz_target;
use trailpack_decode::{DecodeOptions, decode_bytes};
use trailpack_schema::encode::Style;
use trailpack_schema::{BatchBuilder, Rebuilder};

fuzz_target!(|data: &[u8]| {
    let Ok(file) = decode_bytes(data.to_vec(), &DecodeOptions::default()) else {
        return;
    };
    let mut builder = BatchBuilder::new();
    let originals: Vec<&str> = (0..file.records.len()).map(|i| file.record(i)).collect();
    for (index, record) in originals.iter().enumerate() {
        let style = Style::from(file.records[index].escapes);
        assert_eq!(style, Style::detect(record.as_bytes()));
        builder
            .append_in_style(record, style, "fuzz", index as u32)
            .expect("a decoded record normalises");
    }
    let (batch, fallbacks) = builder.finish_verified(&originals).expect("batch builds");
    assert!(fallbacks.is_empty(), "records stored whole: {fallbacks:?}");
    let mut rebuilder = Rebuilder::try_new(&batch).expect("schema columns");
    for (row, original) in originals.iter().enumerate() {
        let mut out = Vec::new();
        rebuilder.rebuild(row, &mut out).expect("row rebuilds");
        assert_eq!(out, original.as_bytes());
    }
});
