"""The partial file of a download: where it is, who may use it, and who is using it.

A ``get`` to a file collects into ``<target>.<digest prefix>.baostore-partial`` beside the target
(``...<digest prefix>.A-B.baostore-partial`` for ``--range A:B``) and renames it into place once
every byte verified. An existing target that is not yet the blob is *adopted*: it becomes the
partial (renamed, same file, so nothing is copied), is completed in place, and is renamed back
when done, or when the get fails (``restore``): a get never makes a user's file disappear.
That file may sit in a directory shared with other users and other ``get``s, so it is opened with
care:

* never through a symlink (one planted there would make get write the file it points to);
* a new partial is created ``0600`` with ``O_EXCL``; an existing one is used only if it is a
  regular file of ours that nobody else can write (a planted one could be rewritten by its owner
  after verification, or hard-linked elsewhere);
* it is held under an exclusive ``flock`` from opening until after the rename: a second ``get``
  to the same target refuses to touch it (it would otherwise adopt a file still being appended
  to, and rename it into place while the first one writes).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

PARTIAL_SUFFIX = ".baostore-partial"
# Bits that let someone other than the owner change the file.
_WRITABLE_BY_OTHERS = stat.S_IWGRP | stat.S_IWOTH


class PartialFileError(OSError):
    """The partial file cannot be used safely (in use by another get, or not ours)."""


def partial_path(target: Path, digest: bytes, byte_range: tuple[int, int] | None = None) -> Path:
    """Where a download of ``digest`` (or of its bytes ``byte_range``) to ``target`` collects:
    named by the digest and the range, so it is never mistaken for another download's."""
    part = "" if byte_range is None else f".{byte_range[0]}-{byte_range[1]}"
    return target.with_name(f"{target.name}.{digest.hex()[:32]}{part}{PARTIAL_SUFFIX}")


def adopt(target: Path, partial: Path) -> bool:
    """Make the existing file ``target`` the partial ``partial`` (the same file under the
    partial's name; nothing is copied), if it is a private regular file of ours with one link
    and no partial exists. Whether it was adopted (if not, ``target`` is left as it was)."""
    try:
        before = os.stat(target, follow_symlinks=False)
    except FileNotFoundError:
        return False
    if _private_problem(target, before) is not None:
        return False
    try:
        os.link(target, partial, follow_symlinks=False)  # never replaces an existing partial
    except FileExistsError:
        return False
    if not _names_same_inode(partial, before):  # the target was swapped meanwhile: undo
        partial.unlink()
        return False
    target.unlink()
    return True


def restore(partial: Path, target: Path) -> bool:
    """Give an adopted file its name back (the target name must still be free); whether it was.
    Call it while the partial is still locked."""
    try:
        os.link(partial, target, follow_symlinks=False)
    except FileExistsError:
        return False
    partial.unlink()
    return True


@contextlib.contextmanager
def locked_partial(partial: Path, *, keep: bool) -> Iterator[BinaryIO]:
    """The partial file, opened for reading and writing and locked for this process alone.

    ``keep`` False empties an existing partial (start over). PartialFileError when another
    process holds it or when it is not a private regular file of the current user. The lock is
    held until the block ends, so a ``publish`` inside the block renames a file nobody else
    writes.
    """
    descriptor = _open_locked(partial)
    with os.fdopen(descriptor, "r+b") as file:
        if not keep:
            file.truncate(0)
        yield file


def publish(file: BinaryIO, partial: Path, target: Path) -> None:
    """Make the (complete, verified, locked) partial the target: durable first, then renamed,
    with the permissions a new file gets (the partial was private while it was unverified)."""
    file.flush()
    os.fsync(file.fileno())
    os.fchmod(file.fileno(), new_file_mode())
    partial.replace(target)


def _open_locked(partial: Path) -> int:
    """A descriptor of the partial at ``partial`` (created if missing), exclusively locked."""
    while True:
        descriptor = _open_or_create(partial)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(descriptor)
            raise PartialFileError(
                f"another baostore get is writing {partial}: let it finish (or stop it) and "
                "run this get again"
            ) from None
        except BaseException:
            os.close(descriptor)
            raise
        # The get that held the lock may have renamed this very file into place (or removed it)
        # before letting go: the lock is only ours if the name still leads to the same file.
        if _names_same_file(partial, descriptor):
            return descriptor
        os.close(descriptor)


def _open_or_create(partial: Path) -> int:
    nofollow = getattr(os, "O_NOFOLLOW", 0)
    while True:
        if partial.is_symlink():
            partial.unlink()  # never ours: not followed, removed
        try:
            return os.open(partial, os.O_RDWR | os.O_CREAT | os.O_EXCL | nofollow, 0o600)
        except FileExistsError:
            pass
        try:
            descriptor = os.open(partial, os.O_RDWR | nofollow)
        except FileNotFoundError:
            continue  # removed since: create it
        except OSError as error:
            if partial.is_symlink():
                continue  # planted since: removed on the next round
            raise PartialFileError(f"cannot use {partial}: {error.strerror}") from None
        try:
            _check_private(partial, os.fstat(descriptor))
        except BaseException:
            os.close(descriptor)
            raise
        return descriptor


def _check_private(partial: Path, info: os.stat_result) -> None:
    """Refuse a partial that someone else could have planted or could still change."""
    problem = _private_problem(partial, info)
    if problem is not None:
        raise PartialFileError(problem)


def _private_problem(path: Path, info: os.stat_result) -> str | None:
    """Why the file ``path`` (``info``) is not a private regular file of ours with one link."""
    if not stat.S_ISREG(info.st_mode):
        return f"{path} is not a regular file; remove it to download here"
    if info.st_uid != os.geteuid():
        return f"{path} belongs to another user (uid {info.st_uid}); refusing to use it"
    if info.st_mode & _WRITABLE_BY_OTHERS:
        return (
            f"{path} is writable by other users (mode {stat.S_IMODE(info.st_mode):o}); "
            "refusing to use it"
        )
    if info.st_nlink != 1:
        return f"{path} has other hard links; refusing to use it"
    return None


def _names_same_file(path: Path, descriptor: int) -> bool:
    return _names_same_inode(path, os.fstat(descriptor))


def _names_same_inode(path: Path, info: os.stat_result) -> bool:
    try:
        named = os.stat(path, follow_symlinks=False)
    except FileNotFoundError:
        return False
    return (named.st_dev, named.st_ino) == (info.st_dev, info.st_ino)


def new_file_mode() -> int:
    """The permissions a file created now gets: 0666 less the umask."""
    current = os.umask(0o022)
    os.umask(current)
    return 0o666 & ~current
