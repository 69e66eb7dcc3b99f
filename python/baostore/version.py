"""The installed package's version (``baostore --version``, ``baostore.__version__``)."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("baostore")
except PackageNotFoundError:  # run from a source tree that was never installed
    __version__ = "unknown"
