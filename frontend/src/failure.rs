//! A failed API request as the app handles it: the server's error body read into a stable code,
//! a network failure, or a response the app cannot read. Every case has a fan-facing message.

use onsale_shared::{ErrorBody, ErrorCode};

use crate::messages::{self, NextStep};

#[derive(Debug, Clone, PartialEq)]
pub enum Failure {
    /// The server responded with an error body.
    Api {
        status: u16,
        code: ErrorCode,
        /// The server's message, which for some codes names the field at fault.
        server_message: String,
        details: serde_json::Value,
        /// Seconds from the `Retry-After` header.
        retry_after: Option<u32>,
    },
    /// The server responded with an error status but no readable error body, such as a proxy's
    /// error page, or with a success body the app could not parse.
    Unreadable { status: u16 },
    /// The request never got an answer: offline, DNS, connection refused or reset.
    Network,
}

impl Failure {
    /// Reads an error response. `retry_after` is the raw `Retry-After` header, if any.
    pub fn from_response(status: u16, body: &str, retry_after: Option<&str>) -> Failure {
        let retry_after = retry_after.and_then(|value| value.trim().parse::<u32>().ok());
        match serde_json::from_str::<ErrorBody>(body) {
            Ok(body) => Failure::Api {
                status,
                code: body.error.code,
                server_message: body.error.message,
                details: body.error.details,
                retry_after,
            },
            Err(_) => Failure::Unreadable { status },
        }
    }

    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            Failure::Api { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// Returns the message to show: the app's own wording for the code. For a rejected form field
    /// the server's message is added, since it names the field and the expected value.
    pub fn fan_message(&self) -> String {
        match self {
            Failure::Api {
                code: code @ (ErrorCode::InvalidRequest | ErrorCode::TooManySeats), server_message, ..
            } => {
                format!("{} {}", messages::fan_message(*code), server_message.trim())
            }
            Failure::Api { code, .. } => messages::fan_message(*code).to_owned(),
            Failure::Unreadable { status } if *status >= 500 => {
                messages::fan_message(ErrorCode::ServiceUnavailable).to_owned()
            }
            Failure::Unreadable { .. } => messages::UNREADABLE_MESSAGE.to_owned(),
            Failure::Network => messages::NETWORK_MESSAGE.to_owned(),
        }
    }

    pub fn next_step(&self) -> NextStep {
        match self {
            Failure::Api { code, .. } => messages::next_step(*code),
            Failure::Unreadable { .. } | Failure::Network => NextStep::Retry,
        }
    }

    /// Returns the seats the server named as taken (`seat_unavailable`, `hold_expired`, `seat_sold`).
    pub fn taken_seats(&self) -> Vec<u32> {
        let Failure::Api { details, .. } = self else {
            return Vec::new();
        };
        let seats = details.get("seats").or_else(|| details.get("sold")).and_then(|seats| seats.as_array());
        seats
            .map(|seats| seats.iter().filter_map(|seat| seat.as_u64()).map(|seat| seat as u32).collect())
            .unwrap_or_default()
    }

    /// Returns how long to wait before a retry, in seconds: the server's `Retry-After`, else 2.
    pub fn retry_after_secs(&self) -> u32 {
        match self {
            Failure::Api { retry_after: Some(secs), .. } => (*secs).clamp(1, 60),
            _ => 2,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_body_is_read_into_its_code() {
        let body = r#"{"error":{"code":"seat_unavailable","message":"A seat you picked was just taken. Pick another.","details":{"seats":[4,9]}}}"#;
        let failure = Failure::from_response(409, body, None);
        assert_eq!(failure.code(), Some(ErrorCode::SeatUnavailable));
        assert_eq!(failure.taken_seats(), vec![4, 9]);
        assert_eq!(failure.next_step(), NextStep::PickOtherSeats);
        assert_eq!(failure.fan_message(), messages::fan_message(ErrorCode::SeatUnavailable));
    }

    #[test]
    fn field_errors_keep_the_server_detail() {
        let body = r#"{"error":{"code":"invalid_request","message":"Invalid email: expected an address such as fan@example.com"}}"#;
        let message = Failure::from_response(400, body, None).fan_message();
        assert!(message.contains("Invalid email"), "{message}");
    }

    #[test]
    fn unreadable_answers_get_a_plain_message() {
        let failure = Failure::from_response(502, "<html>Bad gateway</html>", None);
        assert_eq!(failure, Failure::Unreadable { status: 502 });
        assert!(!failure.fan_message().contains("html"));
        assert_eq!(failure.next_step(), NextStep::Retry);
        assert_eq!(Failure::Network.fan_message(), messages::NETWORK_MESSAGE);
    }

    #[test]
    fn retry_after_is_read_and_bounded() {
        let body = r#"{"error":{"code":"service_unavailable","message":"busy"}}"#;
        assert_eq!(Failure::from_response(503, body, Some("3")).retry_after_secs(), 3);
        assert_eq!(Failure::from_response(503, body, Some("9999")).retry_after_secs(), 60);
        assert_eq!(Failure::from_response(503, body, Some("soon")).retry_after_secs(), 2);
    }
}
