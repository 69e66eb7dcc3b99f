"""How every baostore command reports a failure: one line on stderr and an exit status."""

from __future__ import annotations

import sys

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_NOT_FOUND = 3
EXIT_INTERRUPTED = 130


def os_error_message(error: OSError) -> str:
    """``path: reason`` when the error names a file, else the error's own text."""
    if error.filename is not None and error.strerror:
        return f"{error.filename}: {error.strerror}"
    return str(error)


def fail(message: str, status: int) -> int:
    """Print ``baostore: error: message`` to stderr and return ``status`` to exit with."""
    print(f"baostore: error: {message}", file=sys.stderr)
    return status
