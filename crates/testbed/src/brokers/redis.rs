//! redis-server (Debian's package): the test user only (the default user is off), every write
//! appended and fsynced before it is answered, so what a client saw acknowledged survives a kill.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use super::{OwnBroker, PASSWORD, Recipe, USERNAME, port_open};

/// Where Debian installs redis-server.
pub const BINARY: &str = "/usr/bin/redis-server";

/// How redis-server is started.
pub const REDIS: Recipe = Recipe {
    name: "redis-server",
    command,
    ready: port_open,
    ready_timeout: Duration::from_secs(20),
};

fn command(dir: &Path, port: u16) -> Command {
    let mut c = Command::new(BINARY);
    c.arg("--bind").arg("127.0.0.1");
    c.arg("--port").arg(port.to_string());
    c.arg("--dir").arg(dir);
    c.args([
        "--save",
        "",
        "--appendonly",
        "yes",
        "--appendfsync",
        "always",
    ]);
    c.args([
        "--user",
        USERNAME,
        "on",
        &format!(">{PASSWORD}"),
        "~*",
        "&*",
        "+@all",
    ]);
    // The default user is off (no connection can act as it) but keeps its permissions: Redis
    // replays the append-only file's MULTI/EXEC blocks (which is how a script's writes are
    // logged) as the default user and re-checks its ACL at EXEC, dropping every block it may
    // not run (redis/redis#14541, fixed in #14545); a bare `default off` would lose them.
    c.args(["--user", "default", "off", "~*", "&*", "+@all"]);
    c
}

/// A redis-server of the test's own.
pub fn own() -> OwnBroker {
    OwnBroker::start(REDIS)
}

/// The URL of a redis-server on `port`, without credentials (the connector takes them apart).
pub fn url(port: u16) -> String {
    format!("redis://127.0.0.1:{port}")
}
