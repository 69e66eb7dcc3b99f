"""The server's log on stderr: text or JSON lines, written by a thread of its own.

Records go through a bounded queue to a listener thread that writes them, so a slow or full
stderr (a pipe nobody reads) never stalls the event loop that serves calls; when the queue is
full, records are dropped and counted rather than waited for.
"""

from __future__ import annotations

import contextlib
import json
import logging
import logging.handlers
import os
import queue
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, Literal

LogFormat = Literal["text", "json"]
LOG_FORMATS: tuple[LogFormat, ...] = ("text", "json")
LOG_LEVELS = ("debug", "info", "warning", "error")
PACKAGE_LOGGER = "baostore"
# Records waiting for the writer thread; beyond this many they are dropped.
QUEUE_SIZE = 10_000
# How long stopping waits for the writer to write what is queued.
STOP_TIMEOUT = 2.0
# Marks the end of the queue for the writer thread.
_END = logging.makeLogRecord({"msg": "end of log"})
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# Attributes every LogRecord has: anything else was passed as ``extra`` (the access fields).
_STANDARD_FIELDS = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, and the ``access`` fields of an
    access-log record (or any other ``extra``) at the top level."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key == "access" and isinstance(value, dict):
                entry.update(value)
            elif key not in _STANDARD_FIELDS:
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class DroppingQueueHandler(logging.handlers.QueueHandler):
    """A QueueHandler that drops a record when the queue is full instead of blocking."""

    def __init__(self, records: queue.Queue[logging.LogRecord]) -> None:
        super().__init__(records)
        self.dropped = 0

    def enqueue(self, record: logging.LogRecord) -> None:
        try:
            self.queue.put_nowait(record)
        except queue.Full:
            self.dropped += 1


class DescriptorHandler(logging.Handler):
    """Writes formatted records to a file descriptor with ``os.write``: no Python file object
    whose lock a write blocked on a full pipe would hold when the interpreter exits."""

    def __init__(self, descriptor: int) -> None:
        super().__init__()
        self.descriptor = descriptor

    def handle(self, record: logging.LogRecord) -> bool:
        # Without the handler's lock: only the writer thread emits, and logging's exit-time
        # shutdown takes that lock, which a write stuck on a full pipe would never release.
        accepted = bool(self.filter(record))
        if accepted:
            self.emit(record)
        return accepted

    def emit(self, record: logging.LogRecord) -> None:
        try:
            data = memoryview((self.format(record) + "\n").encode("utf-8", "replace"))
            while data:
                data = data[os.write(self.descriptor, data) :]
        except Exception:
            self.handleError(record)


class _Writer:
    """The thread that writes queued records. Stopping waits STOP_TIMEOUT at most for it to
    write what is queued: behind a stream that takes nothing (a full pipe) it stays blocked in
    the write, a daemon thread that does not hold up the process's exit."""

    def __init__(self, records: queue.Queue[logging.LogRecord], handler: logging.Handler) -> None:
        self._records = records
        self._handler = handler
        self._thread = threading.Thread(target=self._run, name="baostore-log", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> bool:
        """Write what is queued, within STOP_TIMEOUT; whether it was all written."""
        deadline = time.monotonic() + STOP_TIMEOUT
        with contextlib.suppress(queue.Full):
            self._records.put(_END, timeout=STOP_TIMEOUT)
        self._thread.join(max(0.0, deadline - time.monotonic()))
        return not self._thread.is_alive()

    def _run(self) -> None:
        while (record := self._records.get()) is not _END:
            self._handler.handle(record)


def formatter_for(log_format: LogFormat) -> logging.Formatter:
    if log_format == "json":
        return JsonFormatter()
    return logging.Formatter(TEXT_FORMAT)


@contextmanager
def server_logging(level: str, log_format: LogFormat) -> Iterator[DroppingQueueHandler]:
    """For the duration of the block, write baostore's log records at ``level`` and above, and
    other libraries' warnings, to stderr in ``log_format``, through a writer thread."""
    descriptor = os.dup(sys.stderr.fileno())
    records: queue.Queue[logging.LogRecord] = queue.Queue(QUEUE_SIZE)
    output = DescriptorHandler(descriptor)
    output.setFormatter(formatter_for(log_format))
    writer = _Writer(records, output)
    handler = DroppingQueueHandler(records)
    root, ours = logging.getLogger(), logging.getLogger(PACKAGE_LOGGER)
    saved = (root.level, ours.level)
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    ours.setLevel(level.upper())
    writer.start()
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(saved[0])
        ours.setLevel(saved[1])
        if writer.stop():  # else a write is stuck on the descriptor: the exit closes it
            if handler.dropped:
                note = f"baostore: {handler.dropped} log records dropped: stderr was too slow\n"
                os.write(descriptor, note.encode())
            os.close(descriptor)
