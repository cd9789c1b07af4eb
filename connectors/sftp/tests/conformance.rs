//! Runs the shared conformance suite against OpenSSH's sshd, reading files back from the
//! server's disk.

mod support;

use std::sync::Arc;

use courier_conformance::ndjson::find_lines;
use courier_conformance::{Fixture, suite};
use courier_connector_sftp::Sftp;
use futures::FutureExt;
use serde_json::json;

async fn fixture() -> Fixture {
    let sshd = support::sshd();
    let dir = sshd.new_dir("conformance");
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut unreachable = sshd.config(&dir);
    unreachable["port"] = json!(closed);
    let (read_dir, count_dir) = (dir.clone(), dir.clone());
    Fixture {
        connector: Arc::new(Sftp),
        config: sshd.config(&dir),
        auth_config: sshd.password_auth(),
        bad_auth_config: Some(json!({"password": format!("not-{}", sshd.password)})),
        unreachable_config: Some(unreachable),
        secret_sentinel: Some(sshd.password.clone()),
        read_back: Some(Arc::new(move |records| {
            let dir = read_dir.clone();
            async move {
                let files: Vec<Vec<u8>> = support::files(&dir)
                    .into_iter()
                    .map(|(_, bytes)| bytes)
                    .collect();
                find_lines(&records, &files)
            }
            .boxed()
        })),
        stored_count: Some(Arc::new(move || {
            let dir = count_dir.clone();
            async move { support::files(&dir).len() }.boxed()
        })),
    }
}

suite!(Sftp, fixture);
