"""Benchmark a whole study (issue 12: the default study in ≤ 20 minutes on a 2-core machine).

Runs ``recfair study run`` on a preset or a config file (the default preset
unless told otherwise), renders the report, and prints — read back from the
store, so a resumed or earlier run can be measured too:

* wall time of this run, cells run / skipped / failed, and the machine load;
* per cell type (model / mitigation stage) the mean and max seconds of each
  phase: fit, recommend, rerank, probe, evaluate, audit, compare, total;
* the report's file size.

Wall time on a shared machine depends on the load (printed before and after).

Usage::

    .venv/bin/python bench/bench_study.py                       # the default preset
    .venv/bin/python bench/bench_study.py --preset quick --out /tmp/q
    .venv/bin/python bench/bench_study.py path/to/study.toml --workers 2
    .venv/bin/python bench/bench_study.py --read-only --out runs/study-default   # timings of a stored run
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import pandas as pd


def _load() -> str:
    """The 1/5/15-minute load averages."""
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


def _config(args: argparse.Namespace):
    from recfair.study.config import load_study_config, preset_path

    return load_study_config(args.config or preset_path(args.preset))


def _timings(root: Path) -> pd.DataFrame:
    """Per cell type: cells, then ``phase mean/max`` columns."""
    from recfair.study.queries import cell_times

    mean, most = cell_times(root, "mean"), cell_times(root, "max")
    if mean.empty:
        return mean
    out = mean[["cell type", "cells"]].copy()
    for phase in [c for c in mean.columns if c not in ("cell type", "cells")]:
        out[phase] = [f"{a:.1f}/{b:.1f}" if pd.notna(a) else "" for a, b in zip(mean[phase], most[phase])]
    return out


def _markdown(root: Path, timings: pd.DataFrame, summary: str) -> str:
    """The report's headline and probe tables plus the timings, as Markdown (for the closing note)."""
    from recfair.report.render import report_context
    from recfair.study.store import Store

    with Store(root, read_only=True) as store:
        ctx = report_context(store)
    parts = [f"# Default study — headline ({ctx['title']})", "", summary, "",
             f"{ctx['n_done']} done / {ctx['n_failed']} failed cells; lead metric {ctx['metric']}. "
             "Values are means over seeds; a gap's [95% CI] and permutation p come from the lowest seed; "
             "gap = highest − lowest group mean.", "", ctx["headline"].to_markdown(index=False)]
    if ctx["probe"] is not None and len(ctx["probe"]):
        parts += ["", "## Counterfactual sensitivity (builtin probe)", "", ctx["probe"].to_markdown(index=False)]
    if not timings.empty:
        parts += ["", "## Seconds per cell type (mean/max over cells; cpu = process CPU seconds)", "",
                  timings.to_markdown(index=False)]
    return "\n".join(parts) + "\n"


def main() -> int:
    """Run (or read) the study, print timings and the report size; return the exit code."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("config", nargs="?", default=None, help="a study TOML file (default: --preset)")
    ap.add_argument("--preset", default="default", help="default | quick (when no config file is given)")
    ap.add_argument("--out", default=None, help="study folder (default: the config's out)")
    ap.add_argument("--workers", type=int, default=1, help="cells run at once")
    ap.add_argument("--threads", type=int, default=None, help="torch threads per cell")
    ap.add_argument("--read-only", action="store_true", help="do not run: report the stored run's timings")
    ap.add_argument("--json", default=None, help="also write the numbers to this JSON file")
    ap.add_argument("--markdown", default=None, help="also write the headline, probe and timing tables here")
    args = ap.parse_args()

    from recfair.report import render_report
    from recfair.study.runner import run_study

    config = _config(args)
    root = Path(args.out or config.out)
    load_before = _load()
    t0 = time.perf_counter()
    ran = {}
    if not args.read_only:
        result = run_study(config, root, workers=args.workers, threads=args.threads, progress=False)
        ran = {"planned": result.planned, "ran": result.ran, "skipped": result.skipped, "failed": result.failed}
    wall = time.perf_counter() - t0
    t1 = time.perf_counter()
    report = render_report(root, root / "report.html")
    report_s = time.perf_counter() - t1
    size = report.stat().st_size
    timings = _timings(root)
    lines = [f"study: {config.name}  ({root})",
             f"load before: {load_before}   after: {_load()}   cores: {os.cpu_count()}"]
    if ran:
        lines.append(f"wall: {wall:.1f} s ({wall / 60:.1f} min)  workers={args.workers}  "
                     + "  ".join(f"{k}={v}" for k, v in ran.items()))
    lines.append(f"report: {report} — {size / 1024:.0f} KiB, rendered in {report_s:.1f} s")
    print("\n".join(lines))
    print("\nseconds per cell type (mean/max over cells):")
    print(timings.to_string(index=False) if not timings.empty else "(no done cells)")
    if args.markdown:
        Path(args.markdown).write_text(_markdown(root, timings, "  \n".join(lines)), encoding="utf-8")
    if args.json:
        Path(args.json).write_text(json.dumps({
            "study": config.name, "wall_seconds": round(wall, 1), "workers": args.workers, **ran,
            "load_before": load_before, "load_after": _load(), "report_bytes": size,
            "cell_types": timings.to_dict("records")}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
