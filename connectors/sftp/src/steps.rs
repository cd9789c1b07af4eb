//! The SFTP connection test: TCP connect → SSH handshake → host key verified (the fingerprint
//! seen is printed) → authentication → directory exists and is writable (a probe file written
//! and removed). Each stage runs on the blocking pool; the connection it builds is kept for the
//! first delivery.

use std::io::Write;
use std::path::Path;

use courier_core::{ConnectorError, ErrorKind, Probe, StepSpec};
use courier_files::{PROBE_CONTENT, probe_name};
use ssh2::{OpenFlags, OpenType, Sftp};

use crate::client::{Failure, SftpClient, join};
use crate::session::{self, Connection, HostKeyVerdict};
use crate::upload::create_directories;

pub const STEPS: &[StepSpec] = &[
    StepSpec {
        name: "tcp_connect",
        label: "TCP connection to the server",
    },
    StepSpec {
        name: "ssh_handshake",
        label: "SSH handshake",
    },
    StepSpec {
        name: "host_key",
        label: "Host key verified",
    },
    StepSpec {
        name: "authentication",
        label: "Logged in",
    },
    StepSpec {
        name: "directory",
        label: "Directory exists and is writable",
    },
];

/// Runs blocking SSH work off the async workers.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ConnectorError> + Send + 'static,
) -> Result<T, ConnectorError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|_| ConnectorError::internal("the SFTP worker stopped unexpectedly"))?
}

pub async fn run(client: &SftpClient, probe: &mut Probe) -> Result<(), ConnectorError> {
    let shared = client.shared.clone();
    let target = format!("{}:{}", shared.config.host, shared.config.port);

    let s = shared.clone();
    let stream = probe
        .step("tcp_connect", async {
            let stream = blocking(move || session::tcp_connect(&s.config, s.allow_private)).await?;
            let peer = stream
                .peer_addr()
                .map(|a| a.to_string())
                .unwrap_or_else(|_| target.clone());
            Ok((stream, format!("connected to {peer}")))
        })
        .await?;

    let s = shared.clone();
    let session = probe
        .step("ssh_handshake", async {
            let session = blocking(move || session::handshake(&s.config, stream)).await?;
            let banner = session.banner().unwrap_or("an SSH server").to_string();
            Ok((session, format!("{target} is {banner}")))
        })
        .await?;

    let s = shared.clone();
    let session = probe
        .step("host_key", async {
            blocking(move || {
                let seen = session::seen_host_key(&session)?;
                let verdict = session::verify_host_key(&s.config, &s.pinned, &seen)?;
                let message = match verdict {
                    HostKeyVerdict::Matches => format!(
                        "{} ({}) matches host_key_fingerprint",
                        seen.fingerprint, seen.key_type
                    ),
                    HostKeyVerdict::PinnedNow => format!(
                        "{} ({}) accepted on first use and pinned (accept_new); set host_key_fingerprint to it to pin it for good",
                        seen.fingerprint, seen.key_type
                    ),
                    HostKeyVerdict::MatchesPinned => format!(
                        "{} ({}) matches the key pinned on first use",
                        seen.fingerprint, seen.key_type
                    ),
                };
                Ok((session, message))
            })
            .await
        })
        .await?;

    let s = shared.clone();
    let connection = probe
        .step("authentication", async {
            blocking(move || {
                let method = session::authenticate(&s.config, &s.auth, &session)?;
                let sftp = session::open_sftp(&s.config, &session)?;
                let message = format!("logged in as {} with a {method}", s.config.username);
                Ok((Connection { session, sftp }, message))
            })
            .await
        })
        .await?;
    client.opened_one();

    let s = shared.clone();
    let connection = probe
        .step("directory", async {
            blocking(move || {
                let message = check_directory(
                    &s.config.directory,
                    s.config.create_directories,
                    &connection.sftp,
                )
                .map_err(|f| f.error)?;
                Ok((connection, message))
            })
            .await
        })
        .await?;
    client.keep(connection);
    Ok(())
}

/// The directory exists (or is created when allowed), and a probe file can be written into it
/// and removed.
fn check_directory(dir: &str, create: bool, sftp: &Sftp) -> Result<String, Failure> {
    let mut created = "";
    match sftp.stat(Path::new(dir)) {
        Ok(stat) if stat.is_dir() => {}
        Ok(_) => {
            return Err(Failure {
                connection_broken: false,
                error: ConnectorError::new(
                    ErrorKind::InvalidConfig,
                    format!("{dir} exists but is not a directory"),
                    "correct config.directory",
                ),
            });
        }
        Err(_) if create => {
            create_directories(sftp, dir)?;
            created = "created, ";
        }
        Err(e) => {
            return Err(Failure {
                connection_broken: false,
                error: ConnectorError::new(
                    ErrorKind::NotFound,
                    format!("directory {dir} does not exist on the server"),
                    "create it, correct config.directory, or set create_directories: true",
                )
                .with_source(e),
            });
        }
    }
    let shown = sftp
        .realpath(Path::new(dir))
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| dir.to_string());
    let probe = join(dir, &probe_name());
    let mut file = sftp
        .open_mode(
            Path::new(&probe),
            OpenFlags::WRITE | OpenFlags::CREATE | OpenFlags::EXCLUSIVE,
            0o600,
            OpenType::File,
        )
        .map_err(|e| Failure::sftp("write a probe file in", dir, e))?;
    file.write_all(PROBE_CONTENT).map_err(|e| Failure {
        connection_broken: true,
        error: crate::errors::write_failed(&probe, e),
    })?;
    drop(file);
    let removed = match sftp.unlink(Path::new(&probe)) {
        Ok(()) => "wrote and removed a probe file".to_string(),
        Err(_) => {
            format!("wrote a probe file but could not remove it ({probe}); remove it by hand")
        }
    };
    Ok(format!("{shown} ({created}{removed})"))
}
