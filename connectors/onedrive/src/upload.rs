//! Writing one planned file: a simple upload (`PUT …:/content`) up to 4 MiB, an upload session
//! above it, with the destination's conflict behavior, and the delivery's reference.

use std::time::Instant;

use courier_core::{Batch, ConnectorError, Delivered};
use courier_files::{Compression, PlannedFile};
use serde_json::Value;

use crate::client::{GraphClient, read_json};
use crate::errors::from_response;
use crate::session;

/// Graph's limit for a simple upload.
pub const SIMPLE_LIMIT: u64 = 4 * 1024 * 1024;
/// Compression can grow incompressible data slightly: leave room under the limit.
const COMPRESSION_SLACK: u64 = 64 * 1024;

pub(crate) fn media_type(client: &GraphClient, file: &PlannedFile) -> &'static str {
    match client.config.layout.compression {
        Compression::None => file.content_type,
        Compression::Gzip => "application/gzip",
        Compression::Zstd => "application/zstd",
    }
}

pub async fn upload(
    client: &GraphClient,
    batch: &Batch,
    file: &PlannedFile,
) -> Result<Delivered, ConnectorError> {
    let started = Instant::now();
    let limit = match client.config.layout.compression {
        Compression::None => SIMPLE_LIMIT,
        _ => SIMPLE_LIMIT - COMPRESSION_SLACK,
    };
    let (answer, note) = if file.encoded_len <= limit {
        (simple(client, batch, file).await?, "")
    } else {
        (
            session::upload(client, batch, file).await?,
            " (upload session)",
        )
    };
    let stored_as = answer["name"].as_str().unwrap_or_default();
    let renamed = if !stored_as.is_empty() && stored_as != file.key {
        format!(" (renamed to {stored_as})")
    } else {
        String::new()
    };
    let link = answer["webUrl"]
        .as_str()
        .or(answer["id"].as_str())
        .unwrap_or_default();
    Ok(Delivered {
        reference: format!("{link}{renamed}{note}"),
        status: None,
        latency: started.elapsed(),
        response_body: None,
    })
}

async fn simple(
    client: &GraphClient,
    batch: &Batch,
    file: &PlannedFile,
) -> Result<Value, ConnectorError> {
    let bytes = bytes::Bytes::from(file.encode(batch, &client.config.layout).await?);
    let url = url::Url::parse_with_params(
        &client.file_url(&file.key, "content"),
        &[(
            "@microsoft.graph.conflictBehavior",
            client.config.conflict_behavior.as_str(),
        )],
    )
    .map_err(|_| crate::client::bad_base_url())?;
    let content_type = media_type(client, file);
    let response = client
        .api
        .send(|http, token| {
            http.put(url.clone())
                .bearer_auth(token)
                .header(reqwest::header::CONTENT_TYPE, content_type)
                .body(bytes.clone())
        })
        .await?;
    if !response.status().is_success() {
        return Err(from_response(&client.op("upload a file"), response).await);
    }
    read_json(response).await
}
