//! Whole-buffer gzip inflation with libdeflate: the workspace's only `unsafe` FFI (the
//! other `unsafe` line, in `plain`, calls an SSE2 function).
//!
//! libdeflate inflates about 1.5 times as fast as zlib-rs (docs/BENCHMARKS.md), but
//! the safe `libdeflater` crate cannot say where a gzip member ends, and trailing
//! bytes must make a file invalid. `libdeflate_gzip_decompress_ex` reports it, so
//! this module calls it through `libdeflate-sys`. What the `unsafe` relies on:
//!
//! - [`Decompressor`] owns a non-null pointer from `libdeflate_alloc_decompressor`,
//!   frees it once on drop, and is neither `Send` nor `Sync` (a raw pointer field),
//!   so each thread uses its own from a thread local.
//! - [`gzip_member`] passes the input slice's pointer and length, and the output
//!   vector's spare capacity as pointer and length. libdeflate writes at most that
//!   many bytes there and reads nothing else; the length is raised only after a
//!   success, to the count libdeflate reports, which cannot exceed the capacity
//!   (checked anyway).
//!
//! `fuzz/fuzz_targets/gunzip.rs` checks it against the streaming flate2 decoder.

use std::cell::RefCell;
use std::ptr::NonNull;

use libdeflate_sys::{
    libdeflate_alloc_decompressor, libdeflate_decompressor, libdeflate_free_decompressor,
    libdeflate_gzip_decompress_ex,
    libdeflate_result_LIBDEFLATE_INSUFFICIENT_SPACE as INSUFFICIENT_SPACE,
    libdeflate_result_LIBDEFLATE_SUCCESS as SUCCESS,
};

/// What inflating the first gzip member of a buffer gave.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Member {
    /// The member inflated into the output; it took `consumed` input bytes.
    Inflated { consumed: usize },
    /// The member inflates to more than the output's capacity.
    OutputFull,
    /// The header, deflate stream or trailer (CRC-32, size) is wrong, or the
    /// input ends inside the member.
    Corrupt,
    /// libdeflate could not allocate its decompressor.
    Unavailable,
}

/// A libdeflate decompressor (its tables, about 32 KB).
struct Decompressor(NonNull<libdeflate_decompressor>);

impl Decompressor {
    fn new() -> Option<Self> {
        // SAFETY: no arguments; the result is null or a decompressor we now own.
        NonNull::new(unsafe { libdeflate_alloc_decompressor() }).map(Decompressor)
    }
}

impl Drop for Decompressor {
    fn drop(&mut self) {
        // SAFETY: allocated by `libdeflate_alloc_decompressor`, freed only here.
        unsafe { libdeflate_free_decompressor(self.0.as_ptr()) }
    }
}

thread_local! {
    static DECOMPRESSOR: RefCell<Option<Decompressor>> = const { RefCell::new(None) };
}

/// Inflate the first gzip member of `input` into `out`'s spare capacity (`out` is
/// cleared first). On success `out` holds exactly the member's content.
pub(crate) fn gzip_member(input: &[u8], out: &mut Vec<u8>) -> Member {
    out.clear();
    DECOMPRESSOR.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.is_none() {
            *slot = Decompressor::new();
        }
        let Some(decompressor) = slot.as_ref() else {
            return Member::Unavailable;
        };
        let spare = out.spare_capacity_mut();
        let (mut consumed, mut written) = (0usize, 0usize);
        // SAFETY: the decompressor is valid and used by this thread only; `input`
        // is readable for its length and `spare` writable for its length; the two
        // results are valid places for a `usize` each.
        let result = unsafe {
            libdeflate_gzip_decompress_ex(
                decompressor.0.as_ptr(),
                input.as_ptr().cast(),
                input.len(),
                spare.as_mut_ptr().cast(),
                spare.len(),
                &mut consumed,
                &mut written,
            )
        };
        match result {
            SUCCESS if written <= spare.len() => {
                // SAFETY: libdeflate initialised the first `written` spare bytes,
                // and `written` is within the capacity.
                unsafe { out.set_len(written) };
                Member::Inflated { consumed }
            }
            INSUFFICIENT_SPACE => Member::OutputFull,
            _ => Member::Corrupt,
        }
    })
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(bytes).unwrap();
        encoder.finish().unwrap()
    }

    #[test]
    fn a_member_inflates_exactly_and_reports_its_length() {
        let content = b"{\"Records\":[]}".repeat(100);
        let mut input = gzip(&content);
        let member = input.len();
        input.extend_from_slice(b"trailing");
        let mut out = Vec::with_capacity(content.len());
        assert_eq!(
            gzip_member(&input, &mut out),
            Member::Inflated { consumed: member }
        );
        assert_eq!(out, content);
    }

    #[test]
    fn too_small_an_output_is_reported_not_overrun() {
        let content = vec![7u8; 10_000];
        let input = gzip(&content);
        let mut out = Vec::with_capacity(9_999);
        assert_eq!(gzip_member(&input, &mut out), Member::OutputFull);
        assert!(out.is_empty());
        let mut out = Vec::with_capacity(10_000);
        assert!(matches!(
            gzip_member(&input, &mut out),
            Member::Inflated { .. }
        ));
        assert_eq!(out, content);
    }

    #[test]
    fn damage_and_truncation_are_corrupt() {
        let input = gzip(b"some text, some text, some text");
        let mut out = Vec::with_capacity(100);
        assert_eq!(
            gzip_member(&input[..input.len() - 1], &mut out),
            Member::Corrupt
        );
        let mut crc = input.clone();
        let at = crc.len() - 8;
        crc[at] ^= 1;
        assert_eq!(gzip_member(&crc, &mut out), Member::Corrupt);
        assert_eq!(gzip_member(b"not gzip", &mut out), Member::Corrupt);
        assert!(out.is_empty());
    }
}
