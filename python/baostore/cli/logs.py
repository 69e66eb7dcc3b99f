"""The server's log on stderr: text or JSON lines, written by a thread of its own.

Records go through a bounded queue to a listener thread that writes them, so a slow or full
stderr (a pipe nobody reads) never stalls the event loop that serves calls; when the queue is
full, records are dropped and counted rather than waited for.
"""

from __future__ import annotations

import json
import logging
import logging.handlers
import queue
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, Literal, TextIO

LogFormat = Literal["text", "json"]
LOG_FORMATS: tuple[LogFormat, ...] = ("text", "json")
LOG_LEVELS = ("debug", "info", "warning", "error")
PACKAGE_LOGGER = "baostore"
# Records waiting for the writer thread; beyond this many they are dropped.
QUEUE_SIZE = 10_000
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


def formatter_for(log_format: LogFormat) -> logging.Formatter:
    if log_format == "json":
        return JsonFormatter()
    return logging.Formatter(TEXT_FORMAT)


@contextmanager
def server_logging(
    level: str, log_format: LogFormat, stream: TextIO | None = None
) -> Iterator[DroppingQueueHandler]:
    """For the duration of the block, write baostore's log records at ``level`` and above, and
    other libraries' warnings, to ``stream`` (default stderr) in ``log_format``, through a writer
    thread."""
    output_stream = stream or sys.stderr
    records: queue.Queue[logging.LogRecord] = queue.Queue(QUEUE_SIZE)
    output = logging.StreamHandler(output_stream)
    output.setFormatter(formatter_for(log_format))
    listener = logging.handlers.QueueListener(records, output)
    handler = DroppingQueueHandler(records)
    root, ours = logging.getLogger(), logging.getLogger(PACKAGE_LOGGER)
    saved = (root.level, ours.level)
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    ours.setLevel(level.upper())
    listener.start()
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(saved[0])
        ours.setLevel(saved[1])
        listener.stop()  # writes what is still queued
        if handler.dropped:
            print(
                f"baostore: {handler.dropped} log records dropped: stderr took them too slowly",
                file=output_stream,
            )
