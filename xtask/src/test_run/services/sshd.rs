//! OpenSSH's sshd (Debian bookworm's 9.2p1) for the SFTP tests: its own config, host key and
//! authorized keys in a temporary directory, listening on loopback only, and a test user with a
//! password made fresh for every run plus authorized RSA, ed25519 and ECDSA keys (OpenSSH and
//! PEM forms, one encrypted). Starting sshd and creating the user need root.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result, bail};

use super::{Service, apt_install_without_starting, log_file, port_open, run};

const SSHD: &str = "/usr/sbin/sshd";
/// The OpenSSH line the tests were written against (Debian bookworm's openssh-server).
const OPENSSH_LINE: &str = "OpenSSH_9.2";
const USER: &str = "courier-sftp";
const NO_SHELL: &str = "/usr/sbin/nologin";
const PASSPHRASE_BYTES: usize = 18;

pub const SSHD_SERVICE: Service = Service {
    name: "sshd",
    install,
    preferred_port: None,
    start,
    ready: port_open,
    ready_timeout: Duration::from_secs(20),
    prepare,
    scratch: None,
};

/// The client keys made for each run: file name and `ssh-keygen` arguments.
const CLIENT_KEYS: &[(&str, &[&str])] = &[
    ("id_ed25519", &["-t", "ed25519"]),
    ("id_rsa", &["-t", "rsa", "-b", "3072"]),
    ("id_rsa.pem", &["-t", "rsa", "-b", "2048", "-m", "PEM"]),
    ("id_ecdsa", &["-t", "ecdsa", "-b", "256"]),
    ("id_ecdsa.pem", &["-t", "ecdsa", "-b", "384", "-m", "PEM"]),
];
/// An ed25519 key encrypted with the run's passphrase.
const ENCRYPTED_KEY: &str = "id_ed25519_encrypted";
/// A key the server does not authorize.
const UNAUTHORIZED_KEY: &str = "id_unauthorized";

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

fn sshd_version() -> Option<String> {
    // `sshd -V` prints its version to stderr and exits non-zero.
    let out = Command::new(SSHD).arg("-V").output().ok()?;
    Some(String::from_utf8_lossy(&out.stderr).trim().to_string())
}

fn install(_cache: &Path) -> Result<()> {
    if !is_root() {
        bail!("the SFTP tests start sshd and create a test user, which needs root");
    }
    if sshd_version().is_none() {
        apt_install_without_starting(&["openssh-server"])?;
    }
    let version = sshd_version().context("sshd is not runnable after installing openssh-server")?;
    if !version.contains(OPENSSH_LINE) {
        println!("service sshd: {version} (tests were written against {OPENSSH_LINE})");
    }
    Ok(())
}

/// The run's directory: config, host key, authorized keys, client keys.
fn dir(port: u16) -> PathBuf {
    std::env::temp_dir().join(format!("courier-sshd-{port}"))
}

fn home() -> PathBuf {
    PathBuf::from("/home").join(USER)
}

fn random_text(bytes: usize) -> Result<String> {
    use std::io::Read;
    let mut raw = vec![0u8; bytes];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut raw)?;
    Ok(raw.iter().map(|b| format!("{b:02x}")).collect())
}

fn keygen(path: &Path, args: &[&str], passphrase: &str) -> Result<()> {
    let out = Command::new("ssh-keygen")
        .args(args)
        .args(["-q", "-N", passphrase, "-C", "courier-test", "-f"])
        .arg(path)
        .stdin(Stdio::null())
        .output()
        .context("cannot run ssh-keygen")?;
    if !out.status.success() {
        bail!(
            "ssh-keygen {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

/// The test user, with a fresh password and an empty home.
fn prepare_user(password: &str) -> Result<()> {
    let exists = Command::new("id")
        .arg(USER)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !exists {
        run(Command::new("useradd").args(["--create-home", "--shell", NO_SHELL, USER]))?;
    }
    // The test user needs no shell (the server runs SFTP in-process), so its password is no
    // use to any other sshd on the machine whose SFTP goes through the user's shell.
    run(Command::new("usermod").args(["--shell", NO_SHELL, USER]))?;
    let home = home();
    let _ = std::fs::remove_dir_all(&home);
    std::fs::create_dir_all(&home)?;
    run(Command::new("chown")
        .arg(format!("{USER}:{USER}"))
        .arg(&home))?;
    let mut chpasswd = Command::new("chpasswd")
        .stdin(Stdio::piped())
        .spawn()
        .context("cannot run chpasswd")?;
    {
        use std::io::Write;
        let mut stdin = chpasswd.stdin.take().context("chpasswd has no stdin")?;
        writeln!(stdin, "{USER}:{password}")?;
    }
    if !chpasswd.wait()?.success() {
        bail!("chpasswd failed for {USER}");
    }
    Ok(())
}

fn start(_cache: &Path, port: u16) -> Result<Child> {
    let dir = dir(port);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    // The user's sshd process reads authorized_keys, so the directory must be traversable.
    std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o755))?;
    let password = random_text(16)?;
    let passphrase = random_text(PASSPHRASE_BYTES)?;
    for (name, secret) in [("password", &password), ("passphrase", &passphrase)] {
        std::fs::write(dir.join(name), secret)?;
        std::fs::set_permissions(
            dir.join(name),
            std::os::unix::fs::PermissionsExt::from_mode(0o600),
        )?;
    }
    prepare_user(&password)?;

    keygen(&dir.join("hostkey_ed25519"), &["-t", "ed25519"], "")?;
    let mut authorized = String::new();
    for (name, args) in CLIENT_KEYS {
        keygen(&dir.join(name), args, "")?;
        authorized += &std::fs::read_to_string(dir.join(format!("{name}.pub")))?;
    }
    keygen(&dir.join(ENCRYPTED_KEY), &["-t", "ed25519"], &passphrase)?;
    authorized += &std::fs::read_to_string(dir.join(format!("{ENCRYPTED_KEY}.pub")))?;
    keygen(&dir.join(UNAUTHORIZED_KEY), &["-t", "ed25519"], "")?;
    let authorized_keys = dir.join("authorized_keys");
    std::fs::write(&authorized_keys, authorized)?;
    std::fs::set_permissions(
        &authorized_keys,
        std::os::unix::fs::PermissionsExt::from_mode(0o644),
    )?;

    let d = dir.display();
    let config = format!(
        "Port {port}\nListenAddress 127.0.0.1\nHostKey {d}/hostkey_ed25519\nPidFile {d}/sshd.pid\n\
         AuthorizedKeysFile {d}/authorized_keys\nPubkeyAuthentication yes\nPasswordAuthentication yes\n\
         KbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\nAllowUsers {USER}\n\
         Subsystem sftp internal-sftp\nMaxStartups 200\nMaxSessions 50\nLogLevel INFO\n"
    );
    let config_file = dir.join("sshd_config");
    std::fs::write(&config_file, config)?;
    std::fs::create_dir_all("/run/sshd")?;
    run(Command::new(SSHD).arg("-t").arg("-f").arg(&config_file))?;
    let log = log_file(&dir, "sshd")?;
    Command::new(SSHD)
        .args(["-D", "-e", "-f"])
        .arg(&config_file)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .context("cannot start sshd")
}

fn prepare(_cache: &Path, port: u16) -> Result<super::Env> {
    let dir = dir(port);
    let out = Command::new("ssh-keygen")
        .arg("-lf")
        .arg(dir.join("hostkey_ed25519.pub"))
        .output()
        .context("cannot run ssh-keygen -lf")?;
    let listing = String::from_utf8_lossy(&out.stdout);
    let fingerprint = listing
        .split_whitespace()
        .nth(1)
        .filter(|f| f.starts_with("SHA256:"))
        .context("ssh-keygen -lf printed no SHA256 fingerprint")?
        .to_string();
    let read = |name: &str| std::fs::read_to_string(dir.join(name));
    Ok(vec![
        ("COURIER_TEST_SFTP_HOST".into(), "127.0.0.1".into()),
        ("COURIER_TEST_SFTP_PORT".into(), port.to_string()),
        ("COURIER_TEST_SFTP_USER".into(), USER.into()),
        ("COURIER_TEST_SFTP_PASSWORD".into(), read("password")?),
        (
            "COURIER_TEST_SFTP_KEY_PASSPHRASE".into(),
            read("passphrase")?,
        ),
        ("COURIER_TEST_SFTP_KEYS".into(), dir.display().to_string()),
        ("COURIER_TEST_SFTP_FINGERPRINT".into(), fingerprint),
        (
            "COURIER_TEST_SFTP_ROOT".into(),
            home().display().to_string(),
        ),
    ])
}
