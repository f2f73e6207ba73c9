"""Shared test helpers, imported by package path (``from tests.helpers.metrics import make_recs``)."""
