"""The native classes shared between threads that race with the GIL released: each call runs
whole (a lock inside every object), so the result is that of the same calls made one by one."""

from __future__ import annotations

import random
import threading
from collections.abc import Callable

from baostore import bao
from blake3 import blake3

THREADS = 4
CALLS = 6
PIECE = random.Random(7).randbytes(4 * 16384 * 16)  # 1 MiB: whole groups at shift 4


def race(call: Callable[[], object]) -> list[object]:
    """Runs ``call`` CALLS times on each of THREADS threads started together; the results."""
    results: list[object] = []
    lock = threading.Lock()
    barrier = threading.Barrier(THREADS)

    def worker() -> None:
        barrier.wait()
        for _ in range(CALLS):
            result = call()
            with lock:
                results.append(result)

    threads = [threading.Thread(target=worker) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_a_shared_hasher_sees_every_piece_once() -> None:
    hasher = bao.Hasher()
    race(lambda: hasher.update(PIECE))
    assert hasher.size == THREADS * CALLS * len(PIECE)
    assert hasher.digest() == blake3(PIECE * (THREADS * CALLS)).digest()


def test_a_shared_outboard_builder_sees_every_piece_once() -> None:
    builder = bao.OutboardBuilder(4)
    race(lambda: builder.update(PIECE))
    assert builder.finalize() == bao.outboard(PIECE * (THREADS * CALLS), 4)


def test_a_shared_post_order_builder_hands_out_every_pair_once() -> None:
    builder = bao.PostOrderBuilder(4)
    pairs = race(lambda: builder.update(PIECE))
    whole = PIECE * (THREADS * CALLS)
    root, rest = builder.finalize()
    assert root == bao.hash(whole)
    expected = bao.pre_order_to_post_order(bao.outboard(whole, 4)[1], len(whole), 4)
    handed_out = sum(len(piece) for piece in pairs if isinstance(piece, bytes)) + len(rest)
    assert handed_out == len(expected)


def test_a_shared_verifier_releases_each_piece_once_and_whole() -> None:
    whole = PIECE * (THREADS * CALLS)
    root, outboard = bao.outboard(whole, 4)
    verifier = bao.Verifier(root, len(whole), outboard, 4)
    released = race(lambda: verifier.update(PIECE))
    assert released == [PIECE] * (THREADS * CALLS)
    assert verifier.finalize() == b""
    assert verifier.released == verifier.received == len(whole)


def test_counters_can_be_read_while_another_thread_feeds() -> None:
    whole = PIECE * (THREADS * CALLS)
    root, outboard = bao.outboard(whole, 4)
    verifier = bao.Verifier(root, len(whole), outboard, 4)
    seen: list[int] = []
    done = threading.Event()

    def read() -> None:
        while not done.is_set():
            seen.append(verifier.released)

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for _ in range(THREADS * CALLS):
            verifier.update(PIECE)
    finally:
        done.set()
        reader.join()
    assert seen == sorted(seen)
    assert all(count % len(PIECE) == 0 for count in seen)  # a call is seen whole or not at all
