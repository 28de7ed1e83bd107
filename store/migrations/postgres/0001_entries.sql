-- Every record of the store, as in the SQLite file: one row per (kind, key). Versions come from
-- one sequence, so no record ever has a version another record had (compare-and-swap cannot
-- mistake a new record for an old one); `expires` is Unix seconds.
CREATE SEQUENCE entries_version;
CREATE TABLE entries (
    kind    TEXT   NOT NULL,
    key     TEXT   NOT NULL,
    version BIGINT NOT NULL,
    expires BIGINT NOT NULL,
    value   BYTEA  NOT NULL,
    PRIMARY KEY (kind, key)
);
CREATE INDEX entries_expires ON entries (expires);
