"""Drift metrics of one simulation round (one row per metric), and the state they carry across rounds.

Accuracy is measured against the oracle: the slate's nDCG@k with the oracle's
preferences as gains, relative to the ideal list (the oracle's own top-k of the
allowed, unseen items).  Metric names (the ``rounds`` table's ``metric``):

* ``accuracy``, ``accuracy:ATTR=GROUP``, ``gap:ATTR`` (largest minus smallest
  group mean), ``delta:ATTR=GROUP`` / ``share_worse:ATTR=GROUP`` (who gains, who
  loses: per-user change against round 1, :func:`recfair.fairness.compare_users`);
* ``accept_rate`` (accepted / shown slots of active users);
* ``gini_consumption`` (all consumption so far, initial log included),
  ``gini_consumption_sim`` (simulated consumption only), ``gini_exposure`` (this
  round's slates), over released items;
* ``popularity`` (mean share of users who consumed a recommended item, the
  log so far), ``tail_exposure`` / ``tail_consumption`` (share in the long tail of
  the initial log), ``coverage`` (released items in at least one slate);
* ``jaccard_consumed`` (mean pairwise Jaccard of users' simulated consumption),
  ``jaccard_lists``, ``jaccard_lists_ideal`` and ``homogenisation`` (their ratio:
  > 1 = more alike than the ideal recommender makes them; Chaney et al. 2018);
* ``new_item_exposure`` (share of slots on items released during the run),
  ``new_items_exposed`` (share of released new items shown at least once),
  ``rounds_to_first_exposure`` (mean, over exposed new items);
* ``new_user_accuracy`` and ``new_user_accuracy:ATTR=GROUP`` (users who arrived
  during the run).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recfair.fairness.compare import compare_users
from recfair.fairness.groups import parse_groups
from recfair.metrics.beyond import gini, short_head
from recfair.simulation.config import SimulationConfig

__all__ = ["DriftTracker", "oracle_ndcg", "pairwise_jaccard"]


def oracle_ndcg(items: np.ndarray, ideal: np.ndarray, pref: np.ndarray) -> np.ndarray:
    """Per-row nDCG of lists ``items`` with gains ``pref`` (rows = the lists' users), against ``ideal``."""
    k = items.shape[1]
    disc = 1.0 / np.log2(np.arange(2, k + 2))
    rows = np.arange(len(items))[:, None]

    def dcg(lists: np.ndarray) -> np.ndarray:
        g = pref[rows, np.maximum(lists, 0)] * (lists >= 0)
        return (g * disc[None, : lists.shape[1]]).sum(1)

    best = dcg(ideal)
    return np.where(best > 0, dcg(items) / np.where(best > 0, best, 1), np.nan)


def pairwise_jaccard(sets: sp.csr_matrix, pairs: np.ndarray) -> float:
    """Mean Jaccard similarity of the rows of a binary matrix over ``pairs`` ``(m, 2)`` (empty rows skipped)."""
    if len(pairs) == 0:
        return float("nan")
    a, b = sets[pairs[:, 0]], sets[pairs[:, 1]]
    inter = np.asarray(a.multiply(b).sum(1)).ravel()
    size_a, size_b = np.asarray(a.sum(1)).ravel(), np.asarray(b.sum(1)).ravel()
    union = size_a + size_b - inter
    ok = union > 0
    return float((inter[ok] / union[ok]).mean()) if ok.any() else float("nan")


def _binary(users: np.ndarray, items: np.ndarray, shape: tuple[int, int]) -> sp.csr_matrix:
    keep = items >= 0
    m = sp.csr_matrix((np.ones(int(keep.sum()), np.float32), (users[keep], items[keep])), shape=shape)
    m.sum_duplicates()
    m.data[:] = 1.0
    return m


class DriftTracker:
    """Computes a round's drift rows; keeps first exposures and round-1 accuracy between rounds."""

    def __init__(self, world, config: SimulationConfig, seed: int) -> None:
        self.world, self.config, self.seed = world, config, seed
        ds = world.dataset
        labels = {}
        for spec in config.groups:
            for gs in parse_groups(spec, side="user"):
                g = gs.assign(ds, "user")
                codes = g.codes
                labels[g.attribute] = [g.labels[c] if c >= 0 else None for c in codes]
        self.labels = pd.DataFrame(labels, index=pd.RangeIndex(ds.n_users))
        self.tail = ~short_head(world.log_dataset(world.initial_log))
        self.first_exposure = np.full(ds.n_items, -1, dtype=np.int64)
        self.base: pd.Series | None = None

    # ------------------------------------------------------------ state
    def state(self) -> dict[str, pd.DataFrame]:
        """What must survive a restart: first exposures and round-1 per-user accuracy."""
        base = self.base if self.base is not None else pd.Series(dtype=np.float64)
        return {"exposure": pd.DataFrame({"first_exposure": self.first_exposure}),
                "base": pd.DataFrame({"user": base.index.to_numpy(np.int64), "accuracy": base.to_numpy(np.float64)})}

    def load_state(self, state: dict[str, pd.DataFrame]) -> None:
        """Restore :meth:`state`."""
        self.first_exposure = state["exposure"]["first_exposure"].to_numpy(np.int64).copy()
        base = state["base"]
        self.base = pd.Series(base["accuracy"].to_numpy(), index=base["user"].to_numpy()) if len(base) else None

    # ---------------------------------------------------------- measure
    def measure(self, t: int, users: np.ndarray, slates: np.ndarray, ideal: np.ndarray,
                log: pd.DataFrame, shown_active: int, accepted: int) -> dict[str, float]:
        """Every metric of round ``t`` (see the module docs) as ``{name: value}``."""
        w = self.world
        pref = w.oracle.pref[users]
        acc = pd.Series(oracle_ndcg(slates, ideal, pref), index=users)
        out: dict[str, float] = {"accuracy": float(np.nanmean(acc)) if len(acc) else float("nan"),
                                 "accept_rate": accepted / shown_active if shown_active else float("nan")}
        out.update(self._groups(acc, "accuracy", gaps=True))
        out.update(self._who_gains(t, acc))
        new_users = acc[w.user_round[users] >= 1]
        out["new_user_accuracy"] = float(np.nanmean(new_users)) if len(new_users) else float("nan")
        out.update(self._groups(new_users, "new_user_accuracy", gaps=False))
        out.update(self._items(t, slates, log))
        out.update(self._homogenisation(t, users, slates, ideal, log))
        return out

    def _groups(self, values: pd.Series, name: str, gaps: bool) -> dict[str, float]:
        out = {}
        for attr in self.labels.columns:
            lab = self.labels.loc[values.index, attr]
            means = values.groupby(lab.to_numpy(), dropna=True).mean().dropna()
            for g, v in means.items():
                out[f"{name}:{attr}={g}"] = float(v)
            if gaps and len(means) > 1:
                out[f"gap:{attr}"] = float(means.max() - means.min())
        return out

    def _who_gains(self, t: int, acc: pd.Series) -> dict[str, float]:
        acc = acc.dropna()
        if self.base is None:
            self.base = acc.copy()
            return {}
        common = acc.index.intersection(self.base.index)
        if len(common) < 2:
            return {}
        metric = f"ndcg@{self.config.k}"  # oracle nDCG: higher is better, as compare_users reads the name
        a = pd.DataFrame({metric: self.base.loc[common].to_numpy()}, index=common)
        b = pd.DataFrame({metric: acc.loc[common].to_numpy()}, index=common)
        cmp = compare_users(a, b, self.labels.loc[common], metric, users="same",
                            n_bootstrap=self.config.n_bootstrap, n_permutations=self.config.n_bootstrap,
                            seed=self.seed + t)
        out = {}
        for r in cmp.groups.itertuples():
            key = "all" if r.attribute == "all" else f"{r.attribute}={r.group}"
            out[f"delta:{key}"] = float(r.delta)
            out[f"share_worse:{key}"] = float(r.share_worse)
        return out

    def _items(self, t: int, slates: np.ndarray, log: pd.DataFrame) -> dict[str, float]:
        w = self.world
        n_items = w.dataset.n_items
        released = w.released(t)
        shown = slates[slates >= 0]
        exposure = np.bincount(shown, minlength=n_items)
        newly = (exposure > 0) & (self.first_exposure < 0)
        self.first_exposure[newly] = t
        counts = np.bincount(log["item"].to_numpy(), minlength=n_items)
        sim = log[log["round"] >= 1]
        sim_counts = np.bincount(sim["item"].to_numpy(), minlength=n_items)
        now = log[log["round"] == t]
        consumed_now = now["item"].to_numpy()
        n_users_log = max(1, log["user"].nunique())
        new_items = released & (w.item_round >= 1)
        exposed_new = new_items & (self.first_exposure >= 0)
        delays = self.first_exposure[exposed_new] - w.item_round[exposed_new]
        return {
            "gini_consumption": gini(counts[released]),
            "gini_consumption_sim": gini(sim_counts[released]) if len(sim) else float("nan"),
            "gini_exposure": gini(exposure[released]),
            "popularity": float((counts[shown] / n_users_log).mean()) if shown.size else float("nan"),
            "tail_exposure": float(self.tail[shown].mean()) if shown.size else float("nan"),
            "tail_consumption": float(self.tail[consumed_now].mean()) if consumed_now.size else float("nan"),
            "coverage": float((exposure[released] > 0).mean()),
            "new_item_exposure": float((w.item_round[shown] >= 1).mean()) if shown.size else float("nan"),
            "new_items_exposed": float(exposed_new.sum() / new_items.sum()) if new_items.any() else float("nan"),
            "rounds_to_first_exposure": float(delays.mean()) if delays.size else float("nan"),
        }

    def _homogenisation(self, t: int, users: np.ndarray, slates: np.ndarray, ideal: np.ndarray,
                        log: pd.DataFrame) -> dict[str, float]:
        shape = (self.world.dataset.n_users, self.world.dataset.n_items)
        rng = np.random.default_rng([self.seed, t, 7])
        n = len(users)
        if n < 2:
            return {}
        pairs = rng.integers(0, n, (self.config.pairs, 2))
        pairs = pairs[pairs[:, 0] != pairs[:, 1]]
        rows = np.repeat(np.arange(n), slates.shape[1])
        lists = _binary(rows, slates.ravel(), (n, shape[1]))
        best = _binary(np.repeat(np.arange(n), ideal.shape[1]), ideal.ravel(), (n, shape[1]))
        sim = log[log["round"] >= 1]
        consumed = _binary(sim["user"].to_numpy(), sim["item"].to_numpy(), shape)
        j_lists, j_ideal = pairwise_jaccard(lists, pairs), pairwise_jaccard(best, pairs)
        return {
            "jaccard_consumed": pairwise_jaccard(consumed, users[pairs]),
            "jaccard_lists": j_lists,
            "jaccard_lists_ideal": j_ideal,
            "homogenisation": j_lists / j_ideal if j_ideal > 0 else float("nan"),
        }
