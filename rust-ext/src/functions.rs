//! The module-level functions: hashing, outboards, their conversions and CDC cut points.

use baostore_core::{cdc, BaoFormat, Hash, MAX_SHIFT};
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::buffer::{detach_if_large, ByteView};
use crate::errors::{core_error, no_panic, BaoError};

/// Parses "pre_order" / "leaves" with the core's own parser (one list of names).
pub fn parse_format(name: &str) -> PyResult<BaoFormat> {
    name.parse::<BaoFormat>().map_err(|_| {
        BaoError::new_err(format!(
            "unknown bao format {name:?}: expected \"pre_order\" or \"leaves\""
        ))
    })
}

/// Checks a shift against the core's range (group = 1024 << shift bytes).
pub fn parse_shift(shift: u32) -> PyResult<u8> {
    u8::try_from(shift)
        .ok()
        .filter(|&shift| shift <= MAX_SHIFT)
        .ok_or_else(|| BaoError::new_err(format!("shift {shift} is out of range 0..={MAX_SHIFT}")))
}

/// A root digest: exactly 32 bytes.
pub fn parse_root(root: &ByteView) -> PyResult<Hash> {
    let bytes = root.as_slice();
    Hash::try_from(bytes)
        .map_err(|_| BaoError::new_err(format!("root must be 32 bytes, got {}", bytes.len())))
}

/// The plain BLAKE3 digest of `data`.
#[pyfunction]
pub fn hash<'py>(py: Python<'py>, data: ByteView) -> PyResult<Bound<'py, PyBytes>> {
    let bytes = data.as_slice();
    let digest = detach_if_large(py, bytes.len(), || no_panic(|| baostore_core::hash(bytes)))?;
    Ok(PyBytes::new(py, &digest))
}

/// The length in bytes of the bao of a `size`-byte blob.
#[pyfunction]
#[pyo3(signature = (size, shift=4, format="pre_order"))]
pub fn outboard_size(size: u64, shift: u32, format: &str) -> PyResult<u64> {
    let (shift, format) = (parse_shift(shift)?, parse_format(format)?);
    no_panic(|| baostore_core::outboard_size(size, shift, format))?.map_err(core_error)
}

/// The root and the bao of `data`, using up to `threads` threads.
#[pyfunction]
#[pyo3(signature = (data, shift=4, format="pre_order", threads=1))]
pub fn outboard<'py>(
    py: Python<'py>,
    data: ByteView,
    shift: u32,
    format: &str,
    threads: usize,
) -> PyResult<(Bound<'py, PyBytes>, Bound<'py, PyBytes>)> {
    let (shift, format) = (parse_shift(shift)?, parse_format(format)?);
    let bytes = data.as_slice();
    let (root, bao) = detach_if_large(py, bytes.len(), || {
        no_panic(|| baostore_core::outboard(bytes, shift, format, threads))
    })?
    .map_err(core_error)?;
    Ok((PyBytes::new(py, &root), PyBytes::new(py, &bao)))
}

/// The bao at `to_shift` made from the bao at `from_shift`, without the data.
#[pyfunction]
#[pyo3(signature = (outboard, size, from_shift, to_shift, format="pre_order"))]
pub fn coarsen<'py>(
    py: Python<'py>,
    outboard: ByteView,
    size: u64,
    from_shift: u32,
    to_shift: u32,
    format: &str,
) -> PyResult<Bound<'py, PyBytes>> {
    let (from_shift, to_shift) = (parse_shift(from_shift)?, parse_shift(to_shift)?);
    let format = parse_format(format)?;
    let bao = outboard.as_slice();
    let coarse = detach_if_large(py, bao.len(), || {
        no_panic(|| baostore_core::coarsen(bao, size, from_shift, to_shift, format))
    })?
    .map_err(core_error)?;
    Ok(PyBytes::new(py, &coarse))
}

/// The same bao in another format.
#[pyfunction]
pub fn convert_format<'py>(
    py: Python<'py>,
    outboard: ByteView,
    size: u64,
    shift: u32,
    from_format: &str,
    to_format: &str,
) -> PyResult<Bound<'py, PyBytes>> {
    let shift = parse_shift(shift)?;
    let (from, to) = (parse_format(from_format)?, parse_format(to_format)?);
    let bao = outboard.as_slice();
    let converted = detach_if_large(py, bao.len(), || {
        no_panic(|| baostore_core::convert_format(bao, size, shift, from, to))
    })?
    .map_err(core_error)?;
    Ok(PyBytes::new(py, &converted))
}

/// FastCDC 2020 chunk lengths of `data`; without `final` the last, possibly cut-short, chunk
/// is left out.
#[pyfunction]
pub fn cdc_cut_lengths(
    py: Python<'_>,
    data: ByteView,
    min_size: u32,
    avg_size: u32,
    max_size: u32,
    r#final: bool,
) -> PyResult<Vec<u32>> {
    let bytes = data.as_slice();
    detach_if_large(py, bytes.len(), || {
        no_panic(|| cdc::cut_lengths(bytes, min_size, avg_size, max_size, r#final))
    })?
    .map_err(core_error)
}
