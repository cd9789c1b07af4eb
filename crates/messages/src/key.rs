//! Partition-key and explicit-hash-key templates: a dot path into the record's payload
//! (`user.id`) or a template mixing text and paths (`{user.id}-{type}`).

use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    Path(Vec<String>),
}

/// A parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyTemplate {
    pieces: Vec<Piece>,
}

fn path(src: &str) -> Result<Vec<String>, String> {
    let segments: Vec<String> = src.split('.').map(str::to_string).collect();
    if src.is_empty() || segments.iter().any(|s| s.is_empty()) {
        return Err(format!(
            "`{}` is not a dot path such as user.id",
            src.chars().take(60).collect::<String>()
        ));
    }
    Ok(segments)
}

impl KeyTemplate {
    /// Parses a bare dot path (`user.id`) or a template with `{path}` placeholders; the error
    /// says what is wrong.
    pub fn parse(src: &str) -> Result<Self, String> {
        if src.trim().is_empty() {
            return Err("must not be empty".into());
        }
        if !src.contains(['{', '}']) {
            return Ok(KeyTemplate {
                pieces: vec![Piece::Path(path(src)?)],
            });
        }
        let mut pieces = Vec::new();
        let mut rest = src;
        while let Some(open) = rest.find(['{', '}']) {
            if rest.as_bytes()[open] == b'}' {
                return Err("has a `}` without a matching `{`".into());
            }
            if open > 0 {
                pieces.push(Piece::Text(rest[..open].to_string()));
            }
            let after = &rest[open + 1..];
            let close = after.find('}').ok_or("has an unclosed `{`")?;
            let inner = &after[..close];
            if inner.contains('{') {
                return Err("has an unclosed `{`".into());
            }
            pieces.push(Piece::Path(path(inner)?));
            rest = &after[close + 1..];
        }
        if !rest.is_empty() {
            pieces.push(Piece::Text(rest.to_string()));
        }
        Ok(KeyTemplate { pieces })
    }

    /// The key for one payload, or the dot path that has no usable value.
    pub fn render(&self, payload: &Value) -> Result<String, String> {
        let mut out = String::new();
        for piece in &self.pieces {
            match piece {
                Piece::Text(t) => out.push_str(t),
                Piece::Path(p) => {
                    let found = p.iter().try_fold(payload, |v, k| v.get(k));
                    match found {
                        Some(Value::String(s)) if !s.is_empty() => out.push_str(s),
                        Some(Value::Number(n)) => out.push_str(&n.to_string()),
                        Some(Value::Bool(b)) => out.push_str(&b.to_string()),
                        _ => return Err(p.join(".")),
                    }
                }
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn paths_and_templates() {
        let v =
            json!({"user": {"id": 42, "name": "ada"}, "type": "signup", "ok": true, "empty": ""});
        assert_eq!(
            KeyTemplate::parse("user.id").unwrap().render(&v).unwrap(),
            "42"
        );
        assert_eq!(
            KeyTemplate::parse("{user.name}-{type}")
                .unwrap()
                .render(&v)
                .unwrap(),
            "ada-signup"
        );
        assert_eq!(
            KeyTemplate::parse("p/{ok}").unwrap().render(&v).unwrap(),
            "p/true"
        );
        assert_eq!(
            KeyTemplate::parse("user.missing").unwrap().render(&v),
            Err("user.missing".into())
        );
        assert_eq!(
            KeyTemplate::parse("user").unwrap().render(&v),
            Err("user".into()),
            "objects are not keys"
        );
        assert_eq!(
            KeyTemplate::parse("empty").unwrap().render(&v),
            Err("empty".into())
        );
        for bad in ["", "a..b", "{a", "a}", "{}", "{a{b}}", ".a"] {
            assert!(KeyTemplate::parse(bad).is_err(), "{bad:?}");
        }
    }

    proptest::proptest! {
        #[test]
        fn never_panics(src in "\\PC{0,24}", key in "[a-z.]{0,8}") {
            if let Ok(t) = KeyTemplate::parse(&src) {
                let _ = t.render(&json!({ key: {"x": 1} }));
            }
        }
    }
}
