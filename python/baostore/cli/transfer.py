"""What the put, get and stat commands do, apart from parsing arguments and printing."""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from stat import S_ISDIR, S_ISREG
from typing import Any, BinaryIO

from baostore import bao
from baostore.cli.partial import new_file_mode
from baostore.cli.progress import Advance
from baostore.digests import format_digest
from baostore.errors import DataLossError, NotFoundError
from baostore.sizes import format_size
from baostore.store.interface import PIECE_SIZE, BlobReader, BlobStore, Stat

# The human-readable stat lists this many chunks; --json lists every one.
MAX_CHUNKS_SHOWN = 8
# What one chunk adds to a Stat answer, about (a 32-byte digest, a size, the message framing).
CHUNK_ENTRY_SIZE = 40


class BlobNotFoundError(NotFoundError):
    """The store has no blob with the digest asked for."""

    def __init__(self, digest: bytes, store_url: str) -> None:
        super().__init__(f"blob {format_digest(digest)} not found in {store_url}")


def put_stream(store: BlobStore, source: BinaryIO, advance: Advance) -> bytes:
    """Store everything readable from ``source``; return the digest."""
    with store.open_write() as writer:
        while piece := source.read(PIECE_SIZE):
            writer.write(piece)
            advance(len(piece))
        return writer.close()


def open_blob(store: BlobStore, digest: bytes, store_url: str) -> BlobReader:
    """The reader ``get`` copies from a local store, which reads its own data (remote stores are
    read verified, by baostore.cli.fetch)."""
    reader = store.open_read(digest)
    if reader is None:
        raise BlobNotFoundError(digest, store_url)
    return reader


def blob_size(reader: BlobReader) -> int:
    size = reader.seek(0, io.SEEK_END)
    reader.seek(0)
    return size


def copy_range(
    reader: BlobReader,
    start: int,
    end: int,
    sink: BinaryIO,
    advance: Advance,
    read: Callable[[int], bytes] | None = None,
) -> None:
    """Copy bytes ``[start, end)`` of ``reader`` to ``sink``, with ``read`` (default
    ``reader.read``; a verified reader's ``read1`` hands on pieces as they are released)."""
    read = read or reader.read
    reader.seek(start)
    position = start
    while position < end:
        piece = read(min(PIECE_SIZE, end - position))
        if not piece:
            raise DataLossError(f"the blob ended at byte {position}, before {end}")
        sink.write(piece)
        position += len(piece)
        advance(len(piece))


@contextlib.contextmanager
def atomic_output(path: Path) -> Iterator[BinaryIO]:
    """A file that appears at ``path`` only if the block succeeds (temp file + rename)."""
    directory = path.parent
    if path.is_dir():
        raise IsADirectoryError(f"cannot write {path}: it is a directory")
    if not directory.is_dir():
        raise FileNotFoundError(f"cannot write {path}: directory {directory} does not exist")
    fd, temp_name = tempfile.mkstemp(dir=directory, prefix=f".{path.name}.", suffix=".part")
    temp_path = Path(temp_name)
    try:
        # mkstemp creates 0600; the result should get the usual permissions of a new file.
        os.fchmod(fd, new_file_mode())
        with os.fdopen(fd, "wb") as output:
            yield output
            output.flush()
            os.fsync(output.fileno())
        temp_path.replace(path)
    except BaseException:
        temp_path.unlink(missing_ok=True)
        raise


def is_special_file(path: Path) -> bool:
    """Whether ``path`` is an existing device, FIFO or socket (followed through symlinks): output
    is written into it, as cat and curl do, never renamed over it (``-o /dev/null``)."""
    try:
        mode = path.stat().st_mode
    except (FileNotFoundError, NotADirectoryError):
        return False
    return not (S_ISREG(mode) or S_ISDIR(mode))


@contextlib.contextmanager
def output_file(path: Path) -> Iterator[BinaryIO]:
    """Where ``get`` writes: into a special file as it is, else through ``atomic_output``."""
    if is_special_file(path):
        # No O_CREAT: if it vanished since, fail rather than create a file that skipped the rename.
        with os.fdopen(os.open(path, os.O_WRONLY), "wb") as output:
            yield output
    else:
        with atomic_output(path) as output:
            yield output


def stat_record(digest: bytes, stat: Stat, *, with_bao: bool) -> dict[str, Any]:
    """The JSON object ``baostore stat --json`` prints."""
    record: dict[str, Any] = {
        "digest": format_digest(digest),
        "size": stat.size,
        "chunks": [{"digest": chunk.digest.hex(), "size": chunk.size} for chunk in stat.chunks],
        "bao_shift": stat.bao_shift,
        "bao_format": stat.bao_format,
        "bao_size": len(stat.bao),
    }
    if with_bao:
        record["bao"] = stat.bao.hex()
    return record


def shift_note(asked: int, stat: Stat) -> str | None:
    """Why the answer's shift is not ``asked`` (None when it is)."""
    # Only stat asks for the note: the store and reader modules load only then.
    from baostore.store.answers import REHASH_LIMIT
    from baostore.verify.layout import MAX_MESSAGE_SIZE

    if stat.bao_shift == asked:
        return None
    reasons = []
    if stat.bao_shift < asked:
        reasons.append("the store answered with a finer bao than asked for")
    else:
        if stat.size > REHASH_LIMIT:
            reasons.append(
                "a bao finer than the stored one means hashing the blob again, which a baostore "
                f"store does only for blobs up to {format_size(REHASH_LIMIT)}"
            )
        needed = bao.outboard_size(stat.size, asked, stat.bao_format)
        if needed + CHUNK_ENTRY_SIZE * len(stat.chunks) >= MAX_MESSAGE_SIZE:
            reasons.append(
                f"the bao at shift {asked} ({format_size(needed)}) and the chunk list would not "
                f"fit one {format_size(MAX_MESSAGE_SIZE)} answer"
            )
        if not reasons:
            reasons.append("the store chose a coarser one")
    return f"note: asked for shift {asked}, answered at shift {stat.bao_shift}: " + "; ".join(
        reasons
    )


def stat_lines(digest: bytes, stat: Stat) -> list[str]:
    """The human-readable ``baostore stat`` output."""
    chunk_note = f"{len(stat.chunks)}" if stat.chunks else "none (no finer chunking)"
    lines = [
        f"digest      {format_digest(digest)}",
        f"size        {stat.size} bytes",
        f"chunks      {chunk_note}",
        f"bao         {len(stat.bao)} bytes, {stat.bao_format} at shift {stat.bao_shift}"
        f" ({1024 << stat.bao_shift} byte groups)",
    ]
    lines += [f"  {chunk.digest.hex()}  {chunk.size}" for chunk in stat.chunks[:MAX_CHUNKS_SHOWN]]
    if len(stat.chunks) > MAX_CHUNKS_SHOWN:
        lines.append(f"  ... {len(stat.chunks) - MAX_CHUNKS_SHOWN} more (--json lists them all)")
    return lines
