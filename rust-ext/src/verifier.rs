//! `Verifier`: streamed data checked against a root and its bao before it is released.

use baostore_core::Verifier as CoreVerifier;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::buffer::{detach_if_large, ByteView};
use crate::errors::{bao_error, no_panic, BaoError};
use crate::functions::{parse_format, parse_root, parse_shift};

/// Released bytes are gathered here before they are copied into a `bytes`; kept between calls
/// so steady feeding does not allocate, but not when one huge feed grew it past this.
const MAX_KEPT_SCRATCH: usize = 16 << 20;

#[pyclass(module = "baostore._bao")]
pub struct Verifier {
    verifier: CoreVerifier,
    released: Vec<u8>,
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

    /// Hands out the bytes gathered by the last call (or `fed`, which holds the same bytes) and
    /// keeps the scratch space small.
    fn take_released<'py>(
        &mut self,
        py: Python<'py>,
        fed: Option<&Bound<'py, PyBytes>>,
    ) -> Bound<'py, PyBytes> {
        let bytes = fed
            .cloned()
            .unwrap_or_else(|| PyBytes::new(py, &self.released));
        self.handed_out += self.released.len() as u64;
        self.released.clear();
        if self.released.capacity() > MAX_KEPT_SCRATCH {
            self.released = Vec::new();
        }
        bytes
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
        .map_err(bao_error)?;
        Ok(Self {
            verifier,
            released: Vec::new(),
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
        let bytes = view.as_slice();
        let nothing_pending = self.verifier.received() == self.verifier.released();
        let (verifier, released) = (&mut self.verifier, &mut self.released);
        let outcome = detach_if_large(py, bytes.len(), || {
            no_panic(|| verifier.update(bytes, released))
        });
        self.broken = outcome.is_err();
        let verified = outcome?;
        if let Err(error) = verified {
            self.released.clear();
            return Err(bao_error(error));
        }
        // Released exactly what was fed: an immutable `bytes` argument is those very bytes, so
        // it is returned as it is instead of copied (the common case of group-aligned feeds).
        let whole_feed = nothing_pending && self.released.len() == bytes.len();
        let fed = data.downcast_exact::<PyBytes>().ok().filter(|_| whole_feed);
        Ok(self.take_released(py, fed))
    }

    /// Returns the remaining verified bytes; raises if the window was not fed completely.
    fn finalize<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        self.usable()?;
        let (verifier, released) = (&mut self.verifier, &mut self.released);
        // The last subtree may be large (a whole window of one group): release the GIL.
        let pending = (verifier.received() - verifier.released()) as usize;
        let outcome = detach_if_large(py, pending, || no_panic(|| verifier.finalize(released)));
        self.broken = outcome.is_err();
        if let Err(error) = outcome? {
            self.released.clear();
            return Err(bao_error(error));
        }
        Ok(self.take_released(py, None))
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
