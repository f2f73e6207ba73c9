"""Rendering items and users as text, the input of every large-model recommender.

Items become one line built from a template over any of their attribute columns
(``"{title} ({year}). Genres: {genres}."``).  Users become a profile — one phrase
per attribute field, each field switchable on or off, which is what the
counterfactual audit flips — followed by a recency-ordered list of the titles
they interacted with, truncated to a budget of titles and characters.

Templates are plain ``str.format`` strings restricted to named fields; anything
else (``{0}``, ``{x.attr}``, ``{x[0]}``) is rejected with a :class:`RecfairError`
so a template read from a config file can never reach object attributes.

Examples
--------
>>> import pandas as pd
>>> from recfair.data import Dataset
>>> ds = Dataset.from_frame(
...     pd.DataFrame({"user": ["u"], "item": ["m"], "timestamp": [1]}),
...     users=pd.DataFrame({"user": ["u"], "age": [24], "gender": ["F"], "occupation": ["writer"]}),
...     items=pd.DataFrame({"item": ["m"], "title": ["Heat"], "year": [1995.0], "genres": [("Action",)]}),
... )
>>> render_items(ds)
['Heat (1995). Genres: Action.']
>>> render_users(ds, [0], train=ds)
['User: 24 years old, female, writer. Recently watched: Heat.']
>>> render_users(ds, [0], fields=())
['User.']
>>> render_users(ds, [0], fields=(), overrides={"gender": "M"})
['User: male.']
"""

from __future__ import annotations

import string
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from recfair.errors import RecfairError

DEFAULT_ITEM_TEMPLATE = "{title} ({year}). Genres: {genres}."
#: Whole user text; ``{profile}`` is the joined field phrases, ``{history}`` the rendered history part.
DEFAULT_USER_TEMPLATE = "User{profile}.{history}"
#: How the profile phrases are joined into ``{profile}`` (empty when no field is shown).
DEFAULT_PROFILE_TEMPLATE = ": {fields}"
#: The history part; empty when the user has no history.
DEFAULT_HISTORY_TEMPLATE = " Recently watched: {titles}."
DEFAULT_USER_FIELDS = ("age", "gender", "occupation")
DEFAULT_FIELD_TEMPLATES: dict[str, str] = {
    "age": "{age} years old",
    "gender": "{gender}",
    "occupation": "{occupation}",
}
DEFAULT_VALUE_MAPS: dict[str, dict[str, str]] = {"gender": {"M": "male", "F": "female"}}
DEFAULT_MAX_HISTORY = 20
DEFAULT_MAX_CHARS = 600
MISSING = "unknown"
TITLE_SEPARATOR = "; "

BAD_TEMPLATE = "Template {template!r} may only use named fields among {{{allowed}}}; found {found!r}."
UNKNOWN_FIELD = "Unknown user field '{field}'. The user table has: {available}."
BAD_OVERRIDE = "Override for '{field}' must be one value or one per user ({n}); got {m} values."


def template_fields(template: str, allowed: Sequence[str], *, required: Sequence[str] = ()) -> list[str]:
    """Named fields of ``template``; raise :class:`RecfairError` for anything else."""
    if not isinstance(template, str):
        raise RecfairError(f"A template must be a string; got {type(template).__name__}.")
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise RecfairError(f"Template {template!r} is not a valid format string ({exc}).") from None
    names = []
    for _, name, spec, conv in parsed:
        if name is None:
            continue
        if name not in allowed or conv or spec:
            raise RecfairError(BAD_TEMPLATE.format(template=template, allowed=", ".join(allowed), found=name))
        names.append(name)
    for r in required:
        if r not in names:
            raise RecfairError(f"Template {template!r} must contain {{{r}}}.")
    return names


def _value_text(value: Any) -> str | None:
    """Readable text of one attribute value; ``None`` when missing."""
    if isinstance(value, (tuple, list, np.ndarray)):
        return ", ".join(str(v) for v in value) if len(value) else None
    if value is None or pd.isna(value):
        return None
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    text = str(value)
    return text if text and text.lower() != "nan" else None


def render_items(dataset, template: str = DEFAULT_ITEM_TEMPLATE) -> list[str]:
    """One text per item of ``dataset`` (all ``n_items``, in index order).

    ``template`` may name any column of ``dataset.items`` plus ``id`` (the raw
    item id).  Missing values render as ``"unknown"``; multi-valued columns
    (genres) are joined with ``", "``.
    """
    cols = list(dataset.items.columns)
    names = template_fields(template, cols + ["id"])
    data = {c: dataset.items[c].to_numpy(dtype=object) for c in set(names) if c != "id"}
    ids = dataset.item_ids
    out = []
    for j in range(dataset.n_items):
        values = {c: (_value_text(v[j]) or MISSING) for c, v in data.items()}
        if "id" in names:
            values["id"] = str(ids[j])
        out.append(template.format(**values))
    return out


def item_titles(dataset) -> list[str]:
    """Title of each item (the raw id where the item table has no title)."""
    if "title" in dataset.items.columns:
        titles = dataset.items["title"].to_numpy(dtype=object)
        return [(_value_text(t) or str(i)) for t, i in zip(titles, dataset.item_ids)]
    return [str(i) for i in dataset.item_ids]


def profile_phrases(
    dataset,
    users: Sequence[int] | np.ndarray,
    *,
    fields: Sequence[str] = DEFAULT_USER_FIELDS,
    overrides: Mapping[str, Any] | None = None,
    field_templates: Mapping[str, str] | None = None,
    value_maps: Mapping[str, Mapping[str, str]] | None = None,
) -> list[list[str]]:
    """Per user, the list of profile phrases (``["24 years old", "female", "writer"]``).

    Fields shown are ``fields`` in order, then any ``overrides`` key not among
    them.  ``overrides`` maps a field to one value for every user or to one value
    per user; the value replaces the user's own before ``value_maps`` apply (so
    ``{"gender": "F"}`` renders as ``female``; an unmapped value such as
    ``"a girl"`` is used verbatim).  Missing values drop the phrase.
    """
    users = np.asarray(users, dtype=np.int64).ravel()
    overrides = dict(overrides or {})
    shown = list(dict.fromkeys(list(fields) + list(overrides)))
    templates = {**DEFAULT_FIELD_TEMPLATES, **(field_templates or {})}
    maps = {**DEFAULT_VALUE_MAPS, **(value_maps or {})}
    columns: dict[str, np.ndarray] = {}
    for f in shown:
        if f in overrides:
            v = overrides[f]
            if isinstance(v, (list, tuple, np.ndarray)) and not isinstance(v, str):
                if len(v) != len(users):
                    raise RecfairError(BAD_OVERRIDE.format(field=f, n=len(users), m=len(v)))
                columns[f] = np.asarray(list(v), dtype=object)
            else:
                columns[f] = np.full(len(users), v, dtype=object)
        elif f in dataset.users.columns:
            columns[f] = dataset.users[f].to_numpy(dtype=object)[users]
        else:
            raise RecfairError(UNKNOWN_FIELD.format(field=f, available=", ".join(map(str, dataset.users.columns)) or "(none)"))
        template_fields(templates.get(f, "{" + f + "}"), [f])
    out: list[list[str]] = [[] for _ in range(len(users))]
    for f in shown:
        tpl = templates.get(f, "{" + f + "}")
        fmap = maps.get(f, {})
        for r, v in enumerate(columns[f]):
            text = _value_text(v)
            if text is None:
                continue
            out[r].append(tpl.format(**{f: fmap.get(text, text)}))
    return out


def phrases_from_values(values: Mapping[str, Any], fields: Sequence[str], **kwargs) -> list[str]:
    """Profile phrases of one user given as ``{field: value}`` (a user outside any data set).

    Same templates and value maps as :func:`profile_phrases`; fields missing from
    ``values`` drop their phrase.
    """
    import types

    row = pd.DataFrame([{f: values.get(f) for f in fields}], columns=list(fields))
    return profile_phrases(types.SimpleNamespace(users=row), [0], fields=fields, **kwargs)[0]


def recency_histories(history, users: Sequence[int] | np.ndarray) -> list[np.ndarray]:
    """Items of each user in ``history``, most recent first.

    Order: by timestamp descending, ties (and data without timestamps) by
    position descending, i.e. the later record first.
    """
    users = np.asarray(users, dtype=np.int64).ravel()
    n = history.n_interactions
    pos = np.arange(n)
    ts = history.timestamp if history.timestamp is not None else np.zeros(n, dtype=np.int64)
    order = np.lexsort((-pos, -ts, history.user))
    u_sorted = history.user[order]
    starts = np.searchsorted(u_sorted, users, side="left")
    ends = np.searchsorted(u_sorted, users, side="right")
    items = history.item[order]
    return [items[s:e] for s, e in zip(starts, ends)]


def format_user(
    phrases: Sequence[str],
    titles: Sequence[str],
    *,
    template: str = DEFAULT_USER_TEMPLATE,
    profile_template: str = DEFAULT_PROFILE_TEMPLATE,
    history_template: str = DEFAULT_HISTORY_TEMPLATE,
    max_history: int = DEFAULT_MAX_HISTORY,
    max_chars: int = DEFAULT_MAX_CHARS,
    length_fn: Callable[[str], int] = len,
) -> str:
    """Assemble one user text from profile phrases and recency-ordered titles.

    Titles are added most recent first while there are fewer than
    ``max_history`` of them and ``length_fn`` of the joined titles stays within
    ``max_chars`` (pass a tokenizer's length as ``length_fn`` for a token budget).
    """
    profile = profile_template.format(fields=", ".join(phrases)) if phrases else ""
    kept: list[str] = []
    used = 0
    for t in titles[:max_history]:
        extra = length_fn(t) + (length_fn(TITLE_SEPARATOR) if kept else 0)
        if used + extra > max_chars:
            break
        kept.append(t)
        used += extra
    history = history_template.format(titles=TITLE_SEPARATOR.join(kept)) if kept else ""
    return template.format(profile=profile, history=history)


def check_user_templates(template: str, profile_template: str, history_template: str) -> None:
    """Validate the three user templates (raise :class:`RecfairError`)."""
    template_fields(template, ["profile", "history"], required=["profile"])
    template_fields(profile_template, ["fields"], required=["fields"])
    template_fields(history_template, ["titles"], required=["titles"])


def render_users(
    dataset,
    users: Sequence[int] | np.ndarray,
    *,
    fields: Sequence[str] = DEFAULT_USER_FIELDS,
    overrides: Mapping[str, Any] | None = None,
    train=None,
    max_history: int = DEFAULT_MAX_HISTORY,
    max_chars: int = DEFAULT_MAX_CHARS,
    template: str = DEFAULT_USER_TEMPLATE,
    profile_template: str = DEFAULT_PROFILE_TEMPLATE,
    history_template: str = DEFAULT_HISTORY_TEMPLATE,
    field_templates: Mapping[str, str] | None = None,
    value_maps: Mapping[str, Mapping[str, str]] | None = None,
    length_fn: Callable[[str], int] = len,
) -> list[str]:
    """One text per user: profile phrases, then the recent titles of each user's history in ``train``.

    Parameters
    ----------
    dataset:
        Supplies the user and item attribute tables.
    users:
        User indices.
    fields:
        Profile fields shown, in order; ``()`` gives the neutral profile.
    overrides:
        Counterfactual values, e.g. ``{"gender": "F"}`` (see :func:`profile_phrases`).
    train:
        A Dataset in the same index space whose interactions are the users'
        histories (usually the training set); ``None`` renders profiles only.
    max_history, max_chars, length_fn:
        History budget (titles, and characters — or tokens via ``length_fn``).
    template, profile_template, history_template, field_templates, value_maps:
        The text templates (see the module constants for the defaults).
    """
    check_user_templates(template, profile_template, history_template)
    users = np.asarray(users, dtype=np.int64).ravel()
    phrases = profile_phrases(
        dataset, users, fields=fields, overrides=overrides, field_templates=field_templates, value_maps=value_maps
    )
    if train is not None:
        titles = item_titles(dataset)
        hists = recency_histories(train, users)
    out = []
    for r in range(len(users)):
        t = [titles[j] for j in hists[r][:max_history]] if train is not None else []
        out.append(
            format_user(
                phrases[r], t, template=template, profile_template=profile_template,
                history_template=history_template, max_history=max_history, max_chars=max_chars, length_fn=length_fn,
            )
        )
    return out
