//! Shared Key request signing, as a per-try pipeline policy (the Azure SDK signs only with
//! Entra ID tokens). Runs after every SDK header is set, so each retry is signed afresh.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use azure_core::http::policies::{Policy, PolicyResult};
use azure_core::http::{Context, Request};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Signs requests for one storage account with its key.
pub struct SharedKeyPolicy {
    account: String,
    /// The decoded account key.
    key: Vec<u8>,
}

impl fmt::Debug for SharedKeyPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedKeyPolicy")
            .field("account", &self.account)
            .field("key", &"***")
            .finish()
    }
}

impl SharedKeyPolicy {
    /// `key` is the base64 account key; `None` when it is not base64.
    pub fn new(account: &str, key: &str) -> Option<Self> {
        Some(SharedKeyPolicy {
            account: account.to_string(),
            key: STANDARD.decode(key.trim()).ok()?,
        })
    }

    /// The Shared Key signature of `string_to_sign`: base64 of its HMAC-SHA256 under the
    /// account key.
    pub fn signature(&self, string_to_sign: &str) -> String {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC accepts keys of any length");
        mac.update(string_to_sign.as_bytes());
        STANDARD.encode(mac.finalize().into_bytes())
    }
}

#[async_trait::async_trait]
impl Policy for SharedKeyPolicy {
    async fn send(
        &self,
        ctx: &Context,
        request: &mut Request,
        next: &[Arc<dyn Policy>],
    ) -> PolicyResult {
        let now = time::OffsetDateTime::now_utc();
        request.insert_header("x-ms-date", azure_core::time::to_rfc7231(&now));
        let signed = self.signature(&string_to_sign(&self.account, request));
        request.insert_header(
            "authorization",
            format!("SharedKey {}:{signed}", self.account),
        );
        next[0].send(ctx, request, &next[1..]).await
    }
}

/// The Shared Key string-to-sign (Blob service, version 2009-09-19 and later).
fn string_to_sign(account: &str, request: &Request) -> String {
    let headers = request.headers();
    let get = |name: &'static str| {
        headers
            .get_optional_str(&azure_core::http::headers::HeaderName::from_static(name))
            .unwrap_or("")
            .to_string()
    };
    let mut length = get("content-length");
    if length.is_empty() {
        length = request
            .body()
            .len()
            .map(|n| n.to_string())
            .unwrap_or_default();
    }
    if length == "0" {
        length.clear();
    }
    let mut ms: Vec<(String, String)> = headers
        .iter()
        .filter(|(k, _)| k.as_str().starts_with("x-ms-"))
        .map(|(k, v)| (k.as_str().to_string(), v.as_str().trim().to_string()))
        .collect();
    ms.sort();
    let canonical_headers: String = ms.iter().map(|(k, v)| format!("{k}:{v}\n")).collect();
    let url = request.url();
    let mut resource = format!("/{account}{}", url.path());
    let mut query: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (k, v) in url.query_pairs() {
        query
            .entry(k.to_lowercase())
            .or_default()
            .push(v.into_owned());
    }
    for (k, mut values) in query {
        values.sort();
        resource.push_str(&format!("\n{k}:{}", values.join(",")));
    }
    format!(
        "{}\n{}\n{}\n{length}\n{}\n{}\n\n{}\n{}\n{}\n{}\n{}\n{canonical_headers}{resource}",
        request.method().as_str(),
        get("content-encoding"),
        get("content-language"),
        get("content-md5"),
        get("content-type"),
        get("if-modified-since"),
        get("if-match"),
        get("if-none-match"),
        get("if-unmodified-since"),
        get("range"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_the_key() {
        let p = SharedKeyPolicy::new("acct", "c2VjcmV0LWtleQ==").unwrap();
        assert!(!format!("{p:?}").contains("c2VjcmV0"));
        assert!(SharedKeyPolicy::new("acct", "not base64!").is_none());
    }

    #[test]
    fn signature_matches_a_known_hmac() {
        // HMAC-SHA256 with key "key" over the classic test sentence (RFC 4231-style vector).
        let p = SharedKeyPolicy::new("acct", &STANDARD.encode("key")).unwrap();
        assert_eq!(
            p.signature("The quick brown fox jumps over the lazy dog"),
            STANDARD.encode([
                0xf7, 0xbc, 0x83, 0xf4, 0x30, 0x53, 0x84, 0x24, 0xb1, 0x32, 0x98, 0xe6, 0xaa, 0x6f,
                0xb1, 0x43, 0xef, 0x4d, 0x59, 0xa1, 0x49, 0x46, 0x17, 0x59, 0x97, 0x47, 0x9d, 0xbc,
                0x2d, 0x1a, 0x3c, 0xd8
            ])
        );
    }
}
