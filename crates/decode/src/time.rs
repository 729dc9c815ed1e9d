//! The `eventTime` codec: `YYYY-MM-DDTHH:MM:SSZ` to and from microseconds.
//!
//! CloudTrail writes whole seconds in UTC. Parsing also accepts a fraction of up to
//! nine digits (truncated to microseconds) so that odd timestamps still sort and
//! prune; [`format_event_time`] writes the canonical form only, and callers detect a
//! non-canonical spelling by comparing the two.

const MICROS_PER_SECOND: i64 = 1_000_000;
const SECONDS_PER_DAY: i64 = 86_400;

/// Parse an `eventTime` value into microseconds since the Unix epoch (UTC).
pub fn parse_event_time(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' {
        return None;
    }
    if b[13] != b':' || b[16] != b':' || *b.last()? != b'Z' {
        return None;
    }
    let num = |range: std::ops::Range<usize>| -> Option<i64> {
        let digits = b.get(range)?;
        digits.iter().try_fold(0i64, |acc, d| {
            d.is_ascii_digit().then(|| acc * 10 + i64::from(d - b'0'))
        })
    };
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let fraction = &b[19..b.len() - 1];
    let micros = match fraction {
        [] => 0,
        [b'.', digits @ ..] if (1..=9).contains(&digits.len()) => {
            let value = num(20..20 + digits.len())?;
            let scale = 10i64.pow(digits.len() as u32);
            value * MICROS_PER_SECOND / scale
        }
        _ => return None,
    };
    let seconds =
        days_from_civil(year, month, day) * SECONDS_PER_DAY + hour * 3600 + minute * 60 + second;
    Some(seconds * MICROS_PER_SECOND + micros)
}

/// Format microseconds since the epoch as CloudTrail does. A fraction of a second,
/// which CloudTrail never writes, is shown with six digits.
pub fn format_event_time(micros: i64, out: &mut String) {
    use std::fmt::Write;
    let seconds = micros.div_euclid(MICROS_PER_SECOND);
    let fraction = micros.rem_euclid(MICROS_PER_SECOND);
    let (year, month, day) = civil_from_days(seconds.div_euclid(SECONDS_PER_DAY));
    let time = seconds.rem_euclid(SECONDS_PER_DAY);
    let (hour, minute, second) = (time / 3600, time % 3600 / 60, time % 60);
    if (0..=9999).contains(&year) {
        // Digits put in place: `write!` cost about four times as many instructions,
        // twice a record (the spelling check and the proof; docs/BENCHMARKS.md).
        let mut text = *b"0000-00-00T00:00:00";
        for (range, value) in [
            (0..4, year),
            (5..7, month),
            (8..10, day),
            (11..13, hour),
            (14..16, minute),
            (17..19, second),
        ] {
            put_digits(&mut text[range], value);
        }
        out.extend(text.iter().map(|&byte| char::from(byte)));
    } else {
        let _ = write!(
            out,
            "{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}"
        );
    }
    if fraction != 0 {
        let _ = write!(out, ".{fraction:06}");
    }
    out.push('Z');
}

/// Write `value`, from 0 to 10^`digits.len()` - 1, as that many decimal digits.
fn put_digits(digits: &mut [u8], mut value: i64) {
    for digit in digits.iter_mut().rev() {
        *digit = b'0' + (value % 10) as u8;
        value /= 10;
    }
}

/// The civil date (year, month, day) of a day count since 1970-01-01.
pub fn civil_from_days(days: i64) -> (i64, i64, i64) {
    // Howard Hinnant's algorithm, valid over the whole proleptic Gregorian calendar.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let yoe = year.rem_euclid(400);
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn format(micros: i64) -> String {
        let mut out = String::new();
        format_event_time(micros, &mut out);
        out
    }

    #[test]
    fn parses_and_formats_canonical_times() {
        for (text, micros) in [
            ("1970-01-01T00:00:00Z", 0),
            ("2021-03-04T05:06:07Z", 1_614_834_367_000_000),
            ("2024-02-29T23:59:59Z", 1_709_251_199_000_000),
            ("1969-12-31T23:59:59Z", -1_000_000),
            ("0000-01-01T00:00:00Z", -62_167_219_200_000_000),
            ("9999-12-31T23:59:59Z", 253_402_300_799_000_000),
        ] {
            assert_eq!(parse_event_time(text), Some(micros), "{text}");
            assert_eq!(format(micros), text);
        }
    }

    #[test]
    fn years_past_four_digits_format_as_write_does() {
        assert_eq!(format(253_402_300_800_000_000), "10000-01-01T00:00:00Z");
        assert_eq!(format(-62_167_219_201_000_000), "-001-12-31T23:59:59Z");
    }

    #[test]
    fn fractions_parse_but_format_differently() {
        assert_eq!(
            parse_event_time("2021-03-04T05:06:07.5Z"),
            Some(1_614_834_367_500_000)
        );
        assert_eq!(format(1_614_834_367_500_000), "2021-03-04T05:06:07.500000Z");
    }

    proptest::proptest! {
        /// The digits put in place spell what `write!` does, over the years 0 to
        /// 9999, in whole seconds (as CloudTrail writes them) and with fractions;
        /// the unit tests above cover the years beyond, which `write!` formats.
        #[test]
        fn formats_as_write_does(
            seconds in -62_167_219_200i64..253_402_300_800,
            fraction in proptest::prop_oneof![proptest::strategy::Just(0i64), 1i64..1_000_000],
        ) {
            let micros = seconds * MICROS_PER_SECOND + fraction;
            let (year, month, day) = civil_from_days(seconds.div_euclid(SECONDS_PER_DAY));
            let time = seconds.rem_euclid(SECONDS_PER_DAY);
            let mut expected = format!(
                "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}",
                time / 3600,
                time % 3600 / 60,
                time % 60
            );
            if fraction != 0 {
                expected += &format!(".{fraction:06}");
            }
            expected.push('Z');
            proptest::prop_assert_eq!(format(micros), expected);
        }
    }

    #[test]
    fn rejects_malformed_times() {
        for text in [
            "",
            "2021-03-04 05:06:07Z",
            "2021-03-04T05:06:07",
            "2021-02-29T00:00:00Z",
            "2021-13-01T00:00:00Z",
            "2021-01-01T24:00:00Z",
            "2021-01-01T00:00:00.Z",
            "2021-01-01T00:00:00+01:00",
            "２021-01-01T00:00:00Z",
        ] {
            assert_eq!(parse_event_time(text), None, "{text}");
        }
    }
}
