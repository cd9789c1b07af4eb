//! Types every resource's requests and responses share: a page of a list, list parameters,
//! names, and the schema functions the route table hands the OpenAPI document.

use std::borrow::Cow;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};

/// Makes `T`'s schema in the document's generator: a `$ref` into `components.schemas` for
/// named types.
pub type SchemaFn = fn(&mut SchemaGenerator) -> Schema;

pub fn schema<T: JsonSchema>(generator: &mut SchemaGenerator) -> Schema {
    generator.subschema_for::<T>()
}

/// One page of a list, newest or first first; `next_cursor` fetches the next page (`null`:
/// this is the last).
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(rename = "{T}Page")]
pub struct Page<T> {
    pub data: Vec<T>,
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// A page of at most `limit` items, whose cursor is the last item's `id_of`.
    pub fn of(data: Vec<T>, limit: u32, id_of: impl Fn(&T) -> &str) -> Page<T> {
        let next_cursor = (data.len() == limit as usize)
            .then(|| data.last().map(|d| id_of(d).to_string()))
            .flatten();
        Page { data, next_cursor }
    }
}

/// The largest and the default page.
pub const MAX_PAGE: u32 = 500;
pub const DEFAULT_PAGE: u32 = 50;

/// `?limit=`: items per page, 1 to 500 (50 when omitted).
#[derive(Debug, Clone, Copy, Deserialize, Serialize)]
#[serde(transparent)]
pub struct Limit(pub u32);

impl JsonSchema for Limit {
    fn schema_name() -> Cow<'static, str> {
        "Limit".into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({"type": "integer", "minimum": 1, "maximum": MAX_PAGE,
                      "description": "Items per page (50 when omitted)"})
    }
}

/// The page size a list query asks for.
pub fn page_size(limit: Option<Limit>) -> u32 {
    limit.map_or(DEFAULT_PAGE, |l| l.0).clamp(1, MAX_PAGE)
}

/// `?cursor=`: the `next_cursor` of the page before (an id), in lower case whatever case it
/// came in (ids compare as text).
#[derive(Debug, Clone, Serialize)]
#[serde(transparent)]
pub struct Cursor(pub String);

impl<'de> Deserialize<'de> for Cursor {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(|c| Cursor(c.to_ascii_lowercase()))
    }
}

/// An id as the server makes them: a UUID.
pub const UUID_PATTERN: &str =
    "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$";

impl JsonSchema for Cursor {
    fn schema_name() -> Cow<'static, str> {
        "Cursor".into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({"type": "string", "pattern": UUID_PATTERN,
                      "description": "The next_cursor of the page before"})
    }
}

/// Characters a display name may not hold: control characters.
const NAME_PATTERN: &str = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$";

/// A display name: 1 to 200 characters, not only spaces, no control characters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Name(pub String);

impl JsonSchema for Name {
    fn schema_name() -> Cow<'static, str> {
        "Name".into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "minLength": 1,
            "maxLength": 200,
            "pattern": NAME_PATTERN,
        })
    }
}

/// An RFC 3339 time, as responses write them (`2024-01-15T09:30:00.123Z`).
#[derive(Debug)]
pub struct Timestamp;

impl JsonSchema for Timestamp {
    fn schema_name() -> Cow<'static, str> {
        "Timestamp".into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({"type": "string", "format": "date-time"})
    }
}

/// Reads a field that `null` clears: absent is `None`, `null` is `Some(None)`.
pub fn nullable<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// The id of a resource the server made: a UUID.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(transparent)]
pub struct Id(pub String);

impl JsonSchema for Id {
    fn schema_name() -> Cow<'static, str> {
        "Id".into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({"type": "string", "pattern": UUID_PATTERN})
    }
}

/// A string of identifier characters (ids, cursors, types in a path).
pub const ID_PATTERN: &str = r"^[A-Za-z0-9_.:-]+$";

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_name_has_a_visible_character_and_no_control_ones() {
        let schema = courier_core::schema::schema_of::<Name>();
        let ok =
            |s: &str| courier_core::schema::validate_against(&schema, &json!(s), "").is_empty();
        assert!(ok("Orders"));
        assert!(ok(" Orders · EU "));
        assert!(!ok(""));
        assert!(!ok("   "));
        assert!(!ok("a\u{0}b"));
        assert!(!ok("a\nb"));
        assert!(!ok("a\u{85}b"));
        assert!(!ok(&"x".repeat(201)));
    }
}
