"""Generative backends: one interface, ``generate(prompts, k) -> ranked item lists``.

* :class:`BuiltinBackend` — the built-in :class:`GenerativeRecommender` (item tokens,
  constrained decoding; prompts are its vocabulary-token prompts).
* :class:`~recfair.models.generative.hf.HFBackend` — any local Hugging Face causal LM
  folder, decoding constrained to catalogue titles by a prefix trie (or free text + matcher).
* :class:`~recfair.models.generative.openai.OpenAIBackend` — any OpenAI-compatible HTTP
  endpoint; free text mapped to items by :class:`~recfair.data.titles.TitleMatcher`.

``generate`` returns :class:`~recfair.recommendations.Recommendations` with one row per
prompt (``users`` are prompt positions ``0..n-1``; ``scores`` are ``k - rank + 1``, as a
backend gives an order, not scores).  Every backend also has
``generate_report(prompts, k, seen=None)`` returning those and one :class:`~recfair.data.titles.MatchReport` per prompt (raw
titles, hallucinated titles, duplicates, already-seen items), plus a ``calls``
counter of model invocations (a cached re-run makes zero).
"""

from __future__ import annotations

import importlib
from typing import Any, Protocol, Sequence, runtime_checkable

import numpy as np
from pydantic import Field

from recfair.data.titles import MatchReport
from recfair.errors import RecfairError, check_positive_int
from recfair.models.config import ComponentConfig, Configurable
from recfair.recommendations import PAD, Recommendations

#: Backend name → ``module:Class`` (imported on first use: ``hf`` needs the llm extra).
BACKEND_CLASSES = {
    "builtin": "recfair.models.generative.backends:BuiltinBackend",
    "hf": "recfair.models.generative.hf:HFBackend",
    "openai": "recfair.models.generative.openai:OpenAIBackend",
}
BACKENDS = tuple(BACKEND_CLASSES)
UNKNOWN_BACKEND = "Unknown generative backend '{name}'. Choose one of: " + ", ".join(BACKENDS) + "."


@runtime_checkable
class GenerativeBackend(Protocol):
    """What the counterfactual probe needs from a backend."""

    calls: int

    def generate(self, prompts: Sequence[str], k: int) -> Recommendations:
        """Ranked item lists, one row per prompt."""
        ...

    def generate_report(
        self, prompts: Sequence[str], k: int, seen: Sequence[Sequence[int]] | None = None
    ) -> tuple[Recommendations, list[MatchReport]]:
        """The lists plus one match report per prompt (``seen`` items banned where possible)."""
        ...


def lists_to_recommendations(lists: Sequence[Sequence[int]], k: int) -> Recommendations:
    """Ragged ranked lists (one per prompt) → :class:`Recommendations` padded with ``-1``.

    ``users`` are the prompt positions; ``scores`` are ``k - rank + 1`` (``nan`` at padding).
    """
    items = np.full((len(lists), k), PAD, dtype=np.int32)
    for r, lst in enumerate(lists):
        lst = list(lst)[:k]
        items[r, : len(lst)] = lst
    order_scores = np.broadcast_to(np.arange(k, 0, -1, dtype=np.float32), items.shape)
    return Recommendations(np.arange(len(lists)), items, np.where(items != PAD, order_scores, np.nan))


class ReportingBackend:
    """Shared part of the backends: ``generate`` is ``generate_report`` without the reports."""

    calls: int = 0

    def generate(self, prompts: Sequence[str], k: int) -> Recommendations:
        """Ranked item lists, one row per prompt (see :meth:`generate_report`)."""
        return self.generate_report(prompts, k)[0]

    def generate_report(
        self, prompts: Sequence[str], k: int, seen: Sequence[Sequence[int]] | None = None
    ) -> tuple[Recommendations, list[MatchReport]]:  # pragma: no cover - interface
        """Lists plus one :class:`~recfair.data.titles.MatchReport` per prompt."""
        raise NotImplementedError


class BuiltinBackendConfig(ComponentConfig):
    """Hyper-parameters of :class:`BuiltinBackend`."""

    num_beams: int = Field(1, ge=1, description="beam width of the constrained decoding (1 = greedy)")


class BuiltinBackend(Configurable, ReportingBackend):
    """Generate with a trained :class:`~recfair.models.generative.builtin.GenerativeRecommender`.

    Prompts are the model's own vocabulary-token prompts (see
    :meth:`GenerativeRecommender.render_prompts`).  Decoding is constrained, so
    every list holds distinct catalogue items; ``seen`` items are banned.
    """

    Config = BuiltinBackendConfig

    def __init__(self, model: Any, *, config: Any = None, **params: Any) -> None:
        self._apply_config(config, params)
        self.model = model
        self.calls = 0

    def generate_report(
        self, prompts: Sequence[str], k: int, seen: Sequence[Sequence[int]] | None = None
    ) -> tuple[Recommendations, list[MatchReport]]:
        """Constrained lists (``seen`` items banned) plus one report per prompt."""
        k = check_positive_int(k, "k", "generate")
        seqs = self.model.vocab_.parse(prompts)
        self.calls += len(prompts)
        arr = self.model.generate_ids(seqs, k, exclude=seen, num_beams=self.num_beams)
        lists = [[int(i) for i in row if i >= 0] for row in arr]
        titles = self.model.vocab_.tokens()[self.model.vocab_.item_offset :]
        reports = [MatchReport(raw=[titles[i] for i in lst], items=list(lst)) for lst in lists]
        return lists_to_recommendations(lists, k), reports


def get_backend_class(name: str) -> type:
    """The backend class registered as ``name`` (imported on first use)."""
    target = BACKEND_CLASSES.get(name) if isinstance(name, str) else None
    if target is None:
        raise RecfairError(UNKNOWN_BACKEND.format(name=name))
    module, qual = target.split(":")
    return getattr(importlib.import_module(module), qual)


def make_backend(name: str, **kwargs: Any) -> ReportingBackend:
    """Build a backend by name (``builtin`` needs ``model=``; see each class for its options)."""
    return get_backend_class(name)(**kwargs)
