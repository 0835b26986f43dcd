//! The load test's figures next to the engine ceilings (`onsale loadtest --ceilings FILE`).
//!
//! `bench/engine-ceilings.sh` measures what Redis, PostgreSQL and the Kafka broker sustain for
//! the kind of work under each hot path, and prints it as JSON. `scripts/loadtest.sh` runs it on
//! the same engines right before the sale. This module reads that JSON, derives the platform
//! figures that the report lacks from the data the load test collects, and builds a table of
//! platform figure, ceiling, ratio (platform divided by ceiling) and goal.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::{Map, Value};

use super::sampler::Sample;
use crate::demo::report::Tally;

/// The lowest ratio of holds per second to the pipelined HOLD EVALSHA ceiling that meets the goal.
const HOLD_GOAL: f64 = 0.6;
/// The lowest ratio of durable seat rows per second to the pgbench ceiling that meets the goal.
const SEAT_ROWS_GOAL: f64 = 0.5;

/// A ceilings file that could not be used.
#[derive(Debug, thiserror::Error)]
pub enum CeilingsError {
    #[error("reading the ceilings file {} failed: {source}", file.display())]
    Read { file: PathBuf, source: std::io::Error },
    #[error("the ceilings file {} is not valid JSON: {source}", file.display())]
    Json { file: PathBuf, source: serde_json::Error },
    #[error(
        "the ceilings file {} has no field {field}; measure the ceilings again with bench/engine-ceilings.sh",
        file.display()
    )]
    MissingField { file: PathBuf, field: String },
    #[error("field {field} of the ceilings file {} must be {expected}, found {found}", file.display())]
    InvalidField { file: PathBuf, field: String, expected: &'static str, found: String },
}

/// The ceilings that the report compares with, from the JSON of `bench/engine-ceilings.sh`. A
/// ceiling is `None` when its section is `null` in the file, because the script left that engine
/// out (`--skip-redis`, `--skip-postgres`, or no `--kafka`).
#[derive(Debug, Clone, PartialEq)]
pub struct Ceilings {
    pub file: PathBuf,
    /// `redis.hold_evalsha_pipelined_per_s`: calls of the origin's HOLD script per second, 16
    /// pipelined on each of 50 connections.
    pub hold_evalsha_pipelined_per_s: Option<f64>,
    /// `redis.zadd_nx_pipelined_per_s`: ZADD NX into one sorted set per second, 16 pipelined on
    /// each of 50 connections.
    pub zadd_nx_pipelined_per_s: Option<f64>,
    /// `postgres.seat_rows_per_s`: durable seat rows per second, 4 per committed transaction.
    pub seat_rows_per_s: Option<f64>,
    /// `kafka.publish_round_trip_p99_ms`: p99 from send to receive with the producer settings of
    /// the origin's seat changes, which carry each hold to the bitmap.
    pub publish_round_trip_p99_ms: Option<f64>,
    /// `machine.started_at`, when the file has it.
    pub started_at: Option<String>,
    /// `machine.runs`: runs per measurement, of which each ceiling is the median.
    pub runs: Option<u64>,
    /// `redis.mode`: `private`, `standalone` or `cluster`. Files written before the script
    /// reported it have none.
    pub redis_mode: Option<String>,
    /// `redis.node`: the Redis node measured, as HOST:PORT.
    pub redis_node: Option<String>,
}

impl Ceilings {
    /// Reads and parses the ceilings file at `file`.
    pub fn read(file: &Path) -> Result<Self, CeilingsError> {
        let text =
            std::fs::read_to_string(file).map_err(|source| CeilingsError::Read { file: file.to_owned(), source })?;
        Self::parse(file, &text)
    }

    /// Parses the JSON `text` of the ceilings file `file`. Every section (`redis`, `postgres`,
    /// `kafka`) must be present, as an object or `null`, and an object must have the ceilings
    /// this module reads, each a positive number.
    pub fn parse(file: &Path, text: &str) -> Result<Self, CeilingsError> {
        let json: Value =
            serde_json::from_str(text).map_err(|source| CeilingsError::Json { file: file.to_owned(), source })?;
        let reader = FieldReader { file };
        let root = reader.object(&json, "the top level")?;
        let redis = reader.section(root, "redis")?;
        let postgres = reader.section(root, "postgres")?;
        let kafka = reader.section(root, "kafka")?;
        let machine = root.get("machine").and_then(Value::as_object);
        Ok(Self {
            file: file.to_owned(),
            hold_evalsha_pipelined_per_s: reader.ceiling(redis, "redis", "hold_evalsha_pipelined_per_s")?,
            zadd_nx_pipelined_per_s: reader.ceiling(redis, "redis", "zadd_nx_pipelined_per_s")?,
            seat_rows_per_s: reader.ceiling(postgres, "postgres", "seat_rows_per_s")?,
            publish_round_trip_p99_ms: reader.ceiling(kafka, "kafka", "publish_round_trip_p99_ms")?,
            started_at: text_field(machine, "started_at"),
            runs: machine.and_then(|machine| machine.get("runs")).and_then(Value::as_u64),
            redis_mode: text_field(redis, "mode"),
            redis_node: text_field(redis, "node"),
        })
    }

    /// Builds the table of `platform` against these ceilings, one row per platform figure.
    pub fn compare(&self, platform: &PlatformFigures) -> CeilingComparison {
        let rows = vec![
            CeilingRow::new(
                "holds per second",
                platform.holds_per_second,
                "redis.hold_evalsha_pipelined_per_s",
                self.hold_evalsha_pipelined_per_s,
                Some(HOLD_GOAL),
            ),
            // NOTE: with ONSALE_REDIS_QUEUE_SHARDS above 1, an event's joins spread over several
            // primaries, while this ceiling is one primary's.
            CeilingRow::new(
                "joins per second",
                platform.joins_per_second,
                "redis.zadd_nx_pipelined_per_s",
                self.zadd_nx_pipelined_per_s,
                None,
            ),
            CeilingRow::new(
                "seat rows per second",
                platform.seat_rows_per_second,
                "postgres.seat_rows_per_s",
                self.seat_rows_per_s,
                Some(SEAT_ROWS_GOAL),
            ),
            CeilingRow::new(
                "bitmap staleness p99, ms",
                platform.bitmap_staleness_p99_ms,
                "kafka.publish_round_trip_p99_ms",
                self.publish_round_trip_p99_ms,
                None,
            ),
        ];
        CeilingComparison {
            file: self.file.clone(),
            started_at: self.started_at.clone(),
            runs: self.runs,
            redis_mode: self.redis_mode.clone(),
            redis_node: self.redis_node.clone(),
            rows,
        }
    }
}

/// Reads `--ceilings FILE` for clap.
pub fn parse_ceilings_file(value: &str) -> Result<Ceilings, CeilingsError> {
    Ceilings::read(Path::new(value))
}

/// Builds the ceilings table of a load test that was given `--ceilings`, or returns `None`.
pub fn compare(
    ceilings: Option<&Ceilings>,
    tally: &Tally,
    joins_per_second: f64,
    samples: &[Sample],
) -> Option<CeilingComparison> {
    let ceilings = ceilings?;
    Some(ceilings.compare(&PlatformFigures::measure(tally, joins_per_second, samples)))
}

/// Reads fields of the ceilings JSON, with errors that name the file and the field.
struct FieldReader<'a> {
    file: &'a Path,
}

impl FieldReader<'_> {
    fn object<'v>(&self, value: &'v Value, field: &str) -> Result<&'v Map<String, Value>, CeilingsError> {
        value.as_object().ok_or_else(|| self.invalid(field, "a JSON object", value))
    }

    /// Returns the section `name`, or `None` when it is `null`.
    fn section<'v>(
        &self,
        root: &'v Map<String, Value>,
        name: &str,
    ) -> Result<Option<&'v Map<String, Value>>, CeilingsError> {
        match root.get(name) {
            None => Err(CeilingsError::MissingField { file: self.file.to_owned(), field: name.to_owned() }),
            Some(Value::Null) => Ok(None),
            Some(value) => self.object(value, name).map(Some),
        }
    }

    /// Returns the positive number `<section_name>.<field>`, or `None` when the section is `null`.
    fn ceiling(
        &self,
        section: Option<&Map<String, Value>>,
        section_name: &str,
        field: &str,
    ) -> Result<Option<f64>, CeilingsError> {
        let Some(section) = section else {
            return Ok(None);
        };
        let name = format!("{section_name}.{field}");
        let value = section
            .get(field)
            .ok_or_else(|| CeilingsError::MissingField { file: self.file.to_owned(), field: name.clone() })?;
        match value.as_f64() {
            Some(number) if number.is_finite() && number > 0.0 => Ok(Some(number)),
            _ => Err(self.invalid(&name, "a positive number", value)),
        }
    }

    fn invalid(&self, field: &str, expected: &'static str, found: &Value) -> CeilingsError {
        CeilingsError::InvalidField {
            file: self.file.to_owned(),
            field: field.to_owned(),
            expected,
            found: found.to_string(),
        }
    }
}

/// Returns the string `field` of `section`, if both are there.
fn text_field(section: Option<&Map<String, Value>>, field: &str) -> Option<String> {
    section?.get(field)?.as_str().map(str::to_owned)
}

/// The platform's figures that the ceilings are compared with. Each is `None` when the run
/// gave too little data for it, for example no holds in a `--join-only` run.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct PlatformFigures {
    /// Holds created (201 responses) divided by the time from the first to the last of them, each
    /// taken when its fan received the response. Holds rejected with `seat_unavailable` are left
    /// out, because the load test records no time for them.
    pub holds_per_second: Option<f64>,
    /// Joins divided by the time from the first to the last join response, the report's
    /// `joins_per_second`.
    pub joins_per_second: Option<f64>,
    /// Growth of OrderDB's seat rows for the event (the operator figure `seats_sold`, read every
    /// `--sample-interval`) divided by its time: from the last sample before the count first
    /// rose to the first sample that shows its final value. Either end may be off by up to one
    /// sample interval.
    pub seat_rows_per_second: Option<f64>,
    /// p99 of the staleness probe: from a hold's response to its seats showing as taken on the
    /// bitmap route, read every 5 ms.
    pub bitmap_staleness_p99_ms: Option<f64>,
}

impl PlatformFigures {
    /// Derives the figures from the fans' tally, the report's joins per second and the operator
    /// figures sampled during the run.
    pub fn measure(tally: &Tally, joins_per_second: f64, samples: &[Sample]) -> Self {
        Self {
            holds_per_second: holds_per_second(&tally.hold_timeline),
            joins_per_second: (joins_per_second > 0.0).then_some(joins_per_second),
            seat_rows_per_second: seat_rows_per_second(samples),
            bitmap_staleness_p99_ms: (tally.bitmap_staleness.count() > 0)
                .then(|| tally.bitmap_staleness.quantile_ms(0.99)),
        }
    }
}

/// Holds divided by the time from the first to the last hold response, from the timeline of
/// (response time since the sale started, latency) pairs. `None` below two distinct times.
fn holds_per_second(timeline: &[(std::time::Duration, std::time::Duration)]) -> Option<f64> {
    let first = timeline.iter().map(|(at, _)| *at).min()?;
    let last = timeline.iter().map(|(at, _)| *at).max()?;
    let span = last.checked_sub(first)?.as_secs_f64();
    (span > 0.0).then(|| timeline.len() as f64 / span)
}

/// Seat rows per second as [`PlatformFigures::seat_rows_per_second`] defines it. `None` when
/// the count never rose.
fn seat_rows_per_second(samples: &[Sample]) -> Option<f64> {
    let initial = samples.first()?.seats_sold;
    let first_rise = samples.iter().position(|sample| sample.seats_sold > initial)?;
    let before = samples[first_rise.checked_sub(1)?];
    let final_count = samples.iter().map(|sample| sample.seats_sold).max()?;
    let reached = samples.iter().find(|sample| sample.seats_sold == final_count)?;
    let span = reached.at_s - before.at_s;
    (span > 0.0).then(|| (reached.seats_sold - before.seats_sold) as f64 / span)
}

/// The table of platform figures against the ceilings, with where the ceilings came from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CeilingComparison {
    /// The ceilings file read.
    pub file: PathBuf,
    /// When `bench/engine-ceilings.sh` started measuring.
    pub started_at: Option<String>,
    /// Runs per measurement; each ceiling is their median.
    pub runs: Option<u64>,
    /// `private`, `standalone` or `cluster`: the kind of Redis node measured.
    pub redis_mode: Option<String>,
    /// The Redis node measured, as HOST:PORT.
    pub redis_node: Option<String>,
    pub rows: Vec<CeilingRow>,
}

/// One platform figure against its ceiling.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CeilingRow {
    /// The platform figure, with its unit.
    pub figure: &'static str,
    pub platform: Option<f64>,
    /// The ceiling's field in the ceilings file.
    pub ceiling_field: &'static str,
    pub ceiling: Option<f64>,
    /// Platform figure divided by ceiling, when both were measured.
    pub ratio: Option<f64>,
    /// The lowest ratio that meets the goal, for the figures that have a goal.
    pub goal_min_ratio: Option<f64>,
    /// Whether the ratio meets the goal, when there is both a ratio and a goal.
    pub meets_goal: Option<bool>,
}

impl CeilingRow {
    fn new(
        figure: &'static str,
        platform: Option<f64>,
        ceiling_field: &'static str,
        ceiling: Option<f64>,
        goal_min_ratio: Option<f64>,
    ) -> Self {
        let ratio = platform.zip(ceiling).map(|(platform, ceiling)| platform / ceiling);
        let meets_goal = ratio.zip(goal_min_ratio).map(|(ratio, goal)| ratio >= goal);
        Self { figure, platform, ceiling_field, ceiling, ratio, goal_min_ratio, meets_goal }
    }
}

impl CeilingComparison {
    /// Renders the table as plain text, in the layout of the load test's report.
    pub fn to_table(&self) -> String {
        let mut source = vec![format!("from {}", self.file.display())];
        if let Some(started_at) = &self.started_at {
            source.push(format!("started {started_at}"));
        }
        if let Some(runs) = self.runs {
            source.push(format!("median of {runs} run(s)"));
        }
        if let Some(node) = &self.redis_node {
            source.push(format!("redis {} {node}", self.redis_mode.as_deref().unwrap_or("node")));
        }

        let mut out = String::new();
        let _ = writeln!(out);
        let _ = writeln!(out, "{:<26}{}", "engine ceilings", source.join(", "));
        let _ = writeln!(
            out,
            "{:<26}{:>12}{:>12}{:>9}  {:<16}ceiling field",
            "platform figure", "platform", "ceiling", "ratio", "goal"
        );
        for row in &self.rows {
            let goal = match (row.goal_min_ratio, row.meets_goal) {
                (Some(goal), Some(true)) => format!(">= {goal}: met"),
                (Some(goal), Some(false)) => format!(">= {goal}: missed"),
                (Some(goal), None) => format!(">= {goal}"),
                (None, _) => "none".to_owned(),
            };
            let _ = writeln!(
                out,
                "{:<26}{:>12}{:>12}{:>9}  {:<16}{}",
                row.figure,
                format_figure(row.platform, 1),
                format_figure(row.ceiling, 1),
                format_figure(row.ratio, 3),
                goal,
                row.ceiling_field
            );
        }
        out
    }
}

/// Formats `value` with `decimals` decimals, or "-" when it was not measured.
fn format_figure(value: Option<f64>, decimals: usize) -> String {
    value.map_or_else(|| "-".to_owned(), |value| format!("{value:.decimals$}"))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::super::sampler::test_sample;
    use super::*;

    /// A ceilings file as `bench/engine-ceilings.sh --kafka` prints it, shortened to one run.
    const FULL: &str = r#"{"redis": {"version": "7.0.15", "mode": "cluster", "node": "127.0.0.1:7101",
        "hash_tag": "{onsale_bench_1_0}", "slot": 9087, "clients": 50,
        "hold_evalsha_per_s": 14015.42, "hold_evalsha_pipelined_per_s": 16000.0,
        "set_nx_per_s": 64653.78, "zadd_nx_pipelined_per_s": 200000.0, "zadd_pipeline": 16},
      "postgres": {"version": "15.20", "seat_rows_per_s": 40000.0, "transactions_per_s": 10000.0},
      "kafka": {"brokers": "127.0.0.1:9092", "round_trip_p99_ms": 16990.0, "publish_round_trip_p99_ms": 500.0},
      "machine": {"cpus": 2, "started_at": "2026-12-05T01:56:04Z", "runs": 1}}"#;

    fn parse(text: &str) -> Result<Ceilings, CeilingsError> {
        Ceilings::parse(Path::new("ceilings.json"), text)
    }

    /// FULL with `field` of `section` removed.
    fn without(section: &str, field: &str) -> String {
        let mut json: Value = serde_json::from_str(FULL).unwrap();
        match section {
            "" => json.as_object_mut().unwrap().remove(field),
            _ => json[section].as_object_mut().unwrap().remove(field),
        };
        json.to_string()
    }

    fn figures() -> PlatformFigures {
        PlatformFigures {
            holds_per_second: Some(8000.0),
            joins_per_second: Some(5000.0),
            seat_rows_per_second: Some(10000.0),
            bitmap_staleness_p99_ms: Some(750.0),
        }
    }

    #[test]
    fn full_file_is_parsed() {
        let ceilings = parse(FULL).unwrap();
        assert_eq!(ceilings.hold_evalsha_pipelined_per_s, Some(16000.0));
        assert_eq!(ceilings.zadd_nx_pipelined_per_s, Some(200000.0));
        assert_eq!(ceilings.seat_rows_per_s, Some(40000.0));
        assert_eq!(ceilings.publish_round_trip_p99_ms, Some(500.0));
        assert_eq!(ceilings.started_at.as_deref(), Some("2026-12-05T01:56:04Z"));
        assert_eq!(ceilings.runs, Some(1));
        assert_eq!(ceilings.redis_mode.as_deref(), Some("cluster"));
        assert_eq!(ceilings.redis_node.as_deref(), Some("127.0.0.1:7101"));
    }

    #[test]
    fn missing_field_is_named() {
        for (section, field, name) in [
            ("redis", "hold_evalsha_pipelined_per_s", "redis.hold_evalsha_pipelined_per_s"),
            ("redis", "zadd_nx_pipelined_per_s", "redis.zadd_nx_pipelined_per_s"),
            ("postgres", "seat_rows_per_s", "postgres.seat_rows_per_s"),
            ("kafka", "publish_round_trip_p99_ms", "kafka.publish_round_trip_p99_ms"),
            ("", "kafka", "kafka"),
        ] {
            let err = parse(&without(section, field)).unwrap_err();
            assert!(matches!(&err, CeilingsError::MissingField { field, .. } if field == name), "{name}: {err:?}");
            let message = err.to_string();
            assert!(message.contains(&format!("has no field {name};")), "{message}");
            assert!(message.contains("ceilings.json"), "{message}");
        }
    }

    #[test]
    fn invalid_values_are_rejected() {
        for (text, name) in [
            (FULL.replace("\"seat_rows_per_s\": 40000.0", "\"seat_rows_per_s\": \"fast\""), "postgres.seat_rows_per_s"),
            (FULL.replace("\"seat_rows_per_s\": 40000.0", "\"seat_rows_per_s\": 0"), "postgres.seat_rows_per_s"),
            (FULL.replace("\"seat_rows_per_s\": 40000.0", "\"seat_rows_per_s\": -4"), "postgres.seat_rows_per_s"),
            (FULL.replace("\"postgres\": {", "\"postgres\": [{").replace("10000.0},", "10000.0}],"), "postgres"),
            ("[1, 2]".to_owned(), "the top level"),
        ] {
            let err = parse(&text).unwrap_err();
            assert!(matches!(&err, CeilingsError::InvalidField { field, .. } if field == name), "{name}: {err:?}");
        }
        let message = parse(&FULL.replace("40000.0,", "\"fast\",")).unwrap_err().to_string();
        assert_eq!(
            message,
            "field postgres.seat_rows_per_s of the ceilings file ceilings.json must be a positive number, found \"fast\""
        );
    }

    #[test]
    fn invalid_json_and_missing_file_fail() {
        let err = parse("{\"redis\": ").unwrap_err();
        assert!(matches!(err, CeilingsError::Json { .. }), "{err:?}");
        assert!(err.to_string().starts_with("the ceilings file ceilings.json is not valid JSON: "), "{err}");

        let err = parse_ceilings_file("/nonexistent/ceilings.json").unwrap_err();
        assert!(matches!(err, CeilingsError::Read { .. }), "{err:?}");
        assert!(err.to_string().starts_with("reading the ceilings file /nonexistent/ceilings.json failed: "), "{err}");
    }

    #[test]
    fn file_is_read_from_disk() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("ceilings.json");
        std::fs::write(&file, FULL).unwrap();
        let ceilings = parse_ceilings_file(file.to_str().unwrap()).unwrap();
        assert_eq!(ceilings.file, file);
        assert_eq!(ceilings.seat_rows_per_s, Some(40000.0));
    }

    #[test]
    fn ceilings_argument_reads_the_file() {
        use clap::Parser;

        #[derive(Debug, Parser)]
        struct Command {
            #[command(flatten)]
            loadtest: super::super::LoadtestArgs,
        }

        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("good.json");
        std::fs::write(&good, FULL).unwrap();
        let args = Command::try_parse_from(["loadtest", "--ceilings", good.to_str().unwrap()]).unwrap().loadtest;
        assert_eq!(args.ceilings.unwrap().hold_evalsha_pipelined_per_s, Some(16000.0));

        let bad = dir.path().join("bad.json");
        std::fs::write(&bad, without("postgres", "seat_rows_per_s")).unwrap();
        let err = Command::try_parse_from(["loadtest", "--ceilings", bad.to_str().unwrap()]).unwrap_err();
        assert!(err.to_string().contains("has no field postgres.seat_rows_per_s"), "{err}");
    }

    #[test]
    fn null_section_leaves_its_ceilings_out() {
        let text = FULL.replace(
            r#""kafka": {"brokers": "127.0.0.1:9092", "round_trip_p99_ms": 16990.0, "publish_round_trip_p99_ms": 500.0}"#,
            r#""kafka": null"#,
        );
        let ceilings = parse(&text).unwrap();
        assert_eq!(ceilings.publish_round_trip_p99_ms, None);
        assert_eq!(ceilings.seat_rows_per_s, Some(40000.0));

        let row = &ceilings.compare(&figures()).rows[3];
        assert_eq!(row.platform, Some(750.0));
        assert_eq!((row.ceiling, row.ratio, row.meets_goal), (None, None, None));
    }

    #[test]
    fn file_without_mode_and_machine_is_parsed() {
        let text = without("redis", "mode");
        let text = {
            let mut json: Value = serde_json::from_str(&text).unwrap();
            json.as_object_mut().unwrap().remove("machine");
            json.to_string()
        };
        let ceilings = parse(&text).unwrap();
        assert_eq!((ceilings.redis_mode, ceilings.started_at, ceilings.runs), (None, None, None));
        assert_eq!(ceilings.hold_evalsha_pipelined_per_s, Some(16000.0));
    }

    #[test]
    fn ratios_and_goals_are_computed() {
        let comparison = parse(FULL).unwrap().compare(&figures());
        let rows = &comparison.rows;
        assert_eq!(rows.len(), 4);

        assert_eq!(rows[0].figure, "holds per second");
        assert_eq!(rows[0].ratio, Some(0.5));
        assert_eq!(rows[0].goal_min_ratio, Some(0.6));
        assert_eq!(rows[0].meets_goal, Some(false));

        assert_eq!(rows[1].figure, "joins per second");
        assert_eq!(rows[1].ratio, Some(0.025));
        assert_eq!((rows[1].goal_min_ratio, rows[1].meets_goal), (None, None));

        assert_eq!(rows[2].figure, "seat rows per second");
        assert_eq!(rows[2].ratio, Some(0.25));
        assert_eq!(rows[2].meets_goal, Some(false));

        assert_eq!(rows[3].figure, "bitmap staleness p99, ms");
        assert_eq!(rows[3].ratio, Some(1.5));
        assert_eq!(rows[3].meets_goal, None);

        let fast = PlatformFigures { holds_per_second: Some(9600.0), seat_rows_per_second: Some(20000.0), ..figures() };
        let rows = parse(FULL).unwrap().compare(&fast).rows;
        assert_eq!(rows[0].meets_goal, Some(true), "0.6 meets a goal of at least 0.6");
        assert_eq!(rows[2].meets_goal, Some(true), "0.5 meets a goal of at least 0.5");
    }

    #[test]
    fn unmeasured_figure_has_no_ratio() {
        let comparison = parse(FULL).unwrap().compare(&PlatformFigures::default());
        for row in &comparison.rows {
            assert_eq!((row.platform, row.ratio, row.meets_goal), (None, None, None), "{row:?}");
            assert!(row.ceiling.is_some(), "{row:?}");
        }
    }

    #[test]
    fn table_and_json_have_every_row() {
        let comparison = parse(FULL).unwrap().compare(&figures());
        let table = comparison.to_table();
        assert!(
            table.contains(
                "engine ceilings           from ceilings.json, started 2026-12-05T01:56:04Z, median of 1 run(s), redis cluster 127.0.0.1:7101"
            ),
            "{table}"
        );
        let hold = table.lines().find(|line| line.starts_with("holds per second")).unwrap();
        assert!(hold.contains("8000.0"), "{hold}");
        assert!(hold.contains("16000.0"), "{hold}");
        assert!(hold.contains("0.500"), "{hold}");
        assert!(hold.contains(">= 0.6: missed"), "{hold}");
        assert!(hold.ends_with("redis.hold_evalsha_pipelined_per_s"), "{hold}");
        let joins = table.lines().find(|line| line.starts_with("joins per second")).unwrap();
        assert!(joins.contains("none"), "{joins}");
        assert!(table.contains("seat rows per second"), "{table}");
        assert!(table.contains("bitmap staleness p99, ms"), "{table}");

        let json = serde_json::to_value(&comparison).unwrap();
        assert_eq!(json["rows"][0]["ceiling_field"], "redis.hold_evalsha_pipelined_per_s");
        assert_eq!(json["rows"][0]["ratio"], 0.5);
        assert_eq!(json["rows"][0]["meets_goal"], false);
        assert_eq!(json["rows"][1]["goal_min_ratio"], Value::Null);
        assert_eq!(json["redis_node"], "127.0.0.1:7101");
    }

    #[test]
    fn unmeasured_figure_prints_a_dash() {
        let table = parse(FULL).unwrap().compare(&PlatformFigures::default()).to_table();
        let hold = table.lines().find(|line| line.starts_with("holds per second")).unwrap();
        assert!(hold.contains(" - "), "{hold}");
        assert!(hold.contains(">= 0.6 "), "no verdict without a figure: {hold}");
    }

    #[test]
    fn holds_per_second_spans_first_to_last_hold() {
        let at = |ms| (Duration::from_millis(ms), Duration::from_millis(5));
        // 5 holds from 1 s to 3 s, out of order as fans finish.
        let timeline = [at(2000), at(1000), at(3000), at(1500), at(2500)];
        assert_eq!(holds_per_second(&timeline), Some(2.5));
        assert_eq!(holds_per_second(&[at(1000)]), None);
        assert_eq!(holds_per_second(&[at(1000), at(1000)]), None);
        assert_eq!(holds_per_second(&[]), None);
    }

    #[test]
    fn seat_rows_per_second_spans_the_rise() {
        let sold = |at_s: f64, seats_sold: u64| Sample { seats_sold, ..test_sample(at_s, 0, 0) };
        // 100 rows of an earlier run, flat until 1 s, then 400 more by 3 s, then flat.
        let samples = [sold(0.0, 100), sold(1.0, 100), sold(1.5, 150), sold(2.0, 300), sold(3.0, 500), sold(4.0, 500)];
        assert_eq!(seat_rows_per_second(&samples), Some(200.0));
        assert_eq!(seat_rows_per_second(&[sold(0.0, 0), sold(1.0, 0)]), None);
        assert_eq!(seat_rows_per_second(&[]), None);
    }

    #[test]
    fn platform_figures_come_from_the_tally() {
        let mut tally = Tally {
            hold_timeline: vec![(Duration::from_secs(1), Duration::ZERO), (Duration::from_secs(3), Duration::ZERO)],
            ..Tally::default()
        };
        for ms in 1..=100 {
            tally.bitmap_staleness.record(Duration::from_millis(ms));
        }
        let figures = PlatformFigures::measure(&tally, 0.0, &[]);
        assert_eq!(figures.holds_per_second, Some(1.0));
        assert_eq!(figures.joins_per_second, None, "0 joins per second means none were timed");
        assert_eq!(figures.seat_rows_per_second, None);
        let p99 = figures.bitmap_staleness_p99_ms.unwrap();
        // The histogram keeps 3 significant digits, so within 0.1 % of 99 ms.
        assert!((p99 - 99.0).abs() <= 0.1, "p99 {p99}");

        let empty = PlatformFigures::measure(&Tally::default(), 120.0, &[]);
        assert_eq!(empty, PlatformFigures { joins_per_second: Some(120.0), ..PlatformFigures::default() });
    }

    #[test]
    fn compare_without_ceilings_is_none() {
        assert_eq!(compare(None, &Tally::default(), 10.0, &[]), None);
        let ceilings = parse(FULL).unwrap();
        let comparison = compare(Some(&ceilings), &Tally::default(), 10.0, &[]).unwrap();
        assert_eq!(comparison.rows[1].ratio, Some(10.0 / 200000.0));
    }
}
