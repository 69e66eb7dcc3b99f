//! `baostore._bao`: the thin PyO3 binding of `baostore-core`.
//!
//! It checks and converts arguments (any C-contiguous buffer, borrowed without a copy; ints
//! named in their errors), releases the GIL for inputs of 2 KiB and more, and maps core errors
//! onto `MismatchError` / `MalformedBaoError` (both `BaoError`) and bad arguments onto
//! `ValueError`. Its classes are the public types (re-exported by `baostore.bao`): frozen, with
//! a lock inside, so threads may share them with the GIL released.

mod args;
mod buffer;
mod builder;
mod errors;
mod functions;
mod hasher;
mod locked;
mod runs;
mod verifier;
mod windows;

use pyo3::prelude::*;

#[pymodule]
fn _bao(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add("MAX_SHIFT", baostore_core::MAX_SHIFT)?;
    module.add("MAX_THREADS", args::MAX_THREADS)?;
    module.add("BaoError", module.py().get_type::<errors::BaoError>())?;
    module.add(
        "MismatchError",
        module.py().get_type::<errors::MismatchError>(),
    )?;
    module.add(
        "MalformedBaoError",
        module.py().get_type::<errors::MalformedBaoError>(),
    )?;
    module.add_function(wrap_pyfunction!(functions::group_size, module)?)?;
    module.add_function(wrap_pyfunction!(functions::hash, module)?)?;
    module.add_function(wrap_pyfunction!(functions::outboard_size, module)?)?;
    module.add_function(wrap_pyfunction!(functions::outboard, module)?)?;
    module.add_function(wrap_pyfunction!(functions::coarsen, module)?)?;
    module.add_function(wrap_pyfunction!(functions::convert_format, module)?)?;
    module.add_function(wrap_pyfunction!(functions::cdc_cut_lengths, module)?)?;
    module.add_function(wrap_pyfunction!(functions::hash_file, module)?)?;
    module.add_function(wrap_pyfunction!(
        functions::encode_bao_cli_outboard,
        module
    )?)?;
    module.add_function(wrap_pyfunction!(
        functions::decode_bao_cli_outboard,
        module
    )?)?;
    module.add_class::<hasher::Hasher>()?;
    module.add_class::<builder::OutboardBuilder>()?;
    module.add_class::<verifier::Verifier>()?;
    module.add_function(wrap_pyfunction!(windows::window, module)?)?;
    module.add_function(wrap_pyfunction!(windows::proof_size, module)?)?;
    module.add_function(wrap_pyfunction!(windows::window_proof, module)?)?;
    module.add_function(wrap_pyfunction!(windows::pre_order_to_post_order, module)?)?;
    module.add_function(wrap_pyfunction!(windows::post_order_to_pre_order, module)?)?;
    module.add_class::<windows::PostOrderBuilder>()?;
    module.add_class::<windows::ProofPlan>()?;
    Ok(())
}
