CREATE TABLE {schema}.users (
    account text PRIMARY KEY,
    name text NOT NULL,
    role text NOT NULL,
    department text NOT NULL,
    password_hash text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
