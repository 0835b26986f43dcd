//! The availability bitmap: one bit per seat, bit i for seat index i.
//!
//! A set bit means the seat is unavailable (held or sold); a clear bit means it is free, so a
//! missing or short bitmap reads as "all free". Bits are numbered the way Redis `SETBIT` numbers
//! them: bit i lives in byte i / 8, most significant bit first. The origin can therefore send the
//! Redis string as it is, and a 60,000-seat stadium costs 7,500 bytes on the wire.

use crate::ids::SeatIndex;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeatBitmap {
    seat_count: u32,
    bytes: Vec<u8>,
}

/// A bitmap body whose length does not match the event's seat count.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bitmap of {actual} bytes is longer than {expected} bytes for {seat_count} seats")]
pub struct BitmapLengthError {
    pub seat_count: u32,
    pub expected: usize,
    pub actual: usize,
}

impl SeatBitmap {
    /// Number of bytes a bitmap of `seat_count` seats takes.
    pub fn byte_len(seat_count: u32) -> usize {
        (seat_count as usize).div_ceil(8)
    }

    /// A bitmap with every seat free.
    pub fn all_free(seat_count: u32) -> Self {
        Self { seat_count, bytes: vec![0; Self::byte_len(seat_count)] }
    }

    /// Reads a bitmap as Redis stores it. Redis trims nothing but only grows the string up to the
    /// highest bit ever set, so a shorter body is padded with free seats; a longer one is rejected.
    pub fn from_bytes(seat_count: u32, bytes: &[u8]) -> Result<Self, BitmapLengthError> {
        let expected = Self::byte_len(seat_count);
        if bytes.len() > expected {
            return Err(BitmapLengthError { seat_count, expected, actual: bytes.len() });
        }
        let mut owned = bytes.to_vec();
        owned.resize(expected, 0);
        // Bits past the last seat carry no meaning; clear them so equal maps compare equal.
        if let Some(last) = owned.last_mut() {
            let used_bits = seat_count % 8;
            if used_bits != 0 {
                *last &= 0xFFu8 << (8 - used_bits);
            }
        }
        Ok(Self { seat_count, bytes: owned })
    }

    pub fn seat_count(&self) -> u32 {
        self.seat_count
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Whether the seat is held or sold. Seats past the end read as unavailable.
    pub fn is_unavailable(&self, seat: SeatIndex) -> bool {
        let i = seat.as_usize();
        if i >= self.seat_count as usize {
            return true;
        }
        self.bytes[i / 8] & (0x80 >> (i % 8)) != 0
    }

    /// Marks a seat held or sold (`true`) or free (`false`). Seats past the end are ignored.
    pub fn set_unavailable(&mut self, seat: SeatIndex, unavailable: bool) {
        let i = seat.as_usize();
        if i >= self.seat_count as usize {
            return;
        }
        let mask = 0x80 >> (i % 8);
        if unavailable {
            self.bytes[i / 8] |= mask;
        } else {
            self.bytes[i / 8] &= !mask;
        }
    }

    /// Number of unavailable seats.
    pub fn count_unavailable(&self) -> u32 {
        self.bytes.iter().map(|b| b.count_ones()).sum()
    }

    /// Free seat indexes, in order.
    pub fn free_seats(&self) -> impl Iterator<Item = SeatIndex> + '_ {
        (0..self.seat_count).filter_map(|i| SeatIndex::new(i).ok()).filter(|s| !self.is_unavailable(*s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seat(i: u32) -> SeatIndex {
        SeatIndex::new(i).unwrap()
    }

    #[test]
    fn bit_order_matches_redis_setbit() {
        // SETBIT key 0 1 gives the byte 0x80; SETBIT key 9 1 gives 0x00 0x40.
        let mut map = SeatBitmap::all_free(16);
        map.set_unavailable(seat(0), true);
        map.set_unavailable(seat(9), true);
        assert_eq!(map.as_bytes(), &[0x80, 0x40]);
    }

    #[test]
    fn short_input_is_padded_with_free_seats() {
        let map = SeatBitmap::from_bytes(20, &[0xFF]).unwrap();
        assert_eq!(map.as_bytes().len(), 3);
        assert!(map.is_unavailable(seat(7)));
        assert!(!map.is_unavailable(seat(8)));
        assert_eq!(map.count_unavailable(), 8);
    }

    #[test]
    fn long_input_is_rejected() {
        let err = SeatBitmap::from_bytes(8, &[0, 0]).unwrap_err();
        assert_eq!(err.expected, 1);
        assert_eq!(err.actual, 2);
    }

    #[test]
    fn trailing_bits_are_cleared() {
        let map = SeatBitmap::from_bytes(3, &[0xFF]).unwrap();
        assert_eq!(map.as_bytes(), &[0xE0]);
        assert_eq!(map.count_unavailable(), 3);
    }

    #[test]
    fn out_of_range_seat_is_unavailable_and_ignored() {
        let mut map = SeatBitmap::all_free(4);
        map.set_unavailable(seat(10), true);
        assert!(map.is_unavailable(seat(10)));
        assert_eq!(map.count_unavailable(), 0);
    }

    #[test]
    fn stadium_size_is_small() {
        assert_eq!(SeatBitmap::byte_len(60_000), 7_500);
        let mut map = SeatBitmap::all_free(60_000);
        map.set_unavailable(seat(59_999), true);
        assert_eq!(map.free_seats().count(), 59_999);
    }
}
