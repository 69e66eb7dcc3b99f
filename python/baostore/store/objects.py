"""Object storage backends (memory, local files, S3) behind one small interface, via obstore.

Every write is atomic: obstore's put either stores the whole object or nothing. Local files are
written by us, durably: a staging file ``<key>#<n>`` (a name obstore never lists and that never
collides with our keys, hex digests only) is written, fsynced, renamed into place, and its
directory fsynced, so an acknowledged object survives a power cut too, not just a killed process.
Reads, listing and deletes of local files go through obstore like every other backend.

Big objects are written as streams (``open_writer``: an S3 multipart upload, a staging file
appended to) and read by byte range (``get_range``/``get_ranges``), so neither side holds a whole
object in memory. A streamed object, too, appears only when its writer is closed.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from stat import S_ISREG
from typing import TYPE_CHECKING, Any
from urllib.parse import SplitResult, unquote

import obstore
from obstore.store import LocalStore, MemoryStore, S3Store
from typing_extensions import Buffer

from baostore.errors import MissingStoreError
from baostore.sizes import KiB, MiB
from baostore.store.interface import StoreError
from baostore.store.urls import OBJECT_SCHEMES, UrlOptions

if TYPE_CHECKING:
    from obstore.store import ObjectStore, S3Config

# obstore's errors end with the Rust error's Debug formatting after this line.
_RUST_DEBUG_DUMP = "\n\nDebug source:"
# Where S3 settings come from besides the URL (obstore reads these from the environment).
S3_ENDPOINT_ENV = ("AWS_ENDPOINT", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3")
S3_REGION_ENV = ("AWS_REGION", "AWS_DEFAULT_REGION")
# Credentials that need no instance-metadata endpoint, each complete with all of its variables;
# an explicit AWS_METADATA_ENDPOINT asks for the instance's credentials (EC2). Without any of
# them obstore would ask http://169.254.169.254, which off EC2 is waited on, retried, for
# minutes.
S3_CREDENTIAL_ENV = (
    ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"),
    ("AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN"),
    ("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",),
    ("AWS_CONTAINER_CREDENTIALS_FULL_URI",),
    ("AWS_METADATA_ENDPOINT",),
)
_LIST_PAGE = 1000
# A streamed object is uploaded in parts of this size (S3 multipart); smaller ones in one put.
STREAM_PART_SIZE = 8 * MiB
# Ranges of one object closer than this are fetched with one request (a proof's pairs lie
# scattered over a post-order bao: merging them further would read far more than the proof).
RANGE_COALESCE = 4 * KiB
# Bucket names as S3 defines them: 3-63 lower-case letters, digits, dots and hyphens.
_BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


@dataclass(frozen=True)
class ObjectInfo:
    """An object as a listing shows it: its key, size and modification time (seconds since the
    epoch, by the backend's clock)."""

    key: str
    size: int
    modified: float


def _object_info(meta: Any) -> ObjectInfo:
    return ObjectInfo(str(meta["path"]), int(meta["size"]), meta["last_modified"].timestamp())


class ObjectBackend:
    """Whole objects addressed by key: get, size, atomic put, delete, list.

    Missing objects read as None; every other failure of the underlying store becomes a
    StoreError naming the backend, the operation and the key, with the original as its cause.
    Safe to share between threads (obstore stores are).
    """

    def __init__(self, store: ObjectStore, description: str, *, at_rest: bool = True) -> None:
        self._store = store
        self.description = description
        # Whether objects lie at rest where they can change behind the store's back (a disk that
        # rots, a bucket others write to): reads of them are checked against their digests. A
        # memory backend's objects never leave the process that hashed them as it wrote them.
        self.at_rest = at_rest

    def __repr__(self) -> str:
        return f"ObjectBackend({self.description})"

    def get(self, key: str) -> bytes | None:
        view = self._get(key)
        return None if view is None else bytes(view)

    def get_view(self, key: str) -> memoryview | None:
        """The object's bytes as a read-only view of the buffer obstore read them into (no copy),
        or None when there is no object under ``key``."""
        return self._get(key)

    def _get(self, key: str) -> memoryview | None:
        try:
            return memoryview(obstore.get(self._store, key).bytes())
        except FileNotFoundError:
            return None
        except Exception as error:
            raise self._failure("get", key, error) from error

    def read_into(self, key: str, offset: int, target: memoryview) -> int | None:
        """Copy the object's bytes from ``offset`` into ``target`` (as many as it holds, at most
        ``len(target)``), returning how many; None when there is no object under ``key``. Lets a
        reader gather pieces of many objects into one buffer without a buffer per object."""
        view = self._get(key)
        if view is None:
            return None
        piece = view[offset : offset + len(target)]
        target[: len(piece)] = piece
        return len(piece)

    def get_ranges(self, key: str, ranges: Sequence[tuple[int, int]]) -> list[bytes]:
        """The bytes of each ``[start, end)`` of an object, in as few requests as ranges close
        to each other allow. StoreError for a missing object, or one shorter than a range's end:
        ranges are read from objects a record says exist."""
        wanted = [(start, end) for start, end in ranges if end > start]
        try:
            found = (
                obstore.get_ranges(
                    self._store,
                    key,
                    starts=[start for start, _ in wanted],
                    ends=[end for _, end in wanted],
                    coalesce=RANGE_COALESCE,
                )
                if wanted
                else []
            )
        except Exception as error:
            raise self._failure("get range of", key, error) from error
        pieces = iter(found)
        result = []
        for start, end in ranges:
            piece = bytes(next(pieces)) if end > start else b""
            if len(piece) != max(0, end - start):
                raise StoreError(
                    f"{self.description}: object {key!r} ends before byte {end} "
                    f"(range from {start} gave {len(piece)} bytes)"
                )
            result.append(piece)
        return result

    def open_writer(self, key: str) -> ObjectWriter:
        """A stream writing the object ``key``, which appears (replacing any object there) only
        when the writer is closed; ``abort`` leaves nothing behind (best effort on S3, whose
        unfinished multipart uploads its lifecycle rules clear)."""
        try:
            return _ObstoreWriter(self, key)
        except Exception as error:
            raise self._failure("open writer for", key, error) from error

    def size(self, key: str) -> int | None:
        """The object's size, or None when there is no object under ``key``."""
        try:
            return int(obstore.head(self._store, key)["size"])
        except FileNotFoundError:
            return None
        except Exception as error:
            raise self._failure("head", key, error) from error

    def put(self, key: str, data: Buffer) -> None:
        """Store ``data`` under ``key`` atomically, replacing any object there."""
        try:
            # A single request: no multipart upload whose parts could linger on failure.
            obstore.put(self._store, key, data, use_multipart=False)
        except Exception as error:
            raise self._failure("put", key, error) from error

    def delete(self, key: str) -> None:
        try:
            obstore.delete(self._store, key)
        except FileNotFoundError:
            return
        except Exception as error:
            raise self._failure("delete", key, error) from error

    def put_transient(self, key: str, data: Buffer) -> None:
        """``put`` for an object that only matters while its writer runs (a Put's intents): as
        atomic and as visible, but a local file is not made durable (no fsync) — a power cut
        ends its writer too."""
        self.put(key, data)

    def keys(self, prefix: str) -> Iterator[str]:
        """Every key under ``prefix`` (a path prefix such as ``"chunks"``), in no set order."""
        return (info.key for info in self.objects(prefix))

    def objects(self, prefix: str) -> Iterator[ObjectInfo]:
        """Every object under ``prefix`` with its size and modification time, in no set order."""
        try:
            for page in obstore.list(self._store, prefix, chunk_size=_LIST_PAGE):
                for meta in page:
                    yield _object_info(meta)
        except Exception as error:
            raise self._failure("list", prefix, error) from error

    def _failure(self, operation: str, key: str, error: Exception) -> StoreError:
        return StoreError(f"{self.description}: {operation} {key!r} failed: {_brief(error)}")


def _brief(error: Exception) -> str:
    """obstore's error text on one line, without the Rust ``Debug`` dump it appends (dozens of
    lines of nested structs, no news for a person)."""
    text = str(error).partition(_RUST_DEBUG_DUMP)[0]
    return " ".join(text.split())


class ObjectWriter:
    """An object written as a stream: ``write`` pieces, ``close`` makes it appear, ``abort``
    discards it. Not shared between threads."""

    def write(self, data: Buffer) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def abort(self) -> None:
        raise NotImplementedError


class _ObstoreWriter(ObjectWriter):
    """obstore's buffered writer: one put for a small object, a multipart upload for a big one."""

    def __init__(self, backend: ObjectBackend, key: str) -> None:
        self._backend = backend
        self._key = key
        self._file = obstore.open_writer(backend._store, key, buffer_size=STREAM_PART_SIZE)

    def write(self, data: Buffer) -> None:
        try:
            self._file.write(data)
        except Exception as error:
            self.abort()
            raise self._backend._failure("stream to", self._key, error) from error

    def close(self) -> None:
        try:
            self._file.close()
        except Exception as error:
            self.abort()
            raise self._backend._failure("finish", self._key, error) from error

    def abort(self) -> None:
        # Leaving the writer with an error aborts its multipart upload; the object never
        # appeared, but a put that raced the abort is removed too.
        with contextlib.suppress(Exception):
            self._file.__exit__(RuntimeError, RuntimeError("aborted"), None)
        with contextlib.suppress(StoreError):
            self._backend.delete(self._key)


class FileObjectBackend(ObjectBackend):
    """Local files: whole reads and sizes by plain system calls (obstore's cost ~30x a stat and
    twice a read, on its runtime's threads), ranges, listing and deletes through obstore, our
    own durable writes (see the module docstring)."""

    def __init__(self, store: ObjectStore, root: Path) -> None:
        super().__init__(store, root.as_uri())
        self.root = root
        # Directories known to exist: a mkdir per object would cost as much as its fsync.
        self._directories: set[Path] = set()

    def size(self, key: str) -> int | None:
        try:
            info = os.stat(self.root / key)
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as error:
            raise self._failure("head", key, error) from error
        return info.st_size if S_ISREG(info.st_mode) else None

    def _get(self, key: str) -> memoryview | None:
        try:
            with open(self.root / key, "rb") as file:
                return memoryview(file.read())
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            return None
        except OSError as error:
            raise self._failure("get", key, error) from error

    def read_into(self, key: str, offset: int, target: memoryview) -> int | None:
        # Straight from the page cache into the caller's buffer: no object-sized allocation
        # (whose page faults cost more than the copy).
        try:
            descriptor = os.open(self.root / key, os.O_RDONLY)
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            return None
        except OSError as error:
            raise self._failure("get", key, error) from error
        filled = 0
        try:
            while filled < len(target):
                count = os.preadv(descriptor, [target[filled:]], offset + filled)
                if count == 0:
                    break
                filled += count
        except OSError as error:
            raise self._failure("get", key, error) from error
        finally:
            os.close(descriptor)
        return filled

    def put(self, key: str, data: Buffer) -> None:
        writer = self.open_writer(key)
        writer.write(data)
        writer.close()

    def put_transient(self, key: str, data: Buffer) -> None:
        writer = self.open_writer(key, durable=False)
        writer.write(data)
        writer.close()

    def open_writer(self, key: str, *, durable: bool = True) -> ObjectWriter:
        target = self.root / key
        staging = target.with_name(f"{target.name}#{secrets.randbelow(1 << 62)}")
        try:
            descriptor = self._create(staging)
        except OSError as error:
            raise self._failure("put", key, error) from error
        return _DurableFileWriter(self, key, target, staging, descriptor, durable=durable)

    def _create(self, staging: Path) -> int:
        """Open a new staging file, making its directory the first time (or if it was removed)."""
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
        if staging.parent in self._directories:
            try:
                return os.open(staging, flags, 0o644)
            except FileNotFoundError:
                self._directories.discard(staging.parent)
        staging.parent.mkdir(parents=True, exist_ok=True)
        self._directories.add(staging.parent)
        return os.open(staging, flags, 0o644)


class _DurableFileWriter(ObjectWriter):
    """A staging file appended to, fsynced, renamed into place and its directory fsynced (not
    ``durable``: renamed only, for objects that matter only while their writer runs)."""

    def __init__(
        self,
        backend: FileObjectBackend,
        key: str,
        target: Path,
        staging: Path,
        descriptor: int,
        *,
        durable: bool = True,
    ) -> None:
        self._backend = backend
        self._key = key
        self._target = target
        self._staging = staging
        self._descriptor: int | None = descriptor
        self._durable = durable

    def write(self, data: Buffer) -> None:
        descriptor = self._open_descriptor()
        try:
            with memoryview(data) as raw, raw.cast("B") as view:
                written = 0
                while written < len(view):
                    written += os.write(descriptor, view[written:])
        except OSError as error:
            self.abort()
            raise self._backend._failure("put", self._key, error) from error

    def close(self) -> None:
        descriptor = self._open_descriptor()
        try:
            if self._durable:
                os.fsync(descriptor)
            os.close(descriptor)
            self._descriptor = None
            os.replace(self._staging, self._target)
            if self._durable:
                _fsync_directory(self._target.parent)
        except OSError as error:
            self.abort()
            raise self._backend._failure("put", self._key, error) from error

    def abort(self) -> None:
        if self._descriptor is not None:
            with contextlib.suppress(OSError):
                os.close(self._descriptor)
            self._descriptor = None
        self._staging.unlink(missing_ok=True)

    def _open_descriptor(self) -> int:
        if self._descriptor is None:
            raise ValueError(f"object writer for {self._key!r} is closed")
        return self._descriptor


def _fsync_directory(directory: Path) -> None:
    """Make a rename in ``directory`` durable."""
    descriptor = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def memory_backend() -> ObjectBackend:
    """A backend that lives in this process only."""
    return ObjectBackend(MemoryStore(), "memory://", at_rest=False)


def file_backend(directory: str | Path, *, create: bool = True) -> ObjectBackend:
    """A backend under ``directory``, created if missing unless ``create`` is false
    (MissingStoreError then)."""
    root = Path(directory)
    if not root.is_absolute():
        raise ValueError(f"file store directory must be absolute, got {str(directory)!r}")
    if not create and not root.is_dir():
        raise MissingStoreError(f"no store at {root}")
    try:
        root.mkdir(parents=True, exist_ok=True)
        store = LocalStore(root)
    except Exception as error:
        raise StoreError(f"cannot open file store at {root}: {error}") from error
    return FileObjectBackend(store, root)


def s3_backend(
    bucket: str,
    prefix: str = "",
    *,
    endpoint: str | None = None,
    region: str | None = None,
    environ: Mapping[str, str] = os.environ,
) -> ObjectBackend:
    """A backend in an S3 bucket; credentials come from the usual AWS environment variables
    (``environ``). ValueError naming what to set when the endpoint or the credentials are not
    given (never a wait on an instance-metadata endpoint that is not there)."""
    if not _BUCKET_NAME.match(bucket):
        raise ValueError(f"invalid S3 bucket name {bucket!r}")
    check_s3_settings(bucket, endpoint, region, environ)
    config: S3Config = {}
    allow_http = False
    if endpoint is not None:
        if not endpoint.startswith(("http://", "https://")):
            raise ValueError(f"S3 endpoint must be an http:// or https:// URL, got {endpoint!r}")
        config["endpoint"] = endpoint
        allow_http = endpoint.startswith("http://")
    if region is not None:
        if not region:
            raise ValueError("S3 region must not be empty")
        config["region"] = region
    try:
        store = S3Store(
            bucket,
            prefix=prefix or None,
            config=config,
            client_options={"allow_http": allow_http},
        )
    except Exception as error:
        raise StoreError(f"cannot open S3 bucket {bucket!r}: {error}") from error
    location = f"s3://{bucket}/{prefix}" if prefix else f"s3://{bucket}"
    return ObjectBackend(store, location)


def check_s3_settings(
    bucket: str, endpoint: str | None, region: str | None, environ: Mapping[str, str]
) -> None:
    """ValueError unless an endpoint (or an AWS region) and credentials are given."""
    if (
        endpoint is None
        and region is None
        and not _any_set(environ, *S3_ENDPOINT_ENV, *S3_REGION_ENV)
    ):
        raise ValueError(
            f"s3://{bucket}: no endpoint: give ?endpoint=URL (an S3-compatible server) or "
            "?region=REGION (AWS S3) in the URL, or set AWS_ENDPOINT_URL or AWS_REGION"
        )
    anonymous = environ.get("AWS_SKIP_SIGNATURE", "").lower() in ("1", "true")
    if anonymous or any(all(environ.get(name) for name in names) for names in S3_CREDENTIAL_ENV):
        return
    raise ValueError(
        f"s3://{bucket}: no credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or "
        "AWS_WEB_IDENTITY_TOKEN_FILE and AWS_ROLE_ARN; AWS_SKIP_SIGNATURE=true for a public "
        "bucket; on EC2, AWS_METADATA_ENDPOINT=http://169.254.169.254 for the instance's role)"
    )


def _any_set(environ: Mapping[str, str], *names: str) -> bool:
    return any(environ.get(name) for name in names)


def backend_from_url(
    url: SplitResult, options: UrlOptions, *, create: bool = True
) -> ObjectBackend:
    """Open the backend a ``memory:``, ``file:`` or ``s3:`` URL names.

    Takes the query options it uses out of ``options``; rejects URL parts it does not use.
    ``create`` false: a file store that does not exist is a MissingStoreError.
    """
    scheme = url.scheme.lower()
    shown = url.geturl()
    _reject_userinfo_port_fragment(url, shown)
    if scheme == "memory":
        if url.netloc or url.path:
            raise ValueError(f"{shown!r}: a memory store takes no host or path (use 'memory://')")
        return memory_backend()
    if scheme == "file":
        if url.netloc:
            raise ValueError(
                f"{shown!r}: a file store URL has no host; use 'file:///absolute/path'"
            )
        path = unquote(url.path)
        if not path.startswith("/"):
            raise ValueError(f"{shown!r}: a file store needs an absolute path (file:///path)")
        return file_backend(path, create=create)
    if scheme == "s3":
        if not url.netloc:
            raise ValueError(f"{shown!r}: an S3 store needs a bucket (s3://BUCKET/PREFIX)")
        prefix = unquote(url.path).strip("/")
        return s3_backend(
            url.netloc,
            prefix,
            endpoint=options.take("endpoint"),
            region=options.take("region"),
        )
    raise ValueError(f"{shown!r}: not an object store scheme (supported: {OBJECT_SCHEMES})")


def _reject_userinfo_port_fragment(url: SplitResult, shown: str) -> None:
    if url.username is not None or url.password is not None:
        raise ValueError(f"{shown!r}: credentials in the URL are not supported")
    try:
        port = url.port
    except ValueError as error:
        raise ValueError(f"{shown!r}: {error}") from error
    if port is not None:
        raise ValueError(f"{shown!r}: this store takes no port")
    if url.fragment:
        raise ValueError(f"{shown!r}: a fragment ('#...') is not supported")
