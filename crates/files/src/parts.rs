//! Streaming a planned file in fixed-size parts (S3 multipart, Azure blocks, GCS chunks, SFTP
//! writes): the encoder runs on a blocking thread and hands over one part at a time, so memory
//! stays at two parts plus those the uploader holds, whatever the file size.

use std::future::Future;
use std::io::{self, Write};

use courier_core::{Batch, ConnectorError};
use futures::StreamExt;
use futures::stream::FuturesUnordered;
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

    /// Sends every part with `send(index, part)` (indices from 0, in file order), at most
    /// `in_flight` at once, and returns what each returned, in index order; or the first error,
    /// once the parts already sent have finished (so a cleanup that follows finds nothing
    /// still on the wire). Call [`PartStream::finish`] afterwards either way.
    pub async fn send_all<T, E, Fut>(
        &mut self,
        in_flight: usize,
        mut send: impl FnMut(usize, Vec<u8>) -> Fut,
    ) -> Result<Vec<T>, E>
    where
        Fut: Future<Output = Result<T, E>>,
    {
        let mut pending = FuturesUnordered::new();
        let mut done = Vec::new();
        let mut sent = 0;
        let mut ended = false;
        let mut failure = None;
        loop {
            tokio::select! {
                biased;
                Some((index, result)) = pending.next(), if !pending.is_empty() => match result {
                    Ok(value) => done.push((index, value)),
                    Err(e) => {
                        failure = Some(e);
                        break;
                    }
                },
                part = self.parts.recv(), if !ended && pending.len() < in_flight.max(1) => match part {
                    Some(part) => {
                        let sending = send(sent, part);
                        pending.push(async move { (sent, sending.await) });
                        sent += 1;
                    }
                    None => ended = true,
                },
                else => break,
            }
        }
        while pending.next().await.is_some() {}
        if let Some(e) = failure {
            return Err(e);
        }
        done.sort_by_key(|(index, _)| *index);
        Ok(done.into_iter().map(|(_, value)| value).collect())
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

    /// The plan of `batch` with `options` under a cap of `cap` bytes.
    fn plan(batch: &Batch, options: &FileOptions, cap: u64) -> crate::FilePlan {
        plan_files(
            batch,
            options,
            &options.template().unwrap(),
            PayloadCap(cap),
            "d",
        )
    }

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
        let plan = plan(&batch, &options, 1 << 20);
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
    async fn parts_sent_at_once_come_back_in_order_and_a_failure_waits_for_the_rest() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let records = (0..64)
            .map(|i| Record::new(format!("r{i}"), format!("{{\"i\":{i}}}")))
            .collect();
        let batch = Batch::new("b", records);
        let options = FileOptions::default();
        let plan = plan(&batch, &options, 1 << 20);
        let mut stream = PartStream::start(&batch, &plan.files[0], &options, 16);
        // Later parts finish first; the results still come back in file order.
        let sent = stream
            .send_all(3, |index, part| async move {
                tokio::time::sleep(std::time::Duration::from_millis(
                    30 - 10 * (index as u64 % 3),
                ))
                .await;
                Ok::<_, ()>((index, part))
            })
            .await
            .unwrap();
        stream.finish().await.unwrap();
        assert!(sent.iter().enumerate().all(|(i, (index, _))| i == *index));
        let joined: Vec<u8> = sent.into_iter().flat_map(|(_, part)| part).collect();
        assert_eq!(joined, plan.files[0].to_bytes(&batch, &options).unwrap());

        // Part 1 fails while others are on the wire: every part started has finished before
        // the error comes back.
        let (started, finished) = (AtomicUsize::new(0), AtomicUsize::new(0));
        let mut stream = PartStream::start(&batch, &plan.files[0], &options, 16);
        let result = stream
            .send_all(3, |index, _| {
                let (started, finished) = (&started, &finished);
                async move {
                    started.fetch_add(1, Ordering::SeqCst);
                    if index == 1 {
                        return Err("refused");
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                    finished.fetch_add(1, Ordering::SeqCst);
                    Ok(())
                }
            })
            .await;
        assert_eq!(result, Err("refused"));
        let (started, finished) = (started.into_inner(), finished.into_inner());
        assert!(started >= 2, "part 0 was on the wire");
        assert_eq!(finished, started - 1, "no part left on the wire");
        assert!(stream.finish().await.is_err(), "the encoder was stopped");
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
        let plan = plan(&batch, &options, 64 << 20);
        let mut stream = PartStream::start(&batch, &plan.files[0], &options, 1024);
        assert!(stream.next().await.is_some());
        let err = stream.finish().await.unwrap_err();
        assert!(err.message.contains("the upload stopped"), "{err}");
    }
}
