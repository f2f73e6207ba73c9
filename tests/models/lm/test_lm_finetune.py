"""lm-finetune and lm-classifier on the tiny themed catalogue with a tiny random BERT (CPU)."""

from __future__ import annotations

import numpy as np
import pytest

from lm_fixtures import RecordingPenalty
from recfair.errors import COLD_ITEMS, BAD_PARAM, ColdStartError, RecfairError
from recfair.models.base import Recommender
from recfair.models.lm.classifier import MULTILABEL_ONLY
from recfair.models.lm.hf import LORA_TARGETS
from recfair.models.registry import create_model

CASES = {
    "finetune-lora": ("lm-finetune", {"encoder_mode": "lora", "learning_rate": 5e-3}),
    "finetune-full": ("lm-finetune", {"encoder_mode": "full", "learning_rate": 1e-3, "accumulation_steps": 2,
                                      "n_negatives": 8}),
    # partial fine-tuning (tests/models/lm/test_lm_partial.py checks which weights move)
    "finetune-top1-full-table": ("lm-finetune", {"encoder_mode": "full", "train_layers": 1, "learning_rate": 1e-3,
                                                 "item_refresh_every": 4, "negatives": "all"}),
    "finetune-top1-lora-windows": ("lm-finetune", {"encoder_mode": "lora", "train_layers": 1, "learning_rate": 5e-3,
                                                   "user_window": 4, "item_refresh_every": 3}),
    "classifier-frozen": ("lm-classifier", {"encoder_mode": "frozen", "learning_rate": 1e-2}),
    "classifier-lora": ("lm-classifier", {"encoder_mode": "lora", "learning_rate": 5e-3}),
    "classifier-full-multilabel": ("lm-classifier", {"encoder_mode": "full", "learning_rate": 1e-3, "loss": "multilabel"}),
}


def make(case, tiny_bert, **kw):
    name, params = CASES[case]
    return create_model(name, **{"encoder": tiny_bert, "batch_size": 32, "epochs": 3, "runtime": {"progress": False}, **params, **kw})


@pytest.fixture(scope="module", params=list(CASES))
def fitted(request, tiny_bert, themes_split):
    return request.param, make(request.param, tiny_bert).fit(themes_split.train)


def test_loss_decreases(fitted):
    _, model = fitted
    losses = [r["loss"] for r in model.training_log_]
    assert len(losses) == 3 and losses[-1] < losses[0]


def test_save_load_gives_identical_scores(fitted, tmp_path, themes):
    case, model = fitted
    model.save(tmp_path / case)
    back = Recommender.load(tmp_path / case)
    users = np.arange(12)
    np.testing.assert_array_equal(back.score(users), model.score(users))
    texts = model.render_user_texts(themes, users[:3], overrides={"gender": "F"})
    np.testing.assert_array_equal(back.score_texts(texts), model.score_texts(texts))
    assert back.score(users).shape == (12, themes.n_items)


def test_only_trainable_tensors_are_saved(fitted):
    case, model = fitted
    keys = [k for k in model._get_state() if k.startswith("model.encoder.")]
    if "frozen" in case:
        assert keys == []
    elif "top1" in case:
        assert keys and all(".layer.1." in k for k in keys)
    elif "lora" in case:
        assert keys and all("lora_" in k for k in keys)
    else:
        assert any(k.endswith("embeddings.word_embeddings.weight") for k in keys)


def test_score_texts_reads_the_rendered_text(fitted, themes_split):
    case, model = fitted
    users = np.arange(6)
    texts = model.render_user_texts(themes_split.train, users)
    assert "Recently watched:" in texts[0]
    np.testing.assert_allclose(model.score_texts(texts, users), model.score(users), rtol=1e-5, atol=1e-5)


def test_same_seed_same_scores(tiny_bert, themes_split):
    a = make("finetune-lora", tiny_bert, epochs=1).fit(themes_split.train).score(np.arange(4))
    b = make("finetune-lora", tiny_bert, epochs=1).fit(themes_split.train).score(np.arange(4))
    np.testing.assert_array_equal(a, b)


def test_checkpoints_each_epoch(tiny_bert, themes_split, tmp_path):
    model = make("finetune-full", tiny_bert, epochs=2, steps_per_epoch=2,
                 runtime={"checkpoint_dir": tmp_path})
    model.fit(themes_split.train)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["epoch-001", "epoch-002"]
    assert len(model.training_log_) == model.epochs
    last = Recommender.load(tmp_path / "epoch-002")
    np.testing.assert_array_equal(last.score(np.arange(3)), model.score(np.arange(3)))
    assert not list(tmp_path.rglob("*.bin")) and not list(tmp_path.rglob("*.pkl"))


def test_classifier_refuses_cold_item_candidates_finetune_accepts_them(tiny_bert, themes):
    from recfair.data.split import make_split

    split = make_split(themes, "cold-items", test_size=0.2, seed=0)
    new = np.flatnonzero(split.test.item_counts > 0)
    clf = make("classifier-frozen", tiny_bert, epochs=1).fit(split.train)
    with pytest.raises(ColdStartError) as err:
        clf.recommend(np.arange(3), k=5, candidates=new)
    assert str(err.value) == COLD_ITEMS.format(name="LMClassifierRecommender", n=len(new))
    ft = make("finetune-lora", tiny_bert, epochs=1).fit(split.train)
    recs = ft.recommend(np.arange(3), k=5, candidates=new)
    assert set(recs.items.ravel()) <= set(new)


def test_bad_settings_are_clear(tiny_bert, themes_split):
    with pytest.raises(RecfairError) as err:
        make("finetune-lora", tiny_bert, encoder_mode="frozen").fit(themes_split.train)
    assert str(err.value) == BAD_PARAM.format(param="encoder_mode", owner="LMFinetuneRecommender",
                                              expected="one of full, lora", value="frozen")
    with pytest.raises(RecfairError) as err:
        make("finetune-lora", tiny_bert, lora_targets=["q_proj"]).fit(themes_split.train)
    assert "LoRA found none of the target modules ['q_proj']" in str(err.value)
    assert LORA_TARGETS.split("{")[0] in str(err.value)
    with pytest.raises(RecfairError) as err:
        make("classifier-full-multilabel", tiny_bert).fit(themes_split.train,
                                                          sample_weight=np.ones(themes_split.train.n_interactions))
    assert str(err.value) == MULTILABEL_ONLY.format(what="sample_weight")


@pytest.mark.parametrize("case", ["finetune-lora", "classifier-frozen"])
def test_penalty_and_sample_weight_hooks(case, tiny_bert, themes_split):
    train = themes_split.train
    kw = {"epochs": 1, "steps_per_epoch": 3}
    plain = make(case, tiny_bert, **kw).fit(train).score(np.arange(4))
    zero = make(case, tiny_bert, **kw).fit(train, penalty=RecordingPenalty(0.0)).score(np.arange(4))
    np.testing.assert_array_equal(plain, zero)
    ones = make(case, tiny_bert, **kw).fit(train, sample_weight=np.ones(train.n_interactions)).score(np.arange(4))
    np.testing.assert_array_equal(plain, ones)
    pen = RecordingPenalty(5.0)
    make(case, tiny_bert, **kw).fit(train, penalty=pen)
    assert len(pen.batches) == 3 and pen.bound is train
    b = pen.batches[0]
    assert b.losses.shape == b.users.shape == b.predictions.shape == (32,)
    assert b.user_embeddings.shape == (32, 32) and b.item_embeddings.shape == (32, 32)


@pytest.mark.parametrize("case", ["finetune-lora", "classifier-frozen"])
def test_early_stopping_keeps_the_best_epoch(case, tiny_bert, themes):
    from recfair.data.split import make_split

    sp = make_split(themes, "user-temporal", test_size=0.2, valid_size=0.2)
    m = make(case, tiny_bert, epochs=4, patience=1).fit(sp.train, sp.valid)
    vals = [r["valid"] for r in m.training_log_]
    assert 1 <= len(vals) <= 4 and m.best_epoch_ == int(np.argmax(vals)) + 1
    assert m._valid_ndcg(sp.valid) == pytest.approx(max(vals), abs=1e-6)
