//! The load test's plots, as SVG files: queue depth, admission rate and hold latency over the
//! sale.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use plotters::prelude::*;

use super::sampler::Sample;

/// Width and height of each plot, in pixels.
const SIZE: (u32, u32) = (960, 420);

/// Points of a line: seconds since the sale started, and the value.
type Points = Vec<(f64, f64)>;

/// One line of a plot.
struct Line {
    label: &'static str,
    color: RGBColor,
    points: Points,
}

/// Writes the three plots into `dir` (created when missing) and returns their paths.
pub fn write_plots(
    dir: &Path,
    samples: &[Sample],
    hold_timeline: &[(Duration, Duration)],
) -> anyhow::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating the plot directory {} failed", dir.display()))?;
    let queue = dir.join("queue-depth.svg");
    draw(
        &queue,
        "Queue depth",
        "fans waiting",
        &[Line { label: "waiting", color: BLUE, points: samples.iter().map(|s| (s.at_s, s.waiting as f64)).collect() }],
    )?;

    let admission = dir.join("admission-rate.svg");
    draw(
        &admission,
        "Admission rate",
        "fans admitted per second",
        &[
            Line { label: "measured", color: BLUE, points: admission_rate(samples) },
            Line {
                label: "configured",
                color: RED,
                points: samples.iter().map(|s| (s.at_s, f64::from(s.rate_per_second))).collect(),
            },
        ],
    )?;

    let holds = dir.join("hold-latency.svg");
    let (p50, p99) = hold_percentiles(hold_timeline);
    draw(
        &holds,
        "Hold latency",
        "milliseconds",
        &[
            Line { label: "p50 per second", color: BLUE, points: p50 },
            Line { label: "p99 per second", color: RED, points: p99 },
        ],
    )?;
    Ok(vec![queue, admission, holds])
}

/// Admissions per second between consecutive samples, at the later sample's time.
pub fn admission_rate(samples: &[Sample]) -> Points {
    samples
        .windows(2)
        .filter(|pair| pair[1].at_s > pair[0].at_s)
        .map(|pair| {
            let admitted = pair[1].admitted.saturating_sub(pair[0].admitted) as f64;
            (pair[1].at_s, admitted / (pair[1].at_s - pair[0].at_s))
        })
        .collect()
}

/// p50 and p99 of the hold latencies of each whole second of the sale, in milliseconds.
pub fn hold_percentiles(timeline: &[(Duration, Duration)]) -> (Points, Points) {
    let mut by_second: std::collections::BTreeMap<u64, Vec<f64>> = std::collections::BTreeMap::new();
    for (at, latency) in timeline {
        by_second.entry(at.as_secs()).or_default().push(latency.as_secs_f64() * 1000.0);
    }
    let (mut p50, mut p99) = (Vec::new(), Vec::new());
    for (second, mut latencies) in by_second {
        latencies.sort_by(f64::total_cmp);
        let at = |quantile: f64| {
            latencies[((quantile * latencies.len() as f64).ceil() as usize).clamp(1, latencies.len()) - 1]
        };
        let x = second as f64 + 0.5;
        p50.push((x, at(0.5)));
        p99.push((x, at(0.99)));
    }
    (p50, p99)
}

fn draw(path: &Path, title: &str, y_label: &str, lines: &[Line]) -> anyhow::Result<()> {
    let plot_error = |err: &dyn std::fmt::Display| anyhow::anyhow!("drawing {} failed: {err}", path.display());
    let points = lines.iter().flat_map(|line| line.points.iter());
    let x_max = points.clone().map(|(x, _)| *x).fold(1.0, f64::max);
    let y_max = points.map(|(_, y)| *y).fold(1.0, f64::max) * 1.05;

    let root = SVGBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE).map_err(|err| plot_error(&err))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(44)
        .y_label_area_size(72)
        .build_cartesian_2d(0.0..x_max, 0.0..y_max)
        .map_err(|err| plot_error(&err))?;
    chart
        .configure_mesh()
        .x_desc("seconds since the sale started")
        .y_desc(y_label)
        .draw()
        .map_err(|err| plot_error(&err))?;
    for line in lines {
        let color = line.color;
        chart
            .draw_series(LineSeries::new(line.points.iter().copied(), color.stroke_width(2)))
            .map_err(|err| plot_error(&err))?
            .label(line.label)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2)));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(|err| plot_error(&err))?;
    root.present().map_err(|err| plot_error(&err))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::sampler::test_sample as sample;
    use super::*;

    #[test]
    fn admission_rate_is_per_second() {
        let samples = [sample(0.0, 500, 0), sample(0.5, 450, 50), sample(1.0, 400, 100)];
        assert_eq!(admission_rate(&samples), vec![(0.5, 100.0), (1.0, 100.0)]);
    }

    #[test]
    fn hold_percentiles_group_by_second() {
        let ms = Duration::from_millis;
        let timeline: Vec<(Duration, Duration)> =
            (1..=100).map(|i| (ms(200), ms(i))).chain([(ms(1_500), ms(7))]).collect();
        let (p50, p99) = hold_percentiles(&timeline);
        assert_eq!(p50, vec![(0.5, 50.0), (1.5, 7.0)]);
        assert_eq!(p99, vec![(0.5, 99.0), (1.5, 7.0)]);
    }

    #[test]
    fn plots_are_written_as_svg() {
        let dir = tempfile::tempdir().unwrap();
        let samples: Vec<Sample> =
            (0..20u32).map(|i| sample(f64::from(i) * 0.5, 1_000 - u64::from(i) * 50, u64::from(i) * 50)).collect();
        let timeline = [(Duration::from_millis(300), Duration::from_millis(4))];
        let paths = write_plots(dir.path(), &samples, &timeline).unwrap();
        assert_eq!(paths.len(), 3);
        for path in paths {
            let svg = std::fs::read_to_string(&path).unwrap();
            assert!(svg.starts_with("<svg"), "{} is not an SVG file", path.display());
            assert!(svg.contains("seconds since the sale started"), "{} has no x axis label", path.display());
        }
    }
}
