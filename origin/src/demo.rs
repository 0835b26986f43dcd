//! `onsale demo`: a scripted onsale driven over HTTP and WebSocket against a running platform.
//!
//! The demo finds a tour date through the search API (or takes `--event-id`), opens its queue
//! through the operator API, and lets `--fans` simulated fans loose on it, at most
//! `--concurrency` at a time. Each fan starts a session, joins the queue, waits on the queue
//! socket for its admission token, picks adjacent free seats from the availability bitmap, holds
//! them, and then pays, pays after a declined card, or walks away. After the sale the demo waits
//! until every sold ticket is emailed and, with `--wait-for-expiry`, until the abandoned holds
//! have expired. It then prints a report and exits non-zero if a seat was sold twice or the
//! emails do not match the seats sold.
//!
//! Layout:
//! - [`client`]: one method per API route, over one pooled `reqwest::Client`.
//! - [`fan`]: one fan's script and what it records.
//! - [`seats`]: picking adjacent free seats in one row from the seat map and the bitmap.
//! - [`report`]: the tally of all fans, latency percentiles, the checks and the printed table.
//!
//! Example, against `onsale up` on the default port:
//!
//! ```text
//! onsale demo --admin-token "$ONSALE_ADMIN_TOKEN" --fans 3000 --date 2023-05-26 --city "East Rutherford"
//! ```

pub mod client;
pub mod fan;
pub mod report;
pub mod seats;

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::NaiveDate;
use clap::builder::RangedU64ValueParser;
use futures::StreamExt;

use onsale_shared::EventId;
use onsale_shared::api::{EventDetail, EventStats, QueueAction, QueueControl};

use crate::config::{Secret, parse_duration};
use client::ApiClient;
use fan::FanContext;
use report::Tally;
use seats::SeatPicker;

/// Environment variable of the platform's admin token, read when no demo-specific one is given.
const PLATFORM_ADMIN_TOKEN_ENV: &str = "ONSALE_ADMIN_TOKEN";
/// Time the expiry worker and the operator figures get, past the latest hold expiry, to count it.
const EXPIRY_MARGIN: Duration = Duration::from_secs(30);
/// Maximum wait for sold seats that the hold store still shows held to be marked sold. The
/// expiry worker marks them when the confirmation's claim (120 s) runs out; 30 s is a margin.
const MARKING_LIMIT: Duration = Duration::from_secs(150);
/// Pause between two reads of the queue and sale counters while waiting.
const STATS_POLL_INTERVAL: Duration = Duration::from_millis(500);
/// Pause between two reads of the full figures, which read every sold seat.
const MARKING_POLL_INTERVAL: Duration = Duration::from_secs(2);

#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Base URL of the platform's HTTP API.
    #[arg(long, env = "ONSALE_DEMO_URL", default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// Bearer token of the operator API, used to open the queue and read the sale's figures.
    /// When absent, ONSALE_ADMIN_TOKEN is read as well.
    #[arg(long, env = "ONSALE_DEMO_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<Secret>,
    /// Event to sell. Without it, the demo searches for the event in --city on --date.
    #[arg(long, env = "ONSALE_DEMO_EVENT_ID")]
    pub event_id: Option<EventId>,
    /// Local date of the tour date to search for, as YYYY-MM-DD.
    #[arg(long, env = "ONSALE_DEMO_DATE", default_value = "2023-05-26")]
    pub date: NaiveDate,
    /// City of the tour date to search for (the whole name, in any case).
    #[arg(long, env = "ONSALE_DEMO_CITY", default_value = "East Rutherford")]
    pub city: String,
    /// Number of simulated fans.
    #[arg(long, env = "ONSALE_DEMO_FANS", default_value_t = 3000, value_parser = RangedU64ValueParser::<u64>::new().range(1..))]
    pub fans: u64,
    /// Maximum number of fans in flight at once. Each one keeps a queue socket or an HTTP
    /// connection open.
    #[arg(
        long,
        env = "ONSALE_DEMO_CONCURRENCY",
        default_value_t = 500,
        value_parser = RangedU64ValueParser::<usize>::new().range(1..=100_000)
    )]
    pub concurrency: usize,
    /// Share of fans, from 0 to 1, who hold seats and then walk away. Half of them release the
    /// hold and the others leave it to expire.
    #[arg(long, env = "ONSALE_DEMO_ABANDON_SHARE", default_value_t = 0.15, value_parser = parse_share)]
    pub abandon_share: f64,
    /// Share of fans, from 0 to 1, whose first card is declined and who then pay with a good card.
    #[arg(long, env = "ONSALE_DEMO_DECLINE_SHARE", default_value_t = 0.05, value_parser = parse_share)]
    pub decline_share: f64,
    /// Maximum seats per fan. Each fan wants from 1 to this many adjacent seats in one row.
    #[arg(long, env = "ONSALE_DEMO_MAX_SEATS", default_value_t = 4, value_parser = RangedU64ValueParser::<usize>::new().range(1..=100))]
    pub max_seats: usize,
    /// Holds a fan tries, each on a new pick, before it gives up because its seats were taken.
    #[arg(long, env = "ONSALE_DEMO_PICK_ATTEMPTS", default_value_t = 4, value_parser = RangedU64ValueParser::<u32>::new().range(1..=100))]
    pub pick_attempts: u32,
    /// After the sale, wait until the holds left to expire have expired (operator figure
    /// holds_expired), for at most the latest hold's expiry plus 30 seconds.
    #[arg(
        long,
        env = "ONSALE_DEMO_WAIT_FOR_EXPIRY",
        default_value_t = true,
        num_args = 0..=1,
        default_missing_value = "true",
        action = clap::ArgAction::Set
    )]
    pub wait_for_expiry: bool,
    /// Time limit of one fan's whole script, and of the wait for ticket emails after the sale
    /// (seconds, or with an ms or s suffix).
    #[arg(long, env = "ONSALE_DEMO_TIMEOUT", default_value = "120s", value_parser = parse_duration)]
    pub timeout: Duration,
    /// Admission rate set when the queue is opened, in fans per second. Without it the queue
    /// keeps its current rate.
    #[arg(long, env = "ONSALE_DEMO_ADMISSION_RATE", value_parser = RangedU64ValueParser::<u32>::new().range(1..=1_000_000))]
    pub admission_rate: Option<u32>,
    /// Seed of the fans' random choices, to repeat a run's picks. Random when absent.
    #[arg(long, env = "ONSALE_DEMO_SEED")]
    pub seed: Option<u64>,
    /// Print the report as JSON instead of a table.
    #[arg(long, env = "ONSALE_DEMO_JSON")]
    pub json: bool,
}

/// Parses a share of fans: a number from 0 to 1.
pub(crate) fn parse_share(input: &str) -> Result<f64, String> {
    let share: f64 = input
        .trim()
        .parse()
        .map_err(|_| format!("invalid share {input:?}: expected a number from 0 to 1, such as 0.15"))?;
    if !(0.0..=1.0).contains(&share) {
        return Err(format!("invalid share {input:?}: must be from 0 to 1"));
    }
    Ok(share)
}

/// Runs the scripted onsale and prints the report. Returns an error when the platform could not
/// be driven or a check failed (an oversell, or emails that do not match the seats sold).
pub async fn run(args: DemoArgs) -> anyhow::Result<()> {
    check_shares(&args)?;
    let client = ApiClient::new(&args.url, Some(admin_token(&args)?), args.concurrency)?;
    let started = Instant::now();

    let detail = find_event(&client, &args).await?;
    let event = detail.summary.id;
    let event_name = format!("{} on {}", detail.summary.name, detail.summary.local_date);
    let max_seats = args.max_seats.min(detail.max_seats_per_order as usize);
    if max_seats < args.max_seats {
        tracing::warn!(
            event.id = %event,
            max_seats,
            "--max-seats is above the event's limit per order, so fans pick at most the limit"
        );
    }
    anyhow::ensure!(max_seats >= 1, "event {event} allows no seats per order");

    let seat_map = client.seat_map(event).await.context("reading the seat map failed")?;
    let picker = SeatPicker::new(&seat_map);
    tracing::info!(
        event.id = %event,
        seats.for_sale = picker.seats_for_sale(),
        sections = picker.section_count(),
        "seat map loaded"
    );

    let open = QueueControl { action: QueueAction::Open, rate_per_second: args.admission_rate };
    let before = client.control_queue(event, &open).await.context("opening the queue failed")?;
    tracing::info!(
        event.id = %event,
        queue.state = ?before.queue_state,
        queue.rate_per_second = before.rate_per_second,
        seats_sold = before.seats_sold,
        "queue opened"
    );

    let seed = args.seed.unwrap_or_else(rand::random);
    let sale_started = Instant::now();
    let context = Arc::new(FanContext {
        client: client.clone(),
        event,
        picker,
        max_seats,
        pick_attempts: args.pick_attempts,
        abandon_share: args.abandon_share,
        decline_share: args.decline_share,
        timeout: args.timeout,
        status_share: 0.0,
        staleness_share: 0.0,
        sale_started,
        join_only: false,
    });
    tracing::info!(fans = args.fans, concurrency = args.concurrency, seed, "fans start");
    let tally = run_fans(context, args.fans, args.concurrency, seed).await;
    let sale_elapsed = sale_started.elapsed();
    tracing::info!(
        seats_sold = tally.seats_sold(),
        orders = tally.orders,
        duration_ms = sale_elapsed.as_millis() as u64,
        "every fan finished"
    );

    let latest = wait_after_sale(&client, event, &tally, &before, &args).await;

    let mut report = tally.report(event, &event_name, sale_elapsed, started.elapsed());
    if let Some(stats) = &latest {
        report.apply_stats(stats, before.holds_expired);
    }
    report.check();
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.to_table());
    }
    if !report.passed() {
        anyhow::bail!("the demo found problems: {}", report.failures.join("; "));
    }
    Ok(())
}

/// Fails when the abandon and decline shares add up to more than every fan.
pub(crate) fn check_shares(args: &DemoArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.abandon_share + args.decline_share <= 1.0,
        "--abandon-share ({}) and --decline-share ({}) add up to more than 1",
        args.abandon_share,
        args.decline_share
    );
    Ok(())
}

/// Returns the operator API's token: --admin-token, or ONSALE_ADMIN_TOKEN.
pub(crate) fn admin_token(args: &DemoArgs) -> anyhow::Result<Secret> {
    args.admin_token
        .clone()
        .or_else(|| std::env::var(PLATFORM_ADMIN_TOKEN_ENV).ok().filter(|token| !token.is_empty()).map(Secret::new))
        .context(
            "missing --admin-token (or ONSALE_DEMO_ADMIN_TOKEN or ONSALE_ADMIN_TOKEN): the fans' driver opens the \
             queue and reads the sale's figures through the operator API",
        )
}

/// Returns the event of `--event-id`, or the first one the search API lists in `--city` on
/// `--date`.
pub(crate) async fn find_event(client: &ApiClient, args: &DemoArgs) -> anyhow::Result<EventDetail> {
    let event = match args.event_id {
        Some(event) => event,
        None => {
            let found = client
                .search(&args.city, args.date)
                .await
                .with_context(|| format!("searching for events in {} on {} failed", args.city, args.date))?;
            let Some(first) = found.events.first() else {
                anyhow::bail!(
                    "no event in {} on {}: seed one (onsale seed --only-date {}) or pass --event-id",
                    args.city,
                    args.date,
                    args.date
                );
            };
            if found.events.len() > 1 {
                tracing::warn!(events = found.events.len(), event.id = %first.id, "several events match, so the demo uses the first");
            }
            first.id
        }
    };
    let detail = client.event_detail(event).await.with_context(|| format!("reading event {event} failed"))?;
    tracing::info!(
        event.id = %event,
        event.name = %detail.summary.name,
        event.venue = %detail.summary.venue,
        event.date = %detail.summary.local_date,
        seat_count = detail.summary.seat_count,
        "event found"
    );
    Ok(detail)
}

/// Runs every fan, at most `concurrency` at a time, each on its own task so that they spread
/// over the runtime's threads.
async fn run_fans(context: Arc<FanContext>, fans: u64, concurrency: usize, seed: u64) -> Tally {
    let mut tally = Tally::default();
    let progress_every = (fans / 10).max(1);
    let mut finished = futures::stream::iter(0..fans)
        .map(|number| tokio::spawn(fan::run_fan(context.clone(), number, seed.wrapping_add(number))))
        .buffer_unordered(concurrency);
    while let Some(joined) = finished.next().await {
        match joined {
            Ok(result) => tally.add(result),
            Err(err) => {
                tracing::error!(cause = %err, "a fan task panicked");
                tally.add_crashed();
            }
        }
        if tally.fans.is_multiple_of(progress_every) {
            tracing::info!(
                fans.finished = tally.fans,
                fans.total = fans,
                admitted = tally.admitted,
                seats_sold = tally.seats_sold(),
                "sale in progress"
            );
        }
    }
    tally
}

/// Waits for the ticket emails and, with `--wait-for-expiry`, for the abandoned holds to
/// expire. Returns the last operator figures read.
pub(crate) async fn wait_after_sale(
    client: &ApiClient,
    event: EventId,
    tally: &Tally,
    before: &EventStats,
    args: &DemoArgs,
) -> Option<EventStats> {
    wait_for_emails(client, event, args.timeout).await;
    if args.wait_for_expiry
        && tally.holds_left_to_expire > 0
        && let Some(latest_expiry) = tally.latest_expiry
    {
        let until_expiry = (latest_expiry - chrono::Utc::now()).to_std().unwrap_or_default();
        let expected = before.holds_expired + tally.holds_left_to_expire;
        wait_for_expiry(client, event, expected, until_expiry + EXPIRY_MARGIN).await;
    }

    // The full figures read every sold seat for the oversell checks, so they are read once,
    // at the end, and again only while sold seats wait to be marked sold.
    let mut latest = match client.stats(event).await {
        Ok(stats) => Some(stats),
        Err(err) => {
            tracing::warn!(event.id = %event, cause = %err, "reading the sale's figures failed");
            None
        }
    };
    if latest.as_ref().is_some_and(|stats| stats.sold_marking_pending > 0)
        && let Some(stats) = wait_for_marking(client, event, MARKING_LIMIT).await
    {
        latest = Some(stats);
    }
    latest
}

/// Reads the queue and sale counters until every sold seat's ticket is emailed or `limit`
/// passes.
async fn wait_for_emails(client: &ApiClient, event: EventId, limit: Duration) {
    let deadline = Instant::now() + limit;
    let mut next_log = Instant::now();
    loop {
        match client.queue_figures(event).await {
            Ok(figures) => {
                if figures.tickets_emailed >= figures.seats_sold {
                    return;
                }
                if Instant::now() >= next_log {
                    tracing::info!(
                        event.id = %event,
                        tickets_emailed = figures.tickets_emailed,
                        seats_sold = figures.seats_sold,
                        "waiting for ticket emails"
                    );
                    next_log = Instant::now() + Duration::from_secs(5);
                }
            }
            Err(err) => tracing::warn!(event.id = %event, cause = %err, "reading the sale's figures failed"),
        }
        if Instant::now() >= deadline {
            tracing::warn!(event.id = %event, limit_ms = limit.as_millis() as u64, "ticket emails did not catch up in time");
            return;
        }
        tokio::time::sleep(STATS_POLL_INTERVAL).await;
    }
}

/// Reads the full figures until no sold seat is left to mark sold in the hold store, or
/// `limit` passes. A confirmation whose marking failed leaves its seats held until the
/// expiry worker marks them. Returns the last figures read, or `None` if none could be read.
async fn wait_for_marking(client: &ApiClient, event: EventId, limit: Duration) -> Option<EventStats> {
    let deadline = Instant::now() + limit;
    let mut latest: Option<EventStats> = None;
    loop {
        match client.stats(event).await {
            Ok(stats) if stats.sold_marking_pending == 0 => return Some(stats),
            Ok(stats) => {
                if latest.is_none() {
                    tracing::info!(event.id = %event, sold_marking_pending = stats.sold_marking_pending, "waiting for sold seats to be marked sold in the hold store");
                }
                latest = Some(stats);
            }
            Err(err) => tracing::warn!(event.id = %event, cause = %err, "reading the sale's figures failed"),
        }
        if Instant::now() >= deadline {
            return latest;
        }
        tokio::time::sleep(MARKING_POLL_INTERVAL).await;
    }
}

/// Reads the queue and sale counters until `holds_expired` reaches `expected` or `limit`
/// passes.
async fn wait_for_expiry(client: &ApiClient, event: EventId, expected: u64, limit: Duration) {
    tracing::info!(event.id = %event, holds_expired.expected = expected, limit_ms = limit.as_millis() as u64, "waiting for abandoned holds to expire");
    let deadline = Instant::now() + limit;
    let mut latest = None;
    loop {
        match client.queue_figures(event).await {
            Ok(figures) if figures.holds_expired >= expected => return,
            Ok(figures) => latest = Some(figures.holds_expired),
            Err(err) => tracing::warn!(event.id = %event, cause = %err, "reading the sale's figures failed"),
        }
        if Instant::now() >= deadline {
            tracing::warn!(
                event.id = %event,
                holds_expired = latest,
                holds_expired.expected = expected,
                "abandoned holds did not all expire in time"
            );
            return;
        }
        tokio::time::sleep(STATS_POLL_INTERVAL).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Command {
        #[command(flatten)]
        demo: DemoArgs,
    }

    #[test]
    fn defaults_match_the_documented_run() {
        let args = Command::try_parse_from(["demo"]).unwrap().demo;
        assert_eq!(args.url, "http://127.0.0.1:8080");
        assert_eq!(args.fans, 3000);
        assert_eq!(args.max_seats, 4);
        assert_eq!(args.date, NaiveDate::from_ymd_opt(2023, 5, 26).unwrap());
        assert_eq!(args.city, "East Rutherford");
        assert!(args.wait_for_expiry);
        assert_eq!(args.abandon_share, 0.15);
        assert_eq!(args.decline_share, 0.05);
    }

    #[test]
    fn wait_for_expiry_can_be_turned_off() {
        let args = Command::try_parse_from(["demo", "--wait-for-expiry", "false"]).unwrap().demo;
        assert!(!args.wait_for_expiry);
        let args = Command::try_parse_from(["demo", "--wait-for-expiry"]).unwrap().demo;
        assert!(args.wait_for_expiry);
    }

    #[test]
    fn bad_options_are_rejected() {
        for bad in [
            vec!["demo", "--abandon-share", "1.5"],
            vec!["demo", "--decline-share", "-0.1"],
            vec!["demo", "--fans", "0"],
            vec!["demo", "--concurrency", "0"],
            vec!["demo", "--max-seats", "0"],
            vec!["demo", "--event-id", "0"],
            vec!["demo", "--date", "26/05/2023"],
        ] {
            assert!(Command::try_parse_from(&bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn share_parser_names_the_input() {
        assert_eq!(parse_share("0.25"), Ok(0.25));
        assert!(parse_share("half").unwrap_err().contains("\"half\""));
    }
}
