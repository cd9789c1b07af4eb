//! Minimal, layout-preserving edits of Cargo.toml text: find a table, test for a key, insert a
//! line, append to an array. Enough for the registration lines xtask writes; no TOML parser.

use anyhow::{Result, bail};

/// The lines of `text`, each with its own line ending, so joining them gives `text` back.
fn lines(text: &str) -> Vec<String> {
    text.split_inclusive('\n').map(str::to_string).collect()
}

/// The line index range of the body of table `header` (e.g. `[features]`): the lines after the
/// header up to the next table header.
fn table_body(lines: &[String], header: &str) -> Option<(usize, usize)> {
    let start = lines.iter().position(|l| l.trim() == header)? + 1;
    let end = lines[start..]
        .iter()
        .position(|l| l.trim_start().starts_with('['))
        .map_or(lines.len(), |i| start + i);
    Some((start, end))
}

/// The key a `key = value` (or dotted `key.sub = value`) line sets, without quotes.
pub fn key_of(line: &str) -> Option<&str> {
    let t = line.trim();
    if t.is_empty() || t.starts_with('#') || t.starts_with('[') || !t.contains('=') {
        return None;
    }
    let end = t.find(['=', '.']).unwrap_or(t.len());
    Some(t[..end].trim().trim_matches('"'))
}

/// Whether table `header` sets `key`.
pub fn has_key(text: &str, header: &str, key: &str) -> bool {
    let lines = lines(text);
    table_body(&lines, header)
        .is_some_and(|(s, e)| lines[s..e].iter().any(|l| key_of(l) == Some(key)))
}

/// The value text of `key` in table `header`, continuation lines included (for arrays).
pub fn value_of(text: &str, header: &str, key: &str) -> Option<String> {
    let lines = lines(text);
    let (s, e) = table_body(&lines, header)?;
    let at = (s..e).find(|&i| key_of(&lines[i]) == Some(key))?;
    let first = &lines[at];
    let mut value = first[first.find('=')? + 1..].to_string();
    let mut i = at + 1;
    while value.contains('[') && !value.contains(']') && i < e {
        value.push_str(&lines[i]);
        i += 1;
    }
    Some(value.trim().to_string())
}

/// Inserts `new_line` into table `header`: after the last line whose key satisfies `after`, or
/// else after the table's last non-blank line.
pub fn insert_line(
    text: &str,
    header: &str,
    new_line: &str,
    after: impl Fn(&str) -> bool,
) -> Result<String> {
    let mut lines = lines(text);
    let Some((start, end)) = table_body(&lines, header) else {
        bail!("there is no `{header}` table");
    };
    let anchor = (start..end)
        .rev()
        .find(|&i| key_of(&lines[i]).is_some_and(&after))
        .or_else(|| (start..end).rev().find(|&i| !lines[i].trim().is_empty()));
    let at = anchor.map_or(start, |i| value_end(&lines, i, end) + 1);
    if at > 0 && !lines[at - 1].ends_with('\n') {
        lines[at - 1].push('\n');
    }
    lines.insert(at, format!("{new_line}\n"));
    Ok(lines.concat())
}

/// The last line of the value that starts on line `i` (multi-line arrays end at their `]`).
fn value_end(lines: &[String], i: usize, end: usize) -> usize {
    let opens = |l: &str| l.contains('[') && !l.contains(']');
    if key_of(&lines[i]).is_some() && opens(&lines[i]) {
        (i + 1..end).find(|&j| lines[j].contains(']')).unwrap_or(i)
    } else {
        i
    }
}

/// Appends the string `item` to the array `key = [...]` of table `header`, on one line or many.
pub fn append_to_array(text: &str, header: &str, key: &str, item: &str) -> Result<String> {
    let mut lines = lines(text);
    let Some((start, end)) = table_body(&lines, header) else {
        bail!("there is no `{header}` table");
    };
    let Some(at) = (start..end).find(|&i| key_of(&lines[i]) == Some(key)) else {
        bail!("table `{header}` has no `{key}` array");
    };
    let close = value_end(&lines, at, end);
    let Some(bracket) = lines[close].rfind(']') else {
        bail!("`{key}` in `{header}` is not a one-line or multi-line array");
    };
    let quoted = format!("\"{item}\"");
    if close == at {
        let line = &lines[at];
        let open = line.find('[').unwrap_or(bracket);
        let inner = line[open + 1..bracket].trim().trim_end_matches(',');
        let sep = if inner.is_empty() { "" } else { ", " };
        lines[at] = format!("{}{inner}{sep}{quoted}{}", &line[..=open], &line[bracket..]);
    } else {
        // Multi-line: one item per line, each with a trailing comma.
        let indent = lines[at + 1..close]
            .iter()
            .find(|l| !l.trim().is_empty())
            .map(|l| l[..l.len() - l.trim_start().len()].to_string())
            .unwrap_or_else(|| "    ".to_string());
        if let Some(prev) = (at..close).rev().find(|&i| !lines[i].trim().is_empty()) {
            let t = lines[prev].trim_end().to_string();
            if prev > at && !t.ends_with(',') {
                lines[prev] = format!("{t},\n");
            }
        }
        lines.insert(close, format!("{indent}{quoted},\n"));
    }
    Ok(lines.concat())
}

#[cfg(test)]
mod tests {
    use super::*;

    const CATALOG: &str = "[package]\nname = \"c\"\n\n[features]\ndefault = [\"all\"]\n\
        # comment\nall = [\"webhook\"]\nwebhook = [\"dep:courier-connector-webhook\"]\n\n\
        [dependencies]\ncourier-core.workspace = true\n\
        courier-connector-webhook = { workspace = true, optional = true }\nserde.workspace = true\n";

    #[test]
    fn keys_and_values() {
        assert_eq!(
            key_of("courier-core.workspace = true"),
            Some("courier-core")
        );
        assert_eq!(key_of("\"a-b\" = 1"), Some("a-b"));
        assert_eq!(key_of("# all = []"), None);
        assert!(has_key(CATALOG, "[features]", "webhook"));
        assert!(!has_key(CATALOG, "[dependencies]", "webhook"));
        assert_eq!(
            value_of(CATALOG, "[features]", "all").unwrap(),
            "[\"webhook\"]"
        );
    }

    #[test]
    fn inserts_after_the_matching_key() {
        let out = insert_line(CATALOG, "[dependencies]", "courier-connector-s3 = 1", |k| {
            k.starts_with("courier-connector-")
        })
        .unwrap();
        assert!(out.contains("optional = true }\ncourier-connector-s3 = 1\nserde.workspace"));
        let out = insert_line(CATALOG, "[features]", "s3 = []", |_| false).unwrap();
        assert!(
            out.contains("webhook\"]\ns3 = []\n\n[dependencies]"),
            "{out}"
        );
        assert!(insert_line(CATALOG, "[nope]", "x = 1", |_| true).is_err());
    }

    #[test]
    fn appends_to_one_line_and_multi_line_arrays() {
        let out = append_to_array(CATALOG, "[features]", "all", "s3").unwrap();
        assert!(out.contains("all = [\"webhook\", \"s3\"]\n"), "{out}");
        let empty = "[features]\nall = []\n";
        assert_eq!(
            append_to_array(empty, "[features]", "all", "s3").unwrap(),
            "[features]\nall = [\"s3\"]\n"
        );
        let multi = "[features]\nall = [\n    \"webhook\"\n]\nwebhook = []\n";
        let out = append_to_array(multi, "[features]", "all", "s3").unwrap();
        assert_eq!(
            out,
            "[features]\nall = [\n    \"webhook\",\n    \"s3\",\n]\nwebhook = []\n"
        );
        let out = insert_line(multi, "[features]", "s3 = []", |k| k == "all").unwrap();
        assert!(out.contains("]\ns3 = []\nwebhook"), "{out}");
    }
}
