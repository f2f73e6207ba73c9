"""Generated data with a known answer for the large-model tests."""

from __future__ import annotations

import numpy as np
import pandas as pd

from recfair.data.dataset import Dataset
from recfair.models.base import Penalty


def themed_dataset(n_users: int = 60, n_items: int = 40, per_user: int = 14, seed: int = 0) -> Dataset:
    """Two tastes with text that reveals them: users of taste A watch "space" films, taste B "farm" films.

    Each user interacts with ``per_user`` items, 85% from their taste's half of
    the catalogue, at increasing timestamps.  Item titles carry the theme word, so
    a model that reads text can place items it never saw in training.
    """
    rng = np.random.default_rng(seed)
    half = n_items // 2
    themes = ["space"] * half + ["farm"] * (n_items - half)
    items = pd.DataFrame({
        "item": [f"m{j}" for j in range(n_items)],
        "title": [f"{themes[j].title()} Story {j}" for j in range(n_items)],
        "year": [1990.0 + (j % 10) if j % 7 else np.nan for j in range(n_items)],
        "genres": [("SciFi", "Action") if themes[j] == "space" else ("Drama",) for j in range(n_items)],
    })
    taste = rng.integers(0, 2, n_users)
    users = pd.DataFrame({
        "user": [f"u{u}" for u in range(n_users)],
        "age": rng.integers(18, 60, n_users),
        "gender": np.where(taste == 0, "M", "F"),
        "occupation": rng.choice(["writer", "doctor", "student"], n_users),
    })
    rows = []
    for u in range(n_users):
        mine = np.arange(half) if taste[u] == 0 else np.arange(half, n_items)
        other = np.setdiff1d(np.arange(n_items), mine)
        n_mine = int(round(per_user * 0.85))
        chosen = np.concatenate([rng.choice(mine, n_mine, replace=False),
                                 rng.choice(other, per_user - n_mine, replace=False)])
        rng.shuffle(chosen)
        for t, j in enumerate(chosen):
            rows.append((f"u{u}", f"m{j}", 4.0, 1000 * u + t))
    frame = pd.DataFrame(rows, columns=["user", "item", "rating", "timestamp"])
    return Dataset.from_frame(frame, users=users, items=items, name="themes")


class RecordingPenalty(Penalty):
    """Records what it is given; adds a small L2 term on user embeddings."""

    def __init__(self, lambda_: float) -> None:
        self.lambda_, self.bound, self.batches = lambda_, None, []

    def bind(self, train) -> None:
        self.bound = train

    def __call__(self, batch):
        self.batches.append(batch)
        return self.lambda_ * (batch.user_embeddings ** 2).sum(1).mean()
