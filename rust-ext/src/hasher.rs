//! `Hasher`: plain BLAKE3 of data fed in pieces.

use baostore_core::Hasher as CoreHasher;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::buffer::{detach_if_large, ByteView};
use crate::errors::no_panic;

#[pyclass(module = "baostore._bao")]
#[derive(Default)]
pub struct Hasher {
    hasher: CoreHasher,
}

#[pymethods]
impl Hasher {
    #[new]
    fn new() -> Self {
        Self::default()
    }

    /// Feeds the next bytes.
    fn update(&mut self, py: Python<'_>, data: ByteView) -> PyResult<()> {
        let bytes = data.as_slice();
        let hasher = &mut self.hasher;
        detach_if_large(py, bytes.len(), || no_panic(|| hasher.update(bytes)))
    }

    /// The digest of everything fed so far.
    fn digest<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.hasher.finalize())
    }

    /// Bytes fed so far.
    #[getter]
    fn size(&self) -> u64 {
        self.hasher.size()
    }
}
