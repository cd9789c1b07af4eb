//! `Field`: one field a destination accepts, as `describe_fields` reports it for field mapping.

use serde::{Deserialize, Serialize};

/// The type of a destination field, in JSON terms plus the common refinements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FieldType {
    /// A JSON string.
    String,
    /// A whole number.
    Integer,
    /// Any JSON number, fractional or not.
    Number,
    /// `true` or `false`.
    Boolean,
    /// A JSON object.
    Object,
    /// A JSON array.
    Array,
    /// A date and time, as a string.
    Datetime,
    /// Raw bytes.
    Binary,
    /// Any JSON value.
    Any,
}

/// A field the destination accepts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Field {
    /// The field's name at the destination, as mappings target it.
    pub name: String,
    /// The type of value it takes (`type` in JSON).
    #[serde(rename = "type")]
    pub field_type: FieldType,
    /// Whether every record must set it.
    pub required: bool,
    /// What the field holds, for a person mapping fields; may be empty.
    pub description: String,
}

impl Field {
    /// A field from its parts.
    pub fn new(
        name: impl Into<String>,
        field_type: FieldType,
        required: bool,
        description: impl Into<String>,
    ) -> Self {
        Field {
            name: name.into(),
            field_type,
            required,
            description: description.into(),
        }
    }
}
