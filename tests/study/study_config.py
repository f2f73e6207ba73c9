"""A tiny study config for tests (synthetic data; seconds, not minutes)."""

from __future__ import annotations

from pathlib import Path

TINY = """
[study]
name = "tiny"
seeds = [0]
baseline = "bpr"
k = 10
n_candidates = 30

[[data]]
name = "synthetic"
options = { n_users = 150, n_items = 120, n_interactions = 3000, seed = 0 }

[models.popularity]

[models.bpr]
epochs = 2
embedding_size = 8

[[mitigations]]
stage = "in"
name = "group-gap"
groups = "gender"
lambda = [0.5]

[[mitigations]]
stage = "post"
name = "ugf"
groups = "activity"
params = { solver = "greedy" }

[audit]
groups = ["gender", "activity"]
n_bootstrap = 30
n_permutations = 30
strata = 3
"""


def write_config(folder: Path, text: str = TINY, name: str = "study.toml") -> Path:
    """Write ``text`` to ``folder/name`` and return the path."""
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path
