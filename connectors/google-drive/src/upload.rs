//! Writing one planned file: find the file it replaces (conflict policy `replace`), then a
//! multipart upload up to 5 MiB or a resumable session above it, and the delivery's reference.

use std::time::Instant;

use bytes::{BufMut, Bytes, BytesMut};
use courier_core::{Batch, ConnectorError, Delivered, ErrorKind};
use courier_files::{Compression, PlannedFile};
use serde_json::{Value, json};

use crate::client::DriveClient;
use crate::config::ConflictPolicy;
use crate::errors::{SERVICE, from_response};
use crate::resumable;

/// Files up to this size (before compression) go in one multipart request.
pub const MULTIPART_LIMIT: u64 = 5 * 1024 * 1024;
const SHEETS_MIME: &str = "application/vnd.google-apps.spreadsheet";
/// What Drive answers with for a written file.
pub(crate) const FILE_FIELDS: &str = "id,name,webViewLink";

/// Where a file goes: a new file in the folder, or new content for an existing one.
pub(crate) struct Target {
    pub existing: Option<String>,
    pub metadata: Value,
    pub media_type: &'static str,
}

impl Target {
    /// The upload path with its query, for `upload_type` (`multipart` or `resumable`).
    pub fn path(&self, upload_type: &str) -> String {
        let file = match &self.existing {
            Some(id) => format!("/{id}"),
            None => String::new(),
        };
        format!(
            "/upload/drive/v3/files{file}?uploadType={upload_type}&supportsAllDrives=true&fields={FILE_FIELDS}"
        )
    }

    pub fn method(&self) -> reqwest::Method {
        match self.existing {
            Some(_) => reqwest::Method::PATCH,
            None => reqwest::Method::POST,
        }
    }
}

pub async fn upload(
    client: &DriveClient,
    batch: &Batch,
    file: &PlannedFile,
) -> Result<Delivered, ConnectorError> {
    let started = Instant::now();
    let cfg = &client.config;
    let name = file.key.as_str();
    let existing = match cfg.conflict_policy {
        ConflictPolicy::Replace => client.find(name).await?,
        ConflictPolicy::KeepBoth => None,
    };
    let media_type = match cfg.layout.compression {
        Compression::None => file.content_type,
        Compression::Gzip => "application/gzip",
        Compression::Zstd => "application/zstd",
    };
    // An update keeps the file's folder and type; only a new file names them.
    let metadata = match &existing {
        Some(_) => json!({ "name": name }),
        None => {
            let mime = if cfg.convert_to_google_sheets {
                SHEETS_MIME
            } else {
                media_type
            };
            json!({ "name": name, "parents": [client.folder_id().await?], "mimeType": mime })
        }
    };
    let replaced = existing.is_some();
    let target = Target {
        existing,
        metadata,
        media_type,
    };
    let (answer, note) = if file.encoded_len <= MULTIPART_LIMIT {
        (multipart(client, batch, file, &target).await?, "")
    } else {
        (
            resumable::upload(client, batch, file, &target).await?,
            " (resumable)",
        )
    };
    let id = answer["id"].as_str().unwrap_or_default();
    let link = answer["webViewLink"]
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| format!("https://drive.google.com/file/d/{id}/view"));
    let verb = if replaced { " (replaced)" } else { "" };
    Ok(Delivered {
        reference: format!("{link}{verb}{note}"),
        status: None,
        latency: started.elapsed(),
        response_body: None,
    })
}

async fn multipart(
    client: &DriveClient,
    batch: &Batch,
    file: &PlannedFile,
    target: &Target,
) -> Result<Value, ConnectorError> {
    let media = file.encode(batch, &client.config.layout).await?;
    let boundary = format!("courier-{}", uuid::Uuid::now_v7().simple());
    let body = related_body(&boundary, &target.metadata, target.media_type, &media);
    let url = client.url(&target.path("multipart"));
    let content_type = format!("multipart/related; boundary={boundary}");
    let response = client
        .api
        .send(|http, token| {
            http.request(target.method(), &url)
                .bearer_auth(token)
                .header(reqwest::header::CONTENT_TYPE, &content_type)
                .body(body.clone())
        })
        .await?;
    if !response.status().is_success() {
        return Err(from_response(&client.op("upload a file"), response).await);
    }
    read_json(response).await
}

/// A multipart/related body: the metadata as JSON, then the media.
fn related_body(boundary: &str, metadata: &Value, media_type: &str, media: &[u8]) -> Bytes {
    let mut body = BytesMut::with_capacity(media.len() + 512);
    body.put_slice(
        format!("--{boundary}\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n").as_bytes(),
    );
    body.put_slice(metadata.to_string().as_bytes());
    body.put_slice(format!("\r\n--{boundary}\r\nContent-Type: {media_type}\r\n\r\n").as_bytes());
    body.put_slice(media);
    body.put_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    body.freeze()
}

pub(crate) async fn read_json(response: reqwest::Response) -> Result<Value, ConnectorError> {
    let text = courier_oauth::body::json_text(SERVICE, "an upload", response).await?;
    serde_json::from_str(&text).map_err(|_| {
        ConnectorError::new(
            ErrorKind::Unavailable,
            "Google Drive answered an upload with something that is not JSON",
            "check api_base_url; the delivery is retried",
        )
    })
}
