-- a re-added camera starts over: samples taken before its re-add (its removed life, or while
-- it was out of the inventory) are dropped, so none of them can bring back a state
ALTER TABLE {schema}.cameras ADD COLUMN IF NOT EXISTS counted_from timestamptz;
