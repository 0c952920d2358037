//! `Timestamp` (milliseconds since the Unix epoch, UTC) and billing-calendar arithmetic.
//!
//! Machines never read a clock: time enters as a field of an event, so replaying the same
//! events gives the same result.

use serde::{Deserialize, Serialize};
use time::{Date, Month, OffsetDateTime};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Timestamp(i64);

const DAY_MS: i64 = 86_400_000;

impl Timestamp {
    pub const fn from_millis(ms: i64) -> Timestamp {
        Timestamp(ms)
    }

    pub fn millis(self) -> i64 {
        self.0
    }

    pub fn plus_seconds(self, secs: u64) -> Timestamp {
        Timestamp(self.0.saturating_add((secs as i64).saturating_mul(1000)))
    }

    /// RFC 3339 in UTC with millisecond precision, as the API shows timestamps.
    pub fn to_rfc3339(self) -> String {
        let dt = self.datetime();
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
            dt.year(),
            dt.month() as u8,
            dt.day(),
            dt.hour(),
            dt.minute(),
            dt.second(),
            dt.millisecond()
        )
    }

    fn datetime(self) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp_nanos(self.0 as i128 * 1_000_000)
            .unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }

    /// `self` moved forward by `months` calendar months, keeping the anchor's day of month
    /// and clamping it to the target month's last day (Jan 31 + 1 month = Feb 28/29, + 2 =
    /// Mar 31). The time of day is kept.
    pub fn plus_months(self, months: u32) -> Timestamp {
        let dt = self.datetime();
        let index = dt.year() as i64 * 12 + (dt.month() as i64 - 1) + months as i64;
        let (year, month0) = (index.div_euclid(12) as i32, index.rem_euclid(12) as u8);
        let month = Month::try_from(month0 + 1).expect("month index is 0..12");
        let day = dt.day().min(month.length(year));
        let date = Date::from_calendar_date(year, month, day).expect("clamped day is valid");
        let day_start = date.midnight().assume_utc().unix_timestamp() * 1000;
        let time_of_day = self.0.rem_euclid(DAY_MS);
        Timestamp(day_start + time_of_day)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(y: i32, m: u8, d: u8) -> Timestamp {
        let date = Date::from_calendar_date(y, Month::try_from(m).unwrap(), d).unwrap();
        Timestamp(date.midnight().assume_utc().unix_timestamp() * 1000 + 3_600_000)
    }

    #[test]
    fn monthly_keeps_the_day_and_clamps_to_the_month_end() {
        let jan31 = ts(2025, 1, 31);
        assert_eq!(jan31.plus_months(1), ts(2025, 2, 28));
        assert_eq!(jan31.plus_months(2), ts(2025, 3, 31));
        assert_eq!(ts(2024, 1, 31).plus_months(1), ts(2024, 2, 29));
        assert_eq!(ts(2025, 11, 15).plus_months(3), ts(2026, 2, 15));
        assert_eq!(ts(2025, 8, 31).plus_months(3), ts(2025, 11, 30));
    }

    #[test]
    fn rfc3339_is_utc_with_milliseconds() {
        assert_eq!(Timestamp(0).to_rfc3339(), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            Timestamp(1_700_000_000_123).to_rfc3339(),
            "2023-11-14T22:13:20.123Z"
        );
    }
}
