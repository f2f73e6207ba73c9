"""The study's probe cells: the counterfactual probe on a trained cell's model, without refitting it.

A probe cell's parent is the unmitigated fit cell of the probed model (same
data, split and seed); the worker receives the parent's saved model as files,
loads it, asks it for each sampled user's list under every value of every
probed attribute (plus the neutral and the true profile), and returns the
store's ``probe`` / ``probe_summary`` rows.  The lists themselves and the
validity table are the cell's artefacts (``probe/``).  Below the config's
``min_valid_rate`` of valid outputs the cell fails instead of storing numbers
(:func:`recfair.runs.probe.check_valid_rate`).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pandas as pd

__all__ = ["PROBE", "PROBE_DIR", "PROBE_COLUMNS", "probe_tables", "run_probe_cell"]

#: ``mitigation`` and ``stage`` of a probe cell.
PROBE = "probe"
#: The cell folder's sub-folder holding the probe's tables (Parquet / CSV / probe.json).
PROBE_DIR = "probe"
#: Columns of the store's ``probe`` table taken from :attr:`ProbeResult.similarity`.
PROBE_COLUMNS = ["attribute", "value", "reference", "measure", "sim"]


def probe_tables(result: Any) -> dict[str, pd.DataFrame]:
    """The store rows of a :class:`~recfair.fairness.counterfactual.ProbeResult`."""
    from recfair.runs.probe import valid_rates

    overall = {"probe_users": float(result.meta["n_units"]), "probe_lists": float(result.meta["n_lists"])}
    rate, _ = valid_rates(result.validity)
    if result.validity is not None:
        overall["probe_valid_output_rate"] = rate
    return {
        "probe": result.similarity[PROBE_COLUMNS].copy(),
        "probe_summary": result.attributes.copy(),
        "overall": pd.DataFrame({"metric": list(overall), "value": list(overall.values())}),
    }


def _load_parent(files: dict[str, bytes], threads: int) -> Any:
    """Load the parent's saved model from its files (written to a temporary folder, not the cell's)."""
    import tempfile

    from recfair.models.base import Recommender
    from recfair.models.config import RuntimeOptions

    with tempfile.TemporaryDirectory(prefix="recfair-parent-") as tmp:
        folder = Path(tmp)
        for name, data in files.items():
            target = folder / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        return Recommender.load(folder, runtime=RuntimeOptions(threads=threads, progress=False))


def run_probe_cell(cell: dict[str, Any], ds: Any, split: Any, parent_model: dict[str, bytes], work: Path,
                   threads: int = 1) -> tuple[dict[str, pd.DataFrame], dict[str, float]]:
    """Probe the parent's model; return the cell's store tables and ``{"probe": seconds}``.

    The probe's full tables are written to ``work/probe/`` (they become the cell's artefacts).
    """
    from recfair.fairness.counterfactual import run_probe
    from recfair.runs.probe import RecordingLister, check_valid_rate, make_lister, probe_attributes, probe_units

    spec = cell["mitigation_spec"]
    t0 = time.perf_counter()
    model = _load_parent(parent_model, threads)
    fields, attrs = probe_attributes(ds, "grounded", ",".join(spec["groups"]))
    units = probe_units(split, "grounded", 0, spec["n_users"], spec["seed"])
    lister, backend = make_lister(spec["backend"], trained=model, backend_obj=None, ds=ds, split=split, k=spec["k"],
                                  decode=spec["decode"], num_beams=spec["num_beams"], mode="grounded", names=None,
                                  fields=fields)
    recorder = RecordingLister(lister)
    result = run_probe(recorder, units, attrs, k=spec["k"], grounded=True, test=split.test)
    result.meta.update({"backend": spec["backend"], "model": cell["model"], "seed": spec["seed"],
                        "model_calls": getattr(backend, "calls", None), "failures": len(recorder.failures),
                        "min_valid_rate": spec["min_valid_rate"]})
    out = work / PROBE_DIR
    result.save(out)
    recorder.save(out)
    first = recorder.failures[0]["error"] if recorder.failures else None
    check_valid_rate(result, spec["min_valid_rate"], out, first)
    return probe_tables(result), {"probe": time.perf_counter() - t0}
