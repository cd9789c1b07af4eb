//! JSON text to a value, strictly: a key given twice in one object is an error naming the key
//! and its object's JSON path (a lenient parser keeps one of the two silently, and which one
//! differs between parsers: a proxy and this server could read different requests). A number
//! written with a zero fraction (`1955.0`) is the integer it equals, as JSON Schema counts it,
//! except inside values the tenant owns (event payloads, metadata), which are kept as written.

use serde::de::{DeserializeSeed, Error as _, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

/// Parses `bytes` as one JSON value, refusing duplicate keys.
#[cfg(test)]
pub fn from_slice(bytes: &[u8]) -> Result<Value, serde_json::Error> {
    from_slice_keeping(bytes, |_| false)
}

/// As [`from_slice`]; values at the JSON paths `as_written` picks (and everything inside them)
/// keep their numbers as written.
pub fn from_slice_keeping(
    bytes: &[u8],
    as_written: fn(&str) -> bool,
) -> Result<Value, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let root = Strict {
        path: Some(String::new()),
        literal: as_written(""),
        as_written,
    };
    let value = root.deserialize(&mut de)?;
    de.end()?;
    Ok(value)
}

/// Builds a [`Value`] and knows where it is, to name a duplicate key's object. Inside a value
/// kept as written nothing depends on the path, so none is made (payloads are the bulk of
/// what is parsed); nor past [`MAX_TRACKED_PATH`] (serde_json's line and column still say
/// where).
struct Strict {
    path: Option<String>,
    /// Inside a value kept as written.
    literal: bool,
    as_written: fn(&str) -> bool,
}

/// Paths are tracked this long at most: the places that matter (`/events/0/payload`,
/// `/field_mapping/0/value`) are short, and building every path of a body with a long key and
/// many elements would cost its size squared.
const MAX_TRACKED_PATH: usize = 128;

impl Strict {
    fn child(&self, segment: impl FnOnce() -> String) -> Strict {
        let path = match (&self.path, self.literal) {
            (Some(parent), false) if parent.len() <= MAX_TRACKED_PATH => {
                let segment = segment();
                (segment.len() <= MAX_TRACKED_PATH).then(|| format!("{parent}/{segment}"))
            }
            _ => None,
        };
        Strict {
            literal: self.literal || path.as_deref().is_some_and(self.as_written),
            as_written: self.as_written,
            path,
        }
    }
}

impl<'de> DeserializeSeed<'de> for Strict {
    type Value = Value;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Strict {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Value, E> {
        // Every integral f64 below 2^63 (9.22e18, exactly representable) converts to i64 exactly.
        if !self.literal && v.fract() == 0.0 && v.abs() < 9.223_372_036_854_776e18 {
            return Ok(Value::Number((v as i64).into()));
        }
        Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom("a number out of range"))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1024));
        loop {
            let index = items.len();
            let child = self.child(|| index.to_string());
            match seq.next_element_seed(child)? {
                Some(item) => items.push(item),
                None => return Ok(Value::Array(items)),
            }
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        let mut map = Map::new();
        while let Some(key) = access.next_key::<String>()? {
            if map.contains_key(&key) {
                let at = match self.path.as_deref() {
                    Some("") => " at /".to_string(),
                    Some(path) => format!(" at {path}"),
                    None => String::new(),
                };
                return Err(A::Error::custom(format!(
                    "the key `{key}` appears twice in the object{at}"
                )));
            }
            let child = self.child(|| courier_core::spec::pointer_segment(&key));
            let value = access.next_value_seed(child)?;
            map.insert(key, value);
        }
        Ok(Value::Object(map))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    #[test]
    fn a_key_given_twice_is_refused_with_where() {
        let e = from_slice(br#"{"a": {"b": 1, "b": 2}}"#).unwrap_err();
        assert!(
            e.to_string()
                .contains("`b` appears twice in the object at /a"),
            "{e}"
        );
        let e = from_slice(br#"{"a": 1, "a": 1}"#).unwrap_err();
        assert!(e.to_string().contains("at /"), "{e}");
        let e = from_slice_keeping(br#"{"p": {"a": 1, "a": 2}}"#, |p| p == "/p").unwrap_err();
        assert!(e.to_string().contains("`a` appears twice"), "{e}");
        assert_eq!(
            from_slice(br#"{"a": [{"b": 1}, {"b": 2}], "c": 1.5}"#).unwrap(),
            json!({"a": [{"b": 1}, {"b": 2}], "c": 1.5})
        );
        assert!(from_slice(b"{} {}").is_err());
        assert!(from_slice(b"").is_err());
    }

    #[test]
    fn a_long_key_with_many_elements_costs_no_more_than_its_size() {
        // A 1 MiB key over a million elements: paths of every element would copy the key a
        // million times (a terabyte, and this test would never end); untracked, it parses as
        // fast as any body of its size.
        let key = "k".repeat(1 << 20);
        let body = format!("{{\"{key}\": [{}0]}}", "0,".repeat(1 << 20));
        let value = from_slice(body.as_bytes()).unwrap();
        assert_eq!(value[&key].as_array().unwrap().len(), (1 << 20) + 1);
    }

    #[test]
    fn integral_numbers_are_integers_except_where_kept_as_written() {
        let text = br#"{"n": 1955.0, "m": 1.5, "payload": {"n": 1955.0}, "list": [2.0]}"#;
        let kept = from_slice_keeping(text, |p| p == "/payload").unwrap();
        assert_eq!(kept["n"], json!(1955));
        assert!(kept["n"].is_u64() || kept["n"].is_i64());
        assert_eq!(kept["m"], json!(1.5));
        assert!(kept["payload"]["n"].is_f64());
        assert!(kept["list"][0].is_i64());
    }

    fn arbitrary_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|n| json!(n)),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(|f| json!(f)),
            ".{0,8}".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 32, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::btree_map(".{0,6}", inner, 0..6)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        /// Whatever serde_json writes (which has no duplicate keys), the strict parser reads
        /// back the same when keeping numbers as written; any byte string is an answer, never
        /// a panic.
        #[test]
        fn reads_back_what_serde_json_writes(v in arbitrary_json()) {
            let text = serde_json::to_vec(&v).unwrap();
            prop_assert_eq!(
                from_slice_keeping(&text, |_| true).unwrap(),
                serde_json::from_slice::<Value>(&text).unwrap()
            );
        }

        #[test]
        fn never_panics(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
            let _ = from_slice(&bytes);
        }
    }
}
