"""Run a BlobService server in a background thread, for tests and benchmarks."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from baostore.grpc.limits import ServerLimits
from baostore.grpc.security import ServerSecurity
from baostore.grpc.server import start_server
from baostore.grpc.services import MAX_MESSAGE_SIZE
from baostore.store.interface import BlobStore

_START_TIMEOUT = 30.0


@contextmanager
def serve_in_thread(
    store: BlobStore,
    *,
    listen: str = "127.0.0.1:0",
    stat_limit: int = MAX_MESSAGE_SIZE,
    security: ServerSecurity | None = None,
    limits: ServerLimits | None = None,
) -> Iterator[str]:
    """Serve ``store`` on a free loopback port; yield its URL (``grpc+http://127.0.0.1:PORT``).

    The server runs its own event loop in a thread (``asyncio.run``, so the loop's worker threads
    are shut down with it) and is stopped, and the thread joined, when the block exits.
    ``listen="unix:/PATH"`` serves on a socket instead (yielding ``grpc+unix:///PATH``).
    With TLS in ``security`` the URL is ``grpc+https://``.
    """
    address: concurrent.futures.Future[str] = concurrent.futures.Future()
    stop_requested = threading.Event()

    async def run() -> None:
        try:
            running = await start_server(
                store, listen, stat_limit=stat_limit, security=security, limits=limits
            )
        except BaseException as error:
            address.set_exception(error)
            return
        address.set_result(running.address)
        try:
            # Polled rather than awaited across threads: simple, and only costs shutdown latency.
            while not stop_requested.is_set():
                await asyncio.sleep(0.02)
        finally:
            await running.stop(grace=1.0)

    thread = threading.Thread(target=asyncio.run, args=(run(),), name="grpc-test-server")
    thread.start()
    try:
        tls = security is not None and security.tls is not None
        yield _url(address.result(timeout=_START_TIMEOUT), tls=tls)
    finally:
        stop_requested.set()
        thread.join()


def _url(address: str, *, tls: bool) -> str:
    if address.startswith("unix:"):
        return "grpc+unix:///" + address.removeprefix("unix:").lstrip("/")
    return f"grpc+{'https' if tls else 'http'}://{address}"
