-- Tamper checks (Art. 12, issue #5): each camera's confirmed reference picture and the
-- findings currently active, so replicas share them and a restart does not re-announce them.
CREATE TABLE IF NOT EXISTS {schema}.tamper_reference (
    camera_id text PRIMARY KEY,
    pixels bytea NOT NULL,            -- grey uint8, height x width, row-major
    height integer NOT NULL,
    width integer NOT NULL,
    pixels_sha256 text NOT NULL,
    confirmed_by text NOT NULL,       -- the operator; 'system' for a first enrolment
    confirmed_at timestamptz NOT NULL
);
CREATE TABLE IF NOT EXISTS {schema}.tamper_state (
    camera_id text PRIMARY KEY,
    active text[] NOT NULL DEFAULT '{}',   -- covered / moved / blurred
    thresholds jsonb,                      -- per-camera TamperThresholds overrides
    checked_at timestamptz,
    last_error text
);
