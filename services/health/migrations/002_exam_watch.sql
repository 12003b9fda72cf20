-- Art. 10: exam-room cameras under closer watch for an approved exam's duration
CREATE TABLE {schema}.exam_watches (
    request_id text PRIMARY KEY,
    camera_ids text[] NOT NULL,
    starts_at timestamptz NOT NULL,
    ends_at timestamptz NOT NULL
);
