//! Calendar periods of the billing documents (clauses 3.8 and 5): a month `YYYY-MM` for
//! statements and a range of days `YYYY-MM-DD` for reconciliation, both in China Standard
//! Time like every date of the agreement, as half-open epoch-millisecond ranges.

use std::fmt;

use time::{Date, Month};

use crate::agreement::{EARLIEST_EFFECTIVE_YEAR, LATEST_EFFECTIVE_YEAR, cst_date, date_format, date_start_ms};

pub use crate::agreement::CST_OFFSET_MS;

/// Milliseconds in a day.
pub const DAY_MS: i64 = 86_400_000;

/// A calendar month in CST, within the years an agreement may run in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CalendarMonth {
    year: i32,
    month: u8,
}

impl CalendarMonth {
    /// `2026-06`: four digits, a dash, two digits; the years 2000-2100.
    pub fn parse(text: &str) -> Option<CalendarMonth> {
        let (year, month) = text.split_once('-')?;
        let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
        if !digits(year, 4) || !digits(month, 2) {
            return None;
        }
        let (year, month) = (year.parse::<i32>().ok()?, month.parse::<u8>().ok()?);
        let known = (EARLIEST_EFFECTIVE_YEAR..=LATEST_EFFECTIVE_YEAR).contains(&year) && (1..=12).contains(&month);
        known.then_some(CalendarMonth { year, month })
    }

    /// The month holding the instant `ms`.
    pub fn containing(ms: i64) -> CalendarMonth {
        let date = cst_date(ms);
        CalendarMonth { year: date.year(), month: u8::from(date.month()) }
    }

    /// The month's first day.
    pub fn first_day(self) -> Date {
        let month = Month::try_from(self.month).unwrap_or(Month::January);
        Date::from_calendar_date(self.year, month, 1).unwrap_or(Date::MIN)
    }

    /// The month's last day.
    pub fn last_day(self) -> Date {
        self.next().first_day().previous_day().unwrap_or(Date::MIN)
    }

    pub fn next(self) -> CalendarMonth {
        if self.month == 12 {
            CalendarMonth { year: self.year + 1, month: 1 }
        } else {
            CalendarMonth { year: self.year, month: self.month + 1 }
        }
    }

    /// 00:00 CST on the first day, epoch ms (inclusive).
    pub fn start_ms(self) -> i64 {
        date_start_ms(self.first_day())
    }

    /// 00:00 CST on the first day of the next month, epoch ms (exclusive).
    pub fn end_ms(self) -> i64 {
        date_start_ms(self.next().first_day())
    }
}

impl fmt::Display for CalendarMonth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

/// `2026-06-01`, in the years 2000-2100.
pub fn parse_day(text: &str) -> Option<Date> {
    date_format::parse(text).filter(|d| (EARLIEST_EFFECTIVE_YEAR..=LATEST_EFFECTIVE_YEAR).contains(&d.year()))
}

/// 00:00 CST on `date`, epoch ms.
pub fn day_start_ms(date: Date) -> i64 {
    date_start_ms(date)
}

/// `YYYY-MM-DD`.
pub fn format_day(date: Date) -> String {
    date_format::format(date)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::parse_rfc3339;

    #[test]
    fn a_month_runs_from_midnight_cst_on_its_first_day_to_the_next_months() {
        let june = CalendarMonth::parse("2026-06").expect("parses");
        assert_eq!(june.to_string(), "2026-06");
        assert_eq!(Some(june.start_ms()), parse_rfc3339("2026-06-01T00:00:00+08:00"));
        assert_eq!(Some(june.end_ms()), parse_rfc3339("2026-07-01T00:00:00+08:00"));
        assert_eq!(format_day(june.last_day()), "2026-06-30");
        let december = CalendarMonth::parse("2025-12").expect("parses");
        assert_eq!(december.next().to_string(), "2026-01");
        assert_eq!(format_day(CalendarMonth::parse("2028-02").expect("leap").last_day()), "2028-02-29");
    }

    #[test]
    fn the_month_of_an_instant_is_its_cst_month() {
        let just_before = parse_rfc3339("2026-06-30T15:59:59.999Z").expect("time");
        assert_eq!(CalendarMonth::containing(just_before).to_string(), "2026-06");
        assert_eq!(CalendarMonth::containing(just_before + 1).to_string(), "2026-07", "16:00 UTC is midnight CST");
    }

    #[test]
    fn only_four_digit_years_and_two_digit_months_parse() {
        for bad in ["2026-6", "26-06", "2026-13", "2026-00", "2026/06", "1999-12", "2101-01", "2026-06-01", "", "-"] {
            assert_eq!(CalendarMonth::parse(bad), None, "{bad:?}");
        }
        assert_eq!(parse_day("2026-06-01").map(format_day).as_deref(), Some("2026-06-01"));
        assert_eq!(parse_day("1999-12-31"), None);
        assert_eq!(parse_day("2026-02-30"), None);
    }
}
