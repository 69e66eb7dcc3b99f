"""The ``baostore`` command line (entry point ``baostore.cli:main``)."""

from baostore.cli.environment import quiet_native_libraries

quiet_native_libraries()  # before anything below imports grpc

from baostore.cli.main import main  # noqa: E402

__all__ = ["main"]
