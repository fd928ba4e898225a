"""``python -m bflc.cli``: the ``bflc`` command (the local cluster starts its nodes this way)."""

import sys

from bflc.cli import main

sys.exit(main())
