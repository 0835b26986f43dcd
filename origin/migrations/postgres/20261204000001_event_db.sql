-- EventDB: venues, seating plans with their seat geometry, events and their price categories.
-- Availability never lives here: the hold store and the order tables below own it.

CREATE TABLE venues (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        TEXT NOT NULL CHECK (name <> ''),
    city        TEXT NOT NULL CHECK (city <> ''),
    region      TEXT NOT NULL DEFAULT '',
    country     TEXT NOT NULL DEFAULT '',
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (name, city)
);

-- One imported or generated seating plan. Events share plans: a stadium's concert layout is one
-- plan, and every show on it points here.
CREATE TABLE seating_plans (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    venue_id    BIGINT REFERENCES venues (id),
    name        TEXT NOT NULL,
    width       DOUBLE PRECISION NOT NULL,
    height      DOUBLE PRECISION NOT NULL,
    seat_count  INTEGER NOT NULL CHECK (seat_count >= 0),
    -- SHA-256 of the plan file, so importing the same file twice finds the first import.
    source_sha256 TEXT NOT NULL UNIQUE,
    -- Zones' decorative areas (stage, floor) as pretix wrote them, for drawing.
    areas       JSONB NOT NULL DEFAULT '[]',
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE plan_categories (
    plan_id     BIGINT NOT NULL REFERENCES seating_plans (id) ON DELETE CASCADE,
    position    SMALLINT NOT NULL,
    key         TEXT NOT NULL,
    color       TEXT,
    PRIMARY KEY (plan_id, position),
    UNIQUE (plan_id, key)
);

-- Seat geometry. seat_index is the seat's bit in the availability bitmap: 0..seat_count-1 in the
-- plan's order (zone, then row, then seat).
CREATE TABLE seats (
    plan_id     BIGINT NOT NULL REFERENCES seating_plans (id) ON DELETE CASCADE,
    seat_index  INTEGER NOT NULL CHECK (seat_index >= 0),
    guid        TEXT NOT NULL,
    zone        TEXT NOT NULL,
    row_number  TEXT NOT NULL,
    seat_number TEXT NOT NULL,
    x           DOUBLE PRECISION NOT NULL,
    y           DOUBLE PRECISION NOT NULL,
    category    SMALLINT NOT NULL,
    PRIMARY KEY (plan_id, seat_index),
    UNIQUE (plan_id, guid),
    FOREIGN KEY (plan_id, category) REFERENCES plan_categories (plan_id, position)
);

CREATE TABLE events (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        TEXT NOT NULL CHECK (name <> ''),
    venue_id    BIGINT NOT NULL REFERENCES venues (id),
    plan_id     BIGINT NOT NULL REFERENCES seating_plans (id),
    -- Denormalized from the venue so that browse by city and date is one index scan.
    city        TEXT NOT NULL,
    local_date  DATE NOT NULL,
    starts_at   TIMESTAMPTZ NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (venue_id, starts_at)
);

CREATE INDEX events_city_date ON events (lower(city), local_date);
CREATE INDEX events_date ON events (local_date);
CREATE INDEX events_plan ON events (plan_id);

-- Price per plan category for one event. A plan category without a row here is not for sale at
-- that event, as in pretix.
CREATE TABLE event_categories (
    event_id    BIGINT NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    key         TEXT NOT NULL,
    name        TEXT NOT NULL,
    price_cents BIGINT NOT NULL CHECK (price_cents >= 0),
    currency    CHAR(3) NOT NULL,
    PRIMARY KEY (event_id, key)
);
