//! Broker processes of a test's own: RabbitMQ, nats-server, redis-server, mosquitto and tansu
//! (Kafka), started on a free loopback port in a directory of their own with the test user's
//! credentials, awaited, killed and started again on the same port (for restart tests), and
//! killed when dropped. `cargo xtask test` installs the binaries; the commands that start each
//! broker live here, so the suite's shared brokers and a test's own start the same way.

#[cfg(feature = "kafka")]
pub mod kafka;
#[cfg(feature = "mqtt")]
pub mod mqtt;
#[cfg(feature = "nats")]
pub mod nats;
#[cfg(feature = "rabbitmq")]
pub mod rabbitmq;
#[cfg(feature = "redis")]
pub mod redis;

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The test user every broker is started with (where the broker has users).
pub const USERNAME: &str = "courier";
/// The test user's password: a sentinel that must never appear in any output.
pub const PASSWORD: &str = "broker-sentinel-5e1f0c";

/// How a broker is started: the command for a data directory and a port, and how to tell that
/// it is serving.
#[derive(Clone, Copy)]
pub struct Recipe {
    /// The broker's name, for messages.
    pub name: &'static str,
    /// The command that runs the broker in the foreground on `port`, keeping its data (and
    /// config files it writes there) in `dir`.
    pub command: fn(dir: &Path, port: u16) -> Command,
    /// Whether the broker serves on `port` yet.
    pub ready: fn(port: u16) -> bool,
    /// How long a start may take.
    pub ready_timeout: Duration,
}

impl std::fmt::Debug for Recipe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recipe").field("name", &self.name).finish()
    }
}

/// Whether something accepts TCP connections on the loopback `port`.
pub fn port_open(port: u16) -> bool {
    std::net::TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_millis(200))
        .is_ok()
}

/// A free loopback port (bound and released; the broker binds it next).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("no free loopback port")
}

/// A broker process of the test's own; killed (and its directory removed) when dropped.
#[derive(Debug)]
pub struct OwnBroker {
    recipe: Recipe,
    dir: tempfile::TempDir,
    port: u16,
    child: Option<Child>,
}

impl OwnBroker {
    /// Starts the broker `recipe` describes on a free port and waits until it serves.
    pub fn start(recipe: Recipe) -> OwnBroker {
        OwnBroker::start_prepared(recipe, |_| {})
    }

    /// Like [`OwnBroker::start`], but first runs `prepare` on the broker's (still empty) data
    /// directory: it writes what the recipe's command reads from there and cannot make itself,
    /// such as the certificate and key a TLS test generated.
    pub fn start_prepared(recipe: Recipe, prepare: impl FnOnce(&Path)) -> OwnBroker {
        let dir = tempfile::Builder::new()
            .prefix(&format!("courier-{}-", recipe.name))
            .tempdir()
            .expect("cannot create the broker's directory");
        prepare(dir.path());
        let mut broker = OwnBroker {
            recipe,
            dir,
            port: free_port(),
            child: None,
        };
        broker.start_again();
        broker
    }

    /// The port the broker listens on (the same after a restart).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The broker's data directory.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Kills the broker at once (SIGKILL: no shutdown of its own) and waits for it to exit.
    pub fn kill(&mut self) {
        if let Some(child) = self.child.take() {
            kill_group(child);
        }
        // Wait until the port is free, so the next start can bind it.
        let deadline = Instant::now() + Duration::from_secs(20);
        while port_open(self.port) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Starts the broker again on its port, with its data directory as it was left, and waits
    /// until it serves.
    pub fn start_again(&mut self) {
        assert!(self.child.is_none(), "{} is running", self.recipe.name);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .expect("cannot open the broker's log");
        let child = (self.recipe.command)(self.dir.path(), self.port)
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("cannot share the log"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start {} ({e}): `cargo xtask test` (or `cargo xtask services`) installs it",
                    self.recipe.name
                )
            });
        self.child = Some(child);
        let deadline = Instant::now() + self.recipe.ready_timeout;
        while !(self.recipe.ready)(self.port) {
            if let Some(Ok(Some(status))) = self.child.as_mut().map(|c| c.try_wait()) {
                panic!(
                    "{} exited ({status}) before serving; its log: {}",
                    self.recipe.name,
                    self.log()
                );
            }
            assert!(
                Instant::now() < deadline,
                "{} did not serve on port {} within {:?}; its log: {}",
                self.recipe.name,
                self.port,
                self.recipe.ready_timeout,
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Kills the broker and starts it again on the same port with the same data.
    pub fn restart(&mut self) {
        self.kill();
        self.start_again();
    }

    /// Kills the broker and starts it again with the same data and port but another recipe
    /// (users made while it was open, then authentication required).
    pub fn restart_as(&mut self, recipe: Recipe) {
        self.kill();
        self.recipe = recipe;
        self.start_again();
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("broker.log")
    }

    /// The broker's output so far (for failure messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }
}

impl Drop for OwnBroker {
    fn drop(&mut self) {
        if let Some(child) = self.child.take() {
            kill_group(child);
        }
    }
}

/// Kills `child` and every process it started (RabbitMQ's script runs the Erlang VM and epmd
/// beside it): each broker runs in a process group of its own, which gets SIGKILL.
fn kill_group(mut child: Child) {
    let group = format!("-{}", child.id());
    let _ = Command::new("kill")
        .args(["-KILL", "--", &group])
        .stderr(Stdio::null())
        .status();
    let _ = child.kill();
    let _ = child.wait();
}
