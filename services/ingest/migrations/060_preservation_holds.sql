-- Preservation holds (Art. 18, issue #5 devices): footage that must not disappear from the
-- recorders while held; a segment vanishing inside a hold is a deletion finding.
CREATE TABLE IF NOT EXISTS {schema}.preservation_holds (
    hold_id text NOT NULL,
    camera_id text NOT NULL,
    footage_from timestamptz NOT NULL,
    footage_until timestamptz NOT NULL,
    until timestamptz NOT NULL,
    PRIMARY KEY (hold_id, camera_id)
);
