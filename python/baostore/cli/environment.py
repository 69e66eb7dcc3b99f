"""What the process under the CLI is set up with before any work: native libraries quiet, and the
C allocator told to keep the memory that streams reuse.

gRPC's C core logs to stderr by itself (``E1130 10:00:40 add_port.cc:83] Failed to add port...``,
TLS handshake notes at INFO), and a Rust panic prints its message (with a backtrace where
``RUST_BACKTRACE`` is set, as some environments do). The CLI reports every failure itself, as one
line, so both are silenced for it; ``BAOSTORE_DEBUG=1`` leaves them as the environment says.
"""

from __future__ import annotations

import ctypes
import os
import sys
from collections.abc import MutableMapping

DEBUG_ENV = "BAOSTORE_DEBUG"
QUIET = {
    "GRPC_VERBOSITY": "NONE",  # read by gRPC's C core when it loads
    "RUST_BACKTRACE": "0",  # panics: the message only
    "RUST_LIB_BACKTRACE": "0",  # errors that capture a backtrace: none
}
# glibc's mallopt parameters, and what the CLI sets them to (see tune_allocator).
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
KEPT_ALLOCATIONS = 4 << 20
KEPT_FREE_HEAP = 32 << 20
ALLOCATOR_ENV = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_")


def quiet_native_libraries(environ: MutableMapping[str, str] = os.environ) -> None:
    """Silence gRPC's and Rust's own output unless $BAOSTORE_DEBUG is set; call it before grpc
    (or any Rust extension) is imported."""
    if environ.get(DEBUG_ENV):
        return
    environ.update(QUIET)


def tune_allocator(environ: MutableMapping[str, str] = os.environ) -> bool:
    """Keep freed memory for reuse: whether glibc's allocator was told so.

    By default glibc hands every allocation over 128 KiB back to the kernel when it is freed (and
    trims the heap beyond twice that), so a stream of 1 MiB messages faults in every page of
    every message again: ~150,000 page faults and ~0.3 s of kernel time per GiB a verified read
    receives. Allocations up to 4 MiB served from the heap, and up to 32 MiB of free heap kept,
    make that read ~30 % faster for ~15 MiB more peak RSS (a get ~15 %). Not for a server taking
    Puts: it holds chunks across threads, and faulted ~6x as often with it (1 GiB Put 1.9 ->
    2.3 s), so only receiving commands ask for it. Settings given in the environment
    (``MALLOC_MMAP_THRESHOLD_``, ``MALLOC_TRIM_THRESHOLD_``) win; elsewhere than glibc on Linux
    nothing changes."""
    if sys.platform != "linux" or any(name in environ for name in ALLOCATOR_ENV):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(
        mallopt(M_MMAP_THRESHOLD, KEPT_ALLOCATIONS) and mallopt(M_TRIM_THRESHOLD, KEPT_FREE_HEAP)
    )
