"""The pandas baseline's list metrics, item side and rating tables (see :mod:`audit_baseline`).

Per-user metrics are one Python loop over users; popularity, tiers, item
groups and rating errors are pandas ``groupby`` / ``merge``.  The definitions
follow docs/metrics.md: popularity = distinct training users, the short head
= the most popular items holding 80% of training interactions (ties at the
boundary included), tiers head / mid / tail at 20% / 80%, position weight
``1 / log2(rank + 1)``.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

TIERS = ("head", "mid", "tail")
#: Tolerance when a cumulative popularity share is compared with the target share.
SHARE_TOL = 1e-12


def popularity(train: pd.DataFrame, n_items: int) -> pd.Series:
    """Distinct training users per item, for every item."""
    return train.groupby("item")["user"].nunique().reindex(range(n_items), fill_value=0)


def head_items(pop: pd.Series, share: float) -> pd.Series:
    """Whether each item is in the shortest popularity-sorted prefix holding ``share`` of Σ pop (ties too)."""
    if share <= 0:
        return pd.Series(False, index=pop.index)
    ordered = pop.sort_values(ascending=False, kind="stable")
    cum = ordered.cumsum() / ordered.sum()
    reached = cum.to_numpy() >= share - SHARE_TOL
    last = int(np.argmax(reached)) if reached.any() else len(ordered) - 1
    return (pop >= ordered.iloc[last]) & (pop > 0)


def tiers(pop: pd.Series) -> pd.Series:
    """``head`` / ``mid`` / ``tail`` per item (20% / 80% cumulative shares)."""
    out = pd.Series("tail", index=pop.index)
    out[head_items(pop, 0.8)] = "mid"
    out[head_items(pop, 0.2)] = "head"
    return out


def genres_of(items: pd.DataFrame) -> list[tuple[str, ...]]:
    """Each item's genres as a tuple of strings (empty when it has none)."""
    return [tuple(str(g) for g in v) if isinstance(v, (tuple, list, np.ndarray)) else ()
            for v in items["genres"].reset_index(drop=True)]


def clean_list(row: list[int], k: int) -> list[tuple[int, int]]:
    """``(position, item)`` of the first ``k`` slots, padding and repeated items left out."""
    seen, out = set(), []
    for pos, item in enumerate(row[:k]):
        if item >= 0 and item not in seen:
            seen.add(item)
            out.append((pos, item))
    return out


def _shares(weights: dict) -> dict | None:
    total = sum(weights.values())
    return {g: w / total for g, w in weights.items()} if total > 0 else None


def _profiles(train: pd.DataFrame, item_weights: pd.DataFrame) -> dict:
    """user → {key: share} over the user's distinct training items (``item_weights``: item, key, w)."""
    pairs = train[["user", "item"]].drop_duplicates().merge(item_weights, on="item")
    sums = pairs.groupby(["user", "key"])["w"].sum()
    out: dict = {}
    for (user, key), w in sums.items():
        out.setdefault(user, {})[key] = w
    return {u: _shares(v) for u, v in out.items()}


def _kl(p: dict, q: dict, alpha: float = 0.01) -> float:
    return sum(pv * math.log(pv / ((1 - alpha) * q.get(g, 0.0) + alpha * pv)) for g, pv in p.items() if pv > 0)


def _js(p: dict, q: dict) -> float:
    keys = set(p) | set(q)
    m = {g: 0.5 * (p.get(g, 0.0) + q.get(g, 0.0)) for g in keys}
    kl_p = sum(p[g] * math.log2(p[g] / m[g]) for g in p if p[g] > 0)
    kl_q = sum(q[g] * math.log2(q[g] / m[g]) for g in q if q[g] > 0)
    return 0.5 * kl_p + 0.5 * kl_q


def _ild(genres: list[set]) -> float:
    g = [s for s in genres if s]
    if len(g) < 2:
        return float("nan")
    dist = [1 - len(a & b) / math.sqrt(len(a) * len(b)) for i, a in enumerate(g) for b in g[i + 1:]]
    return sum(dist) / len(dist)


def per_user_metrics(lists: dict, train: pd.DataFrame, test: pd.DataFrame, items: pd.DataFrame,
                     k: int) -> pd.DataFrame:
    """recfair's default per-user columns for every user with test items (missing lists count as empty)."""
    n_items = len(items)
    pop = popularity(train, n_items)
    tail = ~head_items(pop, 0.8)
    n_train_users = train["user"].nunique()
    novelty = -np.log2(np.maximum(pop, 1) / n_train_users)
    genres = [set(g) for g in genres_of(items)]
    genre_w = pd.DataFrame([(j, g, 1 / len(gs)) for j, gs in enumerate(genres) for g in gs],
                           columns=["item", "key", "w"])
    tier = tiers(pop)
    p_genre = _profiles(train, genre_w)
    p_tier = _profiles(train, pd.DataFrame({"item": tier.index, "key": tier.to_numpy(), "w": 1.0}))
    relevant = test.groupby("user")["item"].apply(set)
    w = [1 / math.log2(i + 2) for i in range(k)]
    rows = {}
    for u, t in relevant.items():
        listed = clean_list(lists.get(u, []), k)
        its = [j for _, j in listed]
        hit_pos = [pos for pos, j in listed if j in t]
        cut = min(k, len(t))
        q_genre = _shares(_genre_sums(its, genres))
        q_tier = _shares(pd.Series([tier[j] for j in its], dtype=object).value_counts().to_dict()) if its else None
        pg, pt = p_genre.get(u), p_tier.get(u)
        rows[u] = {
            "precision": len(hit_pos) / k, "recall": len(hit_pos) / len(t), "hit": float(bool(hit_pos)),
            "ndcg": sum(w[p] for p in hit_pos) / sum(w[:cut]),
            "mrr": 1 / (hit_pos[0] + 1) if hit_pos else 0.0,
            "map": sum((r + 1) / (p + 1) for r, p in enumerate(hit_pos)) / cut,
            "arp": float(np.mean([pop[j] for j in its])) if its else float("nan"),
            "aplt": sum(bool(tail[j]) for j in its) / k, "aclt": float(sum(bool(tail[j]) for j in its)),
            "novelty": float(np.mean([novelty[j] for j in its])) if its else float("nan"),
            "ild": _ild([genres[j] for j in its]),
            "miscalibration": _kl(pg, q_genre) if pg and q_genre else float("nan"),
            "popcal": _js(pt, q_tier) if pt and q_tier else float("nan"),
        }
    frame = pd.DataFrame.from_dict(rows, orient="index").sort_index()
    frame.index = frame.index.astype(np.int64).rename("user")
    return frame.rename(columns=lambda c: f"{c}@{k}")


def _genre_sums(its: list[int], genres: list[set]) -> dict:
    out: dict = {}
    for j in its:
        for g in genres[j]:
            out[g] = out.get(g, 0.0) + 1 / len(genres[j])
    return out


def _membership(items: pd.DataFrame, pop: pd.Series) -> pd.DataFrame:
    """Long table ``item, attribute, group`` of the item groupings popularity, tiers and genres."""
    head = head_items(pop, 0.8)
    parts = [pd.DataFrame({"item": pop.index, "attribute": "popularity", "group": np.where(head, "head", "tail")}),
             pd.DataFrame({"item": pop.index, "attribute": "tiers", "group": tiers(pop).to_numpy()})]
    if "genres" in items.columns:
        g = [(j, "genres", x) for j, gs in enumerate(genres_of(items)) for x in gs]
        parts.append(pd.DataFrame(g, columns=["item", "attribute", "group"]))
    return pd.concat(parts, ignore_index=True)


def _by_group(frame: pd.DataFrame, member: pd.DataFrame, column: str | None = None) -> pd.Series:
    """Sum of ``column`` (or the row count) per (attribute, group) after joining items to their groups."""
    joined = frame.merge(member, on="item")
    grouped = joined.groupby(["attribute", "group"])
    return grouped[column].sum() if column else grouped.size()


def _share(part: float, total: float) -> float:
    return part / total if total > 0 else float("nan")


def _cv(values: list[float]) -> tuple[float, int]:
    v = pd.Series(values, dtype=float).dropna()
    if v.empty or v.mean() == 0:
        return float("nan"), len(v)
    return float(v.std(ddof=0) / v.mean()), len(v)


def _gini(x: np.ndarray) -> float:
    x = np.sort(x)
    n, total = len(x), x.sum()
    if n == 0 or total <= 0:
        return float("nan")
    return float(sum((2 * i - n - 1) * v for i, v in enumerate(x, start=1)) / (n * total))


def _group_rows(member, pop, entries, test_l, hits, seen_l, n_users) -> pd.DataFrame:
    """The item-group table: shares of catalogue, training, test, slots and exposure, P(rec), P(rec|relevant)."""
    n_items = len(pop)
    sums = {"size": member.groupby(["attribute", "group"]).size(),
            "pop": _by_group(pop.rename("pop").rename_axis("item").reset_index(), member, "pop"),
            "test": _by_group(test_l, member), "slots": _by_group(entries, member),
            "exposure": _by_group(entries, member, "w"), "hits": _by_group(hits, member),
            "seen": _by_group(seen_l, member)}
    rows = []
    for attribute in ("popularity", "tiers", "genres"):
        labels = {"popularity": ("head", "tail"), "tiers": TIERS}.get(attribute)
        if labels is None:
            labels = sorted(member.loc[member["attribute"] == attribute, "group"].unique())
        for label in labels:
            get = {name: float(s.get((attribute, label), 0)) for name, s in sums.items()}
            cand = n_users * get["size"] - get["seen"]
            rows.append({
                "attribute": attribute, "group": label, "n_items": int(get["size"]),
                "catalogue_share": _share(get["size"], n_items), "train_share": _share(get["pop"], pop.sum()),
                "test_share": _share(get["test"], len(test_l)), "rec_share": _share(get["slots"], len(entries)),
                "exposure": get["exposure"], "exposure_share": _share(get["exposure"], entries["w"].sum()),
                "p_rec": get["slots"] / cand if cand > 0 else float("nan"),
                "p_rec_relevant": get["hits"] / get["test"] if get["test"] > 0 else float("nan"),
            })
    return pd.DataFrame(rows)


def item_side(listed: dict, per_user: pd.DataFrame, train: pd.DataFrame, test: pd.DataFrame, seen: pd.DataFrame,
              items: pd.DataFrame, k: int) -> dict[str, pd.DataFrame]:
    """``item_groups``, ``item_fairness`` and ``item_metrics`` over the users with a list (``listed``)."""
    pop = popularity(train, len(items))
    member = _membership(items, pop)
    entries = pd.DataFrame([(u, pos, j) for u, row in listed.items() for pos, j in clean_list(row, k)],
                           columns=["user", "pos", "item"])
    entries["w"] = 1 / np.log2(entries["pos"] + 2)
    test_l = test.loc[test["user"].isin(listed), ["user", "item"]].drop_duplicates()
    seen_l = seen.loc[seen["user"].isin(listed), ["user", "item"]].drop_duplicates()
    hits = entries.merge(test_l, on=["user", "item"])
    groups = _group_rows(member, pop, entries, test_l, hits, seen_l, len(listed))
    fair = []
    for attribute, table in groups.groupby("attribute", sort=False):
        for metric, col in (("rsp", "p_rec"), ("reo", "p_rec_relevant")):
            value, n_groups = _cv(table[col].tolist())
            fair.append({"attribute": attribute, "metric": f"{metric}@{k}", "value": value, "n_groups": n_groups})
    exposure = entries.groupby("item")["w"].sum().reindex(range(len(items)), fill_value=0.0)
    n = len(listed)
    rows = [(f"coverage@{k}", entries["item"].nunique() / len(items), n),
            (f"exposure_gini@{k}", _gini(exposure.to_numpy()), n)]
    user_values = per_user.loc[sorted(listed)]
    for name in ("arp", "aplt", "aclt", "novelty", "ild", "miscalibration", "popcal"):
        col = user_values[f"{name}@{k}"]
        rows.append((f"{name}@{k}", float(col.mean()), int(col.notna().sum())))
    pop_table = groups[groups["attribute"] == "popularity"]
    rows += [(f"pop_rsp@{k}", _cv(pop_table["p_rec"].tolist())[0], n),
             (f"pop_reo@{k}", _cv(pop_table["p_rec_relevant"].tolist())[0], n)]
    return {"item_groups": groups, "item_fairness": pd.DataFrame(fair),
            "item_metrics": pd.DataFrame(rows, columns=["metric", "value", "n_users"])}


def _unfairness(df: pd.DataFrame, g: pd.Series) -> dict:
    """Yao & Huang's five measures of group ``g`` against everyone else on test pairs ``df``."""
    per_item = df.assign(g=g).groupby(["item", "g"])["diff"].mean().unstack("g")
    out = dict.fromkeys(("value", "absolute", "under", "over"), float("nan"))
    if True in per_item.columns and False in per_item.columns:
        both = per_item.dropna(subset=[True, False])
        d_g, d_n = both[True], both[False]
        if len(both):
            out = {"value": (d_g - d_n).abs().mean(), "absolute": (d_g.abs() - d_n.abs()).abs().mean(),
                   "under": ((-d_g).clip(lower=0) - (-d_n).clip(lower=0)).abs().mean(),
                   "over": (d_g.clip(lower=0) - d_n.clip(lower=0)).abs().mean()}
        n_items = len(both)
    else:
        n_items = 0
    pred = df["pred"]
    parity = abs(pred[g].mean() - pred[~g].mean()) if g.any() and (~g).any() else float("nan")
    return {**out, "non_parity": parity, "n_items": n_items}


def rating_side(test: pd.DataFrame, predict, groupings: dict) -> dict[str, pd.DataFrame]:
    """``rating_groups`` (RMSE / MAE per user group) and ``rating_unfairness`` (each group vs the rest)."""
    df = test.assign(pred=np.asarray(predict(test["user"].to_numpy(), test["item"].to_numpy()), dtype=np.float64))
    df["diff"] = df["pred"] - df["rating"]
    g_rows, u_rows = [], []
    for attribute, (labels, codes) in groupings.items():
        code = pd.Series(codes.to_numpy()[df["user"].to_numpy()], index=df.index)
        for j, label in enumerate(labels):
            err = df.loc[code == j, "diff"]
            g_rows.append({"grouping": attribute, "group": label, "n": len(err),
                           "rmse": math.sqrt((err ** 2).mean()) if len(err) else float("nan"),
                           "mae": err.abs().mean() if len(err) else float("nan")})
        rest = labels[1] if len(labels) == 2 else "other"
        for j, label in enumerate(labels[:1] if len(labels) == 2 else labels):
            u_rows.append({"grouping": attribute, "group": label, "rest": rest, **_unfairness(df, code == j)})
    return {"rating_groups": pd.DataFrame(g_rows), "rating_unfairness": pd.DataFrame(u_rows)}
