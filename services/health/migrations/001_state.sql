CREATE TABLE {schema}.cameras (
    camera_id text PRIMARY KEY,
    record jsonb NOT NULL
);
CREATE TABLE {schema}.camera_health (
    camera_id text PRIMARY KEY,
    state text NOT NULL,
    fail_streak int NOT NULL,
    ok_streak int NOT NULL,
    last_sample_at timestamptz,
    since timestamptz
);
CREATE TABLE {schema}.faults (
    fault_id text PRIMARY KEY,
    camera_id text NOT NULL,
    kind text NOT NULL,
    severity text NOT NULL,
    status text NOT NULL CHECK (status IN ('open', 'resolved')),
    detail text NOT NULL DEFAULT '',
    opened_at timestamptz NOT NULL,
    resolved_at timestamptz,
    ticket_no text,
    ticket_state text NOT NULL DEFAULT 'pending'
        CHECK (ticket_state IN ('pending', 'opened', 'closed')),
    ticket_error text
);
-- one open fault per camera and kind: the root of "exactly one ticket per fault"
CREATE UNIQUE INDEX faults_one_open ON {schema}.faults (camera_id, kind) WHERE status = 'open';
CREATE TABLE {schema}.stopmove_windows (
    request_id text PRIMARY KEY,
    camera_ids text[] NOT NULL,
    starts_at timestamptz NOT NULL,
    ends_at timestamptz NOT NULL
);
