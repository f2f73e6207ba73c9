"""Typed configs of the mitigation components and generative backends, and the mitigation registry."""

from __future__ import annotations

import subprocess
import sys

import pytest

from recfair.errors import BAD_PARAM, RecfairError
from recfair.mitigation import (
    AdversarialPenalty,
    CalibratedPopularityReRanker,
    FairPrefixReRanker,
    GroupLossGapPenalty,
    GroupReweigher,
    GroupUpsampler,
    PopularityPenalty,
    PrefixExposureReRanker,
    RatingUnfairnessPenalty,
    UGFReRanker,
    create_penalty,
    create_reranker,
    create_reweigher,
    find_component,
    make_penalty,
    make_reranker,
    mitigation_names,
    parse_mitigation_params,
)
from recfair.mitigation.registry import FIXED_BY_NAME, UNKNOWN_COMPONENT, UNKNOWN_PENALTY, UNKNOWN_RERANKER
from recfair.models.config import DID_YOU_MEAN, TOO_MANY_POSITIONAL, TWICE, describe_config, validate_config
from recfair.models.generative.backends import BuiltinBackend, get_backend_class
from recfair.models.generative.hf import HFBackendConfig
from recfair.models.generative.openai import OpenAIBackend

# class, required params, (typo, closest key), (bad key, bad value, what the error names as allowed)
COMPONENTS = [
    (RatingUnfairnessPenalty, {"kind": "value", "groups": "gender"}, ("squard", "squared"),
     ("kind", "median", "one of value, absolute, under, over, nonparity")),
    (GroupLossGapPenalty, {"groups": "gender"}, ("lambda", "lambda_"), ("lambda_", -1.0, "a non-negative number")),
    (AdversarialPenalty, {"groups": "gender"}, ("disc_step", "disc_steps"), ("disc_steps", -1, "a non-negative int")),
    (PopularityPenalty, {}, ("logg", "log"), ("lambda_", -0.5, "a non-negative number")),
    (GroupReweigher, {"groups": "gender"}, ("balanse", "balance"), ("balance", "items", "one of interactions, users")),
    (GroupUpsampler, {"groups": "gender"}, ("sed", "seed"), ("lambda_", -2.0, "a non-negative number")),
    (UGFReRanker, {}, ("solvr", "solver"), ("epsilon", -0.1, "a non-negative number")),
    (FairPrefixReRanker, {}, ("alfa", "alpha"), ("alpha", 1.0, "a number strictly between 0 and 1")),
    (PrefixExposureReRanker, {}, ("item_group", "item_groups"),
     ("target", 1.5, "a number in [0, 1] or a mapping of string to a number in [0, 1]")),
    (CalibratedPopularityReRanker, {}, ("lamda_", "lambda_"), ("lambda_", 2.0, "a number in [0, 1]")),
    (BuiltinBackend, {"model": None}, ("num_beam", "num_beams"), ("num_beams", 0, "a positive int")),
]


def _build(cls, required, **params):
    if cls is BuiltinBackend:
        return cls(required["model"], **params)
    return cls(**required, **params)


@pytest.mark.parametrize("cls, required, typo, bad", COMPONENTS, ids=lambda v: getattr(v, "__name__", ""))
def test_unknown_key_names_the_closest_key(cls, required, typo, bad):
    key, close = typo
    with pytest.raises(RecfairError) as exc:
        _build(cls, required, **{key: 1})
    assert f"Unknown parameter '{key}' (= 1) for {cls.__name__}." in str(exc.value)
    assert DID_YOU_MEAN.format(close=close) in str(exc.value)


@pytest.mark.parametrize("cls, required, typo, bad", COMPONENTS, ids=lambda v: getattr(v, "__name__", ""))
def test_bad_value_names_the_bound(cls, required, typo, bad):
    key, value, allowed = bad
    params = {**required, key: value}
    with pytest.raises(RecfairError) as exc:
        _build(cls, {k: v for k, v in params.items() if k == "model"}, **{k: v for k, v in params.items() if k != "model"})
    assert str(exc.value) == BAD_PARAM.format(param=key, owner=cls.__name__, expected=allowed, value=value)


@pytest.mark.parametrize("cls, required, typo, bad", COMPONENTS, ids=lambda v: getattr(v, "__name__", ""))
def test_defaults_round_trip(cls, required, typo, bad):
    comp = _build(cls, required)
    params = comp.get_params()
    assert set(params) == set(cls.Config.model_fields)
    assert cls.Config.model_validate(params) == comp.config
    again = _build(cls, {"model": None} if cls is BuiltinBackend else {}, config=params)
    assert again.config == comp.config and repr(again) == repr(comp)
    rows = describe_config(cls.Config)
    assert [r["name"] for r in rows] == list(cls.Config.model_fields) and all(r["description"] for r in rows)


def test_edited_attributes_are_revalidated_before_use():
    from tests.mitigation.mitigation_fixtures import tiny_dataset

    pen = GroupLossGapPenalty("gender")
    pen.lambda_ = -1.0
    with pytest.raises(RecfairError, match="'lambda_' parameter of GroupLossGapPenalty"):
        pen.bind(tiny_dataset())


def test_positional_parameters_keep_the_old_call_forms():
    assert RatingUnfairnessPenalty("over", "gender", 2.0).config.model_dump() == {
        "groups": "gender", "lambda_": 2.0, "kind": "over", "squared": True}
    assert CalibratedPopularityReRanker(0.3).lambda_ == 0.3 and GroupReweigher("age").groups == "age"
    with pytest.raises(RecfairError) as exc:
        PopularityPenalty(1.0, True)
    assert str(exc.value) == TOO_MANY_POSITIONAL.format(owner="PopularityPenalty", n=1, names="lambda_", got=2)
    with pytest.raises(RecfairError) as exc:
        GroupLossGapPenalty("gender", groups="age")
    assert str(exc.value) == TWICE.format(owner="GroupLossGapPenalty", key="groups")


def test_data_keywords_are_not_hyper_parameters():
    mask = [True, False]
    fair = FairPrefixReRanker(p=0.2, item_mask=mask)
    assert fair.item_mask is mask and "item_mask" not in fair.get_params()
    ugf = UGFReRanker(calibration="valid-set")
    assert ugf.calibration == "valid-set" and "calibration" not in ugf.get_params()


def test_registry_lists_every_stage_and_refuses_unknown_names():
    assert mitigation_names("penalty") == ["value", "absolute", "under", "over", "nonparity", "group-gap",
                                           "adversarial", "popularity"]
    assert mitigation_names("reweigher") == ["equal-share", "inverse", "upsample"]
    assert mitigation_names("reranker") == ["ugf", "fair", "prefix", "calibrated", "amortized"]
    with pytest.raises(RecfairError) as exc:
        create_reranker("ufg")
    choices = "ugf, fair, prefix, calibrated, amortized"
    assert str(exc.value) == UNKNOWN_RERANKER.format(name="ufg", choices=choices) + DID_YOU_MEAN.format(close="ugf")
    with pytest.raises(RecfairError) as exc:
        make_penalty("group-gaps:gender")
    assert str(exc.value) == UNKNOWN_PENALTY.format(
        name="group-gaps", spec="group-gaps:gender", choices=", ".join(mitigation_names("penalty"))
    ) + DID_YOU_MEAN.format(close="group-gap")


def test_registry_names_fix_their_presets():
    assert create_penalty("nonparity", groups="gender").kind == "nonparity"
    assert create_reweigher("inverse", groups="gender").balance == "users"
    assert make_reranker("cp", lambda_=0.1).lambda_ == 0.1  # alias of calibrated
    with pytest.raises(RecfairError) as exc:
        create_penalty("value", groups="gender", kind="over")
    assert str(exc.value) == FIXED_BY_NAME.format(key="kind", name="value", fixed="value")


def test_param_strings_are_typed_and_typos_get_the_closest_key():
    assert parse_mitigation_params("reranker", "ugf", ["epsilon=0.02", "solver=greedy", "time-limit=none"]) == {
        "epsilon": 0.02, "solver": "greedy", "time_limit": None}
    with pytest.raises(RecfairError) as exc:
        parse_mitigation_params("reweigher", "upsample", ["sed=3"])
    assert "for reweigher 'upsample'." in str(exc.value) and DID_YOU_MEAN.format(close="seed") in str(exc.value)


def test_find_component_covers_models_mitigations_and_backends():
    assert find_component("bpr")[0] == "model"
    assert find_component("popularity")[0] == "model"
    assert find_component("penalty:popularity") == ("penalty", PopularityPenalty)
    assert find_component("fa*ir") == ("reranker", FairPrefixReRanker)
    assert find_component("openai") == ("backend", OpenAIBackend)
    with pytest.raises(RecfairError) as exc:
        find_component("nope")
    assert str(exc.value).startswith(UNKNOWN_COMPONENT.split("{models}")[0].format(name="nope"))


def test_backend_configs():
    assert get_backend_class("builtin") is BuiltinBackend
    be = OpenAIBackend("http://x/v1/", "m", ["A", "B"], seed=None, endpoint="completions")
    assert be.base_url == "http://x/v1" and be.params == {"temperature": 0.0, "max_tokens": 512}
    with pytest.raises(RecfairError) as exc:
        OpenAIBackend("http://x", "m", ["A"], endpont="chat")
    assert DID_YOU_MEAN.format(close="endpoint") in str(exc.value)
    with pytest.raises(RecfairError) as exc:
        OpenAIBackend("http://x", "m", ["A"], endpoint="stream")
    assert str(exc.value) == BAD_PARAM.format(param="endpoint", owner="OpenAIBackend",
                                              expected="one of chat, completions", value="stream")
    cfg = validate_config(HFBackendConfig, {"path": "/m"}, owner="HFBackend")
    assert cfg.separator == "\n" and cfg.num_beams == 1
    with pytest.raises(RecfairError, match="'threshold' parameter of HFBackend must be a number in \\(0, 1\\]"):
        validate_config(HFBackendConfig, {"path": "/m", "threshold": 0}, owner="HFBackend")


def test_models_params_prints_a_mitigations_parameters():
    res = subprocess.run([sys.executable, "-m", "recfair", "models", "--params", "fair"],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    for text in ("FairPrefixReRanker", "alpha", "a number strictly between 0 and 1", "item_groups", "popularity"):
        assert text in res.stdout
