"""Run ``baostore serve`` as a real process, for crash, limit and security tests."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO

_ANNOUNCEMENT = re.compile(r"serving \S+ on (\S+)")


@contextmanager
def serve_process(
    store_url: str, *args: str, listen: str = "127.0.0.1:0", log: list[str] | None = None
) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """Start ``baostore serve``; yield the process and the address it announced (HOST:PORT).

    Stopped with SIGTERM on exit unless it is already gone (a test may have killed it). The
    lines it writes to stderr after its announcement are added to ``log`` when one is given
    (complete once the block has exited).
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
        drain = threading.Thread(target=_drain, args=(process.stderr, log), daemon=True)
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


def _drain(stream: IO[str], log: list[str] | None) -> None:
    for line in stream:
        if log is not None:
            log.append(line)
