"""User-group labels for mitigation, resolved from the training Dataset only.

Group specs use the audit's grammar (:func:`recfair.fairness.groups.parse_groups`):
a user column (``gender``, ``occupation``, ``group``…), ``age`` (METRICS.md bins),
``activity`` (top 5% of users by training interactions vs the rest, as in Li et
al. 2021) or ``activity[20]`` (top 20%), ``a*b`` (intersection).  So a mitigation
targets exactly the groups an audit reports.  Labels are int codes per user index
(``-1`` = unknown; such users are left out of every group term).
"""

from __future__ import annotations

import numpy as np

from recfair.errors import RecfairError

NOT_BINARY = "{owner} needs a binary user grouping; '{groups}' has {n} groups ({names})."
ONE_SPEC = "{owner} takes one user group spec, got '{groups}'."


def user_labels(train, groups: str, *, owner: str = "mitigation") -> tuple[np.ndarray, list[str]]:
    """Resolve the group spec ``groups`` to ``(codes (n_users,) int64, group labels)`` from ``train`` only."""
    from recfair.fairness.groups import parse_groups

    specs = parse_groups(groups, side="user")
    if len(specs) != 1:
        raise RecfairError(ONE_SPEC.format(owner=owner, groups=groups))
    grouping = specs[0].assign(train, "user")
    return np.asarray(grouping.codes, dtype=np.int64), list(grouping.labels)


def binary_labels(train, groups: str, *, owner: str) -> tuple[np.ndarray, list[str]]:
    """Like :func:`user_labels` but the grouping must have exactly two groups."""
    codes, names = user_labels(train, groups, owner=owner)
    if len(names) != 2:
        raise RecfairError(NOT_BINARY.format(owner=owner, groups=groups, n=len(names), names=", ".join(names)))
    return codes, names
