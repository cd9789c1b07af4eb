//! Connection tests streamed as Server-Sent Events (`event: step` per step as it finishes, then
//! one `event: done` with the summary), for a new config or a stored destination (whose
//! `status` then records the result), and field discovery.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::Path;
use axum::response::sse::{Event, KeepAlive, Sse};
use courier_core::{DestinationSpec, ErrorKind, Field, FieldError, TestEvent, TestReport};
use futures::{Stream, StreamExt};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::auth::Principal;
use super::error::{ApiError, ApiResult};
use super::input::ConnectorType;
use super::rules::Unresolved;
use super::secrets::{self, spec_of};
use super::valid::{Input, Valid};
use super::view::DestinationView;
use super::{AppState, State, view};

/// A comment every two seconds while a test runs: proxies keep the stream open, and a client
/// that went away is noticed (the write fails) and its test stopped within seconds.
fn keep_alive() -> KeepAlive {
    KeepAlive::new().interval(Duration::from_secs(2))
}

fn sse_event(event: &TestEvent) -> Event {
    let (name, data) = match event {
        TestEvent::Step(step) => ("step", serde_json::to_value(step)),
        TestEvent::Done(report) => ("done", serde_json::to_value(report)),
    };
    Event::default()
        .event(name)
        .data(data.unwrap_or(Value::Null).to_string())
}

/// A config to test before it is saved.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TestInput {
    pub destination_type: ConnectorType,
    /// Checked against the connector's `config_schema`.
    pub config: Map<String, Value>,
    #[serde(default)]
    #[schemars(with = "Map<String, Value>", extend("writeOnly" = true))]
    pub auth_config: Option<Map<String, Value>>,
    #[serde(default)]
    #[schemars(
        with = "String",
        length(min = 1, max = 200),
        extend("writeOnly" = true)
    )]
    pub signing_secret: Option<String>,
    #[serde(default)]
    #[schemars(with = "u64", range(min = 1))]
    pub payload_cap_bytes: Option<u64>,
}

impl Input for TestInput {}

/// A test's last event: the report, and for a stored destination the destination with the
/// status the test gave it.
#[derive(Debug, Serialize, JsonSchema)]
pub struct TestDone {
    #[serde(flatten)]
    pub report: TestReport,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub destination: Option<DestinationView>,
}

/// `POST .../destinations/test`.
pub async fn test_new(
    state: State,
    who: Principal,
    Path(ws): Path<String>,
    Valid(body): Valid<TestInput>,
) -> ApiResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    let state: Arc<AppState> = state.0;
    who.workspace(&ws)?;
    let mut errors = Vec::new();
    let destination_type = body.destination_type.0;
    who.may_use_type(&destination_type, "/destination_type")?;
    let connector = match state.catalog.get(&destination_type) {
        Ok(c) => Some(c),
        Err(e) => {
            errors.push(FieldError::new("/destination_type", e.to_string()));
            None
        }
    };
    let signing: Vec<String> = body.signing_secret.into_iter().collect();
    if !signing.is_empty()
        && connector.is_some()
        && !secrets::signs(&state.catalog, &destination_type)
    {
        errors.push(FieldError::new(
            "/signing_secret",
            format!("{destination_type} destinations are not signed"),
        ));
    }
    let spec = DestinationSpec {
        destination_id: "dest_test".into(),
        config: Value::Object(body.config),
        auth_config: secrets::effective_auth(body.auth_config.unwrap_or_default(), &signing),
        payload_cap_bytes: body.payload_cap_bytes,
        token_store: None,
        allow_private_network: state.config.allow_private_destinations,
    };
    // A config the connector refuses is a 422 with every problem at its path, as when saving
    // it; the stream's steps are for what only touching the target can tell.
    if connector.is_some() {
        errors.extend(state.catalog.validate(&destination_type, &spec));
    }
    errors.extend(
        state
            .rules
            .check(
                &destination_type,
                &spec.config,
                &spec.auth_config,
                Unresolved::Refuse,
            )
            .await,
    );
    let (Some(connector), true) = (connector, errors.is_empty()) else {
        return Err(ApiError::validation(errors));
    };
    let slot = state.tests.take(&ws)?;
    let deadline = Duration::from_millis(state.config.test_timeout_ms);
    // The slot lives as long as the stream: until the test ends or the client goes away.
    let events = courier_runtime::test_events(connector, spec, deadline).map(move |event| {
        let _running = &slot;
        Ok(sse_event(&event))
    });
    Ok(Sse::new(events).keep_alive(keep_alive()))
}

/// A stored destination that breaks the operator's current rules is not contacted.
async fn refuse_broken_rules(
    state: &AppState,
    destination_type: &str,
    spec: &DestinationSpec,
) -> ApiResult<()> {
    let broken = state
        .rules
        .check(
            destination_type,
            &spec.config,
            &spec.auth_config,
            Unresolved::Refuse,
        )
        .await;
    match broken.first() {
        None => Ok(()),
        Some(rule) => Err(ApiError::conflict(format!(
            "the destination breaks a server rule: {rule}"
        ))),
    }
}

/// The status a finished test gives its destination.
fn status_after(report: &TestReport) -> (&'static str, String) {
    match report.failed_step() {
        None => ("connected", String::new()),
        Some(step) if step.error_kind == Some(ErrorKind::ReauthRequired) => {
            ("reauth_required", step.message.clone())
        }
        Some(step) => ("error", format!("{}: {}", step.name, step.message)),
    }
}

/// `POST .../destinations/{id}/test`: tests the stored destination and records the result.
pub async fn test_existing(
    state: State,
    who: Principal,
    Path((ws, dest)): Path<(String, String)>,
) -> ApiResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    let state: Arc<AppState> = state.0;
    let ws = who.workspace(&ws)?.to_string();
    let d = state
        .store
        .destination(&ws, &dest)
        .await?
        .ok_or_else(|| ApiError::not_found("destination"))?;
    // A test records the destination's status: the permission to manage it.
    super::permissions::require(&who, &d, "manage_destination")?;
    let connector = state
        .catalog
        .get(&d.destination_type)
        .map_err(|e| ApiError::conflict(e.to_string()))?;
    let spec = spec_of(
        &state.sealer,
        &state.store,
        &d,
        state.config.allow_private_destinations,
    )?;
    refuse_broken_rules(&state, &d.destination_type, &spec).await?;
    let slot = Arc::new(state.tests.take(&ws)?);
    let deadline = Duration::from_millis(state.config.test_timeout_ms);
    let events = courier_runtime::test_events(connector, spec, deadline).then(move |event| {
        let (state, ws, dest, _running) = (state.clone(), ws.clone(), dest.clone(), slot.clone());
        async move {
            let TestEvent::Done(report) = &event else {
                return Ok(sse_event(&event));
            };
            let (status, error) = status_after(report);
            let saved = state
                .store
                .set_destination_status(&ws, &dest, status, &error)
                .await;
            let destination = match (saved, state.store.destination(&ws, &dest).await) {
                (Ok(()), Ok(Some(d))) => Some(view::destination(&state.catalog, &d)),
                _ => None,
            };
            let done = TestDone {
                report: report.clone(),
                destination,
            };
            let data = serde_json::to_string(&done).unwrap_or_default();
            Ok(Event::default().event("done").data(data))
        }
    });
    Ok(Sse::new(events).keep_alive(keep_alive()))
}

/// `GET .../destinations/{id}/fields`: what the destination accepts, from its connector.
pub async fn fields(
    state: State,
    who: Principal,
    Path((ws, dest)): Path<(String, String)>,
) -> ApiResult<Json<Vec<Field>>> {
    let ws = who.workspace(&ws)?;
    let d = state
        .store
        .destination(ws, &dest)
        .await?
        .ok_or_else(|| ApiError::not_found("destination"))?;
    who.sees(&d)?;
    let spec = spec_of(
        &state.sealer,
        &state.store,
        &d,
        state.config.allow_private_destinations,
    )?;
    refuse_broken_rules(&state, &d.destination_type, &spec).await?;
    let _running = state.tests.take(ws)?;
    let built = state
        .catalog
        .build(&d.destination_type, &spec)
        .await
        .map_err(|e| ApiError::conflict(format!("the destination cannot be built: {e}")))?;
    let fields = built.describe_fields().await.map_err(|e| {
        ApiError::conflict(format!(
            "the destination could not describe its fields: {} ({})",
            e.message, e.kind
        ))
    })?;
    Ok(Json(fields))
}
