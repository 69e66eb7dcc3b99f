"""How every baostore command reports a failure: one line on stderr and an exit status."""

from __future__ import annotations

import sys

from baostore.errors import ErrorKind, StoreError

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_NOT_FOUND = 3
# What was checked is incomplete or damaged: verify found a partial file (missing or damaged
# ranges), fsck a damaged store. Distinct from an error: the check itself worked.
EXIT_DAMAGED = 4
EXIT_INTERRUPTED = 130
# A failed store operation exits EXIT_ERROR unless its kind has a status of its own.
_EXIT_OF_KIND = {ErrorKind.NOT_FOUND: EXIT_NOT_FOUND, ErrorKind.INVALID_REQUEST: EXIT_USAGE}


def os_error_message(error: OSError) -> str:
    """``path: reason`` when the error names a file, else the error's own text."""
    if error.filename is not None and error.strerror:
        return f"{error.filename}: {error.strerror}"
    return str(error)


def fail(message: str, status: int) -> int:
    """Print ``baostore: error: message`` to stderr and return ``status`` to exit with."""
    print(f"baostore: error: {message}", file=sys.stderr)
    return status


def exit_status(error: StoreError) -> int:
    """The exit status for a failed store operation: 3 for not found, 2 for an invalid request
    (a bad digest or option), 1 for anything else."""
    return _EXIT_OF_KIND.get(error.kind, EXIT_ERROR)
