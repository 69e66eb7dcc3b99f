//! Argument checks, one home each: a bad argument is a `ValueError` (or a `TypeError` for the
//! wrong type) whose message names the argument.
//!
//! Integer arguments go through `from_py_with` functions, one per argument name, because pyo3
//! names the argument only in `TypeError`s it raises itself.

use baostore_core::{BaoFormat, Hash, MAX_SHIFT};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyInt};

use crate::buffer::ByteView;

/// A sanity bound on `outboard(threads=...)`; only the machine's cores help anyway.
pub const MAX_THREADS: u64 = 256;

/// An int argument `name` in `low..=high`.
fn int_in(object: &Bound<'_, PyAny>, name: &str, low: u64, high: u64) -> PyResult<u64> {
    if !object.is_instance_of::<PyInt>() || object.is_instance_of::<PyBool>() {
        return Err(PyTypeError::new_err(format!(
            "{name} must be an int, got {}",
            type_name(object)
        )));
    }
    match object.extract::<u64>() {
        Ok(value) if (low..=high).contains(&value) => Ok(value),
        _ => Err(PyValueError::new_err(format!(
            "{name} must be in {low}..={high}, got {object}"
        ))),
    }
}

pub fn type_name(object: &Bound<'_, PyAny>) -> String {
    object
        .get_type()
        .name()
        .map(|name| name.to_string())
        .unwrap_or_else(|_| "an unknown type".to_owned())
}

/// Defines `from_py_with` extractors: `fn(&Bound<PyAny>) -> PyResult<T>` for one argument name.
macro_rules! int_args {
    ($($function:ident -> $type:ty: $name:literal in $low:expr, $high:expr;)*) => {$(
        pub fn $function(object: &Bound<'_, PyAny>) -> PyResult<$type> {
            int_in(object, $name, $low, $high).map(|value| value as $type)
        }
    )*};
}

int_args! {
    shift -> u8: "shift" in 0, MAX_SHIFT as u64;
    from_shift -> u8: "from_shift" in 0, MAX_SHIFT as u64;
    to_shift -> u8: "to_shift" in 0, MAX_SHIFT as u64;
    stored_shift -> u8: "stored_shift" in 0, MAX_SHIFT as u64;
    size -> u64: "size" in 0, u64::MAX;
    start -> u64: "start" in 0, u64::MAX;
    end -> u64: "end" in 0, u64::MAX;
    max_gap -> u64: "max_gap" in 0, u64::MAX;
    threads -> usize: "threads" in 1, MAX_THREADS;
    min_size -> u32: "min_size" in 0, u32::MAX as u64;
    avg_size -> u32: "avg_size" in 0, u32::MAX as u64;
    max_size -> u32: "max_size" in 0, u32::MAX as u64;
}

/// `threads=None` (one per core) or a thread count.
pub fn optional_threads(object: &Bound<'_, PyAny>) -> PyResult<Option<usize>> {
    if object.is_none() {
        Ok(None)
    } else {
        threads(object).map(Some)
    }
}

/// `end=None` (the blob size) or an offset.
pub fn optional_end(object: &Bound<'_, PyAny>) -> PyResult<Option<u64>> {
    if object.is_none() {
        Ok(None)
    } else {
        end(object).map(Some)
    }
}

/// A wire format name, "pre_order" or "leaves", for the argument `name`.
pub fn format(name: &str, value: &str) -> PyResult<BaoFormat> {
    value.parse::<BaoFormat>().map_err(|_| {
        PyValueError::new_err(format!(
            "{name} must be \"pre_order\" or \"leaves\", got {value:?}"
        ))
    })
}

/// A root digest: exactly 32 bytes.
pub fn root(root: &ByteView) -> PyResult<Hash> {
    let bytes = root.as_slice();
    Hash::try_from(bytes)
        .map_err(|_| PyValueError::new_err(format!("root must be 32 bytes, got {}", bytes.len())))
}
