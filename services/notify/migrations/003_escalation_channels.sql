-- Art. 13 escalation: the level of the duty chain an alert was raised at; contacts for SMS and
-- mail; per-delivery text (an all-clear says the camera recovered, not the alarm again);
-- deliveries a channel cannot make (no phone, no e-mail) are 'skipped', not retried forever.
ALTER TABLE {schema}.alerts ADD COLUMN level int NOT NULL DEFAULT 0;
CREATE INDEX alerts_open ON {schema}.alerts (fault_id) WHERE cleared_at IS NULL;
ALTER TABLE {schema}.roster ADD COLUMN phone text;
ALTER TABLE {schema}.roster ADD COLUMN email text;
ALTER TABLE {schema}.deliveries ADD COLUMN title text;
ALTER TABLE {schema}.deliveries ADD COLUMN body text;
ALTER TABLE {schema}.deliveries ADD COLUMN sent_at timestamptz;
ALTER TABLE {schema}.deliveries ADD COLUMN queued_at timestamptz NOT NULL DEFAULT clock_timestamp();
CREATE INDEX deliveries_sent ON {schema}.deliveries (channel, sent_at) WHERE status = 'sent';
ALTER TABLE {schema}.deliveries DROP CONSTRAINT deliveries_status_check;
ALTER TABLE {schema}.deliveries
    ADD CONSTRAINT deliveries_status_check CHECK (status IN ('pending', 'sent', 'skipped'));
