"""What the counterfactual probe runs on: "listers" producing ranked lists per profile.

A lister is called as ``lister(units, attribute, value)`` with ``value`` an attribute
value, :data:`~recfair.fairness.counterfactual.NEUTRAL_VALUE` (attribute left out)
or :data:`~recfair.fairness.counterfactual.TRUE` (the user's own profile), and returns
``((n, K) item lists, per-prompt reports or None)``.

* :class:`PromptLister` — any generative backend behind text prompts (FaiRLLM
  template prompts, user-grounded prompts, or the built-in model's token prompts).
* :class:`ProfileScoreLister` — any :class:`~recfair.models.base.Recommender` that
  scores counterfactual profiles: ``score_profiles(users, overrides)`` (the built-in
  generative model) or ``score_texts(user_texts, users)`` (the ``lm-*`` models).
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

import numpy as np

from recfair.errors import RecfairError
from recfair.fairness.counterfactual import FAIRLLM_NEUTRAL, FAIRLLM_TEMPLATE, NEUTRAL_VALUE, TRUE
from recfair.models.generative.backends import lists_to_array
from recfair.models.generative.vocab import ProfileVocab

#: User-grounded prompt for text LMs: the rendered user, then FaiRLLM's request.
GROUNDED_TEMPLATE = (
    "{user} Please provide me with a list of {K} movie titles in order of preference that you think "
    "I might like. Answer with the titles only, one per line."
)
NO_PROFILE_SCORING = (
    "{name} cannot score counterfactual profiles: it needs score_profiles(users, overrides) "
    "(the built-in generative model) or score_texts(user_texts, users) (the lm-* models)."
)


def dataset_attribute_values(dataset: Any, attributes: Sequence[str]) -> dict[str, list[str]]:
    """Probe values of the data set's own attributes (numeric ones binned, e.g. ML-1M age groups)."""
    vocab = ProfileVocab.from_dataset(dataset, attributes)
    missing = [a for a in attributes if a not in vocab.fields]
    if missing:
        raise RecfairError(
            f"Unknown user attribute(s) {', '.join(missing)}. The data set's user table has: "
            f"{', '.join(map(str, dataset.users.columns)) or '(none)'}."
        )
    return {a: list(vocab.values[a]) for a in attributes}


def overrides_for(attribute: str | None, value: str) -> dict[str, Any]:
    """Profile overrides of one probe variant (``None`` = neutral token / field left out)."""
    if value == TRUE or attribute is None:
        return {}
    return {attribute: None if value == NEUTRAL_VALUE else value}


def top_k_unseen(scores: np.ndarray, seen: Any, users: np.ndarray, k: int) -> np.ndarray:
    """Top-``k`` items per row with the users' ``seen`` (CSR) items masked."""
    from recfair.models.base import top_k

    s = np.array(scores, dtype=np.float32, copy=True)
    if seen is not None:
        sub = seen[users]
        rows = np.repeat(np.arange(len(users)), np.diff(sub.indptr))
        s[rows, sub.indices] = -np.inf
    return top_k(s, k)[0]


class ProfileScoreLister:
    """Lists from a Recommender scoring counterfactual profiles (full ranking, seen items excluded).

    Parameters
    ----------
    model:
        A fitted model with ``score_profiles`` or ``score_texts``.
    k:
        List length.
    dataset, history, fields, render_kwargs:
        For ``score_texts`` models: the data set whose attribute tables render the
        users (:func:`recfair.data.text.render_users`), the history Dataset, and the
        profile fields shown.
    exclude_seen:
        Mask the users' training items.
    """

    def __init__(self, model: Any, k: int, *, dataset: Any = None, history: Any = None,
                 fields: Sequence[str] | None = None, exclude_seen: bool = True,
                 render_kwargs: Mapping[str, Any] | None = None) -> None:
        if not (hasattr(model, "score_profiles") or hasattr(model, "score_texts")):
            raise RecfairError(NO_PROFILE_SCORING.format(name=type(model).__name__))
        self.model, self.k, self.dataset = model, k, dataset
        # Render users the way the model was trained to read them (lm-* models store these).
        self.fields = tuple(fields if fields is not None else getattr(model, "user_fields_", getattr(model, "user_fields", ("age", "gender", "occupation"))))
        self.history = history if getattr(model, "history_in_text", True) else None
        kw: dict[str, Any] = {}
        if hasattr(model, "user_template"):
            kw["template"] = model.user_template
        if hasattr(model, "max_history"):
            kw["max_history"] = model.max_history
        self.render_kwargs = {**kw, **dict(render_kwargs or {})}
        self.render_kwargs_given = bool(render_kwargs)
        self.exclude_seen = exclude_seen

    def __call__(self, units: np.ndarray, attribute: str | None, value: str):
        users = np.asarray(units, dtype=np.int64)
        if hasattr(self.model, "score_profiles"):
            scores = self.model.score_profiles(users, overrides_for(attribute, value))
        else:
            from recfair.data.text import render_users

            if self.dataset is None and self.history is None:
                raise RecfairError("ProfileScoreLister needs dataset= (and history=) to render user texts for score_texts models")
            fields = self.fields
            over = overrides_for(attribute, value)
            if over and over.get(attribute) is None:  # neutral: leave the field out
                fields, over = tuple(f for f in fields if f != attribute), {}
            if hasattr(self.model, "render_user_texts") and self.history is not None and not self.render_kwargs_given:
                # the model's own rendering (templates, history budget) over the training interactions
                texts = self.model.render_user_texts(self.history, users, overrides=over or None, fields=fields)
            else:
                texts = render_users(self.dataset if self.dataset is not None else self.history, users, fields=fields,
                                     overrides=over, history=self.history, **self.render_kwargs)
            scores = self.model.score_texts(texts, users)
        seen = getattr(self.model, "seen_", None) if self.exclude_seen else None
        return top_k_unseen(scores, seen, users, self.k), None


class PromptLister:
    """Lists from a generative backend; ``prompt_fn(units, attribute, value) -> prompts``.

    ``seen_fn(units)`` (optional) gives each unit's already-seen items: banned by
    constrained backends, reported by free-text ones.
    """

    def __init__(self, backend: Any, k: int, prompt_fn: Callable[[np.ndarray, str | None, str], list[str]],
                 seen_fn: Callable[[np.ndarray], list[np.ndarray]] | None = None) -> None:
        self.backend, self.k, self.prompt_fn, self.seen_fn = backend, k, prompt_fn, seen_fn

    def __call__(self, units: np.ndarray, attribute: str | None, value: str):
        prompts = self.prompt_fn(units, attribute, value)
        seen = self.seen_fn(units) if self.seen_fn is not None else None
        lists, reports = self.backend.generate_report(prompts, self.k, seen)
        return lists_to_array(lists, self.k), reports


def fairllm_prompts(names: Sequence[str], k: int, template: str = FAIRLLM_TEMPLATE):
    """``prompt_fn`` of the FaiRLLM probe: ``template`` with ``{value}``, ``{name}``, ``{K}``."""

    def fn(units: np.ndarray, attribute: str | None, value: str) -> list[str]:
        v = FAIRLLM_NEUTRAL if value in (NEUTRAL_VALUE, TRUE) else value
        return [template.format(value=v, name=names[int(u)], K=k) for u in units]

    return fn


def grounded_prompts(dataset: Any, history: Any, k: int, *, fields: Sequence[str] = ("age", "gender", "occupation"),
                     template: str = GROUNDED_TEMPLATE, **render_kwargs: Any):
    """``prompt_fn`` of user-grounded text prompts (profile + recent titles + request)."""
    from recfair.data.text import render_users

    def fn(units: np.ndarray, attribute: str | None, value: str) -> list[str]:
        over = overrides_for(attribute, value)
        shown = tuple(fields)
        if over and over.get(attribute) is None:
            shown, over = tuple(f for f in fields if f != attribute), {}
        users = render_users(dataset, units, fields=shown, overrides=over, history=history, **render_kwargs)
        return [template.format(user=u, K=k) for u in users]

    return fn


def builtin_prompts(model: Any):
    """``prompt_fn`` of the built-in model: its token prompts with profile overrides."""

    def fn(units: np.ndarray, attribute: str | None, value: str) -> list[str]:
        return model.render_prompts(np.asarray(units, dtype=np.int64), overrides_for(attribute, value))

    return fn


def history_seen(model: Any) -> Callable[[np.ndarray], list[np.ndarray]]:
    """``seen_fn`` from a fitted model's training matrix."""

    def fn(units: np.ndarray) -> list[np.ndarray]:
        m = model.seen_
        return [m.indices[m.indptr[u] : m.indptr[u + 1]].astype(np.int64) for u in np.asarray(units, np.int64)]

    return fn
