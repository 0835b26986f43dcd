//! Formatting of prices, counts, waiting times, countdowns and dates for the fan's screens.

use chrono::{Datelike, NaiveDate};

/// Formats an amount in minor units: `$249.00`, `€12.50`, or `12.50 CHF` for a currency
/// without a symbol here. Every currency the origin uses has two decimal places.
pub fn format_price(cents: i64, currency: &str) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let cents = cents.unsigned_abs();
    let amount = format!("{}.{:02}", format_count(cents / 100), cents % 100);
    match currency.to_ascii_uppercase().as_str() {
        "USD" => format!("{sign}${amount}"),
        "EUR" => format!("{sign}€{amount}"),
        "GBP" => format!("{sign}£{amount}"),
        other => format!("{sign}{amount} {other}"),
    }
}

/// Formats a count with thousands separators: `72,511`.
pub fn format_count(value: u64) -> String {
    let digits = value.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// Describes an estimated wait in words, rounded up so that a fan never reads "now" too early.
pub fn format_eta(eta_seconds: Option<u64>) -> String {
    match eta_seconds {
        None => "Estimating your wait…".to_owned(),
        Some(0..=10) => "Less than 10 seconds".to_owned(),
        Some(secs @ 11..=59) => format!("About {} seconds", secs.div_ceil(10) * 10),
        Some(secs @ 60..=3599) => {
            let minutes = secs.div_ceil(60);
            if minutes == 1 { "About 1 minute".to_owned() } else { format!("About {minutes} minutes") }
        }
        Some(secs) => {
            let hours = secs / 3600;
            let minutes = (secs % 3600).div_ceil(60);
            let hour_word = if hours == 1 { "hour" } else { "hours" };
            if minutes == 0 {
                format!("About {hours} {hour_word}")
            } else {
                format!("About {hours} {hour_word} {minutes} min")
            }
        }
    }
}

/// Formats the time left on a countdown as `m:ss`, or `h:mm:ss` past an hour. Negative values
/// show as `0:00`. Seconds round up, so the display reaches `0:00` only when the time is up.
pub fn format_countdown(remaining_ms: i64) -> String {
    let total = if remaining_ms <= 0 { 0 } else { (remaining_ms as u64).div_ceil(1000) };
    let (hours, minutes, seconds) = (total / 3600, (total % 3600) / 60, total % 60);
    if hours > 0 { format!("{hours}:{minutes:02}:{seconds:02}") } else { format!("{minutes}:{seconds:02}") }
}

/// Formats an event date as printed on tickets: `Friday, May 26, 2023`.
pub fn format_event_date(date: NaiveDate) -> String {
    const MONTHS: [&str; 12] = [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ];
    const WEEKDAYS: [&str; 7] = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"];
    let weekday = WEEKDAYS[date.weekday().num_days_from_monday() as usize];
    let month = MONTHS[date.month0() as usize];
    format!("{weekday}, {month} {}, {}", date.day(), date.year())
}

/// Returns the share of the queue already behind a fan, from 0 to 1, for the waiting-room
/// progress bar. `first_position` is the position the fan had when first seen in the queue. A
/// position that grew since, as when the prequeue is shuffled at the open, restarts the bar.
pub fn queue_progress(first_position: u64, position: u64) -> f64 {
    if first_position <= 1 || position >= first_position {
        return if position <= 1 { 1.0 } else { 0.0 };
    }
    let done = (first_position - position) as f64 / (first_position - 1) as f64;
    done.clamp(0.0, 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prices_have_symbols_and_separators() {
        assert_eq!(format_price(24_900, "USD"), "$249.00");
        assert_eq!(format_price(5, "usd"), "$0.05");
        assert_eq!(format_price(123_456_789, "USD"), "$1,234,567.89");
        assert_eq!(format_price(1_250, "EUR"), "€12.50");
        assert_eq!(format_price(1_250, "CHF"), "12.50 CHF");
        assert_eq!(format_price(-500, "USD"), "-$5.00");
    }

    #[test]
    fn counts_have_separators() {
        assert_eq!(format_count(0), "0");
        assert_eq!(format_count(999), "999");
        assert_eq!(format_count(1_000), "1,000");
        assert_eq!(format_count(72_511), "72,511");
        assert_eq!(format_count(5_000_000), "5,000,000");
    }

    #[test]
    fn eta_rounds_up_into_words() {
        assert_eq!(format_eta(None), "Estimating your wait…");
        assert_eq!(format_eta(Some(3)), "Less than 10 seconds");
        assert_eq!(format_eta(Some(11)), "About 20 seconds");
        assert_eq!(format_eta(Some(60)), "About 1 minute");
        assert_eq!(format_eta(Some(61)), "About 2 minutes");
        assert_eq!(format_eta(Some(3600)), "About 1 hour");
        assert_eq!(format_eta(Some(7_500)), "About 2 hours 5 min");
    }

    #[test]
    fn countdown_rounds_seconds_up() {
        assert_eq!(format_countdown(600_000), "10:00");
        assert_eq!(format_countdown(599_001), "10:00");
        assert_eq!(format_countdown(59_000), "0:59");
        assert_eq!(format_countdown(1), "0:01");
        assert_eq!(format_countdown(0), "0:00");
        assert_eq!(format_countdown(-5_000), "0:00");
        assert_eq!(format_countdown(3_661_000), "1:01:01");
    }

    #[test]
    fn event_date_reads_like_a_ticket() {
        let date = NaiveDate::from_ymd_opt(2023, 5, 26).unwrap();
        assert_eq!(format_event_date(date), "Friday, May 26, 2023");
    }

    #[test]
    fn progress_runs_from_zero_to_one() {
        assert_eq!(queue_progress(101, 101), 0.0);
        assert_eq!(queue_progress(101, 51), 0.5);
        assert_eq!(queue_progress(101, 1), 1.0);
        assert_eq!(queue_progress(1, 1), 1.0);
        assert_eq!(queue_progress(10, 20), 0.0);
    }
}
