//! The subject each message is published to: a fixed subject, or a template whose `{path}`
//! placeholders are read from the record's payload; what makes a subject publishable; and the
//! sample subject the connection test checks a template with.

use courier_messages::KeyTemplate;

/// What each placeholder becomes in the sample subject of a template.
pub const SAMPLE_TOKEN: &str = "courier_probe";

/// The longest subject published, in characters (NATS sets no limit; a longer one is a
/// mistake, and servers keep subjects in memory).
pub const MAX_SUBJECT_CHARS: usize = 1024;

/// Prefixes of the server's own subjects: publishing there calls the JetStream API or the
/// system account (a record could delete a stream), never a stream.
const SYSTEM_PREFIXES: &[&str] = &["$JS.", "$JSC.", "$SYS.", "$NRG."];

/// A parsed `subject_template`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubjectTemplate {
    /// No placeholders: every message goes to this subject.
    Fixed(String),
    /// Placeholders read from each record (`orders.{customer.region}`).
    Template(String),
}

impl SubjectTemplate {
    /// Parses and checks a template; the error says what is wrong.
    pub fn parse(src: &str) -> Result<Self, String> {
        if !src.contains(['{', '}']) {
            check_subject(src)?;
            return Ok(SubjectTemplate::Fixed(src.to_string()));
        }
        KeyTemplate::parse(src)?;
        // The text around the placeholders must make a subject whatever they render to.
        check_subject(&fill(src, SAMPLE_TOKEN))
            .map_err(|why| format!("{why} (with each placeholder filled in)"))?;
        Ok(SubjectTemplate::Template(src.to_string()))
    }

    /// The template to render per record, when there are placeholders.
    pub fn placeholders(&self) -> Option<&str> {
        match self {
            SubjectTemplate::Fixed(_) => None,
            SubjectTemplate::Template(t) => Some(t),
        }
    }

    /// The fixed subject, or the sample subject of a template: each placeholder filled with
    /// [`SAMPLE_TOKEN`].
    pub fn sample(&self) -> String {
        match self {
            SubjectTemplate::Fixed(s) => s.clone(),
            SubjectTemplate::Template(t) => fill(t, SAMPLE_TOKEN),
        }
    }

    /// The subjects a template can render to as a NATS filter: each token holding a
    /// placeholder becomes `*` (`orders.{region}` is `orders.*`).
    pub fn filter(&self) -> String {
        match self {
            SubjectTemplate::Fixed(s) => s.clone(),
            SubjectTemplate::Template(t) => fill(t, "\u{1}")
                .split('.')
                .map(|token| if token.contains('\u{1}') { "*" } else { token })
                .collect::<Vec<_>>()
                .join("."),
        }
    }
}

/// `template` with each `{…}` placeholder replaced by `with`.
fn fill(template: &str, with: &str) -> String {
    let mut out = String::with_capacity(template.len());
    let mut inside = false;
    for c in template.chars() {
        match (c, inside) {
            ('{', false) => {
                inside = true;
                out.push_str(with);
            }
            ('}', true) => inside = false,
            (_, true) => {}
            (c, false) => out.push(c),
        }
    }
    out
}

/// Why `subject` cannot be published to, if it cannot: empty, spaces or control characters,
/// wildcards, empty tokens, or one of the server's own subjects.
pub fn check_subject(subject: &str) -> Result<(), String> {
    if subject.is_empty() {
        return Err("is empty".into());
    }
    if subject.chars().count() > MAX_SUBJECT_CHARS {
        return Err(format!("is longer than {MAX_SUBJECT_CHARS} characters"));
    }
    if subject.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("contains a space or a control character".into());
    }
    if subject.contains(['*', '>']) {
        return Err(
            "contains a wildcard (`*` or `>`); messages are published to one subject".into(),
        );
    }
    if subject.split('.').any(str::is_empty) {
        return Err("has an empty token (a leading, trailing or doubled `.`)".into());
    }
    if SYSTEM_PREFIXES.iter().any(|p| subject.starts_with(p)) {
        return Err("is one of the server's own subjects ($JS., $JSC., $SYS., $NRG.)".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_subjects_and_templates() {
        assert_eq!(
            SubjectTemplate::parse("orders.created"),
            Ok(SubjectTemplate::Fixed("orders.created".into()))
        );
        let t = SubjectTemplate::parse("orders.{customer.region}.{type}").unwrap();
        assert_eq!(t.placeholders(), Some("orders.{customer.region}.{type}"));
        assert_eq!(t.sample(), "orders.courier_probe.courier_probe");
        assert_eq!(t.filter(), "orders.*.*");
        let partial = SubjectTemplate::parse("orders.eu-{id}").unwrap();
        assert_eq!(partial.filter(), "orders.*");
    }

    #[test]
    fn unpublishable_subjects_are_refused() {
        for bad in [
            "",
            "orders created",
            "orders.*",
            "orders.>",
            "orders..x",
            ".orders",
            "orders.",
            "$JS.API.STREAM.DELETE.ORDERS",
            "a\tb",
        ] {
            assert!(SubjectTemplate::parse(bad).is_err(), "{bad:?}");
        }
        for bad in [
            "orders.{a",
            "orders.{}",
            "orders..{id}",
            "{id} x",
            "$SYS.{x}",
        ] {
            assert!(SubjectTemplate::parse(bad).is_err(), "{bad:?}");
        }
        assert!(check_subject(&"a".repeat(MAX_SUBJECT_CHARS + 1)).is_err());
        assert!(check_subject("orders.eu.1").is_ok());
    }
}
