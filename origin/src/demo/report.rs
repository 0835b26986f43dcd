//! The demo's report: what the fans saw, added up, next to the operator figures, with the checks
//! that decide the exit code. Printed as a short table, or as JSON with `--json`.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

use chrono::{DateTime, Utc};

use onsale_shared::api::EventStats;
use onsale_shared::{EventId, OrderId, SeatIndex};

use super::client::Operation;
use super::fan::{FanOutcome, FanResult};

/// Latencies of one kind of request, in microseconds, with 3 significant digits.
#[derive(Debug, Clone)]
pub struct Latency {
    histogram: Histogram<u64>,
}

impl Default for Latency {
    fn default() -> Self {
        // 1 µs to 1 hour covers every request the demo can time, and `saturating_record`
        // clamps anything outside.
        let histogram = Histogram::new_with_bounds(1, 3_600_000_000, 3)
            .unwrap_or_else(|_| unreachable!("the bounds are valid constants"));
        Self { histogram }
    }
}

impl Latency {
    pub fn record(&mut self, elapsed: Duration) {
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        self.histogram.saturating_record(micros.max(1));
    }

    pub fn count(&self) -> u64 {
        self.histogram.len()
    }

    /// Returns the latency at `quantile` (0.5 for p50) in milliseconds, or 0 without samples.
    pub fn quantile_ms(&self, quantile: f64) -> f64 {
        if self.histogram.is_empty() {
            return 0.0;
        }
        self.histogram.value_at_quantile(quantile) as f64 / 1000.0
    }

    pub fn summary(&self) -> LatencySummary {
        LatencySummary {
            count: self.count(),
            p50_ms: round_ms(self.quantile_ms(0.5)),
            p90_ms: round_ms(self.quantile_ms(0.9)),
            p99_ms: round_ms(self.quantile_ms(0.99)),
            max_ms: round_ms(if self.histogram.is_empty() { 0.0 } else { self.histogram.max() as f64 / 1000.0 }),
        }
    }
}

fn round_ms(ms: f64) -> f64 {
    (ms * 10.0).round() / 10.0
}

/// Latency summaries of the timed requests.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Latencies {
    /// Every join request that got a response.
    pub join: LatencySummary,
    /// From the join request to the admission token in hand, socket or polling.
    pub queue_wait: LatencySummary,
    /// Every hold request that got a response, `seat_unavailable` included.
    pub hold: LatencySummary,
    /// Every confirm request that got a response, declined cards included.
    pub confirm: LatencySummary,
    /// Queue status requests over HTTP (the load test's status probe).
    pub status: LatencySummary,
    /// From a hold's response to its seats showing as taken on the bitmap route (the load
    /// test's staleness probe, read every 5 ms).
    pub bitmap_staleness: LatencySummary,
}

impl Latencies {
    /// Returns the rows to print: the request kinds that were timed at least once.
    pub fn rows(&self) -> Vec<(&'static str, LatencySummary)> {
        [
            ("join", self.join),
            ("status", self.status),
            ("queue wait", self.queue_wait),
            ("hold", self.hold),
            ("bitmap staleness", self.bitmap_staleness),
            ("confirm", self.confirm),
        ]
        .into_iter()
        .filter(|(_, summary)| summary.count > 0)
        .collect()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct LatencySummary {
    pub count: u64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

/// The fans' results, added up as they finish.
#[derive(Debug, Default)]
pub struct Tally {
    pub fans: u64,
    pub admitted: u64,
    pub holds_created: u64,
    pub holds_released: u64,
    pub holds_left_to_expire: u64,
    /// Latest expiry among the holds left to expire.
    pub latest_expiry: Option<DateTime<Utc>>,
    pub seat_unavailable: u64,
    pub orders: u64,
    pub tickets: Vec<(SeatIndex, OrderId)>,
    pub outcomes: BTreeMap<&'static str, u64>,
    pub socket_fallbacks: u64,
    pub join: Latency,
    pub queue_wait: Latency,
    pub hold: Latency,
    pub confirm: Latency,
    pub status: Latency,
    pub bitmap_staleness: Latency,
    /// Staleness probes whose seats did not show on the bitmap within the probe's limit.
    pub staleness_missed: u64,
    /// Each hold response's time since the sale started, with the hold's latency.
    pub hold_timeline: Vec<(Duration, Duration)>,
    pub errors: BTreeMap<String, u64>,
}

impl Tally {
    pub fn add(&mut self, result: FanResult) {
        self.fans += 1;
        self.admitted += u64::from(result.admitted);
        self.holds_created += result.holds_created;
        self.holds_released += result.holds_released;
        if let Some(expiry) = result.left_to_expire {
            self.holds_left_to_expire += 1;
            self.latest_expiry = self.latest_expiry.max(Some(expiry));
        }
        self.seat_unavailable += result.seat_unavailable;
        self.orders += u64::from(result.order.is_some());
        self.tickets.extend(result.tickets);
        *self.outcomes.entry(outcome_name(result.outcome)).or_default() += 1;
        self.socket_fallbacks += u64::from(result.socket_fallback);
        if let Some(elapsed) = result.queue_wait {
            self.queue_wait.record(elapsed);
        }
        if let Some(elapsed) = result.bitmap_staleness {
            self.bitmap_staleness.record(elapsed);
        }
        self.staleness_missed += u64::from(result.staleness_missed);
        self.hold_timeline.extend(result.hold_timeline);
        for (operation, elapsed) in result.latencies {
            match operation {
                Operation::Join => self.join.record(elapsed),
                Operation::Hold => self.hold.record(elapsed),
                Operation::Confirm => self.confirm.record(elapsed),
                Operation::QueueStatus => self.status.record(elapsed),
                _ => {}
            }
        }
        for error in result.errors {
            *self.errors.entry(error).or_default() += 1;
        }
    }

    /// Counts a fan whose task panicked, which is a bug in the demo itself.
    pub fn add_crashed(&mut self) {
        self.fans += 1;
        *self.outcomes.entry("failed").or_default() += 1;
        *self.errors.entry("demo: fan task panicked".to_owned()).or_default() += 1;
    }

    pub fn seats_sold(&self) -> u64 {
        self.tickets.len() as u64
    }

    fn outcome(&self, name: &str) -> u64 {
        self.outcomes.get(name).copied().unwrap_or(0)
    }

    /// Builds the report of the fans' side. [`Report::apply_stats`] adds the operator figures.
    pub fn report(&self, event_id: EventId, event_name: &str, sale: Duration, elapsed: Duration) -> Report {
        let latency = Latencies {
            join: self.join.summary(),
            queue_wait: self.queue_wait.summary(),
            hold: self.hold.summary(),
            confirm: self.confirm.summary(),
            status: self.status.summary(),
            bitmap_staleness: self.bitmap_staleness.summary(),
        };
        Report {
            event_id,
            event_name: event_name.to_owned(),
            sale_seconds: round_ms(sale.as_secs_f64()),
            elapsed_seconds: round_ms(elapsed.as_secs_f64()),
            fans: self.fans,
            admitted: self.admitted,
            holds_created: self.holds_created,
            orders: self.orders,
            seats_sold: self.seats_sold(),
            holds_released: self.holds_released,
            holds_left_to_expire: self.holds_left_to_expire,
            holds_expired: None,
            tickets_emailed: None,
            seats_sold_for_event: None,
            sold_marking_pending: None,
            oversold: Oversold {
                seats_in_two_orders: seats_in_two_orders(&self.tickets).len() as u64,
                ..Oversold::default()
            },
            seat_unavailable_retries: self.seat_unavailable,
            gave_up: self.outcome("gave up"),
            no_seats_found: self.outcome("no seats found"),
            sold_out: self.outcome("sold out"),
            joined_only: self.outcome("joined only"),
            failed: self.outcome("failed"),
            timed_out: self.outcome("timed out"),
            socket_fallbacks: self.socket_fallbacks,
            latency,
            errors: self.errors.clone(),
            failures: Vec::new(),
        }
    }
}

fn outcome_name(outcome: FanOutcome) -> &'static str {
    match outcome {
        FanOutcome::Bought => "bought",
        FanOutcome::Abandoned => "abandoned",
        FanOutcome::GaveUp => "gave up",
        FanOutcome::NoSeatsFound => "no seats found",
        FanOutcome::SoldOut => "sold out",
        FanOutcome::JoinedOnly => "joined only",
        FanOutcome::Failed => "failed",
        FanOutcome::TimedOut => "timed out",
    }
}

/// Seats that appear in two different orders. Returns each such seat with the orders that
/// contain it, in seat order.
pub fn seats_in_two_orders(tickets: &[(SeatIndex, OrderId)]) -> Vec<(SeatIndex, Vec<OrderId>)> {
    let mut orders_by_seat: HashMap<SeatIndex, Vec<OrderId>> = HashMap::new();
    for (seat, order) in tickets {
        let orders = orders_by_seat.entry(*seat).or_default();
        if !orders.contains(order) {
            orders.push(*order);
        }
    }
    let mut twice: Vec<(SeatIndex, Vec<OrderId>)> =
        orders_by_seat.into_iter().filter(|(_, orders)| orders.len() > 1).collect();
    twice.sort_by_key(|(seat, _)| *seat);
    twice
}

/// The three oversell signals. Each must be 0.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Oversold {
    /// Seats in two different orders among the order views that the fans received.
    pub seats_in_two_orders: u64,
    /// Seats with more than one sale in OrderDB (operator figures).
    pub seats_sold_twice: u64,
    /// Seats sold in OrderDB that the hold store does not show as sold (operator figures).
    pub sold_not_marked: u64,
}

impl Oversold {
    pub fn total(&self) -> u64 {
        self.seats_in_two_orders + self.seats_sold_twice + self.sold_not_marked
    }
}

/// Everything the demo prints.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub event_id: EventId,
    pub event_name: String,
    /// From the first fan's start to the last fan's finish.
    pub sale_seconds: f64,
    /// The whole run, waits for emails and expiries included.
    pub elapsed_seconds: f64,
    pub fans: u64,
    /// Fans who received an admission token.
    pub admitted: u64,
    /// Holds the origin created (201 responses).
    pub holds_created: u64,
    pub orders: u64,
    pub seats_sold: u64,
    /// Holds the fans released with `DELETE`.
    pub holds_released: u64,
    /// Holds the fans walked away from, to expire.
    pub holds_left_to_expire: u64,
    /// Holds that expired during this run (operator figures, `holds_expired`).
    pub holds_expired: Option<u64>,
    /// Ticket emails written for the event (operator figures, `tickets_emailed`).
    pub tickets_emailed: Option<u64>,
    /// Seats sold for the event in OrderDB (operator figures, `seats_sold`), earlier runs included.
    pub seats_sold_for_event: Option<u64>,
    /// Sold seats the hold store still showed held at the end (operator figures): their marking
    /// as sold failed and the expiry worker had not repaired it yet.
    pub sold_marking_pending: Option<u64>,
    pub oversold: Oversold,
    /// `seat_unavailable` responses to holds, each followed by a new pick.
    pub seat_unavailable_retries: u64,
    /// Fans who got `seat_unavailable` on every try and gave up.
    pub gave_up: u64,
    /// Fans who found no row with enough adjacent free seats.
    pub no_seats_found: u64,
    /// Fans whose queue reported the event sold out.
    pub sold_out: u64,
    /// Fans who only joined the queue (the load test's --join-only).
    pub joined_only: u64,
    /// Fans whose script stopped on an unexpected response (counted under `errors`).
    pub failed: u64,
    /// Fans who did not finish within `--timeout`.
    pub timed_out: u64,
    /// Fans whose queue socket closed or failed before admission and who polled instead.
    pub socket_fallbacks: u64,
    pub latency: Latencies,
    /// Unexpected responses, keyed by "operation: code", retried ones included.
    pub errors: BTreeMap<String, u64>,
    /// Reasons the run failed, empty when every check passed.
    pub failures: Vec<String>,
}

impl Report {
    /// Fills in [`Report::failures`]: an oversell, emails that do not match the seats sold, or
    /// operator figures that could not be read.
    pub fn check(&mut self) {
        let mut failures = Vec::new();
        if self.oversold.total() > 0 {
            failures.push(format!(
                "oversold {} seats ({} in two orders, {} sold twice, {} sold but free in the hold store)",
                self.oversold.total(),
                self.oversold.seats_in_two_orders,
                self.oversold.seats_sold_twice,
                self.oversold.sold_not_marked
            ));
        }
        match (self.tickets_emailed, self.seats_sold_for_event) {
            (Some(emailed), Some(sold)) if emailed != sold => {
                failures.push(format!("{emailed} ticket emails written for {sold} seats sold"))
            }
            (Some(_), Some(_)) => {}
            _ => failures
                .push("the operator figures could not be read, so emails and oversells are unchecked".to_owned()),
        }
        if let Some(pending) = self.sold_marking_pending.filter(|pending| *pending > 0) {
            failures.push(format!(
                "{pending} sold seats were still held, not marked sold, in the hold store when the run ended"
            ));
        }
        self.failures = failures;
    }

    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }

    /// Copies the operator figures, given the holds expired before the run started.
    pub fn apply_stats(&mut self, stats: &EventStats, holds_expired_before: u64) {
        self.holds_expired = Some(stats.holds_expired.saturating_sub(holds_expired_before));
        self.tickets_emailed = Some(stats.tickets_emailed);
        self.seats_sold_for_event = Some(stats.seats_sold);
        self.sold_marking_pending = Some(stats.sold_marking_pending);
        self.oversold.seats_sold_twice = stats.seats_sold_twice;
        self.oversold.sold_not_marked = stats.sold_not_marked;
    }

    /// Renders the report as a plain-text table.
    pub fn to_table(&self) -> String {
        let figure = |value: Option<u64>| value.map_or_else(|| "unknown".to_owned(), |v| v.to_string());
        let mut rows: Vec<(&str, String)> = vec![
            ("fans", self.fans.to_string()),
            ("admitted", self.admitted.to_string()),
            ("holds created", self.holds_created.to_string()),
            ("sold", format!("{} seats in {} orders", self.seats_sold, self.orders)),
            ("released", self.holds_released.to_string()),
            ("left to expire", self.holds_left_to_expire.to_string()),
            ("expired (stats)", figure(self.holds_expired)),
            (
                "emails written (stats)",
                format!("{} for {} seats sold", figure(self.tickets_emailed), figure(self.seats_sold_for_event)),
            ),
            (
                "oversold",
                format!(
                    "{} ({} in two orders, {} sold twice, {} sold but free in the hold store)",
                    self.oversold.total(),
                    self.oversold.seats_in_two_orders,
                    self.oversold.seats_sold_twice,
                    self.oversold.sold_not_marked
                ),
            ),
            ("seat_unavailable retries", self.seat_unavailable_retries.to_string()),
        ];
        if let Some(pending) = self.sold_marking_pending.filter(|pending| *pending > 0) {
            rows.push(("sold, marking pending", pending.to_string()));
        }
        let outcomes = [
            ("gave up", self.gave_up),
            ("no seats found", self.no_seats_found),
            ("sold out", self.sold_out),
            ("joined only", self.joined_only),
            ("failed", self.failed),
            ("timed out", self.timed_out),
            ("socket fallbacks", self.socket_fallbacks),
        ];
        rows.extend(
            outcomes.into_iter().filter(|(_, count)| *count > 0).map(|(name, count)| (name, count.to_string())),
        );

        let mut out = String::new();
        let _ = writeln!(
            out,
            "onsale demo: event {} ({}): sale {:.1} s, whole run {:.1} s",
            self.event_id, self.event_name, self.sale_seconds, self.elapsed_seconds
        );
        let _ = writeln!(out);
        for (name, value) in &rows {
            let _ = writeln!(out, "{name:<26}{value}");
        }
        let _ = writeln!(out);
        let _ =
            writeln!(out, "{:<26}{:>8}{:>10}{:>10}{:>10}{:>10}", "latency (ms)", "count", "p50", "p90", "p99", "max");
        for (name, summary) in self.latency.rows() {
            let _ = writeln!(
                out,
                "{name:<26}{:>8}{:>10.1}{:>10.1}{:>10.1}{:>10.1}",
                summary.count, summary.p50_ms, summary.p90_ms, summary.p99_ms, summary.max_ms
            );
        }
        if !self.errors.is_empty() {
            let _ = writeln!(out);
            let _ = writeln!(out, "unexpected responses");
            for (key, count) in &self.errors {
                let _ = writeln!(out, "  {key:<40}{count:>8}");
            }
        }
        let _ = writeln!(out);
        if self.passed() {
            let _ = writeln!(out, "result: PASS");
        } else {
            for failure in &self.failures {
                let _ = writeln!(out, "result: FAIL: {failure}");
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> Report {
        let mut join = Latency::default();
        for ms in 1..=100u64 {
            join.record(Duration::from_millis(ms));
        }
        let none = Latency::default().summary();
        Report {
            event_id: EventId::new(7).unwrap(),
            event_name: "The Eras Tour | MetLife Stadium".into(),
            sale_seconds: 10.0,
            elapsed_seconds: 12.34,
            fans: 100,
            admitted: 100,
            holds_created: 98,
            orders: 80,
            seats_sold: 200,
            holds_released: 8,
            holds_left_to_expire: 7,
            holds_expired: Some(7),
            tickets_emailed: Some(200),
            seats_sold_for_event: Some(200),
            sold_marking_pending: Some(0),
            oversold: Oversold::default(),
            seat_unavailable_retries: 3,
            gave_up: 0,
            no_seats_found: 0,
            sold_out: 0,
            joined_only: 0,
            failed: 2,
            timed_out: 0,
            socket_fallbacks: 0,
            latency: Latencies {
                join: join.summary(),
                queue_wait: none,
                hold: none,
                confirm: none,
                status: none,
                bitmap_staleness: none,
            },
            errors: BTreeMap::from([("confirm: internal_error".to_owned(), 2)]),
            failures: Vec::new(),
        }
    }

    #[test]
    fn latency_percentiles_are_in_milliseconds() {
        let mut latency = Latency::default();
        for ms in 1..=1000u64 {
            latency.record(Duration::from_millis(ms));
        }
        assert_eq!(latency.count(), 1000);
        // 3 significant digits: within 0.1% of the exact value.
        assert!((latency.quantile_ms(0.5) - 500.0).abs() <= 0.5, "p50 {}", latency.quantile_ms(0.5));
        assert!((latency.quantile_ms(0.99) - 990.0).abs() <= 1.0, "p99 {}", latency.quantile_ms(0.99));
        assert!((latency.summary().max_ms - 1000.0).abs() <= 1.0);
    }

    #[test]
    fn empty_latency_reads_zero() {
        let latency = Latency::default();
        assert_eq!(latency.summary(), LatencySummary { count: 0, p50_ms: 0.0, p90_ms: 0.0, p99_ms: 0.0, max_ms: 0.0 });
    }

    #[test]
    fn sub_millisecond_latency_is_kept() {
        let mut latency = Latency::default();
        latency.record(Duration::from_micros(250));
        assert_eq!(latency.quantile_ms(0.5), 0.25);
    }

    #[test]
    fn seat_in_two_orders_is_found() {
        let (a, b) = (OrderId::random(), OrderId::random());
        let seat = |i| SeatIndex::new(i).unwrap();
        let tickets = vec![(seat(1), a), (seat(2), a), (seat(2), b), (seat(3), b), (seat(3), b)];
        let twice = seats_in_two_orders(&tickets);
        assert_eq!(twice.len(), 1, "{twice:?}");
        assert_eq!(twice[0].0, seat(2));
        assert_eq!(twice[0].1.len(), 2);
    }

    #[test]
    fn table_lists_figures_and_verdict() {
        let mut report = report();
        report.check();
        let table = report.to_table();
        assert!(
            table.starts_with("onsale demo: event 7 (The Eras Tour | MetLife Stadium): sale 10.0 s, whole run 12.3 s"),
            "{table}"
        );
        assert!(table.contains("sold                      200 seats in 80 orders"), "{table}");
        assert!(table.contains("emails written (stats)    200 for 200 seats sold"), "{table}");
        assert!(table.contains("oversold                  0 ("), "{table}");
        assert!(table.contains("failed                    2"), "{table}");
        assert!(!table.contains("gave up"), "zero outcomes are left out: {table}");
        assert!(table.contains("confirm: internal_error"), "{table}");
        assert!(table.lines().any(|line| line.starts_with("join") && line.contains("50.")), "{table}");
        assert!(table.trim_end().ends_with("result: PASS"), "{table}");
    }

    #[test]
    fn check_fails_on_oversell_and_missing_emails() {
        let mut report = report();
        report.oversold.seats_sold_twice = 1;
        report.tickets_emailed = Some(190);
        report.check();
        assert!(!report.passed());
        assert_eq!(report.failures.len(), 2, "{:?}", report.failures);
        assert!(report.to_table().contains("result: FAIL: 190 ticket emails written for 200 seats sold"));
    }

    #[test]
    fn check_fails_without_operator_figures() {
        let mut report = report();
        report.tickets_emailed = None;
        report.check();
        assert!(!report.passed());
    }

    #[test]
    fn tally_adds_up_fans() {
        let seat = |i| SeatIndex::new(i).unwrap();
        let (first, second) = (OrderId::random(), OrderId::random());
        let bought = |order: OrderId, seats: &[u32]| FanResult {
            outcome: FanOutcome::Bought,
            admitted: true,
            holds_created: 1,
            order: Some(order),
            tickets: seats.iter().map(|&i| (seat(i), order)).collect(),
            latencies: vec![(Operation::Join, Duration::from_millis(2)), (Operation::Hold, Duration::from_millis(3))],
            ..FanResult::default()
        };
        let walked_away = FanResult {
            outcome: FanOutcome::Abandoned,
            admitted: true,
            holds_created: 1,
            left_to_expire: Some(DateTime::from_timestamp(1_700_000_000, 0).unwrap()),
            seat_unavailable: 2,
            errors: vec!["hold: service_unavailable".to_owned()],
            ..FanResult::default()
        };

        let mut tally = Tally::default();
        tally.add(bought(first, &[1, 2]));
        tally.add(bought(second, &[2, 3, 4]));
        tally.add(walked_away);
        tally.add_crashed();
        let report = tally.report(EventId::new(3).unwrap(), "test", Duration::from_secs(1), Duration::from_secs(2));

        assert_eq!(report.fans, 4);
        assert_eq!(report.admitted, 3);
        assert_eq!(report.holds_created, 3);
        assert_eq!((report.orders, report.seats_sold), (2, 5));
        assert_eq!(report.holds_left_to_expire, 1);
        assert_eq!(report.seat_unavailable_retries, 2);
        assert_eq!(report.failed, 1);
        assert_eq!(report.oversold.seats_in_two_orders, 1, "seat 2 is in both orders");
        assert_eq!(report.latency.join.count, 2);
        assert_eq!(report.latency.hold.count, 2);
        assert_eq!(report.latency.confirm.count, 0);
        assert_eq!(report.errors.get("hold: service_unavailable"), Some(&1));
        assert_eq!(report.errors.get("demo: fan task panicked"), Some(&1));
    }

    #[test]
    fn json_has_the_figures() {
        let json = serde_json::to_value(report()).unwrap();
        assert_eq!(json["seats_sold"], 200);
        assert_eq!(json["oversold"]["seats_sold_twice"], 0);
        assert_eq!(json["latency"]["join"]["count"], 100);
        assert_eq!(json["errors"]["confirm: internal_error"], 2);
    }
}
