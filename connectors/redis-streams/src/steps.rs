//! The Redis Streams connection test: a Redis server answers at the URL (before credentials
//! are judged) → it accepts the credentials → the stream key holds a stream or nothing yet
//! (XADD creates a missing stream) → the ACL lets the user run the delivery script's commands
//! on the stream and its guard keys (a dry run of the script: nothing is written).

use courier_core::{ConnectorError, ErrorKind, Probe, StepSpec};
use redis::Value;

use crate::client::RedisStreamsClient;
use crate::errors::{ACL_HINT, Action};
use crate::script::{self, DryRun, Invoke};

/// The steps, in order.
pub const STEPS: &[StepSpec] = &[
    StepSpec {
        name: "connection",
        label: "A Redis server answers at the URL",
    },
    StepSpec {
        name: "authentication",
        label: "Redis accepts the credentials",
    },
    StepSpec {
        name: "stream",
        label: "The stream key holds a stream (or nothing yet)",
    },
    StepSpec {
        name: "write_permission",
        label: "The ACL allows appending (a dry run of the delivery script)",
    },
];

/// What stands for the payload's values in a probe of a stream key read from the payload.
const PROBE_VALUE: &str = "courier-connection-test";

/// Runs the steps through `probe`.
pub async fn run(client: &RedisStreamsClient, probe: &mut Probe) -> Result<(), ConnectorError> {
    let target = client.target();
    probe
        .step("connection", async {
            let mut anonymous = client.anonymous().await?;
            let answer = redis::cmd("PING")
                .query_async::<Value>(&mut anonymous)
                .await;
            let tls = if target.starts_with("rediss:") {
                " over TLS"
            } else {
                ""
            };
            match answer {
                Ok(_) => Ok(((), format!("Redis answered PING at {target}{tls}"))),
                Err(e) if e.code().is_some() => Ok((
                    (),
                    format!(
                        "Redis answered at {target}{tls} ({} before authentication)",
                        e.code().unwrap_or("an error")
                    ),
                )),
                Err(e) => Err(crate::errors::classify(&e, &target, Action::Check("PING"))),
            }
        })
        .await?;

    probe
        .step("authentication", async {
            let lease = client.lease().await?;
            let mut connection = lease.connection.clone();
            if let Err(e) = redis::cmd("PING")
                .query_async::<Value>(&mut connection)
                .await
            {
                return Err(client.failed(&lease, &e, Action::Check("PING")).await);
            }
            // The user's name as Redis knows it, where the ACL lets the user ask.
            let who = redis::cmd("ACL")
                .arg("WHOAMI")
                .query_async::<String>(&mut connection)
                .await
                .ok()
                .or_else(|| client.username().map(str::to_string));
            let message = match (who, client.username()) {
                (Some(user), _) => format!("authenticated as {user}"),
                (None, None) => "connected without credentials: the server asks for none".into(),
                (None, Some(_)) => "authenticated".into(),
            };
            Ok(((), message))
        })
        .await?;

    probe.step("stream", check_stream(client)).await?;

    probe.step("write_permission", dry_run(client)).await
}

/// The stream step: what the fixed key holds, or why there is no single key to check.
async fn check_stream(client: &RedisStreamsClient) -> Result<((), String), ConnectorError> {
    let Some(key) = client.config.fixed_stream_key() else {
        return Ok((
            (),
            format!(
                "the stream key is read from each record ({}), so there is no single stream to check; XADD creates each stream, and a key holding another type fails its records alone",
                client.config.stream_key_template
            ),
        ));
    };
    let lease = client.lease().await?;
    let mut connection = lease.connection.clone();
    let kind = match redis::cmd("TYPE")
        .arg(key)
        .query_async::<String>(&mut connection)
        .await
    {
        Ok(kind) => kind,
        Err(e) => return Err(client.failed(&lease, &e, Action::Check("TYPE")).await),
    };
    match kind.as_str() {
        "stream" => {
            let length = redis::cmd("XLEN")
                .arg(key)
                .query_async::<u64>(&mut connection)
                .await
                .map(|n| format!(" ({n} entries)"))
                .unwrap_or_default();
            Ok(((), format!("stream {key} exists{length}")))
        }
        "none" => Ok((
            (),
            format!(
                "stream {key} does not exist yet, which is fine: the first XADD creates it (checked that the key holds no other type)"
            ),
        )),
        other => Err(ConnectorError::new(
            ErrorKind::Conflict,
            format!("key {key} holds a {other}, not a stream"),
            "set config.stream_key_template to another key, or remove the key that is in the way",
        )),
    }
}

/// The stream key a probe checks: the fixed key, or the template with every placeholder
/// standing for [`PROBE_VALUE`] (the text around placeholders is what ACL key patterns match).
pub fn probe_stream_key(template: &str) -> String {
    if !template.contains('{') {
        return template.to_string();
    }
    let mut out = String::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        match rest[open..].find('}') {
            Some(close) => {
                out.push_str(PROBE_VALUE);
                rest = &rest[open + close + 1..];
            }
            None => {
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

/// The write permission step: the delivery script's dry run, on the stream and a guard key.
async fn dry_run(client: &RedisStreamsClient) -> Result<((), String), ConnectorError> {
    let stream = probe_stream_key(&client.config.stream_key_template);
    let guard = script::guard_key(&stream, PROBE_VALUE);
    let maxlen = client.config.maxlen.unwrap_or(0);
    let lease = client.lease().await?;
    let mut connection = lease.connection.clone();
    let mut answer = script::dry_run(Invoke::Hash, &stream, &guard, maxlen)
        .query_async::<Value>(&mut connection)
        .await;
    if matches!(&answer, Err(e) if e.code() == Some("NOSCRIPT")) {
        answer = script::dry_run(Invoke::Code, &stream, &guard, maxlen)
            .query_async::<Value>(&mut connection)
            .await;
    }
    let value = match answer {
        Ok(v) => v,
        Err(e) => {
            return Err(client
                .failed(&lease, &e, Action::Check("the delivery script"))
                .await);
        }
    };
    match script::read_dry_run(&value) {
        Some(DryRun::Checked(denied)) if denied.is_empty() => Ok((
            (),
            format!(
                "the ACL lets the user run the delivery script, with XADD on stream {stream} and GET and SET on its guard keys (a dry run: nothing was written)"
            ),
        )),
        Some(DryRun::Checked(denied)) => Err(ConnectorError::new(
            ErrorKind::Forbidden,
            format!(
                "the ACL refuses {} on stream {stream} or its guard key {guard}",
                denied.join(", ")
            ),
            ACL_HINT,
        )),
        Some(DryRun::Unchecked) => Ok((
            (),
            "the user may run the delivery script; this Redis (before 7.0) cannot check XADD, GET and SET without running them, so a missing permission shows at the first delivery".to_string(),
        )),
        None => Err(ConnectorError::new(
            ErrorKind::Unavailable,
            "the delivery script's dry run answered something unexpected",
            "check that config.url points at Redis 7 or newer",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_keys_fill_placeholders() {
        assert_eq!(probe_stream_key("orders"), "orders");
        assert_eq!(
            probe_stream_key("orders:{customer.id}:{type}"),
            "orders:courier-connection-test:courier-connection-test"
        );
        assert_eq!(probe_stream_key("{a}"), PROBE_VALUE);
    }
}
