//! Writing one planned file: a single PUT up to the part size, otherwise a multipart upload fed
//! by a streaming encoder, two parts in flight (memory bounded by a few parts), aborted on any
//! failure so nothing incomplete is left behind.

use std::time::Instant;

use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::operation::upload_part::UploadPartError;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    CompletedMultipartUpload, CompletedPart, ServerSideEncryption, StorageClass,
};
use courier_core::{Batch, ConnectorError, Delivered, ErrorKind};
use courier_files::{PartStream, PlannedFile};

use crate::client::S3Client;
use crate::errors::{S3Op, classify};

/// Parts uploaded at once: with the two the encoder holds, four parts in memory (32 MiB with
/// 8 MiB parts). Parallel parts are what lets one file use more than one connection's worth of
/// bandwidth to S3.
const PARTS_IN_FLIGHT: usize = 2;

pub async fn upload(
    client: &S3Client,
    batch: &Batch,
    file: &PlannedFile,
) -> Result<Delivered, ConnectorError> {
    let key = client.object_key(&file.key);
    let started = Instant::now();
    let note = if file.encoded_len <= client.config.part_size_bytes {
        put(client, batch, file, &key).await?
    } else {
        multipart(client, batch, file, &key).await?
    };
    Ok(Delivered {
        reference: format!("s3://{}/{key}{note}", client.config.bucket),
        status: None,
        latency: started.elapsed(),
        response_body: None,
    })
}

fn op<'a>(client: &'a S3Client, action: &'static str, key: &'a str) -> S3Op<'a> {
    S3Op {
        action,
        bucket: &client.config.bucket,
        key: Some(key),
    }
}

/// A single PUT. With `create_only`, an object that already exists means an earlier attempt
/// wrote it: delivered.
async fn put(
    client: &S3Client,
    batch: &Batch,
    file: &PlannedFile,
    key: &str,
) -> Result<&'static str, ConnectorError> {
    let body = file.encode(batch, &client.config.files).await?;
    let cfg = &client.config;
    let mut request = client
        .s3
        .put_object()
        .bucket(&cfg.bucket)
        .key(key)
        .body(ByteStream::from(body))
        .content_type(file.content_type)
        .set_content_encoding(file.content_encoding.map(str::to_string))
        .set_storage_class(cfg.storage_class.map(|c| StorageClass::from(c.as_str())))
        .set_server_side_encryption(
            cfg.server_side_encryption
                .map(|s| ServerSideEncryption::from(s.as_str())),
        )
        .set_ssekms_key_id(cfg.kms_key_id.clone());
    if cfg.create_only {
        request = request.if_none_match("*");
    }
    let sent = request.send().await.map(|_| "");
    written_or_present(client, key, sent)
}

const ALREADY_PRESENT: &str = " (already present)";

/// The note for a finished write; with `create_only`, "already exists" means an earlier attempt
/// wrote it, which counts as written.
fn written_or_present<E>(
    client: &S3Client,
    key: &str,
    sent: Result<&'static str, SdkError<E, HttpResponse>>,
) -> Result<&'static str, ConnectorError>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    match sent {
        Ok(note) => Ok(note),
        Err(e) => {
            let error = classify(&op(client, "s3:PutObject", key), e);
            if client.config.create_only && error.kind == ErrorKind::Conflict {
                Ok(ALREADY_PRESENT)
            } else {
                Err(error)
            }
        }
    }
}

async fn multipart(
    client: &S3Client,
    batch: &Batch,
    file: &PlannedFile,
    key: &str,
) -> Result<&'static str, ConnectorError> {
    let cfg = &client.config;
    let created = client
        .s3
        .create_multipart_upload()
        .bucket(&cfg.bucket)
        .key(key)
        .content_type(file.content_type)
        .set_content_encoding(file.content_encoding.map(str::to_string))
        .set_storage_class(cfg.storage_class.map(|c| StorageClass::from(c.as_str())))
        .set_server_side_encryption(
            cfg.server_side_encryption
                .map(|s| ServerSideEncryption::from(s.as_str())),
        )
        .set_ssekms_key_id(cfg.kms_key_id.clone())
        .send()
        .await
        .map_err(|e| classify(&op(client, "s3:PutObject", key), e))?;
    let upload_id = created
        .upload_id()
        .ok_or_else(|| {
            ConnectorError::internal("S3 started a multipart upload without an upload id")
        })?
        .to_string();

    let result = upload_parts(client, batch, file, key, &upload_id).await;
    // A create-only completion refused because the object exists also leaves the upload open.
    if !matches!(result, Ok(note) if note != ALREADY_PRESENT) {
        // Leave nothing behind: an incomplete multipart upload is invisible but billed.
        let aborted = client
            .s3
            .abort_multipart_upload()
            .bucket(&cfg.bucket)
            .key(key)
            .upload_id(&upload_id)
            .send()
            .await;
        if let Err(e) = aborted {
            tracing::warn!(key, error = %classify(&op(client, "s3:AbortMultipartUpload", key), e), "could not abort a failed multipart upload");
        }
    }
    result
}

async fn upload_parts(
    client: &S3Client,
    batch: &Batch,
    file: &PlannedFile,
    key: &str,
    upload_id: &str,
) -> Result<&'static str, ConnectorError> {
    let cfg = &client.config;
    let mut stream = PartStream::start(batch, file, &cfg.files, cfg.part_size_bytes as usize);
    // After a failure, the parts on the wire finish first: one landing after the abort that
    // follows would leave a part behind.
    let sent = stream
        .send_all(PARTS_IN_FLIGHT, |index, chunk| {
            upload_part(client, key, upload_id, index as i32 + 1, chunk)
        })
        .await;
    let encoded = stream.finish().await;
    let parts = sent.map_err(|e| classify(&op(client, "s3:PutObject", key), e))?;
    encoded?;

    let mut complete = client
        .s3
        .complete_multipart_upload()
        .bucket(&cfg.bucket)
        .key(key)
        .upload_id(upload_id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(parts))
                .build(),
        );
    if cfg.create_only {
        complete = complete.if_none_match("*");
    }
    let sent = complete.send().await.map(|_| " (multipart)");
    written_or_present(client, key, sent)
}

/// Uploads part `number` and returns it as the completion lists it.
async fn upload_part(
    client: &S3Client,
    key: &str,
    upload_id: &str,
    number: i32,
    chunk: Vec<u8>,
) -> Result<CompletedPart, SdkError<UploadPartError, HttpResponse>> {
    let sent = client
        .s3
        .upload_part()
        .bucket(&client.config.bucket)
        .key(key)
        .upload_id(upload_id)
        .part_number(number)
        .body(ByteStream::from(chunk))
        .send()
        .await?;
    Ok(CompletedPart::builder()
        .part_number(number)
        .set_e_tag(sent.e_tag().map(str::to_string))
        .build())
}
