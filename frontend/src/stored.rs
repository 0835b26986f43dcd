//! The app's state in the browser's localStorage, which lets a reload keep the fan's session,
//! queue place, admission and hold. This module defines the keys and the stored shapes, and the
//! clock arithmetic that turns a server expiry into a deadline on the browser's clock.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use onsale_shared::EventId;
use onsale_shared::api::HoldResponse;

/// Key of the fan session (`FanSession` as JSON).
pub const FAN_KEY: &str = "onsale.fan";

/// Key of the admission to an event's sale.
pub fn admission_key(event: EventId) -> String {
    format!("onsale.admission.{event}")
}

/// Key of the fan's live hold at an event.
pub fn hold_key(event: EventId) -> String {
    format!("onsale.hold.{event}")
}

/// Key of the first queue position the fan saw at an event, where the progress bar starts.
pub fn queue_start_key(event: EventId) -> String {
    format!("onsale.queue-start.{event}")
}

/// An admission token with its expiry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredAdmission {
    pub token: String,
    pub expires_at: DateTime<Utc>,
    /// The expiry on the browser's clock, in milliseconds since the Unix epoch.
    pub deadline_ms: f64,
}

/// A live hold with its deadline on the browser's clock.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredHold {
    pub hold: HoldResponse,
    pub deadline_ms: f64,
    /// A description of each held seat, in the order of `hold.seats`, so that checkout needs
    /// no seat map.
    #[serde(default)]
    pub seat_labels: Vec<String>,
    /// The event's name and date, for the checkout heading.
    #[serde(default)]
    pub event_title: String,
}

/// Converts a server expiry into the browser's clock. A browser clock that is off by minutes
/// would otherwise show a wrong countdown; the server's `Date` header measures the offset, to
/// the second. Without a `Date` header the server time is taken as it is.
pub fn client_deadline_ms(expires_at_ms: i64, server_now_ms: Option<i64>, client_now_ms: f64) -> f64 {
    match server_now_ms {
        Some(server_now) => client_now_ms + (expires_at_ms - server_now) as f64,
        None => expires_at_ms as f64,
    }
}

/// Parses an HTTP `Date` header (`Fri, 04 Dec 2026 23:15:28 GMT`) into milliseconds since the
/// Unix epoch.
pub fn parse_http_date(value: &str) -> Option<i64> {
    DateTime::parse_from_rfc2822(value.trim()).ok().map(|date| date.timestamp_millis())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadline_follows_the_browser_clock() {
        // The hold ends 600 s after the server's time, and the browser clock runs 90 s behind.
        let server_now = 1_000_000;
        let client_now = 910_000.0;
        assert_eq!(client_deadline_ms(server_now + 600_000, Some(server_now), client_now), 1_510_000.0);
        assert_eq!(client_deadline_ms(1_600_000, None, client_now), 1_600_000.0);
    }

    #[test]
    fn http_dates_parse() {
        assert_eq!(parse_http_date("Thu, 01 Jan 1970 00:00:01 GMT"), Some(1_000));
        assert_eq!(parse_http_date("yesterday"), None);
    }

    #[test]
    fn keys_name_the_event() {
        let event = EventId::new(26).unwrap();
        assert_eq!(admission_key(event), "onsale.admission.26");
        assert_eq!(hold_key(event), "onsale.hold.26");
    }
}
