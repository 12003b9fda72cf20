-- workflow notices (Art. 9 responsible-person changes, approval reminders) go out by robot too
ALTER TABLE {schema}.deliveries DROP CONSTRAINT deliveries_kind_check;
ALTER TABLE {schema}.deliveries
    ADD CONSTRAINT deliveries_kind_check CHECK (kind IN ('alert', 'allclear', 'notice'));
