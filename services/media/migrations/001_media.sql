-- What the media service knows of grants (from workflow's events), what it stored, and why.
CREATE TABLE {schema}.grants (
    request_id text PRIMARY KEY,
    grant_id text NOT NULL,
    grantee text NOT NULL,
    requester text NOT NULL DEFAULT '',
    cameras text[] NOT NULL,
    footage_from timestamptz NOT NULL,
    footage_until timestamptz NOT NULL,
    valid_until timestamptz NOT NULL,
    export boolean NOT NULL,
    watermark text NOT NULL DEFAULT '',
    revoked_at timestamptz,
    closed_reason text,
    updated_at timestamptz NOT NULL DEFAULT now()
);
-- Work to do: an export a system administrator asked for, or a preservation copy (Art. 18).
CREATE TABLE {schema}.jobs (
    job_id text PRIMARY KEY,
    kind text NOT NULL CHECK (kind IN ('export', 'preserve')),
    request_id text NOT NULL,
    spec jsonb NOT NULL,
    status text NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'running', 'done', 'failed')),
    error text,
    attempts int NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz
);
CREATE INDEX jobs_queued ON {schema}.jobs (created_at) WHERE status IN ('queued', 'running');
CREATE UNIQUE INDEX jobs_one_preservation ON {schema}.jobs (request_id) WHERE kind = 'preserve';
-- Every object in the evidence store, its hash as written, and its hold (Art. 18).
CREATE TABLE {schema}.objects (
    object_key text PRIMARY KEY,
    job_id text NOT NULL REFERENCES {schema}.jobs,
    request_id text NOT NULL,
    kind text NOT NULL CHECK (kind IN ('export', 'preserve', 'manifest')),
    camera_id text,
    sha256 text NOT NULL,
    bytes bigint NOT NULL,
    frames int NOT NULL DEFAULT 0,
    first_frame_at timestamptz,
    last_frame_at timestamptz,
    stored_at timestamptz NOT NULL DEFAULT now(),
    hold_until date NOT NULL,
    last_checked_at timestamptz,
    last_check_ok boolean,
    deleted_at timestamptz,
    deleted_by text
);
CREATE INDEX objects_request ON {schema}.objects (request_id);
