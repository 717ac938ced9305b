//! Python values in and out: Python objects to JSON text (records, mappings, results and filters arrive as dicts
//! or as JSON text), and the core's JSON values back to Python objects.

use std::io::Write as _;

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};
use serde_json::Value;

/// Nesting deeper than this is refused (a structure that contains itself would otherwise never end).
const MAX_DEPTH: usize = 128;

/// JSON text from a record argument: `str` and `bytes` (UTF-8) are taken as JSON text, anything else is
/// serialized as a JSON value. `what` names the argument in errors.
pub(crate) fn json_text(value: &Bound<'_, PyAny>, what: &str) -> PyResult<String> {
    if let Ok(s) = value.cast::<PyString>() {
        return Ok(s.to_str()?.to_owned());
    }
    if let Ok(b) = value.cast::<PyBytes>() {
        return String::from_utf8(b.as_bytes().to_vec()).map_err(|e| {
            PyValueError::new_err(format!(
                "{what}: the bytes are not UTF-8 (invalid byte at offset {})",
                e.utf8_error().valid_up_to()
            ))
        });
    }
    let mut out = Vec::with_capacity(256);
    write_value(value, &mut out, Path::Root(what), 0)?;
    // Only UTF-8 was written: `str` contents and ASCII.
    String::from_utf8(out).map_err(|_| PyValueError::new_err(format!("{what}: not UTF-8")))
}

/// Like [`json_text`], with `None` meaning "no record".
pub(crate) fn opt_json_text(
    value: Option<&Bound<'_, PyAny>>,
    what: &str,
) -> PyResult<Option<String>> {
    match value {
        None => Ok(None),
        Some(v) if v.is_none() => Ok(None),
        Some(v) => json_text(v, what).map(Some),
    }
}

/// Where a value is in the argument, built into text only for an error message (formatting a path for every key
/// of every record cost more than the conversion itself).
#[derive(Clone, Copy)]
enum Path<'a> {
    Root(&'a str),
    Key(&'a Path<'a>, &'a str),
    Index(&'a Path<'a>, usize),
}

impl std::fmt::Display for Path<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Path::Root(name) => f.write_str(name),
            Path::Key(parent, key) => write!(f, "{parent}.{key}"),
            Path::Index(parent, i) => write!(f, "{parent}[{i}]"),
        }
    }
}

fn write_value(
    value: &Bound<'_, PyAny>,
    out: &mut Vec<u8>,
    path: Path<'_>,
    depth: usize,
) -> PyResult<()> {
    if depth > MAX_DEPTH {
        return Err(PyValueError::new_err(format!(
            "{path}: nested more than {MAX_DEPTH} levels deep (or contains itself)"
        )));
    }
    if value.is_none() {
        out.extend_from_slice(b"null");
    } else if let Ok(s) = value.cast::<PyString>() {
        write_str(s.to_str()?, out);
    } else if let Ok(d) = value.cast::<PyDict>() {
        out.push(b'{');
        for (i, (k, v)) in d.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            let key = k.cast::<PyString>().map_err(|_| {
                PyTypeError::new_err(format!(
                    "{path}: a key is {}, expected str (JSON object keys are text)",
                    type_name(&k)
                ))
            })?;
            let key = key.to_str()?;
            write_str(key, out);
            out.push(b':');
            write_value(&v, out, Path::Key(&path, key), depth + 1)?;
        }
        out.push(b'}');
    } else if let Ok(b) = value.cast::<PyBool>() {
        out.extend_from_slice(if b.is_true() { b"true" } else { b"false" });
    } else if let Ok(i) = value.cast::<PyInt>() {
        // Writing into a Vec cannot fail.
        if let Ok(n) = i.extract::<i64>() {
            let _ = write!(out, "{n}");
        } else if let Ok(n) = i.extract::<u64>() {
            let _ = write!(out, "{n}");
        } else {
            // JSON numbers have no size limit; the core reads what it can and names the field otherwise.
            out.extend_from_slice(i.str()?.to_str()?.as_bytes());
        }
    } else if let Ok(f) = value.cast::<PyFloat>() {
        let x = f.value();
        let n = serde_json::Number::from_f64(x).ok_or_else(|| {
            PyValueError::new_err(format!(
                "{path}: {x} is not a JSON number (NaN and infinity are not)"
            ))
        })?;
        let _ = write!(out, "{n}");
    } else if value.cast::<PyList>().is_ok() || value.cast::<PyTuple>().is_ok() {
        out.push(b'[');
        for (i, item) in value.try_iter()?.enumerate() {
            if i > 0 {
                out.push(b',');
            }
            write_value(&item?, out, Path::Index(&path, i), depth + 1)?;
        }
        out.push(b']');
    } else {
        return Err(PyTypeError::new_err(format!(
            "{path}: expected a JSON value (dict, list, tuple, str, int, float, bool or None), got {}",
            type_name(value)
        )));
    }
    Ok(())
}

fn write_str(s: &str, out: &mut Vec<u8>) {
    // serde_json's string escaping; writing into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, s);
}

fn type_name(value: &Bound<'_, PyAny>) -> String {
    value
        .get_type()
        .name()
        .map_or_else(|_| "an object".to_owned(), |n| n.to_string())
}

/// A core JSON value as a Python object: `dict`, `list`, `str`, `int`, `float`, `bool` or `None`.
pub(crate) fn to_py<'py>(py: Python<'py>, value: &Value) -> PyResult<Bound<'py, PyAny>> {
    Ok(match value {
        Value::Null => py.None().into_bound(py),
        Value::Bool(b) => PyBool::new(py, *b).to_owned().into_any(),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                i.into_pyobject(py)?.into_any()
            } else if let Some(u) = n.as_u64() {
                u.into_pyobject(py)?.into_any()
            } else {
                n.as_f64().unwrap_or(f64::NAN).into_pyobject(py)?.into_any()
            }
        }
        Value::String(s) => PyString::new(py, s).into_any(),
        Value::Array(items) => {
            let list = PyList::empty(py);
            for item in items {
                list.append(to_py(py, item)?)?;
            }
            list.into_any()
        }
        Value::Object(map) => {
            let dict = PyDict::new(py);
            for (k, v) in map {
                dict.set_item(k, to_py(py, v)?)?;
            }
            dict.into_any()
        }
    })
}

/// Any serializable core value as a Python object (through its JSON form).
pub(crate) fn ser_to_py<'py, T: serde::Serialize>(
    py: Python<'py>,
    value: &T,
) -> PyResult<Bound<'py, PyAny>> {
    let json = serde_json::to_value(value)
        .map_err(|e| PyValueError::new_err(format!("cannot represent a value as JSON: {e}")))?;
    to_py(py, &json)
}
