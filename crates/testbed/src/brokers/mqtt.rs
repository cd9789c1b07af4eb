//! mosquitto (Debian's package) speaking MQTT 3.1.1 and 5, with the test user in a password
//! file (no anonymous clients) and persistence saved on every change, so messages it
//! acknowledged and still holds for a subscriber survive a kill.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use super::{OwnBroker, PASSWORD, Recipe, USERNAME, port_open};

/// Where Debian installs mosquitto.
pub const BINARY: &str = "/usr/sbin/mosquitto";
/// Where Debian installs mosquitto_passwd.
pub const PASSWD: &str = "/usr/bin/mosquitto_passwd";

/// How mosquitto is started.
pub const MOSQUITTO: Recipe = Recipe {
    name: "mosquitto",
    command,
    ready: port_open,
    ready_timeout: Duration::from_secs(20),
};

fn command(dir: &Path, port: u16) -> Command {
    let passwd = dir.join("passwd");
    if !passwd.exists() {
        let status = Command::new(PASSWD)
            .arg("-b")
            .arg("-c")
            .arg(&passwd)
            .args([USERNAME, PASSWORD])
            .status()
            .expect("cannot run mosquitto_passwd");
        assert!(status.success(), "mosquitto_passwd failed");
    }
    let config = format!(
        "listener {port} 127.0.0.1\nallow_anonymous false\npassword_file {}\npersistence true\npersistence_location {}/\nautosave_interval 1\nautosave_on_changes true\nlog_dest stdout\nuser root\n",
        passwd.display(),
        dir.display()
    );
    // Settings a test adds (`own_with`) live in conf.d, read after the defaults.
    let extra = dir.join("conf.d");
    let config = if extra.is_dir() {
        format!("{config}include_dir {}\n", extra.display())
    } else {
        config
    };
    let file = dir.join("mosquitto.conf");
    std::fs::write(&file, config).expect("cannot write mosquitto.conf");
    let mut c = Command::new(BINARY);
    c.arg("-c").arg(file);
    c
}

/// A mosquitto of the test's own.
pub fn own() -> OwnBroker {
    OwnBroker::start(MOSQUITTO)
}

/// A mosquitto of the test's own with `settings` (mosquitto.conf lines, such as
/// `max_packet_size 4096` or `acl_file /path`) added to the defaults.
pub fn own_with(settings: &str) -> OwnBroker {
    let mut broker = own();
    let extra = broker.dir().join("conf.d");
    std::fs::create_dir_all(&extra).expect("cannot create conf.d");
    std::fs::write(extra.join("test.conf"), format!("{settings}\n")).expect("cannot write conf.d");
    broker.restart();
    broker
}

/// The URL of a mosquitto on `port`.
pub fn url(port: u16) -> String {
    format!("mqtt://127.0.0.1:{port}")
}
