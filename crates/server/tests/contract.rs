//! The API's contract as a client meets it: bodies are JSON of the documented shape or a clear
//! error (415, 400, 422 at a path), lists page and filter and refuse what they do not take,
//! events can be read back with their deliveries, routes are replaced or patched, and the
//! small surprises a newcomer met are gone (405, `bearer`, slugs, test steps, one switch for
//! a local receiver). On SQLite and on PostgreSQL.

mod support;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use support::receiver::receiver;
use support::{Backend, TestServer, eventually};

async fn webhook(server: &TestServer, name: &str, url: &str) -> String {
    let (status, d) = server
        .call(
            Method::POST,
            &server.path("/destinations"),
            Some(json!({"name": name, "destination_type": "webhook",
                        "config": {"url": url, "allow_private_network": true}})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{d}");
    d["id"].as_str().unwrap().to_string()
}

fn paths(body: &Value) -> Vec<String> {
    body["error"]["details"]
        .as_array()
        .map(|d| {
            d.iter()
                .map(|e| e["path"].as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default()
}

async fn bodies_are_json_of_the_documented_shape(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let dest = webhook(&server, "Shape", "http://127.0.0.1:9/x").await;
    let one = server.path(&format!("/destinations/{dest}"));
    // Another media type.
    let (status, body, _) = server
        .raw(Method::PATCH, &one, "text/plain", r#"{"name": "B"}"#)
        .await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{body}");
    assert_eq!(body["error"]["code"], "unsupported_media_type");
    // A key given twice: which one counts would depend on the parser.
    let (status, body, _) = server
        .raw(
            Method::PATCH,
            &one,
            "application/json",
            r#"{"name": "B", "name": "C"}"#,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("`name` appears twice"),
        "{body}"
    );
    // A replay with no body at all replays every failed delivery (every field is optional).
    let (status, body, _) = server
        .raw(
            Method::POST,
            &server.path("/deliveries/replay"),
            "text/plain",
            "",
        )
        .await;
    assert_eq!(
        (status, body["queued"].clone()),
        (StatusCode::OK, json!(0)),
        "{body}"
    );
    // No body at all on an update.
    for method in [Method::PATCH, Method::PUT] {
        let (status, body, _) = server
            .raw(method.clone(), &one, "application/json", "")
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{method}: {body}");
    }
    // An integer written with a zero fraction is that integer; a real fraction is not.
    let (status, body) = server
        .call(Method::PATCH, &one, Some(json!({"timeout_ms": 1955.0})))
        .await;
    assert_eq!(
        (status, body["timeout_ms"].clone()),
        (StatusCode::OK, json!(1955)),
        "{body}"
    );
    let (status, body) = server
        .call(Method::PATCH, &one, Some(json!({"timeout_ms": 1955.5})))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(paths(&body), ["/timeout_ms"]);
    // What the schema says no to, the server says no to at the same path.
    for (bad, path) in [
        (json!({"name": ""}), "/name"),
        (json!({"name": "   "}), "/name"),
        (json!({"name": "a\u{7}b"}), "/name"),
        (json!({"slug": "Not A Slug"}), "/slug"),
        (json!({"payload_cap_bytes": 0}), "/payload_cap_bytes"),
        (json!({"status": "connected"}), "/status"),
    ] {
        let (status, body) = server.call(Method::PATCH, &one, Some(bad.clone())).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {body}");
        assert_eq!(paths(&body), [path], "{bad}: {body}");
    }
    // Routes: an empty destination id, empty event types.
    for bad in [
        json!({"name": "R", "destination_id": "", "event_types": ["a"]}),
        json!({"name": "R", "destination_id": dest, "event_types": [""]}),
        json!({"name": "R", "destination_id": dest, "event_types": []}),
        json!({"name": "", "destination_id": dest, "event_types": ["a"]}),
    ] {
        let (status, body) = server
            .call(Method::POST, &server.path("/routes"), Some(bad.clone()))
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {body}");
    }
    // A config the connector refuses is refused before any step runs, as on saving it; the
    // served document says what each connector's config holds.
    let (status, body) = server
        .call(
            Method::POST,
            &server.path("/destinations/test"),
            Some(json!({"destination_type": "webhook", "config": {}})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(paths(&body), ["/config/url"]);
    let (_, document) = server
        .call(
            Method::GET,
            &format!("{}/api/v1/openapi.json", server.url),
            None,
        )
        .await;
    let kinds = document["components"]["schemas"]["DestinationCreate"]["oneOf"]
        .as_array()
        .unwrap();
    let webhook = kinds
        .iter()
        .find(|k| k["properties"]["destination_type"]["const"] == "webhook")
        .unwrap();
    assert_eq!(
        webhook["properties"]["config"]["$ref"],
        "#/components/schemas/WebhookConfig"
    );
    assert_eq!(
        document["components"]["schemas"]["WebhookConfig"]["required"],
        json!(["url"])
    );
    // Events: an empty object, an empty type.
    for bad in [
        json!({}),
        json!({"events": [{}]}),
        json!({"type": "", "payload": 1}),
    ] {
        let (status, body) = server
            .call(Method::POST, &server.path("/events"), Some(bad.clone()))
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {body}");
    }
}

async fn routes_keep_their_destination_and_are_replaced_or_patched(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let (url, seen, _) = receiver().await;
    let dest = webhook(&server, "Receiver", &url).await;
    let (status, route) = server
        .call(
            Method::POST,
            &server.path("/routes"),
            Some(
                json!({"name": "R", "destination_id": dest, "event_types": ["order.*"],
                        "field_mapping": [{"source": "customer.email", "target": "email"}]}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{route}");
    let one = server.path(&format!("/routes/{}", route["id"].as_str().unwrap()));
    // PUT with an empty destination would detach the route and get around the 409 on deleting
    // its destination.
    let (status, body) = server
        .call(
            Method::PUT,
            &one,
            Some(json!({"name": "R", "destination_id": "", "event_types": ["order.*"]})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(paths(&body), ["/destination_id"]);
    // PUT is the whole route: a partial body is missing fields.
    let (status, body) = server
        .call(Method::PUT, &one, Some(json!({"name": "Renamed"})))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    // PATCH changes what it names.
    let (status, patched) = server
        .call(Method::PATCH, &one, Some(json!({"name": "Renamed"})))
        .await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    assert_eq!(patched["name"], "Renamed");
    assert_eq!(patched["event_types"], json!(["order.*"]));
    assert_eq!(patched["field_mapping"][0]["target"], "email");
    let (status, body) = server
        .call(
            Method::DELETE,
            &server.path(&format!("/destinations/{dest}")),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    // A scalar payload cannot go through a field mapping: refused before anything is stored.
    let (status, body) = server
        .call(
            Method::POST,
            &server.path("/events"),
            Some(json!({"type": "order.created", "payload": 42})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(paths(&body), ["/payload"]);
    let (_, events) = server
        .call(Method::GET, &server.path("/events"), None)
        .await;
    assert_eq!(events["data"], json!([]), "nothing stored: {events}");
    // An object goes through, and can be read back with its delivery.
    let (status, accepted) = server
        .call(
            Method::POST,
            &server.path("/events"),
            Some(json!({"type": "order.created", "payload": {"customer": {"email": "a@x.io"}, "n": 1}})),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{accepted}");
    let id = accepted["id"].as_str().unwrap();
    eventually("the delivery", || !seen.lock().unwrap().is_empty()).await;
    assert_eq!(
        seen.lock().unwrap()[0].1,
        json!({"n": 1, "email": "a@x.io"})
    );
    let (status, event) = server
        .call(Method::GET, &server.path(&format!("/events/{id}")), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{event}");
    assert_eq!(event["type"], "order.created");
    assert_eq!(event["payload"]["customer"]["email"], "a@x.io");
    assert_eq!(event["deliveries"].as_array().unwrap().len(), 1, "{event}");
    assert_eq!(event["deliveries"][0]["destination_id"], json!(dest));
    let (_, listed) = server
        .call(
            Method::GET,
            &server.path("/events?event_type=order.created"),
            None,
        )
        .await;
    assert_eq!(listed["data"][0]["id"], json!(id), "{listed}");
    let (_, none) = server
        .call(Method::GET, &server.path("/events?event_type=other"), None)
        .await;
    assert_eq!(none["data"], json!([]));
    let (_, later) = server
        .call(
            Method::GET,
            &server.path("/events?since=2999-01-01T00:00:00Z"),
            None,
        )
        .await;
    assert_eq!(later["data"], json!([]), "{later}");
}

async fn lists_page_filter_and_refuse_what_they_do_not_take(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let mut ids = Vec::new();
    for name in ["Alpha", "Beta", "Gamma", "Alphabet"] {
        ids.push(webhook(&server, name, "http://127.0.0.1:9/x").await);
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let query = match &cursor {
            Some(c) => format!("/destinations?limit=3&cursor={c}"),
            None => "/destinations?limit=3".to_string(),
        };
        let (status, page) = server.call(Method::GET, &server.path(&query), None).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        for d in page["data"].as_array().unwrap() {
            seen.push(d["id"].as_str().unwrap().to_string());
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => break,
        }
    }
    ids.sort();
    assert_eq!(seen, ids, "every destination once, in id order");
    // A cursor in upper case is the same cursor.
    let (_, lower) = server
        .call(
            Method::GET,
            &server.path(&format!("/destinations?cursor={}", ids[0])),
            None,
        )
        .await;
    let (_, upper) = server
        .call(
            Method::GET,
            &server.path(&format!("/destinations?cursor={}", ids[0].to_uppercase())),
            None,
        )
        .await;
    assert_eq!(lower, upper);
    assert_eq!(lower["data"].as_array().unwrap().len(), 3);
    let (_, found) = server
        .call(Method::GET, &server.path("/destinations?q=alpha"), None)
        .await;
    let names: Vec<&str> = found["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 2, "{found}");
    assert!(names.contains(&"Alpha") && names.contains(&"Alphabet"));
    let (_, typed) = server
        .call(
            Method::GET,
            &server.path("/destinations?destination_type=s3&status=pending"),
            None,
        )
        .await;
    assert_eq!(typed["data"], json!([]));
    let (_, pending) = server
        .call(
            Method::GET,
            &server.path("/destinations?destination_type=webhook&status=pending"),
            None,
        )
        .await;
    assert_eq!(pending["data"].as_array().unwrap().len(), 4);
    // `_` and `%` are text, not patterns.
    let (_, literal) = server
        .call(Method::GET, &server.path("/destinations?q=%25"), None)
        .await;
    assert_eq!(literal["data"], json!([]));
    for (list, query, path) in [
        ("/destinations", "colour=red", "/colour"),
        ("/destinations", "cursor=zzz", "/cursor"),
        ("/destinations", "limit=0", "/limit"),
        ("/destinations", "status=sideways", "/status"),
        ("/routes", "cursor=zzz", "/cursor"),
        ("/routes", "nope=1", "/nope"),
        ("/deliveries", "cursor=zzz", "/cursor"),
        ("/deliveries", "since=yesterday", "/since"),
        ("/events", "limit=501", "/limit"),
        ("/audit-log", "outcome=maybe", "/outcome"),
        ("/deliveries", "limit=1&limit=2", "/limit"),
    ] {
        let (status, body) = server
            .call(Method::GET, &server.path(&format!("{list}?{query}")), None)
            .await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{list}?{query}: {body}"
        );
        assert_eq!(paths(&body), [path], "{list}?{query}: {body}");
    }
    let (_, routes) = server
        .call(
            Method::GET,
            &server.path(&format!("/routes?destination_id={}&is_active=true", ids[0])),
            None,
        )
        .await;
    assert_eq!(routes, json!({"data": [], "next_cursor": null}));
}

async fn small_surprises_are_gone(backend: Backend) {
    let server = TestServer::start(&backend).await;
    // 405 says so, with the methods the path takes.
    let (status, body, headers) = server
        .call_as(
            Some(&server.key),
            Method::PUT,
            &server.path("/events"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(body["error"]["code"], "method_not_allowed", "{body}");
    assert!(headers.get("allow").is_some(), "{headers:?}");
    // The scheme is case-insensitive; a 401 says which one to use.
    let response = reqwest::Client::new()
        .get(server.path("/destinations"))
        .header("authorization", format!("bearer {}", server.key))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let (status, _, headers) = server
        .call_as(None, Method::GET, &server.path("/destinations"), None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        headers["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Bearer"),
        "{headers:?}"
    );
    // A slug the user chose stays through a rename; a derived one follows the name.
    let (_, chosen) = server
        .call(
            Method::POST,
            &server.path("/destinations"),
            Some(
                json!({"name": "Orders", "slug": "orders-eu", "destination_type": "webhook",
                        "config": {"url": "http://127.0.0.1:9/x", "allow_private_network": true}}),
            ),
        )
        .await;
    let derived = webhook(&server, "Refunds", "http://127.0.0.1:9/y").await;
    let (_, renamed) = server
        .call(
            Method::PATCH,
            &server.path(&format!("/destinations/{}", chosen["id"].as_str().unwrap())),
            Some(json!({"name": "Orders EU"})),
        )
        .await;
    assert_eq!(renamed["slug"], "orders-eu", "{renamed}");
    let (_, renamed) = server
        .call(
            Method::PATCH,
            &server.path(&format!("/destinations/{derived}")),
            Some(json!({"name": "Refunds EU"})),
        )
        .await;
    assert_eq!(renamed["slug"], "refunds-eu", "{renamed}");
    // A connection test reports the steps the catalog lists, each name once.
    let (_, entry) = server
        .call(
            Method::GET,
            &format!("{}/api/v1/catalog/connectors/webhook", server.url),
            None,
        )
        .await;
    let listed: Vec<&str> = entry["test_steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    let (_, text) = server
        .text(
            Method::POST,
            &server.path(&format!("/destinations/{derived}/test")),
            None,
        )
        .await;
    let (_, done) = support::sse_events(&text).pop().unwrap();
    let ran: Vec<&str> = done["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(ran, listed, "{done}");
    let mut unique = ran.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), ran.len(), "{ran:?}");
}

/// With the operator's `--allow-private-destinations`, a webhook to a local receiver needs no
/// second switch.
#[tokio::test]
async fn one_switch_lets_a_webhook_reach_a_local_receiver() {
    let dir = std::sync::Arc::new(tempfile::tempdir().unwrap());
    let mut config = support::config(dir.path(), &Backend::Sqlite);
    config.allow_private_destinations = true;
    let server = TestServer::start_with(config, dir).await;
    let (url, seen, _) = receiver().await;
    let (status, d) = server
        .call(
            Method::POST,
            &server.path("/destinations"),
            Some(json!({"name": "Local", "destination_type": "webhook", "config": {"url": url}})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{d}");
    let (status, r) = server
        .call(
            Method::POST,
            &server.path("/routes"),
            Some(json!({"name": "All", "destination_id": d["id"], "event_types": ["*"]})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{r}");
    server
        .call(
            Method::POST,
            &server.path("/events"),
            Some(json!({"type": "hello", "payload": {"n": 1}})),
        )
        .await;
    eventually("the delivery", || !seen.lock().unwrap().is_empty()).await;
}

on_both_stores!(
    bodies_are_json_of_the_documented_shape,
    routes_keep_their_destination_and_are_replaced_or_patched,
    lists_page_filter_and_refuse_what_they_do_not_take,
    small_surprises_are_gone,
);
