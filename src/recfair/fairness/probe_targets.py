"""What the counterfactual probe runs on: "listers" producing ranked lists per profile.

A lister is called as ``lister(units, attribute, value)`` with ``value`` an attribute
value, :data:`~recfair.fairness.counterfactual.NEUTRAL_VALUE` (attribute left out)
or :data:`~recfair.fairness.counterfactual.TRUE` (the user's own profile), and returns
:class:`~recfair.fairness.counterfactual.ProbeLists`: the lists as
:class:`~recfair.recommendations.Recommendations` plus per-list reports (or None).

* :class:`PromptLister` — any generative backend behind text prompts (FaiRLLM
  template prompts, user-grounded prompts, or the built-in model's token prompts).
* :class:`ProfileScoreLister` — any recommender that scores counterfactual
  profiles: ``score_profiles(users, overrides)`` (the built-in generative model)
  or ``score_texts(user_texts, users)`` (the ``lm-*`` models).

Models and backends are passed in; this module never imports ``recfair.models``.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

import numpy as np

from recfair.data.profiles import profile_values
from recfair.errors import RecfairError
from recfair.fairness.counterfactual import FAIRLLM_NEUTRAL, FAIRLLM_TEMPLATE, NEUTRAL_VALUE, TRUE, ProbeLists
from recfair.recommendations import Recommendations, rank_scores

#: User-grounded prompt for text LMs: the rendered user, then FaiRLLM's request.
GROUNDED_TEMPLATE = (
    "{user} Please provide me with a list of {K} movie titles in order of preference that you think "
    "I might like. Answer with the titles only, one per line."
)
NO_PROFILE_SCORING = (
    "{name} cannot score counterfactual profiles: it needs score_profiles(users, overrides) "
    "(the built-in generative model) or score_texts(user_texts, users) (the lm-* models)."
)
UNKNOWN_ATTRIBUTES = "Unknown user attribute(s) {missing}. The data set's user table has: {columns}."
NEEDS_DATASET = "ProfileScoreLister needs dataset= (and train=) to render user texts for score_texts models."
#: Profile fields shown by default to models that do not say which they read.
DEFAULT_USER_FIELDS = ("age", "gender", "occupation")


def dataset_attribute_values(dataset: Any, attributes: Sequence[str]) -> dict[str, list[str]]:
    """Probe values of the data set's own attributes (numeric ones binned, e.g. ML-1M age groups)."""
    _, values, _ = profile_values(dataset.users, attributes)
    missing = [a for a in attributes if a not in values]
    if missing:
        columns = ", ".join(map(str, dataset.users.columns)) or "(none)"
        raise RecfairError(UNKNOWN_ATTRIBUTES.format(missing=", ".join(missing), columns=columns))
    return {a: list(values[a]) for a in attributes}


def overrides_for(attribute: str | None, value: str) -> dict[str, Any]:
    """Profile overrides of one probe variant (``None`` = neutral token / field left out)."""
    if value == TRUE or attribute is None:
        return {}
    return {attribute: None if value == NEUTRAL_VALUE else value}


def _shown_fields(user_fields: Sequence[str], attribute: str | None, value: str) -> tuple[tuple[str, ...], dict[str, Any]]:
    """Fields rendered and overrides applied: a neutral value leaves the field out of the text."""
    over = overrides_for(attribute, value)
    if over and over.get(attribute) is None:
        return tuple(f for f in user_fields if f != attribute), {}
    return tuple(user_fields), over


class ProfileScoreLister:
    """Lists from a recommender scoring counterfactual profiles (full ranking, seen items excluded).

    Parameters
    ----------
    model:
        A fitted model with ``score_profiles`` or ``score_texts``.
    k:
        List length.
    dataset, train, user_fields, render_kwargs:
        For ``score_texts`` models: the data set whose attribute tables render the
        users (:func:`recfair.data.text.render_users`), the training Dataset whose
        interactions are the users' histories, and the profile fields shown.
    exclude_seen:
        Mask the users' training items.
    """

    def __init__(self, model: Any, k: int, *, dataset: Any = None, train: Any = None,
                 user_fields: Sequence[str] | None = None, exclude_seen: bool = True,
                 render_kwargs: Mapping[str, Any] | None = None) -> None:
        if not (hasattr(model, "score_profiles") or hasattr(model, "score_texts")):
            raise RecfairError(NO_PROFILE_SCORING.format(name=type(model).__name__))
        self.model, self.k, self.dataset = model, k, dataset
        # Render users the way the model was trained to read them (lm-* models store these).
        default = getattr(model, "user_fields_", getattr(model, "user_fields", DEFAULT_USER_FIELDS))
        self.user_fields = tuple(user_fields if user_fields is not None else default)
        self.train = train if getattr(model, "history_in_text", True) else None
        kw: dict[str, Any] = {}
        if hasattr(model, "user_template"):
            kw["template"] = model.user_template
        if hasattr(model, "max_history"):
            kw["max_history"] = model.max_history
        self.render_kwargs = {**kw, **dict(render_kwargs or {})}
        self.render_kwargs_given = bool(render_kwargs)
        self.exclude_seen = exclude_seen

    def _texts(self, users: np.ndarray, attribute: str | None, value: str) -> list[str]:
        from recfair.data.text import render_users

        if self.dataset is None and self.train is None:
            raise RecfairError(NEEDS_DATASET)
        fields, over = _shown_fields(self.user_fields, attribute, value)
        if hasattr(self.model, "render_user_texts") and self.train is not None and not self.render_kwargs_given:
            # the model's own rendering (templates, history budget) over the training interactions
            return self.model.render_user_texts(self.train, users, overrides=over or None, fields=fields)
        return render_users(self.dataset if self.dataset is not None else self.train, users, fields=fields,
                            overrides=over, train=self.train, **self.render_kwargs)

    def __call__(self, units: np.ndarray, attribute: str | None, value: str) -> ProbeLists:
        users = np.asarray(units, dtype=np.int64)
        if hasattr(self.model, "score_profiles"):
            scores = self.model.score_profiles(users, overrides_for(attribute, value))
        else:
            scores = self.model.score_texts(self._texts(users, attribute, value), users)
        seen = getattr(self.model, "seen_", None) if self.exclude_seen else None
        return ProbeLists(rank_scores(users, scores, self.k, seen=None if seen is None else seen[users]))


class PromptLister:
    """Lists from a generative backend; ``prompt_fn(units, attribute, value) -> prompts``.

    The backend's ``generate_report(prompts, k, seen)`` returns ``(Recommendations,
    reports)``.  ``seen_fn(units)`` (optional) gives each unit's already-seen items:
    banned by constrained backends, reported by free-text ones.
    """

    def __init__(self, backend: Any, k: int, prompt_fn: Callable[[np.ndarray, str | None, str], list[str]],
                 seen_fn: Callable[[np.ndarray], list[np.ndarray]] | None = None) -> None:
        self.backend, self.k, self.prompt_fn, self.seen_fn = backend, k, prompt_fn, seen_fn

    def __call__(self, units: np.ndarray, attribute: str | None, value: str) -> ProbeLists:
        prompts = self.prompt_fn(units, attribute, value)
        seen = self.seen_fn(units) if self.seen_fn is not None else None
        recs, reports = self.backend.generate_report(prompts, self.k, seen)
        return ProbeLists(Recommendations(np.asarray(units, dtype=np.int64), recs.items, recs.scores), reports)


def fairllm_prompts(names: Sequence[str], k: int, template: str = FAIRLLM_TEMPLATE) -> Callable[..., list[str]]:
    """``prompt_fn`` of the FaiRLLM probe: ``template`` with ``{value}``, ``{name}``, ``{K}``."""

    def fn(units: np.ndarray, attribute: str | None, value: str) -> list[str]:
        v = FAIRLLM_NEUTRAL if value in (NEUTRAL_VALUE, TRUE) else value
        return [template.format(value=v, name=names[int(u)], K=k) for u in units]

    return fn


def grounded_prompts(dataset: Any, train: Any, k: int, *, user_fields: Sequence[str] = DEFAULT_USER_FIELDS,
                     template: str = GROUNDED_TEMPLATE, **render_kwargs: Any) -> Callable[..., list[str]]:
    """``prompt_fn`` of user-grounded text prompts (profile + recent titles from ``train`` + request)."""
    from recfair.data.text import render_users

    def fn(units: np.ndarray, attribute: str | None, value: str) -> list[str]:
        shown, over = _shown_fields(user_fields, attribute, value)
        users = render_users(dataset, units, fields=shown, overrides=over, train=train, **render_kwargs)
        return [template.format(user=u, K=k) for u in users]

    return fn


def model_prompts(model: Any) -> Callable[..., list[str]]:
    """``prompt_fn`` of a model with ``render_prompts(users, overrides)`` (the built-in generative model)."""

    def fn(units: np.ndarray, attribute: str | None, value: str) -> list[str]:
        return model.render_prompts(np.asarray(units, dtype=np.int64), overrides_for(attribute, value))

    return fn


def seen_items(seen: Any) -> Callable[[np.ndarray], list[np.ndarray]]:
    """``seen_fn`` from a CSR user × item matrix (a fitted model's ``seen_``, or ``train.matrix``)."""

    def fn(units: np.ndarray) -> list[np.ndarray]:
        return [seen.indices[seen.indptr[u] : seen.indptr[u + 1]].astype(np.int64) for u in np.asarray(units, np.int64)]

    return fn
