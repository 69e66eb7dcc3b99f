//! Borrowing the bytes of any buffer-protocol object without copying them.

use pyo3::buffer::PyBuffer;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyMemoryView;

use crate::args::type_name;

/// Inputs at least this long are processed with the GIL released (as blake3-py and hashlib do):
/// below it, releasing and re-acquiring the GIL costs more than the work.
pub const DETACH_THRESHOLD: usize = 2048;

/// A C-contiguous byte view of a Python object, held (exported) for as long as this lives.
pub struct ByteView {
    buffer: PyBuffer<u8>,
}

impl ByteView {
    /// The viewed bytes.
    pub fn as_slice(&self) -> &[u8] {
        let len = self.buffer.len_bytes();
        if len == 0 {
            return &[];
        }
        // SAFETY: the buffer is exported until `self.buffer` drops, it is C-contiguous (checked in
        // `extract_bound`) and `len_bytes` long. Exporters refuse to resize while exported; a
        // Python thread that writes into a mutable buffer while we hash it races as it would
        // with hashlib, which is the caller's business, not a memory-safety matter for the view.
        unsafe { std::slice::from_raw_parts(self.buffer.buf_ptr() as *const u8, len) }
    }
}

impl<'py> FromPyObject<'py> for ByteView {
    fn extract_bound(object: &Bound<'py, PyAny>) -> PyResult<Self> {
        match PyBuffer::<u8>::get(object) {
            Ok(buffer) => contiguous(buffer),
            // Buffers of other item types (array('i'), numpy floats, ...) are bytes too: view them
            // as unsigned bytes, which needs a contiguous memoryview.
            Err(_) => {
                let view = PyMemoryView::from(object).map_err(|_| {
                    PyTypeError::new_err(format!(
                        "expected a bytes-like object (buffer protocol), got {}",
                        type_name(object)
                    ))
                })?;
                if !view.getattr("c_contiguous")?.is_truthy()? {
                    return Err(not_contiguous());
                }
                contiguous(PyBuffer::<u8>::get(&view.call_method1("cast", ("B",))?)?)
            }
        }
    }
}

fn contiguous(buffer: PyBuffer<u8>) -> PyResult<ByteView> {
    if buffer.is_c_contiguous() {
        Ok(ByteView { buffer })
    } else {
        Err(not_contiguous())
    }
}

fn not_contiguous() -> PyErr {
    PyValueError::new_err("buffer is not C-contiguous: pass bytes(view) or a contiguous copy")
}

/// Runs `work` with the GIL released when `len` (the input size) makes that worthwhile.
pub fn detach_if_large<T, F>(py: Python<'_>, len: usize, work: F) -> T
where
    F: Send + FnOnce() -> T,
    T: Send,
{
    if len >= DETACH_THRESHOLD {
        py.allow_threads(work)
    } else {
        work()
    }
}
