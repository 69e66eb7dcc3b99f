//! The exception types and the mapping of core errors and panics onto them.

use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};

use baostore_core::ErrorKind;
use pyo3::create_exception;
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;

create_exception!(
    baostore._bao,
    BaoError,
    PyValueError,
    "Data, a bao or a proof that does not verify or is malformed: the base of MismatchError and \
     MalformedBaoError, and a ValueError. Bad arguments raise plain ValueError or TypeError."
);
create_exception!(
    baostore._bao,
    MismatchError,
    BaoError,
    "Data, a bao or a proof does not match the root (or a stream is shorter or longer than its \
     window): a lie or damage. The message says where (group, blob offset, node)."
);
create_exception!(
    baostore._bao,
    MalformedBaoError,
    BaoError,
    "A bao or proof whose length cannot belong to the claimed size, shift and window."
);

/// The Python exception for a core error, of the type its kind names; a bad argument is a
/// `ValueError` that names it.
pub fn core_error(error: baostore_core::BaoError) -> PyErr {
    let message = match error.argument_name() {
        Some(name) => format!("argument '{name}': {}", error.message()),
        None => error.message().to_owned(),
    };
    match error.kind() {
        ErrorKind::Mismatch => MismatchError::new_err(message),
        ErrorKind::Malformed => MalformedBaoError::new_err(message),
        ErrorKind::Argument => PyValueError::new_err(message),
    }
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
