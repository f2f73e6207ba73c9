"""Property tests: bounds, invariance to user order, invariance to a relabelling of item ids."""

import warnings

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from recfair.data.dataset import Dataset
from recfair.data.split import Split
from recfair.fairness.audit import audit
from recfair.fairness.groups import Grouping
from recfair.fairness.user import SmallGroupWarning, audit_users
from recfair.recommendations import PAD, Recommendations

SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
N_PERM = 40


@st.composite
def per_user_case(draw):
    n = draw(st.integers(2, 40))
    n_groups = draw(st.integers(1, 4))
    values = draw(st.lists(st.one_of(st.floats(0, 1), st.just(np.nan)), min_size=n, max_size=n))
    codes = draw(st.lists(st.integers(-1, n_groups - 1), min_size=n, max_size=n))
    seed = draw(st.integers(0, 2**16))
    return pd.DataFrame({"m": values}), Grouping.from_codes("a", [f"g{i}" for i in range(n_groups)], codes), seed


def run(per_user, grouping, seed):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SmallGroupWarning)
        return audit_users(per_user, grouping, n_bootstrap=50, n_permutations=N_PERM, seed=seed)


@SETTINGS
@given(per_user_case())
def test_results_stay_in_bounds(case):
    per_user, grouping, seed = case
    res = run(per_user, grouping, seed)
    codes = grouping.codes
    v = per_user["m"].to_numpy()
    for _, r in res.groups.iterrows():
        vals = v[(codes == grouping.labels.index(r["group"])) & ~np.isnan(v)]
        assert r["n"] == vals.size
        if vals.size:
            assert vals.min() - 1e-12 <= r["value"] <= vals.max() + 1e-12
        if vals.size >= 2:
            assert vals.min() - 1e-12 <= r["ci_low"] <= r["ci_high"] <= vals.max() + 1e-12
        else:
            assert np.isnan(r["ci_low"]) and np.isnan(r["ci_high"])
    gap = res.gaps.iloc[0]
    if gap["n_groups"] >= 2:
        assert 0 <= gap["gap"] <= 1 + 1e-12
        assert gap["gap_ci_low"] <= gap["gap_ci_high"]
        assert np.isnan(gap["ratio"]) or 0 <= gap["ratio"] <= 1 + 1e-12
        assert 1 / (1 + N_PERM) - 1e-12 <= gap["p_value"] <= 1
    else:
        assert np.isnan(gap["gap"]) and np.isnan(gap["p_value"])


@SETTINGS
@given(per_user_case(), st.randoms(use_true_random=False))
def test_group_results_do_not_depend_on_user_order(case, rnd):
    per_user, grouping, seed = case
    order = list(range(len(per_user)))
    rnd.shuffle(order)
    shuffled = per_user.iloc[order]
    a, b = run(per_user, grouping, seed), run(shuffled, grouping, seed)
    pd.testing.assert_frame_equal(a.groups, b.groups)
    pd.testing.assert_frame_equal(a.gaps, b.gaps)


# ------------------------------------------------- item relabelling, whole pipeline
@st.composite
def split_case(draw):
    n_users = draw(st.integers(3, 8))
    n_items = draw(st.integers(4, 9))
    cells = draw(st.lists(st.sampled_from(["", "train", "test"]), min_size=n_users * n_items,
                          max_size=n_users * n_items))
    genres = draw(st.lists(st.lists(st.sampled_from("ABC"), max_size=2, unique=True),
                           min_size=n_items, max_size=n_items))
    gender = draw(st.lists(st.sampled_from(["F", "M"]), min_size=n_users, max_size=n_users))
    k = draw(st.integers(1, 4))
    lists = [draw(st.lists(st.integers(0, n_items - 1), max_size=k, unique=True)) for _ in range(n_users)]
    perm = draw(st.permutations(range(n_items)))
    return n_users, n_items, cells, genres, gender, k, lists, np.asarray(perm)


def build(n_users, n_items, cells, genres, gender, k, lists, perm):
    """The case with item j renamed to perm[j] everywhere (data, attribute table, lists)."""
    grid = np.asarray(cells, dtype=object).reshape(n_users, n_items)
    inv = np.argsort(perm)
    items_table = pd.DataFrame({"genres": [tuple(genres[j]) for j in inv]})
    users_table = pd.DataFrame({"gender": gender})

    def part(label):
        u, i = np.nonzero(grid == label)
        return u, perm[i]

    def ds(u, i):
        return Dataset(u, i, None, None, np.array([f"u{x}" for x in range(n_users)], dtype=object),
                       np.array([f"i{x}" for x in inv], dtype=object), users_table, items_table)

    train, test = ds(*part("train")), ds(*part("test"))
    items = np.full((n_users, k), PAD, dtype=np.int32)
    for r, lst in enumerate(lists):
        items[r, : len(lst)] = perm[np.asarray(lst, dtype=int)] if lst else []
    scores = np.where(items == PAD, np.nan, 1.0)
    split = Split(train=train, test=test, valid=None, history=None, protocol="hand", seed=0)
    return split, Recommendations(np.arange(n_users), items, scores)


@SETTINGS
@given(split_case())
def test_permuting_item_ids_leaves_results_unchanged(case):
    *parts, perm = case
    n_users, n_items, cells, genres, gender, k, lists = parts
    if "train" not in cells or "test" not in cells:
        return
    a_split, a_recs = build(*parts, np.arange(n_items))
    b_split, b_recs = build(*parts, perm)
    kw = dict(groups="gender,activity", item_groups="popularity,tiers,genres", k=k, n_bootstrap=30,
              n_permutations=30, seed=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a, b = audit(a_recs, a_split, **kw), audit(b_recs, b_split, **kw)
    for name in ("user_groups", "user_gaps", "item_groups", "item_fairness", "item_metrics"):
        pd.testing.assert_frame_equal(a.tables[name], b.tables[name], check_exact=False, rtol=1e-9, atol=1e-12)
