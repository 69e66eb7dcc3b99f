"""A BlobService server on a free loopback port, run by an event loop in a background thread."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from baostore.grpc.server import start_server
from baostore.store.interface import BlobStore

START_TIMEOUT = 30.0
# Calls still running at the end (a lying stream the client gave up on) are simply cancelled.
STOP_GRACE = 0.5


@contextmanager
def serve_loopback(store: BlobStore) -> Iterator[str]:
    """Serve ``store`` on ``127.0.0.1:<free port>``; yield ``grpc+http://127.0.0.1:PORT``.

    The server, its loop and the loop's worker threads are shut down when the block exits.
    """
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="shift-report-server", daemon=True)
    thread.start()
    try:
        running = asyncio.run_coroutine_threadsafe(start_server(store, "127.0.0.1:0"), loop).result(
            START_TIMEOUT
        )
        try:
            yield f"grpc+http://{running.address}"
        finally:
            asyncio.run_coroutine_threadsafe(running.stop(STOP_GRACE), loop).result()
    finally:
        asyncio.run_coroutine_threadsafe(loop.shutdown_default_executor(), loop).result()
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        loop.close()
