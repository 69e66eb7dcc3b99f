"""Property tests for the store configuration: random valid compositions parse into the right
specs and open into the right tiers; broken ones are ConfigErrors naming the store at fault.

Valid configs are random DAGs: store ``i`` may only be built from stores after it, so there is
no cycle; leaves are url stores (``memory://`` when opened, so nothing touches the network).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from baostore.compose.cache import WRITE_TARGETS, CacheStore
from baostore.compose.substituters import SubstitutersStore
from baostore.config import ConfigError, StoreSpec, build_store, parse_config
from baostore.grpc.rate import MinimumRate
from baostore.store.chunked import ChunkedStore
from baostore.store.interface import BlobStore
from hypothesis import given, settings
from hypothesis import strategies as st

PROPERTIES = settings(max_examples=60, deadline=None)
BASE = Path("/config/base")
# Store names: bare TOML keys and quoted ones (dots, spaces, any non-surrogate character).
NAMES = st.one_of(
    st.text("abcdefghijklmnopqrstuvwxyz0123456789-_", min_size=1, max_size=6),
    st.text(st.characters(max_codepoint=0xFFFF, exclude_categories=["Cs"]), min_size=1, max_size=6),
)
URLS = st.sampled_from(
    ["memory://", "file:///srv/blobs", "grpc+http://cache.example:50051", "s3://bucket/prefix"]
)
RELATIVE_PATHS = st.lists(
    st.text("abcdefghijklmnopqrstuvwxyz0123456789-_.", min_size=1, max_size=5).filter(
        lambda part: part not in (".", "..")
    ),
    min_size=1,
    max_size=3,
).map("/".join)
SECONDS = st.one_of(st.integers(1, 10**6), st.floats(0.001, 1e6))
RATES = st.builds(MinimumRate, st.integers(0, 2**40), st.floats(0.001, 1e6))


def toml_string(text: str) -> str:
    """``text`` as a TOML basic string: everything but printable ASCII as a ``\\u`` escape."""
    printable = (
        char if " " <= char <= "~" and char not in '"\\' else f"\\u{ord(char):04x}" for char in text
    )
    return '"' + "".join(printable) + '"'


def toml_value(value: object) -> str:
    """``value`` as a TOML literal."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return "nan" if math.isnan(value) else repr(value) if math.isfinite(value) else "inf"
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    return toml_string(value) if isinstance(value, str) else str(value)


@dataclass
class Config:
    """A config as tables (what is written) and as the specs it must parse into."""

    tables: dict[str, dict[str, Any]]
    specs: dict[str, StoreSpec] = field(default_factory=dict)

    def text(self, order: list[str]) -> str:
        lines = []
        for name in order:
            lines.append(f"[stores.{toml_string(name)}]")
            table = self.tables[name]
            lines.extend(
                f"{toml_string(key)} = {toml_value(value)}" for key, value in table.items()
            )
        return "\n".join(lines) + "\n"

    def reached_from(self, name: str) -> set[str]:
        seen: set[str] = set()
        pending = [name]
        while pending:
            current = pending.pop()
            if current not in seen:
                seen.add(current)
                pending.extend(self.specs[current].references)
        return seen


@st.composite
def url_store(draw: st.DrawFn, name: str, openable: bool) -> tuple[dict[str, Any], StoreSpec]:
    if openable:
        return {"url": "memory://"}, StoreSpec(name, "url", url="memory://")
    table: dict[str, Any] = {"type": "url"} if draw(st.booleans()) else {}
    if draw(st.booleans()):
        table["url"] = url = draw(URLS)
    else:
        table["path"] = path = draw(RELATIVE_PATHS)
        url = (BASE / path).resolve().as_uri()
    timeout, idle_timeout = draw(st.none() | SECONDS), draw(st.none() | SECONDS)
    for key, value in (("timeout", timeout), ("idle_timeout", idle_timeout)):
        if value is not None:
            table[key] = value
    min_rate = draw(st.none() | RATES)
    if min_rate is not None:
        table["min_rate"] = f"{min_rate.min_bytes}/{min_rate.window!r}s"
    return table, StoreSpec(
        name,
        "url",
        url=url,
        timeout=None if timeout is None else float(timeout),
        idle_timeout=None if idle_timeout is None else float(idle_timeout),
        min_rate=min_rate,
    )


@st.composite
def configs(draw: st.DrawFn, openable: bool = False) -> Config:
    names = draw(st.lists(NAMES, min_size=1, max_size=8, unique=True))
    config = Config({})
    for index, name in enumerate(names):
        later = names[index + 1 :]
        kinds = ["url", "cache", "substituters"] if later else ["url"]
        kind = draw(st.sampled_from(kinds))
        if kind == "cache":
            near, far = draw(st.sampled_from(later)), draw(st.sampled_from(later))
            write_to = draw(st.sampled_from([None, *WRITE_TARGETS]))
            table: dict[str, Any] = {"type": "cache", "near": near, "far": far}
            if write_to is not None:
                table["write_to"] = write_to
            spec = StoreSpec(name, "cache", near=near, far=far, write_to=write_to or "near")
        elif kind == "substituters":
            members = draw(st.lists(st.sampled_from(later), min_size=1, unique=True))
            table, spec = (
                {"type": "substituters", "members": members},
                StoreSpec(name, "substituters", members=tuple(members)),
            )
        else:
            table, spec = draw(url_store(name, openable))
        config.tables[name], config.specs[name] = table, spec
    return config


@PROPERTIES
@given(config=configs(), data=st.data())
def test_valid_configs_parse_into_their_specs(config: Config, data: st.DataObject) -> None:
    order = data.draw(st.permutations(list(config.tables)))
    assert parse_config(config.text(order), base=BASE) == config.specs


def assert_built(store: BlobStore, name: str, specs: dict[str, StoreSpec]) -> None:
    spec = specs[name]
    if spec.type == "cache":
        assert isinstance(store, CacheStore) and store.write_to == spec.write_to
        assert_built(store.near, spec.near or "", specs)
        assert_built(store.far, spec.far or "", specs)
    elif spec.type == "substituters":
        assert isinstance(store, SubstitutersStore)
        assert [member for member, _ in store.members] == list(spec.members)
        for member, part in store.members:
            assert_built(part, member, specs)
    else:
        assert isinstance(store, ChunkedStore)


def parts_by_name(store: BlobStore, name: str, specs: dict[str, StoreSpec]) -> dict[str, Any]:
    """Every store ``store`` is built from, by config name, each seen once (identity checked)."""
    found: dict[str, BlobStore] = {name: store}
    spec = specs[name]
    if isinstance(store, CacheStore):
        pairs = [(spec.near or "", store.near), (spec.far or "", store.far)]
    elif isinstance(store, SubstitutersStore):
        pairs = list(store.members)
    else:
        pairs = []
    for part_name, part in pairs:
        for inner_name, inner in parts_by_name(part, part_name, specs).items():
            assert found.setdefault(inner_name, inner) is inner  # one store per name, shared
    return found


@PROPERTIES
@given(config=configs(openable=True), data=st.data())
def test_valid_configs_open_into_their_tiers(config: Config, data: st.DataObject) -> None:
    specs = parse_config(config.text(list(config.tables)), base=BASE)
    root = data.draw(st.sampled_from(list(specs)))
    store = build_store(specs, root)
    try:
        assert_built(store, root, specs)
        assert set(parts_by_name(store, root, specs)) == config.reached_from(root)
    finally:
        store.close()


# -- invalid configs --------------------------------------------------------------------------


def assert_config_error(text: str, name: str, *fragments: str) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_config(text, base=BASE)
    message = str(raised.value)
    assert f"[stores.{name}]" in message, message
    for fragment in fragments:
        assert fragment in message, message


@PROPERTIES
@given(config=configs(), data=st.data(), key=NAMES)
def test_unknown_keys_are_named(config: Config, data: st.DataObject, key: str) -> None:
    name = data.draw(st.sampled_from(list(config.tables)))
    known = (
        *("type", "url", "path", "timeout", "idle_timeout", "min_rate"),
        *("near", "far", "write_to", "members"),
    )
    if key in known:
        key = f"x-{key}"
    config.tables[name][key] = data.draw(st.sampled_from([1, "memory://", True, [1]]))
    assert_config_error(config.text(list(config.tables)), name, repr(key))


@PROPERTIES
@given(config=configs(), data=st.data(), missing=NAMES)
def test_references_to_undefined_stores_are_named(
    config: Config, data: st.DataObject, missing: str
) -> None:
    composites = [name for name, spec in config.specs.items() if spec.type != "url"]
    if missing in config.tables or not composites:
        return
    name = data.draw(st.sampled_from(composites))
    table = config.tables[name]
    if table["type"] == "cache":
        key = data.draw(st.sampled_from(["near", "far"]))
        table[key] = missing
    else:
        key = "members"
        members = table["members"]
        members.insert(data.draw(st.integers(0, len(members))), missing)
    assert_config_error(config.text(list(config.tables)), name, repr(key), repr(missing))


@PROPERTIES
@given(config=configs(), data=st.data())
def test_cycles_are_refused(config: Config, data: st.DataObject) -> None:
    """Point a store at one that reaches it (or at itself) and a cycle runs through both."""
    target = data.draw(st.sampled_from(list(config.tables)))
    closing = data.draw(st.sampled_from(sorted(config.reached_from(target))))
    config.tables[closing] = {"type": "substituters", "members": [target]}
    config.specs[closing] = StoreSpec(closing, "substituters", members=(target,))
    on_cycle = config.reached_from(target)  # every store on a path from target back to target
    with pytest.raises(ConfigError, match="is part of a cycle") as raised:
        parse_config(config.text(list(config.tables)), base=BASE)
    assert any(f"[stores.{name}]" in str(raised.value) for name in on_cycle)


WRONG_VALUES: dict[str, list[object]] = {
    "type": ["file", "URL", 1, True, ["url"]],
    "url": ["", 1, True, 2.5, ["memory://"]],
    "path": ["", 0, False, ["a"]],
    # inf or 1e12 s would overflow gRPC's deadline: every call would fail at once.
    "timeout": [0, -1, -0.5, math.nan, math.inf, 1e12, True, "10", [1]],
    "idle_timeout": [0, -3, math.nan, math.inf, 1e300, False, "1s"],
    "min_rate": ["", "fast", "1KiB", "1KiB/0s", "-1/5s", "1KiB/1e12s", 1024, True, ["1KiB/1s"]],
    "near": ["", 1, True, ["a"]],
    "far": ["", 0, False, ["a"]],
    "write_to": ["both", "", 1, True, ["near"]],
    "members": [[], "a", 1, [""], [1], [True], [["a"]]],
}


@PROPERTIES
@given(config=configs(), data=st.data())
def test_values_of_the_wrong_type_are_named(config: Config, data: st.DataObject) -> None:
    name = data.draw(st.sampled_from(list(config.tables)))
    table = config.tables[name]
    optional = {
        "url": ["timeout", "idle_timeout", "min_rate"],
        "cache": ["write_to"],
        "substituters": [],
    }[config.specs[name].type]
    keys = sorted({*table, *optional, "type"} & set(WRONG_VALUES))
    key = data.draw(st.sampled_from(keys))
    table[key] = data.draw(st.sampled_from(WRONG_VALUES[key]))
    assert_config_error(config.text(list(config.tables)), name, repr(key))


@PROPERTIES
@given(config=configs(), data=st.data())
def test_duplicate_members_are_named(config: Config, data: st.DataObject) -> None:
    substituters = [name for name, spec in config.specs.items() if spec.type == "substituters"]
    if not substituters:
        return
    name = data.draw(st.sampled_from(substituters))
    members = config.tables[name]["members"]
    members.append(data.draw(st.sampled_from(members)))
    assert_config_error(config.text(list(config.tables)), name, "listed twice")


@PROPERTIES
@given(
    config=configs(),
    data=st.data(),
    path=st.sampled_from(["~no-such-user-baostore/cache", "a\x00b", "~no-such-user-baostore"]),
)
def test_unusable_paths_are_config_errors(config: Config, data: st.DataObject, path: str) -> None:
    name = data.draw(st.sampled_from(list(config.tables)))
    config.tables[name] = {"path": path}
    assert_config_error(config.text(list(config.tables)), name, "'path'")


@PROPERTIES
@given(text=st.one_of(st.text(), st.text("[]stores.=\"' \nabcurlpath", max_size=60)))
def test_any_text_is_a_config_or_a_config_error(text: str) -> None:
    try:
        specs = parse_config(text, base=BASE)
    except ConfigError as error:
        assert str(error).startswith("<config>: ")
    else:
        assert specs and all(spec.name == name for name, spec in specs.items())
