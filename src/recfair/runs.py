"""Run folders: what ``recfair train --out DIR`` writes and later commands read.

Layout of a run folder::

    DIR/run.json                  model name, params, dataset, split (protocol, test_size, valid_size, seed)
    DIR/model/                    the saved Recommender (config.json + weights.safetensors)
    DIR/recommendations.parquet   top-N lists (N = ``n_candidates``) for every test user, seen items excluded
    DIR/metrics.json              written by ``recfair evaluate``
    DIR/audit/                    written by ``recfair audit``

The split is not stored: it is recomputed from the dataset and ``run.json`` (splits
are deterministic per seed), so a run folder stays small and never holds data.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from recfair.errors import RecfairError

RUN_FILE = "run.json"
MODEL_DIR = "model"
RECS_FILE = "recommendations.parquet"
METRICS_FILE = "metrics.json"

NOT_A_RUN = "{path} is not a recfair run folder (no {file}); create one with `recfair train MODEL --out {path}`"


@dataclass(frozen=True)
class RunConfig:
    model: str
    params: dict[str, Any]
    dataset: str
    protocol: str = "user-temporal"
    test_size: float = 0.2
    valid_size: float = 0.0
    seed: int = 0
    n_candidates: int = 100
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "params": self.params,
            "dataset": self.dataset,
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
        try:
            split = data["split"]
            return cls(
                model=data["model"],
                params=dict(data.get("params", {})),
                dataset=data["dataset"],
                protocol=split["protocol"],
                test_size=float(split["test_size"]),
                valid_size=float(split.get("valid_size", 0.0)),
                seed=int(split["seed"]),
                n_candidates=int(data.get("n_candidates", 100)),
                extra=dict(data.get("extra", {})),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise RecfairError(f"{path}: malformed run config, field {exc} missing or invalid") from exc


class Run:
    """A run folder, opened lazily: dataset, split, model and recommendations load on first use."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        cfg = self.path / RUN_FILE
        if not cfg.is_file():
            raise RecfairError(NOT_A_RUN.format(path=self.path, file=RUN_FILE))
        try:
            data = json.loads(cfg.read_text())
        except json.JSONDecodeError as exc:
            raise RecfairError(f"{cfg}: not valid JSON ({exc})") from exc
        self.config = RunConfig.from_json(data, cfg)

    @cached_property
    def dataset(self):
        from recfair.data import load_dataset

        return load_dataset(self.config.dataset)

    @cached_property
    def split(self):
        from recfair.data import make_split

        c = self.config
        return make_split(self.dataset, c.protocol, test_size=c.test_size, valid_size=c.valid_size, seed=c.seed)

    @cached_property
    def model(self):
        from recfair.models.base import Recommender

        return Recommender.load(self.path / MODEL_DIR)

    def recommendations(self, k: int | None = None):
        """Stored top-N lists (truncated to ``k`` when given)."""
        from recfair.recommendations import Recommendations

        f = self.path / RECS_FILE
        if not f.is_file():
            raise RecfairError(f"{self.path}: no {RECS_FILE}; re-run `recfair train`")
        recs = Recommendations.load(f, k=self.config.n_candidates)
        return recs.truncate(k) if k is not None else recs


def write_run(path: str | Path, config: RunConfig, model, recs) -> Path:
    """Write a run folder (model, config, recommendations). Files are replaced atomically."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    model.save(path / MODEL_DIR)
    tmp = path / (RECS_FILE + ".tmp")
    recs.save(tmp)
    tmp.replace(path / RECS_FILE)
    tmp = path / (RUN_FILE + ".tmp")
    tmp.write_text(json.dumps(config.to_json(), indent=2))
    tmp.replace(path / RUN_FILE)
    return path
