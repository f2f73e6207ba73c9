"""The report's sections, assembled from the study store's tables (never from models or data).

Each function takes the store's tables (name → DataFrame, as
:meth:`recfair.study.Store.table` returns them) and returns display-ready
tables (strings) or SVG strings.  Conventions:

* A cell's *label* is its model, its mitigation (unless none) and λ when the
  mitigation has one; cells differing only by seed share a label.
* Headline numbers are means over a label's seeds; a CI and p-value shown
  with a mean come from the label's lowest-seed cell (said in the table note).
* Charts with one series per label show at most :data:`MAX_SERIES` labels.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pandas as pd

from recfair.report.charts import drift_chart, forest_chart, group_bars_chart, lorenz_chart, tradeoff_chart
from recfair.report.svg import fmt

__all__ = [
    "DRIFT_CHARTS", "MAX_SERIES", "cell_frame", "drift_sections", "gains_sections", "group_bar_sections", "headline_table",
    "lorenz_section", "primary_metric", "probe_table", "provenance_table", "strata_table", "tradeoff_section",
]

MAX_SERIES = 8
NO_MITIGATION = (None, "", "none")


def _params(text: Any) -> dict:
    if text is None or (isinstance(text, float) and math.isnan(text)):
        return {}
    try:
        value = json.loads(text) if isinstance(text, str) else dict(text)
    except (TypeError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def cell_frame(cells: pd.DataFrame) -> pd.DataFrame:
    """Done cells with ``label``, ``curve`` (model + mitigation) and ``lambda`` columns, by label then seed."""
    done = cells[cells["status"] == "done"].copy()
    lam, labels, curves = [], [], []
    for r in done.itertuples():
        mit = None if r.mitigation in NO_MITIGATION or pd.isna(r.mitigation) else str(r.mitigation)
        value = _params(r.mitigation_params).get("lambda", _params(r.mitigation_params).get("lambda_"))
        value = float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None
        lam.append(np.nan if value is None else value)
        curve = str(r.model) if mit is None else f"{r.model} + {mit}"
        curves.append(curve)
        labels.append(curve if value is None else f"{curve} λ={fmt(value)}")
    done["label"], done["curve"], done["lambda"] = labels, curves, lam
    order = {lab: i for i, lab in enumerate(dict.fromkeys(labels))}
    done["_order"] = done["label"].map(order)
    done = done.sort_values(["_order", "seed", "cell_id"], kind="stable").drop(columns="_order")
    return done.reset_index(drop=True)


def _first_cells(cells: pd.DataFrame) -> pd.DataFrame:
    """The lowest-seed cell of every label."""
    return cells.drop_duplicates("label", keep="first").reset_index(drop=True)


def _shown_cells(cells: pd.DataFrame) -> pd.DataFrame:
    """At most :data:`MAX_SERIES` lowest-seed cells: every label, or the unmitigated ones when there are more."""
    first = _first_cells(cells)
    if len(first) > MAX_SERIES:
        plain = first[first["label"] == first["model"].astype(str)]
        first = plain if len(plain) else first
    return first.head(MAX_SERIES)


def primary_metric(tables: dict[str, pd.DataFrame]) -> str | None:
    """The metric the report leads with: the first ``ndcg@k`` audited, else the first audited metric."""
    for name in ("group_metrics", "overall"):
        metrics = list(dict.fromkeys(tables[name]["metric"]))
        for m in metrics:
            if str(m).startswith("ndcg@"):
                return str(m)
        if metrics and name == "group_metrics":
            return str(metrics[0])
    return None


def _overall_columns(overall: pd.DataFrame, metric: str | None) -> list[str]:
    present = list(dict.fromkeys(overall["metric"]))
    k = metric.split("@")[1] if metric and "@" in metric else "10"
    wanted = [metric, f"recall@{k}", f"gini@{k}", f"aplt@{k}", f"coverage@{k}", "rmse"]
    return [m for m in wanted if m and m in present]


def _ci_text(value: float, lo: float, hi: float, p: float | None = None) -> str:
    text = f"{fmt(value)} [{fmt(lo)}, {fmt(hi)}]"
    return text + (f" p={fmt(p, 2)}" if p is not None and not pd.isna(p) else "")


def headline_table(tables: dict[str, pd.DataFrame], cells: pd.DataFrame, metric: str | None) -> pd.DataFrame:
    """Model × mitigation: accuracy, user-side gaps (CI, p), item-side exposure and long-tail share."""
    overall, gaps = tables["overall"], tables["gaps"]
    columns = _overall_columns(overall, metric)
    attributes = list(dict.fromkeys(gaps.loc[gaps["metric"] == metric, "attribute"])) if metric else []
    rows = []
    for label, grp in cells.groupby("label", sort=False):
        first = grp.iloc[0]
        row = {"model": first["model"], "mitigation": label[len(str(first["model"])) + 3:] or "none",
               "seeds": len(grp)}
        ov = overall[overall["cell_id"].isin(grp["cell_id"])]
        for m in columns:
            row[m] = fmt(ov.loc[ov["metric"] == m, "value"].mean())
        for attr in attributes:
            g = gaps[(gaps["cell_id"].isin(grp["cell_id"])) & (gaps["attribute"] == attr) & (gaps["metric"] == metric)]
            one = g[g["cell_id"] == first["cell_id"]]
            if one.empty:
                row[f"{attr} gap"] = "—"
                continue
            o = one.iloc[0]
            row[f"{attr} gap"] = _ci_text(g["gap"].mean(), o["gap_ci_low"], o["gap_ci_high"], o["p_value"])
        rows.append(row)
    return pd.DataFrame(rows)


def gains_sections(tables: dict[str, pd.DataFrame], cells: pd.DataFrame, metric: str | None) -> list[dict]:
    """One forest chart per compared pair (model vs baseline), lowest seed of each label."""
    comp = tables["comparisons"]
    if comp.empty or metric is None:
        return []
    label = dict(zip(cells["cell_id"], cells["label"]))
    seen, out = set(), []
    for (a, b), rows in comp[comp["metric"] == metric].groupby(["cell_a", "cell_b"], sort=False):
        if a not in label or b not in label or (label[a], label[b]) in seen:
            continue
        seen.add((label[a], label[b]))
        title = f"{label[b]} vs {label[a]}: who gains, who loses ({metric})"
        gaps = tables["comparison_gaps"]
        gaps = gaps[(gaps["cell_a"] == a) & (gaps["cell_b"] == b) & (gaps["metric"] == metric)]
        changes = [f"{r.attribute}: gap {fmt(r.gap_a)} → {fmt(r.gap_b)} ({r.high_group} vs {r.low_group}; "
                   f"change {_ci_text(r.change, r.ci_low, r.ci_high, r.p_value)})" for r in gaps.itertuples()]
        out.append({"title": title, "svg": forest_chart(rows, title, metric), "notes": changes})
    return out


def tradeoff_section(tables: dict[str, pd.DataFrame], cells: pd.DataFrame, metric: str | None) -> dict | None:
    """Accuracy (mean over seeds) vs the first attribute's gap in the same metric."""
    gaps, overall = tables["gaps"], tables["overall"]
    gaps = gaps[gaps["metric"] == metric]
    if metric is None or gaps.empty:
        return None
    attr = gaps["attribute"].iloc[0]
    rows = []
    for label, grp in cells.groupby("label", sort=False):
        ids = grp["cell_id"]
        x = overall.loc[overall["cell_id"].isin(ids) & (overall["metric"] == metric), "value"].mean()
        y = gaps.loc[gaps["cell_id"].isin(ids) & (gaps["attribute"] == attr), "gap"].mean()
        rows.append({"label": label, "model": grp["model"].iloc[0], "curve": grp["curve"].iloc[0],
                     "lambda": grp["lambda"].iloc[0], "x": x, "y": y})
    points = pd.DataFrame(rows).dropna(subset=["x", "y"])
    if points.empty:
        return None
    title = f"Accuracy–fairness trade-off: {metric} vs {attr} gap"
    return {"title": title, "svg": tradeoff_chart(points, title, metric, f"{attr} gap in {metric}")}


def group_bar_sections(tables: dict[str, pd.DataFrame], cells: pd.DataFrame, metric: str | None) -> list[dict]:
    """Per attribute: group means of the primary metric with CIs, one bar per label (lowest seed).

    With more than :data:`MAX_SERIES` labels only the unmitigated models get a bar
    (the headline and the trade-off chart show the mitigated ones).
    """
    gm = tables["group_metrics"]
    first = _shown_cells(cells)
    label = dict(zip(first["cell_id"], first["label"]))
    gm = gm[(gm["metric"] == metric) & gm["cell_id"].isin(label)]
    out = []
    for attr, rows in gm.groupby("attribute", sort=False):
        order = {cid: i for i, cid in enumerate(label)}
        table = rows.assign(series=rows["cell_id"].map(label), _o=rows["cell_id"].map(order))
        table = table.sort_values("_o", kind="stable").drop(columns="_o")
        title = f"{metric} by {attr} (95% CI)"
        out.append({"title": title, "svg": group_bars_chart(table, title, metric)})
    return out


def lorenz_section(tables: dict[str, pd.DataFrame], cells: pd.DataFrame) -> dict | None:
    """Exposure Lorenz curves of the labels' lowest-seed cells (unmitigated only when there are many)."""
    exp = tables["item_exposure"]
    if exp.empty:
        return None
    curves = {}
    for r in _shown_cells(cells).itertuples():
        e = exp.loc[exp["cell_id"] == r.cell_id, "exposure"].to_numpy(dtype=np.float64)
        if e.size:
            curves[r.label] = e
        if len(curves) == MAX_SERIES:
            break
    if not curves:
        return None
    title = "Item exposure: Lorenz curves"
    return {"title": title, "svg": lorenz_chart(curves, title)}


def strata_table(tables: dict[str, pd.DataFrame], cells: pd.DataFrame, metric: str | None) -> pd.DataFrame:
    """Crude vs activity-adjusted gaps of the primary metric (lowest-seed cell per label)."""
    st = tables["strata_gaps"]
    st = st[(st["metric"] == metric) & st["kind"].isin(["crude", "adjusted"])]
    rows = []
    for r in _first_cells(cells).itertuples():
        mine = st[st["cell_id"] == r.cell_id]
        for (attr, strata), grp in mine.groupby(["attribute", "strata"], sort=False):
            by = {g.kind: g for g in grp.itertuples()}
            crude, adj = by.get("crude"), by.get("adjusted")
            rows.append({
                "cell": r.label, "attribute": attr, "within": strata,
                "groups": f"{crude.high_group} − {crude.low_group}" if crude else "—",
                "crude gap": _ci_text(crude.gap, crude.ci_low, crude.ci_high) if crude else "—",
                "adjusted gap": _ci_text(adj.gap, adj.ci_low, adj.ci_high) if adj else "—",
            })
    return pd.DataFrame(rows)


def probe_table(tables: dict[str, pd.DataFrame], cells: pd.DataFrame) -> pd.DataFrame:
    """Counterfactual sensitivity (SNSR / SNSV per attribute and measure) of every probed cell."""
    ps = tables["probe_summary"]
    label = dict(zip(cells["cell_id"], cells["label"]))
    ps = ps[ps["cell_id"].isin(label)]
    if ps.empty:
        return pd.DataFrame()
    return pd.DataFrame({
        "cell": ps["cell_id"].map(label), "attribute": ps["attribute"], "measure": ps["measure"],
        "SNSR": ps["snsr"].map(fmt), "SNSV": ps["snsv"].map(fmt), "values": ps["n_values"], "scale": ps["scale"],
    }).reset_index(drop=True)


#: simulation metrics drawn as drift charts; every other metric goes into the drift table
DRIFT_CHARTS = ("accuracy", "gap:gender", "gap:activity", "gini_consumption", "gini_exposure", "tail_exposure",
                "coverage", "homogenisation", "new_item_exposure")


def drift_sections(tables: dict[str, pd.DataFrame], cells: pd.DataFrame) -> dict | None:
    """Simulation drift: ``charts`` of :data:`DRIFT_CHARTS` (a line per model × mitigation, mean and CI
    across seeds) and a ``table`` of every other metric (first → last round); ``None`` without rounds."""
    from recfair.simulation.summary import change_table, drift_table

    rounds = tables["rounds"]
    rounds = rounds[rounds["cell_id"].isin(cells["cell_id"])]
    if rounds.empty:
        return None
    by_cell = cells.set_index("cell_id")
    rows = rounds.assign(series=rounds["cell_id"].map(by_cell["label"]), seed=rounds["cell_id"].map(by_cell["seed"]))
    drift = drift_table(rows)
    charts = []
    for metric in [m for m in DRIFT_CHARTS if m in set(drift["metric"])]:
        title = f"Drift over rounds: {metric} (mean over seeds, 95% CI)"
        charts.append({"title": title, "svg": drift_chart(drift[drift["metric"] == metric], title, metric)})
    rest = change_table(rows, [m for m in dict.fromkeys(rows["metric"]) if m not in DRIFT_CHARTS])
    table = pd.DataFrame({
        "series": rest["series"], "metric": rest["metric"], "first round": rest["first"].map(fmt),
        "last round": rest["last"].map(fmt), "change": rest["change"].map(fmt),
        "95% CI": [f"[{fmt(lo)}, {fmt(hi)}]" for lo, hi in zip(rest["ci_low"], rest["ci_high"])], "seeds": rest["n"],
    })
    return {"charts": charts, "table": table}


def _text(value: Any) -> str:
    """Display text of a stored value; missing (None / NaN) becomes empty."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return ""
    return str(value)


def provenance_table(all_cells: pd.DataFrame) -> pd.DataFrame:
    """Every stored cell: id, label parts, seed, data, status, timings, versions."""
    rows = []
    for r in all_cells.itertuples():
        seconds = _params(r.seconds)
        rows.append({
            "cell": r.cell_id, "parent": _text(r.parent_id), "model": _text(r.model), "params": _text(r.params),
            "mitigation": _text(r.mitigation) or "none", "mitigation params": _text(r.mitigation_params),
            "seed": _text(r.seed), "dataset": _text(r.dataset), "fingerprint": _text(r.fingerprint)[:16],
            "split": _text(r.split), "status": r.status, "error": _text(r.error),
            "seconds": ", ".join(f"{k} {fmt(float(v))}" for k, v in seconds.items()) if seconds else "",
            "versions": _text(r.versions), "finished": _text(r.finished),
        })
    return pd.DataFrame(rows)
