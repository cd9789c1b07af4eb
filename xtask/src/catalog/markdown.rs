//! Markdown building blocks for the generated reference pages: tables, cell escaping, values.

use serde_json::Value;

/// A table with `headers` and `rows`; each cell is escaped for use inside a table.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut out = format!("| {} |\n", headers.join(" | "));
    out.push_str(&format!("|{}\n", "---|".repeat(headers.len())));
    for row in rows {
        let cells: Vec<String> = row.iter().map(|c| cell(c)).collect();
        out.push_str(&format!("| {} |\n", cells.join(" | ")));
    }
    out
}

/// Text fit for one table cell: whitespace runs (newlines included) become one space, `|` is
/// escaped, and an empty cell shows a dash.
pub fn cell(text: &str) -> String {
    let one_line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.is_empty() {
        "—".to_string()
    } else {
        one_line.replace('|', "\\|")
    }
}

/// Prose from a schema description: trimmed, paragraphs kept.
pub fn prose(text: &str) -> String {
    text.trim().to_string()
}

/// A JSON value as inline code (`"POST"`, `30000`, `{"a":1}`).
pub fn code(value: &Value) -> String {
    inline_code(&value.to_string())
}

/// `text` as inline code, using a longer fence when the text itself holds backticks.
pub fn inline_code(text: &str) -> String {
    if text.contains('`') {
        format!("`` {text} ``")
    } else {
        format!("`{text}`")
    }
}

/// A byte count for people: `67108864` → `67108864 (64 MiB)`.
pub fn bytes(n: u64) -> String {
    const UNITS: [(u64, &str); 3] = [(1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")];
    match UNITS
        .iter()
        .find(|(size, _)| n >= *size && n.is_multiple_of(*size))
    {
        Some((size, unit)) => format!("{n} ({} {unit})", n / size),
        None => n.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_are_one_line_and_escaped() {
        assert_eq!(cell("a |\n b"), "a \\| b");
        assert_eq!(cell("  "), "—");
        assert_eq!(
            table(&["A", "B"], &[vec!["1".into(), String::new()]]),
            "| A | B |\n|---|---|\n| 1 | — |\n"
        );
    }

    #[test]
    fn values() {
        assert_eq!(code(&serde_json::json!("POST")), "`\"POST\"`");
        assert_eq!(inline_code("a`b"), "`` a`b ``");
        assert_eq!(bytes(64 * 1024 * 1024), "67108864 (64 MiB)");
        assert_eq!(bytes(1000), "1000");
    }
}
