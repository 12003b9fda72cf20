-- Art. 12: each system's arming schedule as workflow filed it (the newest filing wins; a
-- redelivered older one changes nothing)
CREATE TABLE IF NOT EXISTS {schema}.arming_schedules (
    system_id text PRIMARY KEY,
    periods jsonb NOT NULL,
    set_at timestamptz NOT NULL
);
