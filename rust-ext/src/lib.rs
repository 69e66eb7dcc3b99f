//! `baostore._bao`: the thin PyO3 binding of `baostore-core`.
//!
//! It only converts arguments (any C-contiguous buffer, borrowed without a copy), releases the
//! GIL for inputs of 2 KiB and more, and maps core errors onto `BaoError`. The Python facade
//! `baostore.bao` documents the API.

mod buffer;
mod builder;
mod errors;
mod functions;
mod hasher;
mod runs;
mod verifier;

use pyo3::prelude::*;

#[pymodule]
fn _bao(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add("MAX_SHIFT", baostore_core::MAX_SHIFT)?;
    module.add("BaoError", module.py().get_type::<errors::BaoError>())?;
    module.add_function(wrap_pyfunction!(functions::hash, module)?)?;
    module.add_function(wrap_pyfunction!(functions::outboard_size, module)?)?;
    module.add_function(wrap_pyfunction!(functions::outboard, module)?)?;
    module.add_function(wrap_pyfunction!(functions::coarsen, module)?)?;
    module.add_function(wrap_pyfunction!(functions::convert_format, module)?)?;
    module.add_function(wrap_pyfunction!(functions::cdc_cut_lengths, module)?)?;
    module.add_class::<hasher::Hasher>()?;
    module.add_class::<builder::OutboardBuilder>()?;
    module.add_class::<verifier::Verifier>()?;
    Ok(())
}
