//! File formats and compressions, with their extensions, content types and encodings.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// How a batch's records are laid out in the file.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// A JSON array of the records' payloads.
    Json,
    /// One payload per line (newline-delimited JSON).
    #[default]
    Ndjson,
    /// Comma-separated values: a header row of `columns`, then one row per record (RFC 4180).
    Csv,
}

impl Format {
    /// The file extension, without a dot or the compression suffix (`ndjson`).
    pub fn extension(self) -> &'static str {
        match self {
            Format::Json => "json",
            Format::Ndjson => "ndjson",
            Format::Csv => "csv",
        }
    }

    /// The `Content-Type` the stored file carries (whatever its compression).
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Json => "application/json",
            Format::Ndjson => "application/x-ndjson",
            Format::Csv => "text/csv; charset=utf-8",
        }
    }
}

/// How the file is compressed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Compression {
    /// Not compressed.
    #[default]
    None,
    /// gzip (RFC 1952), extension `.gz`.
    Gzip,
    /// Zstandard, extension `.zst`.
    Zstd,
}

impl Compression {
    /// The suffix added after the format's extension.
    pub fn suffix(self) -> &'static str {
        match self {
            Compression::None => "",
            Compression::Gzip => ".gz",
            Compression::Zstd => ".zst",
        }
    }

    /// The `Content-Encoding` the stored object carries, if any.
    pub fn content_encoding(self) -> Option<&'static str> {
        match self {
            Compression::None => None,
            Compression::Gzip => Some("gzip"),
            Compression::Zstd => Some("zstd"),
        }
    }
}

/// The full extension: `ndjson`, `csv.gz`, `json.zst`.
pub fn extension(format: Format, compression: Compression) -> String {
    format!("{}{}", format.extension(), compression.suffix())
}
