"""A BlobService server in a process of its own whose Reads send their first piece and then hang,
so a test can kill it (SIGKILL) while a client is in the middle of a stream.

    python -m tests.support.hanging_server MARKER

prints the server's URL on stdout, then serves until stdin closes (or a minute passes). When a
Read has sent its first piece it creates the file MARKER: the moment to kill the process.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from pathlib import Path

from baostore.store.forwarding import ForwardingStore
from baostore.store.interface import BlobStore

from tests.support.grpc_server import serve_in_thread
from tests.support.stores import small_chunk_memory_store

# Nothing here may wait without a bound: the test kills the process well before this.
HANG_SECONDS = 60.0


class HangingReads(ForwardingStore):
    """``inner``, except that a Read stops after its first piece, having touched ``marker``."""

    def __init__(self, inner: BlobStore, marker: Path) -> None:
        super().__init__(inner)
        self.marker = marker

    def read_raw(self, digest: bytes) -> Iterator[bytes] | None:
        pieces = self.inner.read_raw(digest)
        return None if pieces is None else self._first_then_hang(pieces)

    def _first_then_hang(self, pieces: Iterator[bytes]) -> Iterator[bytes]:
        yield next(pieces, b"")
        self.marker.touch()
        threading.Event().wait(HANG_SECONDS)


def main() -> None:
    store = HangingReads(small_chunk_memory_store(), Path(sys.argv[1]))
    with serve_in_thread(store) as url:
        print(url, flush=True)
        done = threading.Thread(target=sys.stdin.read, daemon=True)
        done.start()
        done.join(HANG_SECONDS)


if __name__ == "__main__":
    main()
