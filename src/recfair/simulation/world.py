"""The simulated world: who is present when, which items are out, and the interaction log.

Arrivals are real users and items of the data set held out of the initial log,
so a new user's profile (gender, age, occupation…) and activity are draws from
the data's joint distribution, and a new item keeps its text (title, year,
genres).  New users are a random ``new_users`` share, arriving in equal batches
over rounds ``1..R``; new items are the ``new_items`` share first seen last in
the data (the latest releases; random when there are no timestamps), released
in that order over the same rounds.  The initial log is every interaction of an
initial user with an initial item.

The log carries each interaction's ``round`` (0 = initial) and ``source``
(:data:`SOURCES`); simulated interactions get timestamps after every initial
one, ``ROUND_SECONDS`` apart per round, so time-ordered models see them in order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from recfair.data.dataset import Dataset
from recfair.simulation.choice import activity_probabilities
from recfair.simulation.config import SimulationConfig
from recfair.simulation.oracle import Oracle

__all__ = ["LOG_COLUMNS", "ROUND_SECONDS", "SOURCES", "World", "interaction_round", "make_world"]

#: Where an interaction came from (the log's ``source`` codes are positions here).
SOURCES = ("initial", "recommended", "organic", "onboarding")
ROUND_SECONDS = 1_000_000
LOG_COLUMNS = ("user", "item", "round", "source", "timestamp")


@dataclass
class World:
    """The environment of one seed: data set, oracle, arrival rounds, activity and the initial log."""

    dataset: Dataset
    oracle: Oracle
    user_round: np.ndarray
    item_round: np.ndarray
    activity: np.ndarray
    initial_log: pd.DataFrame
    base_time: int

    def present_users(self, t: int) -> np.ndarray:
        """Users arrived by round ``t``."""
        return np.flatnonzero(self.user_round <= t)

    def released(self, t: int) -> np.ndarray:
        """Boolean mask of items out by round ``t``."""
        return self.item_round <= t

    def log_dataset(self, log: pd.DataFrame, name: str = "log") -> Dataset:
        """The log as a :class:`~recfair.data.Dataset` in the world's index space (time = log order)."""
        return self.dataset.with_interactions(
            log["user"].to_numpy(np.int32), log["item"].to_numpy(np.int32), None,
            log["timestamp"].to_numpy(np.int64), name=name)

    def stamp(self, user: np.ndarray, item: np.ndarray, t: int, source: np.ndarray) -> pd.DataFrame:
        """Log rows of round ``t`` with fresh timestamps (in the given order)."""
        n = len(user)
        return pd.DataFrame({
            "user": np.asarray(user, np.int32), "item": np.asarray(item, np.int32),
            "round": np.full(n, t, np.int32), "source": np.asarray(source, np.int8),
            "timestamp": self.base_time + t * ROUND_SECONDS + np.arange(n, dtype=np.int64),
        })


def interaction_round(timestamp: np.ndarray, base_time: int) -> np.ndarray:
    """Round of each timestamp of a simulation log (0 for initial interactions)."""
    ts = np.asarray(timestamp, dtype=np.int64)
    return np.where(ts < base_time + ROUND_SECONDS, 0, (ts - base_time) // ROUND_SECONDS)


def _schedule(order: np.ndarray, n: int, rounds: int) -> np.ndarray:
    """Arrival rounds: 0 for all, then ``order``'s entries in equal batches over rounds 1..rounds."""
    out = np.zeros(n, dtype=np.int64)
    if len(order):
        out[order] = 1 + (np.arange(len(order)) * rounds) // len(order)
    return out


def make_world(dataset, oracle: Oracle, config: SimulationConfig, seed: int) -> World:
    """Hold out the arriving users and items and build the initial log (deterministic per ``seed``)."""
    rng = np.random.default_rng([seed, 17])
    arr = config.arrivals
    n_new_users = int(round(arr.new_users * dataset.n_users))
    new_users = rng.permutation(dataset.n_users)[:n_new_users]
    n_new_items = int(round(arr.new_items * dataset.n_items))
    if dataset.timestamp is not None and dataset.n_interactions:
        first = np.full(dataset.n_items, np.iinfo(np.int64).max)
        np.minimum.at(first, dataset.item, dataset.timestamp)
        order = np.lexsort((np.arange(dataset.n_items), first))  # oldest first
    else:
        order = rng.permutation(dataset.n_items)
    new_items = order[dataset.n_items - n_new_items:] if n_new_items else order[:0]
    user_round = _schedule(new_users, dataset.n_users, config.rounds)
    item_round = _schedule(new_items, dataset.n_items, config.rounds)
    keep = (user_round[dataset.user] == 0) & (item_round[dataset.item] == 0)
    ts = dataset.timestamp[keep] if dataset.timestamp is not None else np.flatnonzero(keep).astype(np.int64)
    by_time = np.argsort(ts, kind="stable")
    initial = pd.DataFrame({
        "user": dataset.user[keep][by_time].astype(np.int32), "item": dataset.item[keep][by_time].astype(np.int32),
        "round": np.zeros(int(keep.sum()), np.int32), "source": np.zeros(int(keep.sum()), np.int8),
        "timestamp": ts[by_time].astype(np.int64),
    })
    base = int(initial["timestamp"].max()) + 1 if len(initial) else 0
    activity = activity_probabilities(dataset.user_counts, config.choice.active_share)
    return World(dataset, oracle, user_round, item_round, activity, initial, base)
