"""The ``baostore`` command line (entry point ``baostore.cli:main``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from baostore.cli.environment import quiet_native_libraries

quiet_native_libraries()  # before anything imports grpc

if TYPE_CHECKING:
    from baostore.cli.main import main

__all__ = ["main"]


def __getattr__(name: str) -> Any:
    # Imported when asked for: a command's own modules import only what that command runs.
    if name == "main":
        from baostore.cli.main import main

        # Importing the submodule bound the package's ``main`` to it: the function it is.
        globals()["main"] = main
        return main
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
