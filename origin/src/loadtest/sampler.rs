//! Reads the operator figures a few times a second while the load test runs. The samples give
//! the queue depth and admission rate over time, and the admission rate's error against the
//! configured rate.

use std::time::{Duration, Instant};

use serde::Serialize;
use tokio_util::sync::CancellationToken;

use onsale_shared::EventId;
use onsale_shared::api::QueueState;

use crate::demo::client::ApiClient;

/// One reading of the operator figures.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Sample {
    /// Seconds since the sale started, taken halfway through the request.
    pub at_s: f64,
    pub waiting: u64,
    pub admitted: u64,
    pub seats_unavailable: u32,
    pub seats_sold: u64,
    pub tickets_emailed: u64,
    pub open: bool,
    pub rate_per_second: u32,
}

/// Reads the figures every `interval` until `stop` is cancelled, then returns the samples.
pub async fn sample(
    client: ApiClient,
    event: EventId,
    sale_started: Instant,
    interval: Duration,
    stop: CancellationToken,
    on_sample: impl Fn(&Sample) + Send,
) -> Vec<Sample> {
    let mut samples = Vec::new();
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return samples,
            _ = ticker.tick() => {}
        }
        let sent = sale_started.elapsed();
        let Ok(stats) = client.queue_figures(event).await else {
            continue;
        };
        let received = sale_started.elapsed();
        let sample = Sample {
            at_s: (sent + received).as_secs_f64() / 2.0,
            waiting: stats.waiting,
            admitted: stats.admitted,
            seats_unavailable: stats.seats_unavailable_in_bitmap,
            seats_sold: stats.seats_sold,
            tickets_emailed: stats.tickets_emailed,
            open: stats.queue_state == QueueState::Open,
            rate_per_second: stats.rate_per_second,
        };
        on_sample(&sample);
        samples.push(sample);
    }
}

/// The admission rate measured while the queue had a backlog, against the configured rate.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct AdmissionAccuracy {
    pub configured_per_second: u32,
    /// Fans admitted over the windows counted, divided by their length.
    pub measured_per_second: f64,
    /// (measured - configured) / configured, in percent.
    pub error_percent: f64,
    /// One-second windows counted: queue open, a backlog of at least a second's admissions at
    /// the window's start, fans still waiting at its end and seats left.
    pub windows: u32,
    pub slowest_window_per_second: f64,
    pub fastest_window_per_second: f64,
}

/// Measures the admission rate over windows of about `window` in which the admitter could
/// admit at full rate. Returns `None` when no such window exists, for example when the queue
/// never had a second's backlog.
pub fn admission_accuracy(samples: &[Sample], seat_count: u32, window: Duration) -> Option<AdmissionAccuracy> {
    let window = window.as_secs_f64();
    let mut start = 0;
    let (mut admitted, mut seconds, mut windows) = (0u64, 0.0f64, 0u32);
    let (mut slowest, mut fastest) = (f64::INFINITY, 0.0f64);
    let mut configured = None;
    while start < samples.len() {
        let first = samples[start];
        let Some(end) = (start + 1..samples.len()).find(|&i| samples[i].at_s - first.at_s >= window) else {
            break;
        };
        let last = samples[end];
        let rate = first.rate_per_second;
        let eligible = first.open
            && last.open
            && rate == last.rate_per_second
            && first.waiting as f64 >= f64::from(rate) * window
            && last.waiting > 0
            && last.seats_unavailable < seat_count;
        if eligible && configured.is_none_or(|configured| configured == rate) {
            configured = Some(rate);
            let span = last.at_s - first.at_s;
            let count = last.admitted.saturating_sub(first.admitted);
            admitted += count;
            seconds += span;
            windows += 1;
            let per_second = count as f64 / span;
            slowest = slowest.min(per_second);
            fastest = fastest.max(per_second);
        }
        start = end;
    }
    let configured = configured?;
    let measured = admitted as f64 / seconds;
    Some(AdmissionAccuracy {
        configured_per_second: configured,
        measured_per_second: measured,
        error_percent: (measured - f64::from(configured)) / f64::from(configured) * 100.0,
        windows,
        slowest_window_per_second: slowest,
        fastest_window_per_second: fastest,
    })
}

/// Builds a sample of an open queue at 100 fans a second with nothing sold, for tests.
#[cfg(test)]
pub(crate) fn test_sample(at_s: f64, waiting: u64, admitted: u64) -> Sample {
    Sample {
        at_s,
        waiting,
        admitted,
        seats_unavailable: 0,
        seats_sold: 0,
        tickets_emailed: 0,
        open: true,
        rate_per_second: 100,
    }
}

#[cfg(test)]
mod tests {
    use super::test_sample as sample;
    use super::*;

    #[test]
    fn steady_admission_has_no_error() {
        let samples: Vec<Sample> = (0..=40).map(|i| sample(i as f64 * 0.25, 5_000, i * 25)).collect();
        let accuracy = admission_accuracy(&samples, 1_000, Duration::from_secs(1)).unwrap();
        assert_eq!(accuracy.windows, 10);
        assert!(accuracy.error_percent.abs() < 1e-9, "{accuracy:?}");
        assert_eq!(accuracy.configured_per_second, 100);
    }

    #[test]
    fn slow_admission_shows_a_negative_error() {
        let samples: Vec<Sample> = (0..=20).map(|i| sample(i as f64 * 0.5, 5_000, i * 45)).collect();
        let accuracy = admission_accuracy(&samples, 1_000, Duration::from_secs(1)).unwrap();
        assert!((accuracy.error_percent + 10.0).abs() < 1e-9, "{accuracy:?}");
    }

    #[test]
    fn windows_without_a_backlog_are_left_out() {
        // 450 fans at 100 a second: four full seconds, then too few fans left for a full one.
        let mut samples: Vec<Sample> = (0..=4).map(|i| sample(i as f64, 450 - i * 100, i * 100)).collect();
        samples.extend((5..=6).map(|i| sample(i as f64, 0, 450)));
        let accuracy = admission_accuracy(&samples, 1_000, Duration::from_secs(1)).unwrap();
        assert_eq!(accuracy.windows, 4);
        assert!(accuracy.error_percent.abs() < 1e-9, "{accuracy:?}");
    }

    #[test]
    fn sold_out_or_closed_windows_are_left_out() {
        let mut samples: Vec<Sample> = (0..=4).map(|i| sample(i as f64, 5_000, i * 100)).collect();
        samples[3].seats_unavailable = 1_000;
        samples[4].open = false;
        let accuracy = admission_accuracy(&samples, 1_000, Duration::from_secs(1)).unwrap();
        assert_eq!(accuracy.windows, 2);
    }

    #[test]
    fn no_backlog_gives_none() {
        let samples: Vec<Sample> = (0..=4).map(|i| sample(i as f64, 10, i * 10)).collect();
        assert_eq!(admission_accuracy(&samples, 1_000, Duration::from_secs(1)), None);
    }
}
