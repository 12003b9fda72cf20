-- Notices shown in the addressees' inbox, written in the same transaction as what caused them:
-- a responsible-person change (to 后勤处 and NIC, Art. 9), a reminder or an escalation of a
-- pending approval. NULL department / role means "any".
CREATE TABLE {schema}.notices (
    notice_id bigserial PRIMARY KEY,
    to_department text,
    to_role text,
    kind text NOT NULL,
    ref text NOT NULL,
    text_zh text NOT NULL,
    text_en text NOT NULL,
    event_id text,
    created_at timestamptz NOT NULL
);
CREATE INDEX notices_by_addressee ON {schema}.notices (to_department, to_role, notice_id);
