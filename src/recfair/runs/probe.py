"""The counterfactual probe as ``recfair probe`` runs it: targets, listers, and the valid-output gate.

A probe against a remote or generative backend is only as good as the lists it
got back.  Every failed call is recorded in the validity table (a failed prompt
counts as a list with no valid output); :func:`valid_rates` gives the
valid-output rate overall and per attribute, and :func:`check_valid_rate`
refuses to report fairness numbers when that rate is below the threshold —
SNSR computed from lists that were never produced would look perfectly fair.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from recfair.errors import RecfairError

if TYPE_CHECKING:  # imported lazily at run time
    from recfair.fairness.probe_targets import ProfileScoreLister, PromptLister
    from recfair.models.base import Recommender
    from recfair.models.generative.backends import ReportingBackend

#: Default minimum share of prompts with valid output (``--min-valid-rate``).
MIN_VALID_RATE = 0.9
LOW_VALID = (
    "only {rate:.1%} of the probe's model outputs were valid ({failed} of {prompts} calls failed; first error: "
    "{error}); below --min-valid-rate {min:.0%}, so no fairness number is reported. Failures are recorded in {out}"
)
NOT_GENERATIVE = "--backend builtin needs a run of the 'generative' model; {run} holds {kind} (use --backend run)."
UNKNOWN_FAIRLLM = "Unknown FaiRLLM attribute '{value}'. Choose one of: {choices}."


def probe_attributes(ds, mode: str, groups: str | None) -> tuple[list[str], dict[str, list[str]]]:
    """Attribute names and the values probed for each (FaiRLLM's lists or the data set's values)."""
    from recfair.fairness.counterfactual import FAIRLLM_ATTRIBUTES
    from recfair.fairness.probe_targets import dataset_attribute_values
    from recfair.runs.checks import split_names

    if mode == "fairllm":
        names = split_names(groups or ",".join(FAIRLLM_ATTRIBUTES))
        bad = [a for a in names if a not in FAIRLLM_ATTRIBUTES]
        if bad:
            raise RecfairError(UNKNOWN_FAIRLLM.format(value=bad[0], choices=", ".join(FAIRLLM_ATTRIBUTES)))
        return names, {a: list(FAIRLLM_ATTRIBUTES[a]) for a in names}
    names = split_names(groups or "gender,age,occupation")
    return names, dataset_attribute_values(ds, names)


def probe_units(split, mode: str, n_names: int, users: int | None, seed: int) -> np.ndarray:
    """FaiRLLM name indices, or test users with training history (a seeded sample of ``users``)."""
    if mode == "fairllm":
        return np.arange(n_names)
    units = np.flatnonzero((split.test.user_counts > 0) & (split.train.user_counts > 0))
    if users is not None and users < len(units):
        units = np.sort(np.random.default_rng(seed).choice(units, size=users, replace=False))
    return units


def train_builtin(ds, split, params: dict[str, Any], *, seed: int, dataset: str, protocol: str, test_size: float,
                  out: Path, force: bool = True) -> tuple[Recommender, float]:
    """Train the built-in generative model and write it as a run folder ``out`` (reusable with ``--run``)."""
    from recfair.models.registry import create_model
    from recfair.runs import RunConfig, write_run

    model = create_model("generative", **{"seed": seed, **params})
    t0 = time.perf_counter()
    model.fit(split.train)
    secs = time.perf_counter() - t0
    test_users = np.flatnonzero(split.test.user_counts > 0)
    cfg = RunConfig("generative", model.get_params(), dataset, protocol, test_size, 0.0, seed, 100,
                    {"fit_seconds": round(secs, 3)})
    write_run(out, cfg, model, model.recommend(test_users, k=100), dataset=ds, force=force)
    return model, secs


def remote_backend(kind: str, ds, *, model: str, base_url: str | None, api_key_env: str | None, endpoint: str,
                   cache: Path | None, seed: int, num_beams: int, timeout: float | None = None,
                   max_retries: int = 3) -> ReportingBackend:
    """The ``hf`` or ``openai`` backend over the data set's titles."""
    titles = ds.items["title"].astype(str).tolist() if "title" in ds.items.columns else [str(i) for i in ds.item_ids]
    years = ds.items["year"].tolist() if "year" in ds.items.columns else None
    if kind == "hf":
        from recfair.models.generative.hf import HFBackend

        return HFBackend(model, titles, years, num_beams=num_beams)
    from recfair.models.generative.openai import OpenAIBackend

    extra = {"max_retries": max_retries, "backoff": 0.5 if max_retries else 0.0}
    if timeout is not None:
        extra["timeout"] = timeout
    return OpenAIBackend(base_url, model, titles, years, api_key_env=api_key_env, endpoint=endpoint,
                         cache_dir=cache, seed=seed, **extra)


def make_lister(backend: str, *, trained, backend_obj, ds, split, k: int, decode: str, num_beams: int, mode: str,
                names: Sequence[str] | None, fields: Sequence[str],
                ) -> tuple[ProfileScoreLister | PromptLister, ReportingBackend | None]:
    """The lister the probe calls; returns ``(lister, backend_obj)`` (the backend built here for builtin)."""
    from recfair.fairness import probe_targets as T

    if backend == "builtin":
        if decode == "rank":
            return T.ProfileScoreLister(trained, k), None
        from recfair.models.generative.backends import BuiltinBackend

        backend_obj = BuiltinBackend(trained, num_beams=num_beams)
        return T.PromptLister(backend_obj, k, T.model_prompts(trained), T.seen_items(trained.seen_)), backend_obj
    if backend == "run":
        return T.ProfileScoreLister(trained, k, dataset=ds, train=split.train), None
    if mode == "fairllm":
        return T.PromptLister(backend_obj, k, T.fairllm_prompts(list(names or ()), k), None), backend_obj
    prompts = T.grounded_prompts(ds, split.train, k, user_fields=list(fields))
    return T.PromptLister(backend_obj, k, prompts, T.seen_items(split.train.matrix)), backend_obj


def valid_rates(validity) -> tuple[float, dict[str, float]]:
    """Valid-output rate over every prompt, and per attribute (its values' prompts plus the shared neutral ones)."""
    if validity is None or not len(validity):
        return float("nan"), {}
    w = validity["n_prompts"].to_numpy(np.float64)
    r = validity["valid_output_rate"].to_numpy(np.float64)
    overall = float((w * r).sum() / w.sum()) if w.sum() else float("nan")
    shared = validity["attribute"] == "(all)"
    by_attr = {}
    for attr in dict.fromkeys(validity.loc[~shared, "attribute"]):
        m = ((validity["attribute"] == attr) | shared).to_numpy()
        by_attr[attr] = float((w[m] * r[m]).sum() / w[m].sum()) if w[m].sum() else float("nan")
    return overall, by_attr


FAILURES_FILE = "failures.jsonl"


class RecordingLister:
    """Wraps a lister and records every failed call (unit, attribute, value, error) it reports."""

    def __init__(self, inner) -> None:
        self.inner, self.failures = inner, []

    def __call__(self, units, attribute, value):
        """Call the wrapped lister and keep its failures."""
        out = self.inner(units, attribute, value)
        for unit, rep in zip(np.asarray(units).tolist(), getattr(out, "reports", None) or []):
            if getattr(rep, "error", None) is not None:
                self.failures.append({"unit": unit, "attribute": attribute, "value": value, "error": rep.error})
        return out

    def save(self, folder: Path) -> Path:
        """Write the failures as JSON lines into ``folder`` (an empty file when there were none)."""
        import json

        from recfair.runs.artifacts import atomic_write_text

        folder.mkdir(parents=True, exist_ok=True)
        text = "".join(json.dumps(f) + "\n" for f in self.failures)
        return atomic_write_text(folder / FAILURES_FILE, text)


def check_valid_rate(result, min_rate: float, out: Path, error: str | None = None) -> float:
    """Raise :data:`LOW_VALID` when the probe's overall valid-output rate is below ``min_rate``."""
    rate, _ = valid_rates(result.validity)
    if result.validity is None or not np.isfinite(rate) or rate >= min_rate:
        return rate
    v = result.validity
    raise RecfairError(LOW_VALID.format(rate=rate, failed=int(v["errors"].sum()), prompts=int(v["n_prompts"].sum()),
                                        error=error or "replies named no catalogue title", min=min_rate, out=out))
