//! SFTP upload throughput of a 64 MiB file through the connector (temporary name, fsync,
//! rename, on a kept connection) side by side with a bare ssh2 SFTP write of the same bytes on
//! an open session, and the peak memory of delivering one 256 MiB file. Prints figures and the
//! ratio (target ≥ 0.9).
//!
//! Run: `cargo xtask services --env-file /tmp/courier.env` in one shell (it starts sshd with a
//! test user; needs root), then `source /tmp/courier.env && cargo bench -p courier-connector-sftp`.

use std::io::Write;
use std::net::TcpStream;
use std::path::Path;
use std::time::Instant;

use courier_benchkit::{batch, compare, ndjson, print_peak, reset_peak, status_kib};
use courier_connector_sftp::Sftp;
use courier_core::{DestinationSpec, DynConnector};
use courier_testbed::sshd::sshd;
use serde_json::json;

const ROUNDS: usize = 9;
const FILE_BYTES: usize = 64 << 20;

/// A bare ssh2 session with its SFTP channel, logged in with the password.
fn bare_session(port: u16, user: &str, password: &str) -> (ssh2::Session, ssh2::Sftp) {
    let mut session = ssh2::Session::new().unwrap();
    session.set_tcp_stream(TcpStream::connect(("127.0.0.1", port)).unwrap());
    session.handshake().unwrap();
    session.userauth_password(user, password).unwrap();
    let sftp = session.sftp().unwrap();
    (session, sftp)
}

fn main() {
    let sshd = sshd();
    let (port, user, password) = (sshd.port, &sshd.user, &sshd.password);
    let dir = courier_testbed::fresh_name("bench");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let spec = DestinationSpec {
        destination_id: "bench".into(),
        config: json!({
            "host": "127.0.0.1", "port": port, "username": user, "directory": dir,
            "create_directories": true, "file_name_template": "{batch_id}.{ext}",
            "host_key_fingerprint": sshd.fingerprint,
        }),
        auth_config: sshd.password_auth(),
        payload_cap_bytes: Some(512 << 20),
        token_store: None,
        allow_private_network: true,
    };
    let dest = rt.block_on(Sftp.build(&spec)).unwrap();

    // Memory first, so earlier rounds' allocations do not raise the baseline; 64 KiB records,
    // so the peak shows what the file's size costs.
    let big = batch("b-256mib", 256 << 20, 64 << 10);
    let before = status_kib("VmRSS:");
    reset_peak();
    let t = Instant::now();
    let out = rt.block_on(dest.deliver(&big));
    assert_eq!(out.failed_count(), 0, "{:?}", out.records[0]);
    print_peak("one 256 MiB file", t.elapsed(), before, 64);
    drop(big);

    let b = batch("b-64mib", FILE_BYTES, 1024);
    let body = ndjson(&b);
    let (_session, sftp) = bare_session(port, user, password);
    // A first delivery logs the connector in, as the bare session already is.
    assert_eq!(
        rt.block_on(dest.deliver(&batch("warm", 1024, 512)))
            .failed_count(),
        0
    );
    let c = rt.block_on(compare(
        &["connector", "bare ssh2"],
        ROUNDS,
        body.len(),
        async |side, round| {
            if side == 0 {
                let out = dest.deliver(&b).await;
                assert_eq!(out.failed_count(), 0, "{:?}", out.records[0]);
            } else {
                // Blocking, on the runtime's thread: nothing else runs meanwhile.
                let path = format!("{dir}/bare-{round}.ndjson");
                let mut file = sftp.create(Path::new(&path)).unwrap();
                file.write_all(&body).unwrap();
                file.close().unwrap();
            }
        },
    ));
    c.print(&format!(
        "SFTP upload of a {} MiB file against OpenSSH sshd on loopback (target ratio >= 0.90)",
        body.len() >> 20
    ));
}
