//! The messages a fan reads when a request fails: one plain-English message per error code that
//! explains what happened and what to do next, and the action the app offers with it.
//!
//! The server's default messages (`ErrorCode::default_message`) are written for any client; the
//! ones here are written for this app's screens, so they name its buttons and steps.

use onsale_shared::ErrorCode;

/// The next step the app offers with an error message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NextStep {
    /// Nothing to do but read the message, or correct the form.
    None,
    /// Send the same request again, after a short wait.
    Retry,
    /// Go back to the seat map and pick other seats.
    PickOtherSeats,
    /// Pay again, with another card.
    TryAnotherCard,
    /// Join the event's queue again for a new admission.
    RejoinQueue,
    /// Start a new fan session and reload the page.
    NewSession,
    /// Go back to the list of events.
    BrowseEvents,
}

/// Returns the fan-facing message for an error code.
pub fn fan_message(code: ErrorCode) -> &'static str {
    match code {
        ErrorCode::InvalidRequest => "Something in this form is not right. Check what you entered and try again.",
        ErrorCode::TooManySeats => "You picked more seats than one order allows. Remove a few seats and hold again.",
        ErrorCode::InvalidSeat => "One of the seats you picked is not for sale. Pick other seats.",
        ErrorCode::FanSessionMissing => "Your browser session is missing. Reload the page to start a new one.",
        ErrorCode::FanSessionInvalid => "Your browser session is no longer valid. Reload the page to start a new one.",
        ErrorCode::PaymentDeclined => {
            "Your card was declined and you have not been charged. Your seats are still held: try another card."
        }
        ErrorCode::AdmissionTokenMissing => "You need to pass the waiting room before you pick seats. Join the queue.",
        ErrorCode::AdmissionTokenMalformed
        | ErrorCode::AdmissionTokenAlgorithm
        | ErrorCode::AdmissionTokenSignature => {
            "Your admission to this sale could not be checked. Join the queue again to get a new one."
        }
        ErrorCode::AdmissionTokenExpired => "Your time to pick seats has run out. Join the queue again for a new turn.",
        ErrorCode::AdmissionTokenWrongEvent => {
            "Your admission is for a different event. Join this event's queue to pick seats here."
        }
        ErrorCode::AdmissionTokenWrongFan => {
            "This admission was issued to another browser session. Join the queue again from this browser."
        }
        ErrorCode::AdmissionTokenUsed => {
            "Your admission already backs a hold or an order. Release your current hold to pick other seats."
        }
        ErrorCode::EventNotFound => "We could not find this event. It may have been removed. Browse the other events.",
        ErrorCode::HoldNotFound => "Your hold is no longer there: it expired or was released. Pick your seats again.",
        ErrorCode::OrderNotFound => {
            "We could not find this order for this browser. Open the link in your ticket email instead."
        }
        ErrorCode::NotFound => "This page does not exist. Go back to the list of events.",
        ErrorCode::MethodNotAllowed => "The app sent a request the server does not accept. Reload the page.",
        ErrorCode::SeatUnavailable => {
            "Someone else just took a seat you picked. It is now marked as taken: pick another seat and hold again."
        }
        ErrorCode::SeatSold => {
            "A seat in your order was sold to someone else a moment before you paid. You have not been charged. \
             Pick other seats."
        }
        ErrorCode::HoldExpired => {
            "Your hold ran out before the payment went through, and a seat went to someone else. \
             Any payment has been refunded. Pick other seats."
        }
        ErrorCode::QueueNotOpen => {
            "The waiting room for this event has not opened yet. Come back when the sale starts."
        }
        ErrorCode::QueuePaused => {
            "The sale is paused for a moment. You keep your place in the queue: stay on this page."
        }
        ErrorCode::SoldOut => "This event is sold out. There are no more seats to buy.",
        ErrorCode::NotAdmitted => "It is not your turn yet. Stay in the waiting room: you keep your place.",
        ErrorCode::PayloadTooLarge => "The request was too large for the server. Reload the page and try again.",
        ErrorCode::UnsupportedMediaType => "The app sent a request the server could not read. Reload the page.",
        ErrorCode::RateLimited => "Too many requests from this browser. Wait a few seconds, then try again.",
        ErrorCode::InternalError => "Something went wrong on our side, and nothing was charged. Try again in a moment.",
        ErrorCode::ServiceUnavailable => {
            "The sale is very busy right now. Wait a few seconds and try again: your hold and your place are kept."
        }
        ErrorCode::AdminUnauthorized => "This page is for the event's organizers only.",
    }
}

/// Returns the step the app offers next to the message of `code`.
pub fn next_step(code: ErrorCode) -> NextStep {
    match code {
        ErrorCode::SeatUnavailable
        | ErrorCode::SeatSold
        | ErrorCode::HoldExpired
        | ErrorCode::HoldNotFound
        | ErrorCode::InvalidSeat
        | ErrorCode::TooManySeats => NextStep::PickOtherSeats,
        ErrorCode::PaymentDeclined => NextStep::TryAnotherCard,
        ErrorCode::AdmissionTokenMissing
        | ErrorCode::AdmissionTokenMalformed
        | ErrorCode::AdmissionTokenAlgorithm
        | ErrorCode::AdmissionTokenSignature
        | ErrorCode::AdmissionTokenExpired
        | ErrorCode::AdmissionTokenWrongEvent
        | ErrorCode::AdmissionTokenWrongFan
        | ErrorCode::NotAdmitted => NextStep::RejoinQueue,
        ErrorCode::FanSessionMissing | ErrorCode::FanSessionInvalid => NextStep::NewSession,
        ErrorCode::RateLimited | ErrorCode::ServiceUnavailable | ErrorCode::InternalError => NextStep::Retry,
        ErrorCode::EventNotFound | ErrorCode::NotFound | ErrorCode::SoldOut => NextStep::BrowseEvents,
        ErrorCode::InvalidRequest
        | ErrorCode::OrderNotFound
        | ErrorCode::MethodNotAllowed
        | ErrorCode::AdmissionTokenUsed
        | ErrorCode::QueueNotOpen
        | ErrorCode::QueuePaused
        | ErrorCode::PayloadTooLarge
        | ErrorCode::UnsupportedMediaType
        | ErrorCode::AdminUnauthorized => NextStep::None,
    }
}

/// Message shown when the server could not be reached at all.
pub const NETWORK_MESSAGE: &str =
    "We could not reach the server. Check your connection; the app tries again by itself.";

/// Message shown when the server's response is unreadable to the app, such as an error page
/// from a proxy.
pub const UNREADABLE_MESSAGE: &str = "The server sent an answer this app could not read. Try again in a moment.";

#[cfg(test)]
mod tests {
    use super::*;

    /// Codes whose server message is too generic for this app's screens.
    const MUST_BE_SPECIFIC: &[ErrorCode] = &[
        ErrorCode::SeatUnavailable,
        ErrorCode::SeatSold,
        ErrorCode::HoldExpired,
        ErrorCode::PaymentDeclined,
        ErrorCode::AdmissionTokenExpired,
        ErrorCode::SoldOut,
        ErrorCode::QueuePaused,
        ErrorCode::RateLimited,
        ErrorCode::ServiceUnavailable,
    ];

    #[test]
    fn every_code_has_a_message() {
        for code in ErrorCode::ALL {
            let message = fan_message(*code);
            assert!(!message.trim().is_empty(), "{code} has an empty message");
            assert_ne!(message, code.as_str(), "{code} shows its code as the message");
            assert!(!message.contains(code.as_str()), "{code} leaks its code into the message");
            assert!(message.ends_with('.'), "{code}: {message:?} is not a full sentence");
        }
    }

    #[test]
    fn key_codes_have_their_own_wording() {
        for code in MUST_BE_SPECIFIC {
            assert_ne!(fan_message(*code), code.default_message(), "{code} copies the server's default message");
        }
    }

    #[test]
    fn messages_say_what_to_do_next() {
        // Each key message has a second sentence or clause with the next step.
        for code in MUST_BE_SPECIFIC.iter().filter(|code| **code != ErrorCode::SoldOut) {
            let message = fan_message(*code);
            assert!(message.matches('.').count() + message.matches(':').count() >= 2, "{code}: {message:?}");
        }
    }

    #[test]
    fn steps_match_the_flow() {
        assert_eq!(next_step(ErrorCode::SeatUnavailable), NextStep::PickOtherSeats);
        assert_eq!(next_step(ErrorCode::HoldExpired), NextStep::PickOtherSeats);
        assert_eq!(next_step(ErrorCode::PaymentDeclined), NextStep::TryAnotherCard);
        assert_eq!(next_step(ErrorCode::AdmissionTokenExpired), NextStep::RejoinQueue);
        assert_eq!(next_step(ErrorCode::FanSessionInvalid), NextStep::NewSession);
        assert_eq!(next_step(ErrorCode::ServiceUnavailable), NextStep::Retry);
        assert_eq!(next_step(ErrorCode::SoldOut), NextStep::BrowseEvents);
    }
}
