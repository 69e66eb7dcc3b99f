//! Windows and their proofs, the post-order storage layout and proof plans over it.

use baostore_core::{Layout, PostOrderBuilder as CoreBuilder, ProofPlan as CorePlan};
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::args;
use crate::buffer::{detach_if_large, ByteView};
use crate::builder::finalized;
use crate::errors::{core_error, no_panic};
use crate::locked::Locked;

/// Parses "pre_order" / "post_order" / "leaves" with the core's parser.
fn parse_layout(name: &str) -> PyResult<Layout> {
    name.parse::<Layout>().map_err(core_error)
}

/// The window `[start, end)` of a `size`-byte blob rounded out to groups at `shift`: start down
/// to a group boundary, end up to one or to the size. ValueError for an empty or reversed
/// window or one past the end (the empty blob has the one window `(0, 0)`).
#[pyfunction]
pub fn window(
    #[pyo3(from_py_with = args::size)] size: u64,
    #[pyo3(from_py_with = args::shift)] shift: u8,
    #[pyo3(from_py_with = args::start)] start: u64,
    #[pyo3(from_py_with = args::end)] end: u64,
) -> PyResult<(u64, u64)> {
    no_panic(|| baostore_core::window(size, shift, start, end))?.map_err(core_error)
}

/// The length in bytes of the proof of the window `[start, end)` (rounded out to groups) in
/// `format`: O(log n) plus the window's own nodes; 0 for a blob of one group.
#[pyfunction]
pub fn proof_size(
    #[pyo3(from_py_with = args::size)] size: u64,
    #[pyo3(from_py_with = args::shift)] shift: u8,
    format: &str,
    #[pyo3(from_py_with = args::start)] start: u64,
    #[pyo3(from_py_with = args::end)] end: u64,
) -> PyResult<u64> {
    let format = args::format("format", format)?;
    no_panic(|| baostore_core::proof_size(size, shift, format, start, end))?.map_err(core_error)
}

/// The proof in `format` of the window `[start, end)` (rounded out to groups) of a blob, cut
/// from its whole bao `outboard` at the same `shift`, laid out in `layout` ("pre_order",
/// "post_order" or "leaves"; default: `format`). The bao is not checked against the root (the
/// verifier checks the proof). O(log n + window), but O(n) from "leaves", whose parents have to
/// be rebuilt.
#[allow(clippy::too_many_arguments)]
#[pyfunction]
#[pyo3(signature = (outboard, size, shift, format, start, end, layout=None))]
pub fn window_proof<'py>(
    py: Python<'py>,
    outboard: ByteView,
    #[pyo3(from_py_with = args::size)] size: u64,
    #[pyo3(from_py_with = args::shift)] shift: u8,
    format: &str,
    #[pyo3(from_py_with = args::start)] start: u64,
    #[pyo3(from_py_with = args::end)] end: u64,
    layout: Option<&str>,
) -> PyResult<Bound<'py, PyBytes>> {
    let format = args::format("format", format)?;
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

/// A pre_order bao rewritten in the post_order storage layout (same pairs, post-order): how a
/// store kept in pre-order is migrated. Checked for its length only.
#[pyfunction]
pub fn pre_order_to_post_order<'py>(
    py: Python<'py>,
    outboard: ByteView,
    #[pyo3(from_py_with = args::size)] size: u64,
    #[pyo3(from_py_with = args::shift)] shift: u8,
) -> PyResult<Bound<'py, PyBytes>> {
    relayout(
        py,
        outboard,
        size,
        shift,
        baostore_core::pre_order_to_post_order,
    )
}

/// A post_order bao rewritten in the pre_order layout. Checked for its length only.
#[pyfunction]
pub fn post_order_to_pre_order<'py>(
    py: Python<'py>,
    outboard: ByteView,
    #[pyo3(from_py_with = args::size)] size: u64,
    #[pyo3(from_py_with = args::shift)] shift: u8,
) -> PyResult<Bound<'py, PyBytes>> {
    relayout(
        py,
        outboard,
        size,
        shift,
        baostore_core::post_order_to_pre_order,
    )
}

/// A conversion of a whole bao between layouts: `(bao, size, shift) -> bao`.
type Relayout = fn(&[u8], u64, u8) -> Result<Vec<u8>, baostore_core::BaoError>;

/// Runs a conversion between layouts, with the GIL released for large baos.
fn relayout<'py>(
    py: Python<'py>,
    outboard: ByteView,
    size: u64,
    shift: u8,
    convert: Relayout,
) -> PyResult<Bound<'py, PyBytes>> {
    let bao = outboard.as_slice();
    let converted = detach_if_large(py, bao.len(), || no_panic(|| convert(bao, size, shift)))?
        .map_err(core_error)?;
    Ok(PyBytes::new(py, &converted))
}

/// Writes a blob's bao in the post_order storage layout while the blob is fed, in memory
/// independent of its size (O(log n)): what a store does during a Put.
///
/// `update(data)` returns the pairs (64 bytes each: left CV ‖ right CV) of the parents that
/// the bytes fed so far complete, in bao-tree's PostOrderOutboard order; `finalize()` returns
/// `(root, rest)`, the root hash and the remaining pairs (the right edge of the tree, ending
/// with the root's). All returned pairs concatenated are the post_order bao. The last full
/// group is held back until more data shows it is not the last.
#[pyclass(frozen, module = "baostore._bao")]
pub struct PostOrderBuilder {
    state: Locked<BuilderState>,
}

struct BuilderState {
    /// `None` once finalized (or after a panic in the core left it unusable).
    builder: Option<CoreBuilder>,
    fed: u64,
}

#[pymethods]
impl PostOrderBuilder {
    #[new]
    #[pyo3(signature = (shift=4))]
    fn new(#[pyo3(from_py_with = args::shift)] shift: u8) -> PyResult<Self> {
        let builder = no_panic(|| CoreBuilder::new(shift))?.map_err(core_error)?;
        Ok(Self {
            state: Locked::new(BuilderState {
                builder: Some(builder),
                fed: 0,
            }),
        })
    }

    /// Feeds the next bytes; returns the pairs of the parents completed since the last call.
    fn update<'py>(&self, py: Python<'py>, data: ByteView) -> PyResult<Bound<'py, PyBytes>> {
        let bytes = data.as_slice();
        let mut state = self.state.lock(py)?;
        let builder = state
            .builder
            .as_mut()
            .ok_or_else(|| finalized("PostOrderBuilder"))?;
        let mut pairs = Vec::new();
        let outcome = detach_if_large(py, bytes.len(), || {
            no_panic(|| {
                builder.update(bytes, &mut pairs);
                builder.size()
            })
        });
        match outcome {
            Ok(fed) => state.fed = fed,
            Err(_) => state.builder = None, // half-fed after a core panic: unusable
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
        let builder = self
            .state
            .lock(py)?
            .builder
            .take()
            .ok_or_else(|| finalized("PostOrderBuilder"))?;
        let mut pairs = Vec::new();
        let root = no_panic(|| builder.finalize(&mut pairs))?;
        Ok((PyBytes::new(py, &root), PyBytes::new(py, &pairs)))
    }

    /// Bytes fed so far.
    #[getter]
    fn size(&self, py: Python<'_>) -> PyResult<u64> {
        Ok(self.state.lock(py)?.fed)
    }
}

/// The plan for a window proof answered from a bao stored in the post_order layout: which byte
/// ranges of the stored bao to read and, for a proof at a shift finer than the stored one,
/// which blob bytes (whole stored groups) to rehash; `build()` then makes the proof.
///
/// `ProofPlan(size, stored_shift, shift, format, start, end, max_gap=4096)`: the window
/// `[start, end)` is rounded out to groups at `shift` (`start`/`end` say which window the
/// proof answers); stored pieces less than `max_gap` bytes apart are read as one range. Time
/// and memory are O(log n + window), independent of the blob's size.
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
        #[pyo3(from_py_with = args::size)] size: u64,
        #[pyo3(from_py_with = args::stored_shift)] stored_shift: u8,
        #[pyo3(from_py_with = args::shift)] shift: u8,
        format: &str,
        #[pyo3(from_py_with = args::start)] start: u64,
        #[pyo3(from_py_with = args::end)] end: u64,
        #[pyo3(from_py_with = args::max_gap)] max_gap: u64,
    ) -> PyResult<Self> {
        let format = args::format("format", format)?;
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

    /// The proof, from the bytes read for `outboard_ranges` (one piece per range, in order) and
    /// the blob bytes of `data_range` (None when it is None). Every pair is checked top-down
    /// against `root` first, rehashed groups included: a damaged store raises MismatchError,
    /// never returns a wrong proof. ValueError for pieces or data of the wrong number or length.
    #[pyo3(signature = (root, pieces, data=None))]
    fn build<'py>(
        &self,
        py: Python<'py>,
        root: ByteView,
        pieces: Vec<ByteView>,
        data: Option<ByteView>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let root = args::root(&root)?;
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
