"""Fixtures of the CLI tests: small hand-written data files (defined in tests/helpers/data.py)."""

from tests.helpers.data import atomic_dir, write_fixture  # noqa: F401
