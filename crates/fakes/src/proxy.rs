//! A TCP proxy that cuts the one connection carrying the Nth request byte, then forwards
//! normally again: a network failure in the middle of an upload, with the server still
//! reachable for the resume or cleanup that follows.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A running proxy.
#[derive(Debug, Clone)]
pub struct CutProxy {
    pub port: u16,
    cut: Arc<AtomicBool>,
}

impl CutProxy {
    /// Whether the cut has happened.
    pub fn was_cut(&self) -> bool {
        self.cut.load(Ordering::SeqCst)
    }
}

/// Starts the proxy on `bind` (`127.0.0.1:0` for any port) to `target` (host:port).
pub async fn cut_once_after(bind: &str, target: String, bytes: u64) -> CutProxy {
    let listener = TcpListener::bind(bind)
        .await
        .unwrap_or_else(|e| panic!("cannot listen on {bind} for the proxy: {e}"));
    let port = listener.local_addr().unwrap().port();
    let sent = Arc::new(AtomicU64::new(0));
    let cut = Arc::new(AtomicBool::new(false));
    let proxy = CutProxy {
        port,
        cut: cut.clone(),
    };
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let (target, sent, cut) = (target.clone(), sent.clone(), cut.clone());
            tokio::spawn(async move {
                let Ok(server) = TcpStream::connect(&target).await else {
                    return;
                };
                let (mut cr, mut cw) = client.into_split();
                let (mut sr, mut sw) = server.into_split();
                let upstream = async {
                    let mut buf = vec![0u8; 64 * 1024];
                    loop {
                        let n = match cr.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => n,
                        };
                        let total = sent.fetch_add(n as u64, Ordering::SeqCst) + n as u64;
                        if total > bytes && !cut.swap(true, Ordering::SeqCst) {
                            return; // drop both directions: the request never completes
                        }
                        if sw.write_all(&buf[..n]).await.is_err() {
                            return;
                        }
                    }
                };
                let downstream = async {
                    let _ = tokio::io::copy(&mut sr, &mut cw).await;
                };
                tokio::select! {
                    _ = upstream => {}
                    _ = downstream => {}
                }
            });
        }
    });
    proxy
}
