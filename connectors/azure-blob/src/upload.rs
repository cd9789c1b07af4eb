//! Writing one planned file: a single Put Blob up to the block size, otherwise blocks staged
//! from a streaming encoder (memory bounded by a few blocks) and committed as one block list.
//! A staged upload that fails leaves no uncommitted blocks on a blob that did not exist.

use std::num::NonZero;
use std::time::Instant;

use azure_core::http::RequestContent;
use azure_storage_blob::BlobClient;
use azure_storage_blob::models::{
    AccessTier, BlobClientUploadOptions, BlockBlobClientCommitBlockListOptions, BlockLookupList,
};
use courier_core::{Batch, ConnectorError, Delivered, ErrorKind};
use courier_files::{PartStream, PlannedFile};

use crate::client::AzureBlobClient;
use crate::errors::{Op, classify};

const ALREADY_PRESENT: &str = " (already present)";

/// How many blocks of a large file are staged at once: with the two the encoder holds, four
/// blocks in memory (about 32 MiB with 8 MiB blocks), as S3 keeps parts.
const STAGING_CONCURRENCY: usize = 2;
/// A file of at most this many blocks has all of them staged at once: memory is then bounded
/// by the file itself, and a 32 MiB file goes up in one round instead of two.
const SMALL_FILE_BLOCKS: u64 = 4;

/// Block ids must have one length within a blob; the SDK base64-encodes them.
fn block_id(n: usize) -> Vec<u8> {
    format!("courier-block-{n:06}").into_bytes()
}

pub async fn upload(
    client: &AzureBlobClient,
    batch: &Batch,
    file: &PlannedFile,
) -> Result<Delivered, ConnectorError> {
    let name = client.blob_name(&file.key);
    let blob = client.container.blob_client(&name);
    let started = Instant::now();
    let note = if file.encoded_len <= client.config.block_size_bytes {
        put(client, &blob, batch, file, &name).await?
    } else {
        staged(client, &blob, batch, file, &name).await?
    };
    Ok(Delivered {
        reference: format!("{}/{name}{note}", client.container_url),
        status: None,
        latency: started.elapsed(),
        response_body: None,
    })
}

fn op<'a>(client: &'a AzureBlobClient, action: &'static str, name: &'a str) -> Op<'a> {
    Op {
        action,
        container: &client.config.container,
        blob: Some(name),
    }
}

fn tier(client: &AzureBlobClient) -> Option<AccessTier> {
    client.config.access_tier.map(|t| match t {
        crate::config::AccessTier::Hot => AccessTier::Hot,
        crate::config::AccessTier::Cool => AccessTier::Cool,
        crate::config::AccessTier::Cold => AccessTier::Cold,
        crate::config::AccessTier::Archive => AccessTier::Archive,
    })
}

/// With `create_only`, "already exists" means an earlier attempt wrote the blob: delivered.
fn written_or_present(
    client: &AzureBlobClient,
    name: &str,
    sent: azure_core::Result<()>,
    note: &'static str,
) -> Result<&'static str, ConnectorError> {
    match sent {
        Ok(()) => Ok(note),
        Err(e) => {
            let error = classify(&op(client, "write", name), e);
            if client.config.create_only && error.kind == ErrorKind::Conflict {
                Ok(ALREADY_PRESENT)
            } else {
                Err(error)
            }
        }
    }
}

/// One Put Blob with the content headers, tier and (for `create_only`) `If-None-Match: *`.
async fn put(
    client: &AzureBlobClient,
    blob: &BlobClient,
    batch: &Batch,
    file: &PlannedFile,
    name: &str,
) -> Result<&'static str, ConnectorError> {
    let body = file.encode(batch, &client.config.files).await?;
    let mut options = BlobClientUploadOptions {
        blob_content_type: Some(file.content_type.to_string()),
        blob_content_encoding: file.content_encoding.map(str::to_string),
        tier: tier(client),
        // One request: the SDK would otherwise split anything over 4 MiB into blocks itself.
        partition_size: NonZero::new(client.config.block_size_bytes),
        ..Default::default()
    };
    if client.config.create_only {
        options = options.if_not_exists();
    }
    let sent = blob
        .upload(RequestContent::from(body), Some(options))
        .await
        .map(|_| ());
    written_or_present(client, name, sent, "")
}

async fn staged(
    client: &AzureBlobClient,
    blob: &BlobClient,
    batch: &Batch,
    file: &PlannedFile,
    name: &str,
) -> Result<&'static str, ConnectorError> {
    // A create-only blob that exists was written by an earlier attempt: skip the upload.
    if client.config.create_only
        && blob
            .exists()
            .await
            .map_err(|e| classify(&op(client, "read properties", name), e))?
    {
        return Ok(ALREADY_PRESENT);
    }
    let result = stage_and_commit(client, blob, batch, file, name).await;
    if result.is_err() {
        discard_blocks(client, blob, name).await;
    }
    result
}

async fn stage_and_commit(
    client: &AzureBlobClient,
    blob: &BlobClient,
    batch: &Batch,
    file: &PlannedFile,
    name: &str,
) -> Result<&'static str, ConnectorError> {
    let cfg = &client.config;
    let blocks = blob.block_blob_client();
    let mut stream = PartStream::start(batch, file, &cfg.files, cfg.block_size_bytes as usize);
    // Blocks go up a few at a time, as the SDK's own upload does; memory is about this many
    // blocks plus the two the encoder holds.
    let blocks_in_file = file.encoded_len.div_ceil(cfg.block_size_bytes.max(1));
    let concurrency = if blocks_in_file <= SMALL_FILE_BLOCKS {
        SMALL_FILE_BLOCKS as usize
    } else {
        STAGING_CONCURRENCY
    };
    // When one block failed, the others finish first: a request already on the wire may
    // still land after the discard that follows and leave an uncommitted block behind.
    let staged = stream
        .send_all(concurrency, |index, part| {
            let (blocks, id) = (&blocks, block_id(index));
            async move {
                let len = part.len() as u64;
                blocks
                    .stage_block(&id, len, RequestContent::from(part), None)
                    .await
                    .map(|_| ())
            }
        })
        .await;
    let encoded = stream.finish().await;
    let staged = staged
        .map_err(|e| classify(&op(client, "write", name), e))?
        .len();
    encoded?;
    let ids: Vec<Vec<u8>> = (0..staged).map(block_id).collect();
    let list = BlockLookupList {
        latest: Some(ids),
        committed: None,
        uncommitted: None,
    };
    let list = RequestContent::try_from(list)
        .map_err(|e| ConnectorError::internal(format!("could not write the block list: {e}")))?;
    let options = BlockBlobClientCommitBlockListOptions {
        blob_content_type: Some(file.content_type.to_string()),
        blob_content_encoding: file.content_encoding.map(str::to_string),
        tier: tier(client),
        if_none_match: cfg.create_only.then(|| "*".into()),
        ..Default::default()
    };
    let sent = blocks
        .commit_block_list(list, Some(options))
        .await
        .map(|_| ());
    written_or_present(client, name, sent, " (staged blocks)")
}

/// Leaves nothing behind after a failed staged upload. Uncommitted blocks are invisible but
/// stored (and billed) for up to a week; committing a block list discards those not in it, so
/// for a blob that did not exist an empty create-only commit followed by a delete removes every
/// trace. On an
/// existing blob (a failed overwrite) the blocks are left for Azure to collect, since
/// replacing the blob would lose the copy an earlier attempt wrote.
async fn discard_blocks(client: &AzureBlobClient, blob: &BlobClient, name: &str) {
    let cleaned = async {
        if blob.exists().await? {
            return Ok(false);
        }
        let empty = RequestContent::try_from(BlockLookupList {
            latest: Some(Vec::new()),
            committed: None,
            uncommitted: None,
        })?;
        let create_only = BlockBlobClientCommitBlockListOptions {
            if_none_match: Some("*".into()),
            ..Default::default()
        };
        blob.block_blob_client()
            .commit_block_list(empty, Some(create_only))
            .await?;
        blob.delete(None).await?;
        Ok::<bool, azure_core::Error>(true)
    }
    .await;
    match cleaned {
        Ok(true) => tracing::debug!(
            blob = name,
            "discarded the uncommitted blocks of a failed upload"
        ),
        Ok(false) => tracing::warn!(
            blob = name,
            "a failed overwrite left uncommitted blocks; Azure removes them within a week"
        ),
        Err(e) => {
            let error = classify(&op(client, "clean up", name), e);
            tracing::warn!(blob = name, %error, "could not discard the uncommitted blocks of a failed upload");
        }
    }
}
