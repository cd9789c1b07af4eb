//! Content filters on routes: a JSON document over the event's payload (`{"customer.tier":
//! "gold", "total": {"$gte": 100}}`), parsed once with every problem at its JSON path, then
//! matched against each payload as events are accepted.
//!
//! A document's keys are all required (an implicit `$and`). A key is a field (a dot path, or
//! nested objects: `{"customer": {"tier": "gold"}}` is `{"customer.tier": "gold"}`) or one of
//! `$and` / `$or` (arrays of documents) and `$not` (a document). A field's value is a value it
//! must equal, or an object of operators, all of which must hold: `$eq`, `$neq`, `$gt`, `$gte`,
//! `$lt`, `$lte` (numbers with numbers, strings with strings), `$in`, `$nin` (arrays),
//! `$startsWith`, `$endsWith` (strings), `$exists` (true or false) and `$not` (operators).
//! A field holding an array matches when any element does (so `{"tags": "vip"}` matches
//! `{"tags": ["new", "vip"]}`); `$neq` and `$nin` are the negations of `$eq` and `$in`. A
//! missing field matches only `$neq`, `$nin`, `$exists: false` and a `$not` of what it fails.

use std::cmp::Ordering;

use courier_core::FieldError;
use serde_json::{Map, Value};

/// The most conditions (fields, operators and logical nodes) one filter may hold: filters are
/// checked on every event, so their cost is bounded.
pub const MAX_CONDITIONS: usize = 256;
/// The deepest a filter may nest `$and`, `$or`, `$not` and field objects.
pub const MAX_DEPTH: usize = 16;

/// A parsed filter.
#[derive(Debug, Clone, PartialEq)]
pub struct Filter(Node);

#[derive(Debug, Clone, PartialEq)]
enum Node {
    All(Vec<Node>),
    Any(Vec<Node>),
    Not(Box<Node>),
    Field { path: Vec<String>, tests: Vec<Test> },
}

#[derive(Debug, Clone, PartialEq)]
enum Test {
    Eq(Value),
    Neq(Value),
    Compare(Ordering, bool, Value),
    In(Vec<Value>),
    Nin(Vec<Value>),
    StartsWith(String),
    EndsWith(String),
    Exists(bool),
    Not(Vec<Test>),
}

impl Filter {
    /// Parses `doc`, reporting every problem at its JSON pointer under `at` (e.g. `/filter`).
    pub fn parse(doc: &Value, at: &str) -> Result<Filter, Vec<FieldError>> {
        let mut parser = Parser::default();
        let node = parser.document(doc, at, &[], 0);
        if parser.conditions > MAX_CONDITIONS {
            parser.errors.push(FieldError::new(
                at,
                format!("has more than {MAX_CONDITIONS} conditions"),
            ));
        }
        match node {
            Some(node) if parser.errors.is_empty() => Ok(Filter(node)),
            _ => Err(parser.errors),
        }
    }

    /// Whether `payload` passes the filter.
    pub fn matches(&self, payload: &Value) -> bool {
        self.0.matches(payload)
    }
}

#[derive(Default)]
struct Parser {
    errors: Vec<FieldError>,
    conditions: usize,
}

/// `key` as one JSON pointer segment.
fn segment(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

impl Parser {
    fn error(&mut self, at: &str, message: impl Into<String>) {
        self.errors.push(FieldError::new(at, message));
    }

    fn too_deep(&mut self, at: &str, depth: usize) -> bool {
        if depth > MAX_DEPTH {
            self.error(at, format!("nests deeper than {MAX_DEPTH} levels"));
            return true;
        }
        false
    }

    /// A document: every key must hold.
    fn document(&mut self, v: &Value, at: &str, prefix: &[String], depth: usize) -> Option<Node> {
        if self.too_deep(at, depth) {
            return None;
        }
        let Some(map) = v.as_object() else {
            self.error(at, "must be an object of fields and conditions");
            return None;
        };
        let mut all = Vec::with_capacity(map.len());
        for (key, value) in map {
            self.conditions += 1;
            let here = format!("{at}/{}", segment(key));
            let node = match key.as_str() {
                "$and" | "$or" => self.list(key, value, &here, prefix, depth),
                "$not" => self
                    .document(value, &here, prefix, depth + 1)
                    .map(|n| Node::Not(Box::new(n))),
                k if k.starts_with('$') => {
                    self.error(
                        &here,
                        format!("{k} is not an operator here: a document takes fields, $and, $or and $not (field operators go inside a field, as {{\"total\": {{\"$gt\": 5}}}})"),
                    );
                    None
                }
                k => self.field(k, value, &here, prefix, depth),
            };
            all.extend(node);
        }
        Some(Node::All(all))
    }

    fn list(
        &mut self,
        op: &str,
        v: &Value,
        at: &str,
        prefix: &[String],
        depth: usize,
    ) -> Option<Node> {
        let items = match v.as_array() {
            Some(items) if !items.is_empty() => items,
            _ => {
                self.error(at, format!("{op} takes a non-empty array of documents"));
                return None;
            }
        };
        let nodes: Vec<Node> = items
            .iter()
            .enumerate()
            .filter_map(|(i, item)| self.document(item, &format!("{at}/{i}"), prefix, depth + 1))
            .collect();
        Some(if op == "$and" {
            Node::All(nodes)
        } else {
            Node::Any(nodes)
        })
    }

    fn field(
        &mut self,
        key: &str,
        v: &Value,
        at: &str,
        prefix: &[String],
        depth: usize,
    ) -> Option<Node> {
        let parts: Vec<&str> = key.split('.').collect();
        if parts.iter().any(|p| p.is_empty()) {
            self.error(at, "is not a field path (dot-separated names, none empty)");
            return None;
        }
        let mut path = prefix.to_vec();
        path.extend(parts.iter().map(|p| p.to_string()));
        match v {
            Value::Object(map) if map.is_empty() => {
                self.error(
                    at,
                    "is an empty object: to compare with {} write {\"$eq\": {}}",
                );
                None
            }
            Value::Object(map) if map.keys().all(|k| k.starts_with('$')) => {
                let tests = self.operators(map, at, depth + 1)?;
                Some(Node::Field { path, tests })
            }
            Value::Object(map) if map.keys().any(|k| k.starts_with('$')) => {
                self.error(
                    at,
                    "mixes operators ($...) with fields: put the fields under $and",
                );
                None
            }
            Value::Object(_) => self.document(v, at, &path, depth + 1),
            other => Some(Node::Field {
                path,
                tests: vec![Test::Eq(other.clone())],
            }),
        }
    }

    /// A field's operators: all must hold.
    fn operators(&mut self, map: &Map<String, Value>, at: &str, depth: usize) -> Option<Vec<Test>> {
        if self.too_deep(at, depth) {
            return None;
        }
        let before = self.errors.len();
        let mut tests = Vec::with_capacity(map.len());
        for (op, arg) in map {
            self.conditions += 1;
            let here = format!("{at}/{}", segment(op));
            let test = match op.as_str() {
                "$eq" => Some(Test::Eq(arg.clone())),
                "$neq" => Some(Test::Neq(arg.clone())),
                "$gt" | "$gte" | "$lt" | "$lte" => {
                    if arg.is_number() || arg.is_string() {
                        let (ord, or_equal) = match op.as_str() {
                            "$gt" => (Ordering::Greater, false),
                            "$gte" => (Ordering::Greater, true),
                            "$lt" => (Ordering::Less, false),
                            _ => (Ordering::Less, true),
                        };
                        Some(Test::Compare(ord, or_equal, arg.clone()))
                    } else {
                        self.error(&here, format!("{op} compares with a number or a string"));
                        None
                    }
                }
                "$in" | "$nin" => match arg.as_array() {
                    Some(items) => {
                        self.conditions += items.len() / 16;
                        Some(if op == "$in" {
                            Test::In(items.clone())
                        } else {
                            Test::Nin(items.clone())
                        })
                    }
                    None => {
                        self.error(&here, format!("{op} takes an array of values"));
                        None
                    }
                },
                "$startsWith" | "$endsWith" => match arg.as_str() {
                    Some(s) if op == "$startsWith" => Some(Test::StartsWith(s.to_string())),
                    Some(s) => Some(Test::EndsWith(s.to_string())),
                    None => {
                        self.error(&here, format!("{op} takes a string"));
                        None
                    }
                },
                "$exists" => match arg.as_bool() {
                    Some(b) => Some(Test::Exists(b)),
                    None => {
                        self.error(&here, "$exists takes true or false");
                        None
                    }
                },
                "$not" => match arg.as_object() {
                    Some(inner)
                        if !inner.is_empty() && inner.keys().all(|k| k.starts_with('$')) =>
                    {
                        self.operators(inner, &here, depth + 1).map(Test::Not)
                    }
                    _ => {
                        self.error(&here, "$not on a field takes an object of operators, as {\"$not\": {\"$in\": [1, 2]}}");
                        None
                    }
                },
                other => {
                    self.error(
                        &here,
                        format!("{other} is not an operator (one of $eq, $neq, $gt, $gte, $lt, $lte, $in, $nin, $startsWith, $endsWith, $exists, $not)"),
                    );
                    None
                }
            };
            tests.extend(test);
        }
        (self.errors.len() == before).then_some(tests)
    }
}

impl Node {
    fn matches(&self, payload: &Value) -> bool {
        match self {
            Node::All(nodes) => nodes.iter().all(|n| n.matches(payload)),
            Node::Any(nodes) => nodes.iter().any(|n| n.matches(payload)),
            Node::Not(node) => !node.matches(payload),
            Node::Field { path, tests } => {
                let value = lookup(payload, path);
                tests.iter().all(|t| t.holds(value))
            }
        }
    }
}

/// The value at `path`: object keys, or array indexes where the value is an array.
fn lookup<'a>(mut v: &'a Value, path: &[String]) -> Option<&'a Value> {
    for part in path {
        v = match v {
            Value::Object(map) => map.get(part)?,
            Value::Array(items) => items.get(part.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(v)
}

impl Test {
    fn holds(&self, value: Option<&Value>) -> bool {
        match self {
            Test::Eq(expected) => value.is_some_and(|v| any_element(v, |e| same(e, expected))),
            Test::Neq(expected) => !Test::Eq(expected.clone()).holds(value),
            Test::Compare(ord, or_equal, bound) => value.is_some_and(|v| {
                any_element(v, |e| {
                    compare(e, bound).is_some_and(|o| o == *ord || (*or_equal && o.is_eq()))
                })
            }),
            Test::In(items) => {
                value.is_some_and(|v| any_element(v, |e| items.iter().any(|item| same(e, item))))
            }
            Test::Nin(items) => !Test::In(items.clone()).holds(value),
            Test::StartsWith(s) => value.is_some_and(|v| {
                any_element(v, |e| e.as_str().is_some_and(|t| t.starts_with(s.as_str())))
            }),
            Test::EndsWith(s) => value.is_some_and(|v| {
                any_element(v, |e| e.as_str().is_some_and(|t| t.ends_with(s.as_str())))
            }),
            Test::Exists(expected) => value.is_some() == *expected,
            Test::Not(tests) => !tests.iter().all(|t| t.holds(value)),
        }
    }
}

/// `test` of the value itself, or of any element when the value is an array.
fn any_element(v: &Value, test: impl Fn(&Value) -> bool) -> bool {
    test(v) || v.as_array().is_some_and(|items| items.iter().any(&test))
}

/// JSON equality where numbers compare by value (`1` equals `1.0`).
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => compare_numbers(x, y) == Some(Ordering::Equal),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, a)| y.get(k).is_some_and(|b| same(a, b)))
        }
        _ => a == b,
    }
}

fn compare(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => compare_numbers(x, y),
        (Value::String(x), Value::String(y)) => Some(x.cmp(y)),
        _ => None,
    }
}

/// Integers compare exactly (no rounding through floats); mixed ones as floats.
fn compare_numbers(x: &serde_json::Number, y: &serde_json::Number) -> Option<Ordering> {
    if let (Some(a), Some(b)) = (x.as_i64(), y.as_i64()) {
        return Some(a.cmp(&b));
    }
    if let (Some(a), Some(b)) = (x.as_u64(), y.as_u64()) {
        return Some(a.cmp(&b));
    }
    x.as_f64()?.partial_cmp(&y.as_f64()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn filter(doc: Value) -> Filter {
        Filter::parse(&doc, "/filter").unwrap_or_else(|e| panic!("{doc}: {e:?}"))
    }

    fn errors(doc: Value) -> Vec<String> {
        let mut paths: Vec<String> = Filter::parse(&doc, "/filter")
            .unwrap_err()
            .into_iter()
            .map(|e| e.path)
            .collect();
        paths.sort();
        paths
    }

    #[test]
    fn each_operator_matches_as_documented() {
        let p = json!({
            "type": "order.created",
            "total": 120,
            "customer": {"tier": "gold", "email": "a@acme.io", "since": null},
            "tags": ["new", "vip"],
            "items": [{"sku": "A-1"}],
        });
        let yes = [
            json!({}),
            json!({"customer.tier": "gold"}),
            json!({"customer": {"tier": "gold"}}),
            json!({"total": 120.0}),
            json!({"total": {"$eq": 120}}),
            json!({"total": {"$neq": 5}}),
            json!({"total": {"$gt": 100, "$lte": 120}}),
            json!({"total": {"$gte": 120, "$lt": 121.5}}),
            json!({"customer.tier": {"$in": ["gold", "silver"]}}),
            json!({"customer.tier": {"$nin": ["bronze"]}}),
            json!({"customer.email": {"$endsWith": "@acme.io", "$startsWith": "a@"}}),
            json!({"customer.since": {"$exists": true}}),
            json!({"customer.phone": {"$exists": false}}),
            json!({"customer.phone": {"$neq": "x"}}),
            json!({"tags": "vip"}),
            json!({"tags": {"$in": ["vip"]}}),
            json!({"items.0.sku": "A-1"}),
            json!({"$or": [{"total": {"$lt": 10}}, {"tags": "vip"}]}),
            json!({"$and": [{"total": {"$gt": 1}}, {"type": {"$startsWith": "order."}}]}),
            json!({"$not": {"customer.tier": "bronze"}}),
            json!({"total": {"$not": {"$in": [1, 2]}}}),
            json!({"type": {"$gt": "order.a"}}),
        ];
        for doc in yes {
            assert!(filter(doc.clone()).matches(&p), "should match: {doc}");
        }
        let no = [
            json!({"customer.tier": "silver"}),
            json!({"total": "120"}),
            json!({"total": {"$gt": 120}}),
            json!({"total": {"$lt": "z"}}),
            json!({"customer.phone": "x"}),
            json!({"customer.phone": {"$gt": 1}}),
            json!({"customer.tier": {"$nin": ["gold"]}}),
            json!({"tags": {"$nin": ["vip"]}}),
            json!({"customer.since": {"$exists": false}}),
            json!({"total": {"$startsWith": "1"}}),
            json!({"$or": [{"total": {"$lt": 10}}, {"tags": "old"}]}),
            json!({"$not": {"tags": "vip"}}),
            json!({"items.1.sku": "A-1"}),
            json!({"customer": {"tier": "gold", "email": "b@acme.io"}}),
        ];
        for doc in no {
            assert!(!filter(doc.clone()).matches(&p), "should not match: {doc}");
        }
        // A scalar payload has no fields.
        assert!(!filter(json!({"a": 1})).matches(&json!(1)));
        assert!(filter(json!({"a": {"$exists": false}})).matches(&json!("text")));
    }

    #[test]
    fn every_mistake_is_reported_at_its_path() {
        assert_eq!(errors(json!([1])), ["/filter"]);
        assert_eq!(
            errors(json!({
                "total": {"$gt": [1], "$in": 3, "$regex": "x"},
                "a..b": 1,
                "$and": [],
                "$or": [{"x": {"$exists": "yes"}}, 5],
                "$where": "1",
                "c/d": {"$startsWith": 1},
                "m": {"$eq": 1, "f": 2},
                "e": {},
                "n": {"$not": 3},
            })),
            [
                "/filter/$and",
                "/filter/$or/0/x/$exists",
                "/filter/$or/1",
                "/filter/$where",
                "/filter/a..b",
                "/filter/c~1d/$startsWith",
                "/filter/e",
                "/filter/m",
                "/filter/n/$not",
                "/filter/total/$gt",
                "/filter/total/$in",
                "/filter/total/$regex",
            ]
        );
    }

    #[test]
    fn filters_are_bounded() {
        let mut deep = json!({"a": 1});
        for _ in 0..20 {
            deep = json!({"$not": deep});
        }
        assert!(errors(deep).iter().all(|p| p.starts_with("/filter")));
        let wide: Map<String, Value> = (0..300).map(|i| (format!("f{i}"), json!(i))).collect();
        assert_eq!(errors(Value::Object(wide)), ["/filter"]);
    }

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            "[$a-z.]{0,6}".prop_map(Value::from),
            prop::sample::select(vec![
                "$eq",
                "$neq",
                "$gt",
                "$in",
                "$not",
                "$and",
                "$or",
                "$exists",
                "$startsWith"
            ])
            .prop_map(Value::from),
        ];
        leaf.prop_recursive(5, 48, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
                prop::collection::btree_map(
                    prop::sample::select(vec![
                        "a",
                        "b.c",
                        "$eq",
                        "$neq",
                        "$gt",
                        "$lte",
                        "$in",
                        "$nin",
                        "$not",
                        "$and",
                        "$or",
                        "$exists",
                        "$endsWith",
                        "0",
                        ""
                    ]),
                    inner,
                    0..4
                )
                .prop_map(|m| Value::Object(
                    m.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
                )),
            ]
        })
    }

    proptest! {
        /// Any JSON either parses, and then matches any payload without panicking, or is
        /// refused with every error under the filter's path.
        #[test]
        fn arbitrary_documents_parse_or_are_refused_at_paths(doc in json_value(), payload in json_value()) {
            match Filter::parse(&doc, "/filter") {
                Ok(f) => { let _ = f.matches(&payload); }
                Err(errors) => {
                    prop_assert!(!errors.is_empty());
                    prop_assert!(errors.iter().all(|e| e.path.starts_with("/filter")));
                }
            }
        }
    }
}
