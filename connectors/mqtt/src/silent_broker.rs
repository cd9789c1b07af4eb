//! A stand-in MQTT 5 broker on loopback for tests of what no real broker does on demand: it
//! accepts connections and answers pings, and on its first `silent` connections never
//! acknowledges a message (on later ones it acknowledges every QoS 1 message).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The broker; it stops accepting when dropped.
pub struct SilentBroker {
    port: u16,
    connections: Arc<AtomicUsize>,
    acceptor: tokio::task::JoinHandle<()>,
}

impl Drop for SilentBroker {
    fn drop(&mut self) {
        self.acceptor.abort();
    }
}

impl SilentBroker {
    /// Listens on a free loopback port; the first `silent` connections acknowledge nothing.
    pub async fn start(silent: usize) -> SilentBroker {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let connections = Arc::new(AtomicUsize::new(0));
        let counted = connections.clone();
        let acceptor = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let index = counted.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(serve(stream, index >= silent));
            }
        });
        SilentBroker {
            port,
            connections,
            acceptor,
        }
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// How many connections it accepted.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

/// Reads one packet: its first byte and its body; `None` when the client went away.
async fn read_packet(stream: &mut TcpStream) -> Option<(u8, Vec<u8>)> {
    let kind = stream.read_u8().await.ok()?;
    let mut length = 0usize;
    for shift in [0, 7, 14, 21] {
        let byte = stream.read_u8().await.ok()?;
        length |= usize::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            break;
        }
    }
    let mut body = vec![0; length];
    stream.read_exact(&mut body).await.ok()?;
    Some((kind, body))
}

async fn serve(mut stream: TcpStream, acknowledging: bool) {
    while let Some((kind, body)) = read_packet(&mut stream).await {
        let reply: &[u8] = match kind >> 4 {
            // CONNECT: CONNACK, no session, success, no properties.
            1 => &[0x20, 3, 0, 0, 0],
            // PUBLISH at QoS 1: PUBACK with its packet id (after the topic), success.
            3 if acknowledging && (kind >> 1) & 3 == 1 => {
                let topic = usize::from(u16::from_be_bytes([body[0], body[1]]));
                let pkid = [body[2 + topic], body[3 + topic]];
                let ack = [0x40, 2, pkid[0], pkid[1]];
                if stream.write_all(&ack).await.is_err() {
                    return;
                }
                continue;
            }
            // PINGREQ: PINGRESP.
            12 => &[0xd0, 0],
            // DISCONNECT.
            14 => return,
            _ => continue,
        };
        if stream.write_all(reply).await.is_err() {
            return;
        }
    }
}
