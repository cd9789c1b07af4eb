//! A webhook receiver on loopback: it keeps each request's headers and body, and answers as a
//! test's script says (status, Retry-After; 1 means "answer 204 after 1.5 s", 2 "410 after
//! 1.5 s"), 204 otherwise.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue, StatusCode as AxumStatus};
use axum::response::IntoResponse;
use serde_json::Value;

/// What the receiver got: headers and body of each request.
pub type Seen = Arc<Mutex<Vec<(HeaderMap, Value)>>>;
/// Responses to give, in order (status, Retry-After); 204 once they run out.
pub type Script = Arc<Mutex<VecDeque<(u16, Option<&'static str>)>>>;

pub async fn receiver() -> (String, Seen, Script) {
    let seen: Seen = Arc::default();
    let script: Script = Arc::default();
    let (kept, plan) = (seen.clone(), script.clone());
    let app = axum::Router::new().fallback(move |headers: HeaderMap, body: axum::body::Bytes| {
        let (kept, plan) = (kept.clone(), plan.clone());
        async move {
            let value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            kept.lock().unwrap().push((headers, value));
            let (mut status, retry_after) = plan.lock().unwrap().pop_front().unwrap_or((204, None));
            if status == 1 {
                // "Hang": answer long after any attempt timeout.
                tokio::time::sleep(Duration::from_millis(1500)).await;
                status = 204;
            } else if status == 2 {
                // "Slow 410": the answer comes a second and a half late.
                tokio::time::sleep(Duration::from_millis(1500)).await;
                status = 410;
            }
            let mut response = AxumStatus::from_u16(status).unwrap().into_response();
            if let Some(secs) = retry_after {
                response
                    .headers_mut()
                    .insert("retry-after", HeaderValue::from_static(secs));
            }
            response
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hooks", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, seen, script)
}
