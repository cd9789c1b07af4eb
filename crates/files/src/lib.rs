//! The file-drop layer every file-style connector shares (object stores, SFTP, Drive, OneDrive):
//! a batch becomes one or more files in a chosen format and compression, under a key rendered
//! from a validated template, within the payload cap, identical on every retry.
//!
//! ```
//! use std::time::{Duration, UNIX_EPOCH};
//!
//! use courier_core::{Batch, PayloadCap, Record};
//! use courier_files::template::KeyContext;
//! use courier_files::{Compression, FileLayout, Format, KeyTemplate, plan_files};
//!
//! // Templates are checked once, when the config is built.
//! let template = KeyTemplate::parse("exports/{yyyy}/{mm}/{dd}/{batch_id}.{ext}")?;
//! assert!(KeyTemplate::parse("../{batch_id}").is_err());
//!
//! // 2024-03-05T07:08:09Z
//! let created_at = UNIX_EPOCH + Duration::from_secs(1_709_622_489);
//! let key = template.render(&KeyContext {
//!     destination_id: "dest_1",
//!     batch_id: "batch_1",
//!     created_at,
//!     record_count: 2,
//!     ext: "ndjson.gz",
//! })?;
//! assert_eq!(key, "exports/2024/03/05/batch_1.ndjson.gz");
//!
//! // A batch planned into files within the payload cap, then one written out.
//! let mut batch = Batch::new(
//!     "batch_1",
//!     vec![Record::new("r1", r#"{"id":1}"#), Record::new("r2", r#"{"id":2}"#)],
//! );
//! batch.created_at = created_at;
//! let layout = FileLayout {
//!     format: Format::Ndjson,
//!     compression: Compression::None,
//!     ..FileLayout::default()
//! };
//! let plan = plan_files(&batch, &layout, &template, PayloadCap::default(), "dest_1");
//! assert!(plan.refused.is_empty());
//! let file = &plan.files[0];
//! assert_eq!(file.key, "exports/2024/03/05/batch_1.ndjson");
//! assert_eq!(file.content_type, "application/x-ndjson");
//!
//! let bytes = file.write_to(&batch, &layout, Vec::new())?;
//! assert_eq!(bytes, b"{\"id\":1}\n{\"id\":2}\n");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![warn(missing_docs)]

pub mod chunks;
pub mod connector;
pub mod deliver;
pub mod envelope;
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
