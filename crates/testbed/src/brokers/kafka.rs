//! tansu, a Kafka-protocol broker written in Rust (`cargo install tansu`, cached by
//! `cargo xtask test`), keeping topics in memory or, for tests that restart it, in SQLite.
//! It covers metadata, topic creation, keyed produce with headers and acks=all, the
//! idempotent producer, consumer groups and SASL/SCRAM users; it has no transactions, no ACLs
//! and no per-topic `max.message.bytes`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use super::{OwnBroker, Recipe, port_open};

/// Where `cargo xtask test` installs tansu (under its emulator cache), unless
/// `COURIER_TEST_TANSU` names the binary.
pub fn binary() -> PathBuf {
    if let Some(path) = std::env::var_os("COURIER_TEST_TANSU") {
        return PathBuf::from(path);
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_default();
    home.join(".cache/courier/emulators/tansu/bin/tansu")
}

/// How tansu is started, keeping topics in memory.
pub const TANSU: Recipe = Recipe {
    name: "tansu",
    command,
    ready: port_open,
    ready_timeout: Duration::from_secs(20),
};

/// The file in a broker's directory that, when present, holds the URL tansu advertises in
/// its metadata instead of its own listener (a TLS front's, say: clients then dial the front).
pub const ADVERTISED_FILE: &str = "advertised-listener-url";

/// The command running tansu on `port` with the storage engine `storage` (a URL), in `dir`
/// (tansu reads a `.env` from its working directory: this one has none).
pub fn command_with(dir: &Path, port: u16, storage: &str) -> Command {
    let listener = format!("tcp://127.0.0.1:{port}");
    let advertised = std::fs::read_to_string(dir.join(ADVERTISED_FILE))
        .map(|url| url.trim().to_string())
        .unwrap_or_else(|_| listener.clone());
    let mut c = Command::new(binary());
    c.current_dir(dir)
        .arg("broker")
        .args(["--listener-url", &listener])
        .args(["--advertised-listener-url", &advertised])
        .args(["--storage-engine", storage]);
    c
}

fn command(dir: &Path, port: u16) -> Command {
    command_with(dir, port, "memory://tansu/")
}

/// A tansu of the test's own, keeping topics in memory.
pub fn own() -> OwnBroker {
    OwnBroker::start(TANSU)
}

/// A tansu of the test's own, keeping topics in memory and advertising `url` (for example
/// `tcp://localhost:PORT` of a TLS front that forwards to it) as where its partitions are.
pub fn own_advertising(url: &str) -> OwnBroker {
    OwnBroker::start_prepared(TANSU, |dir| {
        std::fs::write(dir.join(ADVERTISED_FILE), url).expect("writing the advertised URL")
    })
}

/// How tansu is started keeping topics in an SQLite file in its directory, so what it
/// acknowledged survives a kill.
pub const TANSU_DURABLE: Recipe = Recipe {
    name: "tansu",
    command: |dir, port| {
        // tansu reads the URL's path after a fourth slash as absolute.
        let storage = format!("sqlite:///{}", dir.join("tansu.db").display());
        command_with(dir, port, &storage)
    },
    ready: port_open,
    ready_timeout: Duration::from_secs(20),
};

/// A tansu of the test's own keeping topics on disk (for restart tests).
pub fn own_durable() -> OwnBroker {
    OwnBroker::start(TANSU_DURABLE)
}

/// How tansu is started requiring SASL/SCRAM authentication, with the SQLite file of
/// [`TANSU_DURABLE`] (where the users are).
pub const TANSU_AUTHENTICATED: Recipe = Recipe {
    name: "tansu",
    command: |dir, port| {
        let mut c = (TANSU_DURABLE.command)(dir, port);
        c.arg("--authentication");
        c
    },
    ready: port_open,
    ready_timeout: Duration::from_secs(20),
};

/// A tansu of the test's own that requires SCRAM authentication, with the test user
/// ([`super::USERNAME`], [`super::PASSWORD`]) for SCRAM-SHA-256 and SCRAM-SHA-512. tansu
/// takes new users only from an authenticated client, so they are made while it runs open on
/// its SQLite file, and it is started again on that file requiring authentication.
pub fn own_authenticated() -> OwnBroker {
    authenticated(None)
}

/// [`own_authenticated`], advertising `url` once it requires authentication (the users are
/// made on its own listener first).
pub fn own_authenticated_advertising(url: &str) -> OwnBroker {
    authenticated(Some(url))
}

fn authenticated(advertised: Option<&str>) -> OwnBroker {
    let mut broker = OwnBroker::start(TANSU_DURABLE);
    for mechanism in ["scram256", "scram512"] {
        let status = Command::new(binary())
            .current_dir(broker.dir())
            .args(["user", "create", "--broker"])
            .arg(format!("tcp://127.0.0.1:{}", broker.port()))
            .args([super::USERNAME, super::PASSWORD, "--mechanism", mechanism])
            .stdout(std::process::Stdio::null())
            .status()
            .expect("cannot run `tansu user create`");
        assert!(
            status.success(),
            "`tansu user create` failed; broker log: {}",
            broker.log()
        );
    }
    if let Some(url) = advertised {
        std::fs::write(broker.dir().join(ADVERTISED_FILE), url)
            .expect("writing the advertised URL");
    }
    broker.restart_as(TANSU_AUTHENTICATED);
    broker
}

/// The bootstrap address of a broker on `port`.
pub fn bootstrap(port: u16) -> String {
    format!("127.0.0.1:{port}")
}
