-- Every record of the store: one row per (kind, key). `version` grows by one at each change
-- (compare-and-swap); `expires` is Unix seconds, after which the row is as good as gone.
CREATE TABLE entries (
    kind    TEXT    NOT NULL,
    key     TEXT    NOT NULL,
    version INTEGER NOT NULL,
    expires INTEGER NOT NULL,
    value   BLOB    NOT NULL,
    PRIMARY KEY (kind, key)
) WITHOUT ROWID;
CREATE INDEX entries_expires ON entries (expires);
