//! One record's contribution to a file in each format, plus the format's header, separator and
//! footer, so files can be sized before writing and written as a stream.

use courier_core::{ConnectorError, ErrorKind, Record};
use serde_json::Value;

use crate::format::Format;

/// Bytes written before the first record.
pub fn header(format: Format, columns: &[String]) -> Vec<u8> {
    match format {
        Format::Json => b"[".to_vec(),
        Format::Ndjson => Vec::new(),
        Format::Csv => csv_row(columns.iter().map(String::as_str)),
    }
}

/// Bytes written before record `index` (after the header).
pub fn separator(format: Format, index: usize) -> &'static [u8] {
    match (format, index) {
        (Format::Json, i) if i > 0 => b",",
        _ => b"",
    }
}

/// Bytes written after the last record.
pub fn footer(format: Format) -> &'static [u8] {
    match format {
        Format::Json => b"]",
        _ => b"",
    }
}

fn rejected(record: &Record, what: &str, hint: &str) -> ConnectorError {
    ConnectorError::new(
        ErrorKind::Rejected,
        format!("record {} {what}", record.id),
        hint,
    )
}

/// The record as it appears in the file. JSON and NDJSON carry the payload exactly as given;
/// CSV takes each configured column from the payload object (dot paths reach nested fields).
pub fn encode(
    format: Format,
    columns: &[String],
    record: &Record,
) -> Result<Vec<u8>, ConnectorError> {
    match format {
        Format::Json => {
            check_payload(format, record, false)?;
            Ok(record.payload.to_vec())
        }
        Format::Ndjson => {
            check_payload(format, record, false)?;
            let mut line = record.payload.to_vec();
            line.push(b'\n');
            Ok(line)
        }
        Format::Csv => {
            let value: Value = serde_json::from_slice(&record.payload).map_err(|_| {
                rejected(
                    record,
                    "is not valid JSON",
                    "send each record as one JSON object",
                )
            })?;
            if !value.is_object() {
                return Err(rejected(
                    record,
                    "is not a JSON object, so it has no columns",
                    "send each record as a JSON object for format: csv",
                ));
            }
            let cells: Vec<String> = columns.iter().map(|c| cell(lookup(&value, c))).collect();
            Ok(csv_row(cells.iter().map(String::as_str)))
        }
    }
}

/// The record's encoded length, checked exactly as [`encode`] checks it. JSON and NDJSON
/// records are written straight from their payloads, so only CSV rows come back encoded.
pub fn measure(
    format: Format,
    columns: &[String],
    record: &Record,
) -> Result<(u64, Option<Vec<u8>>), ConnectorError> {
    measure_with(format, columns, record, true, false)
}

/// [`measure`], optionally leaving the checks of JSON and NDJSON payloads (one JSON value, on
/// one line) to the writer, which then checks each record as it writes it. With `json_known`
/// (the host vouched for the payloads, [`courier_core::Batch::json_payloads`]) only the line
/// check is made.
pub fn measure_with(
    format: Format,
    columns: &[String],
    record: &Record,
    check: bool,
    json_known: bool,
) -> Result<(u64, Option<Vec<u8>>), ConnectorError> {
    let checked = |format| {
        if check {
            check_payload(format, record, json_known)
        } else {
            Ok(())
        }
    };
    match format {
        Format::Json => checked(format).map(|()| (record.payload.len() as u64, None)),
        Format::Ndjson => checked(format).map(|()| (record.payload.len() as u64 + 1, None)),
        Format::Csv => encode(format, columns, record).map(|row| (row.len() as u64, Some(row))),
    }
}

/// A JSON or NDJSON payload must be one JSON value (parsed unless `json_known`); an NDJSON one
/// must also fit on a line, which is always checked: it is a cheap scan, and a host's word for
/// the JSON does not cover line breaks.
pub fn check_payload(
    format: Format,
    record: &Record,
    json_known: bool,
) -> Result<(), ConnectorError> {
    if !json_known {
        check_json(record)?;
    }
    check_line(format, record)
}

/// An NDJSON payload must fit on one line.
fn check_line(format: Format, record: &Record) -> Result<(), ConnectorError> {
    if format == Format::Ndjson && memchr::memchr2(b'\n', b'\r', &record.payload).is_some() {
        return Err(rejected(
            record,
            "contains a line break, so it cannot be one NDJSON line",
            "send compact JSON without line breaks, or use format: json",
        ));
    }
    Ok(())
}

fn check_json(record: &Record) -> Result<(), ConnectorError> {
    serde_json::from_slice::<serde::de::IgnoredAny>(&record.payload)
        .map(|_| ())
        .map_err(|_| {
            rejected(
                record,
                "is not valid JSON",
                "send each record as one JSON value",
            )
        })
}

/// `a.b.c` into nested objects; a key containing dots is found when it exists as written.
fn lookup<'a>(value: &'a Value, path: &str) -> Option<&'a Value> {
    if let Some(v) = value.get(path) {
        return Some(v);
    }
    path.split('.').try_fold(value, |v, key| v.get(key))
}

fn cell(value: Option<&Value>) -> String {
    match value {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

/// One RFC 4180 row (CRLF-terminated, quoted only where needed).
fn csv_row<'a>(cells: impl Iterator<Item = &'a str>) -> Vec<u8> {
    let mut writer = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::new());
    let cells: Vec<&str> = cells.collect();
    // Writing to a Vec cannot fail.
    let _ = writer.write_record(&cells);
    writer.into_inner().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_per_rfc_4180_and_reads_back() {
        let columns: Vec<String> = ["id", "name", "user.email", "tags", "missing"]
            .map(String::from)
            .to_vec();
        let r = Record::new(
            "r1",
            r#"{"id":7,"name":"O'Brien, \"Q\"\nline2","user":{"email":"a@b.c"},"tags":["x"]}"#,
        );
        let mut file = header(Format::Csv, &columns);
        file.extend(encode(Format::Csv, &columns, &r).unwrap());
        assert!(file.ends_with(b"\r\n"));
        let mut reader = csv::Reader::from_reader(&file[..]);
        assert_eq!(
            reader.headers().unwrap(),
            vec!["id", "name", "user.email", "tags", "missing"]
        );
        let row = reader.records().next().unwrap().unwrap();
        assert_eq!(
            row,
            vec!["7", "O'Brien, \"Q\"\nline2", "a@b.c", "[\"x\"]", ""]
        );
    }

    #[test]
    fn csv_needs_objects_and_json_formats_need_json() {
        let cols = vec!["a".to_string()];
        assert!(encode(Format::Csv, &cols, &Record::new("r", "[1]")).is_err());
        assert!(encode(Format::Json, &cols, &Record::new("r", "{oops")).is_err());
        assert!(encode(Format::Ndjson, &cols, &Record::new("r", "{\n}")).is_err());
        assert_eq!(
            encode(Format::Ndjson, &cols, &Record::new("r", "{ }")).unwrap(),
            b"{ }\n"
        );
    }
}
