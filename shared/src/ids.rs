//! Identifier newtypes. Each one parses from its wire form and rejects anything else, so a value
//! of one of these types has already been checked wherever it appears.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize};
use uuid::Uuid;

/// An identifier that failed to parse: which kind it was meant to be, the rejected input and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {kind} {value:?}: {reason}")]
pub struct IdError {
    pub kind: &'static str,
    pub value: String,
    pub reason: &'static str,
}

impl IdError {
    fn new(kind: &'static str, value: &str, reason: &'static str) -> Self {
        // A rejected value is echoed back in error bodies and logs, so keep it short.
        let value: String = value.chars().take(80).collect();
        Self { kind, value, reason }
    }
}

/// Event id: a positive integer that fits PostgreSQL's `BIGINT`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "i64", into = "i64")]
pub struct EventId(i64);

impl EventId {
    pub fn new(value: i64) -> Result<Self, IdError> {
        if value <= 0 {
            return Err(IdError::new("event id", &value.to_string(), "must be a positive integer"));
        }
        Ok(Self(value))
    }

    pub fn get(self) -> i64 {
        self.0
    }
}

impl TryFrom<i64> for EventId {
    type Error = IdError;
    fn try_from(value: i64) -> Result<Self, Self::Error> {
        Self::new(value)
    }
}

impl From<EventId> for i64 {
    fn from(id: EventId) -> i64 {
        id.0
    }
}

impl FromStr for EventId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        // `i64::from_str` accepts a leading '+', which would give one event two spellings.
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) || s.len() > 19 {
            return Err(IdError::new("event id", s, "must be a positive integer"));
        }
        let value = s.parse::<i64>().map_err(|_| IdError::new("event id", s, "must be at most 9223372036854775807"))?;
        Self::new(value)
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Position of a seat in its event's seat list, and so the seat's bit in the availability bitmap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "u32", into = "u32")]
pub struct SeatIndex(u32);

impl SeatIndex {
    /// Largest seat count a plan may have. 1,000,000 seats is 14 times the largest stadium and
    /// keeps one bitmap at 125 KB.
    pub const MAX_SEATS: u32 = 1_000_000;

    pub fn new(value: u32) -> Result<Self, IdError> {
        if value >= Self::MAX_SEATS {
            return Err(IdError::new("seat index", &value.to_string(), "must be below 1000000"));
        }
        Ok(Self(value))
    }

    pub fn get(self) -> u32 {
        self.0
    }

    pub fn as_usize(self) -> usize {
        self.0 as usize
    }
}

impl TryFrom<u32> for SeatIndex {
    type Error = IdError;
    fn try_from(value: u32) -> Result<Self, Self::Error> {
        Self::new(value)
    }
}

impl From<SeatIndex> for u32 {
    fn from(seat: SeatIndex) -> u32 {
        seat.0
    }
}

impl fmt::Display for SeatIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Checks the character set shared by seat GUIDs and fan ids.
fn check_token_chars(kind: &'static str, s: &str, max_len: usize) -> Result<(), IdError> {
    if s.is_empty() {
        return Err(IdError::new(kind, s, "must not be empty"));
    }
    if s.len() > max_len {
        return Err(IdError::new(kind, s, "is too long"));
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':');
    if !s.chars().all(allowed) {
        return Err(IdError::new(kind, s, "may contain only ASCII letters, digits, '-', '_', '.' and ':'"));
    }
    Ok(())
}

/// Stable seat identifier from the seating plan (pretix's `seat_guid`). Never shown to fans.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct SeatId(String);

impl SeatId {
    pub const MAX_LEN: usize = 128;

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for SeatId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        // pretix's editor writes GUIDs such as "S-A-1" or UUIDs, and some plans use spaces.
        // Spaces are allowed inside, never at the ends.
        if s.trim() != s {
            return Err(IdError::new("seat id", s, "must not start or end with whitespace"));
        }
        let without_spaces = s.replace(' ', "-");
        check_token_chars("seat id", &without_spaces, Self::MAX_LEN)?;
        Ok(Self(s.to_owned()))
    }
}

impl<'de> Deserialize<'de> for SeatId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for SeatId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Fan identifier: up to 64 ASCII letters, digits, '-', '_', '.' or ':'.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct FanId(String);

impl FanId {
    pub const MAX_LEN: usize = 64;

    /// Creates a random fan id (a UUID v4 in simple form).
    pub fn random() -> Self {
        Self(Uuid::new_v4().simple().to_string())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for FanId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        check_token_chars("fan id", s, Self::MAX_LEN)?;
        Ok(Self(s.to_owned()))
    }
}

impl<'de> Deserialize<'de> for FanId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for FanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident, $kind:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            pub fn random() -> Self {
                Self(Uuid::new_v4())
            }

            pub fn from_uuid(uuid: Uuid) -> Self {
                Self(uuid)
            }

            pub fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::try_parse(s)
                    .map(Self)
                    .map_err(|_| IdError::new($kind, s, "must be a UUID"))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

uuid_id!(
    /// One seat hold: the seats a fan holds together, released or confirmed together.
    HoldId,
    "hold id"
);
uuid_id!(
    /// A confirmed purchase.
    OrderId,
    "order id"
);
uuid_id!(
    /// One ticket, for one seat of an order.
    TicketId,
    "ticket id"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_id_parses_positive_integers_only() {
        assert_eq!("42".parse::<EventId>().unwrap().get(), 42);
        for bad in ["", "0", "-1", "+1", "1.0", "abc", "99999999999999999999", " 1"] {
            let err = bad.parse::<EventId>().unwrap_err();
            assert_eq!(err.kind, "event id", "input {bad:?}");
        }
    }

    #[test]
    fn event_id_json_rejects_zero() {
        assert!(serde_json::from_str::<EventId>("0").is_err());
        assert_eq!(serde_json::from_str::<EventId>("7").unwrap().get(), 7);
    }

    #[test]
    fn seat_index_has_an_upper_bound() {
        assert!(SeatIndex::new(999_999).is_ok());
        assert!(SeatIndex::new(1_000_000).is_err());
    }

    #[test]
    fn fan_id_rejects_control_and_long_input() {
        assert!("fan-1".parse::<FanId>().is_ok());
        assert!("fan\n1".parse::<FanId>().is_err());
        assert!("fan 1".parse::<FanId>().is_err());
        assert!("x".repeat(65).parse::<FanId>().is_err());
        assert!(serde_json::from_str::<FanId>("\"a/b\"").is_err());
    }

    #[test]
    fn seat_id_allows_inner_spaces() {
        assert!("S-A-1".parse::<SeatId>().is_ok());
        assert!("Block A 12".parse::<SeatId>().is_ok());
        assert!(" A".parse::<SeatId>().is_err());
        assert!("A\u{0}".parse::<SeatId>().is_err());
    }

    #[test]
    fn error_value_is_truncated() {
        let err = "x".repeat(500).parse::<FanId>().unwrap_err();
        assert_eq!(err.value.len(), 80);
    }

    #[test]
    fn uuid_ids_round_trip() {
        let id = HoldId::random();
        assert_eq!(id.to_string().parse::<HoldId>().unwrap(), id);
        assert!("not-a-uuid".parse::<OrderId>().is_err());
    }
}
