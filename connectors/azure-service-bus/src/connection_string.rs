//! Parsing Service Bus connection strings (`Endpoint=sb://...;SharedAccessKeyName=...;
//! SharedAccessKey=...[;EntityPath=...]`) into the namespace host and the key they carry.
//! Messages name the missing or malformed part, never a value.

use std::fmt;

/// The parts of a connection string Courier uses.
#[derive(Clone, PartialEq, Eq)]
pub struct ConnectionString {
    /// The namespace's host (with a port when the string names one), e.g.
    /// `acme.servicebus.windows.net`.
    pub host: String,
    /// The port the `Endpoint` names, if any.
    pub port: Option<u16>,
    /// `SharedAccessKeyName`.
    pub key_name: String,
    /// `SharedAccessKey`: a secret, never shown by Debug.
    pub key: String,
    /// `EntityPath`, when the policy belongs to one queue or topic.
    pub entity_path: Option<String>,
}

impl fmt::Debug for ConnectionString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectionString")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("key_name", &self.key_name)
            .field("key", &"***")
            .field("entity_path", &self.entity_path)
            .finish()
    }
}

impl ConnectionString {
    /// Parses `Key=Value;...` (keys are case-insensitive; others are ignored). Fails unless it
    /// has an `sb://` (or https) `Endpoint` with a host, `SharedAccessKeyName` and
    /// `SharedAccessKey`; the message names the problem, never a value.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut endpoint = None;
        let mut key_name = None;
        let mut key = None;
        let mut entity_path = None;
        let mut signature = false;
        for (n, part) in text.split(';').map(str::trim).enumerate() {
            if part.is_empty() {
                continue;
            }
            let Some((name, value)) = part.split_once('=') else {
                return Err(format!("part {} is not Key=Value", n + 1));
            };
            let value = value.trim().to_string();
            match name.trim().to_ascii_lowercase().as_str() {
                "endpoint" => endpoint = Some(value),
                "sharedaccesskeyname" => key_name = Some(value),
                "sharedaccesskey" => key = Some(value),
                "entitypath" => entity_path = Some(value),
                "sharedaccesssignature" => signature = true,
                // Other settings (TransportType, UseDevelopmentEmulator, ...) do not concern
                // the REST API.
                _ => {}
            }
        }
        if signature && key.is_none() {
            return Err(
                "carries a SharedAccessSignature, which expires; use a connection string with SharedAccessKeyName and SharedAccessKey".into(),
            );
        }
        let Some(endpoint) = endpoint else {
            return Err("has no Endpoint".into());
        };
        let url = url::Url::parse(&endpoint)
            .ok()
            .filter(|u| matches!(u.scheme(), "sb" | "https" | "http"))
            .filter(|u| u.username().is_empty() && u.password().is_none())
            .ok_or("has an Endpoint that is not an sb:// URL")?;
        let host = url
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or("has an Endpoint without a host")?
            .to_ascii_lowercase();
        let key_name = key_name
            .filter(|k| !k.is_empty())
            .ok_or("has no SharedAccessKeyName")?;
        let key = key
            .filter(|k| !k.is_empty())
            .ok_or("has no SharedAccessKey")?;
        if key_name.len() > 256 || key.len() > 256 {
            return Err("has a SharedAccessKeyName or SharedAccessKey longer than 256".into());
        }
        if let Some(path) = &entity_path
            && crate::config::entity_path_problem(path).is_some()
        {
            return Err("has an EntityPath that is not a queue or topic name".into());
        }
        Ok(ConnectionString {
            host,
            port: url.port(),
            key_name,
            key,
            entity_path,
        })
    }

    /// `host` or `host:port`, as requests name it.
    pub fn authority(&self) -> String {
        match self.port {
            Some(p) => format!("{}:{p}", self.host),
            None => self.host.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_portals_form_and_an_entity_policy() {
        let cs = ConnectionString::parse(
            "Endpoint=sb://Acme.servicebus.windows.net/;SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=abc+/def=",
        )
        .unwrap();
        assert_eq!(cs.host, "acme.servicebus.windows.net");
        assert_eq!(
            (cs.port, cs.key_name.as_str()),
            (None, "RootManageSharedAccessKey")
        );
        assert_eq!(cs.key, "abc+/def=", "a key's own `=` is kept");
        let cs = ConnectionString::parse(
            "endpoint=sb://127.0.0.1:5300/; sharedaccesskeyname=send ;SharedAccessKey=k;EntityPath=orders;",
        )
        .unwrap();
        assert_eq!(cs.authority(), "127.0.0.1:5300");
        assert_eq!(cs.entity_path.as_deref(), Some("orders"));
        assert!(!format!("{cs:?}").contains("SharedAccessKey=k"));
        assert!(format!("{cs:?}").contains("***"));
    }

    #[test]
    fn errors_name_the_problem_never_a_value() {
        for (text, expected) in [
            (
                "SharedAccessKeyName=a;SharedAccessKey=s3cr3t",
                "has no Endpoint",
            ),
            (
                "Endpoint=ftp://s3cr3t/;SharedAccessKeyName=a;SharedAccessKey=k",
                "has an Endpoint that is not an sb:// URL",
            ),
            (
                "Endpoint=sb://x/;SharedAccessKey=s3cr3t",
                "has no SharedAccessKeyName",
            ),
            ("s3cr3t", "part 1 is not Key=Value"),
            (
                "Endpoint=sb://x/;SharedAccessSignature=SharedAccessSignature sr=x&sig=s3cr3t",
                "carries a SharedAccessSignature, which expires; use a connection string with SharedAccessKeyName and SharedAccessKey",
            ),
            (
                "Endpoint=sb://x/;SharedAccessKeyName=a;SharedAccessKey=k;EntityPath=../s3cr3t",
                "has an EntityPath that is not a queue or topic name",
            ),
        ] {
            assert_eq!(
                ConnectionString::parse(text).unwrap_err(),
                expected,
                "{text}"
            );
        }
    }

    proptest! {
        #[test]
        fn hostile_strings_never_panic_nor_leak(
            noise in "\\PC{0,120}",
            key in "[A-Za-z0-9+/]{12,44}",
            glue in prop::sample::select(vec![";", "=", ";;", "==", " ; ", "\u{0}", "sb://"]),
        ) {
            let sentinel = format!("K3y{key}");
            for text in [
                noise.clone(),
                format!("{noise}{glue}SharedAccessKey={sentinel}"),
                format!("SharedAccessKey={sentinel}{glue}{noise}"),
                format!("Endpoint=sb://{noise}/;SharedAccessKeyName=n;SharedAccessKey={sentinel}"),
                format!("Endpoint={sentinel}{glue}SharedAccessKey={sentinel}"),
            ] {
                match ConnectionString::parse(&text) {
                    Err(message) => prop_assert!(!message.contains(&sentinel), "{message}"),
                    Ok(cs) => {
                        let shown = format!("{cs:?}");
                        prop_assert!(!shown.contains(&sentinel));
                    }
                }
            }
        }
    }
}
