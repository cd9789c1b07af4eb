//! Parsing Azure Storage connection strings (`Key=Value;...`) into the endpoint and the
//! credential they carry. Messages name the missing or malformed key, never a value.

use url::Url;

/// The parts of a connection string Courier uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionString {
    /// `AccountName` (`devstoreaccount1` with `UseDevelopmentStorage=true`).
    pub account_name: Option<String>,
    /// `AccountKey`, the base64 account key (the emulator's with `UseDevelopmentStorage=true`).
    pub account_key: Option<String>,
    /// `SharedAccessSignature`, a SAS query string.
    pub shared_access_signature: Option<String>,
    /// The blob service URL: `BlobEndpoint`, or built from the protocol, account and suffix.
    pub blob_endpoint: Option<String>,
}

/// The emulator's well-known account (published in Microsoft's Azurite documentation).
const DEV_ACCOUNT: &str = "devstoreaccount1";
const DEV_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

impl ConnectionString {
    /// Parses `Key=Value;...` (keys are case-insensitive; other services' keys are ignored).
    /// Fails unless it carries `AccountKey` (with `AccountName`) or `SharedAccessSignature`, and
    /// a blob endpoint that is an http(s) URL; the message names the problem, never a value.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut protocol = None;
        let mut suffix = None;
        let mut dev = false;
        let mut cs = ConnectionString {
            account_name: None,
            account_key: None,
            shared_access_signature: None,
            blob_endpoint: None,
        };
        for (n, part) in text.split(';').map(str::trim).enumerate() {
            if part.is_empty() {
                continue;
            }
            let Some((key, value)) = part.split_once('=') else {
                return Err(format!("part {} is not Key=Value", n + 1));
            };
            let value = value.trim().to_string();
            match key.trim().to_ascii_lowercase().as_str() {
                "defaultendpointsprotocol" => protocol = Some(value),
                "accountname" => cs.account_name = Some(value),
                "accountkey" => cs.account_key = Some(value),
                "sharedaccesssignature" => cs.shared_access_signature = Some(value),
                "blobendpoint" => cs.blob_endpoint = Some(value),
                "endpointsuffix" => suffix = Some(value),
                "usedevelopmentstorage" => dev = value.eq_ignore_ascii_case("true"),
                // Other services' endpoints and settings do not concern blobs.
                _ => {}
            }
        }
        if dev {
            cs.account_name.get_or_insert_with(|| DEV_ACCOUNT.into());
            cs.account_key.get_or_insert_with(|| DEV_KEY.into());
            cs.blob_endpoint
                .get_or_insert_with(|| format!("http://127.0.0.1:10000/{DEV_ACCOUNT}"));
        }
        if cs.account_key.is_none() && cs.shared_access_signature.is_none() {
            return Err("has neither AccountKey nor SharedAccessSignature".into());
        }
        if cs.account_key.is_some() && cs.account_name.is_none() {
            return Err("has AccountKey but no AccountName".into());
        }
        if cs.blob_endpoint.is_none()
            && let Some(account) = &cs.account_name
        {
            let protocol = protocol.as_deref().unwrap_or("https");
            let suffix = suffix.as_deref().unwrap_or("core.windows.net");
            cs.blob_endpoint = Some(format!("{protocol}://{account}.blob.{suffix}"));
        }
        match &cs.blob_endpoint {
            None => return Err("has no BlobEndpoint or AccountName".into()),
            Some(e) => match Url::parse(e) {
                Ok(u) if matches!(u.scheme(), "http" | "https") => {}
                _ => return Err("has a BlobEndpoint that is not an http(s) URL".into()),
            },
        }
        Ok(cs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn account_key_form() {
        let cs = ConnectionString::parse(
            "DefaultEndpointsProtocol=https;AccountName=acme;AccountKey=a2V5;EndpointSuffix=core.chinacloudapi.cn",
        )
        .unwrap();
        assert_eq!(cs.account_name.as_deref(), Some("acme"));
        assert_eq!(cs.account_key.as_deref(), Some("a2V5"));
        assert_eq!(
            cs.blob_endpoint.as_deref(),
            Some("https://acme.blob.core.chinacloudapi.cn")
        );
    }

    #[test]
    fn sas_form_and_emulator_shortcut() {
        let cs = ConnectionString::parse(
            "BlobEndpoint=https://acme.blob.core.windows.net/;SharedAccessSignature=sv=2024&sig=abc%3D",
        )
        .unwrap();
        assert_eq!(
            cs.shared_access_signature.as_deref(),
            Some("sv=2024&sig=abc%3D")
        );
        let dev = ConnectionString::parse("UseDevelopmentStorage=true").unwrap();
        assert_eq!(dev.account_name.as_deref(), Some(DEV_ACCOUNT));
    }

    #[test]
    fn errors_never_quote_values() {
        for (text, expected) in [
            (
                "AccountName=acme",
                "has neither AccountKey nor SharedAccessSignature",
            ),
            ("AccountKey=s3cr3t", "has AccountKey but no AccountName"),
            ("s3cr3t", "part 1 is not Key=Value"),
            (
                "BlobEndpoint=ftp://s3cr3t;AccountName=a;AccountKey=k",
                "has a BlobEndpoint that is not an http(s) URL",
            ),
        ] {
            assert_eq!(ConnectionString::parse(text).unwrap_err(), expected);
        }
    }

    proptest! {
        #[test]
        fn never_panics_nor_echoes(text in "\\PC{0,200}") {
            if let Err(message) = ConnectionString::parse(&text) {
                prop_assert!(text.len() < 4 || !message.contains(&text));
            }
        }
    }
}
