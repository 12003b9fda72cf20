-- issue 9: the inventory copy is versioned by the event's time (a late redelivery of an old
-- upsert must not overwrite a newer record); a removed camera keeps its row as a tombstone
ALTER TABLE {schema}.cameras ADD COLUMN updated_at timestamptz;
ALTER TABLE {schema}.cameras ADD COLUMN removed boolean NOT NULL DEFAULT false;
-- the state shown to people and metrics (maintenance, unreachable behind its recorder) beside
-- the damped up/down, so a restart shows the same
ALTER TABLE {schema}.camera_health ADD COLUMN shown text;
-- one fault for a recorder or a suspected network cause lists the cameras behind it
ALTER TABLE {schema}.faults ADD COLUMN affected text[] NOT NULL DEFAULT '{}';
-- closed by hand (NIC, with a reason) or by the camera's removal
ALTER TABLE {schema}.faults ADD COLUMN closed_by text;
ALTER TABLE {schema}.faults ADD COLUMN close_reason text;
-- 'none': no repair ticket (a suspected network/ingest cause, a camera removed before its ticket)
ALTER TABLE {schema}.faults DROP CONSTRAINT faults_ticket_state_check;
ALTER TABLE {schema}.faults ADD CONSTRAINT faults_ticket_state_check
    CHECK (ticket_state IN ('pending', 'opened', 'closed', 'none'));
