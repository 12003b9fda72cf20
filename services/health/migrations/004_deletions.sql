-- Art. 3, 7, 18: footage that vanished while it had to be kept; the camera's
-- recording_deleted fault stays open until every such gap has lapsed
CREATE TABLE {schema}.deletions (
    camera_id text NOT NULL,
    start_at timestamptz NOT NULL,
    end_at timestamptz NOT NULL,
    observed_at timestamptz NOT NULL,
    lapses_at timestamptz NOT NULL,
    PRIMARY KEY (camera_id, start_at)
);
