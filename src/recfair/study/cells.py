"""A study config expanded into cells: data × split × model (grid) × mitigation × seed.

Each :class:`Cell` carries its *resolved* config (every default filled in) and
its id: the first 16 hex digits of SHA-256 over the canonical JSON of that
config, the data fingerprint and :data:`CELL_FORMAT`.  Same config + same data
⇒ same id ⇒ the cell is not run again.  Runtime options (threads, workers,
Ray) are not part of the id: they change how fast a cell runs, not its numbers.

Fit cells come first; a post-processing cell follows its *parent* (the
unmitigated fit cell whose stored candidates it re-ranks, without refitting),
and so does a probe cell (its parent's saved model is probed, not refitted).
Every cell names its *baseline* (the study's baseline model, unmitigated, same
data, split and seed) for the who-gains-who-loses comparison.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from recfair.study.config import StudyConfig
from recfair.study.config_check import (
    load_study_data,
    mitigation_models,
    mitigation_variants,
    model_grid,
    resolve_data_name,
)
from recfair.study.probe import PROBE
from recfair.study.rows import canonical_json

__all__ = ["CELL_FORMAT", "NONE", "Cell", "cell_id", "expand_cells"]

#: Version of the cell-id recipe and of what a cell stores; bump when either changes.
CELL_FORMAT = 1
#: The ``mitigation`` value of an unmitigated cell.
NONE = "none"


@dataclass(frozen=True)
class Cell:
    """One unit of a study that runs, is stored, resumes and is compared."""

    cell_id: str
    kind: str  # "fit", "post" or "probe"
    dataset: str
    data_name: str
    data_options: dict[str, Any]
    fingerprint: str
    split: dict[str, Any]
    seed: int
    model: str
    params: dict[str, Any]
    mitigation: str
    stage: str | None
    mitigation_params: dict[str, Any]
    mitigation_spec: dict[str, Any] | None
    evaluation: dict[str, Any]
    parent_id: str | None = None
    baseline_id: str | None = None
    resolved: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain values (what a worker process or Ray task receives)."""
        return asdict(self)

    @property
    def label(self) -> str:
        """``model`` or ``model + mitigation``, for progress lines."""
        return self.model if self.mitigation == NONE else f"{self.model} + {self.mitigation}"


def cell_id(resolved: dict[str, Any], fingerprint: str) -> str:
    """The id of a resolved cell config on data with ``fingerprint``."""
    payload = canonical_json({"format": CELL_FORMAT, "fingerprint": fingerprint, "config": resolved})
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def _mitigation_label(m: Any) -> str:
    return f"{m.name}:{m.groups}" if m.groups and m.stage != "post" else m.name


def _seeded(model: str, params: dict[str, Any], given: dict[str, Any], seed: int) -> dict[str, Any]:
    """The cell seed goes to models that take one, unless the config fixes it."""
    if "seed" in params and "seed" not in given:
        return {**params, "seed": seed}
    return params


def _make(base: dict[str, Any], **fields: Any) -> Cell:
    resolved = {
        "dataset": base["dataset"], "data_options": base["data_options"], "split": base["split"],
        "seed": base["seed"], "model": fields["model"], "params": fields["params"],
        "mitigation": {"stage": fields["stage"], "name": fields["mitigation"], "params": fields["mitigation_params"]},
        "parent": fields.get("parent_id"), "evaluation": base["evaluation"],
    }
    return Cell(cell_id=cell_id(resolved, base["fingerprint"]), resolved=resolved, **base, **fields)


def _evaluation(config: StudyConfig) -> dict[str, Any]:
    return {"k": config.k, "metrics": config.metric_columns(), "n_candidates": config.n_candidates,
            **config.audit.model_dump(mode="json")}


def _fit_cells(config: StudyConfig, base: dict[str, Any]) -> list[Cell]:
    """Every fit cell of one data set × split × seed."""
    out: list[Cell] = []
    for model, given in config.models.items():
        for point in model_grid(model, given):
            params = _seeded(model, point, given, base["seed"])
            if config.unmitigated:
                out.append(_make(base, kind="fit", model=model, params=params, mitigation=NONE, stage=None,
                                 mitigation_params={}, mitigation_spec=None))
            for m in config.mitigations:
                if m.stage == "post" or model not in mitigation_models(m, list(config.models)):
                    continue
                for lam, resolved in mitigation_variants(m):
                    spec = {**m.model_dump(mode="json", by_alias=True), "lambda": lam}
                    out.append(_make(base, kind="fit", model=model, params=params, mitigation=_mitigation_label(m),
                                     stage=m.stage, mitigation_params=resolved, mitigation_spec=spec))
    return out


def _post_cells(config: StudyConfig, parents: list[Cell]) -> list[Cell]:
    out: list[Cell] = []
    for m in (m for m in config.mitigations if m.stage == "post"):
        allowed = mitigation_models(m, list(config.models))
        for parent in parents:
            if parent.mitigation != NONE or parent.model not in allowed:
                continue
            base = {k: getattr(parent, k) for k in ("dataset", "data_name", "data_options", "fingerprint", "split",
                                                    "seed", "evaluation")}
            for lam, resolved in mitigation_variants(m):
                spec = {**m.model_dump(mode="json", by_alias=True), "lambda": lam}
                out.append(_make(base, kind="post", model=parent.model, params=parent.params,
                                 mitigation=_mitigation_label(m), stage="post", mitigation_params=resolved,
                                 mitigation_spec=spec, parent_id=parent.cell_id))
    return out


def _probe_cells(config: StudyConfig, fits: list[Cell]) -> list[Cell]:
    """One probe cell per probed seed: its parent is the unmitigated cell of the probed model."""
    p = config.probe
    if p is None:
        return []
    seeds = p.seeds or config.seeds[:1]
    spec = p.model_dump(mode="json", exclude={"seeds"})
    out: list[Cell] = []
    for parent in fits:
        if parent.model != p.model or parent.mitigation != NONE or parent.seed not in seeds:
            continue
        base = {k: getattr(parent, k) for k in ("dataset", "data_name", "data_options", "fingerprint", "split",
                                                "seed", "evaluation")}
        out.append(_make(base, kind=PROBE, model=parent.model, params=parent.params, mitigation=PROBE, stage=PROBE,
                         mitigation_params=spec, mitigation_spec=spec, parent_id=parent.cell_id))
    return out


def _with_baselines(config: StudyConfig, cells: list[Cell]) -> list[Cell]:
    """Each cell with ``baseline_id``: the first unmitigated baseline-model cell of its data, split and seed."""
    from dataclasses import replace

    base: dict[tuple, str] = {}
    for c in cells:
        key = (c.data_name, canonical_json(c.data_options), canonical_json(c.split), c.seed)
        if c.model == config.baseline and c.mitigation == NONE and c.kind == "fit":
            base.setdefault(key, c.cell_id)
    out = []
    for c in cells:
        b = base.get((c.data_name, canonical_json(c.data_options), canonical_json(c.split), c.seed))
        out.append(replace(c, baseline_id=b if b != c.cell_id and c.kind != PROBE else None))
    return out


def expand_cells(config: StudyConfig, base_dir: Path | None = None) -> list[Cell]:
    """All cells of a checked study config, fit cells first, then post-processing cells (parents first)."""
    from recfair.data import fingerprint

    fits: list[Cell] = []
    evaluation = _evaluation(config)
    for data in config.data:
        name = resolve_data_name(data.name, base_dir or Path.cwd())
        fp = fingerprint(load_study_data(name, data.options))
        for split in config.split:
            for seed in config.seeds:
                base = {"dataset": data.name, "data_name": name, "data_options": dict(data.options),
                        "fingerprint": fp, "split": split.model_dump(mode="json"), "seed": seed,
                        "evaluation": evaluation}
                fits.extend(_fit_cells(config, base))
    cells = fits + _post_cells(config, fits) + _probe_cells(config, fits)
    seen: dict[str, Cell] = {}
    for c in cells:  # the same resolved config twice (e.g. a grid repeating a default) runs once
        seen.setdefault(c.cell_id, c)
    return _with_baselines(config, list(seen.values()))
