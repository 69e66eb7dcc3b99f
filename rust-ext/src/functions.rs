//! The module-level functions: hashing, outboards, their conversions and CDC cut points.

use baostore_core::cdc;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::args;
use crate::buffer::{detach_if_large, ByteView};
use crate::errors::{core_error, no_panic};

/// The size in bytes of a chunk group at `shift`: `1024 << shift`.
#[pyfunction]
pub fn group_size(#[pyo3(from_py_with = args::shift)] shift: u8) -> PyResult<u64> {
    no_panic(|| baostore_core::group_len(shift))?.map_err(core_error)
}

/// The plain 32-byte BLAKE3 digest of `data` (the root of its bao at every shift).
#[pyfunction]
pub fn hash<'py>(py: Python<'py>, data: ByteView) -> PyResult<Bound<'py, PyBytes>> {
    let bytes = data.as_slice();
    let digest = detach_if_large(py, bytes.len(), || no_panic(|| baostore_core::hash(bytes)))?;
    Ok(PyBytes::new(py, &digest))
}

/// The length in bytes of the bao of a `size`-byte blob.
#[pyfunction]
#[pyo3(signature = (size, shift=4, format="pre_order"))]
pub fn outboard_size(
    #[pyo3(from_py_with = args::size)] size: u64,
    #[pyo3(from_py_with = args::shift)] shift: u8,
    format: &str,
) -> PyResult<u64> {
    let format = args::format("format", format)?;
    no_panic(|| baostore_core::outboard_size(size, shift, format))?.map_err(core_error)
}

/// `(root, bao)` of `data`; `threads > 1` hashes large inputs on several cores.
#[pyfunction]
#[pyo3(signature = (data, shift=4, format="pre_order", threads=1))]
pub fn outboard<'py>(
    py: Python<'py>,
    data: ByteView,
    #[pyo3(from_py_with = args::shift)] shift: u8,
    format: &str,
    #[pyo3(from_py_with = args::threads)] threads: usize,
) -> PyResult<(Bound<'py, PyBytes>, Bound<'py, PyBytes>)> {
    let format = args::format("format", format)?;
    let bytes = data.as_slice();
    let (root, bao) = detach_if_large(py, bytes.len(), || {
        no_panic(|| baostore_core::outboard(bytes, shift, format, threads))
    })?
    .map_err(core_error)?;
    Ok((PyBytes::new(py, &root), PyBytes::new(py, &bao)))
}

/// The bao at `to_shift` (>= `from_shift`) made from the bao at `from_shift`.
///
/// Needs no data: groups pair up into their parents. `outboard` is checked for its length only;
/// a wrong bao gives a wrong coarser bao, which any `Verifier` then rejects.
#[pyfunction]
#[pyo3(signature = (outboard, size, from_shift, to_shift, format="pre_order"))]
pub fn coarsen<'py>(
    py: Python<'py>,
    outboard: ByteView,
    #[pyo3(from_py_with = args::size)] size: u64,
    #[pyo3(from_py_with = args::from_shift)] from_shift: u8,
    #[pyo3(from_py_with = args::to_shift)] to_shift: u8,
    format: &str,
) -> PyResult<Bound<'py, PyBytes>> {
    let format = args::format("format", format)?;
    let bao = outboard.as_slice();
    let coarse = detach_if_large(py, bao.len(), || {
        no_panic(|| baostore_core::coarsen(bao, size, from_shift, to_shift, format))
    })?
    .map_err(core_error)?;
    Ok(PyBytes::new(py, &coarse))
}

/// The same bao (same blob, same shift) in `to_format`.
#[pyfunction]
pub fn convert_format<'py>(
    py: Python<'py>,
    outboard: ByteView,
    #[pyo3(from_py_with = args::size)] size: u64,
    #[pyo3(from_py_with = args::shift)] shift: u8,
    from_format: &str,
    to_format: &str,
) -> PyResult<Bound<'py, PyBytes>> {
    let from = args::format("from_format", from_format)?;
    let to = args::format("to_format", to_format)?;
    let bao = outboard.as_slice();
    let converted = detach_if_large(py, bao.len(), || {
        no_panic(|| baostore_core::convert_format(bao, size, shift, from, to))
    })?
    .map_err(core_error)?;
    Ok(PyBytes::new(py, &converted))
}

/// FastCDC 2020 chunk lengths of `data`, in order (they sum to `len(data)` if `final`).
///
/// Without `final` the last chunk, which the end of `data` may have cut short, is left out:
/// every length returned is final, and the caller feeds the rest again with more data.
#[pyfunction]
pub fn cdc_cut_lengths(
    py: Python<'_>,
    data: ByteView,
    #[pyo3(from_py_with = args::min_size)] min_size: u32,
    #[pyo3(from_py_with = args::avg_size)] avg_size: u32,
    #[pyo3(from_py_with = args::max_size)] max_size: u32,
    r#final: bool,
) -> PyResult<Vec<u32>> {
    let bytes = data.as_slice();
    detach_if_large(py, bytes.len(), || {
        no_panic(|| cdc::cut_lengths(bytes, min_size, avg_size, max_size, r#final))
    })?
    .map_err(core_error)
}

/// The BLAKE3 digest of the file at `path`, as `b3sum` computes it: memory-mapped (small and
/// non-regular files are read), on up to `threads` threads (None: one per core). OSError for a
/// missing or unreadable file or a directory. The GIL is released throughout.
#[pyfunction]
#[pyo3(signature = (path, threads=None))]
pub fn hash_file<'py>(
    py: Python<'py>,
    path: std::path::PathBuf,
    #[pyo3(from_py_with = args::optional_threads)] threads: Option<usize>,
) -> PyResult<Bound<'py, PyBytes>> {
    let digest =
        py.allow_threads(|| no_panic(|| baostore_core::hash_file(&path, threads.unwrap_or(0))))??;
    Ok(PyBytes::new(py, &digest))
}

/// The `bao` CLI's outboard (`bao encode --outboard`) of a `size`-byte blob: the size as 8
/// little-endian bytes, then the blob's shift-0 pre_order bao `outboard` (length checked).
#[pyfunction]
pub fn encode_bao_cli_outboard<'py>(
    py: Python<'py>,
    outboard: ByteView,
    #[pyo3(from_py_with = args::size)] size: u64,
) -> PyResult<Bound<'py, PyBytes>> {
    let encoded = no_panic(|| baostore_core::encode_bao_cli_outboard(outboard.as_slice(), size))?
        .map_err(core_error)?;
    Ok(PyBytes::new(py, &encoded))
}

/// `(size, outboard)` from a `bao` CLI outboard: the size it states and its shift-0 pre_order
/// bao. `MalformedBaoError` unless the length is exactly what that size needs.
#[pyfunction]
pub fn decode_bao_cli_outboard<'py>(
    py: Python<'py>,
    data: ByteView,
) -> PyResult<(u64, Bound<'py, PyBytes>)> {
    let (size, outboard) = no_panic(|| baostore_core::decode_bao_cli_outboard(data.as_slice()))?
        .map_err(core_error)?;
    Ok((size, PyBytes::new(py, outboard)))
}
