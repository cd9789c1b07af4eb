//! The load generator: many HTTP/1.1 connections, each posting one event per request, either
//! flat out (closed loop: the next post once the last is answered) or at a fixed rate (open
//! loop: event `n` is due at `n / rate` seconds, and its latency counts from then, so a stalled
//! server cannot hide its stall by slowing the generator down).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::timeline::Timeline;

/// How events are paced.
#[derive(Debug, Clone, Copy)]
pub enum Pace {
    /// Each connection posts again as soon as it is answered.
    Closed,
    /// Events are due at a fixed rate, whatever the answers.
    Open { per_second: f64 },
}

/// Where the posts go, and in what shape.
#[derive(Debug, Clone)]
pub struct Target {
    /// One address per replica; connections are spread over them.
    pub addrs: Vec<SocketAddr>,
    pub path: String,
    pub bearer: Option<String>,
    /// Whether the payload is wrapped as an event (`{"type", "payload"}`) or posted bare.
    pub as_event: Option<String>,
}

/// What the generator saw.
#[derive(Debug, Default)]
pub struct LoadReport {
    /// Events posted.
    pub sent: usize,
    /// Every posted event's number is below this.
    pub numbers: usize,
    /// Answers other than 2xx, by status (0: the connection failed).
    pub refused: BTreeMap<u16, usize>,
    /// When the last post was sent.
    pub elapsed: Duration,
}

/// A payload of about `bytes` bytes carrying the event number.
pub fn payload(n: usize, bytes: usize) -> String {
    let head = format!(
        "{{\"n\":{n},\"customer\":{{\"id\":\"c{}\"}},\"pad\":\"",
        n % 97
    );
    let pad = bytes.saturating_sub(head.len() + 2);
    format!("{head}{}\"}}", "x".repeat(pad))
}

fn body(target: &Target, n: usize, bytes: usize) -> Bytes {
    let p = payload(n, bytes);
    match &target.as_event {
        Some(event_type) => format!("{{\"type\":\"{event_type}\",\"payload\":{p}}}").into(),
        None => p.into(),
    }
}

async fn connect(addr: SocketAddr) -> anyhow::Result<SendRequest<Full<Bytes>>> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    Ok(sender)
}

/// Posts events over `connections` connections for `duration` (events numbered from 0, at most
/// the timeline's capacity), noting due and accept times in `timeline`.
pub async fn run(
    target: Target,
    pace: Pace,
    duration: Duration,
    connections: usize,
    payload_bytes: usize,
    timeline: Arc<Timeline>,
) -> LoadReport {
    let next = Arc::new(AtomicUsize::new(0));
    let sent = Arc::new(AtomicUsize::new(0));
    let refused: Arc<Mutex<BTreeMap<u16, usize>>> = Arc::default();
    let start = Instant::now() + Duration::from_millis(20);
    let deadline = start + duration;
    let target = Arc::new(target);
    let mut tasks = Vec::new();
    for c in 0..connections {
        let (target, next, sent, refused, timeline) = (
            target.clone(),
            next.clone(),
            sent.clone(),
            refused.clone(),
            timeline.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let addr = target.addrs[c % target.addrs.len()];
            let authority = addr.to_string();
            let mut sender = None;
            tokio::time::sleep_until(start.into()).await;
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= timeline.capacity() {
                    break;
                }
                let due = match pace {
                    Pace::Closed => Instant::now(),
                    Pace::Open { per_second } => {
                        start + Duration::from_secs_f64(n as f64 / per_second)
                    }
                };
                if due >= deadline {
                    break;
                }
                tokio::time::sleep_until(due.into()).await;
                timeline.set_due(n, due);
                sent.fetch_add(1, Ordering::Relaxed);
                let mut request = Request::post(target.path.as_str())
                    .header(http::header::HOST, authority.as_str())
                    .header(http::header::CONTENT_TYPE, "application/json");
                if let Some(token) = &target.bearer {
                    request =
                        request.header(http::header::AUTHORIZATION, format!("Bearer {token}"));
                }
                let request = request
                    .body(Full::new(body(&target, n, payload_bytes)))
                    .expect("a valid request");
                let status = async {
                    if sender.is_none() {
                        sender = Some(connect(addr).await?);
                    }
                    let s = sender.as_mut().expect("connected");
                    s.ready().await?;
                    let response = s.send_request(request).await?;
                    let status = response.status().as_u16();
                    response.into_body().collect().await?;
                    anyhow::Ok(status)
                }
                .await;
                match status {
                    Ok(s) if (200..300).contains(&s) => timeline.set_accepted(n),
                    other => {
                        let code = *other.as_ref().unwrap_or(&0);
                        if other.is_err() {
                            sender = None;
                        }
                        *refused
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .entry(code)
                            .or_default() += 1;
                    }
                }
            }
        }));
    }
    for task in tasks {
        let _ = task.await;
    }
    let refused = std::mem::take(&mut *refused.lock().unwrap_or_else(|p| p.into_inner()));
    LoadReport {
        sent: sent.load(Ordering::Relaxed),
        numbers: next.load(Ordering::Relaxed).min(timeline.capacity()),
        refused,
        elapsed: start.elapsed(),
    }
}
