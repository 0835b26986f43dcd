//! Ticket secrets: the string inside a ticket's QR code. A gate scanner that holds only the
//! public key verifies it offline.
//!
//! Layout: `OT1.` then base64url (no padding) of a 37-byte payload followed by its 64-byte Ed25519
//! signature. The payload is a version byte (1), the ticket UUID (16 bytes), the event id (8 bytes,
//! big-endian), the seat index (4 bytes, big-endian) and the issue time in Unix seconds (8 bytes,
//! big-endian). The signature covers a domain prefix and the payload, so no other signed message
//! of ours can pass for a ticket. The 139 characters need a version-8 QR code at error
//! correction level M (version 7 at level L), as the qrcode crate 0.14 encodes them.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use ed25519_dalek::{Signer, Verifier};
use uuid::Uuid;

use crate::ids::{EventId, SeatIndex, TicketId};

const PREFIX: &str = "OT1.";
const DOMAIN: &[u8] = b"onsale-ticket-v1\0";
const VERSION: u8 = 1;
const PAYLOAD_LEN: usize = 1 + 16 + 8 + 4 + 8;
const SIGNATURE_LEN: usize = 64;

/// What a verified ticket secret says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketClaims {
    pub ticket: TicketId,
    pub event: EventId,
    pub seat: SeatIndex,
    pub issued_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TicketSecretError {
    #[error("ticket secret is malformed: {0}")]
    Malformed(&'static str),
    #[error("ticket secret signature does not verify")]
    Signature,
}

fn encode_payload(claims: &TicketClaims) -> [u8; PAYLOAD_LEN] {
    let mut payload = [0u8; PAYLOAD_LEN];
    payload[0] = VERSION;
    payload[1..17].copy_from_slice(claims.ticket.as_uuid().as_bytes());
    payload[17..25].copy_from_slice(&claims.event.get().to_be_bytes());
    payload[25..29].copy_from_slice(&claims.seat.get().to_be_bytes());
    payload[29..37].copy_from_slice(&claims.issued_at.timestamp().to_be_bytes());
    payload
}

fn signed_message(payload: &[u8]) -> Vec<u8> {
    let mut message = Vec::with_capacity(DOMAIN.len() + payload.len());
    message.extend_from_slice(DOMAIN);
    message.extend_from_slice(payload);
    message
}

/// Signs a ticket secret.
pub fn sign_ticket(key: &ed25519_dalek::SigningKey, claims: &TicketClaims) -> String {
    let payload = encode_payload(claims);
    let signature = key.sign(&signed_message(&payload));
    let mut bytes = Vec::with_capacity(PAYLOAD_LEN + SIGNATURE_LEN);
    bytes.extend_from_slice(&payload);
    bytes.extend_from_slice(&signature.to_bytes());
    format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// Verifies a ticket secret and returns what it says.
pub fn verify_ticket(key: &ed25519_dalek::VerifyingKey, secret: &str) -> Result<TicketClaims, TicketSecretError> {
    let body = secret.strip_prefix(PREFIX).ok_or(TicketSecretError::Malformed("missing OT1. prefix"))?;
    if body.len() > 200 {
        return Err(TicketSecretError::Malformed("too long"));
    }
    let bytes = URL_SAFE_NO_PAD.decode(body).map_err(|_| TicketSecretError::Malformed("not base64url"))?;
    if bytes.len() != PAYLOAD_LEN + SIGNATURE_LEN {
        return Err(TicketSecretError::Malformed("wrong length"));
    }
    let (payload, signature) = bytes.split_at(PAYLOAD_LEN);
    let signature = ed25519_dalek::Signature::from_slice(signature).map_err(|_| TicketSecretError::Signature)?;
    key.verify(&signed_message(payload), &signature).map_err(|_| TicketSecretError::Signature)?;

    if payload[0] != VERSION {
        return Err(TicketSecretError::Malformed("unknown version"));
    }
    let uuid = Uuid::from_slice(&payload[1..17]).map_err(|_| TicketSecretError::Malformed("bad ticket id"))?;
    let event = i64::from_be_bytes(payload[17..25].try_into().map_err(|_| TicketSecretError::Malformed("bad event"))?);
    let seat = u32::from_be_bytes(payload[25..29].try_into().map_err(|_| TicketSecretError::Malformed("bad seat"))?);
    let issued = i64::from_be_bytes(payload[29..37].try_into().map_err(|_| TicketSecretError::Malformed("bad time"))?);
    Ok(TicketClaims {
        ticket: TicketId::from_uuid(uuid),
        event: EventId::new(event).map_err(|_| TicketSecretError::Malformed("bad event"))?,
        seat: SeatIndex::new(seat).map_err(|_| TicketSecretError::Malformed("bad seat"))?,
        issued_at: DateTime::from_timestamp(issued, 0).ok_or(TicketSecretError::Malformed("bad time"))?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims() -> TicketClaims {
        TicketClaims {
            ticket: TicketId::random(),
            event: EventId::new(12).unwrap(),
            seat: SeatIndex::new(59_999).unwrap(),
            issued_at: DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
        }
    }

    #[test]
    fn sign_then_verify() {
        let key = ed25519_dalek::SigningKey::from_bytes(&[3; 32]);
        let claims = claims();
        let secret = sign_ticket(&key, &claims);
        assert_eq!(secret.len(), 139);
        assert_eq!(verify_ticket(&key.verifying_key(), &secret).unwrap(), claims);
    }

    #[test]
    fn flipped_byte_fails() {
        let key = ed25519_dalek::SigningKey::from_bytes(&[3; 32]);
        let secret = sign_ticket(&key, &claims());
        let mut bytes = URL_SAFE_NO_PAD.decode(&secret[4..]).unwrap();
        bytes[20] ^= 1;
        let forged = format!("OT1.{}", URL_SAFE_NO_PAD.encode(bytes));
        assert_eq!(verify_ticket(&key.verifying_key(), &forged).unwrap_err(), TicketSecretError::Signature);
    }

    #[test]
    fn other_key_fails() {
        let key = ed25519_dalek::SigningKey::from_bytes(&[3; 32]);
        let other = ed25519_dalek::SigningKey::from_bytes(&[4; 32]);
        let secret = sign_ticket(&key, &claims());
        assert!(verify_ticket(&other.verifying_key(), &secret).is_err());
    }

    #[test]
    fn garbage_is_malformed() {
        let key = ed25519_dalek::SigningKey::from_bytes(&[3; 32]).verifying_key();
        for input in ["", "OT1.", "OT1.!!!", "XX1.AAAA", "OT1.AAAA"] {
            assert!(matches!(verify_ticket(&key, input), Err(TicketSecretError::Malformed(_))), "{input}");
        }
    }
}
