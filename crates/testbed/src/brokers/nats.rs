//! nats-server (Debian's package) with JetStream on, storing streams on disk, and the test user
//! (user and password) as the only account.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use super::{OwnBroker, PASSWORD, Recipe, USERNAME, port_open};

/// Where Debian installs nats-server.
pub const BINARY: &str = "/usr/sbin/nats-server";

/// How nats-server is started.
pub const NATS: Recipe = Recipe {
    name: "nats-server",
    command,
    ready: port_open,
    ready_timeout: Duration::from_secs(20),
};

/// The config file for a server on `port` storing JetStream data under `dir`, with the test
/// user and `extra` (more config lines) appended.
pub fn config(dir: &Path, port: u16, users: &str) -> String {
    format!(
        "listen: 127.0.0.1:{port}\njetstream {{\n  store_dir: \"{}\"\n}}\nauthorization {{\n  users = [\n{users}\n  ]\n}}\n",
        dir.join("jetstream").display()
    )
}

/// The test user, as an entry of `authorization.users`.
pub fn test_user() -> String {
    format!("    {{user: \"{USERNAME}\", password: \"{PASSWORD}\"}}")
}

/// The command running nats-server with the config file `config` written into `dir`.
pub fn command_with(dir: &Path, config: &str) -> Command {
    let file = dir.join("nats.conf");
    std::fs::write(&file, config).expect("cannot write nats.conf");
    let mut c = Command::new(BINARY);
    c.arg("-c").arg(file);
    c
}

fn command(dir: &Path, port: u16) -> Command {
    command_with(dir, &config(dir, port, &test_user()))
}

/// A nats-server of the test's own.
pub fn own() -> OwnBroker {
    OwnBroker::start(NATS)
}

/// The URL of a nats-server on `port`.
pub fn url(port: u16) -> String {
    format!("nats://127.0.0.1:{port}")
}
