//! Payment providers. The sale charges through [`PaymentProvider`] and refunds a charge whose
//! order cannot be written. The built-in `test` provider decides by card number, like the test
//! cards of real providers, and never moves money.

use async_trait::async_trait;

/// A charge request in minor units (cents).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChargeRequest<'a> {
    pub amount_cents: i64,
    pub currency: &'a str,
    pub card_number: &'a str,
    /// Idempotency key: the hold id, so a retried confirmation charges once.
    pub idempotency_key: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PaymentError {
    #[error("card declined: {0}")]
    Declined(&'static str),
    #[error("invalid card number")]
    InvalidCard,
    #[error("payment provider unavailable: {0}")]
    Unavailable(String),
}

#[async_trait]
pub trait PaymentProvider: Send + Sync {
    /// Charges the card and returns the provider's payment reference.
    async fn charge(&self, request: ChargeRequest<'_>) -> Result<String, PaymentError>;
    /// Gives a charge back in full.
    async fn refund(&self, payment_ref: &str) -> Result<(), PaymentError>;
}

/// Test cards: `4242 4242 4242 4242` (and any other number that passes the Luhn check) succeeds;
/// `4000 0000 0000 0002` is declined; `4000 0000 0000 9995` is declined for insufficient funds;
/// `4000 0000 0000 0119` fails as if the provider were down. Spaces and dashes are ignored.
#[derive(Debug, Default, Clone)]
pub struct TestPaymentProvider;

pub const TEST_CARD_OK: &str = "4242424242424242";
pub const TEST_CARD_DECLINED: &str = "4000000000000002";
pub const TEST_CARD_INSUFFICIENT_FUNDS: &str = "4000000000009995";
pub const TEST_CARD_PROVIDER_DOWN: &str = "4000000000000119";

fn normalize_card(number: &str) -> Option<String> {
    let digits: String = number.chars().filter(|c| !matches!(c, ' ' | '-')).collect();
    if !(12..=19).contains(&digits.len()) || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    luhn_valid(&digits).then_some(digits)
}

fn luhn_valid(digits: &str) -> bool {
    let sum: u32 = digits
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if i % 2 == 1 {
                let doubled = d * 2;
                if doubled > 9 { doubled - 9 } else { doubled }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

#[async_trait]
impl PaymentProvider for TestPaymentProvider {
    async fn charge(&self, request: ChargeRequest<'_>) -> Result<String, PaymentError> {
        let card = normalize_card(request.card_number).ok_or(PaymentError::InvalidCard)?;
        match card.as_str() {
            TEST_CARD_DECLINED => Err(PaymentError::Declined("generic_decline")),
            TEST_CARD_INSUFFICIENT_FUNDS => Err(PaymentError::Declined("insufficient_funds")),
            TEST_CARD_PROVIDER_DOWN => Err(PaymentError::Unavailable("test provider outage card".into())),
            _ => Ok(format!("test_{}", uuid::Uuid::new_v4().simple())),
        }
    }

    async fn refund(&self, payment_ref: &str) -> Result<(), PaymentError> {
        if payment_ref.starts_with("test_") {
            Ok(())
        } else {
            Err(PaymentError::Unavailable(format!("unknown payment reference {payment_ref:?}")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(card: &str) -> ChargeRequest<'_> {
        ChargeRequest { amount_cents: 100, currency: "USD", card_number: card, idempotency_key: "k".into() }
    }

    #[tokio::test]
    async fn test_cards_decide_the_outcome() {
        let provider = TestPaymentProvider;
        assert!(provider.charge(request("4242 4242 4242 4242")).await.unwrap().starts_with("test_"));
        assert_eq!(provider.charge(request(TEST_CARD_DECLINED)).await, Err(PaymentError::Declined("generic_decline")));
        assert_eq!(
            provider.charge(request(TEST_CARD_INSUFFICIENT_FUNDS)).await,
            Err(PaymentError::Declined("insufficient_funds"))
        );
        assert!(matches!(provider.charge(request(TEST_CARD_PROVIDER_DOWN)).await, Err(PaymentError::Unavailable(_))));
    }

    #[tokio::test]
    async fn invalid_numbers_are_rejected() {
        let provider = TestPaymentProvider;
        for card in ["", "abc", "4242424242424241", "42"] {
            assert_eq!(provider.charge(request(card)).await, Err(PaymentError::InvalidCard), "{card}");
        }
    }
}
