"""What the native libraries under the CLI may print on their own, turned off before they load.

gRPC's C core logs to stderr by itself (``E1130 10:00:40 add_port.cc:83] Failed to add port...``,
TLS handshake notes at INFO), and a Rust panic prints its message (with a backtrace where
``RUST_BACKTRACE`` is set, as some environments do). The CLI reports every failure itself, as one
line, so both are silenced for it; ``BAOSTORE_DEBUG=1`` leaves them as the environment says.
"""

from __future__ import annotations

import os
from collections.abc import MutableMapping

DEBUG_ENV = "BAOSTORE_DEBUG"
QUIET = {
    "GRPC_VERBOSITY": "NONE",  # read by gRPC's C core when it loads
    "RUST_BACKTRACE": "0",  # panics: the message only
    "RUST_LIB_BACKTRACE": "0",  # errors that capture a backtrace: none
}


def quiet_native_libraries(environ: MutableMapping[str, str] = os.environ) -> None:
    """Silence gRPC's and Rust's own output unless $BAOSTORE_DEBUG is set; call it before grpc
    (or any Rust extension) is imported."""
    if environ.get(DEBUG_ENV):
        return
    environ.update(QUIET)
