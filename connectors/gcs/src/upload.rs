//! Writing one planned file: a single-request upload up to the chunk size, otherwise a
//! resumable upload fed by a streaming encoder, so memory stays at about one chunk plus a few
//! small parts whatever the file size. An upload that fails before its last chunk creates no
//! object (GCS discards unfinished resumable sessions).

use std::sync::{Arc, Mutex};
use std::time::Instant;

use bytes::Bytes;
use courier_core::{Batch, ConnectorError, Delivered, ErrorKind};
use courier_files::{Compression, PartStream, PlannedFile, encode_error};
use google_cloud_storage::streaming_source::{SizeHint, StreamingSource};

use crate::client::GcsClient;
use crate::errors::{Op, classify};

const ALREADY_PRESENT: &str = " (already present)";

/// The encoder hands parts of this size to the Google client, which gathers them into chunks.
const PART_BYTES: usize = 1024 * 1024;

/// A file's bytes for the Google client: whole (small files, exact size, one request) or as
/// a stream of parts of unknown total (a resumable upload).
enum FileSource {
    Whole(Option<Bytes>),
    /// The parts, the file's size when it is known before it is written (no compression), and
    /// where an encoder failure is kept, so the delivery reports it rather than the client's
    /// wrapping of it.
    Parts(Option<PartStream>, Option<u64>, EncoderFailure),
}

type EncoderFailure = Arc<Mutex<Option<ConnectorError>>>;

impl StreamingSource for FileSource {
    type Error = std::io::Error;

    async fn next(&mut self) -> Option<Result<Bytes, Self::Error>> {
        match self {
            FileSource::Whole(bytes) => bytes.take().map(Ok),
            FileSource::Parts(slot, _, failure) => {
                let stream = slot.as_mut()?;
                if let Some(part) = stream.next().await {
                    return Some(Ok(Bytes::from(part)));
                }
                // The end: say whether the encoder finished the file or failed.
                let finished = slot.take()?.finish().await;
                finished.err().map(|e| {
                    let message = e.message.clone();
                    *failure.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
                    Err(std::io::Error::other(message))
                })
            }
        }
    }

    async fn size_hint(&self) -> Result<SizeHint, Self::Error> {
        Ok(match self {
            FileSource::Whole(Some(bytes)) => SizeHint::with_exact(bytes.len() as u64),
            FileSource::Whole(None) => SizeHint::with_exact(0),
            FileSource::Parts(_, Some(len), _) => SizeHint::with_exact(*len),
            FileSource::Parts(_, None, _) => SizeHint::new(),
        })
    }
}

pub async fn upload(
    client: &GcsClient,
    batch: &Batch,
    file: &PlannedFile,
) -> Result<Delivered, ConnectorError> {
    let cfg = &client.config;
    let name = client.object_name(&file.key);
    let started = Instant::now();
    let failure = EncoderFailure::default();
    let (source, note) = if file.encoded_len <= cfg.chunk_size_bytes {
        let bytes = file.to_bytes(batch, &cfg.files).map_err(encode_error)?;
        (FileSource::Whole(Some(Bytes::from(bytes))), "")
    } else {
        let parts = PartStream::start(batch, file, &cfg.files, PART_BYTES);
        let known = (cfg.files.compression == Compression::None).then_some(file.encoded_len);
        (
            FileSource::Parts(Some(parts), known, failure.clone()),
            " (resumable)",
        )
    };
    let mut write = client
        .storage
        .write_object(client.bucket_path(), &name, source)
        .set_content_type(file.content_type);
    if let Some(encoding) = file.content_encoding {
        write = write.set_content_encoding(encoding);
    }
    if let Some(class) = cfg.storage_class {
        write = write.set_storage_class(class.as_str());
    }
    if cfg.create_only {
        write = write.set_if_generation_match(0_i64);
    }
    let note = match write.send_buffered().await {
        Ok(_) => note,
        Err(e) => {
            let op = Op {
                action: "write",
                bucket: &cfg.bucket,
                object: Some(&name),
            };
            if let Some(encoding) = failure.lock().unwrap_or_else(|p| p.into_inner()).take() {
                return Err(encoding);
            }
            let error = classify(&op, e);
            if cfg.create_only && error.kind == ErrorKind::Conflict {
                ALREADY_PRESENT
            } else {
                return Err(error);
            }
        }
    };
    Ok(Delivered {
        reference: format!("{}{note}", client.url_of(&name)),
        status: None,
        latency: started.elapsed(),
        response_body: None,
    })
}
