//! Standard Webhooks signing: `v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`, one
//! signature per active secret, space-separated.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use courier_core::Secret;
use hmac::{Hmac, Mac};
use sha2::Sha256;

const PREFIX: &str = "whsec_";

/// A decoded signing key. Debug is redacted.
#[derive(Clone)]
pub struct SigningKey(Vec<u8>);

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningKey(***)")
    }
}

impl SigningKey {
    /// Decodes `whsec_<base64>`; the key must be 24 to 64 bytes. Errors never quote the secret.
    pub fn parse(secret: &Secret) -> Result<Self, String> {
        let text = secret.expose();
        let b64 = text
            .strip_prefix(PREFIX)
            .ok_or_else(|| "must start with whsec_ followed by base64".to_string())?;
        let key = STANDARD
            .decode(b64)
            .map_err(|_| "must be whsec_ followed by valid base64".to_string())?;
        if !(24..=64).contains(&key.len()) {
            return Err(format!(
                "must decode to 24 to 64 bytes of key (this one has {})",
                key.len()
            ));
        }
        Ok(SigningKey(key))
    }

    /// The `v1,<base64>` signature of one message.
    pub fn sign(&self, msg_id: &str, timestamp: i64, body: &[u8]) -> String {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC accepts keys of any length");
        mac.update(msg_id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
    }
}

/// The `webhook-signature` header value: one signature per key, space-separated.
pub fn signature_header(keys: &[SigningKey], msg_id: &str, timestamp: i64, body: &[u8]) -> String {
    if let [key] = keys {
        return key.sign(msg_id, timestamp, body);
    }
    keys.iter()
        .map(|k| k.sign(msg_id, timestamp, body))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_webhooks_test_vector() {
        let key =
            SigningKey::parse(&Secret::new("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD")).unwrap();
        let sig = key.sign(
            "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk",
            1649367553,
            br#"{"email":"test@example.com","username":"test_user"}"#,
        );
        assert_eq!(sig, "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=");
    }

    #[test]
    fn rotation_signs_with_every_key() {
        let a = SigningKey::parse(&Secret::new("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD")).unwrap();
        let b = SigningKey::parse(&Secret::new(format!(
            "whsec_{}",
            STANDARD.encode([7u8; 32])
        )))
        .unwrap();
        let header = signature_header(&[a.clone(), b.clone()], "m", 1, b"{}");
        let parts: Vec<&str> = header.split(' ').collect();
        assert_eq!(parts, [a.sign("m", 1, b"{}"), b.sign("m", 1, b"{}")]);
    }

    #[test]
    fn bad_secrets_are_refused_without_echo() {
        for bad in ["nope", "whsec_!!!", "whsec_AAAA"] {
            let err = SigningKey::parse(&Secret::new(bad)).unwrap_err();
            assert!(!err.contains(bad), "{err}");
        }
        let long = format!("whsec_{}", STANDARD.encode([1u8; 65]));
        assert!(SigningKey::parse(&Secret::new(long)).is_err());
    }
}
