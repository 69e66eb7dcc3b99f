//! `OutboardBuilder`: an outboard computed from data fed in pieces.

use baostore_core::OutboardBuilder as CoreBuilder;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::buffer::{detach_if_large, ByteView};
use crate::errors::{core_error, no_panic, BaoError};
use crate::functions::{parse_format, parse_shift};

#[pyclass(module = "baostore._bao")]
pub struct OutboardBuilder {
    /// `None` once finalized (or after a panic in the core left it unusable).
    builder: Option<CoreBuilder>,
    fed: u64,
}

fn finalized() -> PyErr {
    BaoError::new_err("OutboardBuilder was already finalized")
}

#[pymethods]
impl OutboardBuilder {
    #[new]
    #[pyo3(signature = (shift=4, format="pre_order"))]
    fn new(shift: u32, format: &str) -> PyResult<Self> {
        let (shift, format) = (parse_shift(shift)?, parse_format(format)?);
        let builder = no_panic(|| CoreBuilder::new(shift, format))?.map_err(core_error)?;
        Ok(Self {
            builder: Some(builder),
            fed: 0,
        })
    }

    /// Feeds the next bytes of the blob.
    fn update(&mut self, py: Python<'_>, data: ByteView) -> PyResult<()> {
        let bytes = data.as_slice();
        // Taken out while it works so that a panicking core leaves it unusable, not half-fed.
        let mut builder = self.builder.take().ok_or_else(finalized)?;
        detach_if_large(py, bytes.len(), || no_panic(|| builder.update(bytes)))?;
        self.fed = builder.size();
        self.builder = Some(builder);
        Ok(())
    }

    /// The root and the bao of everything fed; the builder cannot be used afterwards.
    fn finalize<'py>(
        &mut self,
        py: Python<'py>,
    ) -> PyResult<(Bound<'py, PyBytes>, Bound<'py, PyBytes>)> {
        let builder = self.builder.take().ok_or_else(finalized)?;
        // Cheap (the pending chaining values only): not worth releasing the GIL.
        let (root, bao) = no_panic(|| builder.finalize())?;
        Ok((PyBytes::new(py, &root), PyBytes::new(py, &bao)))
    }

    /// Bytes fed so far.
    #[getter]
    fn size(&self) -> u64 {
        self.fed
    }
}
