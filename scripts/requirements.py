"""Print the Python requirements of baostore (with the dev and plot extras), one per line.

`make install` installs them before the extension is compiled, so that compiling (by maturin,
with cargo's progress shown) is one step of its own and pip has nothing left to say then.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

EXTRAS = ("dev", "plot")


def requirements(pyproject: Path) -> list[str]:
    project = tomllib.loads(pyproject.read_text())["project"]
    extras = project.get("optional-dependencies", {})
    return [*project["dependencies"], *(req for extra in EXTRAS for req in extras[extra])]


if __name__ == "__main__":
    print("\n".join(requirements(Path(__file__).resolve().parent.parent / "pyproject.toml")))
