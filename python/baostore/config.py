"""Named stores from a TOML file, composed into tiers.

```toml
[stores.near]
path = "cache"                      # a file store, relative to this file's directory
[stores.a]
url = "grpc+http://cache-a.example:50051"
idle_timeout = 10                   # seconds without data before a read fails over
min_rate = "64KiB/10s"              # so does a read slower than this (per window of waiting)
[stores.b]
url = "grpc+http://cache-b.example:50051"
[stores.remotes]
type = "substituters"
members = ["a", "b"]
[stores.root]
type = "cache"
near = "near"
far = "remotes"
```

A store is one of:

* ``type = "url"`` (the default): ``url`` (anything ``open_store`` takes; ``file://`` paths must be
  absolute) or ``path`` (a file store directory; relative paths are taken from the config file's
  directory, ``~`` is expanded). gRPC URLs also take ``timeout`` (seconds for a unary call),
  ``idle_timeout`` (seconds a read may receive nothing) and ``min_rate`` (``"SIZE/SECONDS"``:
  the least a stream must move per window of waiting); object stores ``chunk_avg`` (and
  ``chunk_min``, ``chunk_max``: sizes as text, ``"64KiB"``, or numbers of bytes), the URL options
  of the same names.
* ``type = "cache"``: ``near`` and ``far``, the names of two other stores; ``write_to`` is
  ``"near"`` (the default: puts stay in the cache) or ``"far"`` (puts go to the far store).
* ``type = "substituters"``: ``members``, a non-empty list of store names, tried in order.

Unknown keys, unknown types, references to undefined stores and cycles are ConfigErrors naming
the store and the key. Only the stores the root reaches are opened; one named store referenced
twice is opened once and shared.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlencode, urlsplit

from baostore.grpc.rate import MAX_SECONDS, MinimumRate
from baostore.open import CHUNK_OPTIONS, open_store
from baostore.store.interface import BlobStore
from baostore.store.urls import UrlOptions

if TYPE_CHECKING:
    from baostore.compose.cache import WriteTarget

CONFIG_ENV = "BAOSTORE_CONFIG"
DEFAULT_ROOT = "root"
StoreType = Literal["url", "cache", "substituters"]
STORE_TYPES: tuple[StoreType, ...] = ("url", "cache", "substituters")
_KEYS: dict[StoreType, tuple[str, ...]] = {
    "url": ("type", "url", "path", "timeout", "idle_timeout", "min_rate", *CHUNK_OPTIONS),
    "cache": ("type", "near", "far", "write_to"),
    "substituters": ("type", "members"),
}


class ConfigError(ValueError):
    """A configuration file that cannot be used: unreadable, malformed or inconsistent."""


@dataclass(frozen=True)
class StoreSpec:
    """One ``[stores.NAME]`` table, checked."""

    name: str
    type: StoreType
    url: str | None = None
    timeout: float | None = None
    idle_timeout: float | None = None
    min_rate: MinimumRate | None = None
    near: str | None = None
    far: str | None = None
    members: tuple[str, ...] = ()
    write_to: WriteTarget = "near"

    @property
    def references(self) -> tuple[str, ...]:
        """The names of the stores this one is built from, in order."""
        if self.type == "cache":
            assert self.near is not None and self.far is not None
            return (self.near, self.far)
        return self.members


def load_config(path: str | Path) -> dict[str, StoreSpec]:
    """Read and check the configuration at ``path``: every named store's spec, by name."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"cannot read config {path}: {error}") from error
    return parse_config(text, base=path.absolute().parent, source=str(path))


def parse_config(text: str, *, base: Path, source: str = "<config>") -> dict[str, StoreSpec]:
    """Check configuration ``text``; relative ``path`` entries are taken from ``base``."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{source}: not valid TOML: {error}") from error
    unknown = sorted(set(document) - {"stores"})
    if unknown:
        raise ConfigError(
            f"{source}: unknown top-level key(s) {', '.join(unknown)}; use [stores.NAME]"
        )
    tables = document.get("stores")
    if not isinstance(tables, dict) or not tables:
        raise ConfigError(f"{source}: no stores defined; add at least one [stores.NAME] table")
    specs = {name: _parse_store(source, name, table, base) for name, table in tables.items()}
    for spec in specs.values():
        _check_references(source, spec, specs)
    _check_cycles(source, specs)
    return specs


def open_from_config(path: str | Path, root: str = DEFAULT_ROOT) -> BlobStore:
    """Open the store named ``root`` in the configuration at ``path``, with all it is built from."""
    return build_store(load_config(path), root, source=str(path))


def build_store(specs: dict[str, StoreSpec], root: str, *, source: str = "<config>") -> BlobStore:
    """Open ``root`` from checked ``specs``; every store it reaches is opened once."""
    if root not in specs:
        raise ConfigError(
            f"{source}: no store named {root!r} (defined: {', '.join(sorted(specs))})"
        )
    opened: dict[str, BlobStore] = {}
    try:
        return _open(specs[root], specs, opened, source)
    except BaseException:
        for store in opened.values():
            store.close()
        raise


def _open(
    spec: StoreSpec, specs: dict[str, StoreSpec], opened: dict[str, BlobStore], source: str
) -> BlobStore:
    if spec.name in opened:
        return opened[spec.name]
    # The compositions load only when a config composes stores.
    from baostore.compose.cache import CacheStore
    from baostore.compose.substituters import SubstitutersStore

    parts = [_open(specs[name], specs, opened, source) for name in spec.references]
    store: BlobStore
    if spec.type == "cache":
        store = CacheStore(parts[0], parts[1], write_to=spec.write_to)
    elif spec.type == "substituters":
        store = SubstitutersStore(dict(zip(spec.members, parts, strict=True)))
    else:
        store = _open_url(spec, source)
    opened[spec.name] = store
    return store


def _open_url(spec: StoreSpec, source: str) -> BlobStore:
    assert spec.url is not None
    try:
        return open_store(
            spec.url, timeout=spec.timeout, idle_timeout=spec.idle_timeout, min_rate=spec.min_rate
        )
    except ValueError as error:
        raise ConfigError(f"{source}: [stores.{spec.name}] key 'url': {error}") from error


# -- checking ---------------------------------------------------------------------------------


def _parse_store(source: str, name: str, table: Any, base: Path) -> StoreSpec:
    where = f"{source}: [stores.{name}]"
    if not isinstance(table, dict):
        raise ConfigError(f"{where} must be a table, got {type(table).__name__}")
    store_type = table.get("type", "url")
    if store_type not in STORE_TYPES:
        raise ConfigError(
            f"{where} key 'type': unknown store type {store_type!r} "
            f"(one of {', '.join(STORE_TYPES)})"
        )
    allowed = _KEYS[store_type]
    for key in table:
        if key not in allowed:
            raise ConfigError(
                f"{where}: unknown key {key!r} (a {store_type} store takes {', '.join(allowed)})"
            )
    if store_type == "cache":
        return StoreSpec(
            name,
            "cache",
            near=_name_value(where, table, "near"),
            far=_name_value(where, table, "far"),
            write_to=_write_target(where, table),
        )
    if store_type == "substituters":
        return StoreSpec(name, "substituters", members=_members(where, table))
    return StoreSpec(
        name,
        "url",
        url=_with_chunking(where, table, _location(where, table, base)),
        timeout=_seconds(where, table, "timeout"),
        idle_timeout=_seconds(where, table, "idle_timeout"),
        min_rate=_rate(where, table, "min_rate"),
    )


def _name_value(where: str, table: dict[str, Any], key: str) -> str:
    if key not in table:
        raise ConfigError(f"{where}: missing key {key!r} (the name of another store)")
    value = table[key]
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{where} key {key!r}: expected a store name, got {value!r}")
    return value


def _write_target(where: str, table: dict[str, Any]) -> WriteTarget:
    from baostore.compose.cache import WRITE_TARGETS

    value = table.get("write_to", "near")
    for target in WRITE_TARGETS:
        if value == target:
            return target
    raise ConfigError(f'{where} key \'write_to\': expected "near" or "far", got {value!r}')


def _members(where: str, table: dict[str, Any]) -> tuple[str, ...]:
    members = table.get("members")
    if not isinstance(members, list) or not members:
        raise ConfigError(f"{where} key 'members': expected a non-empty list of store names")
    for member in members:
        if not isinstance(member, str) or not member:
            raise ConfigError(f"{where} key 'members': {member!r} is not a store name")
    duplicates = sorted({member for member in members if members.count(member) > 1})
    if duplicates:
        raise ConfigError(f"{where} key 'members': {', '.join(duplicates)} listed twice")
    return tuple(members)


def _location(where: str, table: dict[str, Any], base: Path) -> str:
    if ("url" in table) == ("path" in table):
        raise ConfigError(f"{where}: give exactly one of 'url' and 'path'")
    if "url" in table:
        url = table["url"]
        if not isinstance(url, str) or not url:
            raise ConfigError(f"{where} key 'url': expected a store URL, got {url!r}")
        return url
    path = table["path"]
    if not isinstance(path, str) or not path:
        raise ConfigError(f"{where} key 'path': expected a directory, got {path!r}")
    try:
        return (base / Path(path).expanduser()).resolve().as_uri()
    except (OSError, RuntimeError, ValueError) as error:  # ~nosuchuser, a NUL, a symlink loop
        raise ConfigError(f"{where} key 'path': cannot use {path!r}: {error}") from None


def _with_chunking(where: str, table: dict[str, Any], url: str) -> str:
    """``url`` with the table's chunk sizes added to its query (the store URL reads them)."""
    options = {}
    for key in CHUNK_OPTIONS:
        if key not in table:
            continue
        value = table[key]
        if isinstance(value, bool) or not isinstance(value, int | str) or value == "":
            raise ConfigError(f"{where} key {key!r}: expected a size, got {value!r}")
        if key in UrlOptions(url):
            raise ConfigError(f"{where} key {key!r}: also given in the URL")
        options[key] = str(value)
    if not options:
        return url
    return url + ("&" if urlsplit(url).query else "?") + urlencode(options)


def _seconds(where: str, table: dict[str, Any], key: str) -> float | None:
    if key not in table:
        return None
    value = table[key]
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not 0 < value <= MAX_SECONDS
    ):
        raise ConfigError(
            f"{where} key {key!r}: expected a positive number of seconds up to {MAX_SECONDS}"
        )
    return float(value)


def _rate(where: str, table: dict[str, Any], key: str) -> MinimumRate | None:
    if key not in table:
        return None
    value = table[key]
    try:
        if not isinstance(value, str):
            raise ValueError(f'expected a string such as "64KiB/60s", got {value!r}')
        return MinimumRate.parse(value)
    except ValueError as error:
        raise ConfigError(f"{where} key {key!r}: {error}") from None


def _check_references(source: str, spec: StoreSpec, specs: dict[str, StoreSpec]) -> None:
    keys = ("near", "far") if spec.type == "cache" else ("members",) * len(spec.members)
    for key, name in zip(keys, spec.references, strict=True):
        if name not in specs:
            raise ConfigError(
                f"{source}: [stores.{spec.name}] key {key!r}: no store named {name!r} "
                f"(defined: {', '.join(sorted(specs))})"
            )


def _check_cycles(source: str, specs: dict[str, StoreSpec]) -> None:
    done: set[str] = set()

    def visit(name: str, path: list[str]) -> None:
        if name in path:
            cycle = " -> ".join([*path[path.index(name) :], name])
            raise ConfigError(f"{source}: [stores.{name}] is part of a cycle: {cycle}")
        if name in done:
            return
        for reference in specs[name].references:
            visit(reference, [*path, name])
        done.add(name)

    for name in specs:
        visit(name, [])
