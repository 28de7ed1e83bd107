-- The directory's tables: the same columns as the embedded SQLite file's (SCHEMA in
-- directory/store.rs; a test compares the two). `seq` orders rows as inserted.
CREATE TABLE users (
    object_id TEXT PRIMARY KEY NOT NULL,
    user_principal_name TEXT,
    upn_key TEXT UNIQUE,
    password_hash TEXT,
    created BIGINT NOT NULL
);
CREATE TABLE attributes (
    object_id TEXT NOT NULL REFERENCES users(object_id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    name_key TEXT NOT NULL,
    data_type TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (object_id, name_key)
);
CREATE TABLE sign_in_names (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    object_id TEXT NOT NULL REFERENCES users(object_id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    value TEXT NOT NULL,
    value_key TEXT NOT NULL UNIQUE
);
CREATE INDEX sign_in_names_object_id ON sign_in_names (object_id);
CREATE TABLE alternative_security_ids (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    object_id TEXT NOT NULL REFERENCES users(object_id) ON DELETE CASCADE,
    issuer TEXT NOT NULL,
    issuer_key TEXT NOT NULL,
    issuer_user_id TEXT NOT NULL,
    UNIQUE (issuer_key, issuer_user_id)
);
CREATE INDEX alternative_security_ids_object_id ON alternative_security_ids (object_id);
CREATE INDEX users_created ON users (created, object_id);
