//! Identifiers, timestamps, slugs and API key material.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chacha20poly1305::aead::OsRng;
use chacha20poly1305::aead::rand_core::RngCore;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// A new time-ordered id (UUIDv7), so lists sort by creation.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// Now, as RFC 3339 UTC with milliseconds (`2024-01-15T09:30:00.123Z`).
pub fn now() -> String {
    timestamp(OffsetDateTime::now_utc())
}

pub fn timestamp(t: OffsetDateTime) -> String {
    let t = t
        .replace_nanosecond(t.millisecond() as u32 * 1_000_000)
        .unwrap_or(t);
    t.format(&Rfc3339).unwrap_or_default()
}

/// Now, in milliseconds since the Unix epoch (queue times compare as integers).
pub fn now_ms() -> i64 {
    (OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

/// An epoch-milliseconds time as RFC 3339.
pub fn timestamp_ms(ms: i64) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .map(timestamp)
        .unwrap_or_default()
}

/// When an id made by [`new_id`] was made (RFC 3339, ms precision): a UUIDv7 carries it.
pub fn time_of_id(id: &str) -> Option<String> {
    let (secs, nanos) = uuid::Uuid::parse_str(id).ok()?.get_timestamp()?.to_unix();
    Some(timestamp_ms(
        secs as i64 * 1000 + (nanos / 1_000_000) as i64,
    ))
}

/// Parses an RFC 3339 timestamp.
pub fn parse_timestamp(text: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(text, &Rfc3339).ok()
}

/// A URL-safe slug of a name: lowercase ASCII letters and digits joined by `-`.
pub fn slugify(name: &str) -> String {
    let mut slug = String::new();
    for c in name.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            slug.push(c);
        } else if !slug.is_empty() && !slug.ends_with('-') {
            slug.push('-');
        }
    }
    // Cut, then trim: a cut may end on a dash, which a slug may not.
    let slug: String = slug.chars().take(64).collect();
    let slug = slug.trim_end_matches('-');
    if slug.is_empty() {
        "destination".into()
    } else {
        slug.to_string()
    }
}

/// Random bytes from the operating system, URL-safe base64.
pub fn random_token(bytes: usize) -> String {
    let mut raw = vec![0u8; bytes];
    OsRng.fill_bytes(&mut raw);
    URL_SAFE_NO_PAD.encode(raw)
}

/// A new API key: `ck_` and 32 random bytes. Only its hash is stored.
pub fn new_api_key() -> String {
    format!("ck_{}", random_token(32))
}

/// How API keys are stored: SHA-256 (the keys are 256 random bits, so no slow hash is needed).
pub fn hash_api_key(key: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let digest = Sha256::digest(key.as_bytes());
    let mut out = String::with_capacity(64);
    for b in digest {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0xf)]));
    }
    out
}

/// Whether two secrets are equal, in time that does not depend on where they differ: their
/// SHA-256 digests (of equal length whatever the inputs) are compared byte by byte in full.
pub fn same_secret(given: &str, expected: &str) -> bool {
    let (a, b) = (Sha256::digest(given), Sha256::digest(expected));
    a.iter()
        .zip(b.iter())
        .fold(0u8, |diff, (x, y)| diff | (x ^ y))
        == 0
}

/// A Standard Webhooks signing secret: `whsec_` and base64 of 32 random bytes.
pub fn new_signing_secret() -> String {
    let mut raw = [0u8; 32];
    OsRng.fill_bytes(&mut raw);
    format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(raw)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_and_keys() {
        assert_eq!(
            slugify("Salesforce Production (EU)"),
            "salesforce-production-eu"
        );
        assert_eq!(slugify("!!!"), "destination");
        let key = new_api_key();
        assert!(key.starts_with("ck_") && key.len() > 40);
        assert_eq!(hash_api_key(&key), hash_api_key(&key));
        assert_ne!(hash_api_key(&key), hash_api_key(&new_api_key()));
        assert!(new_signing_secret().starts_with("whsec_"));
        let t = now();
        assert!(parse_timestamp(&t).is_some(), "{t}");
    }
}
