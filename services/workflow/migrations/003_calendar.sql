-- Art. 10: the State Council's holiday notice for a year chinese-calendar does not carry yet,
-- as NIC entered it (ADR 0009). One row per year; a re-import replaces it, and each import is
-- a published, audited event (workflow.calendar.imported).
CREATE TABLE {schema}.calendar_notices (
    year int PRIMARY KEY,
    doc jsonb NOT NULL,
    imported_by text NOT NULL,
    imported_at timestamptz NOT NULL
);
