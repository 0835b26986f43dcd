//! Expiry worker: finds holds whose TTL has passed, frees their seats and publishes the
//! release. A Redis key that expires on its own tells nobody, so the hold store keeps an index
//! of holds by expiry time, which this worker walks a few times a second.
//!
//! Before freeing a hold's seats it asks OrderDB whether the hold was ordered: if an order was
//! committed but marking its seats sold in Redis failed, the seats are marked sold instead.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use onsale_shared::{EventId, OrderId, SeatIndex};

use crate::db::SharedDatabase;
use crate::pipeline::{ChangeCause, SeatChangeMessage, SeatChangePublisher};
use crate::store::{ExpireOutcome, SharedStore};

/// Holds expired per event per pass.
const BATCH: usize = 1000;

#[derive(Clone)]
pub struct ExpiryWorker {
    store: SharedStore,
    db: SharedDatabase,
    publisher: SeatChangePublisher,
    pub interval: Duration,
}

/// What one pass did, for tests and logs.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PassReport {
    pub expired: u64,
    pub seats_freed: u64,
    pub repaired_orders: u64,
}

impl ExpiryWorker {
    pub fn new(store: SharedStore, db: SharedDatabase, publisher: SeatChangePublisher) -> Self {
        Self { store, db, publisher, interval: Duration::from_millis(250) }
    }

    pub async fn run(self, shutdown: CancellationToken) {
        tracing::info!(interval_ms = self.interval.as_millis() as u64, "expiry worker started");
        let mut tick = tokio::time::interval(self.interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut failures = 0u32;
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tick.tick() => {}
            }
            match self.pass().await {
                Ok(report) => {
                    failures = 0;
                    if report.expired > 0 {
                        tracing::debug!(
                            holds.expired = report.expired,
                            seats.freed = report.seats_freed,
                            "expired holds"
                        );
                    }
                }
                Err(err) => {
                    failures += 1;
                    if failures == 1 || failures.is_multiple_of(100) {
                        tracing::warn!(cause = format!("{err:#}"), failures, "expiry pass failed");
                    }
                }
            }
        }
        tracing::info!("expiry worker stopped");
    }

    /// One pass over every live event.
    pub async fn pass(&self) -> anyhow::Result<PassReport> {
        let mut report = PassReport::default();
        for event in self.store.active_events().await? {
            self.expire_event(event, &mut report).await?;
        }
        Ok(report)
    }

    async fn expire_event(&self, event: EventId, report: &mut PassReport) -> anyhow::Result<()> {
        let due = self.store.due_holds(event, BATCH).await?;
        if due.is_empty() {
            return Ok(());
        }
        let ordered = self.db.orders_of_holds(&due).await?;
        for hold in due {
            let Some(record) = self.store.hold_record(event, hold).await? else {
                // NOTE: a claimed hold's seat keys have no TTL, so if this worker reaches it only
                // after its record's grace (1 h) ran out, its seats stay held until an operator
                // frees them. Nothing frees them here, because the record listing them is gone.
                self.store.forget_hold(event, hold).await?;
                continue;
            };
            if let Some(order) = ordered.get(&hold) {
                let sold: Vec<(SeatIndex, OrderId)> = record.seats.iter().map(|seat| (*seat, *order)).collect();
                let versions = self.store.repair_sold(event, &sold).await?;
                self.publisher.publish(&SeatChangeMessage::new(event, ChangeCause::Sale, &versions));
                self.store.forget_hold(event, hold).await?;
                tracing::warn!(event.id = %event, hold.id = %hold, order.id = %order, "marked an ordered hold's seats sold");
                report.repaired_orders += 1;
                continue;
            }
            if let ExpireOutcome::Expired(versions) = self.store.expire(event, &record).await? {
                report.expired += 1;
                report.seats_freed += versions.len() as u64;
                self.publisher.publish(&SeatChangeMessage::new(event, ChangeCause::Expiry, &versions));
                tracing::debug!(event.id = %event, hold.id = %hold, seats = versions.len(), "hold expired");
            }
        }
        Ok(())
    }
}
