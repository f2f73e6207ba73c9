"""The report's charts, each a function from a tidy table to one SVG string.

* :func:`forest_chart` — who gains, who loses: mean Δ per group with its
  paired CI, and the share of users worse off, printed next to each row;
* :func:`tradeoff_chart` — accuracy against a user-side gap, the Pareto front
  (more accuracy and a smaller gap) and λ curves;
* :func:`group_bars_chart` — per-group means with CI whiskers;
* :func:`lorenz_chart` — item-exposure Lorenz curves;
* :func:`drift_chart` — a metric over simulation rounds.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import pandas as pd

from recfair.report.svg import DASHES, GREY, PALETTE, SHAPES, Chart, fmt

__all__ = ["drift_chart", "forest_chart", "group_bars_chart", "lorenz_chart", "pareto_front", "tradeoff_chart"]

GAIN, LOSS = PALETTE[0], PALETTE[1]
LORENZ_POINTS = 200


def _style(i: int) -> tuple[str, str, str]:
    """Colour, marker shape and dash pattern of series ``i``."""
    return PALETTE[i % len(PALETTE)], SHAPES[i % len(SHAPES)], DASHES[(i // len(SHAPES)) % len(DASHES)]


def _span(values: Sequence[float], pad: float = 0.05, include_zero: bool = False) -> tuple[float, float]:
    v = [float(x) for x in values if x is not None and math.isfinite(float(x))]
    if include_zero:
        v.append(0.0)
    if not v:
        return 0.0, 1.0
    lo, hi = min(v), max(v)
    extra = (hi - lo) * pad or abs(hi) * pad or 1.0
    return lo - extra, hi + extra


def forest_chart(rows: pd.DataFrame, title: str, metric: str) -> str:
    """Mean Δ (B − A) per attribute/group with CI bars; rows of a ``comparisons`` table for one metric."""
    rows = rows.reset_index(drop=True)
    height = 40 + 22 * len(rows) + 48
    chart = Chart(title, _span(list(rows["ci_low"]) + list(rows["ci_high"]) + list(rows["delta"]), include_zero=True),
                  (0.0, float(len(rows))), width=760, height=height, margin=(20, 170, 48, 170))
    chart.axes(f"Δ {metric} (model − baseline), 95% CI", "", y_ticks=[], grid=True)
    chart.segment(0, 0, 0, len(rows), color="#222", width=1.2)
    right = chart.width - chart.margin[1]
    chart.text(right + 8, chart.margin[0] - 6, "worse off · n", size=10, color=GREY)
    for i, r in rows.iterrows():
        yv = len(rows) - i - 0.5
        color = GAIN if r["delta"] >= 0 else LOSS
        label = "all users" if r["attribute"] == "all" else f"{r['attribute']}: {r['group']}"
        chart.text(chart.margin[3] - 8, chart.y(yv) + 4, label, anchor="end")
        chart.segment(r["ci_low"], yv, r["ci_high"], yv, color=color, width=2.0, mark=True)
        shape = "diamond" if r["attribute"] == "all" else ("circle" if r["delta"] >= 0 else "square")
        tip = (f"{label}: Δ={fmt(r['delta'])} [{fmt(r['ci_low'])}, {fmt(r['ci_high'])}], "
               f"p(sign-flip)={fmt(r['p_sign_flip'])}, p(Wilcoxon)={fmt(r['p_wilcoxon'])}")
        chart.marker(r["delta"], yv, color, shape, label=tip)
        share = "—" if pd.isna(r["share_worse"]) else f"{100 * r['share_worse']:.0f}%"
        chart.text(right + 8, chart.y(yv) + 4, f"{share} · {int(r['n'])}")
    chart.legend([("gains (Δ ≥ 0)", GAIN, "circle", "")], x=chart.margin[3] - 150, y=chart.height - 14)
    chart.legend([("loses (Δ < 0)", LOSS, "square", "")], x=chart.margin[3] - 150, y=chart.height - 30)
    return chart.render()


def pareto_front(x: Sequence[float], y: Sequence[float]) -> list[int]:
    """Indices of points not dominated when ``x`` is maximised and ``y`` minimised, by ascending x.

    >>> pareto_front([0.1, 0.2, 0.3, 0.25], [0.01, 0.05, 0.10, 0.20])
    [0, 1, 2]
    """
    pts = [(float(a), float(b), i) for i, (a, b) in enumerate(zip(x, y)) if math.isfinite(a) and math.isfinite(b)]
    front = []
    for a, b, i in pts:
        dominated = any((a2 >= a and b2 <= b) and (a2 > a or b2 < b) for a2, b2, _ in pts)
        if not dominated:
            front.append((a, i))
    return [i for _, i in sorted(front)]


def tradeoff_chart(points: pd.DataFrame, title: str, x_label: str, y_label: str) -> str:
    """Scatter of ``x`` (accuracy) vs ``y`` (gap); columns ``label, model, curve, lambda, x, y``.

    Points of one model share a colour, points of one mitigation a shape; points sharing a ``curve`` (the same
    model and mitigation with different λ) are joined in λ order; the Pareto
    front is a dashed grey line through its points.
    """
    points = points.reset_index(drop=True)
    chart = Chart(title, _span(points["x"]), _span(points["y"], include_zero=True), width=760, height=420,
                  margin=(20, 220, 48, 64))
    chart.axes(x_label, y_label)
    models = list(dict.fromkeys(points["model"]))
    front = pareto_front(points["x"], points["y"])
    if len(front) > 1:
        steps = [(points.loc[i, "x"], points.loc[i, "y"]) for i in front]
        chart.line(steps, GREY, dash="4 3", width=1.5, mark=False, label="Pareto front")
    for curve, grp in points.dropna(subset=["lambda"]).groupby("curve", sort=False):
        if len(grp) > 1:
            color = _style(models.index(grp["model"].iloc[0]))[0]
            ordered = grp.sort_values("lambda")
            chart.line(list(zip(ordered["x"], ordered["y"])), color, width=1.2, label=f"λ curve: {curve}")
    # colour = model, shape = mitigation (the curve without its "model + " prefix)
    kinds = [str(c)[len(str(m)) + 3:] or "none" for c, m in zip(points["curve"], points["model"])]
    mitigations = list(dict.fromkeys(kinds))
    for i, r in points.iterrows():
        color = _style(models.index(r["model"]))[0]
        shape = SHAPES[mitigations.index(kinds[i]) % len(SHAPES)]
        on_front = "  (Pareto)" if i in front else ""
        chart.marker(r["x"], r["y"], color, shape, size=5.5,
                     label=f"{r['label']}: {x_label}={fmt(r['x'])}, {y_label}={fmt(r['y'])}{on_front}")
    legend = [(m, _style(k)[0], "circle", "") for k, m in enumerate(models)][:10]
    legend += [(f"mitigation: {c}", GREY, SHAPES[k % len(SHAPES)], "") for k, c in enumerate(mitigations)][:10]
    legend.append(("Pareto front", GREY, "", "4 3"))
    chart.legend(legend, x=chart.width - chart.margin[1] + 12)
    return chart.render()


def group_bars_chart(table: pd.DataFrame, title: str, metric: str) -> str:
    """Grouped bars: x = group, one bar per series; columns ``series, group, value, ci_low, ci_high, n``."""
    groups = list(dict.fromkeys(table["group"]))
    series = list(dict.fromkeys(table["series"]))
    width = max(520, 90 + len(groups) * max(60, 18 * len(series)))
    _, hi = _span(list(table["ci_low"]) + list(table["ci_high"]) + list(table["value"]), include_zero=True)
    crowded = len(groups) > 8  # long group names would overlap: slant them
    chart = Chart(title, (0.0, float(len(groups))), (min(0.0, float(table["ci_low"].min(skipna=True) or 0.0)), hi),
                  width=min(width, 1100), height=400 if crowded else 340, margin=(20, 260, 110 if crowded else 64, 64))
    chart.axes("", metric, x_ticks=[], grid=True)
    slot = 0.8 / max(len(series), 1)
    for gi, group in enumerate(groups):
        if crowded:
            chart.text(chart.x(gi + 0.5), chart.height - chart.margin[2] + 14, str(group), anchor="end", rotate=-40)
        else:
            chart.text(chart.x(gi + 0.5), chart.height - chart.margin[2] + 16, str(group), anchor="middle")
        for si, name in enumerate(series):
            row = table[(table["group"] == group) & (table["series"] == name)]
            if row.empty:
                continue
            r = row.iloc[0]
            x0 = gi + 0.1 + si * slot
            color = _style(si)[0]
            chart.bar(x0, x0 + slot * 0.9, 0.0, r["value"], color,
                      label=f"{name}, {group}: {fmt(r['value'])} [{fmt(r['ci_low'])}, {fmt(r['ci_high'])}], n={r['n']}")
            mid = x0 + slot * 0.45
            chart.segment(mid, r["ci_low"], mid, r["ci_high"], color="#222", width=1.2)
    chart.legend([(s, _style(i)[0], "square", "") for i, s in enumerate(series)],
                 x=chart.width - chart.margin[1] + 12)
    return chart.render()


def lorenz_points(exposure: np.ndarray, n_points: int = LORENZ_POINTS) -> list[tuple[float, float]]:
    """``(share of items, share of exposure)`` along the Lorenz curve, items from least exposed."""
    e = np.sort(np.asarray(exposure, dtype=np.float64))
    if e.size == 0 or e.sum() <= 0:
        return [(0.0, 0.0), (1.0, 1.0)]
    cum = np.concatenate([[0.0], np.cumsum(e) / e.sum()])
    pos = np.unique(np.linspace(0, e.size, min(n_points, e.size) + 1).round().astype(int))
    return [(p / e.size, float(cum[p])) for p in pos]


def lorenz_chart(curves: dict[str, np.ndarray], title: str) -> str:
    """Lorenz curves of item exposure, one per label, with the equality diagonal and Gini in the legend."""
    chart = Chart(title, (0.0, 1.0), (0.0, 1.0), width=560, height=420, margin=(20, 20, 48, 64))
    chart.axes("share of items (least exposed first)", "share of exposure",
               x_ticks=[0, 0.2, 0.4, 0.6, 0.8, 1.0], y_ticks=[0, 0.2, 0.4, 0.6, 0.8, 1.0])
    chart.segment(0, 0, 1, 1, color=GREY, dash="4 3")
    legend = []
    for i, (label, exposure) in enumerate(curves.items()):
        color, shape, dash = _style(i)
        pts = lorenz_points(exposure)
        area = sum((x1 - x0) * (y0 + y1) / 2 for (x0, y0), (x1, y1) in zip(pts, pts[1:]))
        chart.line(pts, color, dash=dash, label=label)
        legend.append((f"{label} (Gini {fmt(1 - 2 * area, 2)})", color, shape, dash))
    chart.legend(legend[:12], x=chart.margin[3] + 12)
    return chart.render()


def drift_chart(table: pd.DataFrame, title: str, metric: str) -> str:
    """A metric over simulation rounds: a line per series (mean over seeds) in its CI band.

    Columns ``series, round, mean, ci_low, ci_high`` (:func:`recfair.simulation.summary.drift_table`;
    no band where the interval is missing, e.g. one seed).
    """
    values = pd.concat([table["mean"], table["ci_low"], table["ci_high"]])
    chart = Chart(title, _span(table["round"], pad=0.02), _span(values), width=640, height=320,
                  margin=(20, 200, 48, 64))
    chart.axes("round", metric)
    legend = []
    for i, (name, grp) in enumerate(table.groupby("series", sort=False)):
        color, shape, dash = _style(i)
        grp = grp.sort_values("round")
        ci = grp.dropna(subset=["ci_low", "ci_high"])
        chart.band(list(zip(ci["round"], ci["ci_low"])), list(zip(ci["round"], ci["ci_high"])), color,
                   label=f"{name}: 95% CI across seeds")
        chart.line(list(zip(grp["round"], grp["mean"])), color, dash=dash, label=str(name))
        for a, b, lo, hi in zip(grp["round"], grp["mean"], grp["ci_low"], grp["ci_high"]):
            chart.marker(a, b, color, shape, size=3.5, label=f"{name}, round {a}: {fmt(b)} [{fmt(lo)}, {fmt(hi)}]")
        legend.append((str(name), color, shape, dash))
    chart.legend(legend, x=chart.width - chart.margin[1] + 12)
    return chart.render()
