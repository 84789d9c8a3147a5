//! FHIR date, dateTime and instant strings: recognising them, cutting them to the year, and
//! writing an instant from unix seconds (no clock is read here: callers pass `now`); and
//! dates written in free text in any other form ([`find_dates`]), for anonymous mode.

use super::names::{Found, Kind, Tok, gap};

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
pub fn year_of(unix_seconds: i64) -> i64 {
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

/// Years a date written in free text may have (a number outside is no year).
const YEARS: core::ops::RangeInclusive<u32> = 1800..=2199;

/// Month names and their common abbreviations, lower case.
const MONTHS: &[&str] = &[
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
    "jan",
    "feb",
    "mar",
    "apr",
    "jun",
    "jul",
    "aug",
    "sep",
    "sept",
    "oct",
    "nov",
    "dec",
];

fn is_month(word: &str) -> bool {
    word.len() <= 9 && MONTHS.contains(&word.to_ascii_lowercase().as_str())
}

/// A full month name standing alone (`in March`) is a date element too; `May` is not taken
/// alone (`May cause drowsiness`), nor are abbreviations or lower-case words.
fn is_lone_month(word: &str) -> bool {
    word.len() >= 4
        && word != "May"
        && word.starts_with(|c: char| c.is_ascii_uppercase())
        && MONTHS[..12].contains(&word.to_ascii_lowercase().as_str())
}

fn is_ordinal(word: &str) -> bool {
    matches!(
        word.to_ascii_lowercase().as_str(),
        "st" | "nd" | "rd" | "th"
    )
}

/// Whether what lies between two parts of a written date may: nothing, or up to three of
/// space, comma, `-`, `/`, `.`.
fn date_gap(g: &str) -> bool {
    g.len() <= 3
        && g.bytes()
            .all(|b| matches!(b, b' ' | b',' | b'-' | b'/' | b'.'))
}

fn day(t: Tok, s: &str) -> bool {
    t.len() <= 2 && t.number(s).is_some_and(|d| (1..=31).contains(&d))
}

fn year4(t: Tok, s: &str) -> Option<u32> {
    (t.len() == 4)
        .then(|| t.number(s))
        .flatten()
        .filter(|y| YEARS.contains(y))
}

/// Every date written in free text in a form other than a whole FHIR date string: numeric
/// (`3/4/2019`, `03-04-2019`, `12.04.19`, `2019/03/04`, `2019-03-04T10:00Z`, `2019-03`,
/// `03/2019`), or with a month name (`4 March 2019`, `March 4, 2019`, `Feb 12th 2009`,
/// `04-MAR-2019`, `March 2019`, `4th of March`, `in March`). Each becomes its year, or `[date]`
/// when it has no four-digit year. A bare fraction (`3/4`) is not taken for a date.
pub(super) fn find_dates(s: &str, toks: &[Tok], out: &mut Vec<Found>) {
    let mut i = 0;
    while i < toks.len() {
        match date_at(s, toks, i) {
            Some((last, end, year)) => {
                let with = year.map_or_else(|| "[date]".to_owned(), |y| format!("{y:04}"));
                out.push(Found::new(toks[i].start, end, with));
                i = last + 1;
            }
            None => i += 1,
        }
    }
}

/// A date starting at token `i`: (its last token, its end offset, its year if it has one).
fn date_at(s: &str, toks: &[Tok], i: usize) -> Option<(usize, usize, Option<u32>)> {
    let t = toks[i];
    match t.kind {
        Kind::Num => numeric_date(s, toks, i).or_else(|| day_month(s, toks, i)),
        Kind::Word => month_first(s, toks, i),
    }
}

/// `d/m/y`, `y-m-d` (with a time after a `T`), `y-m`, `m/y`.
fn numeric_date(s: &str, toks: &[Tok], i: usize) -> Option<(usize, usize, Option<u32>)> {
    let sep_at = |j: usize| -> Option<u8> {
        let g = gap(s, toks, j);
        (g.len() == 1 && matches!(g.as_bytes()[0], b'/' | b'-' | b'.')).then(|| g.as_bytes()[0])
    };
    let num_at = |j: usize| toks.get(j).filter(|t| t.kind == Kind::Num).copied();
    // Part of a longer dotted or dashed number (`1.2.840.10.12.19`)?
    let continued_before = i > 0
        && toks[i - 1].kind == Kind::Num
        && gap(s, toks, i).len() == 1
        && matches!(gap(s, toks, i).as_bytes()[0], b'/' | b'-' | b'.');
    if continued_before {
        return None;
    }
    let continued_after =
        |j: usize| toks.get(j + 1).is_some_and(|t| t.kind == Kind::Num) && sep_at(j + 1).is_some();
    let a = toks[i];
    let b = num_at(i + 1)?;
    let sep = sep_at(i + 1)?;
    let c = num_at(i + 2).filter(|_| sep_at(i + 2) == Some(sep));
    if let Some(c) = c {
        if continued_after(i + 2) {
            return None;
        }
        // y-m-d
        if let Some(y) = year4(a, s) {
            let month = b.number(s).filter(|m| (1..=12).contains(m) && b.len() <= 2);
            if month.is_some() && day(c, s) {
                let mut end = c.end;
                let rest = &s.as_bytes()[end..];
                if rest.first() == Some(&b'T') && rest.get(1).is_some_and(u8::is_ascii_digit) {
                    end += 1 + rest[1..]
                        .iter()
                        .take_while(|b| {
                            b.is_ascii_digit() || matches!(b, b':' | b'.' | b'Z' | b'+' | b'-')
                        })
                        .count();
                }
                let last = toks.iter().rposition(|t| t.end <= end).unwrap_or(i + 2);
                return Some((last.max(i + 2), end, Some(y)));
            }
            return None;
        }
        // d/m/y or m/d/y
        let (x, z) = (a.number(s)?, b.number(s)?);
        if a.len() > 2 || b.len() > 2 || !(1..=31).contains(&x) || !(1..=31).contains(&z) {
            return None;
        }
        if x > 12 && z > 12 {
            return None;
        }
        if let Some(y) = year4(c, s) {
            return Some((i + 2, c.end, Some(y)));
        }
        let short_year = c.len() == 2 && (sep != b'.' || (a.len() == 2 && b.len() == 2));
        return short_year.then_some((i + 2, c.end, None));
    }
    if continued_after(i + 1) {
        return None;
    }
    // y-m (ISO's two-digit month) and m/y (a two-digit month, so `1/2048` stays a ratio).
    if let Some(y) = year4(a, s) {
        let month = b.len() == 2 && b.number(s).is_some_and(|m| (1..=12).contains(&m));
        return (month && sep != b'.').then_some((i + 1, b.end, Some(y)));
    }
    if a.len() == 2 && a.number(s).is_some_and(|m| (1..=12).contains(&m)) && sep != b'.' {
        return year4(b, s).map(|y| (i + 1, b.end, Some(y)));
    }
    None
}

/// After token `j` (a day or a month), an optional year: (last token, end, year).
fn then_year(s: &str, toks: &[Tok], j: usize) -> (usize, usize, Option<u32>) {
    if let Some(&next) = toks.get(j + 1)
        && date_gap(gap(s, toks, j + 1))
        && let Some(y) = year4(next, s)
    {
        return (j + 1, next.end, Some(y));
    }
    (j, toks[j].end, None)
}

/// `4 March 2019`, `4th of March`, `04-MAR-2019`, `04MAR19`.
fn day_month(s: &str, toks: &[Tok], i: usize) -> Option<(usize, usize, Option<u32>)> {
    if !day(toks[i], s) {
        return None;
    }
    let mut j = i + 1;
    if toks.get(j).is_some_and(|t| is_ordinal(t.text(s))) && gap(s, toks, j).is_empty() {
        j += 1;
    }
    if toks
        .get(j)
        .is_some_and(|t| t.text(s).eq_ignore_ascii_case("of"))
        && gap(s, toks, j) == " "
    {
        j += 1;
    }
    let month = toks.get(j).filter(|t| t.kind == Kind::Word)?;
    if !is_month(month.text(s)) || !date_gap(gap(s, toks, j)) {
        return None;
    }
    let (last, end, year) = then_year(s, toks, j);
    if year.is_some() {
        return Some((last, end, year));
    }
    // `04-MAR-19`: a two-digit year after a dash.
    if let Some(&next) = toks.get(j + 1)
        && next.kind == Kind::Num
        && next.len() == 2
        && matches!(gap(s, toks, j + 1), "-" | "/" | "")
    {
        return Some((j + 1, next.end, None));
    }
    // A lower-case month without a year may be a word (`dec` for decrease, `may`).
    (!weak(month.text(s))).then_some((last, end, None))
}

/// A month word written in lower case: taken for a month only with a year.
fn weak(word: &str) -> bool {
    word.starts_with(|c: char| c.is_ascii_lowercase())
}

/// `March 4, 2019`, `Feb 12th 2009`, `March 2019`, `Mar-04-2019`, and a full month name alone.
fn month_first(s: &str, toks: &[Tok], i: usize) -> Option<(usize, usize, Option<u32>)> {
    let word = toks[i].text(s);
    if !is_month(word) {
        return None;
    }
    if let Some(&next) = toks.get(i + 1)
        && date_gap(gap(s, toks, i + 1))
    {
        if day(next, s) {
            let mut j = i + 1;
            if toks.get(j + 1).is_some_and(|t| is_ordinal(t.text(s)))
                && gap(s, toks, j + 1).is_empty()
            {
                j += 1;
            }
            let found = then_year(s, toks, j);
            if found.2.is_some() || !weak(word) {
                return Some(found);
            }
        }
        if let Some(y) = year4(next, s) {
            return Some((i + 1, next.end, Some(y)));
        }
    }
    is_lone_month(word).then_some((i, toks[i].end, None))
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

    fn dates_in(s: &str) -> Vec<(&str, String)> {
        let mut found = Vec::new();
        find_dates(s, &super::super::names::tokens(s), &mut found);
        found
            .into_iter()
            .map(|f| (&s[f.start..f.end], f.with))
            .collect()
    }

    #[test]
    fn finds_dates_in_free_text() {
        let found = dates_in("seen 3/4/2019, 4 March 2019, March 18, 2019 and 12.04.19; 3/4 tab");
        let found: Vec<(&str, &str)> = found.iter().map(|(a, b)| (*a, b.as_str())).collect();
        assert_eq!(
            found,
            [
                ("3/4/2019", "2019"),
                ("4 March 2019", "2019"),
                ("March 18, 2019", "2019"),
                ("12.04.19", "[date]"),
            ]
        );
        for none in [
            "1.2.840.10008.5.1.4.1.1.2",
            "5.4 mmol/L",
            "1988-5",
            "May cause",
            "2019",
        ] {
            assert!(dates_in(none).is_empty(), "{none}");
        }
    }
}
