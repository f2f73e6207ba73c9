"""Cold start: LM models place new items by their text and new users by profile + first interactions;
classic models refuse both with the documented messages."""

from __future__ import annotations

import numpy as np
import pytest

from lm_fixtures import themed_dataset
from recfair.data.split import make_split
from recfair.errors import COLD_ITEMS, COLD_USERS, ColdStartError
from recfair.models.lm.coldstart import NEW_ITEM_POPULARITY, evaluate_cold_items, evaluate_cold_users, new_item_popularity
from recfair.models.registry import create_model


@pytest.fixture(scope="module")
def data():
    return themed_dataset(n_users=80, n_items=100, seed=1)


def lm_models(tiny_bert):
    kw = dict(embedding_size=16, batch_size=64, encoder=tiny_bert, runtime={"progress": False})
    return {
        "lm-frozen": create_model("lm-frozen", epochs=10, learning_rate=0.01, **kw),
        "lm-hybrid": create_model("lm-hybrid", epochs=6, **kw),
    }


def test_new_items_lm_models_beat_new_item_popularity(data, tiny_bert):
    split = make_split(data, "cold-items", test_size=0.2, seed=0)
    models = {**lm_models(tiny_bert), "bpr": create_model("bpr", embedding_size=8, epochs=2, runtime={"progress": False}),
              "itemknn": create_model("itemknn")}
    table = evaluate_cold_items(models, split).set_index("model")
    base = table.loc[NEW_ITEM_POPULARITY, "ndcg@10"]
    assert 0 < base < 1
    for name in ("lm-frozen", "lm-hybrid"):
        assert table.loc[name, "status"] == "ok"
        assert table.loc[name, "ndcg@10"] > base + 0.1
    n_cold = int((split.test.item_counts > 0).sum())
    for name, cls in (("bpr", "BPRRecommender"), ("itemknn", "ItemKNNRecommender")):
        assert table.loc[name, "status"] == "refused: " + COLD_ITEMS.format(name=cls, n=n_cold)
        assert np.isnan(table.loc[name, "ndcg@10"])


def test_new_item_popularity_counts_only_the_other_half(data):
    split = make_split(data, "cold-items", test_size=0.2, seed=0)
    recs, evaluated = new_item_popularity(split, k=5, seed=3)
    test = split.test
    early = np.setdiff1d(np.flatnonzero(test.user_counts > 0), evaluated)
    assert len(early) in (len(evaluated), len(evaluated) - 1) and not set(early) & set(evaluated)
    counts = np.bincount(test.item[np.isin(test.user, early)], minlength=test.n_items)
    top = recs.items[0]
    assert np.all(np.diff(counts[top]) <= 0) and set(top) <= set(np.flatnonzero(test.item_counts > 0))
    np.testing.assert_array_equal(recs.users, evaluated)


def test_cold_start_tables_are_named_by_their_k(data):
    users = make_split(data, "cold-users", test_size=0.2, seed=0, n_history=5)
    table = evaluate_cold_users({"popularity": create_model("popularity")}, users, k=5)
    assert [c for c in table.columns if "@" in c] == ["ndcg@5", "recall@5"]
    assert 0 <= table.loc[0, "ndcg@5"] <= 1 and table.loc[0, "status"] == "ok"
    items = make_split(data, "cold-items", test_size=0.2, seed=0)
    table = evaluate_cold_items({}, items, k=3)
    assert [c for c in table.columns if "@" in c] == ["ndcg@3", "recall@3"]
    assert table["ndcg@3"].notna().all() and len(table) == 2  # the two baselines


def test_new_users_lm_models_beat_popularity(data, tiny_bert):
    split = make_split(data, "cold-users", test_size=0.2, seed=0, n_history=5)
    models = {**lm_models(tiny_bert), "popularity": create_model("popularity"),
              "bpr": create_model("bpr", embedding_size=8, epochs=2, runtime={"progress": False})}
    table = evaluate_cold_users(models, split).set_index("model")
    base = table.loc["popularity", "ndcg@10"]
    for name in ("lm-frozen", "lm-hybrid"):
        assert table.loc[name, "ndcg@10"] > base + 0.03, table
    n_cold = int((split.history.user_counts > 0).sum())
    first = int(np.flatnonzero(split.history.user_counts > 0)[0])
    assert table.loc["bpr", "status"] == "refused: " + COLD_USERS.format(name="BPRRecommender", n=n_cold, example=first)


def test_observe_masks_history_and_a_profile_alone_gives_a_list(data, tiny_bert):
    split = make_split(data, "cold-users", test_size=0.2, seed=0, n_history=5)
    model = lm_models(tiny_bert)["lm-frozen"].fit(split.train)
    cold = np.flatnonzero(split.history.user_counts > 0)
    before = model.recommend(cold[:3], k=10)  # profile only: allowed, no history yet
    assert (before.items >= 0).all()
    model.observe(split.history)
    after = model.recommend(cold, k=10)
    hist = split.history.matrix
    for u, row in zip(after.users, after.items):
        assert not set(row) & set(hist.indices[hist.indptr[u] : hist.indptr[u + 1]])
    assert len(model.history_of(int(cold[0]))) == 5


def test_classic_observe_refuses_new_users(data):
    split = make_split(data, "cold-users", test_size=0.2, seed=0, n_history=5)
    bpr = create_model("bpr", embedding_size=8, epochs=1, runtime={"progress": False}).fit(split.train)
    with pytest.raises(ColdStartError) as err:
        bpr.observe(split.history)
    assert "cannot recommend to users it was not trained on" in str(err.value)
    # known users' later interactions are recorded and masked
    warm = make_split(data, "user-temporal", test_size=0.2)
    pop = create_model("popularity").fit(warm.train)
    pop.observe(warm.test)
    recs = pop.recommend(np.arange(5), k=10)
    seen = (warm.train.matrix + warm.test.matrix).tocsr()
    for u, row in zip(recs.users, recs.items):
        assert not set(row) & set(seen.indices[seen.indptr[u] : seen.indptr[u + 1]])


@pytest.mark.parametrize("name", ["lm-frozen", "lm-hybrid"])
def test_observed_interactions_fold_new_items_in(data, tiny_bert, name):
    split = make_split(data, "cold-items", test_size=0.2, seed=0)
    model = lm_models(tiny_bert)[name].fit(split.train)
    new = np.flatnonzero(split.test.item_counts > 0)
    others = np.arange(60, 70)  # users who observe nothing: only new items' scores may move
    before = model.score(others)
    early = split.test.subset(split.test.user < 40)
    model.observe(early)
    folded = np.unique(early.item)
    assert model.folded_items_[folded].all() and not model.folded_items_[np.setdiff1d(new, folded)].any()
    after = model.score(others)
    assert not np.allclose(before[:, folded], after[:, folded])
    old = np.flatnonzero(model.trained_items_)
    np.testing.assert_allclose(before[:, old], after[:, old], rtol=1e-5, atol=1e-5)  # known items untouched


def test_a_folded_item_is_not_put_above_the_catalogue_for_users_who_never_picked_it(data, tiny_bert):
    split = make_split(data, "cold-items", test_size=0.2, seed=0)
    train = split.train
    order = np.lexsort((-train.timestamp, train.user))  # each user's newest first
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order)) - np.searchsorted(train.user[order], train.user[order])
    later = rank < 4  # every user's last 4 known items: the period after the fit
    model = lm_models(tiny_bert)["lm-frozen"].fit(train.subset(~later))
    item = np.flatnonzero(split.test.item_counts > 0)[0]
    picked = split.test.subset((split.test.item == item) & (split.test.user < 40))
    picked = picked.subset(picked.user <= np.sort(picked.user)[1])  # 2 picks: fewer than a known item's 4
    period = train.subset(later)
    both = period.with_interactions(np.concatenate([period.user, picked.user]),
                                    np.concatenate([period.item, picked.item]), None,
                                    np.concatenate([period.timestamp, picked.timestamp]))
    model.observe(both)
    assert model.folded_items_[item]
    scores = model.score(np.arange(40, 80))  # users who picked known items only meanwhile
    warm_means = scores[:, model.trained_items_].mean(0)
    assert scores[:, item].mean() < np.percentile(warm_means, 90)  # scored like an item picked as often
    above = (scores[:, model.trained_items_] > scores[:, [item]]).sum(1)
    assert np.median(above) >= 10  # not first for everyone


def test_with_early_interactions_lm_models_still_beat_new_item_popularity(data, tiny_bert):
    split = make_split(data, "cold-items", test_size=0.2, seed=0)
    table = evaluate_cold_items({**lm_models(tiny_bert), "bpr": create_model("bpr", epochs=1, runtime={"progress": False})},
                                split, observe_early=True).set_index("model")
    base = table.loc[NEW_ITEM_POPULARITY, "ndcg@10"]
    assert (table.loc[["lm-frozen", "lm-hybrid"], "ndcg@10"] > base).all(), table
    assert table.loc["bpr", "status"].startswith("refused: BPRRecommender cannot score items it was not trained on")
    assert set(table["protocol"]) == {"cold-items+early"}


def test_early_adopter_shares_are_nested_and_the_evaluated_half_fixed(data):
    split = make_split(data, "cold-items", test_size=0.2, seed=0)
    from recfair.models.lm.coldstart import split_test_users

    early_all, evaluated = split_test_users(split.test, seed=4)
    for share in (0.0, 0.1, 0.5):
        early, ev = split_test_users(split.test, seed=4, early_share=share)
        np.testing.assert_array_equal(ev, evaluated)
        assert set(early) <= set(early_all) and len(early) == round(share * len(early_all))
    with pytest.raises(Exception, match="early_share"):
        split_test_users(split.test, seed=4, early_share=1.5)


def test_popularity_with_nothing_observed_is_a_seeded_random_order(data):
    split = make_split(data, "cold-items", test_size=0.2, seed=0)
    a, _ = new_item_popularity(split, k=10, seed=1, early_share=0.0)
    b, _ = new_item_popularity(split, k=10, seed=2, early_share=0.0)
    new = np.flatnonzero(split.test.item_counts > 0)
    assert (a.scores == 0).all() and set(a.items[0]) <= set(new)
    assert not np.array_equal(a.items[0], b.items[0])  # ties are not broken by item index
    np.testing.assert_array_equal(a.items[0], new_item_popularity(split, k=10, seed=1, early_share=0.0)[0].items[0])


def test_cold_item_curve_fits_once_and_each_share_starts_from_the_fitted_model(data, tiny_bert):
    split = make_split(data, "cold-items", test_size=0.2, seed=0)
    model = lm_models(tiny_bert)["lm-frozen"]
    from recfair.models.lm.coldstart import cold_item_curve

    table = cold_item_curve({"lm-frozen": model}, split, early_shares=(0.0, 0.5, 1.0))
    lm = table[table.model == "lm-frozen"].set_index("early_users")
    pop = table[table.model == NEW_ITEM_POPULARITY].set_index("early_users")
    assert list(lm.index) == list(pop.index) and lm.index[0] == 0 and lm.index.is_monotonic_increasing
    # share 0 observes nothing: the same numbers as the text-only protocol on a fresh fit
    text_only = evaluate_cold_items({"lm-frozen": lm_models(tiny_bert)["lm-frozen"]}, split,
                                    early_share=0.0).set_index("model")
    assert lm["ndcg@10"].iloc[0] == pytest.approx(text_only.loc["lm-frozen", "ndcg@10"], abs=1e-6)
    # the last share is the default protocol with early interactions observed
    full = evaluate_cold_items({"lm-frozen": lm_models(tiny_bert)["lm-frozen"]}, split,
                               observe_early=True).set_index("model")
    assert lm["ndcg@10"].iloc[-1] == pytest.approx(full.loc["lm-frozen", "ndcg@10"], abs=1e-6)
    assert pop["ndcg@10"].iloc[-1] == pytest.approx(full.loc[NEW_ITEM_POPULARITY, "ndcg@10"])
    assert (lm["ndcg@10"].iloc[1:] > pop["ndcg@10"].iloc[1:]).all(), table
