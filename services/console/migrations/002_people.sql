-- The one directory of people (issue 11, ADR 0011) and server-side sessions.
CREATE TABLE {schema}.people (
    account text PRIMARY KEY,
    name text NOT NULL,
    department text NOT NULL,
    roles text[] NOT NULL,
    zone text,
    phone text NOT NULL DEFAULT '',
    email text NOT NULL DEFAULT '',
    shift text NOT NULL DEFAULT '',
    disabled boolean NOT NULL DEFAULT false,
    password_hash text,              -- local break-glass password; NULL: campus sign-on only
    password_changed_at timestamptz,
    failed_logins integer NOT NULL DEFAULT 0,
    locked_until timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

INSERT INTO {schema}.people (account, name, department, roles, password_hash, created_at)
SELECT account, name, department, ARRAY[role], password_hash, created_at FROM {schema}.users;
DROP TABLE {schema}.users;

CREATE TABLE {schema}.sessions (
    id_hash text PRIMARY KEY,        -- sha256 of the cookie's random id: a table leak opens none
    account text NOT NULL REFERENCES {schema}.people (account),
    csrf text NOT NULL,
    via text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    last_seen timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    revoked_at timestamptz
);
CREATE INDEX ON {schema}.sessions (account) WHERE revoked_at IS NULL;
