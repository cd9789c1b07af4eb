//! Files in the target directory: the name of each record's file, atomic writes, and the
//! classification of I/O errors into the error taxonomy.

use std::io;
use std::path::Path;

use courier_core::{ConnectorError, ErrorKind};

/// The longest file name common file systems accept, in bytes.
const MAX_FILE_NAME_BYTES: usize = 255;

/// The file of one record: `<batch id>-<record id>.json`, both ids encoded by [`encode`]. The
/// batch id has its `-` encoded too, so the first `-` always separates the two ids and different
/// (batch, record) pairs never share a file; the same pair always does, so a redelivery replaces.
pub fn file_name(batch_id: &str, record_id: &str) -> String {
    format!(
        "{}-{}.json",
        encode(batch_id, false),
        encode(record_id, true)
    )
}

/// Whether `file_name` is the file of record `record_id` (in any batch): for reading files back.
pub fn is_file_of(file_name: &str, record_id: &str) -> bool {
    file_name
        .split_once('-')
        .is_some_and(|(_, rest)| rest == format!("{}.json", encode(record_id, true)))
}

/// Percent-encodes every byte except ASCII letters, digits, `.`, `_` (and `-` when `keep_dash`),
/// so an id can never name another directory and two ids never encode alike.
fn encode(id: &str, keep_dash: bool) -> String {
    let mut out = String::with_capacity(id.len());
    for byte in id.bytes() {
        if byte.is_ascii_alphanumeric()
            || byte == b'.'
            || byte == b'_'
            || (keep_dash && byte == b'-')
        {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Writes `contents` to `directory/name` through a temporary file and a rename, so readers never
/// see a partial file and a redelivery replaces the previous file whole.
pub async fn write(directory: &Path, name: &str, contents: &[u8]) -> Result<(), ConnectorError> {
    let temp_name = format!(".{name}.tmp");
    if temp_name.len() > MAX_FILE_NAME_BYTES {
        return Err(ConnectorError::new(
            ErrorKind::Rejected,
            format!(
                "the file name for this record would be {} bytes long",
                name.len()
            ),
            format!(
                "use batch and record ids that encode to under {} bytes",
                MAX_FILE_NAME_BYTES - 10
            ),
        ));
    }
    let temp = directory.join(&temp_name);
    let target = directory.join(name);
    tokio::fs::write(&temp, contents)
        .await
        .map_err(|e| io_error(e, "write", &target))?;
    if let Err(e) = tokio::fs::rename(&temp, &target).await {
        // Best effort: the rename error is what matters to the caller.
        let _ = tokio::fs::remove_file(&temp).await;
        return Err(io_error(e, "rename a temporary file to", &target));
    }
    Ok(())
}

/// A classified error for a failed file operation: what failed and what to change.
pub fn io_error(error: io::Error, action: &str, path: &Path) -> ConnectorError {
    use io::ErrorKind as Io;
    let (kind, hint) = match error.kind() {
        Io::NotFound | Io::NotADirectory => (
            ErrorKind::NotFound,
            "create the directory, or set config.directory to an existing one",
        ),
        Io::PermissionDenied => (
            ErrorKind::Forbidden,
            "give the Courier process write permission on config.directory",
        ),
        Io::ReadOnlyFilesystem => (
            ErrorKind::Forbidden,
            "set config.directory to a directory on a writable file system",
        ),
        Io::StorageFull | Io::QuotaExceeded => (
            ErrorKind::Unavailable,
            "free space on the file system of config.directory",
        ),
        _ => (
            ErrorKind::Unavailable,
            "check config.directory and the file system it is on",
        ),
    };
    ConnectorError::new(
        kind,
        format!("cannot {action} {}: {error}", path.display()),
        hint,
    )
    .with_source(error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_safe_and_distinct() {
        assert_eq!(file_name("b1", "rec-1"), "b1-rec-1.json");
        assert_eq!(file_name("../x", "a/b"), "..%2Fx-a%2Fb.json");
        assert_ne!(file_name("a-b", "c"), file_name("a", "b-c"));
        assert_ne!(file_name("a", "b_c"), file_name("a", "b/c"));
    }

    #[test]
    fn records_are_found_by_file_name() {
        assert!(is_file_of(&file_name("batch-7", "rec-1"), "rec-1"));
        assert!(!is_file_of(&file_name("batch", "x-rec-1"), "rec-1"));
        assert!(!is_file_of(".b-rec-1.json.tmp", "rec-1"));
    }
}
