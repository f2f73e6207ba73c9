"""Generative recommenders: backends, catalogue-constrained decoding, the built-in model.

* :class:`GenerativeRecommender` (registry name ``generative``) — a small GPT-2 decoder
  over item tokens, trained from scratch; a :class:`~recfair.models.base.Recommender`.
* Backends with ``generate(prompts, k) -> ranked item lists``: :class:`BuiltinBackend`,
  :class:`~recfair.models.generative.hf.HFBackend` (local Hugging Face folder) and
  :class:`~recfair.models.generative.openai.OpenAIBackend` (OpenAI-compatible HTTP);
  :func:`make_backend` builds one by name.
* :class:`TitleMatcher` maps free-text titles to items; :class:`MatchReport` records
  hallucinated, duplicate and already-seen items.
* :mod:`~recfair.models.generative.targets` adapts backends and profile-scoring models
  to the counterfactual probe (:func:`recfair.fairness.counterfactual.run_probe`).
"""

from recfair.models.generative.backends import BACKENDS, BuiltinBackend, GenerativeBackend, make_backend
from recfair.models.generative.builtin import GenerativeRecommender
from recfair.data.titles import MatchReport, TitleMatcher

__all__ = [
    "BACKENDS",
    "BuiltinBackend",
    "GenerativeBackend",
    "GenerativeRecommender",
    "MatchReport",
    "TitleMatcher",
    "make_backend",
]
