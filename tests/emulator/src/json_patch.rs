//! JSON Patch (RFC 6902) limited to what Partner Center accepts: the `replace` and `add` operations, with JSON
//! Pointers (RFC 6901, `~0`/`~1` escapes) and `-` to append to an array.
//!
//! A patch is applied to a copy, so it takes effect whole or not at all.
//!
//! One leniency: `replace` of a member that is absent from an existing object sets it, where RFC 6902 would fail.
//! The service binds patches to a typed model whose properties always exist (null when unset), so replacing
//! `/details/closingDateTime` on a referral that has none works there.

use std::fmt;

use serde_json::Value;

/// Why a patch was refused; the text names the operation and path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PatchError(pub(crate) String);

impl fmt::Display for PatchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One parsed operation.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Operation {
    /// `add` or `replace`.
    pub(crate) op: Op,
    /// The pointer as written.
    pub(crate) path: String,
    /// The pointer's unescaped reference tokens.
    pub(crate) tokens: Vec<String>,
    /// The value to write.
    pub(crate) value: Value,
}

/// The supported operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    /// RFC 6902 `add`.
    Add,
    /// RFC 6902 `replace`.
    Replace,
}

/// Parses a patch document: a JSON array of `{op, path, value}` objects.
pub(crate) fn parse(document: &Value) -> Result<Vec<Operation>, PatchError> {
    let Value::Array(items) = document else {
        return Err(PatchError(
            "The request body must be a JSON Patch array of operations.".into(),
        ));
    };
    items
        .iter()
        .enumerate()
        .map(|(index, item)| {
            let Value::Object(fields) = item else {
                return Err(PatchError(format!("Patch operation {index} is not an object.")));
            };
            let op = match fields.get("op").and_then(Value::as_str) {
                Some("add") => Op::Add,
                Some("replace") => Op::Replace,
                Some(other) => {
                    return Err(PatchError(format!(
                        "Patch operation {index}: op '{other}' is not supported; only 'replace' and 'add' are."
                    )));
                }
                None => return Err(PatchError(format!("Patch operation {index} has no 'op'."))),
            };
            let Some(path) = fields.get("path").and_then(Value::as_str) else {
                return Err(PatchError(format!("Patch operation {index} has no 'path'.")));
            };
            let Some(value) = fields.get("value") else {
                return Err(PatchError(format!("Patch operation {index} ({path}) has no 'value'.")));
            };
            let tokens = parse_pointer(path).map_err(|why| PatchError(format!("Patch path '{path}': {why}")))?;
            Ok(Operation { op, path: path.to_owned(), tokens, value: value.clone() })
        })
        .collect()
}

/// Splits a JSON Pointer into its unescaped reference tokens (`""` is the whole document).
pub(crate) fn parse_pointer(pointer: &str) -> Result<Vec<String>, String> {
    if pointer.is_empty() {
        return Ok(Vec::new());
    }
    let Some(rest) = pointer.strip_prefix('/') else {
        return Err("a JSON Pointer starts with '/'".into());
    };
    rest.split('/').map(unescape).collect()
}

/// Undoes `~1` (`/`) and `~0` (`~`) in one reference token.
fn unescape(token: &str) -> Result<String, String> {
    let mut out = String::with_capacity(token.len());
    let mut chars = token.chars();
    while let Some(c) = chars.next() {
        if c == '~' {
            match chars.next() {
                Some('0') => out.push('~'),
                Some('1') => out.push('/'),
                _ => return Err(format!("'{token}' has a '~' that is not '~0' or '~1'")),
            }
        } else {
            out.push(c);
        }
    }
    Ok(out)
}

/// Applies the operations to a copy of `doc` and returns it; `doc` is untouched when an operation fails.
pub(crate) fn apply(doc: &Value, operations: &[Operation]) -> Result<Value, PatchError> {
    let mut out = doc.clone();
    for operation in operations {
        apply_one(&mut out, operation).map_err(|why| {
            let name = match operation.op {
                Op::Add => "add",
                Op::Replace => "replace",
            };
            PatchError(format!("Patch {name} '{}': {why}", operation.path))
        })?;
    }
    Ok(out)
}

/// Applies one operation in place.
fn apply_one(doc: &mut Value, operation: &Operation) -> Result<(), String> {
    let Some((last, parents)) = operation.tokens.split_last() else {
        *doc = operation.value.clone();
        return Ok(());
    };
    let mut target = doc;
    for token in parents {
        target = match target {
            Value::Object(map) => map
                .get_mut(token)
                .ok_or_else(|| format!("'{token}' does not exist"))?,
            Value::Array(items) => {
                let index = array_index(token, items.len())?;
                items
                    .get_mut(index)
                    .ok_or_else(|| format!("index {index} is out of range"))?
            }
            _ => {
                return Err(format!(
                    "'{token}' is inside a value that is neither an object nor an array"
                ));
            }
        };
    }
    match target {
        Value::Object(map) => {
            map.insert(last.clone(), operation.value.clone());
            Ok(())
        }
        Value::Array(items) => match operation.op {
            Op::Add if last == "-" => {
                items.push(operation.value.clone());
                Ok(())
            }
            Op::Add => {
                let index = array_index(last, items.len() + 1)?;
                items.insert(index, operation.value.clone());
                Ok(())
            }
            Op::Replace => {
                let index = array_index(last, items.len())?;
                items[index] = operation.value.clone();
                Ok(())
            }
        },
        Value::Null => Err("the parent of the target is null".into()),
        _ => Err("the parent of the target is neither an object nor an array".into()),
    }
}

/// Parses an array index token (digits, no leading zero) below `bound`.
fn array_index(token: &str, bound: usize) -> Result<usize, String> {
    let well_formed = !token.is_empty()
        && token.bytes().all(|b| b.is_ascii_digit())
        && (token == "0" || !token.starts_with('0'));
    if !well_formed {
        return Err(format!("'{token}' is not an array index"));
    }
    match token.parse::<usize>() {
        Ok(index) if index < bound => Ok(index),
        _ => Err(format!("index {token} is out of range")),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn patch(doc: &Value, ops: &Value) -> Result<Value, PatchError> {
        apply(doc, &parse(ops)?)
    }

    #[test]
    fn the_domain_example_applies() {
        let doc = json!({"status": "Active", "substatus": "Accepted", "details": {"dealValue": 1}, "team": []});
        let out = patch(
            &doc,
            &json!([
                {"op": "replace", "path": "/details/dealValue", "value": 25000},
                {"op": "replace", "path": "/details/closingDateTime", "value": "2024-06-30T00:00:00Z"},
                {"op": "replace", "path": "/status", "value": "Closed"},
                {"op": "replace", "path": "/substatus", "value": "Won"},
                {"op": "add", "path": "/team/-", "value": {"firstName": "Ana"}}
            ]),
        )
        .expect("the example applies");
        assert_eq!(
            out,
            json!({"status": "Closed", "substatus": "Won", "team": [{"firstName": "Ana"}],
                   "details": {"dealValue": 25000, "closingDateTime": "2024-06-30T00:00:00Z"}})
        );
    }

    #[test]
    fn pointer_escapes() {
        assert_eq!(
            parse_pointer("/a~1b/c~0d/~01").expect("valid"),
            vec!["a/b", "c~d", "~1"]
        );
        assert_eq!(parse_pointer("").expect("valid"), Vec::<String>::new());
        assert!(parse_pointer("a").is_err());
        assert!(parse_pointer("/a~2").is_err());
        let out = patch(
            &json!({}),
            &json!([{"op": "add", "path": "/a~1b", "value": 1}]),
        )
        .expect("applies");
        assert_eq!(out, json!({"a/b": 1}));
    }

    #[test]
    fn arrays_insert_replace_and_append() {
        let doc = json!({"list": [1, 2]});
        let out = patch(
            &doc,
            &json!([
                {"op": "add", "path": "/list/0", "value": 0},
                {"op": "replace", "path": "/list/2", "value": 20},
                {"op": "add", "path": "/list/3", "value": 3},
                {"op": "add", "path": "/list/-", "value": 4}
            ]),
        )
        .expect("applies");
        assert_eq!(out, json!({"list": [0, 1, 20, 3, 4]}));
        assert!(
            patch(
                &doc,
                &json!([{"op": "replace", "path": "/list/2", "value": 0}])
            )
            .is_err()
        );
        assert!(
            patch(
                &doc,
                &json!([{"op": "replace", "path": "/list/-", "value": 0}])
            )
            .is_err()
        );
        assert!(
            patch(
                &doc,
                &json!([{"op": "add", "path": "/list/01", "value": 0}])
            )
            .is_err()
        );
    }

    #[test]
    fn unsupported_and_malformed_operations_are_refused() {
        let doc = json!({"a": 1});
        for ops in [
            json!({"op": "add"}),
            json!([{"op": "remove", "path": "/a"}]),
            json!([{"op": "move", "from": "/a", "path": "/b"}]),
            json!([{"op": "add", "path": "/b"}]),
            json!([{"path": "/b", "value": 1}]),
            json!([{"op": "add", "value": 1}]),
            json!([1]),
        ] {
            assert!(patch(&doc, &ops).is_err(), "{ops}");
        }
        let error = patch(&doc, &json!([{"op": "remove", "path": "/a"}])).expect_err("refused");
        assert!(error.0.contains("'remove'"), "{error}");
    }

    #[test]
    fn a_failing_patch_changes_nothing() {
        let doc = json!({"a": 1, "b": {"c": 2}});
        let error = patch(
            &doc,
            &json!([
                {"op": "replace", "path": "/a", "value": 10},
                {"op": "add", "path": "/missing/x", "value": 1}
            ]),
        )
        .expect_err("the second operation fails");
        assert!(error.0.contains("/missing/x"), "{error}");
        assert_eq!(doc, json!({"a": 1, "b": {"c": 2}}));
    }

    #[test]
    fn replace_of_an_absent_member_sets_it_but_its_parent_must_exist() {
        let doc = json!({"details": {}, "empty": null});
        let out = patch(
            &doc,
            &json!([{"op": "replace", "path": "/details/dealValue", "value": 5}]),
        )
        .expect("sets");
        assert_eq!(out["details"]["dealValue"], json!(5));
        assert!(
            patch(
                &doc,
                &json!([{"op": "replace", "path": "/nothing/dealValue", "value": 5}])
            )
            .is_err()
        );
        assert!(
            patch(
                &doc,
                &json!([{"op": "replace", "path": "/empty/x", "value": 5}])
            )
            .is_err()
        );
    }
}
