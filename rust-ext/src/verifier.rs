//! `Verifier`: streamed data checked against a root and its bao (or a window's proof) before
//! it is released.

use baostore_core::Verifier as CoreVerifier;
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::args;
use crate::buffer::{detach_if_large, ByteView};
use crate::errors::{core_error, no_panic};
use crate::locked::Locked;
use crate::runs::ReleasedRuns;

/// Checks a stream against `root` and its bao, releasing only bytes that verified.
///
/// The constructor checks the bao itself against `root` (so a malformed or wrong bao fails
/// before any data). `update()` returns the bytes of the groups completed and checked by that
/// call (possibly `b""`); `check()` does the same work but only says how many more bytes
/// verified, for callers that keep their own buffers; `finalize()` raises if the stream was
/// short. After any error the verifier stays failed.
///
/// `start`/`end` select a window `[start, end)` of the blob: both on group boundaries (`end` may
/// also be `size`); then only the window's bytes are fed and released. `Verifier.from_proof`
/// verifies a window given only its proof.
#[pyclass(frozen, module = "baostore._bao")]
pub struct Verifier {
    state: Locked<State>,
}

struct State {
    verifier: CoreVerifier,
    /// What the current `update` call released; kept between calls for its space.
    runs: ReleasedRuns,
    /// Bytes returned (or counted, by `check`) to Python; the core also counts verified bytes
    /// of a failing call, which are dropped with the exception.
    handed_out: u64,
    /// Set when the core panicked: its state can no longer be trusted.
    broken: bool,
}

impl State {
    fn new(verifier: CoreVerifier) -> Self {
        Self {
            verifier,
            runs: ReleasedRuns::default(),
            handed_out: 0,
            broken: false,
        }
    }

    fn usable(&self) -> PyResult<()> {
        if self.broken {
            Err(PyRuntimeError::new_err(
                "Verifier is unusable after an internal error",
            ))
        } else {
            Ok(())
        }
    }
}

#[pymethods]
impl Verifier {
    // The arguments are the Python constructor's, one for one.
    #[allow(clippy::too_many_arguments)]
    #[new]
    #[pyo3(signature = (root, size, outboard, shift=4, format="pre_order", start=0, end=None))]
    fn new(
        py: Python<'_>,
        root: ByteView,
        #[pyo3(from_py_with = args::size)] size: u64,
        outboard: ByteView,
        #[pyo3(from_py_with = args::shift)] shift: u8,
        format: &str,
        #[pyo3(from_py_with = args::start)] start: u64,
        #[pyo3(from_py_with = args::optional_end)] end: Option<u64>,
    ) -> PyResult<Self> {
        let root = args::root(&root)?;
        let format = args::format("format", format)?;
        let bao = outboard.as_slice();
        // The constructor checks the whole bao against the root: worth releasing the GIL.
        let verifier = detach_if_large(py, bao.len(), || {
            no_panic(|| CoreVerifier::new(&root, size, bao, shift, format, start, end))
        })?
        .map_err(core_error)?;
        Ok(Self {
            state: Locked::new(State::new(verifier)),
        })
    }

    /// A verifier of the window `[start, end)` given the window's proof instead of the whole
    /// bao (same `update`/`check`/`finalize` contract).
    ///
    /// The proof is checked against `root` here, before any data. The window must be
    /// group-aligned (`window()` rounds one) and not empty unless the blob is.
    /// `MalformedBaoError` for a proof of the wrong length, `MismatchError` for one that does not
    /// match (another window's proof, a flipped bit, a wrong size).
    #[allow(clippy::too_many_arguments)]
    #[staticmethod]
    #[pyo3(signature = (root, size, proof, shift=4, format="pre_order", start=0, end=None))]
    fn from_proof(
        py: Python<'_>,
        root: ByteView,
        #[pyo3(from_py_with = args::size)] size: u64,
        proof: ByteView,
        #[pyo3(from_py_with = args::shift)] shift: u8,
        format: &str,
        #[pyo3(from_py_with = args::start)] start: u64,
        #[pyo3(from_py_with = args::optional_end)] end: Option<u64>,
    ) -> PyResult<Self> {
        let root = args::root(&root)?;
        let format = args::format("format", format)?;
        let proof = proof.as_slice();
        let verifier = detach_if_large(py, proof.len(), || {
            no_panic(|| CoreVerifier::from_proof(&root, size, proof, shift, format, start, end))
        })?
        .map_err(core_error)?;
        Ok(Self {
            state: Locked::new(State::new(verifier)),
        })
    }

    /// Feeds the next bytes of the window; returns the bytes verified by this call, in order.
    fn update<'py>(
        &self,
        py: Python<'py>,
        data: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let view: ByteView = data.extract()?;
        let fed = view.as_slice();
        let mut guard = self.state.lock(py)?;
        let state = &mut *guard;
        state.usable()?;
        let (verifier, runs) = (&mut state.verifier, &mut state.runs);
        runs.clear();
        let outcome = detach_if_large(py, fed.len(), || {
            no_panic(|| verifier.update_with(fed, |run| runs.record(fed, run)))
        });
        state.broken = outcome.is_err();
        if let Err(error) = outcome? {
            state.runs.clear();
            return Err(core_error(error));
        }
        let runs = &state.runs;
        // Released exactly what was fed: an immutable `bytes` argument is those very bytes, so
        // it is returned as it is (the common case of group-aligned feeds). Otherwise each
        // byte is copied once, straight from the fed buffer where it can be.
        let released = match data.downcast_exact::<PyBytes>() {
            Ok(fed_bytes) if runs.is_all_of(fed) => fed_bytes.clone(),
            _ => PyBytes::new_with(py, runs.len(), |out| {
                detach_if_large(py, out.len(), || runs.write_to(fed, out));
                Ok(())
            })?,
        };
        state.handed_out += runs.len() as u64;
        Ok(released)
    }

    /// Feeds the next bytes of the window like `update()`, but returns only how many more bytes
    /// of the window are verified: the next that many bytes from `released` on, which the
    /// caller hands on from its own buffers. Nothing is copied (but an incomplete group at the
    /// end of `data`, which waits for the rest of the group).
    fn check(&self, py: Python<'_>, data: ByteView) -> PyResult<u64> {
        let fed = data.as_slice();
        let mut guard = self.state.lock(py)?;
        let state = &mut *guard;
        state.usable()?;
        let verifier = &mut state.verifier;
        let outcome = detach_if_large(py, fed.len(), || {
            no_panic(|| {
                let before = verifier.released();
                verifier
                    .update_with(fed, |_| {})
                    .map(|()| verifier.released() - before)
            })
        });
        state.broken = outcome.is_err();
        let verified = outcome?.map_err(core_error)?;
        state.handed_out += verified;
        Ok(verified)
    }

    /// Ends the stream: raises if the window was not fed completely. Returns `b""`: every
    /// verified byte was already released by `update()` (the last group as soon as it was
    /// complete).
    fn finalize<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        let mut state = self.state.lock(py)?;
        state.usable()?;
        let outcome = no_panic(|| state.verifier.finalize());
        state.broken = outcome.is_err();
        outcome?.map_err(core_error)?;
        Ok(PyBytes::new(py, b""))
    }

    /// Bytes fed so far.
    #[getter]
    fn received(&self, py: Python<'_>) -> PyResult<u64> {
        Ok(self.state.lock(py)?.verifier.received())
    }

    /// Bytes verified and released (returned by `update`, counted by `check`) so far.
    #[getter]
    fn released(&self, py: Python<'_>) -> PyResult<u64> {
        Ok(self.state.lock(py)?.handed_out)
    }

    /// Bytes verified so far, from the window's start: `released`, plus after a failed call
    /// the intact groups that call verified before the damage (not released, but true).
    #[getter]
    fn verified(&self, py: Python<'_>) -> PyResult<u64> {
        Ok(self.state.lock(py)?.verifier.released())
    }
}
