-- OrderDB on SQLite: immutable confirmed purchases, their tickets, and the outbox that carries
-- ticket messages to the event log. The same tables and constraints as migrations/postgres/;
-- UUIDs are lowercase hyphenated text.

CREATE TABLE orders (
    id          TEXT PRIMARY KEY CHECK (length(id) = 36),
    event_id    INTEGER NOT NULL REFERENCES events (id),
    -- One order per hold: a retried confirmation finds the first order instead of charging twice.
    hold_id     TEXT NOT NULL UNIQUE CHECK (length(hold_id) = 36),
    fan_id      TEXT NOT NULL,
    email       TEXT NOT NULL,
    total_cents INTEGER NOT NULL CHECK (total_cents >= 0),
    currency    TEXT NOT NULL CHECK (length(currency) <= 3),
    payment_ref TEXT NOT NULL,
    created_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
) STRICT;

CREATE INDEX orders_fan ON orders (fan_id);
CREATE INDEX orders_event ON orders (event_id);

-- One row per sold seat. The UNIQUE constraint is the last guard against selling a seat twice:
-- whatever the hold store says, the database accepts one sale per seat.
CREATE TABLE order_seats (
    order_id    TEXT NOT NULL REFERENCES orders (id),
    event_id    INTEGER NOT NULL,
    seat_index  INTEGER NOT NULL,
    price_cents INTEGER NOT NULL CHECK (price_cents >= 0),
    CONSTRAINT order_seats_one_sale_per_seat UNIQUE (event_id, seat_index)
) STRICT;

CREATE INDEX order_seats_order ON order_seats (order_id);

CREATE TABLE tickets (
    id          TEXT PRIMARY KEY CHECK (length(id) = 36),
    order_id    TEXT NOT NULL REFERENCES orders (id),
    event_id    INTEGER NOT NULL,
    seat_index  INTEGER NOT NULL,
    -- Signed by the ticket worker; deterministic, so a redelivered message signs the same secret.
    secret      TEXT,
    -- The ticket worker claims a ticket before sending its email and records the send after.
    email_claimed_at TEXT,
    emailed_at  TEXT,
    UNIQUE (event_id, seat_index)
) STRICT;

CREATE INDEX tickets_order ON tickets (order_id);

-- Messages written in the same transaction as the order and relayed afterwards, so a confirmed
-- seat's ticket message survives an outage of the event log at commit time.
CREATE TABLE outbox (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    topic       TEXT NOT NULL,
    message_key TEXT NOT NULL,
    payload     TEXT NOT NULL CHECK (json_valid(payload)),
    created_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
) STRICT;

-- Payments taken and then given back (the hold was lost, or the order could not be written).
CREATE TABLE refunds (
    payment_ref TEXT PRIMARY KEY,
    event_id    INTEGER NOT NULL,
    hold_id     TEXT NOT NULL,
    amount_cents INTEGER NOT NULL,
    reason      TEXT NOT NULL,
    created_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
) STRICT;
