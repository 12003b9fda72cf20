-- The inventory as ingest announces it (camera.upserted/removed): what live viewing needs to
-- decide by zone and to find the stream (ADR 0022).
CREATE TABLE {schema}.cameras (
    camera_id text PRIMARY KEY,
    zone text NOT NULL DEFAULT '',
    department text NOT NULL DEFAULT '',
    managing_department text NOT NULL DEFAULT '',
    stream_url text,
    removed_at timestamptz,
    updated_at timestamptz NOT NULL DEFAULT now()
);
