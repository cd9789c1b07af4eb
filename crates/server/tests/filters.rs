//! Content filters on routes, through the API: a filter is checked when the route is saved
//! (every mistake at its path), only events whose payload passes it are delivered through the
//! route, an event no route takes is accepted and delivered nowhere, and PATCH replaces or
//! removes it. On SQLite and on PostgreSQL.

mod support;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use support::receiver::receiver;
use support::{Backend, TestServer, eventually};

fn paths(body: &Value) -> Vec<String> {
    body["error"]["details"]
        .as_array()
        .unwrap_or_else(|| panic!("no details: {body}"))
        .iter()
        .map(|d| d["path"].as_str().unwrap().to_string())
        .collect()
}

async fn post_event(server: &TestServer, payload: Value) -> Value {
    let (status, accepted) = server
        .call(
            Method::POST,
            &server.path("/events"),
            Some(json!({"type": "order.created", "payload": payload})),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{accepted}");
    accepted
}

async fn only_matching_events_take_a_filtered_route(backend: Backend) {
    let server = TestServer::start(&backend).await;
    let (url, seen, _) = receiver().await;
    let (status, d) = server
        .call(
            Method::POST,
            &server.path("/destinations"),
            Some(json!({
                "name": "Receiver",
                "destination_type": "webhook",
                "config": {"url": url, "allow_private_network": true},
            })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{d}");
    let dest = d["id"].as_str().unwrap();

    // Mistakes are refused at their paths, and nothing is saved.
    let (status, body) = server
        .call(
            Method::POST,
            &server.path("/routes"),
            Some(json!({
                "name": "Big gold orders", "destination_id": dest, "event_types": ["order.*"],
                "filter": {"total": {"$gt": [1]}, "$where": "1", "tags": {"$in": "vip"}},
            })),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let mut got = paths(&body);
    got.sort();
    assert_eq!(
        got,
        ["/filter/$where", "/filter/tags/$in", "/filter/total/$gt"]
    );
    let (status, body) = server
        .call(
            Method::POST,
            &server.path("/routes"),
            Some(json!({"name": "x", "destination_id": dest, "event_types": ["*"], "filter": [1]})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(paths(&body), ["/filter"]);

    let filter =
        json!({"customer": {"tier": {"$in": ["gold", "platinum"]}}, "total": {"$gte": 100}});
    let (status, route) = server
        .call(
            Method::POST,
            &server.path("/routes"),
            Some(json!({
                "name": "Big gold orders", "destination_id": dest, "event_types": ["order.*"],
                "filter": filter,
            })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{route}");
    assert_eq!(route["filter"], filter);
    let route_id = route["id"].as_str().unwrap();
    let (_, read) = server
        .call(
            Method::GET,
            &server.path(&format!("/routes/{route_id}")),
            None,
        )
        .await;
    assert_eq!(read["filter"], filter, "stored as written");

    let small = post_event(
        &server,
        json!({"n": 1, "total": 20, "customer": {"tier": "gold"}}),
    )
    .await;
    assert_eq!(small["deliveries"], 0, "accepted, delivered nowhere");
    let silver = post_event(
        &server,
        json!({"n": 2, "total": 500, "customer": {"tier": "silver"}}),
    )
    .await;
    assert_eq!(silver["deliveries"], 0);
    let big = post_event(
        &server,
        json!({"n": 3, "total": 100.0, "customer": {"tier": "gold"}}),
    )
    .await;
    assert_eq!(big["deliveries"], 1);
    eventually("the matching event", || seen.lock().unwrap().len() == 1).await;
    assert_eq!(seen.lock().unwrap()[0].1["n"], 3);
    let (status, listed) = server
        .call(Method::GET, &server.path("/events"), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        listed["data"].as_array().unwrap().len(),
        3,
        "every event was kept"
    );

    // PATCH replaces the filter; null removes it.
    let (status, patched) = server
        .call(
            Method::PATCH,
            &server.path(&format!("/routes/{route_id}")),
            Some(json!({"filter": {"customer.tier": "silver"}})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    let silver = post_event(
        &server,
        json!({"n": 4, "total": 1, "customer": {"tier": "silver"}}),
    )
    .await;
    assert_eq!(silver["deliveries"], 1);
    let (status, patched) = server
        .call(
            Method::PATCH,
            &server.path(&format!("/routes/{route_id}")),
            Some(json!({"filter": null})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    assert_eq!(patched["filter"], Value::Null);
    let any = post_event(&server, json!({"n": 5})).await;
    assert_eq!(any["deliveries"], 1);
    eventually("both later events", || seen.lock().unwrap().len() == 3).await;
}

on_both_stores!(only_matching_events_take_a_filtered_route);
