"""TOML configuration of named stores: the issue's example, paths, options and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from baostore import bao
from baostore.compose.cache import CacheStore
from baostore.compose.substituters import SubstitutersStore
from baostore.config import ConfigError, load_config, open_from_config, parse_config
from baostore.grpc.client import GrpcBlobStore
from baostore.grpc.rate import MinimumRate
from baostore.store.chunked import ChunkedStore

ISSUE_EXAMPLE = """
[stores.near]
url = "{near}"
[stores.a]
url = "grpc+http://cache-a.example:50051"
[stores.b]
url = "grpc+http://cache-b.example:50051"
[stores.remotes]
type = "substituters"
members = ["a", "b"]
[stores.root]
type = "cache"
near = "near"
far = "remotes"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "baostore.toml"
    path.write_text(text)
    return path


def test_the_issues_example(tmp_path: Path) -> None:
    near_dir = tmp_path / "near"
    path = write(tmp_path, ISSUE_EXAMPLE.format(near=near_dir.as_uri()))
    specs = load_config(path)
    assert sorted(specs) == ["a", "b", "near", "remotes", "root"]
    assert specs["root"].references == ("near", "remotes")
    with open_from_config(path) as root:
        assert isinstance(root, CacheStore)
        assert isinstance(root.near, ChunkedStore)
        assert isinstance(root.far, SubstitutersStore)
        assert [name for name, _ in root.far.members] == ["a", "b"]
        member = root.far.members[0][1]
        assert isinstance(member, GrpcBlobStore)
        assert member.display == "grpc+http://cache-a.example:50051"
        digest = root.put(b"kept near")
        assert root.near.has(digest)
    assert near_dir.is_dir()


def test_another_root_and_shared_stores(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        [stores.disk]
        url = "memory://"
        [stores.far]
        url = "memory://"
        [stores.one]
        type = "cache"
        near = "disk"
        far = "far"
        write_to = "far"
        [stores.both]
        type = "substituters"
        members = ["one", "far"]
        """,
    )
    with open_from_config(path, root="both") as both:
        assert isinstance(both, SubstitutersStore)
        one, far = both.members[0][1], both.members[1][1]
        assert isinstance(one, CacheStore) and one.far is far, "a store named twice is one store"
        digest = both.put(b"through the cache to far")
        assert far.has(digest)
        reader = both.open_read(digest)
        assert reader is not None and reader.read() == b"through the cache to far"
    with open_from_config(path, root="far") as plain:
        assert isinstance(plain, ChunkedStore)


def test_relative_paths_are_taken_from_the_config_directory(tmp_path: Path) -> None:
    path = write(tmp_path, '[stores.root]\npath = "data/blobs"\n')
    with open_from_config(path) as root:
        digest = root.put(b"on disk")
    assert (tmp_path / "data" / "blobs").is_dir()
    with open_from_config(path) as root:
        assert root.has(digest) and digest == bao.hash(b"on disk")


def test_grpc_timeouts(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '[stores.root]\nurl = "grpc+http://127.0.0.1:1"\ntimeout = 2\nidle_timeout = 0.5\n'
        'min_rate = "4KiB/2.5s"\n',
    )
    with open_from_config(path) as root:
        assert isinstance(root, GrpcBlobStore)
        assert (root.timeout, root.idle_timeout) == (2.0, 0.5)
        assert root.min_rate == MinimumRate(4096, 2.5)


BAD_CONFIGS = [
    ("", "no stores defined"),
    ("[stores]\n", "no stores defined"),
    ("title = 'x'\n[stores.root]\nurl = 'memory://'\n", "unknown top-level key.*title"),
    (
        "[stores.root]\nurl = 'memory://'\ncolour = 'blue'\n",
        r"\[stores.root\]: unknown key 'colour'",
    ),
    (
        "[stores.root]\ntype = 'mirror'\n",
        r"\[stores.root\] key 'type': unknown store type 'mirror'",
    ),
    ("[stores.root]\ntype = 'cache'\nnear = 'n'\n", r"\[stores.root\]: missing key 'far'"),
    (
        "[stores.n]\nurl = 'memory://'\n[stores.root]\ntype = 'cache'\nnear = 'n'\nfar = 'nope'\n",
        r"\[stores.root\] key 'far': no store named 'nope'",
    ),
    (
        "[stores.root]\ntype = 'substituters'\nmembers = ['root']\n",
        r"cycle: root -> root",
    ),
    (
        "[stores.n]\nurl = 'memory://'\n[stores.a]\ntype = 'cache'\nnear = 'n'\nfar = 'root'\n"
        "[stores.root]\ntype = 'substituters'\nmembers = ['a']\n",
        r"cycle: (a -> root -> a|root -> a -> root)",
    ),
    ("[stores.root]\ntype = 'substituters'\nmembers = []\n", "non-empty list"),
    ("[stores.root]\ntype = 'substituters'\nmembers = ['x', 'x']\n", "x listed twice"),
    ("[stores.root]\ntype = 'substituters'\nmembers = [1]\n", "1 is not a store name"),
    ("[stores.root]\n", "exactly one of 'url' and 'path'"),
    ("[stores.root]\nurl = 'memory://'\npath = '/tmp'\n", "exactly one of 'url' and 'path'"),
    ("[stores.root]\nurl = 3\n", "key 'url': expected a store URL"),
    ("[stores.root]\nurl = 'memory://'\ntimeout = -1\n", "key 'timeout': expected a positive"),
    ("[stores.root]\nurl = 'memory://'\nidle_timeout = true\n", "key 'idle_timeout'"),
    ("stores = 5\n", "no stores defined"),
    ("[stores]\nroot = 5\n", r"\[stores.root\] must be a table"),
    (
        "[stores.n]\nurl = 'memory://'\n[stores.root]\ntype = 'cache'\nnear = 'n'\nfar = 'n'\n"
        "write_to = 'both'\n",
        "key 'write_to'",
    ),
    ("[stores.root\n", "not valid TOML"),
]


@pytest.mark.parametrize(("text", "message"), BAD_CONFIGS)
def test_bad_configs_are_clear_errors(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_config(text, base=Path("/"), source="test.toml")


def test_errors_when_opening(tmp_path: Path) -> None:
    path = write(tmp_path, "[stores.main]\nurl = 'memory://'\n")
    with pytest.raises(ConfigError, match=r"no store named 'root' \(defined: main\)"):
        open_from_config(path)
    bad_url = write(tmp_path, "[stores.root]\nurl = 'ftp://example.com/x'\n")
    with pytest.raises(ConfigError, match=r"\[stores.root\] key 'url': unsupported store URL"):
        open_from_config(bad_url)
    relative = write(tmp_path, "[stores.root]\nurl = 'file://relative/dir'\n")
    with pytest.raises(ConfigError, match=r"\[stores.root\] key 'url'"):
        open_from_config(relative)
    timeouts = write(tmp_path, "[stores.root]\nurl = 'memory://'\ntimeout = 1\n")
    with pytest.raises(ConfigError, match="apply to grpc"):
        open_from_config(timeouts)
    with pytest.raises(ConfigError, match="cannot read config"):
        load_config(tmp_path / "missing.toml")


def test_config_error_is_a_value_error() -> None:
    assert issubclass(ConfigError, ValueError)
