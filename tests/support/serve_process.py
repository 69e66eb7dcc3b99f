"""Run ``baostore serve`` as a real process, for crash, limit and security tests."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_ANNOUNCEMENT = re.compile(r"serving \S+ on (\S+)")


@contextmanager
def serve_process(
    store_url: str, *args: str, listen: str = "127.0.0.1:0"
) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """Start ``baostore serve``; yield the process and the address it announced (HOST:PORT).

    Stopped with SIGTERM on exit unless it is already gone (a test may have killed it).
    """
    command = [sys.executable, "-m", "baostore.cli", "serve", "--store", store_url]
    process = subprocess.Popen(
        [*command, "--listen", listen, *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    drain: threading.Thread | None = None
    try:
        assert process.stderr is not None
        line = process.stderr.readline()
        match = _ANNOUNCEMENT.search(line)
        if match is None:
            rest = process.stderr.read() if process.wait(timeout=30) is not None else ""
            raise AssertionError(f"serve did not announce its address: {line + rest!r}")
        # The access log follows, a line per call: read on, so a full pipe never stalls serve.
        drain = threading.Thread(target=process.stderr.read, daemon=True)
        drain.start()
        yield process, match.group(1)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)
        if drain is not None:
            drain.join(timeout=30)  # the process is gone: its stderr ends
        if process.stderr is not None:
            process.stderr.close()
