//! Parsing, validating and importing pretix seating plans, on the example plan under `data/`
//! and on broken copies of it. The import tests need PostgreSQL (see `plan_support`).

mod plan_support;

use serde_json::{Value, json};

use onsale_origin::plan::{ImportError, PlanError, import_plan, parse_plan};
use plan_support::{TestDb, example_plan_bytes, example_plan_json};

/// Absolute coordinates of every seat of a plan, in file order, computed from the JSON by
/// pretix's rule (zone + row + seat position) without the crate's code.
fn expected_seats(plan: &Value) -> Vec<(String, f64, f64)> {
    let mut seats = Vec::new();
    for zone in plan["zones"].as_array().unwrap() {
        let (zx, zy) = (zone["position"]["x"].as_f64().unwrap(), zone["position"]["y"].as_f64().unwrap());
        for row in zone["rows"].as_array().unwrap() {
            let (rx, ry) = (row["position"]["x"].as_f64().unwrap(), row["position"]["y"].as_f64().unwrap());
            for seat in row["seats"].as_array().unwrap() {
                let (sx, sy) = (seat["position"]["x"].as_f64().unwrap(), seat["position"]["y"].as_f64().unwrap());
                seats.push((seat["seat_guid"].as_str().unwrap().to_owned(), zx + rx + sx, zy + ry + sy));
            }
        }
    }
    seats
}

fn reject(plan: &Value) -> PlanError {
    let bytes = serde_json::to_vec(plan).unwrap();
    parse_plan(&bytes).expect_err("the plan must be rejected")
}

#[test]
fn example_plan_parses() {
    let valid = parse_plan(&example_plan_bytes()).unwrap();
    assert_eq!(valid.seats.len(), 40);
    assert_eq!(valid.plan.categories.len(), 3);
    let first = &valid.seats[0];
    assert_eq!(
        (first.guid.as_str(), first.zone.as_str(), first.row.as_str(), first.number.as_str()),
        ("S-A-1", "Stalls", "A", "1")
    );
    // Stalls at (120, 120) + row A at (30, 0) + seat 1 at (0, 0).
    assert_eq!((first.x, first.y), (150.0, 120.0));
    let last = &valid.seats[39];
    assert_eq!((last.guid.as_str(), last.zone.as_str(), last.category), ("B-F-8", "Balcony", 2));
}

#[test]
fn example_plan_coordinates_follow_pretix() {
    let valid = parse_plan(&example_plan_bytes()).unwrap();
    let expected = expected_seats(&example_plan_json());
    assert_eq!(valid.seats.len(), expected.len());
    for (seat, (guid, x, y)) in valid.seats.iter().zip(&expected) {
        assert_eq!(seat.guid.as_str(), guid);
        assert_eq!((seat.x, seat.y), (*x, *y), "seat {guid}");
    }
}

#[test]
fn unknown_key_is_rejected() {
    let mut plan = example_plan_json();
    plan["zones"][0]["rows"][0]["section_break"] = json!(true);
    let err = reject(&plan);
    assert_eq!(err.path, "zones[0].rows[0].section_break");
    assert!(err.reason.contains("unknown field `section_break`"), "{err}");
}

#[test]
fn unknown_top_level_key_is_rejected() {
    let mut plan = example_plan_json();
    plan["version"] = json!("0.0.1");
    assert_eq!(reject(&plan).path, "version");
}

#[test]
fn missing_size_is_rejected() {
    let mut plan = example_plan_json();
    plan.as_object_mut().unwrap().remove("size");
    let err = reject(&plan);
    assert_eq!(err.path, "size");
    assert!(err.reason.contains("missing field `size`"), "{err}");
}

#[test]
fn missing_size_height_is_rejected() {
    let mut plan = example_plan_json();
    plan["size"].as_object_mut().unwrap().remove("height");
    assert_eq!(reject(&plan).path, "size.height");
}

#[test]
fn bad_row_number_position_is_rejected() {
    let mut plan = example_plan_json();
    plan["zones"][0]["rows"][1]["row_number_position"] = json!("left");
    let err = reject(&plan);
    assert_eq!(err.path, "zones[0].rows[1].row_number_position");
    assert!(err.reason.contains("left"), "{err}");
}

#[test]
fn seat_without_guid_is_rejected() {
    let mut plan = example_plan_json();
    plan["zones"][1]["rows"][0]["seats"][2].as_object_mut().unwrap().remove("seat_guid");
    let err = reject(&plan);
    assert_eq!(err.path, "zones[1].rows[0].seats[2].seat_guid");
    assert!(err.reason.contains("missing field `seat_guid`"), "{err}");
}

#[test]
fn triangle_shape_is_rejected() {
    let mut plan = example_plan_json();
    plan["zones"][0]["areas"][0]["shape"] = json!("triangle");
    let err = reject(&plan);
    assert_eq!(err.path, "zones[0].areas[0].shape");
    assert!(err.reason.contains("triangle"), "{err}");
}

#[test]
fn unknown_category_is_rejected() {
    let mut plan = example_plan_json();
    plan["zones"][1]["rows"][0]["seats"][3]["category"] = json!("VIP");
    let err = reject(&plan);
    assert_eq!(err.path, "zones[1].rows[0].seats[3].category");
    assert_eq!(err.value.as_deref(), Some("\"VIP\""));
    assert!(err.to_string().contains("VIP"), "{err}");
}

#[test]
fn duplicate_seat_guid_is_rejected() {
    let mut plan = example_plan_json();
    plan["zones"][0]["rows"][1]["seats"][0]["seat_guid"] = json!("S-A-1");
    let err = reject(&plan);
    assert_eq!(err.path, "zones[0].rows[1].seats[0].seat_guid");
    assert_eq!(err.value.as_deref(), Some("\"S-A-1\""));
    assert!(err.reason.contains("zones[0].rows[0].seats[0]"), "names the first use: {err}");
}

#[test]
fn duplicate_uuid_is_rejected() {
    let mut plan = example_plan_json();
    plan["zones"][1]["uuid"] = plan["zones"][0]["uuid"].clone();
    let err = reject(&plan);
    assert_eq!(err.path, "zones[1].uuid");
    assert_eq!(err.value.as_deref(), Some("\"0ba75e63-2205-4ad7-bd66-c01f47376eb4\""));
}

#[test]
fn duplicate_uuid_across_kinds_is_rejected() {
    let mut plan = example_plan_json();
    plan["zones"][1]["rows"][1]["seats"][7]["uuid"] = plan["zones"][0]["areas"][1]["uuid"].clone();
    assert_eq!(reject(&plan).path, "zones[1].rows[1].seats[7].uuid");
}

#[test]
fn duplicate_category_name_is_rejected() {
    let mut plan = example_plan_json();
    plan["categories"][2]["name"] = json!("Front Stalls");
    let err = reject(&plan);
    assert_eq!(err.path, "categories[2].name");
    assert_eq!(err.value.as_deref(), Some("\"Front Stalls\""));
}

#[test]
fn plan_without_seats_is_rejected() {
    let mut plan = example_plan_json();
    for zone in plan["zones"].as_array_mut().unwrap() {
        zone["rows"] = json!([]);
    }
    let err = reject(&plan);
    assert_eq!(err.path, "zones");
    assert!(err.reason.contains("no seats"), "{err}");
}

#[test]
fn invalid_seat_guid_is_rejected() {
    let mut plan = example_plan_json();
    plan["zones"][0]["rows"][2]["seats"][1]["seat_guid"] = json!("S/C/2");
    let err = reject(&plan);
    assert_eq!(err.path, "zones[0].rows[2].seats[1].seat_guid");
    assert_eq!(err.value.as_deref(), Some("\"S/C/2\""));
}

#[test]
fn huge_coordinate_is_rejected() {
    let mut plan = example_plan_json();
    plan["zones"][1]["position"]["x"] = json!(1.0e12);
    let err = reject(&plan);
    assert_eq!(err.path, "zones[1].position.x");
    assert_eq!(err.value.as_deref(), Some("1000000000000"));
}

#[test]
fn coordinates_that_add_up_too_far_are_rejected() {
    let mut plan = example_plan_json();
    plan["zones"][1]["position"]["x"] = json!(900_000);
    plan["zones"][1]["rows"][0]["position"]["x"] = json!(900_000);
    assert_eq!(reject(&plan).path, "zones[1].rows[0].seats[0].position");
}

#[test]
fn null_zone_name_is_rejected() {
    let mut plan = example_plan_json();
    plan["zones"][0]["name"] = Value::Null;
    assert_eq!(reject(&plan).path, "zones[0].name");
}

#[test]
fn nullable_keys_accept_null() {
    let mut plan = example_plan_json();
    plan["zones"][0]["rows"][0]["row_label"] = Value::Null;
    plan["zones"][0]["rows"][0]["row_number_position"] = Value::Null;
    plan["zones"][0]["rows"][0]["seats"][0]["start_direction"] = Value::Null;
    assert!(parse_plan(&serde_json::to_vec(&plan).unwrap()).is_ok());
}

#[test]
fn integer_size_accepts_whole_floats() {
    let mut plan = example_plan_json();
    plan["size"]["width"] = json!(480.0);
    assert!(parse_plan(&serde_json::to_vec(&plan).unwrap()).is_ok());
    plan["size"]["width"] = json!(480.5);
    assert_eq!(reject(&plan).path, "size.width");
}

#[test]
fn pretix_fixture_shape_parses() {
    // The minimal shape of pretix's own API test fixture: no optional keys at all.
    let plan = json!({
        "name": "Grosser Saal",
        "categories": [{"name": "Stalls", "color": "red"}],
        "zones": [{
            "name": "Main Area",
            "position": {"x": 0, "y": 0},
            "rows": [{
                "row_number": "0",
                "position": {"x": 0, "y": 0},
                "seats": [
                    {"seat_guid": "0-0", "seat_number": "0-0", "position": {"x": 0, "y": 0}, "category": "Stalls"},
                    {"seat_guid": "0-1", "seat_number": "0-1", "position": {"x": 33, "y": 0}, "category": "Stalls"},
                    {"seat_guid": "0-2", "seat_number": "0-2", "position": {"x": 66, "y": 0}, "category": "Stalls"}
                ]
            }]
        }],
        "size": {"width": 600, "height": 400}
    });
    let valid = parse_plan(&serde_json::to_vec(&plan).unwrap()).unwrap();
    assert_eq!(valid.seats.len(), 3);
    assert_eq!(valid.seats[2].x, 66.0);
}

#[test]
fn trailing_content_is_rejected() {
    let mut bytes = example_plan_bytes();
    bytes.extend_from_slice(b" {}");
    assert!(parse_plan(&bytes).is_err());
}

#[test]
fn syntax_error_names_a_path() {
    let bytes = br#"{"name": "x", "categories": [{"name": "A",}]}"#;
    let err = parse_plan(bytes).unwrap_err();
    assert!(err.path.starts_with("categories[0]"), "{err}");
    assert!(err.reason.contains("line 1"), "{err}");
}

/// A `seats` row: index, GUID, zone, row, number, x, y and category position.
type SeatRow = (i32, String, String, String, String, f64, f64, i16);

#[tokio::test]
async fn example_plan_imports_40_seats() {
    let db = TestDb::create().await;
    let imported = import_plan(&db.database, &example_plan_bytes(), None).await.unwrap();
    assert!(imported.created);
    assert_eq!(imported.plan.seat_count, 40);
    assert_eq!(imported.category_count, 3);

    let (name, width, height, seat_count, sha, areas): (String, f64, f64, i32, String, Value) =
        sqlx::query_as("SELECT name, width, height, seat_count, source_sha256, areas FROM seating_plans WHERE id = $1")
            .bind(imported.plan.id)
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(name, "Demo Hall (example, 40 seats)");
    assert_eq!((width, height, seat_count), (480.0, 420.0, 40));
    assert_eq!(sha, onsale_origin::plan::source_sha256(&example_plan_bytes()));
    let areas = areas.as_array().unwrap();
    assert_eq!(areas.len(), 2, "the stage rectangle and its label");
    assert_eq!(areas[0]["zone"], "Stalls");
    assert_eq!(areas[0]["zone_position"], json!({"x": 120.0, "y": 120.0}));
    assert_eq!(areas[1]["area"]["text"]["text"], "STAGE");

    let categories: Vec<(i16, String, Option<String>)> =
        sqlx::query_as("SELECT position, key, color FROM plan_categories WHERE plan_id = $1 ORDER BY position")
            .bind(imported.plan.id)
            .fetch_all(&db.pool)
            .await
            .unwrap();
    assert_eq!(
        categories,
        vec![
            (0, "Front Stalls".to_owned(), Some("#d94f4f".to_owned())),
            (1, "Rear Stalls".to_owned(), Some("#4f7fd9".to_owned())),
            (2, "Balcony".to_owned(), Some("#3fa34d".to_owned())),
        ]
    );

    let seats: Vec<SeatRow> = sqlx::query_as(
        "SELECT seat_index, guid, zone, row_number, seat_number, x, y, category FROM seats WHERE plan_id = $1 ORDER BY seat_index",
    )
    .bind(imported.plan.id)
    .fetch_all(&db.pool)
    .await
    .unwrap();
    let expected = expected_seats(&example_plan_json());
    assert_eq!(seats.len(), 40);
    for (i, (seat, (guid, x, y))) in seats.iter().zip(&expected).enumerate() {
        assert_eq!(seat.0, i as i32);
        assert_eq!(&seat.1, guid);
        assert_eq!((seat.5, seat.6), (*x, *y), "seat {guid}");
    }
    assert_eq!(seats[0].2, "Stalls");
    assert_eq!((seats[0].3.as_str(), seats[0].4.as_str(), seats[0].7), ("A", "1", 0));
    assert_eq!(
        (seats[39].2.as_str(), seats[39].3.as_str(), seats[39].4.as_str(), seats[39].7),
        ("Balcony", "F", "8", 2)
    );
    db.drop().await;
}

#[tokio::test]
async fn reimport_is_idempotent() {
    let db = TestDb::create().await;
    let first = import_plan(&db.database, &example_plan_bytes(), None).await.unwrap();
    let second = import_plan(&db.database, &example_plan_bytes(), None).await.unwrap();
    assert!(first.created);
    assert!(!second.created);
    assert_eq!(second.plan, first.plan);
    assert_eq!(second.category_count, 3);
    assert_eq!(db.count("SELECT count(*) FROM seating_plans").await, 1);
    assert_eq!(db.count("SELECT count(*) FROM seats").await, 40);
    assert_eq!(db.count("SELECT count(*) FROM plan_categories").await, 3);

    // A changed byte is another file, and so another plan.
    let mut changed = example_plan_bytes();
    changed.push(b'\n');
    let third = import_plan(&db.database, &changed, None).await.unwrap();
    assert!(third.created);
    assert_ne!(third.plan.id, first.plan.id);
    db.drop().await;
}

#[tokio::test]
async fn concurrent_imports_make_one_plan() {
    let db = TestDb::create().await;
    let bytes = example_plan_bytes();
    let (a, b) = tokio::join!(import_plan(&db.database, &bytes, None), import_plan(&db.database, &bytes, None));
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.plan.id, b.plan.id);
    assert_eq!(u8::from(a.created) + u8::from(b.created), 1);
    assert_eq!(db.count("SELECT count(*) FROM seats").await, 40);
    db.drop().await;
}

#[tokio::test]
async fn invalid_plan_writes_nothing() {
    let db = TestDb::create().await;
    let mut plan = example_plan_json();
    plan["zones"][1]["rows"][1]["seats"][7]["category"] = json!("VIP");
    let err = import_plan(&db.database, &serde_json::to_vec(&plan).unwrap(), None).await.unwrap_err();
    let ImportError::Invalid(err) = err else {
        panic!("expected a validation error, got {err}");
    };
    assert_eq!(err.path, "zones[1].rows[1].seats[7].category");
    assert_eq!(db.count("SELECT count(*) FROM seating_plans").await, 0);
    db.drop().await;
}

#[tokio::test]
async fn import_command_links_the_venue() {
    let db = TestDb::create().await;
    let args = onsale_origin::plan::ImportPlanArgs {
        file: plan_support::data_path("pretix_example_plan.json"),
        venue: Some("Demo Hall".to_owned()),
        city: Some("Berlin".to_owned()),
        region: "BE".to_owned(),
        country: "DE".to_owned(),
        database: db.config(),
    };
    onsale_origin::plan::run_import(args).await.unwrap();
    let (venue, city, region): (String, String, String) =
        sqlx::query_as("SELECT v.name, v.city, v.region FROM seating_plans p JOIN venues v ON v.id = p.venue_id")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!((venue.as_str(), city.as_str(), region.as_str()), ("Demo Hall", "Berlin", "BE"));
    db.drop().await;
}
