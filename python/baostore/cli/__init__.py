"""The ``baostore`` command line (entry point ``baostore.cli:main``)."""

from baostore.cli.main import main

__all__ = ["main"]
