//! `Hasher`: plain BLAKE3 of data fed in pieces.

use baostore_core::Hasher as CoreHasher;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::buffer::{detach_if_large, ByteView};
use crate::errors::no_panic;
use crate::locked::Locked;

/// Plain BLAKE3 of data fed in pieces (`hash()` of everything fed, without keeping it).
#[pyclass(frozen, module = "baostore._bao")]
pub struct Hasher {
    hasher: Locked<CoreHasher>,
}

#[pymethods]
impl Hasher {
    #[new]
    fn new() -> Self {
        Self {
            hasher: Locked::new(CoreHasher::new()),
        }
    }

    /// Feeds the next bytes.
    fn update(&self, py: Python<'_>, data: ByteView) -> PyResult<()> {
        let bytes = data.as_slice();
        let mut hasher = self.hasher.lock(py)?;
        let hasher = &mut *hasher;
        detach_if_large(py, bytes.len(), || no_panic(|| hasher.update(bytes)))
    }

    /// The 32-byte digest of everything fed so far; feeding may go on.
    fn digest<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        Ok(PyBytes::new(py, &self.hasher.lock(py)?.finalize()))
    }

    /// Bytes fed so far.
    #[getter]
    fn size(&self, py: Python<'_>) -> PyResult<u64> {
        Ok(self.hasher.lock(py)?.size())
    }
}
