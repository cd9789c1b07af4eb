//! Planning a batch's files: which records go into which file under which key, within the payload
//! cap (refusing or splitting what does not fit), then writing each file as a stream through
//! its compressor, so memory stays bounded by what the sink buffers, not by the file size.

use std::io::{self, Write};
use std::sync::Arc;

use courier_core::{Batch, ConnectorError, ErrorKind, PayloadCap};

use crate::format::{Compression, Format};
use crate::options::FileLayout;
use crate::parts::encode_error;
use crate::record_encoding::{check_payload, encode, footer, header, measure_with, separator};
use crate::template::{KeyContext, KeyTemplate};

/// One file to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedFile {
    /// The object key or file path, rendered from the template (a split batch's parts get
    /// `-part-0001`, `-part-0002`, ... after the batch id).
    pub key: String,
    /// Indices into the batch's records, in order.
    pub records: Vec<usize>,
    /// Size before compression; this is what the payload cap limits.
    pub encoded_len: u64,
    /// The `Content-Type` of the file's format.
    pub content_type: &'static str,
    /// The `Content-Encoding` of its compression; `None` when uncompressed.
    pub content_encoding: Option<&'static str>,
    /// CSV rows from planning, kept for small files so writing does not encode them twice
    /// (`None` for large files, encoded again as they stream, and for JSON and NDJSON, which
    /// are written straight from the payloads).
    encoded: Option<Arc<Vec<Vec<u8>>>>,
    /// Whether planning checked the payloads are JSON (otherwise the writer checks them).
    checked: bool,
}

/// Uncompressed files up to this size are encoded on the calling thread.
const INLINE_ENCODE_BYTES: u64 = 64 * 1024;

/// Encodings are kept while a batch's records add up to at most this much.
const KEEP_ENCODED_BYTES: u64 = 8 * 1024 * 1024;

/// The files for a batch, and the records refused before any upload (by index).
#[derive(Debug, Default)]
pub struct FilePlan {
    /// The files to write, in batch order; empty when every record was refused.
    pub files: Vec<PlannedFile>,
    /// Each refused record's index in the batch and why, sorted by index.
    pub refused: Vec<(usize, ConnectorError)>,
}

/// Plans the files for `batch`. Records that cannot be encoded, or that alone exceed the cap,
/// are refused; when the whole file would exceed the cap it is split (`split_oversized`) or
/// every record is refused with `payload_too_large`. Keys depend only on the batch, so a retry
/// writes the same keys.
pub fn plan_files(
    batch: &Batch,
    options: &FileLayout,
    template: &KeyTemplate,
    cap: PayloadCap,
    destination_id: &str,
) -> FilePlan {
    plan(batch, options, template, cap, destination_id, true)
}

/// [`plan_files`] without checking that JSON and NDJSON payloads are JSON: the files' writers
/// check each record as they write it and fail the file with [`UNCHECKED_RECORD_INVALID`]
/// on a bad one, so a delivery can plan again with [`plan_files`] to refuse just that record.
/// Valid batches (the usual case) skip a parse of every payload before the first byte is sent.
pub fn plan_files_unchecked(
    batch: &Batch,
    options: &FileLayout,
    template: &KeyTemplate,
    cap: PayloadCap,
    destination_id: &str,
) -> FilePlan {
    plan(batch, options, template, cap, destination_id, false)
}

/// Ends the message of the error a writer raises for a record [`plan_files_unchecked`] let
/// through that is not one JSON value on one line.
pub const UNCHECKED_RECORD_INVALID: &str =
    "cannot be written: not one JSON value on one line (found while writing the file)";

fn plan(
    batch: &Batch,
    options: &FileLayout,
    template: &KeyTemplate,
    cap: PayloadCap,
    destination_id: &str,
    check: bool,
) -> FilePlan {
    let format = options.format;
    let overhead = (header(format, &options.columns).len() + footer(format).len()) as u64;
    let mut plan = FilePlan::default();
    // (index, encoded length) of each encodable record, and the encodings while they are small.
    let mut sized: Vec<(usize, u64)> = Vec::with_capacity(batch.records.len());
    let mut kept: Option<Vec<Option<Vec<u8>>>> =
        (format == Format::Csv).then(|| vec![None; batch.records.len()]);
    let mut kept_bytes = 0u64;
    for (i, record) in batch.records.iter().enumerate() {
        match measure_with(format, &options.columns, record, check, batch.json_payloads) {
            Ok((len, row)) => match cap.check((overhead + len) as usize, || {
                format!("record {}", record.id)
            }) {
                Ok(()) => {
                    sized.push((i, len));
                    kept_bytes += len;
                    match row {
                        Some(row) if kept_bytes <= KEEP_ENCODED_BYTES => {
                            if let Some(k) = kept.as_mut() {
                                k[i] = Some(row);
                            }
                        }
                        _ => kept = None,
                    }
                }
                Err(e) => plan.refused.push((i, e)),
            },
            Err(e) => plan.refused.push((i, e)),
        }
    }
    if sized.is_empty() {
        return plan;
    }

    // Greedy packing in batch order: a new file starts when the next record would not fit.
    let mut groups: Vec<(Vec<usize>, u64)> = vec![(Vec::new(), overhead)];
    for (i, len) in sized {
        let (current, size) = groups.last_mut().expect("non-empty");
        let sep = separator(format, current.len()).len() as u64;
        if !current.is_empty() && *size + sep + len > cap.bytes() {
            groups.push((vec![i], overhead + len));
        } else {
            current.push(i);
            *size += sep + len;
        }
    }
    if groups.len() > 1 && !options.split_oversized {
        let total: u64 = groups.iter().map(|(_, s)| s).sum();
        let error = ConnectorError::new(
            ErrorKind::PayloadTooLarge,
            format!(
                "the file for batch {} would be about {total} bytes, over this destination's cap of {} bytes",
                batch.id,
                cap.bytes()
            ),
            "send smaller batches, set split_oversized: true, or raise payload_cap_bytes",
        );
        for (records, _) in groups {
            plan.refused
                .extend(records.into_iter().map(|i| (i, error.clone())));
        }
        plan.refused.sort_by_key(|(i, _)| *i);
        return plan;
    }

    let ext = options.extension();
    let parts = groups.len();
    for (n, (records, size)) in groups.into_iter().enumerate() {
        let batch_id = if parts == 1 {
            batch.id.clone()
        } else {
            format!("{}-part-{:04}", batch.id, n + 1)
        };
        let ctx = KeyContext {
            destination_id,
            batch_id: &batch_id,
            created_at: batch.created_at,
            record_count: records.len(),
            ext: &ext,
        };
        let encoded = kept.as_mut().map(|k| {
            Arc::new(
                records
                    .iter()
                    .map(|&i| k[i].take().unwrap_or_default())
                    .collect::<Vec<_>>(),
            )
        });
        match template.render(&ctx) {
            Ok(key) => plan.files.push(PlannedFile {
                key,
                records,
                encoded_len: size,
                content_type: format.content_type(),
                content_encoding: options.compression.content_encoding(),
                encoded,
                checked: check,
            }),
            Err(message) => {
                let error = ConnectorError::new(
                    ErrorKind::Rejected,
                    format!("no file key for batch {}: {message}", batch.id),
                    "use batch and destination ids without `/`, `..` or control characters",
                );
                plan.refused
                    .extend(records.into_iter().map(|i| (i, error.clone())));
            }
        }
    }
    plan.refused.sort_by_key(|(i, _)| *i);
    plan
}

impl PlannedFile {
    /// Writes the file (header, records, footer) through the compressor into `sink`, returning
    /// the sink. Memory use is the compressor's window plus whatever `sink` buffers.
    pub fn write_to<W: Write>(
        &self,
        batch: &Batch,
        options: &FileLayout,
        sink: W,
    ) -> io::Result<W> {
        match options.compression {
            Compression::None => self.write_records(batch, options, sink),
            Compression::Gzip => {
                let gz = flate2::write::GzEncoder::new(sink, flate2::Compression::default());
                self.write_records(batch, options, gz)?.finish()
            }
            Compression::Zstd => {
                let z = zstd::stream::write::Encoder::new(sink, 3)?;
                self.write_records(batch, options, z)?.finish()
            }
        }
    }

    fn write_records<W: Write>(
        &self,
        batch: &Batch,
        options: &FileLayout,
        mut out: W,
    ) -> io::Result<W> {
        let format: Format = options.format;
        out.write_all(&header(format, &options.columns))?;
        for (n, &i) in self.records.iter().enumerate() {
            out.write_all(separator(format, n))?;
            match &self.encoded {
                Some(kept) => out.write_all(&kept[n])?,
                // Planning checked every record, so JSON payloads go out as they are, uncopied.
                None if format == Format::Json => {
                    self.check(format, &batch.records[i], batch.json_payloads)?;
                    out.write_all(&batch.records[i].payload)?
                }
                None if format == Format::Ndjson => {
                    self.check(format, &batch.records[i], batch.json_payloads)?;
                    out.write_all(&batch.records[i].payload)?;
                    out.write_all(b"\n")?;
                }
                None => {
                    let bytes = encode(format, &options.columns, &batch.records[i])
                        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.message))?;
                    out.write_all(&bytes)?;
                }
            }
        }
        out.write_all(footer(format))?;
        Ok(out)
    }

    /// The checks planning left to the writer.
    fn check(
        &self,
        format: Format,
        record: &courier_core::Record,
        json_known: bool,
    ) -> io::Result<()> {
        if self.checked {
            return Ok(());
        }
        check_payload(format, record, json_known).map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("record {} {UNCHECKED_RECORD_INVALID}", record.id),
            )
        })
    }

    /// The whole file in memory (for small files and tests).
    pub fn to_bytes(&self, batch: &Batch, options: &FileLayout) -> io::Result<Vec<u8>> {
        self.write_to(
            batch,
            options,
            Vec::with_capacity(self.encoded_len as usize),
        )
    }

    /// The whole file in memory for a single-request upload, encoded (and compressed) on a
    /// blocking thread so that up to a part's worth of JSON parsing and gzip or zstd does not
    /// hold up the async threads; small uncompressed files, a copy of their payloads, are
    /// written in place (cheaper than the hand-off).
    pub async fn encode(
        &self,
        batch: &Batch,
        layout: &FileLayout,
    ) -> Result<Vec<u8>, ConnectorError> {
        if self.encoded_len <= INLINE_ENCODE_BYTES && self.content_encoding.is_none() {
            return self.to_bytes(batch, layout).map_err(encode_error);
        }
        let (file, batch, layout) = (self.clone(), batch.clone(), layout.clone());
        tokio::task::spawn_blocking(move || file.to_bytes(&batch, &layout))
            .await
            .map_err(|e| ConnectorError::internal(format!("the file encoder stopped: {e}")))?
            .map_err(encode_error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::options::FileOptions;
    use courier_core::Record;
    use std::io::Read;

    fn batch(n: usize, size: usize) -> Batch {
        let records = (0..n)
            .map(|i| {
                Record::new(
                    format!("r{i}"),
                    format!("{{\"i\":{i},\"pad\":\"{}\"}}", "x".repeat(size)),
                )
            })
            .collect();
        Batch::new("b1", records)
    }

    fn plan(b: &Batch, o: &FileOptions, cap: u64) -> FilePlan {
        plan_files(b, o, &o.template().unwrap(), PayloadCap(cap), "dest")
    }

    #[test]
    fn one_file_with_every_record_reads_back() {
        let b = batch(3, 5);
        for (format, compression) in [
            (Format::Json, Compression::None),
            (Format::Ndjson, Compression::Gzip),
            (Format::Json, Compression::Zstd),
        ] {
            let o = FileOptions {
                key_template: "x/{batch_id}.{ext}".into(),
                layout: FileLayout {
                    format,
                    compression,
                    ..FileLayout::default()
                },
            };
            let p = plan(&b, &o, 1 << 20);
            assert_eq!(p.files.len(), 1);
            let f = &p.files[0];
            assert_eq!(f.key, format!("x/b1.{}", o.extension()));
            let raw = f.to_bytes(&b, &o).unwrap();
            let text = match compression {
                Compression::None => raw,
                Compression::Gzip => {
                    let mut s = Vec::new();
                    flate2::read::GzDecoder::new(&raw[..])
                        .read_to_end(&mut s)
                        .unwrap();
                    s
                }
                Compression::Zstd => zstd::stream::decode_all(&raw[..]).unwrap(),
            };
            assert_eq!(text.len() as u64, f.encoded_len, "{format:?}");
            let values: Vec<serde_json::Value> = match format {
                Format::Json => serde_json::from_slice(&text).unwrap(),
                _ => text
                    .split(|&c| c == b'\n')
                    .filter(|l| !l.is_empty())
                    .map(|l| serde_json::from_slice(l).unwrap())
                    .collect(),
            };
            assert_eq!(values.len(), 3);
            assert_eq!(values[2]["i"], 2);
        }
    }

    #[test]
    fn over_cap_is_refused_whole_or_split_deterministically() {
        let b = batch(10, 100);
        let o = FileOptions::default();
        let p = plan(&b, &o, 500);
        assert!(p.files.is_empty());
        assert_eq!(p.refused.len(), 10);
        assert!(
            p.refused
                .iter()
                .all(|(_, e)| e.kind == ErrorKind::PayloadTooLarge)
        );

        let o = FileOptions {
            layout: FileLayout {
                split_oversized: true,
                ..FileLayout::default()
            },
            ..FileOptions::default()
        };
        let p = plan(&b, &o, 500);
        assert!(p.refused.is_empty());
        assert!(p.files.len() > 1);
        assert!(p.files.iter().all(|f| f.encoded_len <= 500));
        let all: Vec<usize> = p.files.iter().flat_map(|f| f.records.clone()).collect();
        assert_eq!(all, (0..10).collect::<Vec<_>>());
        assert!(p.files[0].key.contains("b1-part-0001"));
        assert_eq!(
            plan(&b, &o, 500).files,
            p.files,
            "a retry plans the same files"
        );
    }

    #[test]
    fn a_record_over_the_cap_alone_fails_alone() {
        let mut b = batch(2, 10);
        b.records.push(Record::new(
            "big",
            format!("{{\"pad\":\"{}\"}}", "y".repeat(1000)),
        ));
        b.records.push(Record::new("bad", "not json"));
        let p = plan(&b, &FileOptions::default(), 200);
        assert_eq!(p.files.len(), 1);
        assert_eq!(p.files[0].records, vec![0, 1]);
        let refused: Vec<(usize, ErrorKind)> =
            p.refused.iter().map(|(i, e)| (*i, e.kind)).collect();
        assert_eq!(
            refused,
            vec![(2, ErrorKind::PayloadTooLarge), (3, ErrorKind::Rejected)]
        );
    }

    #[test]
    fn hostile_batch_ids_get_no_file() {
        let mut b = batch(1, 1);
        b.id = "../../etc".into();
        let p = plan(&b, &FileOptions::default(), 1 << 20);
        assert!(p.files.is_empty());
        assert_eq!(p.refused[0].1.kind, ErrorKind::Rejected);
    }

    #[test]
    fn streaming_memory_is_bounded_by_the_sink() {
        // A sink that keeps only a byte count: writing a large file holds no copy of it.
        struct Counting(u64);
        impl Write for Counting {
            fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
                self.0 += buf.len() as u64;
                Ok(buf.len())
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let b = batch(2000, 1000);
        let o = FileOptions::default();
        let p = plan(&b, &o, 64 << 20);
        let sink = p.files[0].write_to(&b, &o, Counting(0)).unwrap();
        assert_eq!(sink.0, p.files[0].encoded_len);
    }
}
