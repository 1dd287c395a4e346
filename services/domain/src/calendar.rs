//! The working-day calendar of Italy, and the protocol deadlines counted on it: "within 2 working
//! days", "within 48 hours", "before the expected discharge date".
//!
//! A day is a working day for a Comune's social services unless it is a Saturday, a Sunday, a
//! national public holiday or, when a Comune is named, that Comune's patron-saint day. Italian
//! holidays that fall on a weekend are not moved, so a weekend holiday costs no working day.
//!
//! Days are counted in the local time of Italy (CET/CEST), which this module computes itself from
//! the EU rule: the `time` crate carries no time-zone database, and one rule is all Italy needs.
//!
//! Conventions, fixed here once so that every deadline in raccordo agrees:
//! - [`Calendar::add_working_days`]`(d, n)` first rolls `d` forward to a working day (`d` itself if
//!   it is one), then moves `n` working days on: `n = 0` gives that first working day.
//! - [`Calendar::working_days_between`]`(a, b)` counts the working days in `[a, b)`, so it undoes
//!   `add_working_days`: `working_days_between(d, add_working_days(d, n)) == n`.
//! - [`Calendar::deadline_after`] returns the first instant at which a step is late: an act is on
//!   time if and only if it happens strictly before the deadline. A deadline counted in days ends
//!   when its last day ends, i.e. at the local midnight that starts the next calendar day; no
//!   "23:59:59.999" that an event at 23:59:59.9995 would slip past.

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;
use std::sync::OnceLock;

use time::macros::{offset, time};
use time::{Date, Duration, Month, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset, Weekday};

use crate::ids::ComuneId;
use crate::registry::{RegistryError, RegistryFile};

/// The file of patron-saint days, in `contracts/registry/`.
pub const PATRONS_FILE: &str = "patroni.tsv";

const PATRON_COLUMNS: [&str; 4] = ["comune_id", "month_day", "name", "source"];

/// Central European Time, Italy's offset in winter.
const CET: UtcOffset = offset!(+1);
/// Central European Summer Time.
const CEST: UtcOffset = offset!(+2);

/// How long a protocol gives a party to act, counted from the instant the wait began.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Deadline {
    /// Until the end of the n-th working day after the local day the wait began on (that day
    /// itself does not count). `WorkingDays(0)` is the end of the same day if it is a working
    /// day, otherwise the end of the next working day; so from a day off, `WorkingDays(0)` and
    /// `WorkingDays(1)` both end with the next working day.
    WorkingDays(u32),
    /// Exactly this many hours of elapsed time, whatever the clocks in Italy do meanwhile.
    CalendarHours(u32),
    /// Until the end of the day before this date, local time: the local midnight that starts it.
    BeforeDate(Date),
}

/// A Comune's patron-saint day, every year on the same day.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Patron {
    month: Month,
    day: u8,
    name: String,
}

/// Italy's public holidays and weekends, plus the patron-saint days of the Comuni it was given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Calendar {
    patrons: BTreeMap<ComuneId, Patron>,
}

impl Calendar {
    /// The national calendar, with no patron-saint days.
    pub fn italy() -> Calendar {
        Calendar {
            patrons: BTreeMap::new(),
        }
    }

    /// The national calendar plus the patron-saint days of a [`PATRONS_FILE`]-shaped table.
    ///
    /// The format is that of the registry files: tab-separated, `#` comments and blank lines
    /// skipped, a header naming the columns `comune_id month_day name source` in any order, then
    /// one row per Comune. `month_day` is `MM-DD`; 29 February is refused, as not every year has
    /// it. `source` must say where the day comes from. Errors name the file and line.
    pub fn with_patrons(file: &RegistryFile<'_>) -> Result<Calendar, RegistryError> {
        let error = |line: usize, reason: String| RegistryError {
            file: file.name.to_owned(),
            line,
            reason,
        };
        let expected = PATRON_COLUMNS.join(", ");
        let mut lines = file
            .contents
            .lines()
            .enumerate()
            .map(|(index, text)| (index + 1, text))
            .filter(|(_, text)| {
                let text = text.trim();
                !text.is_empty() && !text.starts_with('#')
            });
        let (header_line, header) = lines.next().ok_or_else(|| {
            error(
                1,
                format!("no header line: expected the columns {expected}"),
            )
        })?;
        let names: Vec<&str> = header.split('\t').map(str::trim).collect();
        for (index, name) in names.iter().enumerate() {
            if !PATRON_COLUMNS.contains(name) {
                return Err(error(
                    header_line,
                    format!("unknown column '{name}': expected the columns {expected}"),
                ));
            }
            if names[..index].contains(name) {
                return Err(error(header_line, format!("column '{name}' appears twice")));
            }
        }
        let mut positions = [0; PATRON_COLUMNS.len()];
        for (position, column) in positions.iter_mut().zip(PATRON_COLUMNS) {
            *position = names
                .iter()
                .position(|name| *name == column)
                .ok_or_else(|| {
                    error(
                        header_line,
                        format!("missing column '{column}': expected the columns {expected}"),
                    )
                })?;
        }

        // Each Comune with the line that gave its patron day, to point at a duplicate.
        let mut rows: BTreeMap<ComuneId, (usize, Patron)> = BTreeMap::new();
        for (line, text) in lines {
            let cells: Vec<&str> = text.split('\t').map(str::trim).collect();
            if cells.len() != names.len() {
                return Err(error(
                    line,
                    format!(
                        "expected {} tab-separated columns ({}) but found {}",
                        names.len(),
                        names.join(", "),
                        cells.len()
                    ),
                ));
            }
            let [comune, month_day, name, source] = positions.map(|p| cells[p]);
            for (column, cell) in PATRON_COLUMNS.iter().zip([comune, month_day, name, source]) {
                if cell.is_empty() {
                    return Err(error(
                        line,
                        format!("{column} is empty; every row needs one"),
                    ));
                }
            }
            let comune: ComuneId = comune
                .parse()
                .map_err(|e| error(line, format!("comune_id: {e}")))?;
            let (month, day) = parse_month_day(month_day).map_err(|reason| error(line, reason))?;
            let patron = Patron {
                month,
                day,
                name: name.to_owned(),
            };
            match rows.entry(comune) {
                Entry::Occupied(first) => {
                    return Err(error(
                        line,
                        format!(
                            "Comune {} already has a patron day, on line {}",
                            first.key(),
                            first.get().0
                        ),
                    ));
                }
                Entry::Vacant(slot) => {
                    slot.insert((line, patron));
                }
            }
        }
        let patrons = rows
            .into_iter()
            .map(|(comune, (_, patron))| (comune, patron))
            .collect();
        Ok(Calendar { patrons })
    }

    /// The national calendar plus the patron-saint days shipped in
    /// `contracts/registry/patroni.tsv`, parsed on first use.
    ///
    /// # Panics
    /// If the shipped file is invalid, which a test of this module rules out.
    pub fn embedded() -> &'static Calendar {
        static EMBEDDED: OnceLock<Calendar> = OnceLock::new();
        EMBEDDED.get_or_init(|| {
            let file = RegistryFile {
                name: PATRONS_FILE,
                contents: include_str!("../../../contracts/registry/patroni.tsv"),
            };
            Calendar::with_patrons(&file)
                .unwrap_or_else(|e| panic!("the patron days shipped in contracts/registry: {e}"))
        })
    }

    /// Whether the offices are open on `date`: not a weekend, not a holiday (see
    /// [`Self::holiday_name`]). A Comune the calendar has no patron day for gets the national
    /// calendar.
    pub fn is_working_day(&self, date: Date, comune: Option<&ComuneId>) -> bool {
        !matches!(date.weekday(), Weekday::Saturday | Weekday::Sunday)
            && self.holiday_name(date, comune).is_none()
    }

    /// The holiday `date` is, if any: a national holiday, or else the patron-saint day of
    /// `comune`. Plain weekends are not holidays and give `None`.
    ///
    /// National holidays are those of art. 2 of L. 260/1949 as in force since 2001 (2 June
    /// restored by L. 336/2000), plus 4 October from 2026 (L. 151/2025). Years before 2001 get
    /// the same list, which is not what held then; raccordo's history begins in 2025.
    pub fn holiday_name(&self, date: Date, comune: Option<&ComuneId>) -> Option<&str> {
        national_holiday(date).or_else(|| {
            let patron = self.patrons.get(comune?)?;
            (date.month() == patron.month && date.day() == patron.day)
                .then_some(patron.name.as_str())
        })
    }

    /// The `n`-th working day after the first working day on or after `date`: `n = 0` gives
    /// `date` itself if it is a working day, else the next working day. So a Saturday plus 0 is
    /// the Monday and plus 1 the Tuesday (of an ordinary week).
    ///
    /// # Panics
    /// If the result would fall after 31 December 9999, the last date `time` represents.
    pub fn add_working_days(&self, date: Date, n: u32, comune: Option<&ComuneId>) -> Date {
        let mut day = self.first_working_day_from(date, comune);
        for _ in 0..n {
            day = self.first_working_day_from(next_day(day), comune);
        }
        day
    }

    /// The number of working days `d` with `a <= d < b`; negative, with the same magnitude as
    /// `working_days_between(b, a)`, when `b` is before `a`. It takes as many steps as there are
    /// days between the two dates.
    pub fn working_days_between(&self, a: Date, b: Date, comune: Option<&ComuneId>) -> i64 {
        let (from, to, sign) = if a <= b { (a, b, 1) } else { (b, a, -1) };
        let mut count = 0;
        let mut day = from;
        while day < to {
            if self.is_working_day(day, comune) {
                count += 1;
            }
            day = next_day(day);
        }
        sign * count
    }

    /// The first instant at which a step that became due at `start` is late; see [`Deadline`]
    /// for how each kind is counted. The result is in UTC.
    ///
    /// # Panics
    /// If the deadline would fall outside the years `time` represents (±9999).
    pub fn deadline_after(
        &self,
        start: OffsetDateTime,
        deadline: Deadline,
        comune: Option<&ComuneId>,
    ) -> OffsetDateTime {
        match deadline {
            Deadline::WorkingDays(n) => {
                let start_day = rome_date(start);
                let last_day = match n.checked_sub(1) {
                    None => self.add_working_days(start_day, 0, comune),
                    Some(more) => self.add_working_days(next_day(start_day), more, comune),
                };
                rome_midnight(next_day(last_day))
            }
            Deadline::CalendarHours(hours) => {
                (start + Duration::hours(i64::from(hours))).to_offset(UtcOffset::UTC)
            }
            Deadline::BeforeDate(date) => rome_midnight(date),
        }
    }

    fn first_working_day_from(&self, date: Date, comune: Option<&ComuneId>) -> Date {
        let mut day = date;
        while !self.is_working_day(day, comune) {
            day = next_day(day);
        }
        day
    }
}

/// The date in Italy at `instant`: what a local calendar on the wall showed.
pub fn rome_date(instant: OffsetDateTime) -> Date {
    rome_time(instant).date()
}

/// The UTC offset of Italy's local time at `instant`: +02:00 (CEST) from 01:00 UTC on the last
/// Sunday of March until 01:00 UTC on the last Sunday of October, +01:00 (CET) otherwise. This is
/// the EU rule, in force since 1996; earlier years are given the same rule. Should the EU stop
/// changing the clocks, this function is the one place to change.
pub fn rome_offset(instant: OffsetDateTime) -> UtcOffset {
    let year = instant.to_offset(UtcOffset::UTC).year();
    let summer_starts = last_sunday(year, Month::March);
    let summer_ends = last_sunday(year, Month::October);
    let summer = PrimitiveDateTime::new(summer_starts, time!(01:00)).assume_utc()
        ..PrimitiveDateTime::new(summer_ends, time!(01:00)).assume_utc();
    if summer.contains(&instant) { CEST } else { CET }
}

/// `instant` as the wall clock in Italy shows it (its offset says winter or summer time).
pub fn rome_time(instant: OffsetDateTime) -> OffsetDateTime {
    instant.to_offset(rome_offset(instant))
}

/// The instant `date` begins in Italy, in UTC.
pub fn rome_midnight(date: Date) -> OffsetDateTime {
    // Local midnight is 23:00 UTC the day before in winter and 22:00 UTC in summer. The clocks
    // change at 01:00 UTC, never between those two hours, so the offset in force at 23:00 UTC
    // (midnight read as winter time) is the offset in force at the real local midnight.
    let local = PrimitiveDateTime::new(date, Time::MIDNIGHT);
    let offset = rome_offset(local.assume_offset(CET));
    local.assume_offset(offset).to_offset(UtcOffset::UTC)
}

fn last_sunday(year: i32, month: Month) -> Date {
    let last = Date::from_calendar_date(year, month, month.length(year))
        .expect("the last day of a month is a valid date");
    last - Duration::days(i64::from(last.weekday().number_days_from_sunday()))
}

fn next_day(date: Date) -> Date {
    date.next_day()
        .expect("calendar arithmetic stays before the end of year 9999")
}

/// The national holiday `date` is, if any.
fn national_holiday(date: Date) -> Option<&'static str> {
    let easter = easter_sunday(date.year());
    if date == easter {
        return Some("Pasqua");
    }
    if date == next_day(easter) {
        return Some("Lunedì dell'Angelo");
    }
    let name = match (date.month(), date.day()) {
        (Month::January, 1) => "Capodanno",
        (Month::January, 6) => "Epifania",
        (Month::April, 25) => "Festa della Liberazione",
        (Month::May, 1) => "Festa del Lavoro",
        (Month::June, 2) => "Festa della Repubblica",
        (Month::August, 15) => "Ferragosto",
        // L. 151/2025 (GU n. 236 of 10 October 2025), in force from 1 January 2026.
        (Month::October, 4) if date.year() >= 2026 => "San Francesco d'Assisi",
        (Month::November, 1) => "Ognissanti",
        (Month::December, 8) => "Immacolata Concezione",
        (Month::December, 25) => "Natale",
        (Month::December, 26) => "Santo Stefano",
        _ => return None,
    };
    Some(name)
}

/// Easter Sunday of the Gregorian calendar (the anonymous algorithm of Meeus, Jones and
/// Butcher). Floor division keeps it total for the proleptic years before 1583 too: always a
/// Sunday between 22 March and 25 April.
fn easter_sunday(year: i32) -> Date {
    let a = year.rem_euclid(19);
    let b = year.div_euclid(100);
    let c = year.rem_euclid(100);
    let (d, e) = (b.div_euclid(4), b.rem_euclid(4));
    let f = (b + 8).div_euclid(25);
    let g = (b - f + 1).div_euclid(3);
    let h = (19 * a + b - d - g + 15).rem_euclid(30);
    let (i, k) = (c / 4, c % 4);
    let l = (32 + 2 * e + 2 * i - h - k).rem_euclid(7);
    let m = (a + 11 * h + 22 * l) / 451;
    let n = h + l - 7 * m + 114;
    let month = if n / 31 == 3 {
        Month::March
    } else {
        Month::April
    };
    let day = u8::try_from(n % 31 + 1).expect("a day of the month");
    Date::from_calendar_date(year, month, day).expect("Easter falls between 22 March and 25 April")
}

/// `MM-DD`, a day that every year has.
fn parse_month_day(text: &str) -> Result<(Month, u8), String> {
    let bad = || format!("month_day '{text}' is not a day of the year: expected MM-DD, e.g. 12-07");
    let (month, day) = text.split_once('-').ok_or_else(bad)?;
    let two_digits = |s: &str| s.len() == 2 && s.bytes().all(|b| b.is_ascii_digit());
    if !two_digits(month) || !two_digits(day) {
        return Err(bad());
    }
    let month = month
        .parse::<u8>()
        .ok()
        .and_then(|m| Month::try_from(m).ok())
        .ok_or_else(bad)?;
    let day: u8 = day.parse().map_err(|_| bad())?;
    if (month, day) == (Month::February, 29) {
        return Err(format!(
            "month_day '{text}' is not a day every year has; a patron day must recur yearly"
        ));
    }
    // A leap year, so that the only day refused above is the one missing from other years.
    if day == 0 || day > month.length(2024) {
        return Err(bad());
    }
    Ok((month, day))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use time::macros::{date, datetime};

    use super::*;

    fn comune(id: &str) -> ComuneId {
        id.parse().expect("a well-formed Comune id")
    }

    fn tsv(text: &str) -> String {
        text.replace('|', "\t")
    }

    fn parse(contents: &str) -> Result<Calendar, RegistryError> {
        let contents = tsv(contents);
        Calendar::with_patrons(&RegistryFile {
            name: PATRONS_FILE,
            contents: &contents,
        })
    }

    /// Italy plus Milan's Sant'Ambrogio, written as the table would be.
    fn with_milano() -> Calendar {
        parse("comune_id|month_day|name|source\nmilano|12-07|Sant'Ambrogio|a test").unwrap()
    }

    /// The local wall-clock reading of an instant in Italy.
    fn local(instant: OffsetDateTime) -> PrimitiveDateTime {
        let local = rome_time(instant);
        PrimitiveDateTime::new(local.date(), local.time())
    }

    #[test]
    fn easter_falls_on_the_known_dates() {
        // Checked against python-dateutil's easter() (EASTER_WESTERN).
        for expected in [
            date!(1583 - 04 - 10),
            date!(1818 - 03 - 22),
            date!(1943 - 04 - 25),
            date!(2000 - 04 - 23),
            date!(2008 - 03 - 23),
            date!(2011 - 04 - 24),
            date!(2019 - 04 - 21),
            date!(2024 - 03 - 31),
            date!(2025 - 04 - 20),
            date!(2026 - 04 - 05),
            date!(2027 - 03 - 28),
            date!(2028 - 04 - 16),
            date!(2038 - 04 - 25),
            date!(2099 - 04 - 12),
            date!(2285 - 03 - 22),
            date!(2400 - 04 - 16),
            date!(4099 - 04 - 19),
        ] {
            assert_eq!(easter_sunday(expected.year()), expected);
        }
    }

    #[test]
    fn easter_is_a_sunday_between_22_march_and_25_april_in_every_year() {
        for year in -9999..=9999 {
            let easter = easter_sunday(year);
            assert_eq!(easter.weekday(), Weekday::Sunday, "{easter}");
            let earliest = Date::from_calendar_date(year, Month::March, 22).unwrap();
            let latest = Date::from_calendar_date(year, Month::April, 25).unwrap();
            assert!((earliest..=latest).contains(&easter), "{easter}");
        }
    }

    #[test]
    fn easter_sunday_and_monday_are_holidays_and_good_friday_is_not() {
        let italy = Calendar::italy();
        for (day, name) in [
            (date!(2026 - 04 - 05), Some("Pasqua")),
            (date!(2026 - 04 - 06), Some("Lunedì dell'Angelo")),
            (date!(2025 - 04 - 21), Some("Lunedì dell'Angelo")),
            (date!(2024 - 04 - 01), Some("Lunedì dell'Angelo")),
            (date!(2027 - 03 - 29), Some("Lunedì dell'Angelo")),
            (date!(2026 - 04 - 03), None),
            (date!(2026 - 04 - 07), None),
        ] {
            assert_eq!(italy.holiday_name(day, None), name, "{day}");
            assert_eq!(italy.is_working_day(day, None), name.is_none(), "{day}");
        }
    }

    #[test]
    fn the_holidays_and_working_days_of_2027() {
        let italy = Calendar::italy();
        let holidays: Vec<(Date, &str)> = (0..365)
            .map(|n| date!(2027 - 01 - 01) + Duration::days(n))
            .filter_map(|day| Some((day, italy.holiday_name(day, None)?)))
            .collect();
        assert_eq!(
            holidays,
            [
                (date!(2027 - 01 - 01), "Capodanno"),
                (date!(2027 - 01 - 06), "Epifania"),
                (date!(2027 - 03 - 28), "Pasqua"),
                (date!(2027 - 03 - 29), "Lunedì dell'Angelo"),
                (date!(2027 - 04 - 25), "Festa della Liberazione"),
                (date!(2027 - 05 - 01), "Festa del Lavoro"),
                (date!(2027 - 06 - 02), "Festa della Repubblica"),
                (date!(2027 - 08 - 15), "Ferragosto"),
                (date!(2027 - 10 - 04), "San Francesco d'Assisi"),
                (date!(2027 - 11 - 01), "Ognissanti"),
                (date!(2027 - 12 - 08), "Immacolata Concezione"),
                (date!(2027 - 12 - 25), "Natale"),
                (date!(2027 - 12 - 26), "Santo Stefano"),
            ]
        );
        // 261 weekdays, 7 of them holidays (and Sant'Ambrogio, a Tuesday, for Milan).
        let (from, to) = (date!(2027 - 01 - 01), date!(2028 - 01 - 01));
        assert_eq!(italy.working_days_between(from, to, None), 254);
        let milano = comune("milano");
        assert_eq!(
            with_milano().working_days_between(from, to, Some(&milano)),
            253
        );
    }

    #[test]
    fn four_october_is_a_holiday_from_2026_only() {
        let italy = Calendar::italy();
        assert!(italy.is_working_day(date!(2024 - 10 - 04), None));
        assert_eq!(italy.holiday_name(date!(2025 - 10 - 04), None), None);
        assert_eq!(
            italy.holiday_name(date!(2026 - 10 - 04), None),
            Some("San Francesco d'Assisi")
        );
        assert!(!italy.is_working_day(date!(2027 - 10 - 04), None));
    }

    #[test]
    fn a_holiday_on_a_weekend_is_not_moved() {
        let italy = Calendar::italy();
        assert_eq!(
            italy.holiday_name(date!(2026 - 04 - 25), None),
            Some("Festa della Liberazione")
        );
        assert_eq!(italy.holiday_name(date!(2026 - 04 - 26), None), None);
        assert!(italy.is_working_day(date!(2026 - 04 - 27), None));
        assert_eq!(
            italy.add_working_days(date!(2026 - 04 - 24), 1, None),
            date!(2026 - 04 - 27)
        );
    }

    #[test]
    fn adding_working_days_over_christmas_2026() {
        // Wednesday 23: 24 is a working day; 25 (Natale), 26 (Santo Stefano, a Saturday) and
        // Sunday 27 are not.
        let italy = Calendar::italy();
        let from = date!(2026 - 12 - 23);
        let added: Vec<Date> = (0..4)
            .map(|n| italy.add_working_days(from, n, None))
            .collect();
        assert_eq!(
            added,
            [
                date!(2026 - 12 - 23),
                date!(2026 - 12 - 24),
                date!(2026 - 12 - 28),
                date!(2026 - 12 - 29),
            ]
        );
        assert_eq!(
            italy.working_days_between(from, date!(2026 - 12 - 29), None),
            3
        );
        assert_eq!(
            italy.working_days_between(date!(2026 - 12 - 29), from, None),
            -3
        );
    }

    #[test]
    fn adding_working_days_over_new_year_and_epiphany() {
        // Thursday 31 December 2026; 1 January 2027 is a Friday, 6 January a Wednesday.
        let italy = Calendar::italy();
        let from = date!(2026 - 12 - 31);
        let added: Vec<Date> = (1..4)
            .map(|n| italy.add_working_days(from, n, None))
            .collect();
        assert_eq!(
            added,
            [
                date!(2027 - 01 - 04),
                date!(2027 - 01 - 05),
                date!(2027 - 01 - 07)
            ]
        );
        let deadline = italy.deadline_after(
            datetime!(2026-12-31 10:00 +1),
            Deadline::WorkingDays(1),
            None,
        );
        assert_eq!(deadline, datetime!(2027-01-04 23:00 UTC));
    }

    #[test]
    fn zero_working_days_is_the_first_working_day_on_or_after_the_date() {
        let italy = Calendar::italy();
        let saturday = date!(2026 - 05 - 02);
        assert_eq!(
            italy.add_working_days(saturday, 0, None),
            date!(2026 - 05 - 04)
        );
        assert_eq!(
            italy.add_working_days(saturday, 1, None),
            date!(2026 - 05 - 05)
        );
        let monday = date!(2026 - 05 - 04);
        assert_eq!(italy.add_working_days(monday, 0, None), monday);
        assert_eq!(italy.working_days_between(saturday, monday, None), 0);
    }

    #[test]
    fn a_working_days_deadline_over_easter() {
        // Thursday 2 April 2026: Friday 3 counts, then Easter weekend and Monday 6 do not.
        let deadline = Calendar::italy().deadline_after(
            datetime!(2026-04-02 15:00 +2),
            Deadline::WorkingDays(2),
            None,
        );
        assert_eq!(deadline, datetime!(2026-04-07 22:00 UTC));
        assert_eq!(local(deadline), datetime!(2026-04-08 00:00));
    }

    #[test]
    fn milan_closes_on_sant_ambrogio_and_other_comuni_do_not() {
        let calendar = with_milano();
        let (milano, magenta) = (comune("milano"), comune("magenta"));
        let sant_ambrogio = date!(2026 - 12 - 07);
        assert_eq!(
            calendar.holiday_name(sant_ambrogio, Some(&milano)),
            Some("Sant'Ambrogio")
        );
        assert_eq!(calendar.holiday_name(sant_ambrogio, Some(&magenta)), None);
        assert_eq!(calendar.holiday_name(sant_ambrogio, None), None);

        // Friday 4 December: Monday 7 is Sant'Ambrogio in Milan, Tuesday 8 the Immacolata.
        let start = datetime!(2026-12-04 11:00 +1);
        let one_day = Deadline::WorkingDays(1);
        assert_eq!(
            calendar.deadline_after(start, one_day, Some(&milano)),
            datetime!(2026-12-09 23:00 UTC)
        );
        assert_eq!(
            calendar.deadline_after(start, one_day, Some(&magenta)),
            datetime!(2026-12-07 23:00 UTC)
        );
        assert_eq!(
            calendar.add_working_days(date!(2026 - 12 - 05), 0, Some(&milano)),
            date!(2026 - 12 - 09)
        );
    }

    #[test]
    fn a_patron_day_on_a_national_holiday_takes_the_national_name() {
        let calendar = parse(
            "comune_id|month_day|name|source\nbresso|12-26|Santo Stefano protomartire|a test",
        )
        .unwrap();
        assert_eq!(
            calendar.holiday_name(date!(2025 - 12 - 26), Some(&comune("bresso"))),
            Some("Santo Stefano")
        );
    }

    #[test]
    fn the_shipped_patron_table_parses() {
        let milano = comune("milano");
        let shipped = Calendar::embedded();
        assert_eq!(
            shipped.holiday_name(date!(2027 - 12 - 07), Some(&milano)),
            Some("Sant'Ambrogio")
        );
        assert_eq!(shipped, &with_milano());
    }

    #[test]
    fn calendar_hours_are_elapsed_time_across_the_clock_changes() {
        let italy = Calendar::italy();
        let two_days = Deadline::CalendarHours(48);
        // Summer time begins on Sunday 29 March 2026: 48 hours later the wall clock reads 49 on.
        let start = datetime!(2026-03-28 10:00 +1);
        let deadline = italy.deadline_after(start, two_days, None);
        assert_eq!(deadline - start, Duration::hours(48));
        assert_eq!(deadline, datetime!(2026-03-30 09:00 UTC));
        assert_eq!(local(deadline), datetime!(2026-03-30 11:00));
        assert_eq!(deadline.offset(), UtcOffset::UTC);
        // Winter time is back on Sunday 25 October 2026: the wall clock reads 47 on.
        let start = datetime!(2026-10-24 10:00 +2);
        let deadline = italy.deadline_after(start, two_days, None);
        assert_eq!(deadline - start, Duration::hours(48));
        assert_eq!(local(deadline), datetime!(2026-10-26 09:00));
    }

    #[test]
    fn a_working_days_deadline_ends_at_local_midnight_across_the_clock_changes() {
        let italy = Calendar::italy();
        let one_day = Deadline::WorkingDays(1);
        for (start, utc, local_end) in [
            // Thursday before summer time: ends as Friday ends, still winter time.
            (
                datetime!(2026-03-26 12:00 +1),
                datetime!(2026-03-27 23:00 UTC),
                datetime!(2026-03-28 00:00),
            ),
            // Friday before summer time: ends as Monday ends, now summer time.
            (
                datetime!(2026-03-27 12:00 +1),
                datetime!(2026-03-30 22:00 UTC),
                datetime!(2026-03-31 00:00),
            ),
            // Thursday before winter time: ends as Friday ends, still summer time.
            (
                datetime!(2026-10-22 12:00 +2),
                datetime!(2026-10-23 22:00 UTC),
                datetime!(2026-10-24 00:00),
            ),
            // Friday before winter time: ends as Monday ends, now winter time.
            (
                datetime!(2026-10-23 12:00 +2),
                datetime!(2026-10-26 23:00 UTC),
                datetime!(2026-10-27 00:00),
            ),
        ] {
            let deadline = italy.deadline_after(start, one_day, None);
            assert_eq!(deadline, utc, "from {start}");
            assert_eq!(local(deadline), local_end, "from {start}");
        }
    }

    #[test]
    fn the_start_counts_by_its_day_in_italy_not_in_utc() {
        let italy = Calendar::italy();
        // Thursday 23:30 UTC is already Friday 00:30 in Italy.
        let start = datetime!(2026-03-26 23:30 UTC);
        assert_eq!(
            italy.deadline_after(start, Deadline::WorkingDays(0), None),
            datetime!(2026-03-27 23:00 UTC)
        );
        assert_eq!(
            italy.deadline_after(start, Deadline::WorkingDays(1), None),
            datetime!(2026-03-30 22:00 UTC)
        );
        // From a Saturday, both the same working day and one working day end with Monday.
        let saturday = datetime!(2026-05-02 09:00 +2);
        for n in [0, 1] {
            assert_eq!(
                italy.deadline_after(saturday, Deadline::WorkingDays(n), None),
                datetime!(2026-05-04 22:00 UTC)
            );
        }
    }

    #[test]
    fn before_date_ends_at_the_local_midnight_that_starts_the_date() {
        let italy = Calendar::italy();
        let start = datetime!(2026-01-15 08:00 UTC);
        for (date, utc) in [
            (date!(2026 - 04 - 08), datetime!(2026-04-07 22:00 UTC)),
            (date!(2026 - 01 - 20), datetime!(2026-01-19 23:00 UTC)),
            // The days the clocks change, and the days after.
            (date!(2026 - 03 - 29), datetime!(2026-03-28 23:00 UTC)),
            (date!(2026 - 03 - 30), datetime!(2026-03-29 22:00 UTC)),
            (date!(2026 - 10 - 25), datetime!(2026-10-24 22:00 UTC)),
            (date!(2026 - 10 - 26), datetime!(2026-10-25 23:00 UTC)),
        ] {
            let deadline = italy.deadline_after(start, Deadline::BeforeDate(date), None);
            assert_eq!(deadline, utc, "before {date}");
            assert_eq!(
                local(deadline),
                PrimitiveDateTime::new(date, Time::MIDNIGHT)
            );
        }
    }

    #[test]
    fn the_offset_changes_at_01_utc_on_the_last_sundays_of_march_and_october() {
        // The changes in Europe/Rome, as Python's zoneinfo (IANA tzdata) lists them.
        let changes = [
            (2024, 31, 27),
            (2025, 30, 26),
            (2026, 29, 25),
            (2027, 28, 31),
            (2028, 26, 29),
            (2029, 25, 28),
            (2030, 31, 27),
            (2031, 30, 26),
            (2032, 28, 31),
            (2033, 27, 30),
            (2034, 26, 29),
            (2035, 25, 28),
            (2036, 30, 26),
            (2037, 29, 25),
            (2038, 28, 31),
            (2039, 27, 30),
            (2040, 25, 28),
        ];
        let one = Duration::nanoseconds(1);
        for (year, march, october) in changes {
            let at = |month, day| {
                Date::from_calendar_date(year, month, day)
                    .unwrap()
                    .with_time(time!(01:00))
                    .assume_utc()
            };
            let (summer, winter) = (at(Month::March, march), at(Month::October, october));
            assert_eq!(rome_offset(summer - one), CET, "{summer}");
            assert_eq!(rome_offset(summer), CEST, "{summer}");
            assert_eq!(rome_offset(winter - one), CEST, "{winter}");
            assert_eq!(rome_offset(winter), CET, "{winter}");
        }
        // The instant matters, not the offset it is written in.
        assert_eq!(rome_offset(datetime!(2026-03-29 06:59 +6)), CET);
        assert_eq!(rome_offset(datetime!(2026-03-29 07:00 +6)), CEST);
    }

    /// Each case: the table, the line and the words the error must carry.
    #[test]
    fn malformed_patron_tables_are_refused_with_file_line_and_reason() {
        let header = "# patron days\ncomune_id|month_day|name|source";
        let with = |rows: &str| format!("{header}\n{rows}");
        let cases = [
            (
                with("milano|12-32|Sant'Ambrogio|x"),
                3,
                "month_day '12-32' is not a day of the year: expected MM-DD, e.g. 12-07",
            ),
            (
                with("milano|7-12|Sant'Ambrogio|x"),
                3,
                "month_day '7-12' is not a day of the year",
            ),
            (
                with("milano|2026-12-07|Sant'Ambrogio|x"),
                3,
                "month_day '2026-12-07' is not a day of the year",
            ),
            (
                with("milano|02-29|San Romano|x"),
                3,
                "month_day '02-29' is not a day every year has",
            ),
            (
                with("milano|12-07|Sant'Ambrogio"),
                3,
                "expected 4 tab-separated columns (comune_id, month_day, name, source) but found 3",
            ),
            (
                with("milano|12-07|Sant'Ambrogio|x|y"),
                3,
                "expected 4 tab-separated columns",
            ),
            (
                with("milano|12-07|Sant'Ambrogio|x\n\nmilano|12-08|Sant'Ambrogio|x"),
                5,
                "Comune milano already has a patron day, on line 3",
            ),
            (
                with("milano|12-07|Sant'Ambrogio|"),
                3,
                "source is empty; every row needs one",
            ),
            (
                with("Milano|12-07|Sant'Ambrogio|x"),
                3,
                "comune_id: Comune id 'Milano' is not valid",
            ),
            (
                "# only a comment".to_owned(),
                1,
                "no header line: expected the columns comune_id, month_day, name, source",
            ),
            (
                "comune_id|month_day|name|istat|source".to_owned(),
                1,
                "unknown column 'istat'",
            ),
            (
                "comune_id|month_day|name".to_owned(),
                1,
                "missing column 'source'",
            ),
            (
                "comune_id|month_day|name|name|source".to_owned(),
                1,
                "column 'name' appears twice",
            ),
        ];
        for (contents, line, reason) in cases {
            let err = parse(&contents).expect_err(&contents);
            assert_eq!(err.file, PATRONS_FILE, "{err}");
            assert_eq!(err.line, line, "{err}");
            assert!(err.reason.contains(reason), "expected '{reason}' in: {err}");
        }
        let err = parse(&with("milano|12-32|Sant'Ambrogio|x")).unwrap_err();
        assert!(err.to_string().starts_with("patroni.tsv:3: "), "{err}");
    }

    #[test]
    fn a_patron_table_parses_with_columns_in_any_order() {
        let calendar = parse(
            "source|name|comune_id|month_day\n\
             a test|Sant'Ambrogio|milano|12-07\n\
             a test|San Romano|cormano|02-28",
        )
        .unwrap();
        let cormano = comune("cormano");
        assert_eq!(
            calendar.holiday_name(date!(2027 - 02 - 28), Some(&cormano)),
            Some("San Romano")
        );
        assert_eq!(
            calendar.holiday_name(date!(2027 - 12 - 07), Some(&comune("milano"))),
            Some("Sant'Ambrogio")
        );
        assert_eq!(
            parse("comune_id|month_day|name|source").unwrap(),
            Calendar::italy()
        );
    }

    fn any_date() -> impl Strategy<Value = Date> {
        let from = date!(1990 - 01 - 01).to_julian_day();
        let to = date!(2100 - 12 - 31).to_julian_day();
        (from..=to).prop_map(|day| Date::from_julian_day(day).unwrap())
    }

    fn any_instant() -> impl Strategy<Value = OffsetDateTime> {
        (any_date(), 0..86_400i64, -12..=14i8).prop_map(|(date, seconds, hours)| {
            let offset = UtcOffset::from_hms(hours, 0, 0).unwrap();
            (date.midnight().assume_utc() + Duration::seconds(seconds)).to_offset(offset)
        })
    }

    /// Without a Comune, or for Milan with its patron day.
    fn any_comune() -> impl Strategy<Value = Option<ComuneId>> {
        proptest::option::of(Just(comune("milano")))
    }

    proptest! {
        #[test]
        fn adding_working_days_lands_on_a_working_day_and_counts_back(
            date in any_date(), n in 0..400u32, comune in any_comune(),
        ) {
            let calendar = with_milano();
            let comune = comune.as_ref();
            let added = calendar.add_working_days(date, n, comune);
            prop_assert!(calendar.is_working_day(added, comune));
            prop_assert!(added >= date);
            prop_assert_eq!(calendar.working_days_between(date, added, comune), i64::from(n));
            prop_assert!(calendar.add_working_days(date, n + 1, comune) > added);
        }

        #[test]
        fn counting_working_days_is_additive_and_antisymmetric(
            a in any_date(), to_b in -600..600i64, to_c in -600..600i64, comune in any_comune(),
        ) {
            let calendar = with_milano();
            let comune = comune.as_ref();
            let (b, c) = (a + Duration::days(to_b), a + Duration::days(to_c));
            let between = |x, y| calendar.working_days_between(x, y, comune);
            prop_assert_eq!(between(a, b) + between(b, c), between(a, c));
            prop_assert_eq!(between(a, b), -between(b, a));
            if b >= a && calendar.is_working_day(b, comune) {
                let n = u32::try_from(between(a, b)).unwrap();
                prop_assert_eq!(calendar.add_working_days(a, n, comune), b);
            }
        }

        #[test]
        fn a_working_days_deadline_ends_the_nth_working_day_after_the_start(
            start in any_instant(), n in 0..60u32, comune in any_comune(),
        ) {
            let calendar = with_milano();
            let comune = comune.as_ref();
            let deadline = calendar.deadline_after(start, Deadline::WorkingDays(n), comune);
            prop_assert!(deadline > start);
            let end = local(deadline);
            prop_assert_eq!(end.time(), Time::MIDNIGHT);
            let last_day = end.date().previous_day().unwrap();
            prop_assert!(calendar.is_working_day(last_day, comune));
            let start_day = local(start).date();
            let counted_from = if n == 0 { start_day } else { start_day.next_day().unwrap() };
            prop_assert_eq!(
                calendar.working_days_between(counted_from, last_day, comune),
                i64::from(n.saturating_sub(1))
            );
            // One more day ends later, except that from a day off the same working day and the
            // next working day are both the first working day.
            let later = calendar.deadline_after(start, Deadline::WorkingDays(n + 1), comune);
            if n == 0 && !calendar.is_working_day(start_day, comune) {
                prop_assert_eq!(later, deadline);
            } else {
                prop_assert!(later > deadline);
            }
        }

        #[test]
        fn a_calendar_hours_deadline_is_exact_elapsed_time(
            start in any_instant(), hours in 0..2_000u32,
        ) {
            let deadline = Calendar::italy().deadline_after(start, Deadline::CalendarHours(hours), None);
            prop_assert_eq!(deadline - start, Duration::hours(i64::from(hours)));
            prop_assert_eq!(deadline.offset(), UtcOffset::UTC);
        }

        #[test]
        fn local_midnight_starts_the_local_day(date in any_date()) {
            let midnight = rome_midnight(date);
            prop_assert_eq!(local(midnight), date.midnight());
            let just_before = local(midnight - Duration::nanoseconds(1));
            prop_assert_eq!(just_before.date(), date.previous_day().unwrap());
            prop_assert_eq!(just_before.time(), time!(23:59:59.999_999_999));
        }
    }
}
