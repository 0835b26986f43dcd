//! The open-loop hold test: holds sent on a fixed schedule at a set rate, whatever the
//! platform's latency. A platform that falls behind therefore shows it as latency, not as a lower
//! send rate. A closed loop, where each sender waits for its last response, would hide that.
//!
//! A pool of admitted fans takes turns: each hold is of 4 seats (or the event's limit) that
//! belong to that fan alone, so no hold meets a taken seat, and the fan releases it right after
//! the answer, ready for its next turn. Every hold thus runs the full hold path: HTTP, token
//! verification, the nonce, the Lua hold of every seat and the publish of the seat changes.
//! The releases go over the same platform and are timed apart.
//!
//! Latency is timed from the hold's planned send time, so a send that started late, because
//! every fan of the pool was still busy, counts its wait as latency. The lag of the sends
//! against the plan is reported too, and says whether the pool or the generator was the limit.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde::Serialize;
use tokio::sync::{Mutex, mpsc};

use onsale_shared::EventId;
use onsale_shared::SeatIndex;
use onsale_shared::api::{QueueAction, QueueControl, QueueStatus};

use crate::demo::client::{ApiClient, CallError};
use crate::demo::report::{Latency, LatencySummary};
use crate::demo::seats::SeatPicker;

/// Admission rate set while the pool joins, so it is admitted within seconds.
const POOL_ADMISSION_RATE: u32 = 20_000;
/// Time between two queue status reads of a pool fan waiting for admission.
const POOL_POLL_INTERVAL: Duration = Duration::from_millis(200);

/// Figures of one rate step of the test.
#[derive(Debug, Clone, Serialize)]
pub struct HoldRateStep {
    /// Holds per second the schedule asked for.
    pub target_per_second: u32,
    /// Successful holds per second, over the step from its start to the last response.
    pub achieved_per_second: f64,
    pub sent: u64,
    pub held: u64,
    /// Holds that returned an error.
    pub failed: u64,
    /// From planned send time to the hold's response.
    pub hold_latency: LatencySummary,
    /// Of the releases that followed the holds.
    pub release_latency: LatencySummary,
    /// How late each hold left against its planned time.
    pub send_lag: LatencySummary,
    /// Seats per hold.
    pub seats_per_hold: usize,
}

/// The settings of one open-loop hold test.
#[derive(Debug, Clone)]
pub struct HoldTestPlan {
    pub rates: Vec<u32>,
    pub step: Duration,
    pub pool: usize,
    pub seats_per_hold: usize,
}

/// A fan of the pool: its session, its admission token and the seats it holds on every turn.
struct PoolFan {
    session: String,
    token: String,
    seats: Vec<SeatIndex>,
}

/// Figures of one step, added up by the senders.
#[derive(Default)]
struct StepTally {
    held: u64,
    failed: u64,
    hold: Latency,
    release: Latency,
    lag: Latency,
    last_answer: Option<Instant>,
    codes: Vec<String>,
}

/// Runs the test on `event`, one step per rate, and returns each step's figures.
pub async fn run(
    client: &ApiClient,
    event: EventId,
    picker: &SeatPicker,
    plan: &HoldTestPlan,
) -> anyhow::Result<Vec<HoldRateStep>> {
    anyhow::ensure!(!plan.rates.is_empty(), "no hold rates to run");
    anyhow::ensure!(plan.pool > 0, "the hold test needs a pool of at least one fan");
    let bitmap = client.availability(event).await.context("reading the bitmap failed")?;
    let mut rng = StdRng::from_entropy();
    let mut assigned: HashSet<SeatIndex> = HashSet::new();
    let mut seat_groups = Vec::with_capacity(plan.pool);
    for fan in 0..plan.pool {
        let seats = picker.pick(&bitmap, plan.seats_per_hold, &assigned, &mut rng).with_context(|| {
            format!("only {fan} groups of {} free adjacent seats for a pool of {}", plan.seats_per_hold, plan.pool)
        })?;
        assigned.extend(seats.iter().copied());
        seat_groups.push(seats);
    }

    let open = QueueControl { action: QueueAction::Open, rate_per_second: Some(POOL_ADMISSION_RATE) };
    client.control_queue(event, &open).await.context("opening the queue failed")?;
    let pool = admit_pool(client, event, seat_groups).await?;
    tracing::info!(event.id = %event, pool = pool.len(), "hold test pool admitted");

    let (idle_tx, idle_rx) = mpsc::unbounded_channel::<PoolFan>();
    for fan in pool {
        let _ = idle_tx.send(fan);
    }
    let idle_rx = Arc::new(Mutex::new(idle_rx));
    let mut steps = Vec::with_capacity(plan.rates.len());
    for &rate in &plan.rates {
        steps.push(run_step(client, event, rate, plan, &idle_tx, &idle_rx).await);
    }
    Ok(steps)
}

/// Joins the pool's fans and waits until each is admitted.
async fn admit_pool(
    client: &ApiClient,
    event: EventId,
    seat_groups: Vec<Vec<SeatIndex>>,
) -> anyhow::Result<Vec<PoolFan>> {
    let joins = seat_groups.into_iter().map(|seats| {
        let client = client.clone();
        async move {
            let session = client.create_fan().await?.session;
            let mut status = client.join(event, &session).await?;
            let deadline = Instant::now() + Duration::from_secs(120);
            loop {
                match status {
                    QueueStatus::Admitted { token, .. } => return Ok(PoolFan { session, token, seats }),
                    QueueStatus::SoldOut | QueueStatus::NotQueued => {
                        anyhow::bail!("a pool fan was not admitted: the queue returned {status:?}")
                    }
                    _ if Instant::now() > deadline => anyhow::bail!("a pool fan waited over 120 s for admission"),
                    _ => {}
                }
                tokio::time::sleep(POOL_POLL_INTERVAL).await;
                status = client.queue_status(event, &session).await?;
            }
        }
    });
    let mut pool = Vec::new();
    // Joining in chunks keeps the platform's queue path from being the test's first spike.
    let joins: Vec<_> = joins.collect();
    let mut joins = joins.into_iter();
    loop {
        let chunk: Vec<_> = joins.by_ref().take(500).collect();
        if chunk.is_empty() {
            break;
        }
        for fan in futures::future::join_all(chunk).await {
            pool.push(fan.map_err(|err: anyhow::Error| err.context("admitting the hold test pool failed"))?);
        }
    }
    Ok(pool)
}

/// Sends holds at `rate` for the plan's step length, then waits for the last responses.
async fn run_step(
    client: &ApiClient,
    event: EventId,
    rate: u32,
    plan: &HoldTestPlan,
    idle_tx: &mpsc::UnboundedSender<PoolFan>,
    idle_rx: &Arc<Mutex<mpsc::UnboundedReceiver<PoolFan>>>,
) -> HoldRateStep {
    let total = (f64::from(rate) * plan.step.as_secs_f64()).round() as u64;
    let interval = Duration::from_secs_f64(1.0 / f64::from(rate.max(1)));
    let tally = Arc::new(std::sync::Mutex::new(StepTally::default()));
    let started = Instant::now();
    let mut senders = Vec::with_capacity(total as usize);
    for number in 0..total {
        let planned = started + interval.mul_f64(number as f64);
        tokio::time::sleep_until(planned.into()).await;
        let (client, idle_tx, idle_rx, tally) =
            (client.clone(), idle_tx.clone(), Arc::clone(idle_rx), Arc::clone(&tally));
        senders.push(tokio::spawn(async move {
            let fan = idle_rx.lock().await.recv().await;
            let Some(fan) = fan else { return };
            let sent = Instant::now();
            let hold_result = client.hold(event, &fan.session, &fan.token, fan.seats.clone()).await;
            let answered = Instant::now();
            let released = match &hold_result {
                Ok(hold) => {
                    let release_started = Instant::now();
                    let result = client.release(event, &fan.session, &fan.token, hold.hold_id).await;
                    Some((release_started.elapsed(), result))
                }
                Err(_) => None,
            };
            let mut tally = tally.lock().unwrap_or_else(|e| e.into_inner());
            tally.lag.record(sent.duration_since(planned));
            tally.last_answer = Some(tally.last_answer.map_or(answered, |last| last.max(answered)));
            match hold_result {
                Ok(_) => {
                    tally.held += 1;
                    tally.hold.record(answered.duration_since(planned));
                }
                Err(err) => {
                    tally.failed += 1;
                    tally.codes.push(code_of(&err));
                }
            }
            if let Some((elapsed, result)) = released {
                tally.release.record(elapsed);
                if let Err(err) = result {
                    tally.codes.push(format!("release: {}", code_of(&err)));
                }
            }
            drop(tally);
            let _ = idle_tx.send(fan);
        }));
    }
    for sender in senders {
        let _ = sender.await;
    }
    let tally = tally.lock().unwrap_or_else(|e| e.into_inner());
    if !tally.codes.is_empty() {
        tracing::warn!(rate, errors = tally.codes.len(), first = %tally.codes[0], "holds or releases failed");
    }
    let span = tally.last_answer.map_or(plan.step, |last| last.duration_since(started));
    HoldRateStep {
        target_per_second: rate,
        achieved_per_second: tally.held as f64 / span.as_secs_f64().max(1e-9),
        sent: total,
        held: tally.held,
        failed: tally.failed,
        hold_latency: tally.hold.summary(),
        release_latency: tally.release.summary(),
        send_lag: tally.lag.summary(),
        seats_per_hold: plan.seats_per_hold,
    }
}

fn code_of(err: &CallError) -> String {
    format!("{}: {}", err.operation(), err.code())
}

/// Renders the steps as a table.
pub fn to_table(steps: &[HoldRateStep]) -> String {
    use std::fmt::Write as _;
    let mut out = String::from("open-loop holds (latency from the planned send time)\n");
    let _ = writeln!(
        out,
        "{:>8} {:>10} {:>8} {:>7} {:>9} {:>9} {:>9} {:>9} {:>11} {:>11}",
        "target/s", "achieved/s", "held", "failed", "p50 ms", "p90 ms", "p99 ms", "max ms", "lag p99 ms", "release p99"
    );
    for step in steps {
        let _ = writeln!(
            out,
            "{:>8} {:>10.0} {:>8} {:>7} {:>9.2} {:>9.2} {:>9.2} {:>9.2} {:>11.2} {:>11.2}",
            step.target_per_second,
            step.achieved_per_second,
            step.held,
            step.failed,
            step.hold_latency.p50_ms,
            step.hold_latency.p90_ms,
            step.hold_latency.p99_ms,
            step.hold_latency.max_ms,
            step.send_lag.p99_ms,
            step.release_latency.p99_ms
        );
    }
    out
}

/// The rates of `--hold-rates`, in holds per second.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HoldRates(pub Vec<u32>);

/// Parses `--hold-rates`: comma-separated holds per second, each at least 1.
pub fn parse_rates(value: &str) -> Result<HoldRates, String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|part| !part.is_empty())
        .map(|part| match part.parse::<u32>() {
            Ok(rate) if rate >= 1 => Ok(rate),
            _ => Err(format!("invalid hold rate {part:?}: expected a whole number of holds a second, at least 1")),
        })
        .collect::<Result<Vec<_>, _>>()
        .and_then(|rates| if rates.is_empty() { Err("no hold rate given".to_owned()) } else { Ok(HoldRates(rates)) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_parse_and_reject_bad_values() {
        assert_eq!(parse_rates("500, 1000,5000").unwrap(), HoldRates(vec![500, 1000, 5000]));
        assert!(parse_rates("0").unwrap_err().contains("\"0\""));
        assert!(parse_rates("fast").unwrap_err().contains("\"fast\""));
        assert!(parse_rates("").is_err());
    }

    #[test]
    fn table_has_a_row_per_step() {
        let summary = LatencySummary { count: 1, p50_ms: 0.5, p90_ms: 0.8, p99_ms: 1.25, max_ms: 3.0 };
        let step = HoldRateStep {
            target_per_second: 5000,
            achieved_per_second: 4321.0,
            sent: 50_000,
            held: 49_990,
            failed: 10,
            hold_latency: summary,
            release_latency: summary,
            send_lag: summary,
            seats_per_hold: 4,
        };
        let table = to_table(&[step.clone(), HoldRateStep { target_per_second: 500, ..step }]);
        assert_eq!(table.lines().count(), 4, "{table}");
        assert!(table.contains("5000       4321"), "{table}");
        assert!(table.contains("1.25"), "{table}");
    }
}
