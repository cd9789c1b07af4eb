//! Grouping a batch's entries into provider requests within [`BatchLimits`], in order.

use crate::connector::BatchLimits;

/// Splits entries (given by size, in order) into requests of at most `max_records` entries
/// and `max_request_bytes` bytes; an entry alone is always a request of its own even when it
/// is bigger (the per-record limit has refused those already).
pub fn group(sizes: &[usize], limits: BatchLimits) -> Vec<Vec<usize>> {
    let mut groups: Vec<Vec<usize>> = Vec::new();
    let mut current: Vec<usize> = Vec::new();
    let mut bytes = 0;
    for (i, &size) in sizes.iter().enumerate() {
        let full = current.len() >= limits.max_records.max(1)
            || (!current.is_empty() && bytes + size > limits.max_request_bytes);
        if full {
            groups.push(std::mem::take(&mut current));
            bytes = 0;
        }
        bytes += size;
        current.push(i);
    }
    if !current.is_empty() {
        groups.push(current);
    }
    groups
}

/// `n` bytes for messages: `1 MiB`, `256 KiB`, `1000 bytes`.
pub fn human_bytes(n: usize) -> String {
    const KIB: usize = 1024;
    const MIB: usize = 1024 * KIB;
    match n {
        0 => "0 bytes".to_string(),
        _ if n.is_multiple_of(MIB) => format!("{} MiB", n / MIB),
        _ if n.is_multiple_of(KIB) => format!("{} KiB", n / KIB),
        _ => format!("{n} bytes"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KINESIS: BatchLimits = BatchLimits {
        max_records: 500,
        max_request_bytes: 5 * 1024 * 1024,
        max_record_bytes: 1024 * 1024,
    };

    #[test]
    fn requests_stay_within_the_record_and_byte_limits_in_order() {
        let groups = group(&[100; 1_201], KINESIS);
        assert_eq!(
            groups.iter().map(Vec::len).collect::<Vec<_>>(),
            [500, 500, 201]
        );
        let groups = group(&[1024 * 1024; 11], KINESIS);
        assert_eq!(groups.iter().map(Vec::len).collect::<Vec<_>>(), [5, 5, 1]);
        assert_eq!(
            groups.concat(),
            (0..11).collect::<Vec<_>>(),
            "order is kept"
        );
        assert!(group(&[], KINESIS).is_empty());
        let sqs = BatchLimits {
            max_records: 10,
            max_request_bytes: 256 * 1024,
            max_record_bytes: 256 * 1024,
        };
        assert_eq!(group(&[1; 25], sqs).len(), 3);
    }

    proptest::proptest! {
        #[test]
        fn every_entry_is_sent_once_within_the_limits(
            sizes in proptest::collection::vec(1usize..2000, 0..300),
            max_records in 1usize..40,
            max_request_bytes in 2000usize..20_000,
        ) {
            let limits = BatchLimits { max_records, max_request_bytes, max_record_bytes: 2000 };
            let groups = group(&sizes, limits);
            proptest::prop_assert_eq!(groups.concat(), (0..sizes.len()).collect::<Vec<_>>());
            for g in &groups {
                proptest::prop_assert!(!g.is_empty() && g.len() <= max_records);
                proptest::prop_assert!(g.iter().map(|&i| sizes[i]).sum::<usize>() <= max_request_bytes);
            }
        }
    }

    #[test]
    fn sizes_read_as_people_write_them() {
        assert_eq!(human_bytes(1024 * 1024), "1 MiB");
        assert_eq!(human_bytes(256 * 1024), "256 KiB");
        assert_eq!(human_bytes(1000), "1000 bytes");
    }
}
