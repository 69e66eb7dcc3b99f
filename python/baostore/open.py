"""Open any store from a URL: object storage backends and remote gRPC stores.

This sits above both ``store/`` and ``grpc/`` (the gRPC client needs the store interface, and the
opener needs the gRPC client), so neither has to import the other's side.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import platformdirs

from baostore.store.interface import DEFAULT_BAO_SHIFT, BlobStore, ChunkSizes
from baostore.store.urls import OBJECT_SCHEMES, S3_OPTIONS, UrlOptions

if TYPE_CHECKING:
    from baostore.grpc.rate import MinimumRate

GRPC_SCHEMES = ("grpc+http", "grpc+https", "grpc+unix")
SUPPORTED_SCHEMES = (*OBJECT_SCHEMES, *GRPC_SCHEMES)
# How an object store cuts blobs: the average chunk size, optionally the bounds (sizes with
# units, as baostore.sizes reads them; min and max default to avg / 4 and 4 avg).
CHUNK_OPTIONS = ("chunk_avg", "chunk_min", "chunk_max")
# Options every object-store URL accepts, in its query string.
STORE_OPTIONS = ("bao_shift", *CHUNK_OPTIONS)


def open_store(
    url: str,
    *,
    timeout: float | None = None,
    idle_timeout: float | None = None,
    min_rate: MinimumRate | None = None,
    create: bool = True,
) -> BlobStore:
    """Open the store ``url`` names.

    * ``memory://`` — in this process only;
    * ``file:///path`` — a directory (created if missing; with ``create=False`` a missing one
      is a MissingStoreError instead: for callers that only read);
    * ``s3://BUCKET/PREFIX?endpoint=URL&region=R`` — credentials from the AWS environment;
    * ``grpc+http://HOST:PORT``, ``grpc+https://HOST:PORT``, ``grpc+unix:///PATH`` — a server.

    Object stores accept ``?bao_shift=N`` (the shift of the stored bao, default 4) and
    ``chunk_avg=SIZE`` (``chunk_min``, ``chunk_max``: how blobs are cut). A gRPC store
    takes ``timeout`` (seconds for a unary call), ``idle_timeout`` (seconds a stream may move
    no data) and ``min_rate`` (the least a stream must move per window of waiting); other stores
    have no calls to time out and refuse them.
    """
    scheme = urlsplit(url).scheme.lower()
    if scheme in GRPC_SCHEMES:
        # Imported here: the gRPC stack is heavy and object-store users do not need it.
        from baostore.grpc.client import GrpcBlobStore

        return GrpcBlobStore.from_url(
            url, timeout=timeout, idle_timeout=idle_timeout, min_rate=min_rate
        )
    if scheme not in OBJECT_SCHEMES:
        raise ValueError(
            f"unsupported store URL {url!r}: the scheme must be one of "
            + ", ".join(f"{name}://" for name in SUPPORTED_SCHEMES)
        )
    if timeout is not None or idle_timeout is not None or min_rate is not None:
        raise ValueError(
            f"{url!r}: timeout, idle_timeout and min_rate apply to grpc+http://, grpc+https:// "
            "and grpc+unix:// stores only"
        )
    # Imported here too: the object-store stack (obstore) loads only when a store is opened.
    from baostore.store.chunked import ChunkedStore
    from baostore.store.objects import backend_from_url

    options = UrlOptions(url)
    # Everything is checked before the backend exists, so a bad URL creates no directory.
    options.refuse_unknown((*STORE_OPTIONS, *(S3_OPTIONS if scheme == "s3" else ())))
    bao_shift = options.take_shift()
    chunk_sizes = _chunk_sizes(url, options)
    backend = backend_from_url(urlsplit(url), options, create=create)
    return ChunkedStore(
        backend,
        bao_shift=DEFAULT_BAO_SHIFT if bao_shift is None else bao_shift,
        chunk_sizes=chunk_sizes,
    )


def _chunk_sizes(url: str, options: UrlOptions) -> ChunkSizes:
    """The chunking a URL's ``chunk_avg``/``chunk_min``/``chunk_max`` ask for (the default
    chunking without them); ValueError naming the URL for sizes that do not make a chunking."""
    from baostore.store.chunked import DEFAULT_CHUNK_SIZES

    avg, low, high = (options.take_size(key) for key in CHUNK_OPTIONS)
    if avg is None:
        if low is not None or high is not None:
            raise ValueError(f"{url!r}: chunk_min and chunk_max need chunk_avg")
        return DEFAULT_CHUNK_SIZES
    try:
        return ChunkSizes.around(avg, low, high)
    except ValueError as error:
        raise ValueError(f"{url!r}: {error}") from None


def default_store_url() -> str:
    """The embedded on-disk store used when no store is given: under the user's data directory."""
    return (Path(platformdirs.user_data_dir("baostore")) / "store").as_uri()
