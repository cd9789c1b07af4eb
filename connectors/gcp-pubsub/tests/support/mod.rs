//! A stand-in for the Pub/Sub REST API on loopback, for answers the emulator never gives
//! (throttling, a failing publish): it records every publish request it gets and answers each
//! as the test's rule says, or accepts it with one message id per message.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::http::{Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Value, json};

/// One message as a publish request carried it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    /// The message's data, decoded, as text.
    pub data: String,
    /// Its ordering key, when it had one.
    pub ordering_key: Option<String>,
}

/// How to answer one publish request (`n` counts from 0), given its messages: `None` accepts.
pub type Rule = dyn Fn(usize, &[Sent]) -> Option<(StatusCode, Value)> + Send + Sync;

/// The running stand-in.
pub struct FakePubsub {
    /// Its base URL, the connector's `endpoint`.
    pub url: String,
    /// Every publish request, in the order they came, as the messages they held.
    pub requests: Arc<Mutex<Vec<Vec<Sent>>>>,
    /// The requests it accepted.
    pub accepted: Arc<Mutex<Vec<Vec<Sent>>>>,
}

/// A gRPC-style error body, as Pub/Sub answers.
pub fn error_body(code: u16, status: &str, message: &str) -> Value {
    json!({"error": {"code": code, "status": status, "message": message}})
}

impl FakePubsub {
    /// Starts the stand-in on a free loopback port, answering publishes by `rule`.
    pub async fn start(rule: Box<Rule>) -> FakePubsub {
        FakePubsub::start_with(rule, true).await
    }

    /// As [`FakePubsub::start`]; reads of the topic are denied unless `readable` (credentials
    /// with only the Pub/Sub Publisher role).
    pub async fn start_with(rule: Box<Rule>, readable: bool) -> FakePubsub {
        let requests: Arc<Mutex<Vec<Vec<Sent>>>> = Arc::default();
        let accepted: Arc<Mutex<Vec<Vec<Sent>>>> = Arc::default();
        let rule: Arc<Rule> = Arc::from(rule);
        let (seen, kept) = (requests.clone(), accepted.clone());
        let app = Router::new().fallback(move |method: Method, uri: Uri, body: Bytes| {
            let (seen, kept, rule) = (seen.clone(), kept.clone(), rule.clone());
            async move {
                if method == Method::GET {
                    // The connection test's topic check.
                    if !readable {
                        let denied = error_body(403, "PERMISSION_DENIED", "User not authorized");
                        return answer(StatusCode::FORBIDDEN, denied);
                    }
                    let name = uri.path().trim_start_matches("/v1/");
                    return answer(StatusCode::OK, json!({ "name": name }));
                }
                assert!(uri.path().ends_with(":publish"), "{uri}");
                let request: Value = serde_json::from_slice(&body).unwrap();
                let messages: Vec<Sent> = request["messages"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|m| Sent {
                        data: String::from_utf8(
                            BASE64
                                .decode(m["data"].as_str().unwrap_or_default())
                                .unwrap(),
                        )
                        .unwrap(),
                        ordering_key: m["orderingKey"].as_str().map(str::to_string),
                    })
                    .collect();
                let n = {
                    let mut seen = seen.lock().unwrap();
                    seen.push(messages.clone());
                    seen.len() - 1
                };
                if let Some((status, body)) = rule(n, &messages) {
                    return answer(status, body);
                }
                let ids: Vec<String> = (0..messages.len()).map(|i| format!("{n}-{i}")).collect();
                kept.lock().unwrap().push(messages);
                answer(StatusCode::OK, json!({ "messageIds": ids }))
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        FakePubsub {
            url,
            requests,
            accepted,
        }
    }

    /// The connector's config for a topic on the stand-in.
    pub fn config(&self) -> Value {
        json!({"project_id": "fake-project", "topic": "events", "endpoint": self.url})
    }
}

fn answer(status: StatusCode, body: Value) -> Response {
    let mut response = (status, body.to_string()).into_response();
    response
        .headers_mut()
        .insert("content-type", "application/json".parse().unwrap());
    if status == StatusCode::TOO_MANY_REQUESTS {
        response
            .headers_mut()
            .insert("retry-after", "1".parse().unwrap());
    }
    response
}
