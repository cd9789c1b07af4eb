//! Tenancy and access through the real server: the operator manages workspaces, each
//! workspace's admins manage its keys, every route answers each role as the permission table
//! says, expired and revoked keys stop working (on another replica too), and a deleted
//! workspace leaves nothing of its secrets behind.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use courier_server::api::{Access, access_list};
use courier_server::store::Role;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use support::{Backend, TestServer};

const SENTINEL: &str = "SENTINEL-tenant-secret-7f3a9c";

/// `POST url` with `key`: the status and the answer.
async fn post_as(server: &TestServer, key: &str, url: &str, body: Value) -> (StatusCode, Value) {
    let (status, answer, _) = server
        .call_as(Some(key), Method::POST, url, Some(body))
        .await;
    (status, answer)
}

/// The key of `ws` named `name`, as the operator lists it.
async fn key_named(server: &TestServer, ws: &str, name: &str) -> Value {
    let (_, keys) = server
        .call(
            Method::GET,
            &api(server, &format!("/workspaces/{ws}/api-keys")),
            None,
        )
        .await;
    keys["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["name"] == name)
        .unwrap_or_else(|| panic!("no key named {name}: {keys}"))
        .clone()
}

fn api(server: &TestServer, rest: &str) -> String {
    format!("{}/api/v1{rest}", server.url)
}

/// A key made through the API by `as_key` in `ws`; its value.
async fn new_key(server: &TestServer, as_key: &str, ws: &str, role: &str) -> String {
    let (status, made, _) = server
        .call_as(
            Some(as_key),
            Method::POST,
            &api(server, &format!("/workspaces/{ws}/api-keys")),
            Some(json!({"name": format!("{role} key"), "role": role})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{made}");
    let key = made["key"].as_str().expect("the key, once").to_string();
    assert!(key.starts_with(made["prefix"].as_str().unwrap()), "{made}");
    key
}

async fn new_workspace(server: &TestServer, name: &str, external_id: &str) -> String {
    let (status, made) = server
        .call(
            Method::POST,
            &api(server, "/workspaces"),
            Some(json!({"name": name, "external_id": external_id, "metadata": {"plan": "pro"}})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{made}");
    made["id"].as_str().unwrap().to_string()
}

async fn workspaces_are_managed_by_the_operator_and_isolated(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let a = new_workspace(&server, "Acme", "tenant-a").await;
    let b = new_workspace(&server, "Bolt", "tenant-b").await;
    // external_id is unique and searchable.
    let (status, _) = server
        .call(
            Method::POST,
            &api(&server, "/workspaces"),
            Some(json!({"name": "Again", "external_id": "tenant-a"})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (_, found) = server
        .call(
            Method::GET,
            &api(&server, "/workspaces?external_id=tenant-b"),
            None,
        )
        .await;
    assert_eq!(found["data"].as_array().unwrap().len(), 1, "{found}");
    assert_eq!(found["data"][0]["id"], b.as_str());
    assert_eq!(found["data"][0]["metadata"]["plan"], "pro");
    let (status, bad) = server
        .call(
            Method::POST,
            &api(&server, "/workspaces"),
            Some(json!({"nam": "typo", "metadata": 3})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let details = bad["error"]["details"].to_string();
    assert!(
        details.contains("/nam") && details.contains("/metadata") && details.contains("/name"),
        "{details}"
    );

    let admin_a = new_key(&server, &server.key, &a, "admin").await;
    let admin_b = new_key(&server, &server.key, &b, "admin").await;
    let (status, hook) = server
        .call_as(
            Some(&admin_b),
            Method::POST,
            &api(&server, &format!("/workspaces/{b}/destinations")),
            Some(json!({"name": "B hook", "destination_type": "webhook",
                        "config": {"url": "http://127.0.0.1:9/in", "allow_private_network": true}})),
        )
        .await
        .into_pair();
    assert_eq!(status, StatusCode::CREATED, "{hook}");
    let b_dest = hook["id"].as_str().unwrap();

    // A's admin sees nothing of B, by any route of the table: 404, never 403, with B's real
    // destination id where a route names one.
    let mut walked = 0;
    for (method, path, _) in access_list() {
        if !path.contains("{ws}") {
            continue;
        }
        let url = format!("{}{}", server.url, path.replace("{dest}", b_dest));
        let url = concrete(&url, &b);
        let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let (status, body, _) = server
            .call_as(Some(&admin_a), method.clone(), &url, Some(json!({})))
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{method} {path}: {body}");
        walked += 1;
    }
    assert!(walked > 30, "{walked} routes walked");
    let (status, still) = server
        .call(
            Method::GET,
            &api(&server, &format!("/workspaces/{b}/destinations/{b_dest}")),
            None,
        )
        .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "B's destination is untouched: {still}"
    );
    let (_, listed, _) = server
        .call_as(
            Some(&admin_a),
            Method::GET,
            &api(&server, "/workspaces"),
            None,
        )
        .await;
    assert_eq!(listed["data"].as_array().unwrap().len(), 1);
    assert_eq!(listed["data"][0]["id"], a.as_str());
    // Workspaces are the operator's to make.
    let (status, _, _) = server
        .call_as(
            Some(&admin_a),
            Method::POST,
            &api(&server, "/workspaces"),
            Some(json!({"name": "Mine"})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Key listings never show keys or their hashes.
    let (_, keys, _) = server
        .call_as(
            Some(&admin_a),
            Method::GET,
            &api(&server, &format!("/workspaces/{a}/api-keys")),
            None,
        )
        .await;
    let text = keys.to_string();
    assert!(
        !text.contains(&admin_a) && !text.contains("key_hash"),
        "{text}"
    );
    // An admin cannot mint an operator key.
    let (status, _, _) = server
        .call_as(
            Some(&admin_a),
            Method::POST,
            &api(&server, &format!("/workspaces/{a}/api-keys")),
            Some(json!({"name": "up", "role": "operator"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
}

/// Fills a route's path with ids (none of them existing but the workspace).
fn concrete(path: &str, ws: &str) -> String {
    path.replace("{ws}", ws)
        .replace("{type}", "webhook")
        .replace("{dest}", "missing-destination")
        .replace("{route}", "missing-route")
        .replace("{delivery}", "missing-delivery")
        .replace("{key}", "missing-key")
}

/// Walks the route table × every role: a role the table denies gets 403 before anything
/// happens; a role it allows never gets 401 or 403 from the guard; no key is 401.
async fn every_route_answers_each_role_as_the_table_says(backend: Backend) {
    let dir = Arc::new(tempfile::tempdir().unwrap());
    let mut config = support::config(dir.path(), &backend);
    config.rate_limit_per_second = 100_000;
    let server = TestServer::start_with(config, dir).await;
    let ws = server.workspace.clone();
    let mut keys = vec![(Role::Operator, server.key.clone())];
    for role in [Role::Admin, Role::Member, Role::Publisher, Role::Viewer] {
        keys.push((
            role,
            new_key(&server, &server.key, &ws, role.as_str()).await,
        ));
    }
    let routes = access_list();
    assert!(routes.len() > 40, "the table has every route");
    for (method, path, access) in routes {
        let access = access.expect("every route declares its access");
        let url = format!("{}{}", server.url, concrete(path, &ws));
        let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let body = (method != Method::GET && method != Method::DELETE).then(|| json!({}));
        if access == Access::Open {
            let (status, _, _) = server.call_as(None, method.clone(), &url, body).await;
            assert_ne!(status, StatusCode::UNAUTHORIZED, "{method} {path} is open");
            continue;
        }
        let (status, _, _) = server
            .call_as(None, method.clone(), &url, body.clone())
            .await;
        assert_eq!(
            status,
            StatusCode::UNAUTHORIZED,
            "{method} {path} without a key"
        );
        for (role, key) in &keys {
            // The operator's own workspace is not deleted by this walk (409).
            let (status, answer, _) = server
                .call_as(Some(key), method.clone(), &url, body.clone())
                .await;
            // The guard's refusal, as opposed to a handler's per-destination permission check
            // (a member replaying every destination at once, say).
            let guard_refused = status == StatusCode::FORBIDDEN
                && answer["error"]["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("cannot call this route"));
            if access.allows(*role) {
                assert!(
                    !guard_refused && status != StatusCode::UNAUTHORIZED,
                    "{} may call {method} {path}: {status} {answer}",
                    role.as_str()
                );
            } else {
                assert!(
                    guard_refused,
                    "{} may not call {method} {path}: {status} {answer}",
                    role.as_str()
                );
            }
        }
    }
}

/// Polls `url` with `key` until it answers 401 (up to 3 s); how long that took.
async fn until_refused(server: &TestServer, key: &str, url: &str) -> Duration {
    let started = Instant::now();
    loop {
        let (status, _, _) = server.call_as(Some(key), Method::GET, url, None).await;
        if status == StatusCode::UNAUTHORIZED {
            return started.elapsed();
        }
        assert!(started.elapsed() < Duration::from_secs(3), "still {status}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn expired_and_revoked_keys_are_refused(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let ws = server.workspace.clone();
    let list = api(&server, &format!("/workspaces/{ws}/destinations"));
    // An expiry must be in the future; a key past it is refused.
    let (status, _) = server
        .call(
            Method::POST,
            &api(&server, &format!("/workspaces/{ws}/api-keys")),
            Some(json!({"name": "old", "role": "viewer", "expires_at": "2001-01-01T00:00:00Z"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let soon = time::OffsetDateTime::now_utc() + time::Duration::seconds(2);
    let soon = soon
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let (status, made) = server
        .call(
            Method::POST,
            &api(&server, &format!("/workspaces/{ws}/api-keys")),
            Some(json!({"name": "brief", "role": "viewer", "expires_at": soon})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{made}");
    let brief = made["key"].as_str().unwrap().to_string();
    let (status, _, _) = server.call_as(Some(&brief), Method::GET, &list, None).await;
    assert_eq!(status, StatusCode::OK, "valid until it expires");
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let (status, _, _) = server.call_as(Some(&brief), Method::GET, &list, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "expired");

    // Revoked: refused at once, although the key was just used (and cached).
    let viewer = new_key(&server, &server.key, &ws, "viewer").await;
    let (status, _, _) = server
        .call_as(Some(&viewer), Method::GET, &list, None)
        .await;
    assert_eq!(status, StatusCode::OK);
    // Its use is recorded (in the background, once a minute at most).
    let started = Instant::now();
    while !key_named(&server, &ws, "viewer key").await["last_used_at"].is_string() {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "no last_used_at"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let id = key_named(&server, &ws, "viewer key").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let one = api(&server, &format!("/workspaces/{ws}/api-keys/{id}"));
    // A role change takes effect at once too.
    let (status, changed) = server
        .call(Method::PATCH, &one, Some(json!({"role": "publisher"})))
        .await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    let (status, _, _) = server
        .call_as(Some(&viewer), Method::GET, &list, None)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "now a publisher");
    let (status, _) = server.call(Method::DELETE, &one, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _, _) = server
        .call_as(
            Some(&viewer),
            Method::POST,
            &api(&server, &format!("/workspaces/{ws}/events")),
            Some(json!({"type": "a", "payload": {}})),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "revoked");
}

/// Two replicas on one database: a key revoked through one is refused by the other within
/// its change poll, although the other had it cached.
#[tokio::test]
async fn a_key_revoked_on_one_replica_is_refused_by_another() {
    let Some(backend) = Backend::postgres().await else {
        return;
    };
    let (config, dir) = support::replica(&backend);
    let a = TestServer::start_with(config, dir).await;
    let (config, dir) = support::replica(&backend);
    let b = TestServer::start_with(config, dir).await;
    let ws = a.workspace.clone();
    let viewer = new_key(&a, &a.key, &ws, "viewer").await;
    let on_b = api(&b, &format!("/workspaces/{ws}/destinations"));
    let (status, _, _) = b.call_as(Some(&viewer), Method::GET, &on_b, None).await;
    assert_eq!(status, StatusCode::OK, "b knows (and caches) the key");
    let id = key_named(&a, &ws, "viewer key").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (status, _) = a
        .call(
            Method::DELETE,
            &api(&a, &format!("/workspaces/{ws}/api-keys/{id}")),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let took = until_refused(&b, &viewer, &on_b).await;
    // Postgres's notice reaches b within milliseconds; the change counter b reads every
    // 500 ms is the safety net.
    eprintln!("revoked on a, refused on b after {took:?}");
    assert!(took < Duration::from_secs(2), "refused on b after {took:?}");
}

/// Deleting a workspace removes everything in it; on SQLite nothing of its secrets stays in
/// the database files, sealed or in clear.
async fn a_deleted_workspace_leaves_nothing_behind(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let ws = new_workspace(&server, "Gone", "tenant-gone").await;
    let admin = new_key(&server, &server.key, &ws, "admin").await;
    let (status, made, _) = server
        .call_as(
            Some(&admin),
            Method::POST,
            &api(&server, &format!("/workspaces/{ws}/destinations")),
            Some(json!({"name": "Secret hook", "destination_type": "webhook",
                        "config": {"url": "http://127.0.0.1:9/in", "allow_private_network": true},
                        "auth_config": {"credentials": {"type": "bearer", "token": SENTINEL}}})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{made}");
    let sealed = sealed_secrets(&server, &ws).await;
    assert!(!sealed.is_empty(), "the secret is stored sealed");

    // The operator's own workspace is kept.
    let (status, _) = server
        .call(
            Method::DELETE,
            &api(&server, &format!("/workspaces/{}", server.workspace)),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, _) = server
        .call(
            Method::DELETE,
            &api(&server, &format!("/workspaces/{ws}")),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = server
        .call(
            Method::GET,
            &api(&server, &format!("/workspaces/{ws}")),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, _) = server
        .call_as(
            Some(&admin),
            Method::GET,
            &api(&server, "/workspaces"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "its keys went with it");
    assert!(sealed_secrets(&server, &ws).await.is_empty());

    if matches!(backend, Backend::Sqlite) {
        let mut files = Vec::new();
        for entry in std::fs::read_dir(server.dir.path()).unwrap().flatten() {
            if entry
                .file_name()
                .to_string_lossy()
                .starts_with("courier.db")
            {
                files.push((entry.file_name(), std::fs::read(entry.path()).unwrap()));
            }
        }
        assert!(!files.is_empty());
        for (name, bytes) in &files {
            for needle in std::iter::once(SENTINEL.to_string()).chain(sealed.iter().cloned()) {
                assert!(
                    !bytes.windows(needle.len()).any(|w| w == needle.as_bytes()),
                    "{name:?} still holds a secret of the deleted workspace"
                );
            }
        }
    }
}

/// The sealed secrets a workspace's destinations hold, read beside the server.
async fn sealed_secrets(server: &TestServer, ws: &str) -> Vec<String> {
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&server.database_url).await.unwrap();
    let rows: Vec<(Option<String>, Option<String>)> = sqlx::query_as(
        "SELECT auth_config_sealed, signing_secret_sealed FROM destinations WHERE workspace_id = $1",
    )
    .bind(ws)
    .fetch_all(&pool)
    .await
    .unwrap();
    pool.close().await;
    rows.into_iter()
        .flat_map(|(a, s)| [a, s])
        .flatten()
        .collect()
}

/// Changes are recorded with the key that made them, and nothing secret reaches the log.
async fn the_audit_log_records_changes_without_secrets(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let ws = server.workspace.clone();
    let admin = new_key(&server, &server.key, &ws, "admin").await;
    let viewer = new_key(&server, &server.key, &ws, "viewer").await;
    let destinations = api(&server, &format!("/workspaces/{ws}/destinations"));
    let (status, made, headers) = server
        .call_as(
            Some(&admin),
            Method::POST,
            &destinations,
            Some(json!({"name": "Audited", "destination_type": "webhook",
                        "config": {"url": "http://127.0.0.1:9/in", "allow_private_network": true},
                        "auth_config": {"credentials": {"type": "bearer", "token": SENTINEL}}})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{made}");
    let dest = made["id"].as_str().unwrap().to_string();
    let created_request = headers["x-request-id"].to_str().unwrap().to_string();
    let (status, _, _) = server
        .call_as(
            Some(&admin),
            Method::PATCH,
            &format!("{destinations}/{dest}"),
            Some(json!({"name": "Audited again", "auth_config": {"credentials": {"type": "bearer", "token": SENTINEL}}})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, _) = server
        .call_as(
            Some(&viewer),
            Method::DELETE,
            &format!("{destinations}/{dest}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let log = api(&server, &format!("/workspaces/{ws}/audit-log"));
    let (status, _, _) = server.call_as(Some(&viewer), Method::GET, &log, None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "the log is for admins");
    let (status, entries, _) = server.call_as(Some(&admin), Method::GET, &log, None).await;
    assert_eq!(status, StatusCode::OK, "{entries}");
    let text = entries.to_string();
    assert!(
        !text.contains(SENTINEL),
        "a secret reached the audit log: {text}"
    );
    let data = entries["data"].as_array().unwrap();
    let find = |action: &str| {
        data.iter()
            .find(|e| e["action"] == action)
            .unwrap_or_else(|| panic!("no {action} in {text}"))
            .clone()
    };
    let update = find("destination.update");
    assert_eq!(update["resource_id"], dest.as_str());
    assert_eq!(update["outcome"], "succeeded");
    assert_eq!(update["key_name"], "admin key");
    let create = find("destination.create");
    assert_eq!(
        create["resource_id"],
        dest.as_str(),
        "a create names what it made"
    );
    assert_eq!(create["request_id"], created_request.as_str());
    let denied = find("destination.delete");
    assert_eq!(denied["outcome"], "denied");
    assert_eq!(denied["status"], 403);
    assert!(
        data.iter().any(|e| e["action"] == "api_key.create"),
        "{text}"
    );
    // Newest first, filtered, paged.
    let (_, filtered, _) = server
        .call_as(
            Some(&admin),
            Method::GET,
            &format!("{log}?action=destination.update&resource_id={dest}"),
            None,
        )
        .await;
    assert_eq!(filtered["data"].as_array().unwrap().len(), 1, "{filtered}");
    let (_, first, _) = server
        .call_as(Some(&admin), Method::GET, &format!("{log}?limit=1"), None)
        .await;
    assert_eq!(first["data"][0]["action"], "destination.delete");
    let cursor = first["next_cursor"].as_str().unwrap();
    let (_, second, _) = server
        .call_as(
            Some(&admin),
            Method::GET,
            &format!("{log}?limit=1&cursor={cursor}"),
            None,
        )
        .await;
    assert_eq!(second["data"][0]["action"], "destination.update");
    assert!(!server.logs.text().contains(SENTINEL));
}

/// The operator's defaults, overridden per workspace: destinations, routes, events per second
/// (429 with Retry-After), bytes per request (413).
async fn workspace_limits_hold(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let ws = new_workspace(&server, "Small", "tenant-small").await;
    let (status, changed) = server
        .call(
            Method::PATCH,
            &api(&server, &format!("/workspaces/{ws}")),
            Some(json!({"limits": {"max_destinations": 1, "max_routes": 1,
                                    "events_per_second": 2, "max_request_bytes": 2048}})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    assert_eq!(
        changed["effective_limits"]["max_destinations"], 1,
        "{changed}"
    );
    let (status, bad) = server
        .call(
            Method::PATCH,
            &api(&server, &format!("/workspaces/{ws}")),
            Some(json!({"limits": {"max_destination": 1}})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
    let admin = new_key(&server, &server.key, &ws, "admin").await;
    let at = |rest: &str| api(&server, &format!("/workspaces/{ws}{rest}"));
    let hook = |name: &str| {
        json!({"name": name, "destination_type": "webhook",
               "config": {"url": "http://127.0.0.1:9/in", "allow_private_network": true}})
    };
    let (status, first) = post_as(&server, &admin, &at("/destinations"), hook("One")).await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    let (status, second) = post_as(&server, &admin, &at("/destinations"), hook("Two")).await;
    assert_eq!(status, StatusCode::CONFLICT, "{second}");
    assert_eq!(second["error"]["code"], "limit_reached", "{second}");
    let route =
        |name: &str| json!({"name": name, "destination_id": first["id"], "event_types": ["*"]});
    let (status, r) = post_as(&server, &admin, &at("/routes"), route("R1")).await;
    assert_eq!(status, StatusCode::CREATED, "{r}");
    let (status, r) = post_as(&server, &admin, &at("/routes"), route("R2")).await;
    assert_eq!(status, StatusCode::CONFLICT, "{r}");

    let event = json!({"type": "a.b", "payload": {"n": 1}});
    let mut answers = Vec::new();
    for _ in 0..3 {
        let (status, _, headers) = server
            .call_as(
                Some(&admin),
                Method::POST,
                &at("/events"),
                Some(event.clone()),
            )
            .await;
        answers.push((status, headers.get("retry-after").is_some()));
    }
    assert_eq!(answers[0].0, StatusCode::ACCEPTED);
    assert_eq!(answers[1].0, StatusCode::ACCEPTED);
    assert_eq!(
        answers[2],
        (StatusCode::TOO_MANY_REQUESTS, true),
        "{answers:?}"
    );
    let batch = json!({"events": vec![event.clone(); 5]});
    let (status, _, _) = server
        .call_as(Some(&admin), Method::POST, &at("/events"), Some(batch))
        .await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "more than a second's worth"
    );
    let big = json!({"type": "a.b", "payload": {"pad": "x".repeat(4096)}});
    let (status, _, _) = server
        .call_as(Some(&admin), Method::POST, &at("/events"), Some(big))
        .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    // Another workspace keeps the operator's defaults.
    let (status, _) = server
        .call(
            Method::POST,
            &server.path("/destinations"),
            Some(hook("Elsewhere")),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
}

trait IntoPair {
    fn into_pair(self) -> (StatusCode, Value);
}

impl IntoPair for (StatusCode, Value, reqwest::header::HeaderMap) {
    fn into_pair(self) -> (StatusCode, Value) {
        (self.0, self.1)
    }
}

on_both_stores!(
    workspaces_are_managed_by_the_operator_and_isolated,
    every_route_answers_each_role_as_the_table_says,
    expired_and_revoked_keys_are_refused,
    a_deleted_workspace_leaves_nothing_behind,
    the_audit_log_records_changes_without_secrets,
    workspace_limits_hold,
);
