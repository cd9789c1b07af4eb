//! Typed request bodies: [`Valid<T>`] takes `application/json` only (415 otherwise), requires a
//! body (422 when empty), refuses malformed JSON and keys given twice (400), then checks the
//! value against `T`'s JSON Schema, the same schema the OpenAPI document publishes, and answers
//! every problem at its JSON path (422) before `T` is built.

use std::sync::Arc;

use axum::extract::{FromRequest, Request};
use axum::http::header::CONTENT_TYPE;
use courier_core::FieldError;
use schemars::JsonSchema;
use serde::de::DeserializeOwned;

use super::AppState;
use super::body::read_bytes;
use super::error::ApiError;
use super::strict_json;

/// A request body type.
pub trait Input: DeserializeOwned + JsonSchema + Send + 'static {
    /// Whether the value at JSON path `path` is the tenant's own data, kept as written.
    fn as_written(_path: &str) -> bool {
        false
    }

    /// Fields responses carry that a body may not set: named "is read-only" rather than
    /// "unknown field".
    fn read_only() -> &'static [&'static str] {
        &[]
    }

    /// Whether no body at all means `{}` (every field is optional).
    const EMPTY_IS_EMPTY_OBJECT: bool = false;

    /// Builds the value from a body that passed the schema.
    fn from_checked(value: serde_json::Value) -> Result<Self, Vec<FieldError>> {
        courier_core::schema::from_checked(value, "")
    }
}

/// A body checked against `T`'s schema and parsed.
#[derive(Debug)]
pub struct Valid<T>(pub T);

/// Whether the request says its body is JSON (`application/json`, or a `+json` type).
pub fn is_json(req: &Request) -> bool {
    let Some(value) = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or_default().trim();
    essence.eq_ignore_ascii_case("application/json")
        || essence
            .rsplit_once('+')
            .is_some_and(|(kind, suffix)| kind.contains('/') && suffix.eq_ignore_ascii_case("json"))
}

/// Reads and parses a JSON body the way every typed route does, as a value.
pub async fn json_value(
    req: Request,
    state: &Arc<AppState>,
    as_written: fn(&str) -> bool,
    empty_is_empty_object: bool,
) -> Result<serde_json::Value, ApiError> {
    let json = is_json(&req);
    if !json && !empty_is_empty_object {
        return Err(ApiError::unsupported_media_type());
    }
    let bytes = read_bytes(req, state).await?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        if empty_is_empty_object {
            return Ok(serde_json::Value::Object(Default::default()));
        }
        return Err(ApiError::validation(vec![FieldError::new(
            "",
            "a JSON body is required",
        )]));
    }
    if !json {
        return Err(ApiError::unsupported_media_type());
    }
    strict_json::from_slice_keeping(&bytes, as_written)
        .map_err(|e| ApiError::bad_request(format!("the request body is not valid JSON: {e}")))
}

impl<T: Input> FromRequest<Arc<AppState>> for Valid<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &Arc<AppState>) -> Result<Self, Self::Rejection> {
        let value = json_value(req, state, T::as_written, T::EMPTY_IS_EMPTY_OBJECT).await?;
        let mut errors = Vec::new();
        if let Some(fields) = value.as_object() {
            for name in T::read_only() {
                if fields.contains_key(*name) {
                    errors.push(FieldError::new(
                        format!("/{}", courier_core::spec::pointer_segment(name)),
                        "is read-only",
                    ));
                }
            }
        }
        if !errors.is_empty() {
            return Err(ApiError::validation(errors));
        }
        courier_core::schema::validate_as::<T>(&value, "").map_err(ApiError::validation)?;
        T::from_checked(value)
            .map(Valid)
            .map_err(ApiError::validation)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_type(value: Option<&str>) -> Request {
        let mut req = Request::new(axum::body::Body::empty());
        if let Some(v) = value {
            req.headers_mut().insert(CONTENT_TYPE, v.parse().unwrap());
        }
        req
    }

    #[test]
    fn only_json_is_json() {
        for yes in [
            "application/json",
            "Application/JSON; charset=utf-8",
            "application/merge-patch+json",
        ] {
            assert!(is_json(&with_type(Some(yes))), "{yes}");
        }
        for no in [
            "text/plain",
            "application/x-www-form-urlencoded",
            "json",
            "text/json+xml",
        ] {
            assert!(!is_json(&with_type(Some(no))), "{no}");
        }
        assert!(!is_json(&with_type(None)));
    }
}
