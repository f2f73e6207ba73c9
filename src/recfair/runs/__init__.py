"""Run folders: what ``recfair train --out DIR`` writes and later commands read.

Layout of a run folder::

    DIR/run.json                  model name, params, dataset (+ loader options), split, n_candidates
    DIR/model/                    the saved Recommender (config.json + weights.safetensors)
    DIR/recommendations.parquet   top-N lists (N = ``n_candidates``) for every test user, seen items
                                  excluded; indices and raw ids (user, rank, item, score, user_id, item_id)
    DIR/manifest.json             recfair version, timestamp, data fingerprint, SHA-256 of every file
    DIR/metrics.json              written by ``recfair evaluate``: {"10": {...}, "100": {...}} per k
    DIR/audit/                    written by ``recfair audit``

The split is not stored: it is recomputed from the dataset and ``run.json`` (splits
are deterministic per seed), so a run folder stays small and never holds data.
Integrity makes that safe: opening a run verifies every checksum (an edited
``run.json`` or a truncated weights file is refused, named), and loading its data
set compares the data fingerprint (a data file changed after training is refused).
A run is written with :func:`recfair.runs.artifacts.atomic_folder`: a kill at any
moment leaves the old run or the new one, never a mix.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from recfair.errors import IntegrityError, RecfairError
from recfair.runs.artifacts import (
    atomic_folder,
    atomic_write_text,
    check_target,
    recover,
    update_manifest,
    verify_manifest,
)
from recfair.runs.checks import check_run_values

if TYPE_CHECKING:  # imported lazily at run time (keeps `import recfair.runs` light)
    from recfair.data import Dataset, Split
    from recfair.models.base import Recommender
    from recfair.recommendations import Recommendations

RUN_FILE = "run.json"
MODEL_DIR = "model"
RECS_FILE = "recommendations.parquet"
METRICS_FILE = "metrics.json"
RECS_COLUMNS = ("user", "rank", "item", "score")

NOT_A_RUN = "{path} is not a recfair run folder (no {file}); create one with `recfair train MODEL --out {path}`"
MALFORMED = "{path}: malformed run config, field {field} missing or invalid"
DATA_CHANGED = (
    "data set '{dataset}' changed since the run {path} was trained (fingerprint {now}, recorded {then}); "
    "restore the data or train again"
)
BAD_MODEL = "{path}: the saved model cannot be loaded ({error}); train the run again"
BAD_RECS = "{path}: {file} cannot be read ({error}); train the run again"
RECS_MISSING_COLUMNS = "{path}: {file} lacks column(s) {columns}; train the run again"

__all__ = ["METRICS_FILE", "MODEL_DIR", "RECS_FILE", "RUN_FILE", "Run", "RunConfig", "write_run"]


@dataclass(frozen=True)
class RunConfig:
    """What a run was made from: model, hyper-parameters, data set, split and list length."""

    model: str
    params: dict[str, Any]
    dataset: str
    protocol: str = "user-temporal"
    test_size: float = 0.2
    valid_size: float = 0.0
    seed: int = 0
    n_candidates: int = 100
    extra: dict[str, Any] = field(default_factory=dict)
    data_options: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The ``run.json`` payload."""
        return {
            "model": self.model,
            "params": self.params,
            "dataset": self.dataset,
            "data_options": self.data_options,
            "split": {
                "protocol": self.protocol,
                "test_size": self.test_size,
                "valid_size": self.valid_size,
                "seed": self.seed,
            },
            "n_candidates": self.n_candidates,
            "extra": self.extra,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any], path: Path | str = RUN_FILE) -> "RunConfig":
        """Parse and range-check a ``run.json`` payload."""
        try:
            split = data["split"]
            cfg = cls(
                model=data["model"],
                params=dict(data.get("params", {})),
                dataset=data["dataset"],
                protocol=split["protocol"],
                test_size=float(split["test_size"]),
                valid_size=float(split.get("valid_size", 0.0)),
                seed=int(split["seed"]),
                n_candidates=int(data.get("n_candidates", 100)),
                extra=dict(data.get("extra", {})),
                data_options=dict(data.get("data_options", {})),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise RecfairError(MALFORMED.format(path=path, field=exc)) from exc
        check_run_values(cfg.seed, cfg.n_candidates, where=str(path))
        return cfg


class Run:
    """A run folder, verified on open; dataset, split, model and recommendations load on first use."""

    def __init__(self, path: str | Path) -> None:
        self.path = recover(Path(path))
        cfg = self.path / RUN_FILE
        if not cfg.is_file():
            raise RecfairError(NOT_A_RUN.format(path=self.path, file=RUN_FILE))
        self.manifest = verify_manifest(self.path)
        try:
            data = json.loads(cfg.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise RecfairError(f"{cfg}: not valid JSON ({exc})") from exc
        self.config = RunConfig.from_json(data, cfg)

    @property
    def fingerprint(self) -> str | None:
        """The data fingerprint recorded when the run was written."""
        return self.manifest.get("fingerprint")

    @cached_property
    def dataset(self) -> Dataset:
        """The run's data set, reloaded and checked against the recorded fingerprint."""
        from recfair.data import fingerprint, load_dataset

        ds = load_dataset(self.config.dataset, **self.config.data_options)
        now = fingerprint(ds)
        if now != self.fingerprint:
            raise IntegrityError(DATA_CHANGED.format(dataset=self.config.dataset, path=self.path, now=now,
                                                     then=self.fingerprint))
        return ds

    @cached_property
    def split(self) -> Split:
        """The split, recomputed from the data set and ``run.json``."""
        from recfair.data import make_split

        c = self.config
        return make_split(self.dataset, c.protocol, test_size=c.test_size, valid_size=c.valid_size, seed=c.seed)

    @cached_property
    def model(self) -> Recommender:
        """The saved Recommender."""
        from recfair.models.base import Recommender

        try:
            return Recommender.load(self.path / MODEL_DIR)
        except RecfairError:
            raise
        except Exception as exc:  # a damaged file the checksums did not cover
            raise IntegrityError(BAD_MODEL.format(path=self.path, error=f"{type(exc).__name__}: {exc}")) from exc

    def recommendations(self, k: int | None = None) -> Recommendations:
        """Stored top-N lists (truncated to ``k`` when given)."""
        import pandas as pd

        from recfair.recommendations import Recommendations

        f = self.path / RECS_FILE
        if not f.is_file():
            raise RecfairError(f"{self.path}: no {RECS_FILE}; re-run `recfair train`")
        try:
            df = pd.read_parquet(f)
        except Exception as exc:  # pyarrow raises several types for damaged files
            raise IntegrityError(BAD_RECS.format(path=self.path, file=RECS_FILE, error=exc)) from exc
        missing = [c for c in RECS_COLUMNS if c not in df.columns]
        if missing:
            raise IntegrityError(RECS_MISSING_COLUMNS.format(path=self.path, file=RECS_FILE, columns=", ".join(missing)))
        recs = Recommendations.from_frame(df, k=self.config.n_candidates)
        return recs.truncate(k) if k is not None else recs

    def metrics(self) -> dict[str, dict[str, float]]:
        """Stored metrics per cut-off: ``{"10": {"ndcg@10": …}, "100": {…}}``."""
        f = self.path / METRICS_FILE
        if not f.is_file():
            return {}
        data = json.loads(f.read_text(encoding="utf-8"))
        if data and not all(isinstance(v, dict) for v in data.values()):  # written before metrics were per k
            return {}
        return data

    def save_metrics(self, k: int, values: dict[str, float]) -> Path:
        """Store the metrics of cut-off ``k`` beside those of other cut-offs, and re-checksum the file."""
        data = self.metrics()
        data[str(int(k))] = {name: float(v) for name, v in values.items()}
        target = atomic_write_text(self.path / METRICS_FILE, json.dumps(data, indent=2, sort_keys=True))
        self.manifest = update_manifest(self.path, [METRICS_FILE])
        return target


def write_run(path: str | Path, config: RunConfig, model, recs, *, dataset=None, force: bool = True,
              files: dict[str, str] | None = None) -> Path:
    """Write a run folder atomically: model, ``run.json``, recommendations (with raw ids) and the manifest.

    ``dataset`` is the data set the split was made from (loaded from ``config``
    when omitted); its fingerprint goes into the manifest.  ``files`` adds text
    files (name → content).  An existing run is replaced only when ``force``.
    """
    from recfair.data import fingerprint, load_dataset

    path = Path(path)
    check_target(path, force=force, marker=RUN_FILE)
    if dataset is None:
        dataset = load_dataset(config.dataset, **config.data_options)
    meta = {"fingerprint": fingerprint(dataset), "dataset": config.dataset}
    with atomic_folder(path, meta) as tmp:
        if model is not None:  # a re-ranked run holds lists only
            model.save(tmp / MODEL_DIR)
        recs.save(tmp / RECS_FILE, dataset=dataset)
        (tmp / RUN_FILE).write_text(json.dumps(config.to_json(), indent=2), encoding="utf-8")
        for name, text in (files or {}).items():
            (tmp / name).write_text(text, encoding="utf-8")
    return path
