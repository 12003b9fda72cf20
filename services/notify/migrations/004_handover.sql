-- Art. 13-14: an open alert passes from a person going off duty to who holds the duty now
-- (the incoming operator of a confirmed Art. 14 handover, or the zone's next shift); the
-- first person's alert is then 'handed_over' and no longer asks them to acknowledge it.
ALTER TABLE {schema}.alerts DROP CONSTRAINT alerts_status_check;
ALTER TABLE {schema}.alerts ADD CONSTRAINT alerts_status_check
    CHECK (status IN ('raised', 'delivered', 'acknowledged', 'handed_over'));
ALTER TABLE {schema}.alerts ADD COLUMN handed_to text[];
ALTER TABLE {schema}.alerts ADD COLUMN handed_over_at timestamptz;
ALTER TABLE {schema}.alerts ADD COLUMN handover_id text;
-- confirmed Art. 14 handovers (workflow.handover.confirmed): who holds the duty room
CREATE TABLE {schema}.takeovers (
    handover_id text PRIMARY KEY,
    outgoing text NOT NULL,
    incoming text NOT NULL,
    confirmed_at timestamptz NOT NULL,
    items jsonb NOT NULL DEFAULT '[]',
    received_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX takeovers_at ON {schema}.takeovers (confirmed_at);
