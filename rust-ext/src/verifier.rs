//! `Verifier`: streamed data checked against a root and its bao before it is released.

use baostore_core::Verifier as CoreVerifier;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::buffer::{detach_if_large, ByteView};
use crate::errors::{core_error, no_panic, BaoError};
use crate::functions::{parse_format, parse_root, parse_shift};
use crate::runs::ReleasedRuns;

#[pyclass(module = "baostore._bao")]
pub struct Verifier {
    verifier: CoreVerifier,
    /// What the current `update` call released; kept between calls for its space.
    runs: ReleasedRuns,
    /// Bytes returned to Python; the core also counts verified bytes of a failing call, which
    /// are dropped with the exception.
    handed_out: u64,
    /// Set when the core panicked: its state can no longer be trusted.
    broken: bool,
}

impl Verifier {
    fn usable(&self) -> PyResult<()> {
        if self.broken {
            Err(BaoError::new_err(
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
        size: u64,
        outboard: ByteView,
        shift: u32,
        format: &str,
        start: u64,
        end: Option<u64>,
    ) -> PyResult<Self> {
        let root = parse_root(&root)?;
        let (shift, format) = (parse_shift(shift)?, parse_format(format)?);
        let bao = outboard.as_slice();
        // The constructor checks the whole bao against the root: worth releasing the GIL.
        let verifier = detach_if_large(py, bao.len(), || {
            no_panic(|| CoreVerifier::new(&root, size, bao, shift, format, start, end))
        })?
        .map_err(core_error)?;
        Ok(Self {
            verifier,
            runs: ReleasedRuns::default(),
            handed_out: 0,
            broken: false,
        })
    }

    /// A verifier of the window `[start, end)` given the window's proof (see `window_proof`).
    #[allow(clippy::too_many_arguments)]
    #[staticmethod]
    #[pyo3(signature = (root, size, proof, shift=4, format="pre_order", start=0, end=None))]
    fn from_proof(
        py: Python<'_>,
        root: ByteView,
        size: u64,
        proof: ByteView,
        shift: u32,
        format: &str,
        start: u64,
        end: Option<u64>,
    ) -> PyResult<Self> {
        let root = parse_root(&root)?;
        let (shift, format) = (parse_shift(shift)?, parse_format(format)?);
        let proof = proof.as_slice();
        let verifier = detach_if_large(py, proof.len(), || {
            no_panic(|| CoreVerifier::from_proof(&root, size, proof, shift, format, start, end))
        })?
        .map_err(core_error)?;
        Ok(Self {
            verifier,
            runs: ReleasedRuns::default(),
            handed_out: 0,
            broken: false,
        })
    }

    /// Feeds the next bytes of the window; returns the bytes verified by this call, in order.
    fn update<'py>(
        &mut self,
        py: Python<'py>,
        data: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        self.usable()?;
        let view: ByteView = data.extract()?;
        let fed = view.as_slice();
        let (verifier, runs) = (&mut self.verifier, &mut self.runs);
        runs.clear();
        let outcome = detach_if_large(py, fed.len(), || {
            no_panic(|| verifier.update_with(fed, |run| runs.record(fed, run)))
        });
        self.broken = outcome.is_err();
        if let Err(error) = outcome? {
            self.runs.clear();
            return Err(core_error(error));
        }
        let runs = &self.runs;
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
        self.handed_out += runs.len() as u64;
        Ok(released)
    }

    /// Returns the remaining verified bytes; raises if the window was not fed completely.
    fn finalize<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        self.usable()?;
        let outcome = no_panic(|| self.verifier.finalize());
        self.broken = outcome.is_err();
        outcome?.map_err(core_error)?;
        // Every verified byte was returned by update (the last group as soon as it was complete).
        Ok(PyBytes::new(py, b""))
    }

    /// Bytes fed so far.
    #[getter]
    fn received(&self) -> u64 {
        self.verifier.received()
    }

    /// Bytes verified and returned so far.
    #[getter]
    fn released(&self) -> u64 {
        self.handed_out
    }
}
