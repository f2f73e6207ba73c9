"""Partial fine-tuning of lm-finetune (top layers only, cached lower layers) with the tiny 2-layer BERT."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from recfair.errors import RecfairError
from recfair.models.lm.hf import TextTower
from recfair.models.lm.partial import TOO_MANY_LAYERS, shared_text_mask, window_batches
from recfair.models.registry import create_model

TEXTS = ["User: 24 years old, female, writer. Recently watched: Emma; Sense and Sensibility; Persuasion.",
         "Heat (1995). Genres: Action, Crime.", "x", "Toy Story (1995). Genres: Animation, Children's, Comedy."]

PARTIAL = {
    "top1-full-cached": {"encoder_mode": "full", "train_layers": 1, "learning_rate": 1e-3},
    "top1-lora-cached": {"encoder_mode": "lora", "train_layers": 1, "learning_rate": 5e-3},
    "top1-full-table-all": {"encoder_mode": "full", "train_layers": 1, "learning_rate": 1e-3,
                            "item_refresh_every": 4, "negatives": "all"},
    "top1-lora-windows": {"encoder_mode": "lora", "train_layers": 1, "learning_rate": 5e-3, "user_window": 4,
                          "item_refresh_every": 3},
}


def make(tiny_bert, case, **kw):
    return create_model("lm-finetune", **{"encoder": tiny_bert, "batch_size": 32, "epochs": 3,
                                          "runtime": {"progress": False}, **PARTIAL[case], **kw})


@pytest.mark.parametrize("dtype,tol", [("float32", 1e-5), ("float16", 1e-2)])
@pytest.mark.parametrize("mode", ["full", "lora"])
def test_cached_lower_layers_give_the_full_models_output(tiny_bert, tmp_path, monkeypatch, dtype, tol, mode):
    monkeypatch.setenv("RECFAIR_CACHE", str(tmp_path))
    whole = TextTower(tiny_bert, "frozen").encode(TEXTS)
    cached = TextTower(tiny_bert, mode, train_layers=1, cache_lower=True, cache_dtype=dtype)
    assert cached.n_lower == 1 and cached.cache is not None
    np.testing.assert_allclose(cached.encode(TEXTS, batch_size=3), whole, atol=tol)
    assert cached.cache.stats == {"computed": 4, "hits": 0}
    again = cached.encode(TEXTS[::-1])
    assert cached.cache.stats["hits"] == 4
    np.testing.assert_allclose(again[::-1], whole, atol=tol)
    # a new tower reads the states from disk (safetensors shards) and computes nothing
    fresh = TextTower(tiny_bert, mode, train_layers=1, cache_lower=True, cache_dtype=dtype)
    np.testing.assert_array_equal(fresh.encode(TEXTS), cached.encode(TEXTS))
    assert fresh.cache.stats["computed"] == 0 and list(fresh.cache.path.glob("shard-*.safetensors"))
    assert not list(tmp_path.rglob("*.pkl"))


def test_training_every_layer_needs_no_cache(tiny_bert):
    tower = TextTower(tiny_bert, "full", train_layers=2, cache_lower=True)
    assert tower.n_lower == 0 and tower.cache is None
    assert all(p.requires_grad for p in tower.model.encoder.layer.parameters())


def test_too_many_layers_is_clear(tiny_bert, themes_split):
    with pytest.raises(RecfairError) as err:
        make(tiny_bert, "top1-full-cached", train_layers=3).fit(themes_split.train)
    assert str(err.value) == TOO_MANY_LAYERS.format(value=3, path=TextTower(tiny_bert, "frozen").tokenizer.name_or_path,
                                                    n=2)


@pytest.fixture(scope="module", params=list(PARTIAL))
def fitted(request, tiny_bert, themes_split):
    return request.param, make(tiny_bert, request.param).fit(themes_split.train)


def test_only_top_layer_parameters_change(fitted, tiny_bert):
    from transformers import AutoModel

    case, model = fitted
    before = dict(AutoModel.from_pretrained(tiny_bert, local_files_only=True).named_parameters())
    changed, trainable = [], []
    for name, p in model.tower_.model.named_parameters():
        base = name.replace("base_model.model.", "").replace(".base_layer", "")
        if p.requires_grad:
            trainable.append(name)
        if base in before and not torch.equal(before[base], p.detach()):
            changed.append(name)
    assert trainable and all("layer.1." in n for n in trainable)
    if "lora" in case:
        assert changed == [] and all("lora_" in n for n in trainable)
    else:
        assert changed and all("encoder.layer.1." in n for n in changed)
    saved = [k for k in model._get_state() if k.startswith("model.encoder.")]
    assert saved and all("layer.1." in k for k in saved)


def test_same_seed_same_scores(tiny_bert, themes_split):
    a = make(tiny_bert, "top1-full-table-all", epochs=1).fit(themes_split.train).score(np.arange(4))
    b = make(tiny_bert, "top1-full-table-all", epochs=1).fit(themes_split.train).score(np.arange(4))
    np.testing.assert_array_equal(a, b)


def test_defaults_keep_the_whole_encoder_training(tiny_bert):
    params = create_model("lm-finetune", encoder=tiny_bert).get_params()
    assert (params["train_layers"], params["item_refresh_every"], params["negatives"]) == (None, 1, "in-batch")


def test_window_batches_cover_every_example_once_grouped_by_window():
    users = np.array([0, 0, 0, 0, 0, 1, 1, 1, 2])
    ranks = np.array([0, 1, 2, 3, 4, 0, 1, 2, 0])
    gen = torch.Generator().manual_seed(0)
    batches = window_batches(users, ranks, 2, 3, gen)
    order = torch.cat(batches).numpy()
    assert sorted(order) == list(range(9)) and [len(b) for b in batches] == [3, 3, 3]
    windows = [(users[i], ranks[i] // 2) for i in order]
    runs = [w for k, w in enumerate(windows) if k == 0 or w != windows[k - 1]]
    assert len(runs) == len(set(windows)) == 6  # each window's examples are contiguous


def test_shared_text_mask_spares_the_own_label():
    text_of, label = np.array([0, 0, 1]), np.array([2, 0, 1])
    mask = shared_text_mask(text_of, label, 4)
    assert mask.tolist() == [[True, False, False, False], [False, False, True, False], [False] * 4]


def test_user_windows_encode_fewer_texts(tiny_bert, themes_split):
    model = make(tiny_bert, "top1-full-cached", user_window=4, epochs=1, steps_per_epoch=4)
    model.fit(themes_split.train)
    computed = model.tower_.cache.stats["computed"]
    n_items = themes_split.train.n_items
    assert computed - n_items < 4 * 32 // 2  # far fewer user texts than the 128 examples


def test_item_offsets_train_save_and_load(tiny_bert, themes_split, tmp_path):
    from recfair.models.base import Recommender

    plain = make(tiny_bert, "top1-full-table-all", epochs=2).fit(themes_split.train)
    model = make(tiny_bert, "top1-full-table-all", epochs=2, use_item_ids=True, item_bias=True)
    model.fit(themes_split.train)
    trained = np.asarray(model.trained_items_, bool)
    table = model.item_offsets_
    assert np.abs(table["item_ids"][trained]).max() > 0 and np.ptp(table["item_bias"][trained]) > 0
    if (~trained).any():  # an untrained item: no id vector, the mean bias
        assert not table["item_ids"][~trained].any()
        np.testing.assert_allclose(table["item_bias"][~trained], table["item_bias"][trained].mean())
    users = np.arange(4)
    assert not np.allclose(model.score(users), plain.score(users))
    model.save(tmp_path / "m")
    loaded = Recommender.load(tmp_path / "m")
    np.testing.assert_array_equal(loaded.score(users), model.score(users))


def test_item_offsets_start_at_zero_and_score_as_documented():
    from recfair.models.lm.finetune import ItemOffsets

    off = ItemOffsets(5, 3, ids=True, bias=True)
    p, q, items = torch.randn(2, 3), torch.randn(4, 3), torch.tensor([4, 0, 2, 1])
    torch.testing.assert_close(off.score(p, q, items, 0.5), p @ q.T / 0.5)
    with torch.no_grad():
        off.ids += 1.0
        off.bias[4] = 2.0
    expected = (p @ (q + 1.0).T + torch.tensor([2.0, 0, 0, 0])) / 0.5
    torch.testing.assert_close(off.score(p, q, items, 0.5), expected)


def test_lr_decay_changes_training_and_defaults_off(tiny_bert, themes_split):
    assert create_model("lm-finetune", encoder=tiny_bert).get_params()["lr_decay"] is False
    plain = make(tiny_bert, "top1-full-table-all", epochs=2).fit(themes_split.train)
    decayed = make(tiny_bert, "top1-full-table-all", epochs=2, lr_decay=True).fit(themes_split.train)
    assert not np.allclose(plain.score(np.arange(4)), decayed.score(np.arange(4)))
