"""Property tests for store URLs (open_store, backend_from_url, GrpcBlobStore.from_url).

URLs are built from parts. Valid ones must open as what they name; one defect (userinfo, even
empty; a fragment; an unknown scheme or option; a repeated or empty option; a bad shift, format,
port, host or path) must make them a ValueError; any combination of parts either opens or is a
ValueError. Only memory:// and file:// stores under the test's directory are really opened; gRPC
channels are lazy, so a gRPC store is parsed and closed without any connection.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import quote, unquote, urlencode

import pytest
from baostore import bao
from baostore.grpc.client import GrpcBlobStore
from baostore.open import open_store
from baostore.store.chunked import ChunkedStore
from baostore.store.interface import DEFAULT_BAO_SHIFT, BlobStore
from baostore.store.objects import FileObjectBackend
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

# The fixtures (a directory, a clean environment) hold for every example of a test.
PROPERTIES = settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
GRPC_HOSTS = ["localhost", "cache.example", "127.0.0.1", "[::1]", "xn--bcher-kva.example"]
SEGMENTS = st.lists(
    st.sampled_from(["a", "blobs", "x-1", "%20sp", "%C3%A9", "store.d", "B_2"]),
    min_size=1,
    max_size=3,
).map("/".join)
SHIFTS = st.integers(0, bao.MAX_SHIFT)
UNKNOWN_SCHEMES = ["http", "https", "ftp", "unix", "grpc", "grpc+tcp", "mem", "files", "s4"]
UNKNOWN_KEYS = ["shift", "Bao_shift", "bao-shift", "format", "endpoint", "region", "ca", "x", ""]


@dataclass(frozen=True)
class Parts:
    """A URL's parts; ``host`` None leaves out the whole ``//authority``."""

    scheme: str | None
    host: str | None = None
    userinfo: str | None = None
    port: str | None = None
    path: str = ""
    query: tuple[tuple[str, str], ...] = ()
    raw_query: str | None = None
    fragment: str | None = None

    @property
    def url(self) -> str:
        text = "" if self.scheme is None else f"{self.scheme}:"
        if self.host is not None:
            userinfo = "" if self.userinfo is None else f"{self.userinfo}@"
            port = "" if self.port is None else f":{self.port}"
            text += f"//{userinfo}{self.host}{port}"
        text += self.path
        query = (
            self.raw_query if self.raw_query is not None else urlencode(self.query, quote_via=quote)
        )
        if query or self.raw_query is not None:
            text += f"?{query}"
        return text if self.fragment is None else f"{text}#{self.fragment}"

    def with_option(self, key: str, value: str) -> Parts:
        return replace(self, query=(*self.query, (key, value)))


@dataclass(frozen=True)
class Files:
    """Where file stores go and the files URL options may name."""

    stores: Path
    token: Path
    empty: Path
    not_pem: Path
    missing: Path


@pytest.fixture
def files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Files:
    for variable in ("BAOSTORE_TOKEN", "BAOSTORE_CA"):
        monkeypatch.delenv(variable, raising=False)
    token, empty, not_pem = tmp_path / "token", tmp_path / "empty", tmp_path / "not.pem"
    token.write_text("secret-token\n")
    empty.write_text("")
    not_pem.write_text("no certificate here\n")
    return Files(tmp_path / "stores", token, empty, not_pem, tmp_path / "missing")


def any_case(scheme: str) -> st.SearchStrategy[str]:
    return st.sampled_from([scheme, scheme.upper(), scheme.capitalize()])


@st.composite
def shift_options(draw: st.DrawFn) -> tuple[tuple[str, str], ...]:
    return draw(st.sampled_from([(), (("bao_shift", str(draw(SHIFTS))),)]))


@st.composite
def object_urls(draw: st.DrawFn, files: Files) -> Parts:
    """A valid memory:// or file:// URL (its file store under ``files.stores``)."""
    options = draw(shift_options())
    if draw(st.booleans()):
        return Parts(draw(any_case("memory")), host="", query=options)
    path = f"{files.stores.as_posix()}/{draw(SEGMENTS)}"
    # file:///PATH and file:/PATH say the same.
    host = draw(st.sampled_from(["", None]))
    return Parts(draw(any_case("file")), host=host, path=path, query=options)


@st.composite
def grpc_urls(draw: st.DrawFn, files: Files) -> Parts:
    """A valid gRPC store URL, with read options and maybe a token file, in any order."""
    options = [*draw(shift_options())]
    if draw(st.booleans()):
        options.append(("bao_format", draw(st.sampled_from(bao.FORMATS))))
    if draw(st.booleans()):
        options.append(("token_file", str(files.token)))
    query = tuple(draw(st.permutations(options)))
    scheme = draw(st.sampled_from(["grpc+http", "grpc+https", "grpc+unix"]))
    if scheme == "grpc+unix":
        return Parts(scheme, host="", path=f"/run/{draw(SEGMENTS)}.sock", query=query)
    port = str(draw(st.integers(0, 65535)))
    path = draw(st.sampled_from(["", "/"]))
    return Parts(scheme, host=draw(st.sampled_from(GRPC_HOSTS)), port=port, path=path, query=query)


def assert_opens_as_named(parts: Parts, store: BlobStore) -> None:
    options = dict(parts.query)
    shift = int(options.get("bao_shift", DEFAULT_BAO_SHIFT))
    scheme = (parts.scheme or "").lower()
    if scheme.startswith("grpc+"):
        assert isinstance(store, GrpcBlobStore)
        assert store.read_options.bao_shift == shift
        assert store.read_options.bao_format == options.get("bao_format", "pre_order")
        if scheme == "grpc+unix":
            assert store.target == f"unix://{unquote(parts.path)}"
        else:
            assert store.target == f"{parts.host}:{parts.port}"
        return
    assert isinstance(store, ChunkedStore) and store.bao_shift == shift
    if scheme == "file":
        assert isinstance(store.backend, FileObjectBackend)
        assert store.backend.root == Path(unquote(parts.path)) and store.backend.root.is_dir()


def open_and_close(url: str) -> BlobStore:
    store = open_store(url)
    store.close()
    return store


@PROPERTIES
@given(data=st.data())
def test_valid_urls_open_as_they_name(files: Files, data: st.DataObject) -> None:
    parts = data.draw(st.one_of(object_urls(files), grpc_urls(files)))
    assert_opens_as_named(parts, open_and_close(parts.url))
    if (parts.scheme or "").lower().startswith("grpc+"):
        from_url = GrpcBlobStore.from_url(parts.url)
        from_url.close()
        assert_opens_as_named(parts, from_url)


@st.composite
def defective_urls(draw: st.DrawFn, files: Files) -> Parts:
    """A valid URL (or s3://, which fails before a backend is made) with one thing wrong."""
    s3 = Parts("s3", host="bucket", path="/prefix", query=draw(shift_options()))
    parts = draw(st.one_of(object_urls(files), grpc_urls(files), st.just(s3)))
    scheme = (parts.scheme or "").lower()
    grpc_host = scheme in ("grpc+http", "grpc+https")
    defects = ["userinfo", "fragment", "scheme", "unknown option", "repeat", "empty", "shift"]
    defects += ["no scheme", "raw query"]
    if scheme.startswith("grpc+"):
        defects += ["format", "empty token"]
    if scheme in ("memory", "file", "grpc+unix"):
        defects += ["host", "port"]
    if scheme in ("memory", "grpc+http", "grpc+https"):
        defects += ["path"]
    if scheme == "file" or scheme == "grpc+unix":
        defects += ["relative path"]
    if grpc_host:
        defects += ["no port", "bad port", "no host", "ca"]
    defect = draw(st.sampled_from(defects))
    if defect == "userinfo":
        return replace(
            parts, host=parts.host or "", userinfo=draw(st.sampled_from(["", ":", "u", "u:p"]))
        )
    if defect == "fragment":
        return replace(parts, fragment=draw(st.sampled_from(["f", "x/y", "%20"])))
    if defect == "scheme":
        return replace(parts, scheme=draw(st.sampled_from(UNKNOWN_SCHEMES)))
    if defect == "no scheme":
        return replace(parts, scheme=None)
    if defect == "unknown option":
        allowed = {"bao_shift", "bao_format", "token_file", "ca", "cert", "key"}
        allowed = allowed if scheme == "grpc+https" else allowed - {"ca", "cert", "key"}
        allowed = allowed if scheme.startswith("grpc+") else {"bao_shift", "endpoint", "region"}
        unknown = [key for key in UNKNOWN_KEYS if key not in allowed]
        return parts.with_option(draw(st.sampled_from(unknown)), "1")
    if defect == "repeat":
        key, value = draw(st.sampled_from([*parts.query, ("bao_shift", "4")]))
        return parts.with_option(key, value).with_option(key, value)
    if defect == "empty":
        return replace(parts, query=()).with_option("bao_shift", "")
    if defect == "shift":
        value = draw(
            st.sampled_from(["-1", str(bao.MAX_SHIFT + 1), "999", "x", "\u00b2", "4.0", " 4"])
        )
        return replace(parts, query=()).with_option("bao_shift", value)
    if defect == "raw query":
        return replace(parts, raw_query=draw(st.sampled_from(["a", "&", "bao_shift", "a=1&&b=2"])))
    if defect == "format":
        value = draw(st.sampled_from(["post_order", "PRE_ORDER", "leaf", ""]))
        return replace(parts, query=()).with_option("bao_format", value)
    if defect == "empty token":
        return replace(parts, query=()).with_option("token_file", str(files.empty))
    if defect == "host":
        return replace(parts, host=draw(st.sampled_from(["h", "localhost", "127.0.0.1"])))
    if defect == "port":
        return replace(
            parts, host=parts.host or "", port=draw(st.sampled_from(["1", "50051", "x"]))
        )
    if defect == "path":
        return replace(parts, path=draw(st.sampled_from(["/x", "/a/b", "//"])))
    if defect == "relative path":
        return replace(parts, host=None, path=draw(st.sampled_from(["", "rel", "rel/x"])))
    if defect == "no port":
        return replace(parts, port=draw(st.sampled_from([None, ""])))
    if defect == "bad port":
        return replace(parts, port=draw(st.sampled_from(["65536", "x", "-1", "99999999"])))
    if defect == "no host":
        return replace(parts, host="")
    assert defect == "ca"
    return parts.with_option(draw(st.sampled_from(["ca", "cert", "key"])), str(files.not_pem))


@PROPERTIES
@given(data=st.data())
def test_one_defect_makes_a_url_a_value_error(files: Files, data: st.DataObject) -> None:
    parts = data.draw(defective_urls(files))
    with pytest.raises(ValueError) as raised:
        open_and_close(parts.url)
    assert str(raised.value), parts.url
    if (parts.scheme or "").lower().startswith("grpc+"):
        with pytest.raises(ValueError):
            GrpcBlobStore.from_url(parts.url).close()
    assert not files.stores.exists()  # a refused URL creates no directory


@st.composite
def any_urls(draw: st.DrawFn, files: Files) -> Parts:
    """Parts from every list, in any combination (file paths only under ``files.stores``)."""
    scheme = draw(
        st.sampled_from([None, "memory", "file", "grpc+http", "grpc+https", "grpc+unix", "MEMORY"])
        | st.sampled_from(UNKNOWN_SCHEMES)
    )
    host = draw(st.sampled_from([None, "", "h", "[::1]", "[", "bücher.example", "h st", "a@b"]))
    if (scheme or "").lower() == "file":
        path = draw(st.sampled_from([f"{files.stores.as_posix()}/", "", "rel/"])) + draw(SEGMENTS)
    else:
        path = draw(st.sampled_from(["", "/", "/x", "/a/b.sock", "rel", "/%00", "/%2F"]))
    keys = ["bao_shift", "bao_format", "token_file", "ca", "cert", "key", *UNKNOWN_KEYS]
    values = ["", "0", "4", "32", "33", "-1", "pre_order", "leaves", "post_order", "\u00b2", "a b"]
    values += [str(files.token), str(files.empty), str(files.not_pem), str(files.missing)]
    query = draw(st.lists(st.tuples(st.sampled_from(keys), st.sampled_from(values)), max_size=3))
    return Parts(
        scheme,
        host=host,
        userinfo=draw(st.sampled_from([None, None, "", "u", "u:p"])),
        port=draw(st.sampled_from([None, None, "", "0", "50051", "65536", "x"])),
        path=path,
        query=tuple(query),
        raw_query=draw(st.sampled_from([None, None, None, "", "&", "a", "=x"])),
        fragment=draw(st.sampled_from([None, None, "", "f"])),
    )


@PROPERTIES
@given(data=st.data())
def test_any_url_opens_or_is_a_value_error(files: Files, data: st.DataObject) -> None:
    parts = data.draw(any_urls(files))
    try:
        store = open_and_close(parts.url)
    except ValueError as error:
        assert str(error), parts.url
    except FileNotFoundError as error:
        # An option naming a file that is not there: the file system's word (the CLI reports
        # OSErrors as "cannot open the store").
        named = {value for key, value in parts.query if key in ("token_file", "ca", "cert", "key")}
        assert error.filename in named, parts.url
    else:
        scheme = (parts.scheme or "").lower()
        assert scheme in ("memory", "file", "grpc+http", "grpc+https", "grpc+unix"), parts.url
        assert parts.host is None or parts.userinfo is None, parts.url
        assert not parts.fragment, parts.url
        if parts.raw_query is None:
            assert_opens_as_named(parts, store)
