-- EventDB on SQLite: the tables, keys and constraints of migrations/postgres/ with SQLite's types.
-- STRICT tables reject a value of the wrong type, as PostgreSQL does. Ids are INTEGER PRIMARY KEY
-- AUTOINCREMENT, which never reuses an id, like an identity column. Timestamps are RFC 3339 text
-- in UTC with milliseconds (2023-05-26T23:00:00.000Z), checked to be in that one format so that
-- text order is time order. Dates are YYYY-MM-DD text; JSON is text.
-- Availability never lives here: the hold store and the order tables own it.

CREATE TABLE venues (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    name        TEXT NOT NULL CHECK (name <> ''),
    city        TEXT NOT NULL CHECK (city <> ''),
    region      TEXT NOT NULL DEFAULT '',
    country     TEXT NOT NULL DEFAULT '',
    created_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    UNIQUE (name, city)
) STRICT;

-- One imported or generated seating plan. Events share plans: a stadium's concert layout is one
-- plan, and every show on it points here.
CREATE TABLE seating_plans (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    venue_id    INTEGER REFERENCES venues (id),
    name        TEXT NOT NULL,
    width       REAL NOT NULL,
    height      REAL NOT NULL,
    seat_count  INTEGER NOT NULL CHECK (seat_count >= 0),
    -- SHA-256 of the plan file, so importing the same file twice finds the first import.
    source_sha256 TEXT NOT NULL UNIQUE,
    -- Zones' decorative areas (stage, floor) as pretix wrote them, for drawing.
    areas       TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(areas)),
    created_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
) STRICT;

CREATE TABLE plan_categories (
    plan_id     INTEGER NOT NULL REFERENCES seating_plans (id) ON DELETE CASCADE,
    position    INTEGER NOT NULL,
    key         TEXT NOT NULL,
    color       TEXT,
    PRIMARY KEY (plan_id, position),
    UNIQUE (plan_id, key)
) STRICT;

-- Seat geometry. seat_index is the seat's bit in the availability bitmap: 0..seat_count-1 in the
-- plan's order (zone, then row, then seat). WITHOUT ROWID stores the rows in primary key order,
-- so a plan's seats are read in seat-index order from one range of the table.
CREATE TABLE seats (
    plan_id     INTEGER NOT NULL REFERENCES seating_plans (id) ON DELETE CASCADE,
    seat_index  INTEGER NOT NULL CHECK (seat_index >= 0),
    guid        TEXT NOT NULL,
    zone        TEXT NOT NULL,
    row_number  TEXT NOT NULL,
    seat_number TEXT NOT NULL,
    x           REAL NOT NULL,
    y           REAL NOT NULL,
    category    INTEGER NOT NULL,
    PRIMARY KEY (plan_id, seat_index),
    UNIQUE (plan_id, guid),
    FOREIGN KEY (plan_id, category) REFERENCES plan_categories (plan_id, position)
) STRICT, WITHOUT ROWID;

CREATE TABLE events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    name        TEXT NOT NULL CHECK (name <> ''),
    venue_id    INTEGER NOT NULL REFERENCES venues (id),
    plan_id     INTEGER NOT NULL REFERENCES seating_plans (id),
    -- Denormalized from the venue so that browse by city and date is one index scan.
    city        TEXT NOT NULL,
    local_date  TEXT NOT NULL CHECK (local_date = date(local_date)),
    starts_at   TEXT NOT NULL CHECK (starts_at = strftime('%Y-%m-%dT%H:%M:%fZ', starts_at)),
    created_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    UNIQUE (venue_id, starts_at)
) STRICT;

CREATE INDEX events_city_date ON events (lower(city), local_date);
CREATE INDEX events_date ON events (local_date);
CREATE INDEX events_plan ON events (plan_id);

-- Price per plan category for one event. A plan category without a row here is not for sale at
-- that event, as in pretix.
CREATE TABLE event_categories (
    event_id    INTEGER NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    key         TEXT NOT NULL,
    name        TEXT NOT NULL,
    price_cents INTEGER NOT NULL CHECK (price_cents >= 0),
    -- PostgreSQL's CHAR(3) rejects longer codes and pads shorter ones.
    currency    TEXT NOT NULL CHECK (length(currency) <= 3),
    PRIMARY KEY (event_id, key)
) STRICT;
