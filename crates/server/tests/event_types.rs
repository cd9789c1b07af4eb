//! Event types through the API: defined with a payload schema that must compile, events of a
//! validating type refused at intake with every problem at its path (single and batch), routes
//! limited to known types once a workspace has any, replace and delete. On SQLite and on
//! PostgreSQL.

mod support;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use support::{Backend, TestServer};

fn paths(body: &Value) -> Vec<String> {
    let mut paths: Vec<String> = body["error"]["details"]
        .as_array()
        .unwrap_or_else(|| panic!("no details: {body}"))
        .iter()
        .map(|d| d["path"].as_str().unwrap().to_string())
        .collect();
    paths.sort();
    paths
}

async fn event_types_validate_payloads_and_name_what_routes_may_take(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let call = |method: Method, path: String, body: Option<Value>| {
        let server = &server;
        async move { server.call(method, &server.path(&path), body).await }
    };

    // Before any type is defined, routes take any name.
    let (status, d) = call(
        Method::POST,
        "/destinations".into(),
        Some(json!({"name": "Hook", "destination_type": "webhook",
                    "config": {"url": "http://127.0.0.1:9/x", "allow_private_network": true},
                    "is_active": false})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{d}");
    let dest = d["id"].as_str().unwrap().to_string();
    let route = |types: Value| json!({"name": format!("r {types}"), "destination_id": dest, "event_types": types});
    let (status, r) = call(
        Method::POST,
        "/routes".into(),
        Some(route(json!(["ordr.created"]))),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{r}");

    // A schema that cannot compile, and validation without a schema, are refused.
    let (status, body) = call(
        Method::POST,
        "/event-types".into(),
        Some(json!({"name": "order.created", "schema": {"type": "nonsense"}})),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(paths(&body), ["/schema"]);
    let (status, body) = call(
        Method::POST,
        "/event-types".into(),
        Some(json!({"name": "order.created", "validate": true})),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(paths(&body), ["/validate"]);
    let (status, body) = call(
        Method::POST,
        "/event-types".into(),
        Some(json!({"name": "bad name!"})),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(paths(&body), ["/name"]);

    let schema = json!({
        "type": "object",
        "required": ["id", "total"],
        "properties": {"id": {"type": "integer"}, "total": {"type": "number", "minimum": 0}},
    });
    let (status, created) = call(
        Method::POST,
        "/event-types".into(),
        Some(json!({"name": "order.created", "description": "An order was placed", "schema": schema, "validate": true})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["schema"], schema);
    let (status, again) = call(
        Method::POST,
        "/event-types".into(),
        Some(json!({"name": "order.created"})),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{again}");
    let (status, _) = call(
        Method::POST,
        "/event-types".into(),
        Some(json!({"name": "order.deleted", "deprecated": true})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, list) = call(Method::GET, "/event-types".into(), None).await;
    let names: Vec<&str> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["order.created", "order.deleted"]);

    // Intake: a payload that does not match is refused, every problem at its path.
    let (status, body) = call(
        Method::POST,
        "/events".into(),
        Some(json!({"type": "order.created", "payload": {"id": "seven", "total": -1}})),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(paths(&body), ["/payload/id", "/payload/total"]);
    let (status, body) = call(
        Method::POST,
        "/events".into(),
        Some(json!({"events": [
            {"type": "order.created", "payload": {"id": 1, "total": 5}},
            {"type": "order.created", "payload": {"total": 5}},
            {"type": "order.deleted", "payload": "anything"},
        ]})),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(paths(&body), ["/events/1/payload"]);
    let (_, events) = call(Method::GET, "/events".into(), None).await;
    assert_eq!(events["data"], json!([]), "a refused batch stores nothing");
    let (status, body) = call(
        Method::POST,
        "/events".into(),
        Some(json!({"type": "order.created", "payload": {"id": 7, "total": 42.5}})),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");

    // Routes now name only known types: a typo is refused; prefixes must match one.
    let (status, body) = call(
        Method::POST,
        "/routes".into(),
        Some(route(json!([
            "order.created",
            "ordr.created",
            "order.*",
            "invoice.*",
            "*"
        ]))),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(paths(&body), ["/event_types/1", "/event_types/3"]);

    // PUT replaces all but the name: validation off lets the payload through.
    let (status, put) = call(
        Method::PUT,
        "/event-types/order.created".into(),
        Some(json!({"description": "Placed", "schema": schema})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{put}");
    assert_eq!(put["validate"], false);
    let (status, body) = call(
        Method::POST,
        "/events".into(),
        Some(json!({"type": "order.created", "payload": {"id": "seven"}})),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");

    let (status, _) = call(Method::DELETE, "/event-types/order.deleted".into(), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = call(Method::GET, "/event-types/order.deleted".into(), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = call(Method::DELETE, "/event-types/order.created".into(), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    // With no types left, any name goes again.
    let (status, r) = call(
        Method::POST,
        "/routes".into(),
        Some(route(json!(["invoice.*"]))),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{r}");
}

on_both_stores!(event_types_validate_payloads_and_name_what_routes_may_take);
