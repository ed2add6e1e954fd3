-- The drive's index of the files in its spaces (`user:<id>`, `bot:<id>`, `org:<id>`):
-- what quotas are counted from and names are searched in. The object store holds the
-- bytes; every write through the server updates this row in the same call.
CREATE TABLE drive_files (
    space TEXT NOT NULL,
    path TEXT NOT NULL,
    size BIGINT NOT NULL,
    etag TEXT NOT NULL,
    content_type TEXT,
    modified_ms BIGINT NOT NULL,
    PRIMARY KEY (space, path)
);

-- Quotas set by an administrator; a space without a row has the server's default.
CREATE TABLE drive_quotas (
    space TEXT PRIMARY KEY NOT NULL,
    quota_bytes BIGINT NOT NULL
);

-- Deleted files, kept under `trash/<id>` until restored or purged after the retention.
-- They still count against their space's quota.
CREATE TABLE drive_trash (
    id TEXT PRIMARY KEY NOT NULL,
    space TEXT NOT NULL,
    path TEXT NOT NULL,
    object_key TEXT NOT NULL,
    size BIGINT NOT NULL,
    content_type TEXT,
    deleted_ms BIGINT NOT NULL,
    deleted_by TEXT NOT NULL
);
CREATE INDEX drive_trash_space ON drive_trash (space, deleted_ms);

-- Share links: whoever holds the signed link may download the file until it expires or
-- is revoked.
CREATE TABLE drive_shares (
    id TEXT PRIMARY KEY NOT NULL,
    space TEXT NOT NULL,
    path TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    expires_ms BIGINT NOT NULL,
    revoked_ms BIGINT
);
CREATE INDEX drive_shares_space ON drive_shares (space, created_ms);
