//! The schema, as numbered migrations in one SQL dialect both SQLite and Postgres accept
//! (TEXT, BIGINT, `$n` parameters). Booleans are BIGINT 0/1 and JSON is TEXT, which both read
//! the same way through sqlx's Any driver.

pub const MIGRATIONS: &[(i64, &[&str])] = &[(
    1,
    &[
        "CREATE TABLE workspaces (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            created_at TEXT NOT NULL
        )",
        "CREATE TABLE api_keys (
            id TEXT PRIMARY KEY,
            workspace_id TEXT NOT NULL REFERENCES workspaces(id),
            name TEXT NOT NULL,
            role TEXT NOT NULL,
            key_hash TEXT NOT NULL UNIQUE,
            key_prefix TEXT NOT NULL,
            created_at TEXT NOT NULL
        )",
        "CREATE TABLE destinations (
            id TEXT PRIMARY KEY,
            workspace_id TEXT NOT NULL REFERENCES workspaces(id),
            name TEXT NOT NULL,
            slug TEXT NOT NULL,
            destination_type TEXT NOT NULL,
            config TEXT NOT NULL,
            auth_config_sealed TEXT,
            signing_secret_sealed TEXT,
            previous_secret_sealed TEXT,
            previous_secret_expires_at TEXT,
            status TEXT NOT NULL,
            status_error TEXT NOT NULL,
            is_active BIGINT NOT NULL,
            payload_cap_bytes BIGINT,
            policy TEXT NOT NULL,
            permissions TEXT NOT NULL,
            event_count BIGINT NOT NULL,
            last_delivery_at TEXT,
            last_delivery_status TEXT,
            created_by TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            UNIQUE (workspace_id, name),
            UNIQUE (workspace_id, slug)
        )",
        "CREATE INDEX destinations_by_workspace ON destinations (workspace_id, id)",
    ],
)];
