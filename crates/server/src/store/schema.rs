//! The schema, as numbered migrations in one SQL dialect both SQLite and Postgres accept
//! (TEXT, BIGINT, `$n` parameters). Booleans are BIGINT 0/1 and JSON is TEXT, which both read
//! the same way through sqlx's Any driver.

pub const MIGRATIONS: &[(i64, &[&str])] = &[
    (
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
    ),
    (
        2,
        &[
            "CREATE TABLE events (
                id TEXT PRIMARY KEY,
                workspace_id TEXT NOT NULL REFERENCES workspaces(id),
                type TEXT NOT NULL,
                payload TEXT NOT NULL,
                idempotency_key TEXT,
                created_at TEXT NOT NULL
            )",
            "CREATE TABLE idempotency_keys (
                workspace_id TEXT NOT NULL,
                key TEXT NOT NULL,
                event_id TEXT NOT NULL,
                created_ms BIGINT NOT NULL,
                PRIMARY KEY (workspace_id, key)
            )",
            "CREATE TABLE routes (
                id TEXT PRIMARY KEY,
                workspace_id TEXT NOT NULL REFERENCES workspaces(id),
                name TEXT NOT NULL,
                destination_id TEXT NOT NULL,
                event_types TEXT NOT NULL,
                action TEXT,
                field_mapping TEXT NOT NULL,
                is_active BIGINT NOT NULL,
                created_at TEXT NOT NULL,
                updated_at TEXT NOT NULL,
                UNIQUE (workspace_id, name)
            )",
            "CREATE TABLE deliveries (
                id TEXT PRIMARY KEY,
                workspace_id TEXT NOT NULL,
                event_id TEXT NOT NULL,
                destination_id TEXT NOT NULL,
                route_id TEXT NOT NULL,
                event_type TEXT NOT NULL,
                payload TEXT NOT NULL,
                status TEXT NOT NULL,
                attempts BIGINT NOT NULL,
                next_attempt_ms BIGINT NOT NULL,
                lease_until_ms BIGINT NOT NULL,
                last_error TEXT,
                created_at TEXT NOT NULL,
                updated_at TEXT NOT NULL
            )",
            "CREATE INDEX deliveries_due ON deliveries (status, next_attempt_ms)",
            "CREATE INDEX deliveries_by_destination ON deliveries (workspace_id, destination_id, id)",
            "CREATE TABLE attempts (
                id TEXT PRIMARY KEY,
                delivery_id TEXT NOT NULL,
                number BIGINT NOT NULL,
                started_at TEXT NOT NULL,
                duration_ms BIGINT NOT NULL,
                outcome TEXT NOT NULL,
                http_status BIGINT,
                reference TEXT,
                error_kind TEXT,
                error TEXT,
                response TEXT
            )",
            "CREATE INDEX attempts_by_delivery ON attempts (delivery_id, number)",
        ],
    ),
    (
        3,
        &["CREATE TABLE settings (name TEXT PRIMARY KEY, value TEXT NOT NULL)"],
    ),
    (
        4,
        &["ALTER TABLE destinations ADD COLUMN last_success_at TEXT"],
    ),
    (
        5,
        &[
            "ALTER TABLE deliveries ADD COLUMN claim_token TEXT",
            "ALTER TABLE destinations ADD COLUMN failing_since TEXT",
        ],
    ),
    (
        6,
        &[
            "ALTER TABLE destinations ADD COLUMN oauth_tokens_sealed TEXT",
            // Authorizations started and not yet returned, by the SHA-256 of their state.
            "CREATE TABLE oauth_pending (
                state_hash TEXT PRIMARY KEY,
                workspace_id TEXT NOT NULL,
                destination_id TEXT NOT NULL,
                verifier_sealed TEXT NOT NULL,
                redirect_uri TEXT NOT NULL,
                return_to TEXT,
                expires_ms BIGINT NOT NULL
            )",
        ],
    ),
    (
        7,
        &[
            // Claims whose lease may lapse: the reclaim query reads only in-flight rows.
            "CREATE INDEX deliveries_leased ON deliveries (lease_until_ms) WHERE status = 'in_flight'",
            // How many deliveries an event fanned out to, for a repeated idempotency key's answer
            // (NULL on events stored before this column: they are counted).
            "ALTER TABLE events ADD COLUMN delivery_count BIGINT",
            "CREATE INDEX idempotency_keys_by_age ON idempotency_keys (created_ms)",
            // Bumped by every change to destinations and routes, so replicas know to reload
            // what they cache.
            "CREATE TABLE config_changes (id BIGINT PRIMARY KEY, generation BIGINT NOT NULL)",
            "INSERT INTO config_changes (id, generation) VALUES (1, 0)",
        ],
    ),
    (
        8,
        &[
            // Only waiting deliveries are looked up by due time: a delivery claimed at intake and
            // delivered never enters this index (the full index it replaces was written twice per
            // delivery for nothing).
            "DROP INDEX deliveries_due",
            "CREATE INDEX deliveries_waiting ON deliveries (next_attempt_ms) WHERE status IN ('pending', 'retry_scheduled')",
        ],
    ),
    (
        9,
        &[
            // The host's own tenant id, unique where set, and free-form metadata.
            "ALTER TABLE workspaces ADD COLUMN external_id TEXT",
            "ALTER TABLE workspaces ADD COLUMN metadata TEXT NOT NULL DEFAULT '{}'",
            "ALTER TABLE workspaces ADD COLUMN updated_at TEXT",
            // Its own limits over the operator's defaults.
            "ALTER TABLE workspaces ADD COLUMN limits TEXT NOT NULL DEFAULT '{}'",
            "CREATE UNIQUE INDEX workspaces_by_external_id ON workspaces (external_id)",
            "ALTER TABLE api_keys ADD COLUMN expires_at TEXT",
            "ALTER TABLE api_keys ADD COLUMN last_used_at TEXT",
            // The key bootstrap made (the first, as no other could be made before keys were
            // managed through the API) is the operator's.
            "UPDATE api_keys SET role = 'operator' WHERE id IN \
             (SELECT id FROM api_keys ORDER BY created_at, id LIMIT 1)",
            // Every change made through the API; ids are UUIDv7, so they order by time.
            "CREATE TABLE audit_log (
                id TEXT PRIMARY KEY,
                workspace_id TEXT NOT NULL,
                at TEXT NOT NULL,
                key_id TEXT NOT NULL,
                key_name TEXT NOT NULL,
                action TEXT NOT NULL,
                resource_id TEXT,
                outcome TEXT NOT NULL,
                status BIGINT NOT NULL,
                request_id TEXT
            )",
            "CREATE INDEX audit_log_by_workspace ON audit_log (workspace_id, id)",
            // Who started an OAuth connection, for the audit log's record of its completion.
            "ALTER TABLE oauth_pending ADD COLUMN started_by_id TEXT",
            "ALTER TABLE oauth_pending ADD COLUMN started_by_name TEXT",
        ],
    ),
    (
        10,
        &[
            // Why a waiting delivery was handed back unattempted (an open circuit breaker).
            "ALTER TABLE deliveries ADD COLUMN waiting_reason TEXT",
            // What an idempotency key was first sent with: a repeat with another body is
            // refused rather than answered with the first event.
            "ALTER TABLE idempotency_keys ADD COLUMN body_hash TEXT",
        ],
    ),
    (
        11,
        &[
            // A route's content filter over the payload (JSON; null: every event of its types).
            "ALTER TABLE routes ADD COLUMN filter TEXT",
            // A workspace's event types, with an optional JSON Schema of their payloads.
            "CREATE TABLE event_types (
                workspace_id TEXT NOT NULL,
                name TEXT NOT NULL,
                description TEXT,
                schema TEXT,
                validate BIGINT NOT NULL,
                deprecated BIGINT NOT NULL,
                created_at TEXT NOT NULL,
                updated_at TEXT NOT NULL,
                PRIMARY KEY (workspace_id, name)
            )",
        ],
    ),
    (
        12,
        &[
            // The lane of a delivery to a destination in fifo order (null: not ordered). A
            // lane's deliveries go out one at a time, oldest first.
            "ALTER TABLE deliveries ADD COLUMN lane_key TEXT",
            // A lane's live deliveries by age: the claim asks whether an older one (or one in
            // flight) holds the lane.
            "CREATE INDEX deliveries_lanes ON deliveries (destination_id, lane_key, id) \
             WHERE lane_key IS NOT NULL AND status IN ('pending', 'retry_scheduled', 'in_flight')",
            // Waiting deliveries outside lanes, by due time: claims of unordered destinations
            // never read a fifo destination's backlog.
            "CREATE INDEX deliveries_waiting_free ON deliveries (next_attempt_ms) \
             WHERE status IN ('pending', 'retry_scheduled') AND lane_key IS NULL",
            // A destination's rate limit, shared by replicas: the start times (epoch ms,
            // ascending, JSON) of its latest attempts, at most its burst, and a pause its
            // answers asked for (Retry-After).
            "CREATE TABLE destination_rates (
                destination_id TEXT PRIMARY KEY,
                starts TEXT NOT NULL,
                not_before_ms BIGINT NOT NULL
            )",
        ],
    ),
    (
        13,
        &[
            // Portal sessions: found by the SHA-256 of their one-time URL token until it is
            // exchanged (then null), and from then on by that of their cookie's secret. The
            // capabilities and theme are JSON; the session ends at `expires_ms`, or with the
            // key that made it.
            "CREATE TABLE portal_sessions (
                id TEXT PRIMARY KEY,
                workspace_id TEXT NOT NULL,
                token_hash TEXT UNIQUE,
                session_hash TEXT UNIQUE,
                capabilities TEXT NOT NULL,
                theme TEXT NOT NULL,
                return_url TEXT,
                created_by_id TEXT NOT NULL,
                created_by_name TEXT NOT NULL,
                created_at TEXT NOT NULL,
                token_expires_ms BIGINT NOT NULL,
                expires_ms BIGINT NOT NULL
            )",
            "CREATE INDEX portal_sessions_by_expiry ON portal_sessions (expires_ms)",
        ],
    ),
    (
        14,
        &[
            // Deliveries to a destination that ended failed (attempts used up or refused for
            // good), counted by the delivery statistics beside `event_count`.
            "ALTER TABLE destinations ADD COLUMN failed_count BIGINT NOT NULL DEFAULT 0",
        ],
    ),
];
