"""Split protocols: hand-checked fixtures, invariants on synthetic data, ML-100K reference counts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recfair.data import SPLIT_PROTOCOLS, Dataset, fetch, load_dataset, make_split, make_synthetic
from recfair.data import split as S
from recfair.errors import RecfairError


def frame_ds(rows, with_ts=True) -> Dataset:
    df = pd.DataFrame(rows, columns=["user", "item", "timestamp"])
    if not with_ts:
        df = df.drop(columns="timestamp")
    return Dataset.from_frame(df, rating_col=None)


def pairs(ds: Dataset) -> set[tuple[str, str]]:
    return set(zip(ds.user_ids[ds.user], ds.item_ids[ds.item]))


def positions(part: Dataset, full: Dataset) -> np.ndarray:
    """Positions in ``full`` of the part's interactions (pairs are unique in these data)."""
    key = full.user.astype(np.int64) * full.n_items + full.item
    pkey = part.user.astype(np.int64) * full.n_items + part.item
    return pd.Index(key).get_indexer(pkey)


@pytest.fixture(scope="module")
def syn() -> Dataset:
    return make_synthetic(300, 150, 6000, seed=3)


# ------------------------------------------------------------ user-temporal
def test_user_temporal_ties_keep_file_order():
    # user a: timestamps 5,3,3,9,1 → stable order: i4(1) i1(3) i2(3) i0(5) i3(9)
    # user b: four ties at 7 → file order; user c: one interaction
    rows = [("a", f"i{k}", t) for k, t in enumerate([5, 3, 3, 9, 1])]
    rows += [("b", f"j{k}", 7) for k in range(4)] + [("c", "i0", 1)]
    ds = frame_ds(rows)
    sp = make_split(ds, "user-temporal", test_size=0.4)
    # a: floor(0.4·5)=2 → i0, i3;  b: floor(0.4·4)=1 → j3 (last in file order);  c: stays in train
    assert pairs(sp.test) == {("a", "i0"), ("a", "i3"), ("b", "j3")}
    assert pairs(sp.train) == {("a", "i4"), ("a", "i1"), ("a", "i2"), ("b", "j0"), ("b", "j1"), ("b", "j2"),
                               ("c", "i0")}
    assert sp.dropped == {"users_single_interaction": 1}
    assert sp.seed is None and sp.protocol == "user-temporal" and sp.params["order"] == "timestamp"
    # 0.2 of 5 is exactly 1; 0.2 of 4 floors to 0 but at least 1 goes to test
    sp = make_split(ds, "user-temporal", test_size=0.2)
    assert pairs(sp.test) == {("a", "i3"), ("b", "j3")}


def test_user_temporal_floor_tolerance():
    rows = [("a", f"i{k}", k) for k in range(100)]
    sp = make_split(frame_ds(rows), "user-temporal", test_size=0.29)  # 0.29·100 = 28.999… in floating point
    assert sp.test.n_interactions == 29


def test_user_temporal_valid_precedes_test():
    rows = [("a", f"i{k}", k) for k in range(10)] + [("b", f"i{k}", 100 - k) for k in range(5)]
    sp = make_split(frame_ds(rows), "user-temporal", test_size=0.2, valid_size=0.2)
    assert pairs(sp.test) == {("a", "i8"), ("a", "i9"), ("b", "i0")}
    assert pairs(sp.valid) == {("a", "i6"), ("a", "i7"), ("b", "i1")}
    assert sp.train.n_interactions == 15 - 6


def test_without_timestamps_uses_file_order():
    rows = [("a", "x", 0), ("a", "y", 0), ("a", "z", 0)]
    sp = make_split(frame_ds(rows, with_ts=False), "user-temporal", test_size=0.34)
    assert pairs(sp.test) == {("a", "z")} and sp.params["order"] == "file order"


@pytest.mark.skipif(not fetch.have_ml100k(), reason="ML-100K not obtained")
def test_ml100k_reference_protocol():
    ds = load_dataset("ml-100k")
    sp = make_split(ds, "user-temporal", test_size=0.2)
    n_u = ds.user_counts
    assert (sp.test.user_counts > 0).sum() == 943
    assert sp.test.n_interactions == int(np.maximum(1, np.floor(0.2 * n_u)).sum())
    # independent implementation: pandas stable sort + cumcount from the end
    df = pd.DataFrame({"u": ds.user, "i": ds.item, "t": ds.timestamp})
    df = df.sort_values(["u", "t"], kind="stable")
    from_end = df.groupby("u").cumcount(ascending=False)
    take = from_end < np.maximum(1, np.floor(0.2 * df.groupby("u")["i"].transform("size")))
    expected = set(zip(df["u"][take], df["i"][take]))
    assert set(zip(sp.test.user.tolist(), sp.test.item.tolist())) == expected


# ------------------------------------------------------------- invariants
@pytest.mark.parametrize("protocol", SPLIT_PROTOCOLS)
@pytest.mark.parametrize("valid_size", [0.0, 0.1])
def test_parts_disjoint_shared_index_space(syn, protocol, valid_size):
    sp = make_split(syn, protocol, test_size=0.2, valid_size=valid_size, seed=1)
    parts = [p for p in (sp.train, sp.valid, sp.test, sp.history) if p is not None]
    assert (sp.valid is not None) == (valid_size > 0)
    assert (sp.history is not None) == (protocol == "cold-users")
    seen = np.zeros(syn.n_interactions, dtype=int)
    for p in parts:
        assert p.n_users == syn.n_users and p.n_items == syn.n_items
        assert p.user_ids is syn.user_ids and p.item_ids is syn.item_ids
        assert p.users is syn.users and p.items is syn.items
        pos = positions(p, syn)
        assert (pos >= 0).all()
        np.add.at(seen, pos, 1)
    assert seen.max() == 1  # no interaction in two parts
    n_dropped = sum(v for k, v in sp.dropped.items() if k.startswith(("test_", "valid_")))
    assert (seen == 0).sum() == n_dropped  # everything not in a part is a counted drop
    assert sp.test.n_interactions > 0 and sp.train.n_interactions > 0


@pytest.mark.parametrize("protocol", SPLIT_PROTOCOLS)
def test_same_seed_same_split(syn, protocol):
    a = make_split(syn, protocol, seed=7, valid_size=0.1)
    b = make_split(syn, protocol, seed=7, valid_size=0.1)
    for part in ("train", "valid", "test", "history"):
        pa, pb = getattr(a, part), getattr(b, part)
        if pa is None:
            assert pb is None
            continue
        assert np.array_equal(pa.user, pb.user) and np.array_equal(pa.item, pb.item)
    assert a.dropped == b.dropped and a.params == b.params


@pytest.mark.parametrize("protocol", ["random", "cold-users", "cold-items"])
def test_seed_changes_seeded_protocols(syn, protocol):
    a = make_split(syn, protocol, seed=1)
    b = make_split(syn, protocol, seed=2)
    assert pairs(a.test) != pairs(b.test)
    assert a.seed == 1


def test_random_counts_match_user_temporal(syn):
    r = make_split(syn, "random", test_size=0.25, seed=0)
    t = make_split(syn, "user-temporal", test_size=0.25)
    assert np.array_equal(r.test.user_counts, t.test.user_counts)
    assert pairs(r.test) != pairs(t.test)


def test_leave_last():
    rows = [("a", f"i{k}", k) for k in range(5)] + [("b", "x", 1), ("b", "y", 2)] + [("c", "z", 3)]
    sp = make_split(frame_ds(rows), "leave-last", n=2, valid_size=0.1)
    assert pairs(sp.test) == {("a", "i3"), ("a", "i4"), ("b", "y")}
    assert pairs(sp.valid) == {("a", "i1"), ("a", "i2")}
    assert pairs(sp.train) == {("a", "i0"), ("b", "x"), ("c", "z")}
    assert sp.dropped == {"users_single_interaction": 1, "users_with_fewer_test": 2, "users_with_fewer_valid": 2}


def test_global_temporal_hand_case():
    rows = [("a", "x", 1), ("a", "y", 2), ("b", "x", 3), ("b", "y", 4), ("a", "z", 5), ("c", "x", 6),
            ("b", "z", 6), ("a", "w", 7), ("b", "v", 8), ("d", "x", 9)]
    sp = make_split(frame_ds(rows), "global-temporal", test_size=0.4)
    # n=10, floor(0.4·10)=4 → cut at sorted position 6, timestamp 6 (ties at the cut go to test)
    assert sp.params["cut"] == 6
    assert pairs(sp.train) == {("a", "x"), ("a", "y"), ("b", "x"), ("b", "y"), ("a", "z")}
    # test candidates: (c,x) unseen user, (b,z) ok, (a,w) unseen item, (b,v) unseen item, (d,x) unseen user
    assert pairs(sp.test) == {("b", "z")}
    assert sp.dropped == {"test_unseen_user": 2, "test_unseen_item": 2}


def test_global_temporal_time_order(syn):
    sp = make_split(syn, "global-temporal", test_size=0.3, valid_size=0.1)
    assert sp.train.timestamp.max() < sp.valid.timestamp.min() <= sp.valid.timestamp.max() < sp.test.timestamp.min()
    assert set(np.unique(sp.test.user)) <= set(np.unique(sp.train.user))
    assert set(np.unique(sp.test.item)) <= set(np.unique(sp.train.item))


def test_cold_users(syn):
    sp = make_split(syn, "cold-users", test_size=0.2, valid_size=0.1, seed=0, n_history=3)
    test_u, valid_u = set(np.unique(sp.test.user)), set(np.unique(sp.valid.user))
    assert not test_u & set(np.unique(sp.train.user)) and not valid_u & set(np.unique(sp.train.user))
    assert not test_u & valid_u
    assert len(test_u) == round(0.2 * (syn.user_counts > 3).sum()) == sp.params["n_test_users"]
    assert set(np.unique(sp.history.user)) == test_u | valid_u
    assert (sp.history.user_counts[list(test_u)] == 3).all()
    for u in list(test_u)[:20]:  # history is each user's first interactions by time
        hist_t = sp.history.timestamp[sp.history.user == u]
        assert hist_t.max() <= sp.test.timestamp[sp.test.user == u].min()
    rows = [("a", "x", 1), ("a", "y", 2), ("b", "x", 1)] + [("c", f"i{k}", k) for k in range(4)]
    sp = make_split(frame_ds(rows), "cold-users", test_size=0.5, n_history=2)
    assert pairs(sp.history) == {("c", "i0"), ("c", "i1")} and pairs(sp.test) == {("c", "i2"), ("c", "i3")}
    assert sp.dropped == {"users_too_few_interactions": 2}


def test_cold_items(syn):
    sp = make_split(syn, "cold-items", test_size=0.2, valid_size=0.1, seed=0)
    test_i, valid_i = set(np.unique(sp.test.item)), set(np.unique(sp.valid.item))
    assert not test_i & set(np.unique(sp.train.item)) and not valid_i & set(np.unique(sp.train.item))
    assert len(test_i) <= sp.params["n_test_items"] == round(0.2 * (syn.item_counts > 0).sum())
    rows = [("a", "x", 1), ("a", "y", 2), ("b", "y", 3), ("c", "x", 4)]
    ds = frame_ds(rows)
    for seed in range(20):  # find a seed that holds out y: user b then has no training interaction
        sp = make_split(ds, "cold-items", test_size=0.5, seed=seed)
        if ("b", "y") in pairs(ds) - pairs(sp.train):
            break
    assert pairs(sp.test) == {("a", "y")} and sp.dropped == {"test_user_without_train": 1}


# ----------------------------------------------------------------- errors
def test_unknown_protocol(syn):
    with pytest.raises(RecfairError) as e:
        make_split(syn, "temporal")
    assert str(e.value) == S.UNKNOWN_PROTOCOL.format(protocol="temporal", choices=", ".join(SPLIT_PROTOCOLS))


@pytest.mark.parametrize(
    "kw, message",
    [
        ({"test_size": 0.0}, "The 'test_size' parameter of split_user_temporal must be a number strictly between"),
        ({"test_size": 1.5}, "The 'test_size' parameter"),
        ({"valid_size": -0.1}, "The 'valid_size' parameter of split_user_temporal must be a number in [0, 1)"),
        ({"test_size": 0.6, "valid_size": 0.4}, S.SIZES_TOO_LARGE.format(test=0.6, valid=0.4, total=1.0)),
    ],
)
def test_bad_sizes(syn, kw, message):
    with pytest.raises(RecfairError) as e:
        make_split(syn, "user-temporal", **kw)
    assert str(e.value).startswith(message)


def test_bad_counts_and_empty(syn):
    with pytest.raises(RecfairError, match="The 'n' parameter of split_leave_last must be a positive int"):
        make_split(syn, "leave-last", n=0)
    with pytest.raises(RecfairError, match="The 'n_history' parameter of split_cold_users"):
        make_split(syn, "cold-users", n_history=-1)
    with pytest.raises(RecfairError) as e:
        make_split(syn.subset(np.zeros(syn.n_interactions, bool)), "random")
    assert str(e.value) == S.EMPTY_DATASET.format(name=syn.name)


def test_summary(syn):
    s = make_split(syn, "cold-users", valid_size=0.1).summary()
    assert s["protocol"] == "cold-users" and s["train_interactions"] + s["valid_interactions"] + \
        s["test_interactions"] + s["history_interactions"] == syn.n_interactions
