"""``python -m baostore.cli``: the same as the ``baostore`` command."""

import sys

from baostore.cli.main import main

sys.exit(main())
