//! Reading records back from NDJSON files, for fixtures of file-style connectors: a record
//! arrived when one of the files' lines is exactly its payload.

use bytes::Bytes;
use courier_core::Record;

/// For each record, the line of `files` equal to its payload, if any.
pub fn find_lines<F: AsRef<[u8]>>(records: &[Record], files: &[F]) -> Vec<Option<Bytes>> {
    let lines: Vec<&[u8]> = files
        .iter()
        .flat_map(|f| f.as_ref().split(|&b| b == b'\n'))
        .collect();
    records
        .iter()
        .map(|r| {
            lines
                .iter()
                .find(|l| ***l == r.payload[..])
                .map(|l| Bytes::copy_from_slice(l))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_each_payload_as_a_whole_line() {
        let records = vec![Record::new("a", "{\"a\":1}"), Record::new("b", "{\"b\":2}")];
        let files = vec![
            b"{\"a\":1}\n{\"c\":3}\n".to_vec(),
            b"{\"b\":2,\"x\":0}\n".to_vec(),
        ];
        let found = find_lines(&records, &files);
        assert_eq!(found[0].as_deref(), Some(&b"{\"a\":1}"[..]));
        assert_eq!(found[1], None);
    }
}
