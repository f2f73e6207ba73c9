"""Typed component configs, runtime options and registry-only loading of saved models."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest

from recfair.errors import BAD_PARAM, RecfairError
from recfair.models.base import CONFIG_FILE, SAVE_FORMAT, WEIGHTS_FILE, Recommender
from recfair.models.config import (
    BAD_ASSIGNMENT,
    DID_YOU_MEAN,
    RUNTIME_AS_PARAM,
    TRAINING_FIELDS,
    UNKNOWN_PARAM,
    UNKNOWN_TRAINING_FIELD,
    ComponentConfig,
    RuntimeOptions,
    describe_config,
    parse_params,
    training_config,
)
from recfair.models.registry import (
    FUTURE_FORMAT,
    MISSING_FORMAT,
    MODELS,
    UNKNOWN_SAVED_MODEL,
    create_model,
    get_model_class,
    model_names,
)
from recfair.testing import conformance_data

CHOICES = ", ".join(model_names())


# ------------------------------------------------------------------ configs
def test_every_model_declares_a_typed_config():
    for name in MODELS:
        klass = get_model_class(name)
        assert klass.Config.model_config["extra"] == "forbid", name
        model = klass()
        for key, value in model.config.model_dump().items():
            assert getattr(model, key) == value
        assert model.runtime == RuntimeOptions(threads=klass.default_threads)


def test_training_config_declares_the_shared_fields_with_the_given_defaults():
    base = training_config(ComponentConfig, "Base", epochs=7, reg=0.5)

    class Config(base):
        extra: int = 1

    assert list(Config.model_fields) == ["epochs", "reg", "extra"]
    assert Config().model_dump() == {"epochs": 7, "reg": 0.5, "extra": 1}
    assert Config.model_fields["epochs"].description == TRAINING_FIELDS["epochs"].__metadata__[0].description
    with pytest.raises(ValueError, match="epochs"):
        Config(epochs=0)  # the shared bound (>= 1) comes with the field
    with pytest.raises(ValueError, match="Extra inputs"):
        Config(epoch=3)  # extra="forbid" is inherited
    with pytest.raises(TypeError) as err:
        training_config(ComponentConfig, "Bad", epoch=3)
    assert str(err.value) == UNKNOWN_TRAINING_FIELD.format(unknown=["epoch"], known=sorted(TRAINING_FIELDS))


def test_model_defaults_survive_the_shared_declaration():
    # The defaults each model declared before its Config used training_config (phase-1 numbers depend on them).
    expected = {
        "mf": dict(embedding_size=64, epochs=40, learning_rate=0.02, reg=0.1, batch_size=4096, patience=3, seed=0),
        "bpr": dict(embedding_size=64, epochs=20, learning_rate=0.01, reg=0.01, batch_size=4096, patience=5, seed=0,
                    n_negatives=4, item_bias=True),
        "lm-frozen": dict(embedding_size=128, epochs=10, learning_rate=0.002, reg=0.0, batch_size=1024, patience=3),
        "lm-hybrid": dict(embedding_size=64, epochs=30, learning_rate=0.01, reg=0.01, batch_size=4096, patience=5),
        "lm-finetune": dict(epochs=1, reg=0.0, batch_size=32, patience=2, learning_rate=5e-4),
        "lm-classifier": dict(epochs=1, reg=0.0, batch_size=32, patience=2, learning_rate=1e-3),
        "generative": dict(embedding_size=64, epochs=20, batch_size=64, learning_rate=2e-3, reg=0.0, patience=5),
    }
    for name, values in expected.items():
        defaults = get_model_class(name).Config().model_dump()
        assert {key: defaults[key] for key in values} == values, name


def test_a_typo_names_the_closest_key():
    valid = ", ".join(get_model_class("bpr").Config.model_fields)
    with pytest.raises(RecfairError) as exc:
        create_model("bpr", embeding_size=8)
    hint = DID_YOU_MEAN.format(close="embedding_size")
    assert str(exc.value) == UNKNOWN_PARAM.format(key="embeding_size", value=8, owner="BPRRecommender", hint=hint,
                                                  valid=valid)


def test_an_unknown_key_far_from_any_gets_no_hint():
    with pytest.raises(RecfairError) as exc:
        create_model("itemknn", zzz=1)
    assert str(exc.value) == UNKNOWN_PARAM.format(key="zzz", value=1, owner="ItemKNNRecommender", hint="",
                                                  valid="neighbors, shrink, min_similarity")


@pytest.mark.parametrize(
    "name, key, value, expected",
    [
        ("lm-frozen", "history_sampling", "sideways", "one of prefix, random-cut, mixed, leave-one-out"),
        ("lm-hybrid", "history_norm", "max", "one of mean, sqrt"),
        ("lm-frozen", "history_dropout", 1.5, "a number in [0, 1]"),
        ("lm-frozen", "cut_max", 0, "a positive int or None"),
        ("itemknn", "neighbors", True, "a positive int"),
        ("generative", "dropout", -0.1, "a number in [0, 1]"),
    ],
)
def test_a_bad_value_names_the_key_the_value_and_what_is_allowed(name, key, value, expected):
    klass = get_model_class(name)
    with pytest.raises(RecfairError) as exc:
        klass(**{key: value})
    assert str(exc.value) == BAD_PARAM.format(param=key, owner=klass.__name__, expected=expected, value=value)


def test_an_attribute_edited_after_init_is_checked_at_fit():
    model = create_model("bpr", epochs=1)
    model.epochs = 0
    with pytest.raises(RecfairError) as exc:
        model.fit(conformance_data().train)
    assert str(exc.value) == BAD_PARAM.format(param="epochs", owner="BPRRecommender", expected="a positive int",
                                              value=0)


def test_runtime_options_are_not_hyper_parameters_and_are_never_saved(tmp_path):
    with pytest.raises(RecfairError) as exc:
        create_model("bpr", threads=2)
    assert str(exc.value) == RUNTIME_AS_PARAM.format(key="threads", owner="BPRRecommender")
    model = create_model("bpr", epochs=1, runtime={"threads": 2, "progress": False}).fit(conformance_data().train)
    assert model.runtime.threads == 2
    saved = json.loads((model.save(tmp_path / "m") / CONFIG_FILE).read_text())
    assert set(saved) == {"format", "model", "params", "n_users", "n_items"}
    assert saved["format"] == SAVE_FORMAT and saved["model"] == "bpr"
    assert not {"threads", "progress", "device", "checkpoint_dir"} & set(saved["params"])
    assert Recommender.load(tmp_path / "m").runtime.threads == 1  # the model's default, not what it ran with


def test_param_strings_are_typed_by_the_config():
    config = get_model_class("lm-frozen").Config
    got = parse_params(config, ["epochs=3", "learning_rate=0.5", "use_profile=false", "n_negatives=none",
                                "user_fields=[\"gender\"]", "history-sampling=prefix"], owner="lm-frozen")
    assert got == {"epochs": 3, "learning_rate": 0.5, "use_profile": False, "n_negatives": None,
                   "user_fields": ("gender",), "history_sampling": "prefix"}
    with pytest.raises(RecfairError) as exc:
        parse_params(config, ["epochs"], owner="lm-frozen")
    assert str(exc.value) == BAD_ASSIGNMENT.format(raw="epochs")


def test_describe_config_gives_defaults_bounds_and_descriptions():
    rows = {r["name"]: r for r in describe_config(get_model_class("bpr").Config)}
    assert rows["epochs"] == {"name": "epochs", "allowed": "a positive int", "default": "20",
                              "description": "maximum training epochs"}
    assert rows["reg"]["allowed"] == "a non-negative number"


# ------------------------------------------------------- registry-only loading
def _saved(tmp_path, config) -> str:
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / CONFIG_FILE).write_text(json.dumps(config))
    (folder / WEIGHTS_FILE).write_bytes(b"")
    return folder


@pytest.mark.parametrize("target", ["os:system", "antigravity", "antigravity:X", "this"])
def test_a_config_naming_a_module_is_refused_without_importing_anything(tmp_path, target):
    import safetensors.numpy  # noqa: F401  (imported by load itself, before the config is read)

    folder = _saved(tmp_path, {"format": SAVE_FORMAT, "model": target, "class": target, "params": {},
                               "n_users": 1, "n_items": 1})
    before = set(sys.modules)
    with pytest.raises(RecfairError) as exc:
        Recommender.load(folder)
    assert set(sys.modules) == before
    assert str(exc.value) == UNKNOWN_SAVED_MODEL.format(file=folder / CONFIG_FILE, name=target, choices=CHOICES)


def test_a_config_without_a_format_is_refused_without_importing_anything(tmp_path):
    import safetensors.numpy  # noqa: F401

    folder = _saved(tmp_path, {"model": "antigravity"})
    before = set(sys.modules)
    with pytest.raises(RecfairError) as exc:
        Recommender.load(folder)
    assert set(sys.modules) == before
    assert str(exc.value) == MISSING_FORMAT.format(file=folder / CONFIG_FILE, supported="2", choices=CHOICES)


def test_a_future_format_is_refused(tmp_path):
    folder = _saved(tmp_path, {"format": SAVE_FORMAT + 1, "model": "bpr", "params": {}, "n_users": 1, "n_items": 1})
    with pytest.raises(RecfairError) as exc:
        Recommender.load(folder)
    assert str(exc.value) == FUTURE_FORMAT.format(file=folder / CONFIG_FILE, version=SAVE_FORMAT + 1,
                                                  supported="2", choices=CHOICES)


def test_load_through_a_subclass_checks_the_class(tmp_path):
    from recfair.models.classic.mf import MFRecommender

    data = conformance_data()
    create_model("popularity").fit(data.train).save(tmp_path / "pop")
    with pytest.raises(RecfairError, match="holds a PopularityRecommender, not a MFRecommender"):
        MFRecommender.load(tmp_path / "pop")
    loaded = Recommender.load(tmp_path / "pop")
    np.testing.assert_array_equal(loaded.score(data.warm[:3]), create_model("popularity").fit(data.train).score(data.warm[:3]))
