"""Ranked lists as plain Python lists, for readable assertions on Recommendations."""

from __future__ import annotations

from recfair.recommendations import PAD, Recommendations


def item_lists(recs: Recommendations) -> list[list[int]]:
    """Each row's items without padding."""
    return [[int(i) for i in row if i != PAD] for row in recs.items]
