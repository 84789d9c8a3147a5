//! FHIR date, dateTime and instant strings: recognising them, cutting them to the year, and
//! writing an instant from unix seconds (no clock is read here: callers pass `now`).

/// Writes unix seconds as a FHIR `instant` in UTC: `YYYY-MM-DDThh:mm:ssZ`.
pub fn format_instant(unix_seconds: i64) -> String {
    let days = unix_seconds.div_euclid(86_400);
    let secs = unix_seconds.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        (secs % 3600) / 60,
        secs % 60
    )
}

/// The calendar year (UTC) of unix seconds.
pub(crate) fn year_of(unix_seconds: i64) -> i64 {
    civil_from_days(unix_seconds.div_euclid(86_400)).0
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (H. Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    // `d` is in 1..=31 and `m` in 1..=12 by construction.
    (
        y,
        u32::try_from(m).unwrap_or(1),
        u32::try_from(d).unwrap_or(1),
    )
}

fn digits(s: &[u8]) -> bool {
    !s.is_empty() && s.iter().all(u8::is_ascii_digit)
}

/// Whether `s` is a FHIR `date`, `dateTime` or `instant` with more than a year in it
/// (`YYYY-MM`, `YYYY-MM-DD`, `YYYY-MM-DDThh:mm[:ss[.f]][Z|±hh:mm]`).
pub(crate) fn is_partial_or_full_date(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() < 7 || !digits(&b[..4]) || b[4] != b'-' || !digits(&b[5..7]) {
        return false;
    }
    if b.len() == 7 {
        return true;
    }
    if b.len() < 10 || b[7] != b'-' || !digits(&b[8..10]) {
        return false;
    }
    if b.len() == 10 {
        return true;
    }
    if b[10] != b'T' {
        return false;
    }
    // The time part: digits, ':', '.', and a zone (Z, +, -).
    b[11..]
        .iter()
        .all(|c| c.is_ascii_digit() || matches!(c, b':' | b'.' | b'Z' | b'+' | b'-'))
}

/// The year of a FHIR date-like string, if it starts with one.
pub(crate) fn year_prefix(s: &str) -> Option<&str> {
    let head = s.get(..4)?;
    (digits(head.as_bytes()) && (s.len() == 4 || is_partial_or_full_date(s))).then_some(head)
}

/// A date for people: `YYYY-MM-DD` from a dateTime/instant, else as written.
pub(crate) fn short(s: &str) -> &str {
    if is_partial_or_full_date(s) && s.len() > 10 {
        &s[..10]
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_instants() {
        assert_eq!(format_instant(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_instant(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(format_instant(1_767_225_599), "2025-12-31T23:59:59Z");
        assert_eq!(format_instant(-1), "1969-12-31T23:59:59Z");
        assert_eq!(year_of(1_767_225_600), 2026);
        // Extremes do not panic.
        let _ = format_instant(i64::MAX / 2);
        let _ = format_instant(i64::MIN / 2);
    }

    #[test]
    fn recognises_dates() {
        for yes in [
            "1972-05",
            "1972-05-01",
            "2017-12-11T14:30:00+01:00",
            "2018-09-17T15:29:24.181+00:00",
            "2013-04-05T10:00:00Z",
        ] {
            assert!(is_partial_or_full_date(yes), "{yes}");
            assert_eq!(year_prefix(yes), Some(&yes[..4]));
        }
        for no in [
            "1972",
            "abcd-05-01",
            "1972-5-1",
            "55284-4",
            "2012 or so",
            "",
            "é",
        ] {
            assert!(!is_partial_or_full_date(no), "{no}");
        }
        assert_eq!(year_prefix("1972"), Some("1972"));
        assert_eq!(year_prefix("55284-4"), None);
        assert_eq!(short("2017-12-11T14:30:00+01:00"), "2017-12-11");
        assert_eq!(short("2017"), "2017");
    }
}
