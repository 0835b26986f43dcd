//! The stadium generator: its plans must pass the pretix parser, keep the numbering rules and
//! come out the same for the same seed. The import test needs PostgreSQL (see `plan_support`).

mod plan_support;

use std::collections::HashSet;
use std::time::Instant;

use clap::Parser;

use onsale_origin::plan::generate::{self, GenerateVenueArgs, Preset, StadiumSpec, StageEnd};
use onsale_origin::plan::{import_plan, parse_plan};
use plan_support::TestDb;

fn plan_bytes(spec: &StadiumSpec) -> Vec<u8> {
    serde_json::to_vec(&generate::generate(spec).unwrap()).unwrap()
}

/// Parses `generate-venue` options the way the command line does.
#[derive(Parser)]
struct GenerateCommand {
    #[command(flatten)]
    args: GenerateVenueArgs,
}

fn args(argv: &[&str]) -> GenerateVenueArgs {
    GenerateCommand::try_parse_from(std::iter::once("generate-venue").chain(argv.iter().copied())).unwrap().args
}

#[test]
fn metlife_preset_parses_with_60000_seats() {
    let bytes = plan_bytes(&StadiumSpec::preset(Preset::Metlife));
    let valid = parse_plan(&bytes).unwrap();
    let seats = valid.seats.len();
    assert!(seats >= 60_000, "{seats} seats");
    assert!((70_000..=74_000).contains(&seats), "{seats} seats, expected about 72,500 like MetLife's 2023 concerts");

    let categories: Vec<&str> = valid.plan.categories.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(categories, ["Floor", "Lower Bowl", "Club", "Mezzanine", "Upper Bowl"]);
    assert!(valid.plan.categories.iter().all(|c| c.color.is_some()));
    for seat in &valid.seats {
        assert!(seat.x >= 0.0, "seat {} left of the canvas", seat.guid);
        assert!(seat.x <= valid.plan.size.width as f64, "seat {} right of the canvas", seat.guid);
        assert!(seat.y >= 0.0, "seat {} above the canvas", seat.guid);
        assert!(seat.y <= valid.plan.size.height as f64, "seat {} below the canvas", seat.guid);
    }
}

#[test]
fn sections_follow_the_naming_rules() {
    let plan = generate::generate(&StadiumSpec::preset(Preset::Metlife)).unwrap();
    let mut ids = HashSet::new();
    for zone in plan.zones.iter().filter(|zone| !zone.rows.is_empty()) {
        let id = zone.zone_id.clone().unwrap();
        assert!(ids.insert(id.clone()), "section {id} twice");
        if let Some(number) = id.strip_prefix('F') {
            assert_eq!(zone.name.as_deref(), Some(format!("Floor {number}").as_str()));
        } else {
            assert_eq!(id.len(), 3, "section id {id}");
            assert!(matches!(&id[..1], "1" | "2" | "3"), "section id {id}");
            assert_eq!(zone.name.as_deref(), Some(format!("Section {id}").as_str()));
        }
        for (r, row) in zone.rows.iter().enumerate() {
            assert_eq!(row.row_number, (r + 1).to_string(), "rows count from 1 at the front");
            for (s, seat) in row.seats.iter().enumerate() {
                assert_eq!(seat.seat_number, (s + 1).to_string());
                assert_eq!(seat.seat_guid, format!("{id}-{}-{}", r + 1, s + 1));
            }
        }
    }
    // The end stage kills the sections around section 101 at the east end.
    assert!(!ids.contains("101"));
    assert!(ids.contains("125"), "the west end keeps its sections");
}

#[test]
fn front_rows_are_nearest_the_field() {
    let plan = generate::generate(&StadiumSpec::preset(Preset::Metlife)).unwrap();
    let field = &plan.zones[0];
    assert_eq!(field.name.as_deref(), Some("Field"));
    let center = (plan.size.width as f64 / 2.0, plan.size.height as f64 / 2.0);
    let distance = |zone: &onsale_origin::plan::format::Zone, row: usize| {
        let row = &zone.rows[row];
        let position = row.position.unwrap();
        let (x, y) = (
            zone.position.x + position.x + row.seats[0].position.x,
            zone.position.y + position.y + row.seats[0].position.y,
        );
        ((x - center.0).powi(2) + (y - center.1).powi(2)).sqrt()
    };
    for zone in plan.zones.iter().filter(|zone| zone.rows.len() > 1 && !zone.zone_id.as_ref().unwrap().starts_with('F'))
    {
        assert!(distance(zone, 0) < distance(zone, zone.rows.len() - 1), "{:?}", zone.name);
    }
}

#[test]
fn generator_is_deterministic() {
    let spec = StadiumSpec::preset(Preset::Metlife);
    assert_eq!(plan_bytes(&spec), plan_bytes(&spec));

    let mut other = spec.clone();
    other.seed = 2;
    assert_ne!(plan_bytes(&spec), plan_bytes(&other), "another seed draws other counts");
}

#[test]
fn small_preset_has_a_few_hundred_seats() {
    let valid = parse_plan(&plan_bytes(&StadiumSpec::preset(Preset::Small))).unwrap();
    assert!((200..=1000).contains(&valid.seats.len()), "{} seats", valid.seats.len());
}

#[test]
fn sized_plan_comes_near_its_target() {
    let (_, plan) = generate::generate_sized(&StadiumSpec::preset(Preset::Metlife), 69_213).unwrap();
    let seats = generate::seat_count(&plan) as f64;
    assert!((seats / 69_213.0 - 1.0).abs() < 0.01, "{seats} seats for a target of 69,213");
}

#[test]
fn football_layout_keeps_every_section() {
    let spec = args(&["--stage", "none"]).spec().unwrap();
    assert_eq!(spec.stage, StageEnd::None);
    assert!(spec.floor.is_none(), "no floor without a stage");
    let plan = generate::generate(&spec).unwrap();
    let sections = plan.zones.iter().filter(|zone| !zone.rows.is_empty()).count();
    assert_eq!(sections, 48 + 48 + 52);
    assert_eq!(plan.name, "MetLife-style stadium, football layout");
    assert!(parse_plan(&serde_json::to_vec(&plan).unwrap()).is_ok());
}

#[test]
fn options_override_the_preset() {
    let spec = args(&[
        "--preset",
        "small",
        "--sections",
        "6,9",
        "--rows",
        "2-3",
        "--seats",
        "4,5-6",
        "--stage",
        "west",
        "--floor-sections",
        "3",
        "--seed",
        "7",
        "--name",
        "Test Park",
    ])
    .spec()
    .unwrap();
    assert_eq!(spec.tiers.len(), 2);
    assert_eq!(spec.tiers[1].sections, 9);
    assert_eq!(spec.tiers[0].rows, spec.tiers[1].rows);
    assert_eq!(spec.tiers[1].seats, "5-6".parse().unwrap());
    assert_eq!(spec.floor.as_ref().unwrap().sections, 3);
    let plan = generate::generate(&spec).unwrap();
    assert_eq!(plan.name, "Test Park");
    let categories: Vec<&str> = plan.categories.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(categories, ["Floor", "Lower Bowl", "Upper Bowl"]);
    assert!(parse_plan(&serde_json::to_vec(&plan).unwrap()).is_ok());
}

#[test]
fn bad_options_are_rejected() {
    assert!(args(&["--sections", "10,10", "--rows", "1,2,3"]).spec().is_err());
    assert!(args(&["--sections", "100"]).spec().is_err());
    assert!(args(&["--stage", "none", "--floor-sections", "2"]).spec().is_err());
    assert!(GenerateCommand::try_parse_from(["generate-venue", "--seats", "34-28"]).is_err());
}

#[test]
fn command_writes_a_plan_file() {
    let path = std::env::temp_dir().join(format!("onsale-plan-{}.json", uuid::Uuid::new_v4().simple()));
    let path_arg = path.to_str().unwrap().to_owned();
    generate::run(args(&["--preset", "small", "--output", &path_arg])).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    std::fs::remove_file(&path).ok();
    assert!(bytes.ends_with(b"\n"));
    let valid = parse_plan(&bytes).unwrap();
    assert_eq!(valid.plan.name, "Small stadium, end stage east");
}

#[tokio::test]
async fn metlife_plan_imports() {
    let db = TestDb::create().await;
    let bytes = plan_bytes(&StadiumSpec::preset(Preset::Metlife));
    let started = Instant::now();
    let imported = import_plan(&db.database, &bytes, None).await.unwrap();
    let elapsed = started.elapsed();
    eprintln!("imported {} seats in {} ms", imported.plan.seat_count, elapsed.as_millis());
    assert!(imported.created);
    assert_eq!(db.count("SELECT count(*) FROM seats").await, i64::from(imported.plan.seat_count));
    let max_index: i32 = sqlx::query_scalar("SELECT max(seat_index) FROM seats").fetch_one(&db.pool).await.unwrap();
    assert_eq!(max_index as u32 + 1, imported.plan.seat_count);
    db.drop().await;
}
