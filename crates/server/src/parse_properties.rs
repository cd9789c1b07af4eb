//! Property tests of the API's body parsers (destinations, events, routes with their field
//! mappings, workspaces): whatever JSON arrives, they never panic, and every error names a
//! JSON pointer into the body, to the field itself or, for a missing one, to the object that
//! lacks it.

use proptest::prelude::*;
use serde_json::{Map, Value};

use crate::api::event_routes::RouteInput;
use crate::api::events::EventInput;
use crate::api::input::{self, DestinationCreate, DestinationUpdate};
use crate::api::workspaces::WorkspaceCreate;
use crate::delivery::mapping;

/// Keys the parsers know, and keys that need escaping in a JSON pointer.
const KEYS: &[&str] = &[
    "name",
    "destination_type",
    "config",
    "auth_config",
    "enabled",
    "events",
    "event_types",
    "destination_id",
    "field_mapping",
    "metadata",
    "limits",
    "timeout_ms",
    "payload_cap_bytes",
    "type",
    "payload",
    "idempotency_key",
    "source",
    "target",
    "default",
    "value",
    "drop",
    "a/b",
    "~0",
    "~",
    "",
    "x.y",
];

fn json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        (-1e9f64..1e9).prop_map(Value::from),
        "\\PC{0,12}".prop_map(Value::from),
        prop::sample::select(KEYS).prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec(
                (
                    prop_oneof![
                        prop::sample::select(KEYS).prop_map(String::from),
                        "\\PC{0,6}"
                    ],
                    inner,
                ),
                0..6,
            )
            .prop_map(|pairs| Value::Object(pairs.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// `path` resolves in `body`, or its parent does (a field reported missing).
fn names_a_place(body: &Value, path: &str) -> bool {
    if body.pointer(path).is_some() {
        return true;
    }
    match path.rsplit_once('/') {
        Some((parent, _)) => body.pointer(parent).is_some_and(Value::is_object),
        None => false,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn destination_bodies(body in json()) {
        let (_, errors) = input::parse::<DestinationCreate>(&body);
        let (_, more) = input::parse::<DestinationUpdate>(&body);
        for e in errors.into_iter().chain(more) {
            prop_assert!(names_a_place(&body, &e.path), "{} in {body}", e.path);
        }
    }

    #[test]
    fn events(body in json()) {
        if let Err(errors) = courier_core::schema::parse_as::<EventInput>(body.clone(), "") {
            for e in errors {
                prop_assert!(names_a_place(&body, &e.path), "{} in {body}", e.path);
            }
        }
    }

    #[test]
    fn routes(body in json()) {
        if let Err(errors) = courier_core::schema::parse_as::<RouteInput>(body.clone(), "") {
            for e in errors {
                prop_assert!(names_a_place(&body, &e.path), "{} in {body}", e.path);
            }
        }
    }

    #[test]
    fn workspaces(body in json()) {
        if let Err(errors) = courier_core::schema::parse_as::<WorkspaceCreate>(body.clone(), "") {
            for e in errors {
                prop_assert!(names_a_place(&body, &e.path), "{} in {body}", e.path);
            }
        }
    }

    #[test]
    fn field_mappings(mapping in json()) {
        let body = serde_json::json!({"field_mapping": mapping});
        if let Err(errors) = mapping::parse(&body["field_mapping"]) {
            for e in errors {
                prop_assert!(names_a_place(&body, &e.path), "{} in {body}", e.path);
            }
        }
    }
}
