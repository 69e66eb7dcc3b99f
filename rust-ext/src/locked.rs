//! Interior locking for the frozen pyclasses: safe when threads race, with the GIL released
//! (or on free-threaded Python).

use std::sync::{Mutex, MutexGuard};

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::sync::MutexExt;

/// A value that one thread at a time may use. Waiting for it detaches from the interpreter, so a
/// thread that holds it with the GIL released never deadlocks against one that waits.
pub struct Locked<T>(Mutex<T>);

impl<T> Locked<T> {
    pub fn new(value: T) -> Self {
        Self(Mutex::new(value))
    }

    /// The value, once no other thread uses it.
    pub fn lock(&self, py: Python<'_>) -> PyResult<MutexGuard<'_, T>> {
        // Core panics are caught inside the lock (`no_panic`), so a poisoned lock means a bug
        // in the binding itself; the state behind it cannot be trusted any more.
        self.0.lock_py_attached(py).map_err(|_| {
            PyRuntimeError::new_err("object is unusable after an internal error (please report)")
        })
    }
}
