import numpy as np
import pandas as pd
import pytest

from recfair.data.dataset import Dataset
from recfair.errors import RecfairError
from recfair.fairness import groups as G
from recfair.fairness.groups import AGE_LABELS, GroupSpec, Grouping, parse_groups, parse_item_groups


def users_dataset(attrs: dict, counts=None) -> Dataset:
    """A dataset whose users table is ``attrs``; user i has ``counts[i]`` interactions (default 1)."""
    n = len(next(iter(attrs.values())))
    counts = [1] * n if counts is None else counts
    pairs = [(u, j) for u, c in enumerate(counts) for j in range(c)]
    inter = pd.DataFrame({"user": [f"u{u}" for u, _ in pairs], "item": [f"i{j}" for _, j in pairs]})
    users = pd.DataFrame({"user": [f"u{u}" for u in range(n)], **attrs})
    return Dataset.from_frame(inter, users=users)


def test_categorical_sorted_labels_and_missing_values_get_no_group():
    ds = users_dataset({"gender": ["M", "F", None, "F", ""]})
    g = GroupSpec.categorical("gender").assign(ds)
    assert g.labels == ("F", "M") and g.attribute == "gender"
    np.testing.assert_array_equal(g.codes, [1, 0, -1, 0, -1])
    np.testing.assert_array_equal(g.sizes, [2, 1])
    assert g.exclusive


def test_age_bins_follow_metrics_md_edges():
    ages = [17, 18, 24, 25, 34, 35, 44, 45, 49, 50, 55, 56, 73, 1, 0, np.nan]
    g = GroupSpec.age().assign(users_dataset({"age": ages}))
    assert g.labels == AGE_LABELS
    np.testing.assert_array_equal(g.codes, [0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 0, -1, -1])


def test_custom_edges_and_labels():
    ds = users_dataset({"age": [10, 29, 30, 80]})
    g = parse_groups("age[1,30]")[0].assign(ds)
    assert g.attribute == "age[1,30]" and g.labels == ("1-29", "30+")
    np.testing.assert_array_equal(g.codes, [0, 0, 1, 1])
    frac = GroupSpec.binned("score", [0.5, 1.5]).labels
    assert frac == ("[0.5,1.5)", "1.5+")
    named = GroupSpec.binned("age", [0, 40], labels=["young", "old"]).assign(ds)
    assert named.labels == ("young", "old")
    np.testing.assert_array_equal(named.codes, [0, 0, 0, 1])


def test_activity_top_share_from_training_counts_with_ties_kept_together():
    # 20 users; counts 10, 9, 9, 1, ... → top 5% = ceil(1) user = the one with 10.
    counts = [10, 9, 9] + [1] * 17
    ds = users_dataset({"gender": ["F"] * 20}, counts)
    g = GroupSpec.activity().assign(ds)
    assert g.labels == ("top5%", "rest") and g.attribute == "activity"
    np.testing.assert_array_equal(np.flatnonzero(g.codes == 0), [0])
    # top 10% = 2 users; the 2nd most active has 9 and ties with the 3rd → both are in.
    g10 = parse_groups("activity[10]")[0].assign(ds)
    assert g10.attribute == "activity10" and g10.labels[0] == "top10%"
    np.testing.assert_array_equal(np.flatnonzero(g10.codes == 0), [0, 1, 2])


def test_activity_counts_users_without_interactions_as_rest():
    ds = users_dataset({"x": ["a"] * 4}, [3, 1, 1, 1])
    empty_user = ds.with_interactions(ds.user[:3], ds.item[:3])  # user 0 keeps 3, others 0
    g = GroupSpec.activity(0.25).assign(empty_user)
    np.testing.assert_array_equal(g.codes, [0, 1, 1, 1])


def test_intersection_labels_codes_and_missing_parts():
    ds = users_dataset({"gender": ["F", "M", "F", None], "age": [20, 30, np.nan, 40]})
    g = parse_groups("gender*age")[0].assign(ds)
    assert g.attribute == "gender*age"
    assert g.labels[:2] == ("F|1-17", "F|18-24") and len(g.labels) == 14
    assert g.labels[g.codes[0]] == "F|18-24" and g.labels[g.codes[1]] == "M|25-34"
    assert g.codes[2] == -1 and g.codes[3] == -1


def test_multi_valued_genres_item_belongs_to_every_genre(tiny):
    split, _ = tiny
    g = GroupSpec.categorical("genres").assign(split.train, "item")
    assert g.labels == ("Action", "Comedy", "Drama")
    expected = np.array([[1, 0, 0], [1, 1, 0], [0, 1, 0], [0, 0, 0], [0, 0, 1], [1, 0, 1]], dtype=bool)
    np.testing.assert_array_equal(g.membership, expected)
    assert not g.exclusive
    with pytest.raises(RecfairError, match="multi-valued"):
        g.codes


def test_popularity_tiers_and_year_bins(tiny):
    split, _ = tiny
    pop = GroupSpec.popularity().assign(split.train, "item")
    assert pop.labels == ("head", "tail")
    np.testing.assert_array_equal(pop.codes, [0, 0, 1, 1, 1, 1])
    tiers = GroupSpec.tiers().assign(split.train, "item")
    assert tiers.labels == ("head", "mid", "tail")
    # pop 4,2,1,0,0,0 of 7: head reaches 20% with i0 alone; head+mid reach 80% with i0,i1
    np.testing.assert_array_equal(tiers.codes, [0, 1, 2, 2, 2, 2])
    year = GroupSpec.year().assign(split.train, "item")
    np.testing.assert_array_equal(year.codes, [0, 1, 2, 3, -1, 3])


def test_parser_names_and_kinds():
    specs = parse_groups("gender, age,activity,activity[20],gender*age,occupation,age[1,18]")
    assert [s.name for s in specs] == ["gender", "age", "activity", "activity20", "gender*age", "occupation",
                                       "age[1,18]"]
    assert [s.kind for s in specs] == ["categorical", "binned", "activity", "activity", "intersection",
                                       "categorical", "binned"]
    assert specs[3].top == pytest.approx(0.2)
    items = parse_item_groups("popularity,tiers[10,30],genres,year")
    assert [s.name for s in items] == ["popularity", "tiers10-30", "genres", "year"]
    assert parse_groups(["gender", GroupSpec.activity(0.2)])[1].name == "activity20"


def test_parser_and_assignment_errors_use_the_message_constants():
    with pytest.raises(RecfairError) as e:
        parse_groups("age[a,b]")
    assert str(e.value) == G.BAD_SPEC.format(spec="age[a,b]")
    with pytest.raises(RecfairError) as e:
        parse_groups("age[30,10]")
    assert str(e.value) == G.BAD_EDGES.format(column="age", edges=[30.0, 10.0])
    ds = users_dataset({"gender": ["F", "M"], "score": [1.5, 2.5]})
    with pytest.raises(RecfairError) as e:
        GroupSpec.categorical("country").assign(ds)
    assert str(e.value) == G.UNKNOWN_COLUMN.format(side="user", column="country", columns=["gender", "score"])
    with pytest.raises(RecfairError) as e:
        GroupSpec.popularity().assign(ds, "user")
    assert str(e.value) == G.ITEM_ONLY.format(kind="popularity")
    with pytest.raises(RecfairError) as e:
        GroupSpec.activity().assign(ds, "item")
    assert str(e.value) == G.USER_ONLY.format(kind="activity")
    many = users_dataset({"score": list(range(G.MAX_CATEGORIES + 1))})
    with pytest.raises(RecfairError) as e:
        GroupSpec.categorical("score").assign(many)
    assert str(e.value) == G.TOO_MANY_VALUES.format(side="user", column="score", n=G.MAX_CATEGORIES + 1,
                                                    max=G.MAX_CATEGORIES)


def test_small_numeric_column_is_categorical():
    ds = users_dataset({"occupation": [3, 1, 3, np.nan]})
    g = GroupSpec.categorical("occupation").assign(ds)
    assert g.labels == ("1", "3")
    np.testing.assert_array_equal(g.codes, [1, 0, 1, -1])


def test_grouping_from_codes_roundtrip():
    g = Grouping.from_codes("x", ["a", "b", "c"], [2, -1, 0, 2])
    np.testing.assert_array_equal(g.codes, [2, -1, 0, 2])
    np.testing.assert_array_equal(g.sizes, [1, 0, 2])


def test_documented_activity_specs_parse_and_the_at_form_is_refused():
    import re
    from pathlib import Path

    import recfair

    assert parse_groups("activity[20]") == [GroupSpec.activity(0.2)]
    with pytest.raises(RecfairError) as e:
        parse_groups("activity@0.05")
    assert str(e.value) == G.BAD_SPEC.format(spec="activity@0.05")
    # no doc or docstring shows a group spec the grammar rejects
    root = Path(recfair.__file__).parents[2]
    texts = [p.read_text() for p in [*root.glob("docs/*.md"), *Path(recfair.__file__).parent.rglob("*.py")]]
    assert not [m for t in texts for m in re.findall(r"\bactivity@[\d.]+", t)]
