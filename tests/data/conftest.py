"""Fixtures of the data tests: small hand-written files (defined in tests/helpers/data.py)."""

from tests.helpers.data import atomic_dir, ml1m_raw, ml100k_raw, mllatest_raw, write_fixture  # noqa: F401
