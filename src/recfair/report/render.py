"""``render_report``: one self-contained HTML file from a study store.

The page holds inline CSS and inline SVG only — no script, no font or style
sheet from elsewhere — so it opens offline, cannot fail in a browser console,
and prints (sections avoid page breaks inside a chart).  It reads the store
read-only and never touches models or data sets.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from recfair.errors import require
from recfair.report.sections import (
    cell_frame,
    drift_sections,
    gains_sections,
    group_bar_sections,
    headline_table,
    lorenz_section,
    primary_metric,
    probe_table,
    provenance_table,
    strata_table,
    tradeoff_section,
)
from recfair.study.schema import SCHEMA
from recfair.study.store import Store

__all__ = ["render_report", "report_context"]

TEMPLATE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ title }}</title>
<style>
body { font-family: Helvetica, Arial, sans-serif; color: #222; margin: 24px auto; max-width: 1120px; padding: 0 16px; }
h1 { font-size: 24px; margin-bottom: 4px; } h2 { font-size: 19px; margin-top: 32px; border-bottom: 1px solid #ccc; }
h3 { font-size: 15px; margin: 18px 0 6px; } p.note, .meta { color: #555; font-size: 13px; }
table { border-collapse: collapse; font-size: 12.5px; margin: 8px 0; }
th, td { border: 1px solid #ccc; padding: 3px 7px; text-align: left; vertical-align: top; }
th { background: #f0f0f0; } tr:nth-child(even) td { background: #fafafa; }
figure { margin: 10px 0 22px; break-inside: avoid; page-break-inside: avoid; }
figure svg { max-width: 100%; height: auto; } figcaption { font-size: 13px; color: #444; }
pre { background: #f6f6f6; padding: 8px; font-size: 11.5px; overflow-x: auto; white-space: pre-wrap; }
@media print { body { margin: 0; max-width: none; } h2 { break-after: avoid; } a { color: inherit; } }
</style></head>
<body>
<h1>{{ title }}</h1>
<p class="meta">{{ n_done }} done, {{ n_failed }} failed cell(s) · lead metric {{ metric or "—" }} · store {{ store }}</p>
{% macro table(frame) -%}
<table><thead><tr>{% for c in frame.columns %}<th>{{ c }}</th>{% endfor %}</tr></thead><tbody>
{% for row in frame.itertuples(index=False) %}<tr>{% for v in row %}<td>{{ v }}</td>{% endfor %}</tr>{% endfor %}
</tbody></table>
{%- endmacro %}
{% macro figure(item) -%}
<figure class="plot"><figcaption>{{ item.title }}</figcaption>{{ item.svg | safe }}
{% for n in item.get("notes", []) %}<p class="note">{{ n }}</p>{% endfor %}</figure>
{%- endmacro %}
<h2 id="headline">Headline</h2>
{% if headline is not none and headline|length %}{{ table(headline) }}
<p class="note">Values are means over seeds; a gap's [95% CI] and permutation p come from the lowest seed.
Gap = highest − lowest group mean of {{ metric }}.</p>{% else %}<p>No done cells yet.</p>{% endif %}
<h2 id="gains">Who gains, who loses</h2>
{% for item in gains %}{{ figure(item) }}{% else %}<p>No comparison stored.</p>{% endfor %}
<p class="note">Δ = model − baseline per user; dots are group means with paired bootstrap 95% CIs;
right: share of users worse off · users.</p>
{% if strata is not none and strata|length %}<h3>Gaps within activity strata</h3>{{ table(strata) }}
<p class="note">Adjusted = gap inside each activity stratum, weighted by stratum size: what activity alone does not explain.</p>{% endif %}
<h2 id="tradeoff">Accuracy and fairness</h2>
{% if tradeoff %}{{ figure(tradeoff) }}{% else %}<p>No gaps stored.</p>{% endif %}
<h2 id="groups">Per-group accuracy</h2>
{% for item in bars %}{{ figure(item) }}{% else %}<p>No group metrics stored.</p>{% endfor %}
<h2 id="exposure">Item exposure</h2>
{% if lorenz %}{{ figure(lorenz) }}{% else %}<p>No item exposure stored.</p>{% endif %}
{% if probe is not none and probe|length %}<h2 id="probe">Counterfactual sensitivity (probe)</h2>{{ table(probe) }}{% endif %}
{% if drift %}<h2 id="drift">Drift over simulation rounds</h2>{% for item in drift.charts %}{{ figure(item) }}{% endfor %}
{% if drift.table|length %}<h3>Other drift metrics: first → last round</h3>{{ table(drift.table) }}
<p class="note">Means over seeds; the CI (95%, Student t across seeds) is of the per-seed change last − first.</p>{% endif %}{% endif %}
<h2 id="provenance">Provenance</h2>
{{ table(provenance) }}
{% if config %}<h3>Study configuration</h3><pre>{{ config }}</pre>{% endif %}
</body></html>
"""


def report_context(store: Store) -> dict:
    """Everything the template shows, computed from the store's tables."""
    tables = {name: store.table(name) for name in SCHEMA if name != "meta"}
    all_cells = store.cells()
    every = cell_frame(all_cells)
    cells = every[every["cell_id"].isin(tables["user_metrics"]["cell_id"])]  # probe / simulation cells list no items
    metric = primary_metric(tables)
    meta = store.meta()
    config = meta.get("config")
    return {
        "title": str(meta.get("title") or f"recfair study report — {store.root.name}"),
        "store": str(store.path),
        "n_done": int((all_cells["status"] == "done").sum()),
        "n_failed": int((all_cells["status"] == "failed").sum()),
        "metric": metric,
        "headline": headline_table(tables, cells, metric),
        "gains": gains_sections(tables, cells, metric),
        "strata": strata_table(tables, cells, metric),
        "tradeoff": tradeoff_section(tables, cells, metric),
        "bars": group_bar_sections(tables, cells, metric),
        "lorenz": lorenz_section(tables, cells),
        "probe": probe_table(tables, every),
        "drift": drift_sections(tables, every),
        "provenance": provenance_table(all_cells),
        "config": json.dumps(config, indent=2, sort_keys=True) if isinstance(config, (dict, list)) else config,
    }


def render_report(store_path: str | Path, out_html: str | Path) -> Path:
    """Write the study's HTML report to ``out_html`` (atomically) and return its path.

    Parameters
    ----------
    store_path : path
        The study folder (holding ``study.duckdb``) or the ``.duckdb`` file itself.
    out_html : path
        Where to write the report.

    Examples
    --------
    >>> render_report("runs/study", "runs/study/report.html")  # doctest: +SKIP
    PosixPath('runs/study/report.html')
    """
    jinja2 = require("jinja2", extra="report", feature="The HTML report")
    root = Path(store_path)
    if root.suffix == ".duckdb":
        root = root.parent
    with Store(root, read_only=True) as store:
        context = report_context(store)
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    html = env.from_string(TEMPLATE).render(**context)
    out = Path(out_html)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text(html, encoding="utf-8")
    os.replace(tmp, out)
    return out
