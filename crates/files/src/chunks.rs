//! A planned file as the chunks of a resumable upload (Drive, Graph): fixed-size, each with its
//! offset and whether it is the last, so the uploader can send `Content-Range` and resend the
//! current chunk from any offset the server reports. Streamed from the encoder when the protocol
//! can learn the total at the end, or spooled to an anonymous temporary file first when it needs
//! the total up front and compression makes it unknowable until the file is written.

use std::io::{self, Seek, SeekFrom};

use bytes::Bytes;
use courier_core::{Batch, ConnectorError};
use tokio::io::AsyncReadExt;

use crate::format::Compression;
use crate::options::FileLayout;
use crate::parts::{PartStream, encode_error};
use crate::plan::PlannedFile;

/// One chunk of a file.
#[derive(Debug, Clone)]
pub struct Chunk {
    /// Where `data` starts in the file.
    pub offset: u64,
    /// The chunk's bytes, as stored (after compression).
    pub data: Bytes,
    /// No chunk follows: the file's total is `offset + data.len()`.
    pub last: bool,
}

impl Chunk {
    /// The offset just past this chunk.
    pub fn end(&self) -> u64 {
        self.offset + self.data.len() as u64
    }
}

enum Source {
    Parts(Option<PartStream>),
    Spool(tokio::fs::File),
}

/// Reads a file's chunks in order; memory is about three chunks (streamed; one more when the
/// total is unknown) or one (spooled).
pub struct ChunkReader {
    source: Source,
    chunk_size: usize,
    offset: u64,
    total: Option<u64>,
    /// Streamed: the part after the current one, read ahead to know whether the current is last.
    ahead: Option<Vec<u8>>,
    started: bool,
}

impl std::fmt::Debug for ChunkReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChunkReader")
            .field("chunk_size", &self.chunk_size)
            .field("offset", &self.offset)
            .field("total", &self.total)
            .finish_non_exhaustive()
    }
}

impl ChunkReader {
    /// Streams the file from the encoder. The total is known up front only without compression
    /// (it is the planned size); otherwise `total()` is `None` until the last chunk.
    pub fn streamed(
        batch: &Batch,
        file: &PlannedFile,
        layout: &FileLayout,
        chunk_size: usize,
    ) -> Self {
        let total = (layout.compression == Compression::None).then_some(file.encoded_len);
        ChunkReader {
            source: Source::Parts(Some(PartStream::start(batch, file, layout, chunk_size))),
            chunk_size,
            offset: 0,
            total,
            ahead: None,
            started: false,
        }
    }

    /// Streams the file when its total is known without writing it, or else writes it to an
    /// anonymous temporary file first (deleted when dropped), so `total()` is always known.
    pub async fn with_total(
        batch: &Batch,
        file: &PlannedFile,
        layout: &FileLayout,
        chunk_size: usize,
    ) -> Result<Self, ConnectorError> {
        if layout.compression == Compression::None {
            return Ok(Self::streamed(batch, file, layout, chunk_size));
        }
        let (batch, planned, layout) = (batch.clone(), file.clone(), layout.clone());
        let (spool, len) = tokio::task::spawn_blocking(move || -> io::Result<_> {
            let out = io::BufWriter::with_capacity(256 * 1024, tempfile::tempfile()?);
            let mut spool = planned
                .write_to(&batch, &layout, out)?
                .into_inner()
                .map_err(|e| e.into_error())?;
            let len = spool.stream_position()?;
            spool.seek(SeekFrom::Start(0))?;
            Ok((spool, len))
        })
        .await
        .map_err(|_| ConnectorError::internal("the file encoder stopped unexpectedly"))?
        .map_err(encode_error)?;
        Ok(ChunkReader {
            source: Source::Spool(tokio::fs::File::from_std(spool)),
            chunk_size,
            offset: 0,
            total: Some(len),
            ahead: None,
            started: false,
        })
    }

    /// The file's size, when known.
    pub fn total(&self) -> Option<u64> {
        self.total
    }

    /// The next chunk, `None` after the last. An encoder failure is an error before the last
    /// chunk is handed out, so a truncated file is never completed at the target.
    pub async fn next(&mut self) -> Result<Option<Chunk>, ConnectorError> {
        let data = match &mut self.source {
            Source::Spool(file) => {
                let total = self.total.unwrap_or(0);
                let want = (total - self.offset).min(self.chunk_size as u64) as usize;
                if want == 0 && self.started {
                    return Ok(None);
                }
                let mut buf = vec![0u8; want];
                file.read_exact(&mut buf).await.map_err(encode_error)?;
                buf
            }
            Source::Parts(slot) => {
                let Some(parts) = slot.as_mut() else {
                    return Ok(None);
                };
                let current = match self.ahead.take() {
                    Some(part) => Some(part),
                    None if !self.started || self.total.is_some() => parts.next().await,
                    None => None,
                };
                let Some(current) = current else {
                    if let Some(parts) = slot.take() {
                        parts.finish().await?;
                    }
                    if self.total.is_some_and(|t| t != self.offset) {
                        return Err(ConnectorError::internal(format!(
                            "the file ended at {} bytes, not the {} planned",
                            self.offset,
                            self.total.unwrap_or_default()
                        )));
                    }
                    return Ok(None);
                };
                // With the total known, the last chunk is the one that reaches it; without,
                // the next part is read ahead to learn whether this one is the last.
                let last = match self.total {
                    Some(total) => self.offset + current.len() as u64 >= total,
                    None => {
                        self.ahead = parts.next().await;
                        self.ahead.is_none()
                    }
                };
                if last {
                    // Learn whether the encoder finished before this chunk completes the file.
                    if let Some(parts) = slot.take() {
                        parts.finish().await?;
                    }
                }
                current
            }
        };
        self.started = true;
        let chunk = Chunk {
            offset: self.offset,
            last: false,
            data: Bytes::from(data),
        };
        let end = chunk.end();
        let last = match &self.source {
            Source::Spool(_) => Some(end) == self.total,
            Source::Parts(slot) => slot.is_none(),
        };
        if last {
            if let Some(total) = self.total.filter(|t| *t != end) {
                return Err(ConnectorError::internal(format!(
                    "the file came out at {end} bytes, not the {total} planned"
                )));
            }
            self.total = Some(end);
        }
        self.offset = end;
        Ok(Some(Chunk { last, ..chunk }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::Format;
    use crate::options::FileOptions;
    use crate::plan::plan_files;
    use courier_core::{PayloadCap, Record};

    fn batch(n: usize) -> Batch {
        Batch::new(
            "b1",
            (0..n)
                .map(|i| {
                    Record::new(
                        format!("r{i}"),
                        format!("{{\"i\":{i},\"x\":\"{}\"}}", "y".repeat(50)),
                    )
                })
                .collect(),
        )
    }

    async fn read_all(mut reader: ChunkReader) -> (Vec<u8>, Vec<(u64, usize, bool)>) {
        let mut bytes = Vec::new();
        let mut seen = Vec::new();
        while let Some(chunk) = reader.next().await.unwrap() {
            assert_eq!(chunk.offset, bytes.len() as u64);
            seen.push((chunk.offset, chunk.data.len(), chunk.last));
            bytes.extend_from_slice(&chunk.data);
        }
        assert_eq!(reader.total(), Some(bytes.len() as u64));
        (bytes, seen)
    }

    #[tokio::test]
    async fn chunks_cover_the_file_in_order_and_only_the_last_is_marked() {
        for compression in [Compression::None, Compression::Gzip, Compression::Zstd] {
            for format in [Format::Json, Format::Ndjson] {
                let mut options: FileOptions =
                    serde_json::from_value(serde_json::json!({})).unwrap();
                options.layout.format = format;
                options.layout.compression = compression;
                let batch = batch(400);
                let template = options.template().unwrap();
                let plan = plan_files(&batch, &options.layout, &template, PayloadCap(1 << 30), "d");
                let file = &plan.files[0];
                let whole = file.to_bytes(&batch, &options.layout).unwrap();
                let streamed = ChunkReader::streamed(&batch, file, &options.layout, 1000);
                if compression == Compression::None {
                    assert_eq!(streamed.total(), Some(whole.len() as u64));
                } else {
                    assert_eq!(streamed.total(), None);
                }
                let (bytes, seen) = read_all(streamed).await;
                assert_eq!(bytes, whole, "{format:?} {compression:?}");
                assert!(
                    seen[..seen.len() - 1]
                        .iter()
                        .all(|(_, len, last)| *len == 1000 && !last)
                );
                assert!(seen.last().unwrap().2);
                let spooled = ChunkReader::with_total(&batch, file, &options.layout, 1000)
                    .await
                    .unwrap();
                assert_eq!(spooled.total(), Some(whole.len() as u64));
                let (bytes2, seen2) = read_all(spooled).await;
                assert_eq!(bytes2, whole);
                assert_eq!(seen2, seen);
            }
        }
    }

    #[tokio::test]
    async fn a_file_of_exactly_one_chunk_is_one_last_chunk() {
        let options: FileOptions = serde_json::from_value(serde_json::json!({})).unwrap();
        let batch = batch(3);
        let template = options.template().unwrap();
        let plan = plan_files(&batch, &options.layout, &template, PayloadCap(1 << 20), "d");
        let file = &plan.files[0];
        let len = file.encoded_len as usize;
        let (bytes, seen) =
            read_all(ChunkReader::streamed(&batch, file, &options.layout, len)).await;
        assert_eq!(bytes.len(), len);
        assert_eq!(seen, vec![(0, len, true)]);
    }
}
