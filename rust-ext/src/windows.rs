//! Windows and their proofs, the post-order storage layout and proof plans over it.

use baostore_core::{Layout, PostOrderBuilder as CoreBuilder, ProofPlan as CorePlan};
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::buffer::{detach_if_large, ByteView};
use crate::errors::{core_error, no_panic, BaoError};
use crate::functions::{parse_format, parse_root, parse_shift};
use crate::locked::Locked;

/// Parses "pre_order" / "post_order" / "leaves" with the core's parser.
fn parse_layout(name: &str) -> PyResult<Layout> {
    name.parse::<Layout>().map_err(core_error)
}

/// The window `[start, end)` rounded out to groups at `shift`.
#[pyfunction]
pub fn window(size: u64, shift: u32, start: u64, end: u64) -> PyResult<(u64, u64)> {
    let shift = parse_shift(shift)?;
    no_panic(|| baostore_core::window(size, shift, start, end))?.map_err(core_error)
}

/// The length in bytes of the proof of the window `[start, end)` (rounded out to groups).
#[pyfunction]
pub fn proof_size(size: u64, shift: u32, format: &str, start: u64, end: u64) -> PyResult<u64> {
    let (shift, format) = (parse_shift(shift)?, parse_format(format)?);
    no_panic(|| baostore_core::proof_size(size, shift, format, start, end))?.map_err(core_error)
}

/// The proof of the window `[start, end)` from the whole bao `outboard` (in `layout`).
#[allow(clippy::too_many_arguments)]
#[pyfunction]
#[pyo3(signature = (outboard, size, shift, format, start, end, layout=None))]
pub fn window_proof<'py>(
    py: Python<'py>,
    outboard: ByteView,
    size: u64,
    shift: u32,
    format: &str,
    start: u64,
    end: u64,
    layout: Option<&str>,
) -> PyResult<Bound<'py, PyBytes>> {
    let (shift, format) = (parse_shift(shift)?, parse_format(format)?);
    let layout = match layout {
        Some(name) => parse_layout(name)?,
        None => Layout::from(format),
    };
    let bao = outboard.as_slice();
    // Leaves rebuild every parent; the others touch O(log n + window) pairs.
    let work = if layout == Layout::Leaves {
        bao.len()
    } else {
        0
    };
    let proof = detach_if_large(py, work, || {
        no_panic(|| baostore_core::window_proof(bao, layout, size, shift, format, start, end))
    })?
    .map_err(core_error)?;
    Ok(PyBytes::new(py, &proof))
}

/// A pre_order bao rewritten in the post_order layout.
#[pyfunction]
pub fn pre_order_to_post_order<'py>(
    py: Python<'py>,
    outboard: ByteView,
    size: u64,
    shift: u32,
) -> PyResult<Bound<'py, PyBytes>> {
    let shift = parse_shift(shift)?;
    let bao = outboard.as_slice();
    let post = detach_if_large(py, bao.len(), || {
        no_panic(|| baostore_core::pre_order_to_post_order(bao, size, shift))
    })?
    .map_err(core_error)?;
    Ok(PyBytes::new(py, &post))
}

/// A post_order bao rewritten in the pre_order layout.
#[pyfunction]
pub fn post_order_to_pre_order<'py>(
    py: Python<'py>,
    outboard: ByteView,
    size: u64,
    shift: u32,
) -> PyResult<Bound<'py, PyBytes>> {
    let shift = parse_shift(shift)?;
    let bao = outboard.as_slice();
    let pre = detach_if_large(py, bao.len(), || {
        no_panic(|| baostore_core::post_order_to_pre_order(bao, size, shift))
    })?
    .map_err(core_error)?;
    Ok(PyBytes::new(py, &pre))
}

/// Streams a blob's post_order bao while the blob is fed.
#[pyclass(frozen, module = "baostore._bao")]
pub struct PostOrderBuilder {
    /// `None` once finalized.
    builder: Locked<Option<CoreBuilder>>,
}

fn finalized() -> PyErr {
    BaoError::new_err("PostOrderBuilder was already finalized")
}

#[pymethods]
impl PostOrderBuilder {
    #[new]
    #[pyo3(signature = (shift=4))]
    fn new(shift: u32) -> PyResult<Self> {
        let shift = parse_shift(shift)?;
        let builder = no_panic(|| CoreBuilder::new(shift))?.map_err(core_error)?;
        Ok(Self {
            builder: Locked::new(Some(builder)),
        })
    }

    /// Feeds the next bytes; returns the pairs of the parents completed since the last call.
    fn update<'py>(&self, py: Python<'py>, data: ByteView) -> PyResult<Bound<'py, PyBytes>> {
        let bytes = data.as_slice();
        let mut guard = self.builder.lock(py)?;
        let builder = guard.as_mut().ok_or_else(finalized)?;
        let mut pairs = Vec::new();
        let outcome = detach_if_large(py, bytes.len(), || {
            no_panic(|| builder.update(bytes, &mut pairs))
        });
        if outcome.is_err() {
            *guard = None; // half-fed after a core panic: unusable
        }
        outcome?;
        Ok(PyBytes::new(py, &pairs))
    }

    /// `(root, pairs)`: the root hash and the pairs not yet returned (the right edge of the
    /// tree, ending with the root's); the builder cannot be used afterwards.
    fn finalize<'py>(
        &self,
        py: Python<'py>,
    ) -> PyResult<(Bound<'py, PyBytes>, Bound<'py, PyBytes>)> {
        let builder = self.builder.lock(py)?.take().ok_or_else(finalized)?;
        let mut pairs = Vec::new();
        let root = no_panic(|| builder.finalize(&mut pairs))?;
        Ok((PyBytes::new(py, &root), PyBytes::new(py, &pairs)))
    }

    /// Bytes fed so far.
    #[getter]
    fn size(&self, py: Python<'_>) -> PyResult<u64> {
        let guard = self.builder.lock(py)?;
        Ok(guard.as_ref().map_or(0, CoreBuilder::size))
    }
}

/// What to read from a stored post_order bao (and which blob bytes to rehash) to answer a
/// window proof, and the step that builds the proof from those pieces.
#[pyclass(frozen, module = "baostore._bao")]
pub struct ProofPlan {
    plan: CorePlan,
}

#[pymethods]
impl ProofPlan {
    #[allow(clippy::too_many_arguments)]
    #[new]
    #[pyo3(signature = (size, stored_shift, shift, format, start, end, max_gap=4096))]
    fn new(
        py: Python<'_>,
        size: u64,
        stored_shift: u32,
        shift: u32,
        format: &str,
        start: u64,
        end: u64,
        max_gap: u64,
    ) -> PyResult<Self> {
        let (stored_shift, shift) = (parse_shift(stored_shift)?, parse_shift(shift)?);
        let format = parse_format(format)?;
        // Planning walks the window's parents: as much work as the proof is long.
        let work = baostore_core::proof_size(size, shift, format, start, end)
            .map_or(0, |len| len as usize);
        let plan = detach_if_large(py, work, || {
            no_panic(|| CorePlan::new(size, stored_shift, shift, format, start, end, max_gap))
        })?
        .map_err(core_error)?;
        Ok(Self { plan })
    }

    /// Start of the window the proof answers (the asked start rounded down to a group).
    #[getter]
    fn start(&self) -> u64 {
        self.plan.window().0
    }

    /// End of the window the proof answers (rounded up to a group, or the size).
    #[getter]
    fn end(&self) -> u64 {
        self.plan.window().1
    }

    /// `[start, end)` byte ranges of the stored post_order bao to read, sorted and disjoint.
    #[getter]
    fn outboard_ranges(&self) -> Vec<(u64, u64)> {
        self.plan
            .outboard_ranges()
            .iter()
            .map(|range| (range.start, range.end))
            .collect()
    }

    /// `(start, end)` of the blob bytes to rehash, or None.
    #[getter]
    fn data_range(&self) -> Option<(u64, u64)> {
        self.plan.data_range().map(|range| (range.start, range.end))
    }

    /// Length in bytes of the proof.
    #[getter]
    fn proof_size(&self) -> u64 {
        self.plan.proof_len()
    }

    /// The proof from the pieces read (one per range, in order) and the data to rehash.
    #[pyo3(signature = (root, pieces, data=None))]
    fn build<'py>(
        &self,
        py: Python<'py>,
        root: ByteView,
        pieces: Vec<ByteView>,
        data: Option<ByteView>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let root = parse_root(&root)?;
        let slices: Vec<&[u8]> = pieces.iter().map(ByteView::as_slice).collect();
        let data = data.as_ref().map(ByteView::as_slice);
        let work =
            slices.iter().map(|piece| piece.len()).sum::<usize>() + data.map_or(0, <[u8]>::len);
        let plan = &self.plan;
        let proof = detach_if_large(py, work, || no_panic(|| plan.build(&root, &slices, data)))?
            .map_err(core_error)?;
        Ok(PyBytes::new(py, &proof))
    }

    fn __repr__(&self) -> String {
        let (start, end) = self.plan.window();
        format!(
            "ProofPlan(window=({start}, {end}), outboard_ranges={}, data_range={:?}, proof_size={})",
            self.plan.outboard_ranges().len(),
            self.plan.data_range(),
            self.plan.proof_len()
        )
    }
}
