"""Open any store from a URL: object storage backends and remote gRPC stores.

This sits above both ``store/`` and ``grpc/`` (the gRPC client needs the store interface, and the
opener needs the gRPC client), so neither has to import the other's side.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import platformdirs

from baostore import bao
from baostore.store.chunked import ChunkedStore
from baostore.store.interface import BlobStore
from baostore.store.objects import OBJECT_SCHEMES, S3_OPTIONS, backend_from_url

GRPC_SCHEMES = ("grpc+http", "grpc+https", "grpc+unix")
SUPPORTED_SCHEMES = (*OBJECT_SCHEMES, *GRPC_SCHEMES)
# Options every object-store URL accepts, in its query string.
STORE_OPTIONS = ("bao_shift",)


def open_store(url: str) -> BlobStore:
    """Open the store ``url`` names.

    * ``memory://`` — in this process only;
    * ``file:///path`` — a directory (created if missing);
    * ``s3://BUCKET/PREFIX?endpoint=URL&region=R`` — credentials from the AWS environment;
    * ``grpc+http://HOST:PORT``, ``grpc+https://HOST:PORT``, ``grpc+unix:///PATH`` — a server.

    Object stores accept ``?bao_shift=N`` (the shift of the stored bao, default 4).
    """
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme in GRPC_SCHEMES:
        # Imported here: the gRPC stack is heavy and object-store users do not need it.
        from baostore.grpc.client import GrpcBlobStore

        return GrpcBlobStore.from_url(url)
    if scheme not in OBJECT_SCHEMES:
        raise ValueError(
            f"unsupported store URL {url!r}: the scheme must be one of "
            + ", ".join(f"{name}://" for name in SUPPORTED_SCHEMES)
        )
    options = _query_options(url, parts.query)
    allowed = STORE_OPTIONS + (S3_OPTIONS if scheme == "s3" else ())
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise ValueError(
            f"{url!r}: unknown option(s) {', '.join(unknown)}; "
            f"a {scheme}:// store accepts {', '.join(allowed)}"
        )
    bao_shift = _int_option(url, options.pop("bao_shift", None))
    # Checked before the backend exists, so a bad URL creates no directory.
    if bao_shift is not None and bao_shift > bao.MAX_SHIFT:
        raise ValueError(f"{url!r}: bao_shift must be in 0..{bao.MAX_SHIFT}, got {bao_shift}")
    backend = backend_from_url(parts, options)
    if bao_shift is None:
        return ChunkedStore(backend)
    return ChunkedStore(backend, bao_shift=bao_shift)


def default_store_url() -> str:
    """The embedded on-disk store used when no store is given: under the user's data directory."""
    return (Path(platformdirs.user_data_dir("baostore")) / "store").as_uri()


def _query_options(url: str, query: str) -> dict[str, str]:
    options: dict[str, str] = {}
    try:
        pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query))
    except ValueError as error:
        raise ValueError(f"{url!r}: malformed query string: {error}") from error
    for key, value in pairs:
        if key in options:
            raise ValueError(f"{url!r}: option {key!r} given twice")
        if not value:
            raise ValueError(f"{url!r}: option {key!r} has no value")
        options[key] = value
    return options


def _int_option(url: str, value: str | None) -> int | None:
    if value is None:
        return None
    if not value.isdigit() or not value.isascii():
        raise ValueError(f"{url!r}: bao_shift must be a non-negative integer, got {value!r}")
    return int(value)
