"""The :class:`Audit` value and :func:`audit`, the one call that audits a set of lists.

An audit is a set of tidy tables (pandas) plus a small ``meta`` dict.  It saves
to a folder as one Parquet file per table and ``audit.json`` (meta and every
table as columns, dtypes and rows, floats at full precision and NaN as
``null``); :meth:`TableSet.load` reads it back, :meth:`TableSet.from_json`
reads the JSON alone.  :meth:`Audit.summary` renders a plain-text summary.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Self

import numpy as np
import pandas as pd

from recfair.errors import RecfairError
from recfair.fairness.groups import GroupSpec, parse_groups, parse_item_groups
from recfair.fairness.item import ITEM_FAIRNESS_COLUMNS, ITEM_GROUP_COLUMNS, ITEM_METRIC_COLUMNS, audit_items
from recfair.fairness.user import USER_GAP_COLUMNS, USER_GROUP_COLUMNS, audit_users

__all__ = ["Audit", "TableSet", "audit", "default_item_groups", "default_user_groups"]

AUDIT_JSON = "audit.json"
NOT_AN_AUDIT = "{path} holds no saved audit ({file} missing); write one with Audit.save(dir) or `recfair audit`."
WRONG_KIND = "{path} holds a '{found}' audit, not a '{expected}' one."
MISSING_TABLE = "saved {kind} audit lacks table '{name}'"



def _cell(v):
    if v is None or (isinstance(v, (float, np.floating)) and np.isnan(v)):
        return None
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, (np.floating, float)):
        return float(v)
    if isinstance(v, np.bool_):
        return bool(v)
    return v


def _frame_to_json(df: pd.DataFrame) -> dict[str, Any]:
    """Columns, dtypes and row lists; floats keep full precision, NaN becomes null."""
    return {
        "columns": [str(c) for c in df.columns],
        "dtypes": {str(c): str(t) for c, t in df.dtypes.items()},
        "data": [[_cell(v) for v in row] for row in df.itertuples(index=False, name=None)],
    }


def _frame_from_json(payload: dict[str, Any]) -> pd.DataFrame:
    cols = payload["columns"]
    df = pd.DataFrame(payload["data"], columns=cols)
    for c in cols:
        dtype = payload["dtypes"].get(c, "object")
        if dtype.startswith(("float", "int", "bool")):
            df[c] = df[c].astype("float64" if dtype.startswith("float") else dtype)
        else:
            df[c] = df[c].astype(object)
    return df


class TableSet:
    """Named tidy tables + meta, with Parquet/JSON round-trip.  Subclasses fix ``KIND`` and ``TABLES``."""

    KIND = "tables"
    TABLES: dict[str, tuple[str, ...]] = {}

    def __init__(self, tables: dict[str, pd.DataFrame], meta: dict[str, Any] | None = None) -> None:
        missing = [n for n in self.TABLES if n not in tables]
        if missing:
            raise RecfairError(MISSING_TABLE.format(kind=self.KIND, name=missing[0]))
        self.tables = {n: tables[n].reset_index(drop=True) for n in self.TABLES}
        self.meta = dict(meta or {})

    def __getitem__(self, name: str) -> pd.DataFrame:
        return self.tables[name]

    def __repr__(self) -> str:
        sizes = ", ".join(f"{n}={len(t)}" for n, t in self.tables.items())
        return f"{type(self).__name__}({sizes})"

    # ---------------------------------------------------------------- JSON
    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict: ``kind``, ``meta`` and every table (pandas ``orient='table'``)."""
        return {
            "kind": self.KIND,
            "meta": self.meta,
            "tables": {n: _frame_to_json(t) for n, t in self.tables.items()},
        }

    def to_json(self, **kwargs) -> str:
        """:meth:`to_dict` as a JSON string; ``kwargs`` go to :func:`json.dumps` (e.g. ``indent=1``)."""
        return json.dumps(self.to_dict(), **kwargs)

    @classmethod
    def from_dict(cls, data: dict[str, Any], path: str = "<dict>") -> Self:
        """Rebuild from a :meth:`to_dict` dict; ``path`` only names the source in errors.

        Raises :class:`RecfairError` (:data:`WRONG_KIND`) when ``data['kind']`` is
        not this class's ``KIND``, or (:data:`MISSING_TABLE`) when a table is absent.
        """
        if data.get("kind") != cls.KIND:
            raise RecfairError(WRONG_KIND.format(path=path, found=data.get("kind"), expected=cls.KIND))
        tables = {}
        for name, payload in data.get("tables", {}).items():
            tables[name] = _frame_from_json(payload)
        return cls(tables, data.get("meta", {}))

    @classmethod
    def from_json(cls, text: str, path: str = "<json>") -> Self:
        """Rebuild from :meth:`to_json` text (see :meth:`from_dict`)."""
        return cls.from_dict(json.loads(text), path)

    # --------------------------------------------------------------- files
    def save(self, path: str | Path) -> Path:
        """Write ``<table>.parquet`` per table and ``audit.json`` into folder ``path``."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        for name, table in self.tables.items():
            tmp = path / f"{name}.parquet.tmp"
            table.to_parquet(tmp, index=False)
            tmp.replace(path / f"{name}.parquet")
        tmp = path / (AUDIT_JSON + ".tmp")
        tmp.write_text(self.to_json(indent=1))
        tmp.replace(path / AUDIT_JSON)
        return path

    @classmethod
    def load(cls, path: str | Path) -> Self:
        """Read a folder written by :meth:`save` (tables from Parquet, meta from JSON)."""
        path = Path(path)
        f = path / AUDIT_JSON
        if not f.is_file():
            raise RecfairError(NOT_AN_AUDIT.format(path=path, file=AUDIT_JSON))
        data = json.loads(f.read_text())
        if data.get("kind") != cls.KIND:
            raise RecfairError(WRONG_KIND.format(path=path, found=data.get("kind"), expected=cls.KIND))
        tables = {}
        for name in cls.TABLES:
            pq = path / f"{name}.parquet"
            if not pq.is_file():
                raise RecfairError(MISSING_TABLE.format(kind=cls.KIND, name=name))
            tables[name] = pd.read_parquet(pq)
        return cls(tables, data.get("meta", {}))

    def equals(self, other: "TableSet") -> bool:
        """Same kind, meta and tables (values, NaN positions; dtypes may differ in width)."""
        if type(self) is not type(other) or self.meta != other.meta:
            return False
        for n, t in self.tables.items():
            o = other.tables[n]
            if list(t.columns) != list(o.columns) or len(t) != len(o):
                return False
            try:
                pd.testing.assert_frame_equal(t, o, check_dtype=False, check_index_type=False)
            except AssertionError:
                return False
        return True


def format_number(x, digits: int = 4) -> str:
    """``x`` with ``digits`` decimals for floats (``"nan"`` for missing), ``str(x)`` otherwise."""
    if x is None or (isinstance(x, float) and np.isnan(x)):
        return "nan"
    return f"{x:.{digits}f}" if isinstance(x, (float, np.floating)) else str(x)


def _p(p) -> str:
    return "nan" if p is None or np.isnan(p) else (f"{p:.4f}" if p >= 1e-3 else f"{p:.1e}")


class Audit(TableSet):
    """Result of :func:`audit`.

    Tables (fixed columns):

    * ``user_groups`` — attribute, group, metric, value, ci_low, ci_high, n, n_missing
    * ``user_gaps`` — attribute, metric, gap, gap_ci_low, gap_ci_high, ratio, p_value, n_groups, …
    * ``item_groups`` — per item grouping × group: catalogue / train / test / slot / exposure shares, P(R@k|g)…
    * ``item_fairness`` — attribute, metric (``rsp@k``, ``reo@k``), value, n_groups
    * ``item_metrics`` — metric (coverage, exposure Gini, ARP, APLT, ACLT, novelty, ILD,
      miscalibration, popcal, PopRSP, PopREO), value, n_users
    """

    KIND = "model"
    TABLES = {
        "user_groups": USER_GROUP_COLUMNS,
        "user_gaps": USER_GAP_COLUMNS,
        "item_groups": ITEM_GROUP_COLUMNS,
        "item_fairness": ITEM_FAIRNESS_COLUMNS,
        "item_metrics": ITEM_METRIC_COLUMNS,
    }

    @property
    def user_groups(self) -> pd.DataFrame:
        """Mean metric with CI per (attribute, group, metric); columns :data:`USER_GROUP_COLUMNS`."""
        return self.tables["user_groups"]

    @property
    def user_gaps(self) -> pd.DataFrame:
        """Max − min group gap per (attribute, metric) with CI, ratio and p-value; columns :data:`USER_GAP_COLUMNS`."""
        return self.tables["user_gaps"]

    @property
    def item_groups(self) -> pd.DataFrame:
        """Per item group: size and shares of catalogue, train, test, lists and exposure; columns :data:`ITEM_GROUP_COLUMNS`."""
        return self.tables["item_groups"]

    @property
    def item_fairness(self) -> pd.DataFrame:
        """Item-side fairness measures per item grouping; columns :data:`ITEM_FAIRNESS_COLUMNS`."""
        return self.tables["item_fairness"]

    @property
    def item_metrics(self) -> pd.DataFrame:
        """Global item-side metrics (coverage, exposure Gini, …); columns :data:`ITEM_METRIC_COLUMNS`."""
        return self.tables["item_metrics"]

    @property
    def ugf(self) -> pd.DataFrame:
        """UGF (Li et al. 2021) = the gap of each binary activity split: attribute, metric, ugf, p_value."""
        g = self.user_gaps
        rows = g[g["attribute"].str.startswith("activity")]
        return rows[["attribute", "metric", "gap", "gap_ci_low", "gap_ci_high", "p_value"]].rename(
            columns={"gap": "ugf"}).reset_index(drop=True)

    def summary(self, metrics=None) -> str:
        """Readable plain text: per attribute and metric, group means with CIs, the gap and p-value;
        then the item-side popularity table and list-level metrics."""
        m = self.meta
        k = m.get("k", "?")
        metrics = metrics or [c for c in (f"ndcg@{k}", f"recall@{k}") if c in set(self.user_gaps["metric"])]
        conf = int(round(100 * float(m.get("confidence", 0.95))))
        lines = [
            f"Fairness audit of {m.get('n_users', '?')} users, k={k} "
            f"({m.get('n_bootstrap')} bootstrap resamples, {conf}% CIs; {m.get('n_permutations')} permutations; "
            f"seed {m.get('seed')})"
        ]
        for _, gap in self.user_gaps[self.user_gaps["metric"].isin(metrics)].iterrows():
            lines.append(
                f"\n{gap['attribute']} · {gap['metric']}: gap {format_number(gap['gap'])} "
                f"[{format_number(gap['gap_ci_low'])}, {format_number(gap['gap_ci_high'])}] ({gap['max_group']} − {gap['min_group']}), "
                f"ratio {format_number(gap['ratio'], 3)}, p = {_p(gap['p_value'])}"
            )
            sel = self.user_groups[(self.user_groups["attribute"] == gap["attribute"])
                                   & (self.user_groups["metric"] == gap["metric"])]
            for _, r in sel.iterrows():
                lines.append(f"  {r['group']:<14} {format_number(r['value'])} [{format_number(r['ci_low'])}, {format_number(r['ci_high'])}]"
                             f"  n={r['n']}")
        ig = self.item_groups
        if len(ig):
            lines.append("\nItem groups (shares of catalogue / training interactions / test relevance / "
                         "list slots / exposure; P(rec), P(rec|relevant))")
            for _, r in ig.iterrows():
                lines.append(
                    f"  {r['attribute']:<11} {r['group']:<11} n={r['n_items']:<5} cat {format_number(r['catalogue_share'], 3)} "
                    f"train {format_number(r['train_share'], 3)} test {format_number(r['test_share'], 3)} slots {format_number(r['rec_share'], 3)} "
                    f"exposure {format_number(r['exposure_share'], 3)}  P(rec) {format_number(r['p_rec'])} "
                    f"P(rec|rel) {format_number(r['p_rec_relevant'])}"
                )
        if len(self.item_fairness):
            lines.append("  " + "  ".join(f"{r['attribute']} {r['metric']} {format_number(r['value'], 3)}"
                                          for _, r in self.item_fairness.iterrows()))
        lines.append("\nList-level: " + ", ".join(f"{r['metric']} {format_number(r['value'], 4)}"
                                                  for _, r in self.item_metrics.iterrows()))
        return "\n".join(lines)


def default_user_groups(dataset) -> list[GroupSpec]:
    """``gender``, ``age`` (METRICS.md bins) when the user table has them, and ``activity``."""
    cols = dataset.users.columns
    specs = [GroupSpec.categorical("gender")] if "gender" in cols else []
    specs += [GroupSpec.age()] if "age" in cols else []
    return specs + [GroupSpec.activity()]


def default_item_groups(dataset) -> list[GroupSpec]:
    """Short head / long tail, head / mid / tail, and ``genres`` when the item table has them."""
    specs = [GroupSpec.popularity(), GroupSpec.tiers()]
    return specs + ([GroupSpec.categorical("genres")] if "genres" in dataset.items.columns else [])


def _seen(split):
    from recfair.data.dataset import concat_interactions

    parts = [split.train] + ([split.history] if getattr(split, "history", None) is not None else [])
    return parts[0] if len(parts) == 1 else concat_interactions(parts, name="seen")


def audit(
    recs,
    split,
    groups=None,
    metrics=None,
    *,
    item_groups=None,
    k: int = 10,
    n_bootstrap: int = 1000,
    n_permutations: int = 2000,
    confidence: float = 0.95,
    min_group_size: int = 2,
    seed: int = 0,
    item_vectors: np.ndarray | None = None,
    per_user: pd.DataFrame | None = None,
) -> Audit:
    """Audit ranked lists for user-side and item-side fairness.

    Parameters
    ----------
    recs : Recommendations
        Lists for the test users (only the first ``k`` positions count).
    split : Split
        ``split.train`` gives popularity and activity, ``split.test`` relevance;
        user/item attribute tables come with them.
    groups : str or list, optional
        User groupings, e.g. ``"gender,age,activity,gender*age"`` (see
        :func:`~recfair.fairness.groups.parse_groups`); default
        :func:`default_user_groups`.
    metrics : list of str, optional
        Per-user columns to audit (``"ndcg@10"``…); default every column of
        :func:`recfair.metrics.evaluate`.
    item_groups : str or list, optional
        Item groupings (``"popularity,tiers,genres,year"``); default
        :func:`default_item_groups`.
    k, n_bootstrap, n_permutations, confidence, min_group_size, seed :
        See :func:`~recfair.fairness.user.audit_users`.
    item_vectors : array, optional
        Item vectors for intra-list diversity (default genres).
    per_user : DataFrame, optional
        A ready per-user table (index = user index) to audit instead of evaluating ``recs``.

    Examples
    --------
    >>> a = audit(recs, split, groups="gender,age,activity", k=10)  # doctest: +SKIP
    >>> print(a.summary())  # doctest: +SKIP
    """
    from recfair.metrics import evaluate

    train, test = split.train, split.test
    specs = default_user_groups(train) if groups is None else parse_groups(groups)
    ispecs = default_item_groups(train) if item_groups is None else parse_item_groups(item_groups)
    n_skipped = n_missing = 0
    if per_user is None:
        ev = evaluate(recs, test, train=train, k=k, item_vectors=item_vectors)
        per_user, n_skipped, n_missing = ev.per_user, ev.n_skipped, ev.n_missing
    cols = list(per_user.columns) if metrics is None else [metrics] if isinstance(metrics, str) else list(metrics)
    user_res = audit_users(
        per_user, [s.assign(train, "user") for s in specs], cols, n_bootstrap=n_bootstrap,
        n_permutations=n_permutations, confidence=confidence, min_group_size=min_group_size, seed=seed,
    )
    listed = np.intersect1d(recs.users, per_user.index.to_numpy())
    item_recs = recs.select(listed)
    item_res = audit_items(item_recs, train, test, [s.assign(train, "item") for s in ispecs], k,
                           seen=_seen(split), item_vectors=item_vectors)
    meta = {
        "k": int(k), "n_bootstrap": int(n_bootstrap), "n_permutations": int(n_permutations),
        "confidence": float(confidence), "min_group_size": int(min_group_size), "seed": int(seed),
        "groups": [s.name for s in specs], "item_groups": [s.name for s in ispecs], "metrics": cols,
        "n_users": int(len(per_user)), "n_item_users": int(len(item_recs)), "n_skipped": int(n_skipped),
        "n_missing": int(n_missing), "dataset": str(getattr(train, "name", "")),
        "protocol": str(getattr(split, "protocol", "")),
    }
    return Audit({
        "user_groups": user_res.groups, "user_gaps": user_res.gaps, "item_groups": item_res.groups,
        "item_fairness": item_res.fairness, "item_metrics": item_res.metrics,
    }, meta)
