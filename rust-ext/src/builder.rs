//! `OutboardBuilder`: an outboard computed from data fed in pieces.

use baostore_core::OutboardBuilder as CoreBuilder;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::args;
use crate::buffer::{detach_if_large, ByteView};
use crate::errors::{core_error, no_panic};
use crate::locked::Locked;

/// Computes `outboard()` of data fed in pieces of any size, without keeping the data.
///
/// `update()` as often as needed, then `finalize()` once for `(root, bao)`.
#[pyclass(frozen, module = "baostore._bao")]
pub struct OutboardBuilder {
    state: Locked<State>,
}

struct State {
    /// `None` once finalized (or after a panic in the core left it unusable).
    builder: Option<CoreBuilder>,
    fed: u64,
}

/// The error for a builder used after `finalize()`.
pub fn finalized(class: &str) -> PyErr {
    PyValueError::new_err(format!("{class} was already finalized"))
}

#[pymethods]
impl OutboardBuilder {
    #[new]
    #[pyo3(signature = (shift=4, format="pre_order"))]
    fn new(#[pyo3(from_py_with = args::shift)] shift: u8, format: &str) -> PyResult<Self> {
        let format = args::format("format", format)?;
        let builder = no_panic(|| CoreBuilder::new(shift, format))?.map_err(core_error)?;
        Ok(Self {
            state: Locked::new(State {
                builder: Some(builder),
                fed: 0,
            }),
        })
    }

    /// Feeds the next bytes of the blob.
    fn update(&self, py: Python<'_>, data: ByteView) -> PyResult<()> {
        let bytes = data.as_slice();
        let mut state = self.state.lock(py)?;
        let builder = state
            .builder
            .as_mut()
            .ok_or_else(|| finalized("OutboardBuilder"))?;
        let outcome = detach_if_large(py, bytes.len(), || {
            no_panic(|| {
                builder.update(bytes);
                builder.size()
            })
        });
        match outcome {
            Ok(fed) => state.fed = fed,
            Err(_) => state.builder = None, // half-fed after a core panic: unusable
        }
        outcome.map(|_| ())
    }

    /// `(root, bao)` of everything fed, equal to `outboard()` of it; only once.
    fn finalize<'py>(
        &self,
        py: Python<'py>,
    ) -> PyResult<(Bound<'py, PyBytes>, Bound<'py, PyBytes>)> {
        let builder = self
            .state
            .lock(py)?
            .builder
            .take()
            .ok_or_else(|| finalized("OutboardBuilder"))?;
        // Cheap (the pending chaining values only): not worth releasing the GIL.
        let (root, bao) = no_panic(|| builder.finalize())?;
        Ok((PyBytes::new(py, &root), PyBytes::new(py, &bao)))
    }

    /// Bytes fed so far.
    #[getter]
    fn size(&self, py: Python<'_>) -> PyResult<u64> {
        Ok(self.state.lock(py)?.fed)
    }
}
