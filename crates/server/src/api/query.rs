//! Typed query strings: [`Params<T>`] refuses unknown parameters and parameters given twice,
//! parses each value as its field's type, then checks the result against `T`'s JSON Schema
//! (ranges, patterns), the schema the OpenAPI document lists the parameters from. Every problem
//! is answered at `/<name>` (422).

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use courier_core::FieldError;
use schemars::JsonSchema;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::AppState;
use super::error::ApiError;

/// A query string checked and parsed as `T`.
#[derive(Debug)]
pub struct Params<T>(pub T);

/// Parses a query string as `T`, every problem at its parameter's path.
pub fn parse<T>(query: &str) -> Result<T, Vec<FieldError>>
where
    T: DeserializeOwned + Serialize + JsonSchema + 'static,
{
    let mut seen = std::collections::HashSet::new();
    for (name, _) in form_urlencoded::parse(query.as_bytes()) {
        if !seen.insert(name.clone()) {
            return Err(vec![FieldError::new(
                format!("/{}", courier_core::spec::pointer_segment(&name)),
                "is given more than once",
            )]);
        }
    }
    let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
    let parsed: T = serde_path_to_error::deserialize(de).map_err(|e| {
        let inner = e.inner().to_string();
        let path = e.path().to_string();
        // serde names an unknown parameter only in its message.
        match inner.strip_prefix("unknown field `") {
            Some(rest) => {
                let name = rest.split('`').next().unwrap_or_default();
                vec![FieldError::new(
                    format!("/{}", courier_core::spec::pointer_segment(name)),
                    "is not a parameter of this route",
                )]
            }
            None if path == "." => vec![FieldError::new("", inner)],
            None => vec![FieldError::new(
                format!("/{path}"),
                format!("is invalid ({inner})"),
            )],
        }
    })?;
    // Ranges and patterns: the schema checks the typed values.
    let typed = serde_json::to_value(&parsed)
        .map_err(|e| vec![FieldError::new("", format!("is invalid ({e})"))])?;
    courier_core::schema::validate_as::<T>(&typed, "")?;
    Ok(parsed)
}

impl<T> FromRequestParts<Arc<AppState>> for Params<T>
where
    T: DeserializeOwned + Serialize + JsonSchema + Send + 'static,
{
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        parse(parts.uri.query().unwrap_or_default())
            .map(Params)
            .map_err(ApiError::validation)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize, Serialize, JsonSchema)]
    #[serde(deny_unknown_fields)]
    struct Example {
        #[schemars(range(min = 1, max = 500))]
        limit: Option<u32>,
        cursor: Option<String>,
    }

    #[test]
    fn each_problem_is_named_by_its_parameter() {
        let ok: Example = parse("limit=5&cursor=abc").unwrap();
        assert_eq!((ok.limit, ok.cursor.as_deref()), (Some(5), Some("abc")));
        let paths = |q: &str| {
            parse::<Example>(q)
                .unwrap_err()
                .into_iter()
                .map(|e| e.path)
                .collect::<Vec<_>>()
        };
        assert_eq!(paths("limit=x"), ["/limit"]);
        assert_eq!(paths("limit=0"), ["/limit"]);
        assert_eq!(paths("limit=501"), ["/limit"]);
        assert_eq!(paths("colour=red"), ["/colour"]);
        assert_eq!(paths("limit=1&limit=2"), ["/limit"]);
        assert!(parse::<Example>("").is_ok());
    }
}
