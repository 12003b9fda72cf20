CREATE TABLE {schema}.roster (
    account text PRIMARY KEY,
    name text NOT NULL,
    role text NOT NULL,
    zone text,
    shift_start time NOT NULL DEFAULT '00:00',
    shift_end time NOT NULL DEFAULT '00:00'
);
CREATE TABLE {schema}.alerts (
    alert_id text PRIMARY KEY,
    fault_id text,
    camera_id text,
    zone text NOT NULL,
    severity text NOT NULL,
    recipient text NOT NULL,
    title text NOT NULL,
    body text NOT NULL DEFAULT '',
    status text NOT NULL CHECK (status IN ('raised', 'delivered', 'acknowledged')),
    raised_at timestamptz NOT NULL DEFAULT now(),
    delivered_at timestamptz,
    acknowledged_at timestamptz,
    cleared_at timestamptz
);
CREATE UNIQUE INDEX alerts_one_per_fault_recipient ON {schema}.alerts (fault_id, recipient);
CREATE TABLE {schema}.deliveries (
    delivery_id bigserial PRIMARY KEY,
    alert_id text NOT NULL REFERENCES {schema}.alerts,
    kind text NOT NULL CHECK (kind IN ('alert', 'allclear')),
    channel text NOT NULL,
    status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent')),
    attempts int NOT NULL DEFAULT 0,
    last_error text,
    next_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX deliveries_pending ON {schema}.deliveries (next_at) WHERE status = 'pending';
