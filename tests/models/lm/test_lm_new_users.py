"""Users outside the data set: ``score_new_users`` / ``recommend_new_users`` from a profile mapping
and a history of item indices or titles, for every lm-* model."""

from __future__ import annotations

import numpy as np
import pytest

from recfair.errors import RecfairError
from recfair.models.registry import create_model

FAST = {
    "lm-frozen": {"epochs": 4, "embedding_size": 16, "batch_size": 64, "learning_rate": 0.01},
    "lm-hybrid": {"epochs": 3, "embedding_size": 16, "batch_size": 64},
    "lm-finetune": {"epochs": 1, "batch_size": 32, "encoder_mode": "lora", "learning_rate": 5e-3},
    "lm-classifier": {"epochs": 1, "batch_size": 32, "encoder_mode": "frozen", "learning_rate": 1e-2},
}


@pytest.fixture(scope="module", params=list(FAST))
def fitted(request, tiny_bert, themes_split):
    model = create_model(request.param, **FAST[request.param], encoder=tiny_bert, runtime={"progress": False})
    return request.param, model.fit(themes_split.train), themes_split.train


def profile_of(train, u):
    row = train.users.iloc[u]
    return {"age": int(row["age"]), "gender": row["gender"], "occupation": row["occupation"]}


def test_a_known_users_profile_and_history_reproduce_their_scores(fitted):
    name, model, train = fitted
    users = [0, 7]
    profiles = [profile_of(train, u) for u in users]
    histories = [model.history_of(u)[::-1].tolist() for u in users]  # oldest first
    new = model.score_new_users(profiles, histories)
    known = model.score(np.array(users))
    if name == "lm-hybrid":  # a known user also has a learned free factor P_u, which a new user lacks
        free = (model.net_.P[users].detach() @ model._q.T).numpy()
        known = known - free
        assert np.abs(free).max() > 1e-3
    np.testing.assert_allclose(new, known, rtol=1e-4, atol=1e-4)


def test_titles_and_indices_are_the_same_history(fitted):
    _, model, train = fitted
    items = [3, 11, 5]
    titles = [model.titles_[j] for j in items]
    messy = [titles[0].upper(), titles[1] + " (1995)", titles[2]]
    a = model.score_new_users([{"gender": "F"}], [items])
    np.testing.assert_array_equal(a, model.score_new_users([{"gender": "F"}], [messy]))
    assert a.shape == (1, train.n_items) and a.dtype == np.float32 and np.isfinite(a).all()


def test_history_and_profile_move_the_scores(fitted):
    name, model, _ = fitted
    empty = model.score_new_users([None])
    with_history = model.score_new_users([None], [[1, 2, 3]])
    assert not np.allclose(empty, with_history)
    if name != "lm-hybrid":  # lm-hybrid reads no profile by default (use_profile=False)
        assert not np.allclose(model.score_new_users([{"gender": "F"}]), model.score_new_users([{"gender": "M"}]))
    else:
        np.testing.assert_array_equal(model.score_new_users([{"gender": "F"}]), model.score_new_users([{"gender": "M"}]))


def test_recommend_new_users_excludes_history_and_respects_candidates(fitted):
    _, model, _ = fitted
    recs = model.recommend_new_users([{"age": 30}, None], [[0, 1, 2], [5]], k=6)
    items, scores = recs.items, recs.scores
    assert list(recs.users) == [0, 1] and items.shape == (2, 6) and scores.shape == (2, 6)
    assert not {0, 1, 2} & set(items[0]) and 5 not in items[1]
    assert (np.diff(scores, axis=1) <= 0).all()
    cand = np.arange(10, 14)
    recs = model.recommend_new_users([None], [[10]], k=5, candidates=cand)
    items, scores = recs.items, recs.scores
    assert set(items[0][:3]) == {11, 12, 13} and items[0][3] == -1 and np.isnan(scores[0][3:]).all()


def test_bad_new_user_input_is_named(fitted):
    _, model, _ = fitted
    with pytest.raises(RecfairError, match="profile field 'zodiac' is not one this model reads"):
        model.score_new_users([{"zodiac": "leo"}])
    with pytest.raises(RecfairError, match="no catalogue item matches the title 'Zzyzx Road Trip'"):
        model.score_new_users([None], [["Zzyzx Road Trip"]])
    with pytest.raises(RecfairError, match=r"history entry 999 is not an item index in \[0, 40\)"):
        model.score_new_users([None], [[999]])
    with pytest.raises(RecfairError, match="2 profiles but 1 histories"):
        model.score_new_users([None, None], [[1]])
    with pytest.raises(RecfairError, match="must be a mapping"):
        model.score_new_users(["female"])
