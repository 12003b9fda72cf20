-- The audit log (Art. 3, 11, 15, 16): append-only in PostgreSQL itself.
-- {schema}_writer is the service's role: INSERT and SELECT only. Triggers refuse UPDATE,
-- DELETE and TRUNCATE for everyone else but a superuser who switches them off — and that is
-- what `cctv audit verify` exists to catch.

CREATE TABLE {schema}.entry (
    seq         bigint PRIMARY KEY CHECK (seq >= 0),
    event_id    text NOT NULL UNIQUE,
    kind        text NOT NULL,
    subject     text NOT NULL,
    event_type  text,
    event_time  timestamptz,
    recorded_at timestamptz NOT NULL,
    actor       text,
    camera_ids  text[] NOT NULL DEFAULT '{}',
    request_no  text,
    leaf_hash   bytea NOT NULL,
    data        bytea NOT NULL
);
CREATE INDEX entry_type ON {schema}.entry (event_type, seq);
CREATE INDEX entry_actor ON {schema}.entry (actor, seq) WHERE actor IS NOT NULL;
CREATE INDEX entry_request ON {schema}.entry (request_no, seq) WHERE request_no IS NOT NULL;
-- BRIN: event time grows with seq, and a BRIN index costs next to nothing per insert
CREATE INDEX entry_time ON {schema}.entry USING brin (event_time);
CREATE INDEX entry_cameras ON {schema}.entry USING gin (camera_ids);

-- Perfect subtrees of the Merkle tree above the leaves (level >= 1); leaves are entry.leaf_hash.
CREATE TABLE {schema}.tree_node (
    level smallint NOT NULL CHECK (level >= 1),
    idx   bigint NOT NULL,
    hash  bytea NOT NULL,
    PRIMARY KEY (level, idx)
);

-- The tree size and root after every committed batch: unsigned, but written in the same
-- transaction as the entries, so rows added behind the service's back stand out.
CREATE TABLE {schema}.tree_head (
    size        bigint PRIMARY KEY,
    root        bytea NOT NULL,
    committed_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE {schema}.checkpoint (
    size      bigint PRIMARY KEY,
    root      bytea NOT NULL,
    note      text NOT NULL,
    signed_at timestamptz NOT NULL DEFAULT now()
);

-- The log's public key(s), in the signed-note verifier-key format.
CREATE TABLE {schema}.log_key (
    vkey       text PRIMARY KEY,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE FUNCTION {schema}.refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '审计日志只能追加 the audit log is append-only: % on %.% refused (Art. 3, Art. 11)',
        TG_OP, TG_TABLE_SCHEMA, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END $$;

DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['entry', 'tree_node', 'tree_head', 'checkpoint', 'log_key'] LOOP
        EXECUTE format('CREATE TRIGGER append_only BEFORE UPDATE OR DELETE ON {schema}.%I '
                       'FOR EACH ROW EXECUTE FUNCTION {schema}.refuse_change()', t);
        EXECUTE format('CREATE TRIGGER append_only_truncate BEFORE TRUNCATE ON {schema}.%I '
                       'FOR EACH STATEMENT EXECUTE FUNCTION {schema}.refuse_change()', t);
    END LOOP;
    -- The writer role is declared beforehand (CloudNativePG managed roles, or the local
    -- stack's cctv/devstack/roles.py); only a superuser's development database makes it here.
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{schema}_writer') THEN
        IF NOT (SELECT rolsuper OR rolcreaterole FROM pg_roles WHERE rolname = current_user) THEN
            RAISE EXCEPTION 'role {schema}_writer does not exist: declare it (CloudNativePG '
                'managed roles, with its password in a secret) before the audit migration; '
                'the migration role does not create roles 请先声明 {schema}_writer 角色';
        END IF;
        CREATE ROLE {schema}_writer LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS;
    END IF;
END $$;

REVOKE ALL ON ALL TABLES IN SCHEMA {schema} FROM {schema}_writer;
GRANT USAGE ON SCHEMA {schema} TO {schema}_writer;
GRANT SELECT, INSERT ON {schema}.entry, {schema}.tree_node, {schema}.tree_head,
    {schema}.checkpoint, {schema}.log_key TO {schema}_writer;
-- checkpoints are announced through the outbox, in the transaction that stores them
GRANT SELECT, INSERT ON {schema}.outbox TO {schema}_writer;
GRANT USAGE ON SEQUENCE {schema}.outbox_seq_seq TO {schema}_writer;
