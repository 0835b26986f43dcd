-- OrderDB: immutable confirmed purchases, their tickets, and the outbox that carries ticket
-- messages to Kafka.

CREATE TABLE orders (
    id          UUID PRIMARY KEY,
    event_id    BIGINT NOT NULL REFERENCES events (id),
    -- One order per hold: a retried confirmation finds the first order instead of charging twice.
    hold_id     UUID NOT NULL UNIQUE,
    fan_id      TEXT NOT NULL,
    email       TEXT NOT NULL,
    total_cents BIGINT NOT NULL CHECK (total_cents >= 0),
    currency    CHAR(3) NOT NULL,
    payment_ref TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE INDEX orders_fan ON orders (fan_id);
CREATE INDEX orders_event ON orders (event_id);

-- One row per sold seat. The UNIQUE constraint is the last guard against selling a seat twice:
-- whatever the hold store says, PostgreSQL accepts one sale per seat.
CREATE TABLE order_seats (
    order_id    UUID NOT NULL REFERENCES orders (id),
    event_id    BIGINT NOT NULL,
    seat_index  INTEGER NOT NULL,
    price_cents BIGINT NOT NULL CHECK (price_cents >= 0),
    CONSTRAINT order_seats_one_sale_per_seat UNIQUE (event_id, seat_index)
);

CREATE INDEX order_seats_order ON order_seats (order_id);

CREATE TABLE tickets (
    id          UUID PRIMARY KEY,
    order_id    UUID NOT NULL REFERENCES orders (id),
    event_id    BIGINT NOT NULL,
    seat_index  INTEGER NOT NULL,
    -- Signed by the ticket worker; deterministic, so a redelivered message signs the same secret.
    secret      TEXT,
    -- The ticket worker claims a ticket before sending its email and records the send after.
    email_claimed_at TIMESTAMPTZ,
    emailed_at  TIMESTAMPTZ,
    UNIQUE (event_id, seat_index)
);

CREATE INDEX tickets_order ON tickets (order_id);

-- Messages written in the same transaction as the order and relayed to Kafka afterwards, so a
-- confirmed seat's ticket message survives a Kafka outage at commit time.
CREATE TABLE outbox (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    topic       TEXT NOT NULL,
    message_key TEXT NOT NULL,
    payload     JSONB NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Payments taken and then given back (the hold was lost, or the order could not be written).
CREATE TABLE refunds (
    payment_ref TEXT PRIMARY KEY,
    event_id    BIGINT NOT NULL,
    hold_id     UUID NOT NULL,
    amount_cents BIGINT NOT NULL,
    reason      TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
