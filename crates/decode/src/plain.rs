//! Where a run of string bytes that need no escape ends.
//!
//! The JSON scanner and the canonical-spelling checks spend much of their time
//! here: CloudTrail escapes every `/`, so its strings are many short runs. On
//! x86_64 a run is searched 16 bytes at a time with SSE2, which every x86_64 CPU
//! has (it is in the target's baseline, so nothing is detected at run time);
//! elsewhere, and for the last bytes of a slice, eight at a time in a `u64`.

/// The bytes that end a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stops {
    /// `/` ends a run too.
    pub slash: bool,
    /// The HTML-sensitive `< > & = '` end a run too.
    pub html: bool,
}

impl Stops {
    /// What a JSON string cannot hold as is: `"`, `\` and control characters.
    pub const JSON: Stops = Stops {
        slash: false,
        html: false,
    };

    /// Whether `byte` ends a run.
    pub fn contains(self, byte: u8) -> bool {
        match byte {
            b'"' | b'\\' | 0x00..=0x1f => true,
            b'/' => self.slash,
            b'<' | b'>' | b'&' | b'=' | b'\'' => self.html,
            _ => false,
        }
    }
}

/// How many leading bytes of `bytes` are not in `stops`.
#[inline]
pub fn plain_run(bytes: &[u8], stops: Stops) -> usize {
    let mut at = 0;
    #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
    while let Some(chunk) = bytes.get(at..at + 16) {
        let mask = sse2::stop_mask(chunk.try_into().expect("16 bytes"), stops);
        if mask != 0 {
            return at + mask.trailing_zeros() as usize;
        }
        at += 16;
    }
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    // A lane's high bit is set where `lane - n` borrows and the lane had no high
    // bit: exactly the lanes below `n`, for n <= 0x80 (no false negatives).
    let below = |x: u64, n: u8| x.wrapping_sub(ONES * u64::from(n)) & !x & HIGHS;
    let equal = |x: u64, b: u8| below(x ^ (ONES * u64::from(b)), 1);
    while let Some(chunk) = bytes.get(at..at + 8) {
        let x = u64::from_le_bytes(chunk.try_into().expect("eight bytes"));
        let mut special = below(x, 0x20) | equal(x, b'"') | equal(x, b'\\');
        if stops.slash {
            special |= equal(x, b'/');
        }
        if stops.html {
            special |=
                equal(x, b'<') | equal(x, b'>') | equal(x, b'&') | equal(x, b'=') | equal(x, b'\'');
        }
        if special != 0 {
            // The lowest flagged lane is exact (a borrow only runs upwards).
            return at + (special.trailing_zeros() / 8) as usize;
        }
        at += 8;
    }
    at + bytes[at..]
        .iter()
        .position(|&b| stops.contains(b))
        .unwrap_or(bytes.len() - at)
}

/// The 16-byte search. The one `unsafe` here calls a function compiled for SSE2;
/// it is sound because this module exists only where the target has SSE2.
#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
#[allow(unsafe_code)]
mod sse2 {
    use std::arch::x86_64::{
        __m128i, _mm_cmpeq_epi8, _mm_min_epu8, _mm_movemask_epi8, _mm_or_si128, _mm_set_epi64x,
        _mm_set1_epi8,
    };

    use super::Stops;

    /// Bit `i` is set where `chunk[i]` is in `stops`.
    #[inline]
    pub(super) fn stop_mask(chunk: &[u8; 16], stops: Stops) -> u32 {
        // SAFETY: `stop_mask_sse2` needs SSE2 and nothing else, and this module is
        // compiled only with `target_feature = "sse2"`.
        unsafe { stop_mask_sse2(chunk, stops) }
    }

    #[target_feature(enable = "sse2")]
    #[inline]
    fn stop_mask_sse2(chunk: &[u8; 16], stops: Stops) -> u32 {
        // Two plain loads; LLVM merges them into one unaligned vector load.
        let low = i64::from_le_bytes(chunk[..8].try_into().expect("eight bytes"));
        let high = i64::from_le_bytes(chunk[8..].try_into().expect("eight bytes"));
        let v = _mm_set_epi64x(high, low);
        let equal = |b: u8| _mm_cmpeq_epi8(v, _mm_set1_epi8(b as i8));
        // Unsigned `v <= 0x1f` is `min(v, 0x1f) == v`.
        let control = _mm_cmpeq_epi8(_mm_min_epu8(v, _mm_set1_epi8(0x1f)), v);
        let mut special: __m128i = _mm_or_si128(control, _mm_or_si128(equal(b'"'), equal(b'\\')));
        if stops.slash {
            special = _mm_or_si128(special, equal(b'/'));
        }
        if stops.html {
            let html = _mm_or_si128(
                _mm_or_si128(equal(b'<'), equal(b'>')),
                _mm_or_si128(_mm_or_si128(equal(b'&'), equal(b'=')), equal(b'\'')),
            );
            special = _mm_or_si128(special, html);
        }
        _mm_movemask_epi8(special) as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL_STOPS: [Stops; 4] = [
        Stops::JSON,
        Stops {
            slash: true,
            html: false,
        },
        Stops {
            slash: false,
            html: true,
        },
        Stops {
            slash: true,
            html: true,
        },
    ];

    fn reference(bytes: &[u8], stops: Stops) -> usize {
        bytes
            .iter()
            .position(|&b| stops.contains(b))
            .unwrap_or(bytes.len())
    }

    #[test]
    fn finds_every_stop_at_every_offset_in_each_path() {
        // Offsets past 16 and 24 reach the eight-byte and the byte-by-byte paths.
        for stops in ALL_STOPS {
            for special in [
                b'"', b'\\', b'/', b'<', b'>', b'&', b'=', b'\'', b'\n', 0, 0x1f, 0x20, 0x7f, 0x80,
                0xc3, 0xff, b'~',
            ] {
                for offset in 0..40 {
                    for tail in [0, 3, 9, 17] {
                        let mut bytes = vec![b'x'; offset];
                        bytes.push(special);
                        bytes.extend(std::iter::repeat_n(b'y', tail));
                        assert_eq!(
                            plain_run(&bytes, stops),
                            reference(&bytes, stops),
                            "{stops:?} {special:#04x} at {offset}, {tail} after"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn a_run_without_stops_is_the_whole_slice() {
        for len in 0..50 {
            let bytes = vec![b'a'; len];
            for stops in ALL_STOPS {
                assert_eq!(plain_run(&bytes, stops), len);
            }
        }
    }
}
