-- The workflow service's own schema. Documents are the domain models as JSON (pydantic);
-- the columns beside them are what queries filter on.
CREATE TABLE {schema}.requests (
    request_id text PRIMARY KEY,
    process text NOT NULL,
    state text NOT NULL,
    requester text NOT NULL,
    applied_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    version int NOT NULL DEFAULT 1,
    doc jsonb NOT NULL
);
CREATE INDEX requests_pending ON {schema}.requests (process, state);

-- Every transition, in order, committed with the state change: the request's history.
CREATE TABLE {schema}.history (
    seq bigserial PRIMARY KEY,
    request_id text NOT NULL,
    event_id text NOT NULL UNIQUE,
    subject text NOT NULL,
    actor text,
    at timestamptz NOT NULL,
    data jsonb NOT NULL
);
CREATE INDEX history_by_request ON {schema}.history (request_id, seq);

CREATE TABLE {schema}.counters (
    prefix text NOT NULL,
    year int NOT NULL,
    n int NOT NULL,
    PRIMARY KEY (prefix, year)
);

-- What the workflow knows of the inventory, from cctv.camera.* events (never ingest's tables).
CREATE TABLE {schema}.cameras (
    camera_id text PRIMARY KEY,
    record jsonb NOT NULL
);

-- Art. 9: what 后勤处 and NIC have on file per system.
CREATE TABLE {schema}.systems (
    system_id text PRIMARY KEY,
    doc jsonb NOT NULL
);

-- Art. 13-14: the duty logbook (append-only; closing appends a closure) and handovers.
CREATE TABLE {schema}.log_entries (
    entry_id text PRIMARY KEY,
    at timestamptz NOT NULL,
    open boolean NOT NULL,
    doc jsonb NOT NULL
);
CREATE TABLE {schema}.handovers (
    handover_id text PRIMARY KEY,
    state text NOT NULL,
    offered_at timestamptz NOT NULL,
    doc jsonb NOT NULL
);
-- Open alerts and faults, learned from cctv.alert.* and cctv.fault.*, carried at handover.
CREATE TABLE {schema}.open_items (
    kind text NOT NULL,
    ref text NOT NULL,
    summary text NOT NULL DEFAULT '',
    opened_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (kind, ref)
);

-- Reminders and escalations already sent: each level fires once per step.
CREATE TABLE {schema}.nudges_sent (
    request_id text NOT NULL,
    step_key text NOT NULL,
    level text NOT NULL,
    sent_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (request_id, step_key, level)
);
