//! Streaming a planned file in fixed-size parts (S3 multipart, Azure blocks, GCS chunks, SFTP
//! writes): the encoder runs on a blocking thread and hands over one part at a time, so memory
//! stays at two parts plus those the uploader holds, whatever the file size.

use std::io::{self, Write};

use courier_core::{Batch, ConnectorError};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::options::FileLayout;
use crate::plan::PlannedFile;

/// The parts of one file, in order, as the encoder produces them.
#[derive(Debug)]
pub struct PartStream {
    parts: mpsc::Receiver<Vec<u8>>,
    encoder: JoinHandle<io::Result<()>>,
}

impl PartStream {
    /// Starts encoding `file` into parts of `part_size` bytes (the last may be shorter; an
    /// empty file yields no part).
    pub fn start(
        batch: &Batch,
        file: &PlannedFile,
        options: &FileLayout,
        part_size: usize,
    ) -> Self {
        // One part in the channel and one being filled, plus what the uploader holds (one
        // part, or as many as it sends at once).
        let (tx, parts) = mpsc::channel::<Vec<u8>>(1);
        let (batch, file, options) = (batch.clone(), file.clone(), options.clone());
        let encoder = tokio::task::spawn_blocking(move || -> io::Result<()> {
            let sink = PartSink {
                buf: Vec::with_capacity(part_size),
                part_size,
                parts: tx,
            };
            let mut sink = file.write_to(&batch, &options, sink)?;
            if !sink.buf.is_empty() {
                sink.send()?;
            }
            Ok(())
        });
        PartStream { parts, encoder }
    }

    /// The next part, or `None` when the file is complete (or the encoder failed: `finish`
    /// says which).
    pub async fn next(&mut self) -> Option<Vec<u8>> {
        self.parts.recv().await
    }

    /// Stops reading (an upload failed, say) and reports whether encoding succeeded; call it
    /// after the last part to learn whether the file was complete.
    pub async fn finish(self) -> Result<(), ConnectorError> {
        // Dropping the receiver makes a still-running encoder stop at its next part.
        drop(self.parts);
        self.encoder
            .await
            .map_err(|_| ConnectorError::internal("the file encoder stopped unexpectedly"))?
            .map_err(encode_error)
    }
}

/// The error for a file that could not be encoded. A record the unchecked plan let through is
/// `rejected` with a message ending in [`crate::plan::UNCHECKED_RECORD_INVALID`], which
/// [`crate::deliver_files`] recognizes.
pub fn encode_error(e: io::Error) -> ConnectorError {
    let text = e.to_string();
    if e.kind() == io::ErrorKind::InvalidData
        && text.ends_with(crate::plan::UNCHECKED_RECORD_INVALID)
    {
        return ConnectorError::new(
            courier_core::ErrorKind::Rejected,
            text,
            "send each record as one JSON value",
        );
    }
    ConnectorError::internal(format!("could not encode the file: {e}"))
}

/// Collects encoded bytes into parts and hands each full part over.
struct PartSink {
    buf: Vec<u8>,
    part_size: usize,
    parts: mpsc::Sender<Vec<u8>>,
}

impl PartSink {
    fn send(&mut self) -> io::Result<()> {
        let part = std::mem::replace(&mut self.buf, Vec::with_capacity(self.part_size));
        self.parts
            .blocking_send(part)
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the upload stopped"))
    }
}

impl Write for PartSink {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let room = self.part_size - self.buf.len();
        let n = data.len().min(room);
        self.buf.extend_from_slice(&data[..n]);
        if self.buf.len() == self.part_size {
            self.send()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::options::FileOptions;
    use crate::plan::plan_files;
    use courier_core::{PayloadCap, Record};

    #[tokio::test]
    async fn parts_join_to_the_whole_file() {
        let records = (0..500)
            .map(|i| {
                Record::new(
                    format!("r{i}"),
                    format!("{{\"i\":{i},\"pad\":\"{}\"}}", "z".repeat(90)),
                )
            })
            .collect();
        let batch = Batch::new("b", records);
        let options = FileOptions::default();
        let plan = plan_files(
            &batch,
            &options,
            &options.template().unwrap(),
            PayloadCap(1 << 20),
            "d",
        );
        let file = &plan.files[0];
        let whole = file.to_bytes(&batch, &options).unwrap();
        let mut stream = PartStream::start(&batch, file, &options, 4096);
        let mut joined = Vec::new();
        let mut sizes = Vec::new();
        while let Some(part) = stream.next().await {
            sizes.push(part.len());
            joined.extend(part);
        }
        stream.finish().await.unwrap();
        assert_eq!(joined, whole);
        assert!(
            sizes[..sizes.len() - 1].iter().all(|&s| s == 4096),
            "{sizes:?}"
        );
    }

    #[tokio::test]
    async fn stopping_early_stops_the_encoder() {
        let records = (0..2000)
            .map(|i| {
                Record::new(
                    format!("r{i}"),
                    format!("{{\"pad\":\"{}\"}}", "q".repeat(1000)),
                )
            })
            .collect();
        let batch = Batch::new("b", records);
        let options = FileOptions::default();
        let plan = plan_files(
            &batch,
            &options,
            &options.template().unwrap(),
            PayloadCap(64 << 20),
            "d",
        );
        let mut stream = PartStream::start(&batch, &plan.files[0], &options, 1024);
        assert!(stream.next().await.is_some());
        let err = stream.finish().await.unwrap_err();
        assert!(err.message.contains("the upload stopped"), "{err}");
    }
}
