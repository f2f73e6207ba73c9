"""Rendering items and users as text (recfair.data.text)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recfair.data.dataset import Dataset
from recfair.data.text import (
    BAD_OVERRIDE,
    BAD_TEMPLATE,
    UNKNOWN_FIELD,
    format_user,
    recency_histories,
    render_items,
    render_users,
)
from recfair.errors import RecfairError


@pytest.fixture(scope="module")
def small():
    users = pd.DataFrame({"user": ["a", "b"], "age": [24, 61], "gender": ["F", "M"], "occupation": ["writer", None]})
    items = pd.DataFrame({
        "item": ["x", "y", "z"],
        "title": ["Heat", "Fargo", "Alien"],
        "year": [1995.0, np.nan, 1979.0],
        "genres": [("Action", "Crime"), ("Crime",), ()],
    })
    # user a: x at t=5, z at t=1, y at t=5 (later in file than x ⇒ more recent on a tie)
    inter = pd.DataFrame({"user": ["a", "a", "b", "a"], "item": ["x", "z", "x", "y"], "timestamp": [5, 1, 3, 5]})
    return Dataset.from_frame(inter, users=users, items=items)


def test_render_items_default_template_and_missing_values(small):
    assert render_items(small) == [
        "Heat (1995). Genres: Action, Crime.",
        "Fargo (unknown). Genres: Crime.",
        "Alien (1979). Genres: unknown.",
    ]


def test_render_items_custom_template_any_column(small):
    assert render_items(small, template="[{id}] {title}")[1] == "[y] Fargo"


@pytest.mark.parametrize("template, bad", [("{title.upper}", "title.upper"), ("{0}", "0"), ("{plot}", "plot"),
                                           ("{title!r}", "title")])
def test_templates_only_take_named_columns(small, template, bad):
    with pytest.raises(RecfairError) as err:
        render_items(small, template=template)
    allowed = ", ".join(list(small.items.columns) + ["id"])
    assert str(err.value) == BAD_TEMPLATE.format(template=template, allowed=allowed, found=bad)


def test_recency_order_breaks_ties_by_later_record(small):
    hist = recency_histories(small, [0, 1])
    assert hist[0].tolist() == [1, 0, 2]  # y (t=5, later row), x (t=5), z (t=1)
    assert hist[1].tolist() == [0]


def test_true_neutral_and_counterfactual_profiles(small):
    true = render_users(small, [0, 1])
    assert true == ["User: 24 years old, female, writer.", "User: 61 years old, male."]  # missing occupation dropped
    assert render_users(small, [0, 1], fields=()) == ["User.", "User."]
    cf = render_users(small, [0, 1], overrides={"gender": "F"})
    assert cf == ["User: 24 years old, female, writer.", "User: 61 years old, female."]
    only = render_users(small, [0], fields=(), overrides={"gender": "a girl"})
    assert only == ["User: a girl."]  # unmapped values are used verbatim; override fields are shown
    per_user = render_users(small, [0, 1], fields=("age",), overrides={"age": [30, 40]})
    assert per_user == ["User: 30 years old.", "User: 40 years old."]


def test_history_is_recent_first_and_truncated(small):
    full = render_users(small, [0], fields=("gender",), train=small)
    assert full == ["User: female. Recently watched: Fargo; Heat; Alien."]
    assert render_users(small, [0], fields=("gender",), train=small, max_history=2) == [
        "User: female. Recently watched: Fargo; Heat."
    ]
    # character budget: "Fargo" (5) + "; Heat" (6) = 11 fits in 12, "; Alien" does not
    assert render_users(small, [0], fields=(), train=small, max_chars=12) == ["User. Recently watched: Fargo; Heat."]
    assert render_users(small, [0], fields=(), train=small, max_chars=3) == ["User."]
    words = lambda s: len(s.split())  # noqa: E731 - a token counter stand-in
    assert format_user([], ["A B C", "D"], max_chars=5, length_fn=words) == "User. Recently watched: A B C; D."
    assert format_user([], ["A B C", "D"], max_chars=4, length_fn=words) == "User. Recently watched: A B C."


def test_custom_user_templates(small):
    out = render_users(small, [1], train=small, template="{history} | {profile}", fields=("age",))
    assert out == [" Recently watched: Heat. | : 61 years old"]


def test_bad_fields_and_overrides_are_clear(small):
    with pytest.raises(RecfairError) as err:
        render_users(small, [0], fields=("country",))
    assert str(err.value) == UNKNOWN_FIELD.format(field="country", available="age, gender, occupation")
    with pytest.raises(RecfairError) as err:
        render_users(small, [0, 1], overrides={"age": [1, 2, 3]})
    assert str(err.value) == BAD_OVERRIDE.format(field="age", n=2, m=3)
    with pytest.raises(RecfairError, match="must contain"):
        render_users(small, [0], template="{history}")
