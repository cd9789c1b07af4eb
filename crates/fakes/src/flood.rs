//! A server that answers every request with a chosen status and a body that never ends, and
//! counts the bytes it got onto the wire: a client that reads answers with a cap stops early
//! and the count stays small; one that reads without a cap keeps it climbing.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The running server.
#[derive(Debug)]
pub struct Flood {
    /// `http://127.0.0.1:{port}`, without a trailing slash.
    pub url: String,
    sent: Arc<AtomicU64>,
}

impl Flood {
    /// Listens on loopback; every request is answered with `status` (e.g. `"500 Internal Server
    /// Error"`), a `content_type`, a declared length of a gigabyte and bytes until the client
    /// hangs up. What the client sends is read and thrown away alongside.
    pub async fn start(status: &'static str, content_type: &'static str) -> Flood {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a loopback port");
        let url = format!("http://{}", listener.local_addr().expect("local address"));
        let sent = Arc::new(AtomicU64::new(0));
        let counter = sent.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let counter = counter.clone();
                tokio::spawn(async move {
                    let (mut read, mut write) = stream.into_split();
                    // The request's head first (a client sees an answer before it has sent
                    // its request as a broken connection), then the rest is drained alongside.
                    let mut seen = Vec::new();
                    let mut buf = vec![0u8; 64 * 1024];
                    while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                        match read.read(&mut buf).await {
                            Ok(n) if n > 0 => seen.extend_from_slice(&buf[..n]),
                            _ => return,
                        }
                    }
                    tokio::spawn(async move {
                        while matches!(read.read(&mut buf).await, Ok(n) if n > 0) {}
                    });
                    let head = format!(
                        "HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\ncontent-length: 1000000000\r\n\r\n"
                    );
                    if write.write_all(head.as_bytes()).await.is_err() {
                        return;
                    }
                    let chunk = vec![b'a'; 64 * 1024];
                    while write.write_all(&chunk).await.is_ok() {
                        counter.fetch_add(chunk.len() as u64, Ordering::Relaxed);
                    }
                });
            }
        });
        Flood { url, sent }
    }

    /// Body bytes written so far, over all connections.
    pub fn sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }

    /// Waits for the clients to stop reading, and fails unless they stopped well short of the
    /// endless body (under 32 MiB, socket buffers included): they read with a cap.
    pub async fn assert_cut_short(&self) {
        let sent = self.settled().await;
        assert!(
            sent < 32 << 20,
            "{sent} bytes of an endless answer were read"
        );
    }

    /// Waits until the count has not moved for half a second (every client hung up, or stopped
    /// reading), and returns it.
    pub async fn settled(&self) -> u64 {
        let mut last = self.sent();
        loop {
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            let now = self.sent();
            if now == last {
                return now;
            }
            last = now;
        }
    }
}
