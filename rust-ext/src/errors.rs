//! The `BaoError` exception and the mapping of core errors and panics onto Python exceptions.

use std::any::Any;
use std::fmt::Display;
use std::panic::{catch_unwind, AssertUnwindSafe};

use pyo3::create_exception;
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;

create_exception!(
    baostore._bao,
    BaoError,
    PyValueError,
    "A bao mismatch, a malformed bao or an invalid argument."
);

/// Turns any core error (they all carry a clear message) into a `BaoError`.
pub fn bao_error(error: impl Display) -> PyErr {
    BaoError::new_err(error.to_string())
}

/// Runs core code, turning a panic (a bug: the core is meant never to panic) into a Python
/// `RuntimeError` rather than pyo3's `PanicException`, which `except Exception` does not catch.
pub fn no_panic<T>(work: impl FnOnce() -> T) -> PyResult<T> {
    catch_unwind(AssertUnwindSafe(work)).map_err(|payload| {
        PyRuntimeError::new_err(format!(
            "internal error in baostore's bao core (please report): {}",
            panic_message(payload.as_ref())
        ))
    })
}

fn panic_message(payload: &(dyn Any + Send)) -> &str {
    if let Some(message) = payload.downcast_ref::<&str>() {
        message
    } else if let Some(message) = payload.downcast_ref::<String>() {
        message
    } else {
        "panic"
    }
}
