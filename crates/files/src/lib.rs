//! The file-drop layer every file-style connector shares (object stores, SFTP, Drive, OneDrive):
//! a batch becomes one or more files in a chosen format and compression, under a key rendered
//! from a validated template, within the payload cap, identical on every retry.

pub mod chunks;
pub mod connector;
pub mod deliver;
pub mod errors;
pub mod format;
#[cfg(feature = "google-resumable")]
pub mod google_session;
pub mod options;
pub mod parts;
pub mod plan;
pub mod probe;
pub mod record_encoding;
pub mod resume;
pub mod template;

pub use chunks::{Chunk, ChunkReader};
pub use connector::{FileClient, FileConfig, FileConnector, Files};
pub use deliver::{deliver_files, deliver_plan};
pub use errors::{Op, status_kind};
pub use format::{Compression, Format};
pub use options::{FileLayout, FileOptions, check_prefix, check_template};
pub use parts::{PartStream, encode_error};
pub use plan::{FilePlan, PlannedFile, UNCHECKED_RECORD_INVALID, plan_files, plan_files_unchecked};
pub use probe::{PROBE_CONTENT, WRITE_PERMISSION, probe_name, probe_write};
pub use template::KeyTemplate;
