//! `onsale seed`: loads tour dates from a CSV file as events.
//!
//! Each venue is created once and gets one generated stadium plan, shared by all its dates.
//! Each date becomes one event at 19:00 local time with a price per plan category. Running the
//! seed again creates nothing new, because venues and events are found by their UNIQUE keys. A
//! venue's plan is generated from a seed derived from the venue, so it has the same bytes every
//! time and the import finds it by its SHA-256.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, bail};
use chrono::{DateTime, Datelike, NaiveDate, NaiveTime, TimeDelta, Utc, Weekday};
use futures::{StreamExt, TryStreamExt};

use onsale_shared::EventId;

use crate::config::DatabaseConfig;
use crate::db::{NewEvent, NewEventCategory, NewVenue, SharedDatabase};
use crate::plan::format::Plan;
use crate::plan::generate::{self, Preset, StadiumSpec};
use crate::plan::{ImportedPlan, PreparedPlan, import_prepared};

#[derive(Debug, clap::Args)]
pub struct SeedArgs {
    /// CSV of tour dates with the columns date (YYYY-MM-DD), city, state (a US state code),
    /// country, venue and venue_capacity_or_reported_attendance (may be empty). Other columns
    /// are ignored.
    #[arg(long, env = "ONSALE_SEED_CSV", default_value = "data/eras_tour_2023_us.csv")]
    pub csv: PathBuf,
    /// Load only the dates on this day (YYYY-MM-DD).
    #[arg(long, env = "ONSALE_SEED_ONLY_DATE")]
    pub only_date: Option<NaiveDate>,
    /// Load only the dates at this venue (the CSV's venue name, case-insensitive).
    #[arg(long, env = "ONSALE_SEED_ONLY_VENUE")]
    pub only_venue: Option<String>,
    /// Layout of the generated plans. With metlife, each plan is scaled toward the venue's
    /// reported capacity where the CSV has one; small plans are used as they are.
    #[arg(long, env = "ONSALE_SEED_PLAN_PRESET", value_enum, default_value_t = Preset::Metlife)]
    pub plan_preset: Preset,
    /// Tour name; each event is named "<tour name> | <venue>".
    #[arg(long, env = "ONSALE_SEED_TOUR_NAME", default_value = "The Eras Tour")]
    pub tour_name: String,
    #[command(flatten)]
    pub database: DatabaseConfig,
}

/// Options of a seed run, without the database connection.
#[derive(Debug, Clone)]
pub struct SeedOptions {
    pub csv: PathBuf,
    pub only_date: Option<NaiveDate>,
    pub only_venue: Option<String>,
    pub plan_preset: Preset,
    pub tour_name: String,
}

impl From<&SeedArgs> for SeedOptions {
    fn from(args: &SeedArgs) -> Self {
        Self {
            csv: args.csv.clone(),
            only_date: args.only_date,
            only_venue: args.only_venue.clone(),
            plan_preset: args.plan_preset,
            tour_name: args.tour_name.clone(),
        }
    }
}

/// One row of the tour CSV.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct TourDate {
    pub date: NaiveDate,
    pub city: String,
    pub state: String,
    pub country: String,
    pub venue: String,
    #[serde(rename = "venue_capacity_or_reported_attendance")]
    pub capacity: Option<u32>,
}

/// Reads every row of a tour CSV.
pub fn read_tour_dates(path: &std::path::Path) -> anyhow::Result<Vec<TourDate>> {
    let mut reader = csv::Reader::from_path(path).with_context(|| format!("opening {} failed", path.display()))?;
    let mut dates = Vec::new();
    for record in reader.deserialize() {
        let date: TourDate = record.with_context(|| format!("invalid row in {}", path.display()))?;
        dates.push(date);
    }
    Ok(dates)
}

/// An event that this run created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatedEvent {
    pub id: EventId,
    pub name: String,
    pub local_date: NaiveDate,
    pub starts_at: DateTime<Utc>,
    /// UTC offset of the start, in hours.
    pub utc_offset_hours: i32,
    pub venue: String,
    pub city: String,
    pub region: String,
    pub plan_id: i64,
    pub seat_count: u32,
}

/// Counts and created events of a seed run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SeedReport {
    /// CSV rows selected by the filters.
    pub dates_selected: usize,
    pub venues_created: usize,
    pub plans_created: usize,
    /// Seats written by the plans this run created.
    pub seats_written: u64,
    pub events_created: Vec<CreatedEvent>,
    /// Selected dates whose event already existed.
    pub events_existing: usize,
}

/// `onsale seed`: loads the CSV into an already migrated database and prints a line per
/// created event and the totals.
pub async fn run(args: SeedArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let db = crate::db::connect(&args.database).await?;
    let report = seed(&db, &SeedOptions::from(&args)).await?;
    for event in &report.events_created {
        println!(
            "created event {} {:?} on {} at 19:00 (UTC{:+}) in {}, {}: plan {} with {} seats",
            event.id,
            event.name,
            event.local_date,
            event.utc_offset_hours,
            event.city,
            event.region,
            event.plan_id,
            event.seat_count
        );
    }
    println!(
        "seed: {} dates selected, {} events created, {} already present, {} venues created, {} plans imported ({} seats), {:.1} s",
        report.dates_selected,
        report.events_created.len(),
        report.events_existing,
        report.venues_created,
        report.plans_created,
        report.seats_written,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Plans generated and imported at once. Generating is CPU work and importing mostly
/// database work, so two in flight keep two cores busy.
const PLANS_IN_FLIGHT: usize = 2;

/// One venue's share of a seed run.
struct VenueWork<'a> {
    venue_id: i64,
    /// The venue's first selected row, for its name, city and state.
    first: &'a TourDate,
    capacity: Option<u32>,
    /// Selected dates without an event yet, with their start time and UTC offset.
    missing: Vec<(&'a TourDate, DateTime<Utc>, i32)>,
}

/// Loads the selected tour dates: venues, one plan per venue, events and their prices.
pub async fn seed(db: &SharedDatabase, options: &SeedOptions) -> anyhow::Result<SeedReport> {
    let all_dates = read_tour_dates(&options.csv)?;
    let selected: Vec<&TourDate> = all_dates
        .iter()
        .filter(|date| options.only_date.is_none_or(|only| date.date == only))
        .filter(|date| options.only_venue.as_ref().is_none_or(|only| date.venue.eq_ignore_ascii_case(only.trim())))
        .collect();
    if selected.is_empty() {
        bail!("no row of {} matches --only-date and --only-venue", options.csv.display());
    }
    for date in &selected {
        start_time(date)?;
    }

    // A venue's plan is sized from all its rows, not only the selected ones, so that loading a
    // subset first and the rest later puts every date of a venue on the same plan.
    let mut capacity: HashMap<(&str, &str), u32> = HashMap::new();
    for date in &all_dates {
        if let Some(reported) = date.capacity {
            let entry = capacity.entry((date.venue.as_str(), date.city.as_str())).or_default();
            *entry = (*entry).max(reported);
        }
    }

    let mut report = SeedReport { dates_selected: selected.len(), ..SeedReport::default() };

    // Venues first, in CSV order, with the dates each one still lacks.
    let mut work: Vec<VenueWork<'_>> = Vec::new();
    for date in &selected {
        if work.iter().any(|venue| venue.first.venue == date.venue && venue.first.city == date.city) {
            continue;
        }
        let venue = NewVenue { name: &date.venue, city: &date.city, region: &date.state, country: &date.country };
        let (venue_id, created) = db.find_or_create_venue(&venue).await?;
        if created {
            report.venues_created += 1;
        }
        let existing: HashSet<DateTime<Utc>> = db.event_starts_at_venue(venue_id).await?.into_iter().collect();
        let mut missing = Vec::new();
        for venue_date in selected.iter().filter(|d| d.venue == date.venue && d.city == date.city) {
            let (starts_at, offset) = start_time(venue_date)?;
            if existing.contains(&starts_at) {
                report.events_existing += 1;
            } else {
                missing.push((*venue_date, starts_at, offset));
            }
        }
        let capacity = capacity.get(&(date.venue.as_str(), date.city.as_str())).copied();
        work.push(VenueWork { venue_id, first: date, capacity, missing });
    }

    // Then the plans of the venues that need events, several at once.
    let needs_plan: Vec<&VenueWork<'_>> = work.iter().filter(|venue| !venue.missing.is_empty()).collect();
    let plans: Vec<ImportedPlan> =
        futures::stream::iter(needs_plan.iter().map(|venue| venue_plan_imported(db, options.plan_preset, venue)))
            .buffered(PLANS_IN_FLIGHT)
            .try_collect()
            .await?;

    // Then the events, in CSV order, so event ids follow the tour.
    for (venue, plan) in needs_plan.into_iter().zip(plans) {
        if plan.created {
            report.plans_created += 1;
            report.seats_written += u64::from(plan.plan.seat_count);
        }
        insert_venue_events(db, options, venue, &plan, &mut report).await?;
    }
    Ok(report)
}

/// Generates and checks a venue's plan on a blocking thread, then imports it.
async fn venue_plan_imported(
    db: &SharedDatabase,
    preset: Preset,
    venue: &VenueWork<'_>,
) -> anyhow::Result<ImportedPlan> {
    let (name, city, capacity) = (venue.first.venue.clone(), venue.first.city.clone(), venue.capacity);
    let prepared = tokio::task::spawn_blocking(move || -> anyhow::Result<PreparedPlan> {
        let (plan, bytes) = venue_plan(preset, &name, &city, capacity)?;
        Ok(PreparedPlan::from_plan(plan, &bytes)?)
    })
    .await??;
    import_prepared(db, &prepared, Some(venue.venue_id))
        .await
        .with_context(|| format!("importing the generated plan of {} failed", venue.first.venue))
}

/// Creates a venue's missing events with their prices, in one transaction.
async fn insert_venue_events(
    db: &SharedDatabase,
    options: &SeedOptions,
    venue: &VenueWork<'_>,
    plan: &ImportedPlan,
    report: &mut SeedReport,
) -> anyhow::Result<()> {
    let keys = db.plan_category_keys(plan.plan.id).await?;
    let prices: Vec<NewEventCategory<'_>> = keys
        .iter()
        .map(|key| NewEventCategory { key, name: key, price_cents: price_cents(key), currency: "USD" })
        .collect();

    let name = format!("{} | {}", options.tour_name, venue.first.venue);
    let events: Vec<NewEvent<'_>> = venue
        .missing
        .iter()
        .map(|(date, starts_at, _)| NewEvent {
            name: &name,
            venue_id: venue.venue_id,
            plan_id: plan.plan.id,
            city: &date.city,
            local_date: date.date,
            starts_at: *starts_at,
        })
        .collect();
    let ids = db.insert_events(&events, &prices).await?;

    let mut created = Vec::new();
    for ((date, starts_at, offset), id) in venue.missing.iter().zip(ids) {
        let Some(id) = id else {
            // A concurrent seed created it after our lookup.
            report.events_existing += 1;
            continue;
        };
        created.push(CreatedEvent {
            id,
            name: name.clone(),
            local_date: date.date,
            starts_at: *starts_at,
            utc_offset_hours: *offset,
            venue: date.venue.clone(),
            city: date.city.clone(),
            region: date.state.clone(),
            plan_id: plan.plan.id,
            seat_count: plan.plan.seat_count,
        });
    }
    report.events_created.extend(created);
    Ok(())
}

/// Generates the plan of a venue with its file bytes. The plan is the preset named after the
/// venue, drawn with a seed taken from the venue, and for the metlife preset scaled toward the
/// venue's reported capacity.
pub fn venue_plan(preset: Preset, venue: &str, city: &str, capacity: Option<u32>) -> anyhow::Result<(Plan, Vec<u8>)> {
    let mut spec = StadiumSpec::preset(preset);
    spec.name = format!("{venue}, {}", spec.stage.describe());
    spec.seed = fnv1a(format!("{venue}\n{city}").as_bytes());
    let plan = match (preset, capacity) {
        (Preset::Metlife, Some(target)) => generate::generate_sized(&spec, target)?.1,
        _ => generate::generate(&spec)?,
    };
    let mut bytes = serde_json::to_vec(&plan)?;
    bytes.push(b'\n');
    Ok((plan, bytes))
}

/// FNV-1a, a hash whose output is fixed by its definition (unlike std's `DefaultHasher`), so a
/// venue keeps its seed across Rust releases.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash: u64, byte| (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3))
}

/// Price of a generated plan's category, in US cents. The tiers are illustrative, from 49 to
/// 449 USD.
pub fn price_cents(category: &str) -> i64 {
    let dollars = match category {
        "Floor" => 449,
        "Club" => 349,
        "Lower Bowl" => 249,
        "Mezzanine" => 149,
        "Upper Bowl" => 49,
        _ => 99,
    };
    dollars * 100
}

/// 19:00 local time on the date at the venue, in UTC, with the UTC offset in hours.
pub fn start_time(date: &TourDate) -> anyhow::Result<(DateTime<Utc>, i32)> {
    if date.country != "US" {
        bail!(
            "{} at {}: only US dates are supported (country {:?}), because time zones come from US states",
            date.date,
            date.venue,
            date.country
        );
    }
    let offset = us_utc_offset(&date.state, date.date)
        .with_context(|| format!("{} at {}: no time zone for state {:?}", date.date, date.venue, date.state))?;
    let local = date.date.and_time(NaiveTime::from_hms_opt(19, 0, 0).unwrap_or_default());
    let utc = local - TimeDelta::hours(i64::from(offset));
    Ok((utc.and_utc(), offset))
}

/// Returns the UTC offset in hours of a US state's evening on `date`: standard time, plus one
/// hour of daylight saving time. Since 2007 that runs from the second Sunday of March to the
/// first Sunday of November, and both changes happen at 02:00, before an evening show.
///
/// NOTE: a state that spans two time zones gets the zone where most of its people live, so a
/// show in the Florida panhandle or in El Paso would start an hour off.
pub fn us_utc_offset(state: &str, date: NaiveDate) -> Option<i32> {
    let (standard, observes_dst) = match state {
        "CT" | "DC" | "DE" | "FL" | "GA" | "IN" | "KY" | "MA" | "MD" | "ME" | "MI" | "NC" | "NH" | "NJ" | "NY"
        | "OH" | "PA" | "RI" | "SC" | "VA" | "VT" | "WV" => (-5, true),
        "AL" | "AR" | "IA" | "IL" | "KS" | "LA" | "MN" | "MO" | "MS" | "ND" | "NE" | "OK" | "SD" | "TN" | "TX"
        | "WI" => (-6, true),
        "CO" | "ID" | "MT" | "NM" | "UT" | "WY" => (-7, true),
        "AZ" => (-7, false),
        "CA" | "NV" | "OR" | "WA" => (-8, true),
        "AK" => (-9, true),
        "HI" => (-10, false),
        "PR" => (-4, false),
        _ => return None,
    };
    if date.year() < 2007 {
        // Earlier years had other daylight-saving dates, which are not built in.
        return None;
    }
    let dst_starts = nth_sunday(date.year(), 3, 2)?;
    let dst_ends = nth_sunday(date.year(), 11, 1)?;
    let in_dst = observes_dst && date >= dst_starts && date < dst_ends;
    Some(if in_dst { standard + 1 } else { standard })
}

fn nth_sunday(year: i32, month: u32, n: u8) -> Option<NaiveDate> {
    NaiveDate::from_weekday_of_month_opt(year, month, Weekday::Sun, n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn offsets_follow_daylight_saving() {
        assert_eq!(us_utc_offset("NJ", day("2023-05-26")), Some(-4));
        assert_eq!(us_utc_offset("NJ", day("2023-03-11")), Some(-5));
        assert_eq!(us_utc_offset("NJ", day("2023-03-12")), Some(-4));
        assert_eq!(us_utc_offset("NJ", day("2023-11-05")), Some(-5));
        assert_eq!(us_utc_offset("AZ", day("2023-03-17")), Some(-7));
        assert_eq!(us_utc_offset("CA", day("2023-08-03")), Some(-7));
        assert_eq!(us_utc_offset("TX", day("2023-03-31")), Some(-5));
        assert_eq!(us_utc_offset("XX", day("2023-03-31")), None);
    }

    #[test]
    fn start_is_seven_pm_local() {
        let date = TourDate {
            date: day("2023-05-26"),
            city: "East Rutherford".into(),
            state: "NJ".into(),
            country: "US".into(),
            venue: "MetLife Stadium".into(),
            capacity: None,
        };
        let (starts_at, offset) = start_time(&date).unwrap();
        assert_eq!(offset, -4);
        assert_eq!(starts_at.to_rfc3339(), "2023-05-26T23:00:00+00:00");
    }

    #[test]
    fn venue_seed_is_stable() {
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
    }
}
