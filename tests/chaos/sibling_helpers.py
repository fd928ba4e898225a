"""Makes the helpers of other test folders importable from tests/chaos:
``s3_server`` (tests/), ``node_cluster`` and ``daemon_net`` (tests/node) and
``invariants`` (tests/chain). pytest puts only a test's own folder on
``sys.path``; importing this module appends those three (at the end, so
they never shadow a module found elsewhere). Import it before them.

A module rather than a conftest.py: every conftest.py outside a package is
the module ``conftest``, and tests/chain imports its own by that name.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

_TESTS = Path(__file__).resolve().parents[1]
for _folder in (_TESTS, _TESTS / "node", _TESTS / "chain"):
    if str(_folder) not in sys.path:
        sys.path.append(str(_folder))

# s3_server is also a pytest plugin (of test_storage_s3.py); imported through
# pytest's loader, it can become one later in the session without a warning.
pytest.register_assert_rewrite("s3_server")
