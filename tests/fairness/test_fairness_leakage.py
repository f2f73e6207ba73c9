import numpy as np
import pandas as pd
import pytest

from recfair.data.dataset import Dataset
from recfair.errors import RecfairError
from recfair.fairness import leakage as L
from recfair.fairness.leakage import attribute_leakage, leakage_from_embeddings, leakage_from_recs, multi_hot
from recfair.recommendations import Recommendations


def test_planted_leak_is_found_and_noise_is_not():
    rng = np.random.default_rng(0)
    y = np.where(rng.random(400) < 0.3, "F", "M")
    signal = (y == "F").astype(float)
    leaky = np.column_stack([signal + rng.normal(0, 0.5, 400), rng.normal(size=(400, 4))])
    res = attribute_leakage(leaky, y, groups="gender", seed=0)
    assert res.metric == "auc" and res.value > 0.9 and len(res.folds) == 5 and res.chance == 0.5
    assert res.classes == ("F", "M") and res.n == 400 and res.n_dropped == 0
    noise = attribute_leakage(rng.normal(size=(400, 5)), y, seed=0)
    assert abs(noise.value - 0.5) < 0.1


def test_multiclass_uses_macro_f1_and_is_seeded():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 3, 300)
    x = np.eye(3)[y] * 2 + rng.normal(0, 1, (300, 3))
    a = attribute_leakage(x, y.astype(str), seed=3)
    b = attribute_leakage(x, y.astype(str), seed=3)
    assert a.metric == "macro_f1" and a.chance == pytest.approx(1 / 3)
    assert a.value > 0.6 and a.folds == b.folds
    assert a.folds != attribute_leakage(x, y.astype(str), seed=4).folds


def test_missing_labels_and_rare_classes_are_dropped():
    rng = np.random.default_rng(2)
    y = np.array(["a"] * 50 + ["b"] * 50 + ["c"] * 3 + [None] * 2, dtype=object)
    x = rng.normal(size=(105, 2))
    res = attribute_leakage(x, y, n_splits=5)
    assert res.classes == ("a", "b") and res.n == 100 and res.n_dropped == 5
    with pytest.raises(RecfairError) as e:
        attribute_leakage(x[:53], y[:53], groups="x")
    assert str(e.value) == L.TOO_FEW_CLASSES.format(groups="x", n_splits=5, n=1)
    with pytest.raises(RecfairError) as e:
        attribute_leakage(x[:10], y)
    assert str(e.value) == L.BAD_FEATURES.format(n=105, shape=(10, 2))


def test_leakage_from_recs_and_embeddings_on_a_planted_split():
    n = 60
    gender = ["F" if u % 2 else "M" for u in range(n)]
    inter = pd.DataFrame({"user": [f"u{u}" for u in range(n)], "item": [f"i{u % 8}" for u in range(n)]})
    ds = Dataset.from_frame(inter, users=pd.DataFrame({"user": [f"u{u}" for u in range(n)], "gender": gender}))
    items = np.array([[0, 2, 4] if u % 2 else [1, 3, 5] for u in range(n)], dtype=np.int32)
    recs = Recommendations(np.arange(n), items, np.ones(items.shape))
    m = multi_hot(recs, ds.n_items, 2)
    assert m.shape == (n, ds.n_items) and m.sum() == 2 * n
    res = leakage_from_recs(recs, ds, "gender", k=3)
    assert res.attribute == "gender" and res.value == pytest.approx(1.0)
    emb = np.random.default_rng(0).normal(size=(n, 4))
    res = leakage_from_embeddings(emb, ds, "gender")
    assert res.n == n and 0.2 < res.value < 0.8
    assert res.to_dict()["folds"] == list(res.folds)
