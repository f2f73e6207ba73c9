"""Generative backends: one interface, ``generate(prompts, k) -> ranked item lists``.

* :class:`BuiltinBackend` — the built-in :class:`GenerativeRecommender` (item tokens,
  constrained decoding; prompts are its vocabulary-token prompts).
* :class:`~recfair.models.generative.hf.HFBackend` — any local Hugging Face causal LM
  folder, decoding constrained to catalogue titles by a prefix trie (or free text + matcher).
* :class:`~recfair.models.generative.openai.OpenAIBackend` — any OpenAI-compatible HTTP
  endpoint; free text mapped to items by :class:`~recfair.models.generative.matcher.TitleMatcher`.

Every backend also has ``generate_report(prompts, k, seen=None)`` returning the lists
and one :class:`~recfair.models.generative.matcher.MatchReport` per prompt (raw
titles, hallucinated titles, duplicates, already-seen items), plus a ``calls``
counter of model invocations (a cached re-run makes zero).
"""

from __future__ import annotations

from typing import Any, Protocol, Sequence, runtime_checkable

import numpy as np

from recfair.errors import RecfairError, check_positive_int
from recfair.models.generative.matcher import MatchReport

BACKENDS = ("builtin", "hf", "openai")
UNKNOWN_BACKEND = "Unknown generative backend '{name}'. Choose one of: " + ", ".join(BACKENDS) + "."


@runtime_checkable
class GenerativeBackend(Protocol):
    """What the counterfactual probe and :class:`PromptRecommender` need from a backend."""

    calls: int

    def generate(self, prompts: Sequence[str], k: int) -> list[list[int]]: ...

    def generate_report(
        self, prompts: Sequence[str], k: int, seen: Sequence[Sequence[int]] | None = None
    ) -> tuple[list[list[int]], list[MatchReport]]: ...


def lists_to_array(lists: Sequence[Sequence[int]], k: int) -> np.ndarray:
    """Ragged ranked lists → ``(n, k)`` int32 padded with ``-1``."""
    out = np.full((len(lists), k), -1, dtype=np.int32)
    for r, lst in enumerate(lists):
        lst = list(lst)[:k]
        out[r, : len(lst)] = lst
    return out


class BuiltinBackend:
    """Generate with a trained :class:`~recfair.models.generative.builtin.GenerativeRecommender`.

    Prompts are the model's own vocabulary-token prompts (see
    :meth:`GenerativeRecommender.render_prompts`).  Decoding is constrained, so
    every list holds distinct catalogue items; ``seen`` items are banned.
    """

    def __init__(self, model: Any, num_beams: int = 1) -> None:
        self.model = model
        self.num_beams = check_positive_int(num_beams, "num_beams", "BuiltinBackend")
        self.calls = 0

    def generate(self, prompts: Sequence[str], k: int) -> list[list[int]]:
        return self.generate_report(prompts, k)[0]

    def generate_report(self, prompts, k, seen=None):
        k = check_positive_int(k, "k", "generate")
        seqs = self.model.vocab_.parse(prompts)
        self.calls += len(prompts)
        arr = self.model.generate_ids(seqs, k, exclude=seen, num_beams=self.num_beams)
        lists = [[int(i) for i in row if i >= 0] for row in arr]
        titles = self.model.vocab_.tokens()[self.model.vocab_.item_offset :]
        reports = [MatchReport(raw=[titles[i] for i in lst], items=list(lst)) for lst in lists]
        return lists, reports


def make_backend(name: str, **kwargs: Any):
    """Build a backend by name (``builtin`` needs ``model=``; see each class for its options)."""
    if name == "builtin":
        return BuiltinBackend(**kwargs)
    if name == "hf":
        from recfair.models.generative.hf import HFBackend

        return HFBackend(**kwargs)
    if name == "openai":
        from recfair.models.generative.openai import OpenAIBackend

        return OpenAIBackend(**kwargs)
    raise RecfairError(UNKNOWN_BACKEND.format(name=name))
