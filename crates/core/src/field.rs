//! `Field`: one field a destination accepts, as `describe_fields` reports it for field mapping.

use serde::{Deserialize, Serialize};

/// The type of a destination field, in JSON terms plus the common refinements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FieldType {
    String,
    Integer,
    Number,
    Boolean,
    Object,
    Array,
    Datetime,
    Binary,
    Any,
}

/// A field the destination accepts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Field {
    pub name: String,
    #[serde(rename = "type")]
    pub field_type: FieldType,
    pub required: bool,
    pub description: String,
}

impl Field {
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
