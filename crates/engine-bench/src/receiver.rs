//! The null receiver: an HTTP/1.1 server on loopback that answers every request 204 and notes
//! when event `n` (the `"n":` number in the body) arrived.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use crate::timeline::Timeline;

/// The number after the first `"n":` in `body`.
pub fn event_number(body: &[u8]) -> Option<usize> {
    let at = body.windows(4).position(|w| w == b"\"n\":")? + 4;
    let digits = body[at..].iter().take_while(|b| b.is_ascii_digit()).count();
    std::str::from_utf8(&body[at..at + digits])
        .ok()?
        .parse()
        .ok()
}

/// Starts the receiver; it runs until the process ends.
pub async fn start(timeline: Arc<Timeline>) -> anyhow::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let _ = stream.set_nodelay(true);
            let timeline = timeline.clone();
            tokio::spawn(async move {
                let service = service_fn(move |request: Request<hyper::body::Incoming>| {
                    let timeline = timeline.clone();
                    async move {
                        let body = request.into_body().collect().await?.to_bytes();
                        if let Some(n) = event_number(&body) {
                            timeline.arrive(n);
                        }
                        let mut response = Response::new(Empty::<Bytes>::new());
                        *response.status_mut() = StatusCode::NO_CONTENT;
                        Ok::<_, hyper::Error>(response)
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Ok(addr)
}

#[cfg(test)]
mod tests {
    use super::event_number;

    #[test]
    fn finds_the_event_number() {
        assert_eq!(event_number(br#"{"n":42,"pad":"x"}"#), Some(42));
        assert_eq!(event_number(br#"{"type":"x","data":{"n":7}}"#), Some(7));
        assert_eq!(event_number(br#"{"m":1}"#), None);
    }
}
