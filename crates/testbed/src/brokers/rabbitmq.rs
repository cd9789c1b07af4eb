//! RabbitMQ (Debian's package) run as root from its own script with every file under its
//! directory: its own epmd on a port of its own (so no epmd daemon outlives it), the test user
//! as the default user, a durable mnesia directory so persistent messages survive a kill.
//! RabbitMQ takes ~8 s to start, so the suite shares one (`COURIER_TEST_AMQP_URL`, started by
//! `cargo xtask test`) and only restart tests start their own.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use super::{OwnBroker, PASSWORD, Recipe, USERNAME, free_port, port_open};

/// Where Debian installs the server script (the `/usr/sbin` wrapper would `su` to rabbitmq).
pub const SCRIPT: &str = "/usr/lib/rabbitmq/bin/rabbitmq-server";

/// How RabbitMQ is started.
pub const RABBITMQ: Recipe = Recipe {
    name: "rabbitmq-server",
    command,
    ready: port_open,
    ready_timeout: Duration::from_secs(90),
};

/// The distribution and epmd ports of the broker in `dir`, chosen once and kept there, so a
/// restart uses the same.
fn side_ports(dir: &Path) -> (u16, u16) {
    let file = dir.join("ports");
    if let Some((dist, epmd)) = std::fs::read_to_string(&file).ok().and_then(|s| {
        s.split_once(' ')
            .map(|(a, b)| (a.parse().ok(), b.trim().parse().ok()))
    }) && let (Some(dist), Some(epmd)) = (dist, epmd)
    {
        return (dist, epmd);
    }
    let ports = (free_port(), free_port());
    std::fs::write(&file, format!("{} {}", ports.0, ports.1)).expect("cannot write the ports");
    ports
}

/// The command running RabbitMQ on `port` with its files under `dir`.
pub fn command(dir: &Path, port: u16) -> Command {
    let (dist, epmd) = side_ports(dir);
    for sub in ["home", "mnesia", "log"] {
        std::fs::create_dir_all(dir.join(sub)).expect("cannot create RabbitMQ's directories");
    }
    let config = format!(
        "listeners.tcp.default = 127.0.0.1:{port}\nlog.console = true\nlog.file = false\n\
         default_user = {USERNAME}\ndefault_pass = {PASSWORD}\nloopback_users = none\n"
    );
    std::fs::write(dir.join("rabbitmq.conf"), config).expect("cannot write rabbitmq.conf");
    std::fs::write(dir.join("enabled_plugins"), "[].\n").expect("cannot write enabled_plugins");
    std::fs::write(dir.join("rabbitmq-env.conf"), "").expect("cannot write rabbitmq-env.conf");
    // epmd first, in the same process group (killed with the broker); the VM would otherwise
    // start a daemon epmd that outlives it.
    let mut c = Command::new("sh");
    c.arg("-c").arg(format!(
        "epmd -address 127.0.0.1 -port {epmd} & sleep 0.3; exec {SCRIPT}"
    ));
    c.env("HOME", dir.join("home"))
        .env("RABBITMQ_NODENAME", format!("courier{port}@localhost"))
        .env("RABBITMQ_NODE_IP_ADDRESS", "127.0.0.1")
        .env("RABBITMQ_NODE_PORT", port.to_string())
        .env("RABBITMQ_DIST_PORT", dist.to_string())
        .env("ERL_EPMD_ADDRESS", "127.0.0.1")
        .env("ERL_EPMD_PORT", epmd.to_string())
        .env("RABBITMQ_MNESIA_BASE", dir.join("mnesia"))
        .env("RABBITMQ_LOG_BASE", dir.join("log"))
        .env("RABBITMQ_CONFIG_FILE", dir.join("rabbitmq.conf"))
        .env("RABBITMQ_ENABLED_PLUGINS_FILE", dir.join("enabled_plugins"))
        .env("RABBITMQ_CONF_ENV_FILE", dir.join("rabbitmq-env.conf"))
        .env(
            "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS",
            "-kernel inet_dist_use_interface {127,0,0,1}",
        );
    c
}

/// A RabbitMQ of the test's own (~8 s to start).
pub fn own() -> OwnBroker {
    OwnBroker::start(RABBITMQ)
}

/// The AMQP URL of a broker on `port` with the test user, on the default vhost.
pub fn url(port: u16) -> String {
    format!("amqp://{USERNAME}:{PASSWORD}@127.0.0.1:{port}/%2f")
}

/// The suite's shared broker: its AMQP URL with the test user.
pub fn shared_url() -> String {
    crate::required_var("COURIER_TEST_AMQP_URL", "RabbitMQ")
}
