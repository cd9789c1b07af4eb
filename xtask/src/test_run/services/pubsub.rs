//! Google's Pub/Sub emulator (REST and gRPC on one port, any project, no credentials, in
//! memory). It cannot be installed from a package registry: it comes with the Google Cloud
//! CLI's pubsub-emulator component, which the CI machine image ships with Java 17; install
//! only checks that it is there. Its start script execs java, so the child's PID is the JVM's.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result, bail};

use super::{Service, log_file};

/// Where the machine image keeps the emulator's start script.
const EMULATOR: &str =
    "/usr/lib/google-cloud-sdk/platform/pubsub-emulator/bin/cloud-pubsub-emulator";

pub const PUBSUB: Service = Service {
    name: "pubsub-emulator",
    install,
    preferred_port: None,
    start,
    ready,
    ready_timeout: Duration::from_secs(60),
    prepare,
    scratch: None,
};

fn install(_cache: &Path) -> Result<()> {
    if !Path::new(EMULATOR).is_file() {
        bail!(
            "the Google Cloud Pub/Sub emulator is not at {EMULATOR}: it comes with the Google Cloud CLI's \
             pubsub-emulator component (google-cloud-cli-pubsub-emulator) and Java 17, which the CI machine \
             image ships; it cannot be installed from a package registry here"
        );
    }
    let java = std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|dir| dir.join("java").is_file()))
        .unwrap_or(false);
    if !java {
        bail!("the Pub/Sub emulator needs Java (17 or newer) on PATH");
    }
    Ok(())
}

fn start(cache: &Path, port: u16) -> Result<Child> {
    let log = log_file(cache, "pubsub-emulator")?;
    Command::new(PathBuf::from(EMULATOR))
        .args(["--host=127.0.0.1", &format!("--port={port}")])
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .context("cannot start the Pub/Sub emulator")
}

/// Whether `GET /` answers `Ok`, the emulator's sign that it serves requests.
fn ready(port: u16) -> bool {
    let Ok(mut stream) = std::net::TcpStream::connect_timeout(
        &([127, 0, 0, 1], port).into(),
        Duration::from_millis(200),
    ) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let request = format!("GET / HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    // The emulator keeps the connection open after answering: read until the answer is in.
    let mut answer = Vec::new();
    let mut chunk = [0u8; 256];
    while !answer.ends_with(b"\r\n\r\nOk\n") && answer.len() < 4096 {
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => answer.extend_from_slice(&chunk[..n]),
        }
    }
    answer.starts_with(b"HTTP/1.")
        && answer.windows(5).any(|w| w == b" 200 ")
        && answer.ends_with(b"\r\n\r\nOk\n")
}

fn prepare(_cache: &Path, port: u16) -> Result<super::Env> {
    Ok(vec![(
        "COURIER_TEST_PUBSUB_ENDPOINT".into(),
        format!("http://127.0.0.1:{port}"),
    )])
}

#[cfg(test)]
mod tests {
    use std::net::TcpListener;
    use std::thread;

    use super::*;

    /// A server that answers every connection with `answer` and then keeps it open, as the
    /// emulator does.
    fn answering(answer: &'static str) -> u16 {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        thread::spawn(move || {
            for mut stream in listener.incoming().flatten() {
                let mut request = [0u8; 1024];
                let _ = stream.read(&mut request);
                let _ = stream.write_all(answer.as_bytes());
                thread::spawn(move || {
                    thread::sleep(Duration::from_secs(5));
                    drop(stream);
                });
            }
        });
        port
    }

    #[test]
    fn ready_reads_ok_from_a_connection_left_open() {
        let started = std::time::Instant::now();
        assert!(ready(answering(
            "HTTP/1.0 200 OK\r\ncontent-length: 3\r\n\r\nOk\n"
        )));
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "no waiting for the connection to close"
        );
        assert!(!ready(answering(
            "HTTP/1.0 503 Service Unavailable\r\ncontent-length: 3\r\n\r\nOk\n"
        )));
        let closed = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        assert!(!ready(closed));
    }
}
