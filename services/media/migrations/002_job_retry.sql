-- A preservation copy that failed (recorder down) is tried again later, not given up (Art. 18).
ALTER TABLE {schema}.jobs ADD COLUMN not_before timestamptz NOT NULL DEFAULT now();
