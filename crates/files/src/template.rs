//! Object key / file path templates: parsed and validated when the config is built, rendered per
//! file, and never able to climb out of their prefix.

use std::fmt;
use std::time::SystemTime;

/// The variables a template may use.
pub const VARIABLES: &[(&str, &str)] = &[
    ("destination_id", "the destination's id"),
    (
        "batch_id",
        "the batch's idempotency id (a part number is appended when a batch is split)",
    ),
    ("yyyy", "the batch's year, 4 digits (UTC)"),
    ("mm", "the batch's month, 2 digits"),
    ("dd", "the batch's day of month, 2 digits"),
    ("hh", "the batch's hour, 2 digits"),
    ("record_count", "records in the file"),
    ("ext", "the file extension, e.g. ndjson or csv.gz"),
];

/// The template used when the config sets none.
pub const DEFAULT_TEMPLATE: &str = "{destination_id}/{yyyy}/{mm}/{dd}/{batch_id}.{ext}";

/// The longest key rendered (S3's and GCS's object-name limit is 1024 bytes).
pub const MAX_KEY_BYTES: usize = 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    Var(&'static str),
}

/// A parsed, validated template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyTemplate {
    source: String,
    pieces: Vec<Piece>,
}

/// What a file's key is rendered from.
#[derive(Debug, Clone)]
pub struct KeyContext<'a> {
    /// The destination's id (`{destination_id}`); refused at render if unsafe in a path.
    pub destination_id: &'a str,
    /// The batch's id, with the part number when the batch is split (`{batch_id}`); refused
    /// at render if unsafe in a path.
    pub batch_id: &'a str,
    /// When the batch was created, for the date variables (read in UTC).
    pub created_at: SystemTime,
    /// Records in the file (`{record_count}`).
    pub record_count: usize,
    /// The full extension without a leading dot, e.g. `csv.gz` (`{ext}`).
    pub ext: &'a str,
}

impl KeyTemplate {
    /// Parses and validates; the error says what is wrong (for `/config/key_template`).
    pub fn parse(source: &str) -> Result<Self, String> {
        if source.is_empty() {
            return Err("must not be empty".into());
        }
        let mut pieces = Vec::new();
        let mut text = String::new();
        let mut chars = source.chars();
        while let Some(c) = chars.next() {
            match c {
                '{' => {
                    let mut name = String::new();
                    loop {
                        match chars.next() {
                            Some('}') => break,
                            Some('{') | None => return Err("has an unclosed `{`".into()),
                            Some(c) => name.push(c),
                        }
                    }
                    let Some((known, _)) = VARIABLES.iter().find(|(v, _)| *v == name) else {
                        let known: Vec<&str> = VARIABLES.iter().map(|(v, _)| *v).collect();
                        return Err(format!(
                            "uses unknown variable {{{}}}; known: {}",
                            name.chars().take(40).collect::<String>(),
                            known.join(", ")
                        ));
                    };
                    if !text.is_empty() {
                        pieces.push(Piece::Text(std::mem::take(&mut text)));
                    }
                    pieces.push(Piece::Var(known));
                }
                '}' => return Err("has a `}` without a matching `{`".into()),
                c => text.push(c),
            }
        }
        if !text.is_empty() {
            pieces.push(Piece::Text(text));
        }
        check_static_text(&pieces)?;
        if !pieces.contains(&Piece::Var("batch_id")) {
            return Err(
                "must contain {batch_id}, so every batch gets its own file and a retry replaces it"
                    .into(),
            );
        }
        Ok(KeyTemplate {
            source: source.to_string(),
            pieces,
        })
    }

    /// The template as written.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Renders the key. Values that would make an unsafe key (a `/`, `..`, control characters)
    /// are refused, and the final key is checked again as a whole.
    pub fn render(&self, ctx: &KeyContext<'_>) -> Result<String, String> {
        let date = time::OffsetDateTime::from(ctx.created_at);
        let mut key = String::new();
        for piece in &self.pieces {
            match piece {
                Piece::Text(t) => key.push_str(t),
                Piece::Var(v) => {
                    let value = match *v {
                        "destination_id" => segment_value("destination id", ctx.destination_id)?,
                        "batch_id" => segment_value("batch id", ctx.batch_id)?,
                        "yyyy" => format!("{:04}", date.year()),
                        "mm" => format!("{:02}", u8::from(date.month())),
                        "dd" => format!("{:02}", date.day()),
                        "hh" => format!("{:02}", date.hour()),
                        "record_count" => ctx.record_count.to_string(),
                        "ext" => ctx.ext.to_string(),
                        other => return Err(format!("unknown variable {other}")),
                    };
                    key.push_str(&value);
                }
            }
        }
        check_key(&key)?;
        Ok(key)
    }
}

impl fmt::Display for KeyTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

fn segment_value(what: &str, value: &str) -> Result<String, String> {
    let bad = value.is_empty()
        || value == "."
        || value == ".."
        || value
            .chars()
            .any(|c| c == '/' || c == '\\' || c.is_control());
    if bad {
        return Err(format!(
            "the {what} cannot be used in a file name (empty, `.`/`..`, or contains `/`, `\\` or control characters)"
        ));
    }
    Ok(value.to_string())
}

fn check_static_text(pieces: &[Piece]) -> Result<(), String> {
    if let Some(Piece::Text(t)) = pieces.first()
        && (t.starts_with('/') || t.starts_with('\\'))
    {
        return Err("must be relative: it cannot start with `/`".into());
    }
    for piece in pieces {
        if let Piece::Text(t) = piece {
            if t.chars().any(|c| c.is_control()) {
                return Err("must not contain control characters".into());
            }
            if t.contains('\\') {
                return Err("must use `/` as the separator, not `\\`".into());
            }
            if t.contains("//") {
                return Err("must not contain empty path segments (`//`)".into());
            }
        }
    }
    // `..` or `.` written literally as a whole segment (variables are checked when rendered).
    let mut segment = String::new();
    let mut segment_has_var = false;
    for piece in pieces {
        match piece {
            Piece::Var(_) => segment_has_var = true,
            Piece::Text(t) => {
                for c in t.chars() {
                    if c == '/' {
                        check_segment(&segment, segment_has_var)?;
                        segment.clear();
                        segment_has_var = false;
                    } else {
                        segment.push(c);
                    }
                }
            }
        }
    }
    check_segment(&segment, segment_has_var)
}

fn check_segment(segment: &str, has_var: bool) -> Result<(), String> {
    if !has_var && (segment == ".." || segment == ".") {
        return Err("must not contain `.` or `..` path segments".into());
    }
    Ok(())
}

/// A key is safe when it is relative, has no empty, `.` or `..` segments, no backslashes or
/// control characters, and fits the length limit.
pub fn check_key(key: &str) -> Result<(), String> {
    if key.is_empty() {
        return Err("renders to an empty key".into());
    }
    if key.len() > MAX_KEY_BYTES {
        return Err(format!(
            "renders to a key longer than {MAX_KEY_BYTES} bytes"
        ));
    }
    if key.starts_with('/') {
        return Err("renders to an absolute path".into());
    }
    if key.chars().any(|c| c.is_control() || c == '\\') {
        return Err("renders to a key with control characters or `\\`".into());
    }
    if key
        .split('/')
        .any(|s| s.is_empty() || s == "." || s == "..")
    {
        return Err("renders to a key with an empty, `.` or `..` segment".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    fn ctx<'a>(batch_id: &'a str, ext: &'a str) -> KeyContext<'a> {
        KeyContext {
            destination_id: "dest_1",
            batch_id,
            // 2024-03-05T07:08:09Z
            created_at: UNIX_EPOCH + Duration::from_secs(1_709_622_489),
            record_count: 3,
            ext,
        }
    }

    #[test]
    fn renders_every_variable() {
        let t = KeyTemplate::parse(
            "exports/{destination_id}/{yyyy}/{mm}/{dd}/{hh}/{batch_id}-{record_count}.{ext}",
        )
        .unwrap();
        assert_eq!(
            t.render(&ctx("b1", "csv.gz")).unwrap(),
            "exports/dest_1/2024/03/05/07/b1-3.csv.gz"
        );
        assert_eq!(
            KeyTemplate::parse(DEFAULT_TEMPLATE)
                .unwrap()
                .render(&ctx("b1", "ndjson"))
                .unwrap(),
            "dest_1/2024/03/05/b1.ndjson"
        );
    }

    #[test]
    fn refuses_bad_templates() {
        for (t, needle) in [
            ("", "empty"),
            ("{nope}/{batch_id}", "unknown variable {nope}"),
            ("{batch_id", "unclosed"),
            ("a}/{batch_id}", "without a matching"),
            ("/abs/{batch_id}", "relative"),
            ("../{batch_id}", "`..`"),
            ("a/../{batch_id}", "`..`"),
            ("a/./{batch_id}", "`..`"),
            ("a//{batch_id}", "empty path segments"),
            ("a\\{batch_id}", "separator"),
            ("a\u{0}/{batch_id}", "control"),
            ("exports/{yyyy}.json", "{batch_id}"),
        ] {
            let err = KeyTemplate::parse(t).unwrap_err();
            assert!(err.contains(needle), "{t:?}: {err}");
        }
    }

    #[test]
    fn hostile_ids_are_refused_at_render() {
        let t = KeyTemplate::parse("x/{batch_id}.{ext}").unwrap();
        for id in ["..", ".", "a/b", "../../etc/passwd", "a\\b", "a\nb", ""] {
            assert!(t.render(&ctx(id, "json")).is_err(), "{id:?}");
        }
        // A `..` assembled from a variable next to literal dots is still caught.
        let t = KeyTemplate::parse("x/.{batch_id}/y").unwrap();
        assert!(t.render(&ctx(".", "json")).is_err());
    }

    proptest::proptest! {
        #[test]
        fn rendered_keys_never_escape(batch in "\\PC{0,20}|[./\\\\a]{0,6}", prefix in "[a-z./{}_]{0,12}") {
            let source = format!("{prefix}{{batch_id}}.{{ext}}");
            if let Ok(t) = KeyTemplate::parse(&source)
                && let Ok(key) = t.render(&ctx(&batch, "json"))
            {
                proptest::prop_assert!(check_key(&key).is_ok());
                proptest::prop_assert!(!key.starts_with('/'));
                proptest::prop_assert!(key.split('/').all(|s| s != ".." && s != "." && !s.is_empty()));
            }
        }
    }
}
