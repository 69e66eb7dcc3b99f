"""``baostore get``: a blob (or a byte range of it) into a file, completing whatever is there.

From a store that is not trusted (a remote one) every byte written has been verified against the
digest first; chunks come from the local chunk cache when it holds them (from any blob) and enter
it only once verified, and seeds (``--seed``, ``--seed-dir``: similar local files) serve any chunk
they hold. A trusted store (a local one, a cache tier, substituters) is read as it is.

To a file, ``get`` completes what is there: the partial of an earlier get of the same blob (and
range) to the same target, else the target itself. It is checked group by group; every group that
verifies is kept and only the chunks covering the others are read, their bytes written at their
offsets; the file is renamed into place only when every group verified. A target that already is
the blob costs its proofs only (one Stat up to 64 MiB, one per 64 MiB window beyond). An
interrupted get keeps its partial (or gives an adopted target back) for the next get to
continue; data that fails verification leaves no partial behind.
"""

from __future__ import annotations

import argparse
import glob
import os
import stat
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import platformdirs

from baostore.cli.failures import EXIT_OK
from baostore.cli.partial import (
    PARTIAL_SUFFIX,
    adopt,
    locked_partial,
    partial_path,
    publish,
    restore,
)
from baostore.cli.progress import Advance, bar_wanted, metered, summary, transfer_progress
from baostore.cli.ranges import ByteRange
from baostore.cli.transfer import BlobNotFoundError, is_special_file, output_file
from baostore.digests import format_digest
from baostore.open import open_store
from baostore.sizes import format_size
from baostore.store.chunked import DEFAULT_CHUNK_SIZES, ChunkSizes
from baostore.store.interface import BlobStore, ReadStats
from baostore.verify import ReadOptions, VerificationError, fetch_layout
from baostore.verify.local import FileCheck, check_file
from baostore.verify.ranges import Ranges
from baostore.verify.repair import RangeSource, StoreBlob, complete_file
from baostore.verify.seeds import SeedChunks, seed_files
from baostore.verify.windowed import open_checking

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
        help="start over: neither the partial of an earlier get nor an existing target is kept",
    )
    parser.add_argument(
        "--seed",
        metavar="FILE",
        action="append",
        type=Path,
        default=[],
        help="a similar local file (an older version, another copy) whose chunks of the blob are "
        "taken instead of fetched, every byte verified; may be repeated",
    )
    parser.add_argument(
        "--seed-dir",
        metavar="DIR",
        action="append",
        type=Path,
        default=[],
        help="every file in DIR is a seed; may be repeated",
    )


def open_cache(args: argparse.Namespace) -> BlobStore | None:
    if args.no_cache:
        return None
    return open_store(args.cache or default_cache_url())


def run_get(args: argparse.Namespace, store: BlobStore, url: str) -> int:
    """``get``: the blob (or ``--range``) to ``-o``; verified unless the store is trusted. Ends
    with a summary line on stderr unless ``--quiet``."""
    if args.quiet:
        args.no_progress = True
    with metered() as meter:
        outcome = _run_get(args, store, url)
    if args.quiet:
        return EXIT_OK
    if outcome is not None and outcome.summary:
        _note(outcome.summary)
    if outcome is None or not outcome.already:
        into = "stdout" if args.output == "-" else args.output
        verified = "" if store.trusted else ", verified"
        line = summary(f"got {into}", meter, format_digest(args.digest))
        print(f"{line}{verified}", file=sys.stderr)
    return EXIT_OK


def _run_get(args: argparse.Namespace, store: BlobStore, url: str) -> GetOutcome | None:
    options = ReadOptions(bao_shift=args.shift, bao_format=args.format)
    if _local_copy_may_exist(args.output, args.digest):
        # A copy to check: the first window as large as a check asks (one Stat for most).
        layout = open_checking(store, args.digest, options)
    else:  # nothing to check: open as a reader does (a small range read stays small)
        layout = fetch_layout(store, args.digest, options)
    if layout is None:
        raise BlobNotFoundError(args.digest, url)
    byte_range: ByteRange = args.range
    start, end = byte_range.within(layout.size)
    seeds = SeedFiles(seed_files(args.seed, args.seed_dir))
    if seeds.paths and store.trusted:
        _note("seeds are not needed: the store is read directly (it is local, or verifies)")
        seeds = SeedFiles()
    cache = None if store.trusted else open_cache(args)
    try:
        with StoreBlob(store, layout, cache=cache, read_options=options) as blob:
            return _get(args, blob, start, end, seeds)
    except VerificationError as error:
        raise VerificationError(
            f"{url} sent data that does not match blob {format_digest(args.digest)}: {error}"
        ) from error
    finally:
        if cache is not None:
            cache.close()


def _get(
    args: argparse.Namespace, blob: StoreBlob, start: int, end: int, seeds: SeedFiles
) -> GetOutcome | None:
    """The blob's bytes ``[start, end)`` to ``-o``: a file completed (its outcome), or a stream
    written (None)."""
    target = Path(args.output)
    show_bar = not args.no_progress
    if args.output == "-" or is_special_file(target):
        if seeds.paths:
            blob.use_cache(seeds.chunks_for(blob, Ranges.span(start, end)))
        with transfer_progress(
            "get", end - start, enabled=bar_wanted(end - start, enabled=show_bar)
        ) as advance:
            if args.output == "-":
                copy_range_to(blob, start, end, sys.stdout.buffer, advance)
                sys.stdout.buffer.flush()
            else:
                with output_file(target) as output:
                    copy_range_to(blob, start, end, output, advance)
        return None
    return complete_target(
        blob,
        target,
        start,
        end,
        resume=not args.no_resume,
        seeds=seeds,
        show_bar=show_bar,
        note=_note,
    )


def copy_range_to(
    source: RangeSource, start: int, end: int, sink: BinaryIO, advance: Advance
) -> None:
    """Copy the blob's bytes ``[start, end)`` to ``sink`` as they come (verified ones: as they
    are released)."""
    for piece in source.read_range(start, end):
        sink.write(piece)
        advance(len(memoryview(piece)))


@dataclass(frozen=True)
class GetOutcome:
    """What a get to a file did: bytes kept in place, written, taken from seeds, and what the
    reads cost (None: a trusted store's own reads)."""

    target: Path
    total: int
    kept: int
    written: int
    seeded: int
    stats: ReadStats | None
    already: bool = False

    @property
    def summary(self) -> str | None:
        """The closing note when anything but a plain download happened; None otherwise."""
        if self.already:
            return f"{self.target} already is the blob ({format_size(self.total)}): nothing fetched"
        if not self.kept and not self.seeded:
            return None
        parts = [f"{format_size(self.kept)} kept in place"]
        if self.seeded:
            parts.append(f"{format_size(self.seeded)} from seeds")
        if self.stats is not None:
            parts.append(
                f"{format_size(self.stats.bytes_fetched)} fetched "
                f"({self.stats.chunks_fetched} chunks)"
            )
            if self.stats.chunks_from_cache:
                parts.append(f"{self.stats.chunks_from_cache} chunks from the cache")
            saved = max(0, self.total - self.stats.bytes_fetched)
            parts.append(f"{format_size(saved)} of {format_size(self.total)} not downloaded")
        return f"{self.target}: " + ", ".join(parts)


def complete_target(
    blob: StoreBlob,
    target: Path,
    start: int,
    end: int,
    *,
    resume: bool,
    seeds: SeedFiles | None = None,
    show_bar: bool = False,
    note: Note,
    advance: Advance | None = None,
) -> GetOutcome:
    """Make ``target`` hold exactly the blob's bytes ``[start, end)``, completing what is there.

    With ``resume``, the partial of an earlier get (any shape) is completed, else an existing
    target: left alone when it already is the blob, else adopted as the partial and completed in
    place (unless it is one of the ``seeds``: then it stays as it is until the new file replaces
    it). Without ``resume``, everything is fetched anew (but for what seeds hold). The partial is
    locked throughout (see baostore.cli.partial); ``advance`` (default: a progress bar when
    ``show_bar``) counts the bytes kept and written.
    """
    _check_target(target)
    total = end - start
    whole = (start, end) == (0, blob.size)
    partial = partial_path(target, blob.digest, None if whole else (start, end))
    in_place: _InPlace | None = None
    if resume and not partial.exists() and _is_regular_file(target):
        in_place = _check_in_place(blob, target, start, end, show_bar)
        if in_place.check.complete:
            return GetOutcome(target, total, total, 0, 0, None, already=True)
    seeds = seeds or SeedFiles()
    adopted = in_place is not None and not seeds.includes(target) and adopt(target, partial)
    done = _Counter()
    seed_chunks: SeedChunks | None = None
    with locked_partial(partial, keep=resume) as file:
        check = in_place.check if adopted and in_place and in_place.unchanged(file) else None
        if check is None:
            check = _check_partial(blob, file, start, end, show_bar)
        if check.verified:
            where = f"{target} (in place)" if adopted else partial.name
            note(f"resuming {where}: {check.verified.total} of {total} bytes verified")
        try:
            if seeds.paths:
                seed_chunks = seeds.chunks_for(blob, check.unverified)
                blob.use_cache(seed_chunks)

            def complete(check: FileCheck, advance: Advance) -> None:
                complete_file(
                    file.fileno(),
                    blob.bao,
                    blob.chunk_extent,
                    blob,
                    start=start,
                    end=end,
                    check=check,
                    advance=advance,
                )

            with transfer_progress(
                "get (verified)", total, enabled=bar_wanted(total, enabled=show_bar)
            ) as bar:
                try:
                    complete(check, done.counting(advance or bar))
                except VerificationError:
                    if seed_chunks is None:
                        raise
                    # A seed that changed between the reader's two looks at it: go on without.
                    note("a seed changed while it was read: fetching the rest without seeds")
                    blob.use_cache(seed_chunks.behind)
                    check = _check_partial(blob, file, start, end, show_bar=False)
                    done.total = check.verified.total
                    complete(check, done.counting(None))
        except VerificationError:
            if not (adopted and restore(partial, target)):
                partial.unlink(missing_ok=True)
            raise
        except BaseException:
            file.flush()
            if adopted and restore(partial, target):
                note(
                    f"{target} given back with {done.total} verified bytes; the same get "
                    "continues from there"
                )
            else:
                note(
                    f"kept {done.total} verified bytes in {partial}; the same get continues "
                    "from there"
                )
            raise
        publish(file, partial, target)
    seeded = 0 if seed_chunks is None else seed_chunks.seeded_bytes
    kept = check.verified.total
    return GetOutcome(target, total, kept, done.total - kept, seeded, blob.stats)


def seed_chunking(store: BlobStore, digest: bytes) -> ChunkSizes:
    """How the store cuts blobs, to cut seeds the same way: its Stat answer says (a store that
    does not is taken to cut as baostore does by default; cut otherwise, a seed matches less)."""
    stat = store.stat(digest, send_chunks=False, send_bao=False)
    return DEFAULT_CHUNK_SIZES if stat is None or stat.chunking is None else stat.chunking


@dataclass(frozen=True)
class SeedFiles:
    """The seed files of a get (``--seed``, ``--seed-dir``)."""

    paths: Sequence[Path] = ()

    def chunks_for(self, blob: StoreBlob, missing: Ranges) -> SeedChunks:
        """The seeds' chunks of ``blob`` covering ``missing``, in front of its chunk cache."""
        group = blob.bao.group_size
        wanted = [
            span
            for start, end in missing
            for span in blob.spans(start // group * group, min(-(-end // group) * group, blob.size))
        ]
        chunking = seed_chunking(blob.store, blob.digest)
        return SeedChunks.index(self.paths, chunking, wanted, behind=blob.cache)

    def includes(self, path: Path) -> bool:
        """Whether ``path`` is one of the seeds (the same file)."""
        for seed in self.paths:
            try:
                if path.samefile(seed):
                    return True
            except OSError:
                continue
        return False


@dataclass(frozen=True)
class _InPlace:
    """The check of an existing target, and what the target was when it began."""

    before: os.stat_result
    check: FileCheck

    def unchanged(self, file: BinaryIO) -> bool:
        """Whether ``file`` (the adopted target) is the very file checked, as it was then."""
        now = os.fstat(file.fileno())
        fields = ("st_dev", "st_ino", "st_size", "st_mtime_ns")
        same = all(getattr(now, name) == getattr(self.before, name) for name in fields)
        return same and not self.check.changed


def _check_in_place(
    blob: StoreBlob, target: Path, start: int, end: int, show_bar: bool
) -> _InPlace:
    before = os.stat(target)
    enabled = bar_wanted(before.st_size, enabled=show_bar)
    # Its own meter: what a check reads is not what the get transfers.
    with metered(), transfer_progress("check", before.st_size, enabled=enabled) as advance:
        check = check_file(target, blob.bao, start=start, end=end, advance=advance)
    return _InPlace(before, check)


def _check_partial(
    blob: StoreBlob, file: BinaryIO, start: int, end: int, show_bar: bool
) -> FileCheck:
    """What of the (locked) partial verifies; an empty one is not read."""
    size = os.fstat(file.fileno()).st_size
    if size == 0:
        return FileCheck(blob.digest, blob.size, start, end, 0, Ranges())
    enabled = bar_wanted(size, enabled=show_bar)
    with metered(), transfer_progress("check", size, enabled=enabled) as advance:
        return check_file(file.fileno(), blob.bao, start=start, end=end, advance=advance)


class _Counter:
    """Counts bytes kept and written, passing each count on."""

    def __init__(self) -> None:
        self.total = 0

    def counting(self, advance: Advance | None) -> Advance:
        def count(nbytes: int) -> None:
            self.total += nbytes
            if advance is not None:
                advance(nbytes)

        return count


def _is_regular_file(path: Path) -> bool:
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except (FileNotFoundError, NotADirectoryError):
        return False


def _local_copy_may_exist(output: str, digest: bytes) -> bool:
    """Whether ``get`` may find something to check at ``output``: the target, or a partial of
    the same blob (of any range) beside it."""
    if output == "-":
        return False
    target = Path(output)
    if _is_regular_file(target):
        return True
    pattern = f"{glob.escape(partial_path(target, digest).name.removesuffix(PARTIAL_SUFFIX))}*"
    return target.parent.is_dir() and any(target.parent.glob(pattern + PARTIAL_SUFFIX))


def _check_target(target: Path) -> None:
    if target.is_dir():
        raise IsADirectoryError(f"cannot write {target}: it is a directory")
    if not target.parent.is_dir():
        raise FileNotFoundError(f"cannot write {target}: directory {target.parent} does not exist")


def _note(message: str) -> None:
    print(f"baostore: {message}", file=sys.stderr)
