"""``baostore get`` from a remote (untrusted) store: verified, through a chunk cache, resumable.

Every byte written has been verified against the digest first. Chunks come from the local chunk
cache when it holds them (from any earlier blob) and enter it only once verified. A whole-blob
download goes to ``<target>.<digest>.baostore-partial`` beside the target, renamed into place at
the end; when it is interrupted (Ctrl-C, lost server) the partial stays, and the next ``get`` of
the same blob to the same target re-checks it against the bao, keeps its verified prefix and
fetches only the rest. Data that fails verification leaves no file behind.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

import platformdirs

from baostore.cli.partial import locked_partial, partial_path, publish
from baostore.cli.progress import Advance, bar_wanted, transfer_progress
from baostore.cli.transfer import (
    BlobNotFoundError,
    ByteRange,
    copy_range,
    is_special_file,
    output_file,
)
from baostore.digests import format_digest
from baostore.open import open_store
from baostore.store.interface import BlobStore
from baostore.verify import (
    BlobLayout,
    ReadOptions,
    VerificationError,
    VerifiedReader,
    fetch_layout,
    verified_prefix_length,
)

Note = Callable[[str], None]


def default_cache_url() -> str:
    """The chunk cache ``get`` uses unless told otherwise: under the user's cache directory."""
    return (Path(platformdirs.user_cache_dir("baostore")) / "chunks").as_uri()


def add_cache_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--cache",
        metavar="URL",
        help="chunk cache for remote stores: chunks it holds are not fetched again, verified "
        f"chunks are added (default {default_cache_url()})",
    )
    parser.add_argument(
        "--no-cache", action="store_true", help="fetch every chunk, keep none in a cache"
    )
    parser.add_argument(
        "--no-resume",
        action="store_true",
        help="start over instead of continuing the partial download of an earlier get",
    )


def open_cache(args: argparse.Namespace) -> BlobStore | None:
    if args.no_cache:
        return None
    return open_store(args.cache or default_cache_url())


def run_verified_get(args: argparse.Namespace, store: BlobStore, url: str) -> None:
    """``get`` from an untrusted store: the blob (or ``--range``) to ``-o``, verified."""
    options = ReadOptions(bao_shift=args.shift, bao_format=args.format)
    cache = None
    try:
        layout = fetch_layout(store, args.digest, options)
        if layout is None:
            raise BlobNotFoundError(args.digest, url)
        cache = open_cache(args)
        with VerifiedReader(store, layout, cache=cache, parallelism=options.parallelism) as reader:
            _get(args, reader, _note)
    except VerificationError as error:
        raise VerificationError(
            f"{url} sent data that does not match blob {format_digest(args.digest)}: {error}"
        ) from error
    finally:
        if cache is not None:
            cache.close()


def _get(args: argparse.Namespace, reader: VerifiedReader, note: Note) -> None:
    size = reader.layout.size
    byte_range: ByteRange = args.range
    start, end = byte_range.within(size)
    show_bar = bar_wanted(end - start, enabled=not args.no_progress)
    with transfer_progress("get (verified)", end - start, enabled=show_bar) as advance:
        if args.output == "-":
            copy_verified(reader, start, end, sys.stdout.buffer, advance)
            sys.stdout.buffer.flush()
        elif (start, end) != (0, size) or is_special_file(Path(args.output)):
            with output_file(Path(args.output)) as output:
                copy_verified(reader, start, end, output, advance)
        else:
            resumable_download(
                reader, Path(args.output), resume=not args.no_resume, advance=advance, note=note
            )


def copy_verified(
    reader: VerifiedReader, start: int, end: int, sink: BinaryIO, advance: Advance
) -> None:
    """Copy the verified bytes ``[start, end)`` to ``sink`` as they are released: each piece
    written as it came (no joining, no copy)."""
    reader.limit_readahead(end)
    copy_range(reader, start, end, sink, advance, read=reader.read1_pieces)


def resumable_download(
    reader: VerifiedReader, target: Path, *, resume: bool, advance: Advance, note: Note
) -> None:
    """The whole blob to ``target`` through its partial file, continuing a verified prefix.

    The partial is locked for the whole download and its rename (see baostore.cli.partial), so
    a second get to the same target refuses instead of adopting a file still being written.
    """
    _check_target(target)
    partial = partial_path(target, reader.layout.digest)
    with locked_partial(partial, keep=resume) as output:
        kept = verified_partial_prefix(reader.layout, output)
        if kept:
            note(f"resuming {partial.name}: {kept} of {reader.layout.size} bytes verified")
            advance(kept)
        try:
            copy_verified(reader, kept, reader.layout.size, output, advance)
        except VerificationError:
            partial.unlink(missing_ok=True)
            raise
        except BaseException:
            output.flush()
            note(
                f"kept {output.tell()} verified bytes in {partial}; "
                "the same get continues from there"
            )
            raise
        publish(output, partial, target)


def verified_partial_prefix(layout: BlobLayout, partial: BinaryIO) -> int:
    """Re-check a partial download (never trusted); cut it to its verified prefix."""
    kept = verified_prefix_length(layout, partial) if partial.seek(0, os.SEEK_END) else 0
    partial.truncate(kept)
    partial.seek(kept)
    return kept


def _check_target(target: Path) -> None:
    if target.is_dir():
        raise IsADirectoryError(f"cannot write {target}: it is a directory")
    if not target.parent.is_dir():
        raise FileNotFoundError(f"cannot write {target}: directory {target.parent} does not exist")


def _note(message: str) -> None:
    print(f"baostore: {message}", file=sys.stderr)
