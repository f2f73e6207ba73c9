"""The synthetic generator: exact sizes, determinism, planted structure and group gap."""

from __future__ import annotations

import hashlib
import inspect

import numpy as np
import pytest

from recfair.data import make_split, make_synthetic
from recfair.data import synthetic as SY
from recfair.errors import RecfairError


def hit_rates(split, k: int = 10):
    """Per-user hit@k of a cosine item-kNN and of popularity (both excluding seen items), in numpy."""
    X = split.train.matrix.toarray()
    T = split.test.matrix.toarray() > 0
    norms = np.sqrt(X.sum(0)) + 1e-9
    sim = (X.T @ X) / norms[:, None] / norms[None, :]
    np.fill_diagonal(sim, 0)
    out = {}
    for name, scores in (("knn", X @ sim), ("pop", np.tile(X.sum(0), (len(X), 1)))):
        scores = scores.astype(float)
        scores[X > 0] = -np.inf
        top = np.argsort(-scores, axis=1, kind="stable")[:, :k]
        out[name] = T[np.arange(len(T))[:, None], top].any(1)
    return out, T.any(1)


def test_sizes_types_and_tables():
    ds = make_synthetic(200, 80, 3000, n_item_groups=4, seed=0)
    assert (ds.n_users, ds.n_items, ds.n_interactions) == (200, 80, 3000)
    key = ds.user.astype(np.int64) * ds.n_items + ds.item
    assert len(np.unique(key)) == 3000  # no duplicate pairs
    assert (ds.user_counts >= 1).all()
    assert ds.rating.dtype == np.float32 and set(np.unique(ds.rating)) <= {1.0, 2.0, 3.0, 4.0, 5.0}
    assert ds.timestamp.dtype == np.int64
    same_user = np.diff(ds.user) == 0
    assert (np.diff(ds.user) >= 0).all() and (np.diff(ds.timestamp)[same_user] > 0).all()
    assert list(ds.users.columns) == ["group", "gender", "age"]
    assert (ds.users["group"] == "minority").sum() == 60
    assert ((ds.users["group"] == "minority") == (ds.users["gender"] == "F")).all()
    assert ds.users["age"].between(18, 65).all() and ds.users["age"].dtype == np.int64
    assert list(ds.items.columns) == ["group", "title", "year", "genres"]
    assert set(ds.items["group"]) == {"g0", "g1", "g2", "g3"} and (ds.items["group"].value_counts() == 20).all()
    j, g = 17, ds.items["group"].iloc[17]
    assert ds.items["title"].iloc[j] == f"Item {j} ({g})"
    assert all(isinstance(x, tuple) and x[0] == f"genre{g[1:]}" for x, g in zip(ds.items["genres"], ds.items["group"]))
    assert ds.items["year"].dtype == np.float64
    assert ds.user_ids[0] == "u0" and ds.item_ids[5] == "i5"


def test_deterministic_per_seed():
    a, b, c = (make_synthetic(150, 60, 2000, seed=s) for s in (4, 4, 5))
    for attr in ("user", "item", "rating", "timestamp"):
        assert np.array_equal(getattr(a, attr), getattr(b, attr))
    assert a.users.equals(b.users) and a.items.equals(b.items)
    assert not np.array_equal(a.item, c.item)


def test_dense_corner_case_is_exact():
    ds = make_synthetic(20, 10, 190, seed=1)  # 95% dense: users near the whole catalogue
    key = ds.user.astype(np.int64) * 10 + ds.item
    assert ds.n_interactions == 190 == len(np.unique(key)) and ds.user_counts.max() <= 10


def test_activity_and_popularity_skew():
    ds = make_synthetic(2000, 400, 40000, minority_activity=0.25, minority_noise=0.0, seed=2)
    minority = (ds.users["group"] == "minority").to_numpy()
    ratio = ds.user_counts[minority].mean() / ds.user_counts[~minority].mean()
    assert 0.18 < ratio < 0.33  # planted 0.25 (log-normal activity, sampling noise)
    skewed = np.sort(ds.item_counts)[::-1]
    flat = np.sort(make_synthetic(2000, 400, 40000, zipf=0.0, seed=2).item_counts)[::-1]
    top = lambda c: c[:40].sum() / c.sum()  # noqa: E731  share of the top 10% items
    assert top(skewed) > 0.3 and top(flat) < 0.2  # measured 0.35 and 0.16 (affinity adds some concentration)


def test_planted_gap_and_no_gap_without_it():
    for seed in (0, 1):
        gaps = {}
        for label, kw in (("planted", {}), ("null", dict(minority_activity=1.0, minority_noise=0.0))):
            ds = make_synthetic(600, 300, 15000, seed=seed, **kw)
            sp = make_split(ds, "user-temporal", test_size=0.2)
            hits, has = hit_rates(sp)
            minority = (ds.users["group"] == "minority").to_numpy()
            knn = hits["knn"]
            gaps[label] = knn[has & ~minority].mean() - knn[has & minority].mean()
            if label == "null":  # the latent preferences are learnable: kNN beats popularity
                assert knn[has].mean() > hits["pop"][has].mean() + 0.1
        assert gaps["planted"] > 0.2, gaps
        assert abs(gaps["null"]) < 0.1, gaps


@pytest.mark.parametrize(
    "kw, message",
    [
        ({"n_users": 0}, "The 'n_users' parameter of make_synthetic must be a positive int. Got 0 instead."),
        ({"minority_share": 1.5}, "The 'minority_share' parameter of make_synthetic must be a number in [0, 1]"),
        ({"minority_activity": 0.0}, "The 'minority_activity' parameter of make_synthetic must be a positive"),
        ({"zipf": -1}, "The 'zipf' parameter of make_synthetic must be a non-negative number"),
        ({"n_interactions": 10**6}, SY.TOO_MANY_INTERACTIONS.format(n=10**6, cap=1000 * 500)),
        ({"n_interactions": 10}, SY.TOO_FEW_INTERACTIONS.format(n=10, users=1000)),
    ],
)
def test_bad_parameters(kw, message):
    with pytest.raises(RecfairError) as e:
        make_synthetic(**kw)
    assert str(e.value).startswith(message)


# SHA-256 of every array and table of make_synthetic(**case), recorded before make_synthetic was split
# into helpers: a refactoring must keep the generator bit-identical for a given seed.
GOLDEN = [
    (dict(n_users=200, n_items=80, n_interactions=3000, n_item_groups=4, seed=0),
     "9c6789097169fe49b71737894ee52dc13a6f524ee3982d5b839d694c0747ce97"),
    (dict(n_users=150, n_items=60, n_interactions=2000, seed=4),
     "d6cbe2322fe52a0efd30ca61499ce80ca05b82f634b5cc0b8c0403ec04066ebc"),
    (dict(n_users=20, n_items=10, n_interactions=190, seed=1),
     "6dc12378394d7f87be4ed4964773c63533ccb8657a217106170106833630ad50"),
    (dict(n_users=300, n_items=120, n_interactions=5000, zipf=0.0, minority_activity=1.0, minority_noise=0.0, seed=7),
     "6d0fd24e455d6eea227e34f7dcec5d1f07301f15d01c0007da9042712126fab0"),
    (dict(n_users=100, n_items=40, n_interactions=1500, zipf=1.7, embedding_size=3, n_item_groups=1,
          minority_share=0.0, seed=11),
     "396ef3f8acd200b7e2941784b2a2153568ed459f72732bc4954804692b5841d2"),
    (dict(n_users=50, n_items=30, n_interactions=1450, zipf=0.5, minority_share=1.0, seed=3),
     "eefeed98af11aeb7d42c587006aa9e28b035a072a5b72da79784067523c90765"),
]


def synthetic_digest(ds) -> str:
    """SHA-256 over the interaction arrays (bytes and dtype), the ids and both attribute tables as CSV."""
    h = hashlib.sha256()
    for a in (ds.user, ds.item, ds.rating, ds.timestamp, ds.user_ids, ds.item_ids):
        a = np.ascontiguousarray(a)
        h.update(a.astype(str).tobytes() if a.dtype == object else a.tobytes())
        h.update(str(a.dtype).encode())
    h.update(ds.users.to_csv().encode())
    h.update(ds.items.to_csv().encode())
    return h.hexdigest()


@pytest.mark.parametrize("case,expected", GOLDEN, ids=[f"seed{c['seed']}" for c, _ in GOLDEN])
def test_same_seed_gives_recorded_bits(case, expected):
    assert synthetic_digest(make_synthetic(**case)) == expected


def test_planted_affinity_uses_make_synthetic_defaults():
    # The latent factors are drawn first from the seed: the affinity with default arguments equals the
    # one spelt out with make_synthetic's defaults, and a changed factor argument changes it.
    implicit = SY.planted_affinity(n_users=30, n_items=20, seed=3)
    spelt = SY.planted_affinity(n_users=30, n_items=20, seed=3, embedding_size=8, minority_share=0.3,
                                n_item_groups=3, zipf=2.0, name="ignored")
    np.testing.assert_array_equal(implicit, spelt)
    assert implicit.shape == (30, 20) and implicit.dtype == np.float32
    assert not np.array_equal(implicit, SY.planted_affinity(n_users=30, n_items=20, seed=3, embedding_size=4))


def test_planted_affinity_refuses_unknown_arguments():
    with pytest.raises(RecfairError) as err:
        SY.planted_affinity(n_users=30, n_items=20, embeding_size=4)
    assert str(err.value) == SY.UNKNOWN_SYNTHETIC.format(
        unknown="embeding_size", valid=", ".join(inspect.signature(make_synthetic).parameters))
