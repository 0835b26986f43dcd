//! `onsale loadtest`: many simulated fans against a running platform, with the figures that
//! say how it held up.
//!
//! The fans are the demo's ([`crate::demo::fan`]): each one joins, waits on the queue socket,
//! reads the bitmap, holds 1 to 4 adjacent seats and pays or walks away, over one pooled HTTP
//! client whose connections are reused. On top of the demo, the load test
//! - lets the fans arrive by a pattern ([`arrival`]): all at the open, a ramp or waves;
//! - has a share of fans read their queue status over HTTP, and a share read the bitmap after
//!   their hold until their seats show (the staleness probe);
//! - reads the operator figures a few times a second ([`sampler`]) for the queue depth and the
//!   admission rate, and measures the rate's error against the configured one;
//! - reads the ticket delivery times from the operator API after the sale;
//! - reports the CPU that the load generator and the whole machine used, which says whether
//!   the generator could have been the limit;
//! - draws plots ([`plot`]) and writes the report as JSON.
//!
//! It exits non-zero when a seat was sold twice (the fans' orders, OrderDB's rows, and the hold
//! store against OrderDB) or the ticket emails do not match the seats sold.

pub mod arrival;
pub mod ceilings;
pub mod holds;
pub mod plot;
pub mod sampler;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use onsale_shared::api::{QueueAction, QueueControl, TicketDeliveries};

use crate::config::parse_duration;
use crate::demo::client::ApiClient;
use crate::demo::fan::{self, FanContext};
use crate::demo::report::{Latency, LatencySummary, Report, Tally};
use crate::demo::seats::SeatPicker;
use crate::demo::{self, DemoArgs};
use arrival::Arrival;
use sampler::{AdmissionAccuracy, Sample};

#[derive(Debug, clap::Args)]
pub struct LoadtestArgs {
    #[command(flatten)]
    pub fans: DemoArgs,
    /// When the fans arrive: open (all at the start), ramp:<duration> (evenly over it) or
    /// waves:<count>x<gap> (equal waves, gap apart).
    #[arg(long, env = "ONSALE_LOADTEST_ARRIVAL", default_value = "open")]
    pub arrival: Arrival,
    /// Share of fans, from 0 to 1, who read their queue status over HTTP once after joining.
    #[arg(long, env = "ONSALE_LOADTEST_STATUS_SHARE", default_value_t = 0.1, value_parser = demo::parse_share)]
    pub status_share: f64,
    /// Share of fans, from 0 to 1, who read the bitmap after their hold until their seats show
    /// as taken, every 5 ms: the bitmap staleness probe.
    #[arg(long, env = "ONSALE_LOADTEST_STALENESS_SHARE", default_value_t = 0.05, value_parser = demo::parse_share)]
    pub staleness_share: f64,
    /// Time between two reads of the operator figures (queue depth, admissions).
    #[arg(long, env = "ONSALE_LOADTEST_SAMPLE_INTERVAL", default_value = "250ms", value_parser = parse_duration)]
    pub sample_interval: Duration,
    /// Directory to write the plots to, as SVG: queue depth, admission rate, hold latency.
    #[arg(long, env = "ONSALE_LOADTEST_PLOTS")]
    pub plots: Option<PathBuf>,
    /// File to write the JSON report to, besides the table on standard output.
    #[arg(long, env = "ONSALE_LOADTEST_OUTPUT")]
    pub output: Option<PathBuf>,
    /// Hide the progress bar. It is hidden anyway when standard error is not a terminal.
    #[arg(long, env = "ONSALE_LOADTEST_QUIET")]
    pub quiet: bool,
    /// Process id of the platform under test on this machine. Its CPU use during the sale is
    /// reported next to the generator's.
    #[arg(long, env = "ONSALE_LOADTEST_PLATFORM_PID")]
    pub platform_pid: Option<u32>,
    /// Fans only start a session and join the queue, then stop: a measure of joins per second.
    #[arg(long, env = "ONSALE_LOADTEST_JOIN_ONLY")]
    pub join_only: bool,
    /// Length of the windows over which the admission rate is measured.
    #[arg(
        long,
        env = "ONSALE_LOADTEST_RATE_WINDOW",
        default_value = "1s",
        value_parser = parse_duration
    )]
    pub rate_window: Duration,
    /// JSON file of engine ceilings written by bench/engine-ceilings.sh. The report then adds a
    /// table of platform figure, ceiling, ratio and goal.
    #[arg(
        long,
        env = "ONSALE_LOADTEST_CEILINGS_FILE",
        value_name = "FILE",
        value_parser = ceilings::parse_ceilings_file
    )]
    pub ceilings: Option<ceilings::Ceilings>,
    /// Instead of a sale, run the open-loop hold test (see [`holds`]): one step per rate, in
    /// holds a second, comma-separated, such as 1000,2500,5000.
    #[arg(long, env = "ONSALE_LOADTEST_HOLD_RATES", value_parser = holds::parse_rates)]
    pub hold_rates: Option<holds::HoldRates>,
    /// Length of each step of the open-loop hold test.
    #[arg(long, env = "ONSALE_LOADTEST_HOLD_STEP", default_value = "10s", value_parser = parse_duration)]
    pub hold_step: Duration,
    /// Admitted fans that take turns holding in the open-loop hold test, each on seats of its own.
    #[arg(long, env = "ONSALE_LOADTEST_HOLD_POOL", default_value_t = 2000)]
    pub hold_pool: usize,
}

/// The CPU time used while the fans ran: by this process, and by the whole machine.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct CpuUse {
    /// Cores' worth of CPU the load generator used on average (1.0 is one core busy).
    pub generator_cores: f64,
    /// Cores' worth of CPU the process of --platform-pid used on average.
    pub platform_cores: Option<f64>,
    /// Share of the machine's CPU time that was busy, from 0 to 1, every process included.
    pub machine_busy: f64,
    pub machine_cores: usize,
}

/// Everything the load test prints: the demo's report and the load test's own figures.
#[derive(Debug, Clone, Serialize)]
pub struct LoadtestReport {
    #[serde(flatten)]
    pub sale: Report,
    pub arrival: String,
    pub concurrency: usize,
    /// How late fans started against their planned arrival, because --concurrency fans were
    /// already in flight.
    pub arrival_lag: LatencySummary,
    /// Fans that joined per second over the sale's first joins (first to last join response).
    pub joins_per_second: f64,
    pub admission: Option<AdmissionAccuracy>,
    pub staleness_probes_missed: u64,
    pub ticket_delivery: Option<TicketDeliveries>,
    pub cpu: Option<CpuUse>,
    /// The platform figures against the engine ceilings of --ceilings.
    pub ceilings: Option<ceilings::CeilingComparison>,
    pub plots: Vec<PathBuf>,
    /// The operator figures read during the run.
    pub samples: Vec<Sample>,
}

impl LoadtestReport {
    /// Renders the report as plain text: the demo's table, then the load test's figures.
    pub fn to_table(&self) -> String {
        use std::fmt::Write as _;
        let mut out = self.sale.to_table().replacen("onsale demo:", "onsale loadtest:", 1);
        let verdict = out.rfind("\nresult:").map(|at| out.split_off(at + 1)).unwrap_or_default();

        let _ = writeln!(out, "{:<26}{}", "arrival", self.arrival);
        let _ = writeln!(out, "{:<26}{}", "concurrency", self.concurrency);
        let _ = writeln!(
            out,
            "{:<26}p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
            "arrival lag", self.arrival_lag.p50_ms, self.arrival_lag.p99_ms, self.arrival_lag.max_ms
        );
        let _ = writeln!(out, "{:<26}{:.0}", "joins per second", self.joins_per_second);

        match &self.admission {
            Some(rate) => {
                let _ = writeln!(
                    out,
                    "{:<26}{:.1}/s against {}/s configured: {:+.2} % over {} windows (slowest {:.0}/s, fastest {:.0}/s)",
                    "admission rate",
                    rate.measured_per_second,
                    rate.configured_per_second,
                    rate.error_percent,
                    rate.windows,
                    rate.slowest_window_per_second,
                    rate.fastest_window_per_second
                );
            }
            None => {
                let _ = writeln!(out, "{:<26}not measured: the queue never had a second's backlog", "admission rate");
            }
        }
        if self.staleness_probes_missed > 0 {
            let _ = writeln!(out, "{:<26}{}", "staleness probes missed", self.staleness_probes_missed);
        }
        match &self.ticket_delivery {
            Some(delivery) => {
                let _ = writeln!(
                    out,
                    "{:<26}{} emailed, {} waiting; p50 {} ms, p90 {} ms, p99 {} ms, max {} ms",
                    "ticket delivery",
                    delivery.emailed,
                    delivery.waiting,
                    delivery.p50_ms,
                    delivery.p90_ms,
                    delivery.p99_ms,
                    delivery.max_ms
                );
            }
            None => {
                let _ = writeln!(out, "{:<26}unknown: the operator API did not answer", "ticket delivery");
            }
        }
        if let Some(cpu) = &self.cpu {
            let platform = cpu.platform_cores.map(|cores| format!("platform {cores:.2} cores; ")).unwrap_or_default();
            let _ = writeln!(
                out,
                "{:<26}{platform}generator {:.2} cores; machine {:.0} % busy of {} cores",
                "cpu during the sale",
                cpu.generator_cores,
                cpu.machine_busy * 100.0,
                cpu.machine_cores
            );
        }
        for plot in &self.plots {
            let _ = writeln!(out, "{:<26}{}", "plot", plot.display());
        }
        if let Some(ceilings) = &self.ceilings {
            out.push_str(&ceilings.to_table());
        }
        let _ = writeln!(out);
        out.push_str(&verdict);
        out
    }
}

/// Runs the load test and prints the report. Fails when the platform could not be driven or a
/// check failed.
pub async fn run(args: LoadtestArgs) -> anyhow::Result<()> {
    let demo_args = &args.fans;
    demo::check_shares(demo_args)?;
    let client = ApiClient::new(&demo_args.url, Some(demo::admin_token(demo_args)?), demo_args.concurrency)?;
    let started = Instant::now();

    let detail = demo::find_event(&client, demo_args).await?;
    let event = detail.summary.id;
    let event_name = format!("{} on {}", detail.summary.name, detail.summary.local_date);
    let max_seats = demo_args.max_seats.min(detail.max_seats_per_order as usize);
    anyhow::ensure!(max_seats >= 1, "event {event} allows no seats per order");
    let seat_map = client.seat_map(event).await.context("reading the seat map failed")?;
    let picker = SeatPicker::new(&seat_map);
    let seat_count = detail.summary.seat_count;

    if let Some(rates) = &args.hold_rates {
        let plan = holds::HoldTestPlan {
            rates: rates.0.clone(),
            step: args.hold_step,
            pool: args.hold_pool,
            seats_per_hold: max_seats.min(4),
        };
        let steps = holds::run(&client, event, &picker, &plan).await?;
        let json = serde_json::to_string_pretty(&serde_json::json!({ "event": event, "hold_test": steps }))?;
        if let Some(path) = &args.output {
            std::fs::write(path, format!("{json}\n")).with_context(|| format!("writing {} failed", path.display()))?;
        }
        if demo_args.json {
            println!("{json}");
        } else {
            print!("{}", holds::to_table(&steps));
        }
        return Ok(());
    }

    let open = QueueControl { action: QueueAction::Open, rate_per_second: demo_args.admission_rate };
    let before = client.control_queue(event, &open).await.context("opening the queue failed")?;
    tracing::info!(event.id = %event, queue.rate_per_second = before.rate_per_second, fans = demo_args.fans, "queue opened");

    let progress = progress_bar(demo_args.fans, args.quiet);
    let sale_started = Instant::now();
    let stop_sampling = CancellationToken::new();
    let sampler = tokio::spawn(sampler::sample(
        client.clone(),
        event,
        sale_started,
        args.sample_interval,
        stop_sampling.clone(),
        {
            let progress = progress.clone();
            move |sample: &Sample| {
                progress.set_message(format!(
                    "waiting {} · admitted {} · sold {} · emailed {}",
                    sample.waiting, sample.admitted, sample.seats_sold, sample.tickets_emailed
                ))
            }
        },
    ));

    let seed = demo_args.seed.unwrap_or_else(rand::random);
    let context = Arc::new(FanContext {
        client: client.clone(),
        event,
        picker,
        max_seats,
        pick_attempts: demo_args.pick_attempts,
        abandon_share: demo_args.abandon_share,
        decline_share: demo_args.decline_share,
        timeout: demo_args.timeout,
        status_share: args.status_share,
        staleness_share: args.staleness_share,
        sale_started,
        join_only: args.join_only,
    });
    let cpu_before = CpuTimes::read(args.platform_pid);
    if let Some(pid) = args.platform_pid
        && cpu_before.as_ref().is_some_and(|times| times.platform.is_none())
    {
        tracing::warn!(
            pid,
            "--platform-pid names no process whose /proc/<pid>/stat is readable, so the platform's CPU is left out"
        );
    }
    let fans_run = run_fans(context, &args, seed, sale_started, &progress).await;
    let cpu = cpu_before
        .zip(CpuTimes::read(args.platform_pid))
        .map(|(before, after)| after.since(&before, sale_started.elapsed()));
    let sale_elapsed = sale_started.elapsed();
    progress.finish_and_clear();
    tracing::info!(
        seats_sold = fans_run.tally.seats_sold(),
        duration_ms = sale_elapsed.as_millis() as u64,
        "every fan finished"
    );

    let latest = demo::wait_after_sale(&client, event, &fans_run.tally, &before, demo_args).await;
    let ticket_delivery = match client.deliveries(event).await {
        Ok(deliveries) => Some(deliveries),
        Err(err) => {
            tracing::warn!(event.id = %event, cause = %err, "reading the ticket delivery times failed");
            None
        }
    };
    stop_sampling.cancel();
    let samples = sampler.await.unwrap_or_default();

    let mut sale = fans_run.tally.report(event, &event_name, sale_elapsed, started.elapsed());
    if let Some(stats) = &latest {
        sale.apply_stats(stats, before.holds_expired);
    }
    sale.check();
    let plots = match &args.plots {
        Some(dir) => plot::write_plots(dir, &samples, &fans_run.tally.hold_timeline)?,
        None => Vec::new(),
    };
    let report = LoadtestReport {
        sale,
        arrival: args.arrival.to_string(),
        concurrency: demo_args.concurrency,
        arrival_lag: fans_run.arrival_lag.summary(),
        joins_per_second: fans_run.joins_per_second,
        admission: sampler::admission_accuracy(&samples, seat_count, args.rate_window),
        staleness_probes_missed: fans_run.tally.staleness_missed,
        ticket_delivery,
        cpu,
        ceilings: ceilings::compare(args.ceilings.as_ref(), &fans_run.tally, fans_run.joins_per_second, &samples),
        plots,
        samples,
    };

    let json = serde_json::to_string_pretty(&report)?;
    if let Some(path) = &args.output {
        std::fs::write(path, format!("{json}\n")).with_context(|| format!("writing {} failed", path.display()))?;
    }
    if demo_args.json {
        println!("{json}");
    } else {
        print!("{}", report.to_table());
    }
    if !report.sale.passed() {
        anyhow::bail!("the load test found problems: {}", report.sale.failures.join("; "));
    }
    Ok(())
}

fn progress_bar(fans: u64, quiet: bool) -> ProgressBar {
    if quiet {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(fans);
    let style = ProgressStyle::with_template("{elapsed_precise} [{wide_bar}] {pos}/{len} fans done · {msg}")
        .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style.progress_chars("=> "));
    bar.enable_steady_tick(Duration::from_millis(250));
    bar
}

/// The fans' tally, with the figures of the arrivals themselves.
struct FansRun {
    tally: Tally,
    arrival_lag: Latency,
    joins_per_second: f64,
}

/// Starts each fan at its planned arrival, or as soon as one of the `--concurrency` slots frees
/// up after it, and adds up their results as they finish.
async fn run_fans(
    context: Arc<FanContext>,
    args: &LoadtestArgs,
    seed: u64,
    sale_started: Instant,
    progress: &ProgressBar,
) -> FansRun {
    let fans = args.fans.fans;
    let slots = Arc::new(Semaphore::new(args.fans.concurrency));
    let (results, mut finished) = tokio::sync::mpsc::unbounded_channel();
    let arrival = args.arrival;
    let scheduler = {
        let context = context.clone();
        tokio::spawn(async move {
            let mut lag = Latency::default();
            for number in 0..fans {
                let planned = sale_started + arrival.offset(number, fans);
                tokio::time::sleep_until(planned.into()).await;
                let Ok(slot) = slots.clone().acquire_owned().await else {
                    break;
                };
                lag.record(Instant::now().saturating_duration_since(planned));
                let context = context.clone();
                let results = results.clone();
                tokio::spawn(async move {
                    // A panicking fan arrives as `None` and is counted as crashed.
                    let result = tokio::spawn(fan::run_fan(context, number, seed.wrapping_add(number))).await.ok();
                    drop(slot);
                    let _ = results.send(result);
                });
            }
            lag
        })
    };

    let mut tally = Tally::default();
    let (mut first_join, mut last_join): (Option<Duration>, Option<Duration>) = (None, None);
    let mut joins = 0u64;
    while tally.fans < fans {
        let Some(result) = finished.recv().await else {
            break;
        };
        match result {
            Some(result) => {
                if let Some(joined) = result.joined_at {
                    first_join = Some(first_join.map_or(joined, |first| first.min(joined)));
                    last_join = Some(last_join.map_or(joined, |last| last.max(joined)));
                    joins += 1;
                }
                tally.add(result);
            }
            None => tally.add_crashed(),
        }
        progress.inc(1);
    }
    let arrival_lag = scheduler.await.unwrap_or_else(|err| {
        tracing::error!(cause = %err, "the fan scheduler panicked");
        Latency::default()
    });
    let joins_per_second = match (first_join, last_join) {
        (Some(first), Some(last)) if last > first => joins as f64 / (last - first).as_secs_f64(),
        _ => 0.0,
    };
    FansRun { tally, arrival_lag, joins_per_second }
}

/// CPU time counters from /proc, in clock ticks. Linux only; elsewhere the report leaves the
/// CPU figures out.
struct CpuTimes {
    process: u64,
    platform: Option<u64>,
    machine_busy: u64,
    machine_total: u64,
}

/// Clock ticks per second of /proc's counters (USER_HZ), 100 on every Linux architecture.
const TICKS_PER_SECOND: f64 = 100.0;

impl CpuTimes {
    fn read(platform_pid: Option<u32>) -> Option<Self> {
        let process = process_ticks("self")?;
        let platform = platform_pid.and_then(|pid| process_ticks(&pid.to_string()));
        let machine = std::fs::read_to_string("/proc/stat").ok()?;
        let cpu: Vec<u64> =
            machine.lines().next()?.split_whitespace().skip(1).filter_map(|value| value.parse().ok()).collect();
        let total: u64 = cpu.iter().sum();
        // idle and iowait are the 4th and 5th counters.
        let idle = cpu.get(3)? + cpu.get(4).copied().unwrap_or(0);
        Some(Self { process, platform, machine_busy: total - idle, machine_total: total })
    }

    fn since(&self, before: &CpuTimes, wall: Duration) -> CpuUse {
        let wall = wall.as_secs_f64().max(1e-3);
        let total = self.machine_total.saturating_sub(before.machine_total).max(1);
        CpuUse {
            generator_cores: self.process.saturating_sub(before.process) as f64 / TICKS_PER_SECOND / wall,
            platform_cores: self
                .platform
                .zip(before.platform)
                .map(|(after, before)| after.saturating_sub(before) as f64 / TICKS_PER_SECOND / wall),
            machine_busy: self.machine_busy.saturating_sub(before.machine_busy) as f64 / total as f64,
            machine_cores: std::thread::available_parallelism().map_or(1, |cores| cores.get()),
        }
    }
}

/// User and system CPU time of process `pid` ("self" for this one), in clock ticks.
fn process_ticks(pid: &str) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses and may contain spaces.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Command {
        #[command(flatten)]
        loadtest: LoadtestArgs,
    }

    #[test]
    fn defaults_probe_a_share_of_fans() {
        let args = Command::try_parse_from(["loadtest"]).unwrap().loadtest;
        assert_eq!(args.arrival, Arrival::Open);
        assert_eq!(args.status_share, 0.1);
        assert_eq!(args.staleness_share, 0.05);
        assert_eq!(args.sample_interval, Duration::from_millis(250));
    }

    #[test]
    fn arrival_and_shares_are_checked() {
        let args = Command::try_parse_from(["loadtest", "--arrival", "waves:3x5s"]).unwrap().loadtest;
        assert_eq!(args.arrival, Arrival::Waves { count: 3, gap: Duration::from_secs(5) });
        for bad in [
            vec!["loadtest", "--arrival", "sometimes"],
            vec!["loadtest", "--staleness-share", "2"],
            vec!["loadtest", "--status-share", "-1"],
        ] {
            assert!(Command::try_parse_from(&bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn cpu_times_are_read_on_linux() {
        if cfg!(target_os = "linux") {
            let before = CpuTimes::read(Some(std::process::id())).expect("/proc is readable");
            let spin = Instant::now();
            let mut x = 0u64;
            while spin.elapsed() < Duration::from_millis(200) {
                x = std::hint::black_box(x.wrapping_add(1));
            }
            let cpu = CpuTimes::read(Some(std::process::id())).unwrap().since(&before, spin.elapsed());
            assert!(cpu.generator_cores > 0.0, "{cpu:?}");
            assert!(cpu.platform_cores.is_some_and(|cores| cores > 0.0), "{cpu:?}");
            assert!((0.0..=1.0).contains(&cpu.machine_busy), "{cpu:?}");
        }
    }
}
