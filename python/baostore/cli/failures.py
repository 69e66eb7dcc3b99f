"""How every baostore command reports a failure: one line on stderr and an exit status."""

from __future__ import annotations

import os
import signal
import sys

from baostore.errors import ErrorKind, StoreError, printable

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_NOT_FOUND = 3
# What was checked is incomplete or damaged: verify found a partial file (missing or damaged
# ranges), fsck a damaged store. Distinct from an error: the check itself worked.
EXIT_DAMAGED = 4
EXIT_INTERRUPTED = 130
# What a shell reports for a Unix tool killed by SIGPIPE (`yes | head -1`).
EXIT_BROKEN_PIPE = 128 + signal.SIGPIPE
# A failed store operation exits EXIT_ERROR unless its kind has a status of its own.
_EXIT_OF_KIND = {ErrorKind.NOT_FOUND: EXIT_NOT_FOUND, ErrorKind.INVALID_REQUEST: EXIT_USAGE}


def os_error_message(error: OSError) -> str:
    """``path: reason`` when the error names a file, else the error's own text."""
    if error.filename is not None and error.strerror:
        return f"{error.filename}: {error.strerror}"
    return str(error)


def fail(message: str, status: int) -> int:
    """Print ``baostore: error: message`` to stderr and return ``status`` to exit with.

    Messages carry what remotes said (a server's error text, a peer's file names): every
    character that is not printable is shown escaped, so none reaches the terminal as a control."""
    print(f"baostore: error: {printable(message)}", file=sys.stderr)
    return status


def broken_pipe() -> int:
    """The reader of our output went away (``| head -c 10``): nothing to report, as Unix tools
    do not. Stdout points at /dev/null from now on, so the interpreter's final flush of what is
    still buffered does not fail again (with an "Exception ignored" message)."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass  # stdout is no file descriptor (captured in tests): nothing will flush into a pipe
    finally:
        os.close(devnull)
    return EXIT_BROKEN_PIPE


def exit_status(error: StoreError) -> int:
    """The exit status for a failed store operation: 3 for not found, 2 for an invalid request
    (a bad digest or option), 1 for anything else."""
    return _EXIT_OF_KIND.get(error.kind, EXIT_ERROR)
