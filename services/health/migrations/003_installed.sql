-- Art. 6 / Art. 7: when a new point's cameras went in, so a recorder younger than 30 days
-- is not held to 30 days of footage it cannot have yet
CREATE TABLE {schema}.installed (
    camera_id text PRIMARY KEY,
    installed_at timestamptz NOT NULL
);
