"""recfair's BPR-MF next to implicit, LensKit and cornac BPR: one run, alternating repetitions.

For every size and repetition the libraries run in turn (recfair, implicit, lenskit,
cornac, recfair, …), each in a fresh subprocess (``worker.py``: protocol there), on the
same split.  Per (library, epoch count) the minimum training time over repetitions is
kept; quality is deterministic per seed (a difference between repetitions is flagged).
Writes a Markdown report (default ``bench/peers/results.md``) and the raw JSON beside it.

Run (from the repository root, after ``bash bench/peers/setup.sh``):

    bench/peers/.venv/bin/python bench/peers/run.py --sizes ml-100k,ml-1m-size --repeats 2
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from libs import DEFAULT_EPOCHS, LIBRARIES, versions  # noqa: E402

GRIDS = {
    "ml-100k": [1, 2, 3, 5, 8, 12, 20, 30, 40, 60, 80, 100],
    "ml-1m-size": [1, 2, 3, 5, 10, 20, 40, 100],
    "ml-10m-size": [1, 2, 5, 10, 20, 100],
}
TOL = 0.001  # "reaches quality q" = first curve point with nDCG@10 >= q - TOL (numbers are quoted to 3 places)
PEERS = [lib for lib in LIBRARIES if lib != "recfair"]


def grid_for(lib: str, size: str) -> list[int]:
    """The size's grid up to the library's default epoch count, which is always the last point."""
    top = DEFAULT_EPOCHS[lib]
    return [e for e in GRIDS[size] if e < top] + [top]


def run_worker(lib: str, size: str, args) -> dict:
    """One ``worker.py`` subprocess; its JSON result (or ``{"error": ...}``)."""
    cmd = [sys.executable, str(HERE / "worker.py"), lib, size, "--grid", ",".join(map(str, grid_for(lib, size))),
           "--budget", str(args.budget), "--threads", str(args.threads), "--seed", str(args.seed)]
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), OPENBLAS_NUM_THREADS=str(args.threads),
               MKL_NUM_THREADS=str(args.threads), PYTHONWARNINGS="ignore")
    print(f"[{dt.datetime.now():%H:%M:%S}] {size} {lib}", flush=True)
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=args.timeout)
    if proc.returncode != 0:
        return {"lib": lib, "size": size, "error": proc.stderr.strip().splitlines()[-1:]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def merge(runs: list[dict]) -> dict:
    """Repetitions of one (library, size): minimum times, max peak memory, quality from the first run."""
    ok = [r for r in runs if "error" not in r]
    if not ok:
        return {"error": runs[0]["error"]}
    out = dict(ok[0])
    by_e: dict[int, list[dict]] = {}
    for r in ok:
        for p in r["points"]:
            by_e.setdefault(p["epochs"], []).append(p)
    out["points"] = [dict(ps[0], seconds=min(p["seconds"] for p in ps),
                          deterministic=len({round(p["ndcg"], 6) for p in ps}) == 1) for e, ps in sorted(by_e.items())]
    for key in ("top10_s", "first_fit_s", "load_s"):
        out[key] = min(r[key] for r in ok)
    for key in ("peak_mb", "baseline_mb"):
        out[key] = max(r[key] for r in ok)
    out["repeats"] = len(ok)
    return out


def reach(points: list[dict], q: float) -> dict | None:
    """First curve point with nDCG@10 >= q - TOL, or None."""
    return next((p for p in points if p["ndcg"] >= q - TOL), None)


def summarise(res: dict) -> dict:
    """Per library: final point, best point, time to its own final quality, recfair's time to it."""
    out = {}
    for lib, r in res.items():
        if "error" in r:
            continue
        final = r["points"][-1]
        best = max(r["points"], key=lambda p: p["ndcg"])
        out[lib] = {"final": final, "best": best, "own": reach(r["points"], final["ndcg"]),
                    "own_best": reach(r["points"], best["ndcg"]), "complete": final["epochs"] == DEFAULT_EPOCHS[lib]}
    if "recfair" in out:
        for lib, s in out.items():
            s["recfair_to_it"] = reach(res["recfair"]["points"], s["final"]["ndcg"])
            s["recfair_to_best"] = reach(res["recfair"]["points"], s["best"]["ndcg"])
    return out


def fmt_point(p: dict | None) -> str:
    """``"3 ep, 0.44 s"`` or ``"not reached"``."""
    return "not reached" if p is None else f"{p['epochs']} ep, {p['seconds']:.2f} s"


def result_table(res: dict, summ: dict) -> list[str]:
    """The per-library table plus the ratio row recfair / best peer."""
    head = ("| library | final nDCG@10 (epochs) | Recall@10 | fit at final epochs | best nDCG@10, first reached "
            "| recfair to that nDCG@10 | ratio | top-10 all users | first fit (imports, JIT) | peak RSS | above data |")
    lines = [head, "|" + "---|" * 11]
    for lib in [lib for lib in LIBRARIES if lib in res]:
        if lib not in summ:
            lines.append(f"| {lib} | failed: {res[lib].get('error')} |" + " |" * 9)
            continue
        s, r = summ[lib], res[lib]
        f, own, rf = s["final"], s["own_best"], s.get("recfair_to_best")
        ratio = f"{rf['seconds'] / own['seconds']:.2f}×" if rf and own and lib != "recfair" else "—"
        cut = "" if s["complete"] else " (budget cut)"
        lines.append(
            f"| {lib} | .{round(f['ndcg'] * 1e4):04d} ({f['epochs']}{cut}) | .{round(f['recall'] * 1e4):04d} "
            f"| {f['seconds']:.2f} s | .{round(s['best']['ndcg'] * 1e4):04d}: {fmt_point(own)} | {fmt_point(rf) if lib != 'recfair' else '—'} | {ratio} "
            f"| {r['top10_s']:.3f} s | {r['first_fit_s']:.2f} s | {r['peak_mb']:.0f} MB "
            f"| {r['peak_mb'] - r['baseline_mb']:.0f} MB |")
    lines.append(ratio_row(res, summ))
    return lines


def ratio_row(res: dict, summ: dict) -> str:
    """recfair / best peer for quality (max), fit, top-10, first fit and memory (min)."""
    peers = [p for p in PEERS if p in summ]
    if "recfair" not in summ or not peers:
        return ""

    def ratio(val, pick=min):
        best = pick(val(p) for p in peers)
        return f"{val('recfair') / best:.2f}×" if best else "—"

    nd = ratio(lambda p: summ[p]["final"]["ndcg"], max)
    fit = ratio(lambda p: summ[p]["final"]["seconds"])
    top = ratio(lambda p: res[p]["top10_s"])
    first = ratio(lambda p: res[p]["first_fit_s"])
    peak = ratio(lambda p: res[p]["peak_mb"])
    above = ratio(lambda p: res[p]["peak_mb"] - res[p]["baseline_mb"])
    return f"| **recfair / best peer** | {nd} | | {fit} | | | | {top} | {first} | {peak} | {above} |"


def goals(res: dict, summ: dict) -> list[str]:
    """The issue's goals for this size: value, met or missed."""
    lines = ["| goal | measured | met? |", "|---|---|---|"]
    imp, rf = summ.get("implicit"), summ.get("recfair")
    if imp and rf:
        for which, own_key, rf_key in (("final", "own", "recfair_to_it"), ("best", "own_best", "recfair_to_best")):
            lines.append(time_goal(which, imp[which]["ndcg"], imp[own_key], imp[rf_key]))
    peers = [p for p in PEERS if p in summ]
    if rf and peers:
        fastest = min(peers, key=lambda p: res[p]["top10_s"])
        t, tp = res["recfair"]["top10_s"], res[fastest]["top10_s"]
        lines.append(f"| recfair's top-10 for all users faster than every peer's | {t:.3f} s vs {fastest} {tp:.3f} s "
                     f"| {'yes' if t < tp else '**missed**'} |")
        lean = min(peers, key=lambda p: res[p]["peak_mb"])
        m, mp = res["recfair"]["peak_mb"], res[lean]["peak_mb"]
        lines.append(f"| peak memory ≤ 1.5× the leanest peer | {m:.0f} MB vs {lean} {mp:.0f} MB = {m / mp:.2f}× "
                     f"| {'yes' if m <= 1.5 * mp else '**missed**'} |")
    return lines


def time_goal(which: str, q: float, own: dict | None, rf: dict | None) -> str:
    """One goal row: recfair reaches implicit's ``which`` nDCG@10 ``q`` in ≤ 0.5× implicit's time."""
    goal = f"| recfair reaches implicit's {which} nDCG@10 (.{round(q * 1e4):04d}) in ≤ 0.5× implicit's time"
    if rf is None or own is None:
        return goal + " | recfair never reached it | **missed** |"
    r = rf["seconds"] / own["seconds"]
    return goal + f" | {fmt_point(rf)} vs {fmt_point(own)} = {r:.2f}× | {'yes' if r <= 0.5 else '**missed**'} |"


def curve_table(res: dict) -> list[str]:
    """Epochs → (training seconds, nDCG@10) for every library, side by side."""
    libs = [lib for lib in LIBRARIES if lib in res and "error" not in res[lib]]
    epochs = sorted({p["epochs"] for lib in libs for p in res[lib]["points"]})
    lines = ["| epochs | " + " | ".join(f"{lib}: s → nDCG@10" for lib in libs) + " |", "|---|" + "---|" * len(libs)]
    for e in epochs:
        cells = []
        for lib in libs:
            p = next((p for p in res[lib]["points"] if p["epochs"] == e), None)
            flag = "" if p is None or p.get("deterministic", True) else " (varies)"
            cells.append("" if p is None else f"{p['seconds']:.2f} s → .{round(p['ndcg'] * 1e4):04d}{flag}")
        lines.append(f"| {e} | " + " | ".join(cells) + " |")
    return lines


def size_section(size: str, res: dict) -> list[str]:
    """All tables for one size."""
    summ = summarise(res)
    any_r = next((r for r in res.values() if "error" not in r), {})
    lines = [f"## {size}: {any_r.get('n_users')} users × {any_r.get('n_items')} items, "
             f"{any_r.get('n_train')} training interactions", ""]
    lines += result_table(res, summ) + [""] + goals(res, summ) + ["", "Time-to-quality curves (each point trained "
                                                                     "from scratch; minimum time over repetitions):", ""]
    lines += curve_table(res) + [""]
    agree = {lib: r.get("fast_lists_agree") for lib, r in res.items() if r.get("fast_lists_agree", 1.0) != 1.0}
    if agree:
        lines += [f"Batched lists differ from the library's own call: {agree}", ""]
    return lines


def run_meta() -> dict:
    """When, where and how this run was made (saved with the raw results)."""
    load = os.getloadavg()
    return {"date": f"{dt.datetime.now():%Y-%m-%d %H:%M}", "load": f"{load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}",
            "command": f"bench/peers/.venv/bin/python bench/peers/run.py {' '.join(sys.argv[1:])}",
            "machine": f"{platform.machine()}, {os.cpu_count()} cores", "python": platform.python_version()}


def header(args, vers: dict, meta: dict) -> list[str]:
    """Date, machine, load, versions, the exact command."""
    return [
        "# recfair vs peer libraries: BPR, one run", "",
        f"- date: {meta['date']}; machine: {meta['machine']} (shared; load average at the end {meta['load']}), "
        f"Python {meta['python']}",
        "- versions: " + ", ".join(f"{k} {v}" for k, v in vers.items()),
        f"- command: `{meta['command']}`",
        f"- repetitions per size {args.repeats}, alternating libraries; {args.threads} thread(s) for every library; 64 "
        f"factors, seed {args.seed}, each library's defaults otherwise; final = each library's default epoch count "
        f"({', '.join(f'{k} {v}' for k, v in DEFAULT_EPOCHS.items())}); curve cut once a library's training "
        f"time passes {args.budget:.0f} s; 'reaches q' = first point with nDCG@10 ≥ q − {TOL}.", "",
    ]


def main() -> None:
    """Run every size × repetition × library, write the report and the JSON."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="ml-100k", help="comma-separated: ml-100k, ml-1m-size, ml-10m-size")
    ap.add_argument("--libs", default=",".join(LIBRARIES))
    ap.add_argument("--repeats", default="2", help="repetitions, one number or one per size (e.g. 2,1)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--budget", type=float, default=150.0, help="training seconds per library's curve")
    ap.add_argument("--timeout", type=float, default=1800.0, help="seconds per worker process")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=HERE / "results.md")
    ap.add_argument("--from-json", type=Path, help="re-render the report from a saved results.json (runs nothing)")
    args = ap.parse_args()
    libs, sizes = args.libs.split(","), args.sizes.split(",")
    reps = [int(r) for r in args.repeats.split(",")]
    args.repeats = dict(zip(sizes, reps + reps[-1:] * len(sizes)))
    saved = json.loads(args.from_json.read_text()) if args.from_json else {"runs": {}}
    raw: dict[str, dict[str, list[dict]]] = saved["runs"]
    for size in [] if args.from_json else sizes:
        for _ in range(args.repeats[size]):
            for lib in libs:
                raw.setdefault(size, {}).setdefault(lib, []).append(run_worker(lib, size, args))
    merged = {size: {lib: merge(runs) for lib, runs in per.items()} for size, per in raw.items()}
    meta = saved.get("meta") or run_meta()
    lines = header(args, versions(), meta)
    for size, res in merged.items():
        lines += size_section(size, res)
    args.out.write_text("\n".join(lines))
    args.out.with_suffix(".json").write_text(json.dumps({"meta": meta, "runs": raw}, indent=1))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
