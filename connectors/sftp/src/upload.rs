//! Writing one planned file atomically: the encoder streams into a temporary name beside the
//! final one (`.NAME.courier-part`), the file is closed (and synced when `fsync` is set), then
//! renamed onto the final name. A reader never sees a partial file, and a retried batch replaces its earlier file.

use std::io::{BufWriter, Write};
use std::path::Path;
use std::time::Instant;

use courier_core::{Batch, ConnectorError, Delivered};
use courier_files::PlannedFile;
use ssh2::{OpenFlags, OpenType, RenameFlags, Sftp};

use crate::client::{Failure, SftpClient, Shared, join};
use crate::errors::{self, SftpStatus, sftp_status};

/// Bytes handed to libssh2 per write call. libssh2 pipelines the SFTP packets of one call and
/// drains them before the call returns, so each call ends in a pause; at 8 MiB the pauses cost
/// a few percent of throughput (1 MiB cost about 15%), at 8 MiB of memory per upload.
const WRITE_BUFFER: usize = 8 * 1024 * 1024;

pub async fn upload(
    client: &SftpClient,
    batch: &Batch,
    file: &PlannedFile,
) -> Result<Delivered, ConnectorError> {
    let started = Instant::now();
    let (batch, file) = (batch.clone(), file.clone());
    let path = client
        .with_connection(move |shared, connection| {
            let path = shared.remote_path(&file.key);
            write_atomically(shared, &connection.sftp, &path, &mut |sink| {
                file.write_to(&batch, &shared.config.layout, sink).map(drop)
            })?;
            Ok(path)
        })
        .await?;
    Ok(Delivered {
        reference: client.shared.url_of(&path),
        status: None,
        latency: started.elapsed(),
        response_body: None,
    })
}

/// The temporary name a file is written under before it is renamed to `path`.
pub fn temporary_path(path: &str) -> String {
    match path.rsplit_once('/') {
        Some((dir, name)) => format!("{dir}/.{name}.courier-part"),
        None => format!(".{path}.courier-part"),
    }
}

/// Writes `path` through a temporary file; `encode` writes the content into the sink it gets.
pub fn write_atomically(
    shared: &Shared,
    sftp: &Sftp,
    path: &str,
    encode: &mut dyn FnMut(&mut dyn Write) -> std::io::Result<()>,
) -> Result<(), Failure> {
    let parent = path.rsplit_once('/').map(|(dir, _)| dir).unwrap_or(".");
    if shared.config.create_directories {
        create_directories(sftp, parent)?;
    }
    let temporary = temporary_path(path);
    let handle = sftp
        .open_mode(
            Path::new(&temporary),
            OpenFlags::WRITE | OpenFlags::CREATE | OpenFlags::TRUNCATE,
            0o644,
            OpenType::File,
        )
        .map_err(|e| match sftp_status(&e) {
            Some(SftpStatus::NotFound) => Failure {
                connection_broken: false,
                error: errors::operation("write into directory", parent, e),
            },
            _ => Failure::sftp("create", &temporary, e),
        })?;
    let mut sink = BufWriter::with_capacity(WRITE_BUFFER, handle);
    let written = encode(&mut sink).and_then(|()| sink.flush());
    if let Err(e) = written {
        drop(sink);
        // An encoding failure leaves the connection usable; then the partial file is removed.
        let broken = e.kind() != std::io::ErrorKind::InvalidData;
        if !broken {
            let _ = sftp.unlink(Path::new(&temporary));
        }
        return Err(Failure {
            connection_broken: broken,
            error: errors::write_failed(path, e),
        });
    }
    let mut handle = sink.into_inner().map_err(|e| Failure {
        connection_broken: true,
        error: errors::write_failed(path, e.into_error()),
    })?;
    // Durable before it takes the final name when asked; servers without fsync@openssh.com
    // skip it.
    if shared.config.fsync
        && let Err(e) = handle.fsync()
        && sftp_status(&e) != Some(SftpStatus::Unsupported)
    {
        return Err(Failure::sftp("sync", &temporary, e));
    }
    handle
        .close()
        .map_err(|e| Failure::sftp("close", &temporary, e))?;
    rename_onto(sftp, &temporary, path).inspect_err(|f| {
        if !f.connection_broken {
            let _ = sftp.unlink(Path::new(&temporary));
        }
    })
}

/// Renames `from` onto `to`, replacing an existing file. SFTP v3 (OpenSSH) refuses to rename
/// onto an existing name and libssh2 offers no posix-rename, so an existing file is removed
/// first; it is replaced by the complete new file a moment later, never by a partial one.
fn rename_onto(sftp: &Sftp, from: &str, to: &str) -> Result<(), Failure> {
    let flags = Some(RenameFlags::OVERWRITE | RenameFlags::ATOMIC | RenameFlags::NATIVE);
    let first = match sftp.rename(Path::new(from), Path::new(to), flags) {
        Ok(()) => return Ok(()),
        Err(e) => e,
    };
    if !matches!(
        sftp_status(&first),
        Some(SftpStatus::Failure | SftpStatus::Exists)
    ) {
        return Err(Failure::sftp("rename into place", to, first));
    }
    match sftp.lstat(Path::new(to)) {
        Ok(stat) if stat.is_dir() => {
            return Err(Failure {
                connection_broken: false,
                error: ConnectorError::new(
                    courier_core::ErrorKind::Conflict,
                    format!("{to} is a directory, so the file cannot take its name"),
                    "remove the directory or change config.file_name_template",
                ),
            });
        }
        Ok(_) => sftp
            .unlink(Path::new(to))
            .map_err(|e| Failure::sftp("replace", to, e))?,
        Err(_) => return Err(Failure::sftp("rename into place", to, first)),
    }
    sftp.rename(Path::new(from), Path::new(to), flags)
        .map_err(|e| Failure::sftp("rename into place", to, e))
}

/// Creates `dir` and its missing parents (like `mkdir -p`).
pub fn create_directories(sftp: &Sftp, dir: &str) -> Result<(), Failure> {
    if dir == "." || dir.is_empty() || dir == "/" {
        return Ok(());
    }
    if sftp.stat(Path::new(dir)).is_ok_and(|s| s.is_dir()) {
        return Ok(());
    }
    let mut current = String::new();
    for segment in dir.split('/') {
        current = if current.is_empty() && dir.starts_with('/') {
            format!("/{segment}")
        } else if current.is_empty() {
            segment.to_string()
        } else {
            join(&current, segment)
        };
        if segment.is_empty() || segment == "." {
            continue;
        }
        match sftp.stat(Path::new(&current)) {
            Ok(stat) if stat.is_dir() => continue,
            Ok(_) => {
                return Err(Failure {
                    connection_broken: false,
                    error: ConnectorError::new(
                        courier_core::ErrorKind::Conflict,
                        format!("{current} exists and is not a directory"),
                        "change config.directory or config.file_name_template",
                    ),
                });
            }
            Err(_) => {
                if let Err(e) = sftp.mkdir(Path::new(&current), 0o755) {
                    // Another delivery may have created it meanwhile.
                    if !sftp.stat(Path::new(&current)).is_ok_and(|s| s.is_dir()) {
                        return Err(Failure::sftp("create directory", &current, e));
                    }
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::temporary_path;

    #[test]
    fn temporary_names_sit_beside_the_final_name_and_are_hidden() {
        assert_eq!(
            temporary_path("up/2026/b.ndjson"),
            "up/2026/.b.ndjson.courier-part"
        );
        assert_eq!(temporary_path("/b.csv"), "/.b.csv.courier-part");
        assert_eq!(temporary_path("b.csv"), ".b.csv.courier-part");
    }
}
