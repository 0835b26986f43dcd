//! Stable error codes. The edge, the origin and the frontend all speak this table: a code never
//! changes meaning once released, and a client may match on it.

use serde::{Deserialize, Serialize};

macro_rules! error_codes {
    ($( $(#[$doc:meta])* $variant:ident = ($code:literal, $status:literal, $message:literal), )*) => {
        /// Every error a client can receive, with its HTTP status and a default message.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum ErrorCode {
            $( $(#[$doc])* $variant, )*
        }

        impl ErrorCode {
            /// All codes, in table order.
            pub const ALL: &'static [ErrorCode] = &[ $( ErrorCode::$variant, )* ];

            /// The snake_case code sent on the wire.
            pub fn as_str(self) -> &'static str {
                match self { $( ErrorCode::$variant => $code, )* }
            }

            /// The HTTP status that carries this code.
            pub fn http_status(self) -> u16 {
                match self { $( ErrorCode::$variant => $status, )* }
            }

            /// A message for people, used when the server has nothing more specific to say.
            pub fn default_message(self) -> &'static str {
                match self { $( ErrorCode::$variant => $message, )* }
            }

            /// Looks a code up by its wire form.
            pub fn from_code(code: &str) -> Option<ErrorCode> {
                match code { $( $code => Some(ErrorCode::$variant), )* _ => None }
            }
        }
    };
}

error_codes! {
    /// The request body or query is not valid; `details` names the field.
    InvalidRequest = ("invalid_request", 400, "The request is not valid."),
    /// A hold asks for more seats than one order may have.
    TooManySeats = ("too_many_seats", 400, "Too many seats for one order."),
    /// A seat index is outside the event's seat list, or listed twice.
    InvalidSeat = ("invalid_seat", 400, "A requested seat does not exist at this event."),
    /// The fan session header or cookie is missing.
    FanSessionMissing = ("fan_session_missing", 401, "Sign in to continue."),
    /// The fan session does not verify.
    FanSessionInvalid = ("fan_session_invalid", 401, "Your session is not valid. Sign in again."),
    /// The payment provider declined the card.
    PaymentDeclined = ("payment_declined", 402, "The payment was declined. Try another card."),
    /// A seat route was called without an admission token.
    AdmissionTokenMissing = ("admission_token_missing", 403, "Join the queue to get an admission token."),
    /// The admission token is not a well-formed JWT.
    AdmissionTokenMalformed = ("admission_token_malformed", 403, "The admission token is not valid."),
    /// The token names another signing algorithm than the one this deployment uses.
    AdmissionTokenAlgorithm = ("admission_token_algorithm", 403, "The admission token is not valid."),
    /// The token's signature does not verify with the configured key.
    AdmissionTokenSignature = ("admission_token_signature", 403, "The admission token is not valid."),
    /// The token expired, beyond the allowed clock leeway.
    AdmissionTokenExpired = ("admission_token_expired", 403, "Your admission has expired. Join the queue again."),
    /// The token was issued for another event than the one in the route.
    AdmissionTokenWrongEvent = ("admission_token_wrong_event", 403, "This admission is for another event."),
    /// The token was issued to another fan than the caller.
    AdmissionTokenWrongFan = ("admission_token_wrong_fan", 403, "This admission belongs to another fan."),
    /// The token's nonce is already bound to another hold or was spent on an order.
    AdmissionTokenUsed = ("admission_token_used", 403, "This admission has already been used."),
    /// No event with this id.
    EventNotFound = ("event_not_found", 404, "This event does not exist."),
    /// No hold with this id for this fan and event.
    HoldNotFound = ("hold_not_found", 404, "This hold does not exist."),
    /// No order with this id for this fan.
    OrderNotFound = ("order_not_found", 404, "This order does not exist."),
    /// No route matches the request.
    NotFound = ("not_found", 404, "Not found."),
    /// The route exists but not with this method.
    MethodNotAllowed = ("method_not_allowed", 405, "This method is not allowed here."),
    /// At least one requested seat is held or sold.
    SeatUnavailable = ("seat_unavailable", 409, "A seat you picked was just taken. Pick another."),
    /// The order database already has a sale for one of the seats.
    SeatSold = ("seat_sold", 409, "A seat in this order has already been sold."),
    /// The hold expired before it was confirmed and a seat went to someone else. Any charge is refunded.
    HoldExpired = ("hold_expired", 409, "Your hold expired and a seat was taken. Any payment has been refunded."),
    /// The event's queue has not opened yet.
    QueueNotOpen = ("queue_not_open", 409, "The queue for this event is not open yet."),
    /// The queue is paused: places are kept but nobody is admitted.
    QueuePaused = ("queue_paused", 409, "The queue is paused. You keep your place."),
    /// The event sold out and the queue is closed.
    SoldOut = ("sold_out", 410, "This event is sold out."),
    /// The fan has not been admitted, or the admission expired.
    NotAdmitted = ("not_admitted", 409, "You have not been admitted yet."),
    /// The request body is larger than allowed.
    PayloadTooLarge = ("payload_too_large", 413, "The request is too large."),
    /// The request body is not JSON.
    UnsupportedMediaType = ("unsupported_media_type", 415, "Send the request body as JSON."),
    /// The caller sent too many requests.
    RateLimited = ("rate_limited", 429, "Too many requests. Try again shortly."),
    /// An unexpected server error. The cause is logged, never sent.
    InternalError = ("internal_error", 500, "Something went wrong on our side."),
    /// A dependency is down or saturated; `Retry-After` says when to try again.
    ServiceUnavailable = ("service_unavailable", 503, "The service is busy. Try again in a moment."),
    /// The operator API was called without the admin token.
    AdminUnauthorized = ("admin_unauthorized", 401, "The admin token is missing or wrong."),
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The JSON body of every error response: `{"error": {"code": ..., "message": ..., "details": ...}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorDetail {
    pub code: ErrorCode,
    pub message: String,
    /// Structured facts about the failure, such as the field or the seats at fault.
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub details: serde_json::Value,
}

impl ErrorBody {
    pub fn new(code: ErrorCode) -> Self {
        Self::with_message(code, code.default_message())
    }

    pub fn with_message(code: ErrorCode, message: impl Into<String>) -> Self {
        Self { error: ErrorDetail { code, message: message.into(), details: serde_json::Value::Null } }
    }

    pub fn details(mut self, details: serde_json::Value) -> Self {
        self.error.details = details;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn codes_are_unique_snake_case() {
        let mut seen = HashSet::new();
        for code in ErrorCode::ALL {
            let s = code.as_str();
            assert!(seen.insert(s), "duplicate code {s}");
            assert!(s.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'), "{s} is not snake_case");
            assert_eq!(ErrorCode::from_code(s), Some(*code));
        }
    }

    #[test]
    fn serde_matches_as_str() {
        for code in ErrorCode::ALL {
            let json = serde_json::to_string(code).unwrap();
            assert_eq!(json, format!("\"{}\"", code.as_str()));
        }
    }

    #[test]
    fn statuses_are_client_or_server_errors() {
        for code in ErrorCode::ALL {
            assert!((400..600).contains(&code.http_status()), "{code}");
        }
        assert_eq!(ErrorCode::SeatSold.http_status(), 409);
        assert_eq!(ErrorCode::AdmissionTokenExpired.http_status(), 403);
    }

    #[test]
    fn body_omits_null_details() {
        let json = serde_json::to_value(ErrorBody::new(ErrorCode::SoldOut)).unwrap();
        assert_eq!(json["error"]["code"], "sold_out");
        assert!(json["error"].get("details").is_none());
    }
}
