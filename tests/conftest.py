"""Settings for the whole test package."""

import pytest

# tests.s3_server is a pytest plugin of test_storage_s3.py and a helper module
# of tests/chaos, which may import it first: registered here, before any test
# module is imported, it gets pytest's assertion rewriting either way (and no
# "already imported" warning when test_storage_s3.py later loads it).
pytest.register_assert_rewrite("tests.s3_server")
