//! A TCP proxy in front of sshd for fault tests: it can cut every connection once a given number
//! of bytes has gone from the client to the server (a failure in the middle of a file), and it
//! can drop all open connections on demand (a server restart, an idle timeout).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

pub struct Proxy {
    pub port: u16,
    /// Client-to-server bytes after which connections are cut (`u64::MAX`: never).
    budget: Arc<AtomicU64>,
    sent: Arc<AtomicU64>,
    cut: watch::Sender<u64>,
    pub accepted: Arc<AtomicU64>,
}

impl Proxy {
    pub async fn start(upstream_port: u16) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let budget = Arc::new(AtomicU64::new(u64::MAX));
        let sent = Arc::new(AtomicU64::new(0));
        let accepted = Arc::new(AtomicU64::new(0));
        let (cut, _) = watch::channel(0u64);
        let proxy = Proxy {
            port,
            budget: budget.clone(),
            sent: sent.clone(),
            cut: cut.clone(),
            accepted: accepted.clone(),
        };
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                accepted.fetch_add(1, Ordering::SeqCst);
                let server = TcpStream::connect(("127.0.0.1", upstream_port))
                    .await
                    .unwrap();
                let (budget, sent, mut cut_rx) = (budget.clone(), sent.clone(), cut.subscribe());
                tokio::spawn(async move {
                    let (mut cr, mut cw) = client.into_split();
                    let (mut sr, mut sw) = server.into_split();
                    let up = async {
                        let mut buf = vec![0u8; 64 * 1024];
                        loop {
                            let n = match cr.read(&mut buf).await {
                                Ok(0) | Err(_) => break,
                                Ok(n) => n,
                            };
                            let total = sent.fetch_add(n as u64, Ordering::SeqCst) + n as u64;
                            if total > budget.load(Ordering::SeqCst) {
                                break;
                            }
                            if sw.write_all(&buf[..n]).await.is_err() {
                                break;
                            }
                        }
                    };
                    let down = tokio::io::copy(&mut sr, &mut cw);
                    tokio::select! {
                        _ = up => {}
                        _ = down => {}
                        _ = cut_rx.changed() => {}
                    }
                    // Dropping both halves closes both sockets.
                });
            }
        });
        proxy
    }

    /// Cuts connections once `bytes` more client-to-server bytes have passed.
    pub fn cut_after(&self, bytes: u64) {
        let now = self.sent.load(Ordering::SeqCst);
        self.budget.store(now + bytes, Ordering::SeqCst);
    }

    /// Lets traffic pass again.
    pub fn heal(&self) {
        self.budget.store(u64::MAX, Ordering::SeqCst);
    }

    /// Closes every open connection now.
    pub fn drop_connections(&self) {
        self.cut.send_modify(|n| *n += 1);
    }
}
