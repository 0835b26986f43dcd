//! One simulated fan: session, join, wait for admission, pick and hold seats, then pay or walk
//! away. A fan never panics on a response: every unexpected one ends or retries its script and is
//! counted in its [`FanResult`].

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use rand::Rng;
use rand::SeedableRng;
use rand::rngs::StdRng;

use onsale_shared::api::{ConfirmRequest, FanSession, HoldResponse, OrderView, QueueStatus};
use onsale_shared::{ErrorCode, EventId, OrderId, SeatIndex};

use super::client::{ApiClient, CallError, Operation};
use super::seats::SeatPicker;
use crate::payment::{TEST_CARD_DECLINED, TEST_CARD_OK};

/// Attempts of one request that failed with 503, 429 or no response, before the fan gives up.
/// Without `Retry-After`, the back-off between them adds up to 3.75 s.
const MAX_REQUEST_ATTEMPTS: u32 = 5;
/// Pause between two queue status polls after the socket was lost.
const POLL_INTERVAL: Duration = Duration::from_millis(500);
/// Pause between two reads of the bitmap while a fan waits to see its held seats on it.
const STALENESS_POLL_INTERVAL: Duration = Duration::from_millis(5);
/// Maximum wait for held seats to show on the bitmap before the probe counts a miss.
const STALENESS_LIMIT: Duration = Duration::from_secs(10);

/// A fan's choice once its seats are held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Checkout {
    /// Pays with a good card.
    Pay,
    /// Pays with a declined card, then with a good one.
    DeclineThenPay,
    /// Walks away after releasing the hold.
    AbandonAndRelease,
    /// Walks away and leaves the hold to expire.
    AbandonToExpire,
}

impl Checkout {
    /// Draws a fan's checkout: `abandon_share` of fans walk away (half of them release the hold),
    /// `decline_share` have their first card declined, and the rest pay.
    pub fn choose(rng: &mut impl Rng, abandon_share: f64, decline_share: f64) -> Self {
        let roll: f64 = rng.r#gen();
        if roll < abandon_share {
            if rng.gen_bool(0.5) { Checkout::AbandonAndRelease } else { Checkout::AbandonToExpire }
        } else if roll < abandon_share + decline_share {
            Checkout::DeclineThenPay
        } else {
            Checkout::Pay
        }
    }
}

/// Outcome of a fan's script.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FanOutcome {
    Bought,
    Abandoned,
    /// Every hold attempt was rejected with `seat_unavailable`.
    GaveUp,
    /// No row had enough adjacent free seats.
    NoSeatsFound,
    SoldOut,
    /// Joined the queue and stopped there, as the load test's join-only fans do.
    JoinedOnly,
    /// An unexpected response stopped the script.
    #[default]
    Failed,
    TimedOut,
}

/// Record of what one fan did and saw.
#[derive(Debug, Clone, Default)]
pub struct FanResult {
    pub outcome: FanOutcome,
    pub admitted: bool,
    pub holds_created: u64,
    pub holds_released: u64,
    /// Expiry of a hold this fan walked away from without releasing it.
    pub left_to_expire: Option<DateTime<Utc>>,
    pub seat_unavailable: u64,
    pub socket_fallback: bool,
    pub order: Option<OrderId>,
    /// Every ticketed seat with its order, from the order view.
    pub tickets: Vec<(SeatIndex, OrderId)>,
    /// Time of each join, hold and confirm request that got a response, errors included.
    pub latencies: Vec<(Operation, Duration)>,
    /// From the join request to the token in hand.
    pub queue_wait: Option<Duration>,
    /// When the join's response arrived, as time since the sale started.
    pub joined_at: Option<Duration>,
    /// From the hold's response to its seats showing as taken on the bitmap route, for a fan
    /// chosen to probe it.
    pub bitmap_staleness: Option<Duration>,
    /// The probe gave up: the held seats did not show on the bitmap within its limit.
    pub staleness_missed: bool,
    /// Each hold response's time since the sale started, with the hold's latency.
    pub hold_timeline: Vec<(Duration, Duration)>,
    /// Unexpected responses as "operation: code", retried ones included.
    pub errors: Vec<String>,
}

impl FanResult {
    fn count_error(&mut self, err: &CallError) {
        self.errors.push(format!("{}: {}", err.operation(), err.code()));
    }
}

/// State that every fan shares: the client, the event and its seats, and the sale's settings.
pub struct FanContext {
    pub client: ApiClient,
    pub event: EventId,
    pub picker: SeatPicker,
    pub max_seats: usize,
    /// Holds tried, each with a new pick, before a fan gives up on `seat_unavailable`.
    pub pick_attempts: u32,
    pub abandon_share: f64,
    pub decline_share: f64,
    /// Time limit of one fan's whole script.
    pub timeout: Duration,
    /// Share of fans, from 0 to 1, who read their queue status once over HTTP after joining.
    pub status_share: f64,
    /// Share of fans, from 0 to 1, who read the bitmap after their hold until their seats show.
    pub staleness_share: f64,
    /// Start of the sale, the zero of [`FanResult::hold_timeline`] and [`FanResult::joined_at`].
    pub sale_started: Instant,
    /// Fans stop after joining the queue.
    pub join_only: bool,
}

/// Runs fan number `number` to the end of its script. `seed` makes its choices repeatable.
pub async fn run_fan(context: Arc<FanContext>, number: u64, seed: u64) -> FanResult {
    let mut fan =
        Fan { context: context.clone(), rng: StdRng::seed_from_u64(seed), number, result: FanResult::default() };
    let checkout = Checkout::choose(&mut fan.rng, context.abandon_share, context.decline_share);
    let finished = tokio::time::timeout(context.timeout, fan.script(checkout)).await;
    fan.result.outcome = match finished {
        Ok(Ok(outcome)) => outcome,
        Ok(Err(err)) => {
            tracing::debug!(fan.number = number, cause = %err, "fan stopped on an unexpected response");
            fan.result.count_error(&err);
            FanOutcome::Failed
        }
        Err(_) => FanOutcome::TimedOut,
    };
    fan.result
}

/// Outcome of a fan's search for seats.
enum HoldAttempt {
    Held(HoldResponse),
    NoSeatsFound,
    GaveUp,
}

struct Fan {
    context: Arc<FanContext>,
    rng: StdRng,
    number: u64,
    result: FanResult,
}

impl Fan {
    async fn script(&mut self, checkout: Checkout) -> Result<FanOutcome, CallError> {
        let client = self.context.client.clone();
        let event = self.context.event;

        let session = self.retried(Operation::CreateFan, || client.create_fan()).await?;
        let joined_at = Instant::now();
        let status = self.retried(Operation::Join, || client.join(event, &session.session)).await?;
        self.result.joined_at = Some(self.context.sale_started.elapsed());
        if self.context.status_share > 0.0 && self.rng.gen_bool(self.context.status_share) {
            self.retried(Operation::QueueStatus, || client.queue_status(event, &session.session)).await?;
        }
        if self.context.join_only {
            return Ok(FanOutcome::JoinedOnly);
        }

        let token = match status {
            QueueStatus::Admitted { token, .. } => Some(token),
            QueueStatus::SoldOut => None,
            _ => self.wait_for_admission(&session).await?,
        };
        let Some(token) = token else {
            return Ok(FanOutcome::SoldOut);
        };
        self.result.queue_wait = Some(joined_at.elapsed());
        self.result.admitted = true;

        let hold = match self.hold_seats(&session, &token).await? {
            HoldAttempt::Held(hold) => hold,
            HoldAttempt::NoSeatsFound => return Ok(FanOutcome::NoSeatsFound),
            HoldAttempt::GaveUp => return Ok(FanOutcome::GaveUp),
        };

        match checkout {
            Checkout::AbandonAndRelease => {
                let hold_id = hold.hold_id;
                self.retried(Operation::Release, || client.release(event, &session.session, &token, hold_id)).await?;
                self.result.holds_released += 1;
                Ok(FanOutcome::Abandoned)
            }
            Checkout::AbandonToExpire => {
                self.result.left_to_expire = Some(hold.expires_at);
                Ok(FanOutcome::Abandoned)
            }
            Checkout::DeclineThenPay => {
                match self.confirm(&session, &token, &hold, TEST_CARD_DECLINED).await {
                    Err(err) if err.has_code(ErrorCode::PaymentDeclined) => {}
                    Err(err) => return Err(err),
                    Ok(order) => {
                        // The test provider declines this card, so an order here is a platform fault.
                        self.result.errors.push("confirm: declined card accepted".to_owned());
                        self.record_order(&order);
                        return Ok(FanOutcome::Bought);
                    }
                }
                let order = self.confirm(&session, &token, &hold, TEST_CARD_OK).await?;
                self.record_order(&order);
                Ok(FanOutcome::Bought)
            }
            Checkout::Pay => {
                let order = self.confirm(&session, &token, &hold, TEST_CARD_OK).await?;
                self.record_order(&order);
                Ok(FanOutcome::Bought)
            }
        }
    }

    /// Sends a request until it succeeds, fails for good, or has been tried
    /// [`MAX_REQUEST_ATTEMPTS`] times. Each retried failure is counted, and each attempt that
    /// got a response is timed.
    async fn retried<T, F>(&mut self, operation: Operation, call: impl Fn() -> F) -> Result<T, CallError>
    where
        F: Future<Output = Result<T, CallError>>,
    {
        let mut attempt = 1;
        loop {
            let started = Instant::now();
            let result = call().await;
            if !matches!(result, Err(CallError::Transport { .. })) {
                self.result.latencies.push((operation, started.elapsed()));
            }
            match result {
                Err(err) if err.is_retryable() && attempt < MAX_REQUEST_ATTEMPTS => {
                    tracing::debug!(fan.number = self.number, %operation, attempt, cause = %err, "retrying a request");
                    self.result.count_error(&err);
                    tokio::time::sleep(err.retry_delay(attempt)).await;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    /// Waits on the queue socket for the token, or polls the queue status once the socket is
    /// gone. Returns `None` when the event sold out.
    async fn wait_for_admission(&mut self, session: &FanSession) -> Result<Option<String>, CallError> {
        let client = self.context.client.clone();
        let event = self.context.event;
        match client.queue_socket(event, &session.session).await {
            Ok(mut socket) => loop {
                match socket.next_status().await {
                    Some(Ok(QueueStatus::Admitted { token, .. })) => {
                        socket.close().await;
                        return Ok(Some(token));
                    }
                    Some(Ok(QueueStatus::SoldOut)) => return Ok(None),
                    Some(Ok(_)) => {}
                    Some(Err(err)) => {
                        self.result.count_error(&err);
                        break;
                    }
                    None => break,
                }
            },
            Err(err) => self.result.count_error(&err),
        }

        // The socket is gone before admission: poll, which also returns a token issued meanwhile.
        self.result.socket_fallback = true;
        let mut rejoined = false;
        let mut failed_polls = 0;
        loop {
            // A waiting fan keeps polling through outages: only the fan's time limit ends the wait.
            let status = match client.queue_status(event, &session.session).await {
                Ok(status) => {
                    failed_polls = 0;
                    status
                }
                Err(err) if err.is_retryable() => {
                    self.result.count_error(&err);
                    failed_polls += 1;
                    tokio::time::sleep(err.retry_delay(failed_polls)).await;
                    continue;
                }
                Err(err) => return Err(err),
            };
            match status {
                QueueStatus::Admitted { token, .. } => return Ok(Some(token)),
                QueueStatus::SoldOut => return Ok(None),
                QueueStatus::NotQueued if !rejoined => {
                    // Joining is idempotent, so a fan who lost its place simply joins again, once.
                    rejoined = true;
                    self.retried(Operation::Join, || client.join(event, &session.session)).await?;
                }
                QueueStatus::NotQueued => {
                    self.result.errors.push("queue status: not queued after joining again".to_owned());
                    return Ok(None);
                }
                QueueStatus::Queued { .. } | QueueStatus::Prequeue | QueueStatus::NotOpen => {
                    let jitter = Duration::from_millis(self.rng.gen_range(0..250));
                    tokio::time::sleep(POLL_INTERVAL + jitter).await;
                }
            }
        }
    }

    /// Picks and holds 1..=max adjacent seats, picking again after each `seat_unavailable`.
    async fn hold_seats(&mut self, session: &FanSession, token: &str) -> Result<HoldAttempt, CallError> {
        let client = self.context.client.clone();
        let context = self.context.clone();
        let event = context.event;
        let count = self.rng.gen_range(1..=context.max_seats);
        let mut excluded: HashSet<SeatIndex> = HashSet::new();

        for _ in 0..context.pick_attempts {
            let bitmap = self.retried(Operation::Availability, || client.availability(event)).await?;
            let Some(seats) = context.picker.pick(&bitmap, count, &excluded, &mut self.rng) else {
                return Ok(HoldAttempt::NoSeatsFound);
            };
            let held =
                self.retried(Operation::Hold, || client.hold(event, &session.session, token, seats.clone())).await;
            match held {
                Ok(hold) => {
                    self.result.holds_created += 1;
                    if let Some((_, latency)) = self.result.latencies.last() {
                        let at = context.sale_started.elapsed();
                        self.result.hold_timeline.push((at, *latency));
                    }
                    if context.staleness_share > 0.0 && self.rng.gen_bool(context.staleness_share) {
                        self.probe_staleness(&hold.seats).await?;
                    }
                    return Ok(HoldAttempt::Held(hold));
                }
                Err(err) if err.has_code(ErrorCode::SeatUnavailable) => {
                    self.result.seat_unavailable += 1;
                    // The bitmap may lag the hold store, so remember the seats the origin reported as taken.
                    let taken = err.unavailable_seats();
                    if taken.is_empty() {
                        excluded.extend(seats);
                    } else {
                        excluded.extend(taken);
                    }
                }
                Err(err) => return Err(err),
            }
        }
        Ok(HoldAttempt::GaveUp)
    }

    /// Reads the bitmap until every held seat shows as taken, and records how long that took
    /// from the hold's response. The poll interval bounds the resolution to about 5 ms.
    async fn probe_staleness(&mut self, seats: &[SeatIndex]) -> Result<(), CallError> {
        let client = self.context.client.clone();
        let event = self.context.event;
        let started = Instant::now();
        loop {
            let bitmap = client.availability(event).await?;
            if seats.iter().all(|seat| bitmap.is_unavailable(*seat)) {
                self.result.bitmap_staleness = Some(started.elapsed());
                return Ok(());
            }
            if started.elapsed() >= STALENESS_LIMIT {
                self.result.staleness_missed = true;
                return Ok(());
            }
            tokio::time::sleep(STALENESS_POLL_INTERVAL).await;
        }
    }

    async fn confirm(
        &mut self,
        session: &FanSession,
        token: &str,
        hold: &HoldResponse,
        card: &str,
    ) -> Result<OrderView, CallError> {
        let client = self.context.client.clone();
        let event = self.context.event;
        let checkout =
            ConfirmRequest { email: format!("fan-{}@example.com", session.fan_id), card_number: card.to_owned() };
        self.retried(Operation::Confirm, || client.confirm(event, &session.session, token, hold.hold_id, &checkout))
            .await
    }

    fn record_order(&mut self, order: &OrderView) {
        self.result.order = Some(order.order_id);
        self.result.tickets.extend(order.tickets.iter().map(|ticket| (ticket.seat, order.order_id)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draw(abandon: f64, decline: f64, fans: usize) -> Vec<Checkout> {
        let mut rng = StdRng::seed_from_u64(11);
        (0..fans).map(|_| Checkout::choose(&mut rng, abandon, decline)).collect()
    }

    #[test]
    fn checkout_follows_the_shares() {
        let checkouts = draw(0.15, 0.05, 20_000);
        let share = |kind: Checkout| checkouts.iter().filter(|c| **c == kind).count() as f64 / checkouts.len() as f64;
        assert!((share(Checkout::AbandonAndRelease) - 0.075).abs() < 0.01);
        assert!((share(Checkout::AbandonToExpire) - 0.075).abs() < 0.01);
        assert!((share(Checkout::DeclineThenPay) - 0.05).abs() < 0.01);
        assert!((share(Checkout::Pay) - 0.80).abs() < 0.015);
    }

    #[test]
    fn checkout_with_zero_shares_always_pays() {
        assert!(draw(0.0, 0.0, 1000).iter().all(|c| *c == Checkout::Pay));
    }

    #[test]
    fn checkout_with_full_abandon_never_pays() {
        let checkouts = draw(1.0, 0.0, 1000);
        assert!(checkouts.iter().all(|c| matches!(c, Checkout::AbandonAndRelease | Checkout::AbandonToExpire)));
    }
}
